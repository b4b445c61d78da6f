"""Test-session set-up shared by the whole repository.

The Scipion protocol tests run a real, headless pyworkflow project. pyworkflow reads its
configuration from the environment when it is first imported, so everything it needs is set
here, before any test module imports it: a throw-away user-data folder (projects, logs), a
minimal hosts.conf with a ``[localhost]`` section, the pwem domain, the Python that runs the
protocol subprocesses (this interpreter, so they find the editable plugin through its
``pyworkflow.plugin`` entry point), no test-data download and no usage notification.

The core and CLI tests do not import pyworkflow; for them these variables are inert.
Set ``LOCSPIRAL_KEEP_TEST_DATA=1`` to keep the temporary folder for inspection.
"""
import atexit
import os
import shutil
import sys
import tempfile

_HOSTS_CONF = """\
; Minimal Scipion hosts configuration for the tests: run everything on this machine,
; no queue system (no NAME key, so no queue parameters are parsed).
[localhost]
PARALLEL_COMMAND = mpirun -np %_(JOB_NODES)d --map-by node %_(COMMAND)s
"""


def _setup_scipion_environment():
    if os.environ.get("LOCSPIRAL_TEST_ROOT"):  # already done (e.g. nested pytest)
        return
    root = tempfile.mkdtemp(prefix="locspiral-scipion-tests-")
    user_data = os.path.join(root, "ScipionUserData")
    config = os.path.join(root, "config")
    os.makedirs(user_data)
    os.makedirs(config)
    hosts = os.path.join(config, "hosts.conf")
    with open(hosts, "w") as handle:
        handle.write(_HOSTS_CONF)

    os.environ["LOCSPIRAL_TEST_ROOT"] = root
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


_setup_scipion_environment()


def pytest_configure(config):
    # pyworkflow parses the plugins' bibtex with bibtexparser, which floods the report with
    # pyparsing deprecation warnings that are neither ours nor actionable here.
    for module in ("bibtexparser.*", "pyparsing.*"):
        config.addinivalue_line("filterwarnings", f"ignore::DeprecationWarning:{module}")
