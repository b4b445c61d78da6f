"""A throw-away Scipion environment for the plugin's tests outside an installed Scipion.

pyworkflow reads its configuration from the environment when it is first imported, so
this must run before anything imports pyworkflow. It sets a temporary user-data folder
(projects, logs), a minimal hosts.conf with a ``[localhost]`` section, the pwem domain, the
Python that runs the protocol subprocesses (this interpreter, so they find the plugin
through its ``pyworkflow.plugin`` entry point), no test-data download and no usage
notification. Only the standard library is used here: the core tests load it too.

Who calls it:

* pytest: the root ``conftest.py``, before any test module is imported;
* ``python -m unittest locspiral_em.tests.test_protocols``: ``scipion_helpers``, when
  pyworkflow is not imported yet and no Scipion environment is set;
* Scipion's own test runner, with this environment::

      python -m locspiral_em.tests.scipion_env locspiral_em.tests.test_protocols

  runs ``pyworkflow.apps.pw_run_tests`` (what ``scipion3 tests ARGS`` runs) with ARGS.

Inside an installed Scipion nothing is needed: ``scipion3 tests ...`` sets the real
environment (SCIPION_DOMAIN, SCIPION_HOME, config, hosts) and the tests run in it.
Set ``LOCSPIRAL_KEEP_TEST_DATA=1`` to keep the temporary folder for inspection.
"""
import atexit
import os
import shutil
import sys
import tempfile

HOSTS_CONF = """\
; Minimal Scipion hosts configuration for the tests: run everything on this machine,
; no queue system (no NAME key, so no queue parameters are parsed).
[localhost]
PARALLEL_COMMAND = mpirun -np %_(JOB_NODES)d --map-by node %_(COMMAND)s
"""

ROOT_VAR = "LOCSPIRAL_TEST_ROOT"


def setup_test_environment():
    """Set the variables (once per process tree); returns the temporary root folder."""
    if os.environ.get(ROOT_VAR):  # already done (a nested run, or a protocol subprocess)
        return os.environ[ROOT_VAR]
    root = tempfile.mkdtemp(prefix="locspiral-scipion-tests-")
    user_data = os.path.join(root, "ScipionUserData")
    config = os.path.join(root, "config")
    os.makedirs(user_data)
    os.makedirs(config)
    hosts = os.path.join(config, "hosts.conf")
    with open(hosts, "w") as handle:
        handle.write(HOSTS_CONF)

    os.environ[ROOT_VAR] = root
    os.environ["SCIPION_DOMAIN"] = "pwem"
    os.environ["SCIPION_PYTHON"] = sys.executable
    os.environ["SCIPION_HOSTS"] = hosts
    os.environ["SCIPION_USER_DATA"] = user_data
    os.environ["SCIPION_TEST_NOSYNC"] = "1"
    os.environ["SCIPION_NOTIFY"] = "False"
    # Without a Scipion installation, keep pyworkflow's other default paths
    # (software, config, test data) inside the temporary folder too.
    os.environ.setdefault("SCIPION_HOME", root)

    if os.environ.get("LOCSPIRAL_KEEP_TEST_DATA", "") not in ("", "0"):
        print(f"\nScipion test data kept in {root}", file=sys.stderr)
    else:
        atexit.register(shutil.rmtree, root, ignore_errors=True)
    return root


def main(argv=None):
    """Scipion's test runner (``scipion3 tests ARGS``) in the throw-away environment;
    ``--check-loading``: :func:`check_loading` instead."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["--check-loading"]:
        sys.exit(check_loading())
    if "pyworkflow" in sys.modules:  # pragma: no cover - only when misused
        sys.exit("scipion_env: pyworkflow was imported before its environment was set")
    setup_test_environment()
    from pyworkflow.apps.pw_run_tests import Tester
    Tester().main(argv)  # exits with the result


# The listing a stock Scipion prints, in a child process where ``import pytest`` fails.
LISTING = ["--grep", "locspiral_em", "--mode", "onlyclasses"]
_WITHOUT_PYTEST = """\
import sys
sys.modules["pytest"] = None  # `import pytest` raises ImportError, as in a stock Scipion
from locspiral_em.tests.scipion_env import main
main(sys.argv[1:])
"""
MIN_CLASSES = 5  # Scipion test classes the plugin ships at least (protocols, install, ...)


def check_loading(python=None):
    """Run ``scipion3 tests --grep locspiral_em --mode onlyclasses`` as a stock Scipion
    would (no pytest) and return 1, printing why, when a test module fails to load ("Error
    loading the test"), a skipped module's placeholder is listed, or fewer than
    ``MIN_CLASSES`` test classes are listed; else 0.
    Scipion's runner itself exits 0 either way, so CI needs this check."""
    import subprocess
    result = subprocess.run([python or sys.executable, "-c", _WITHOUT_PYTEST, *LISTING],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = result.stdout.splitlines()
    # A module-skip placeholder listed as a class would mean tests/__init__.py's filter
    # broke: Scipion's runner cannot run it by name.
    errors = [line for line in lines if "Error loading" in line or "ModuleSkipped" in line]
    classes = [line for line in lines if " locspiral_em.tests." in line
               and "Error loading" not in line]
    print(f"stock Scipion listing (no pytest): {len(classes)} test classes, "
          f"{len(errors)} modules that do not load")
    for line in errors:
        print(line)
    if result.returncode != 0 or errors or len(classes) < MIN_CLASSES:
        if result.returncode != 0 or len(classes) < MIN_CLASSES:
            print(result.stdout[-3000:])
        return 1
    return 0


if __name__ == "__main__":
    main()
