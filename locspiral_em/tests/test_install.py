"""The Scipion install route, and running the tests in a stock Scipion.

``scipion3 installp -p PATH --devel`` (scipion-app, scipion/install/install_plugin.py and
plugin_funcs.py, PluginInfo.installPipModule) does this, and nothing more:

1. the pip name is the *basename* of PATH (so the checkout must be a folder named
   ``scipion-em-locspiral``);
2. it runs ``python -m pip install -e PATH``;
3. it checks that ``<site-packages>/<pip name>*`` exists, with ``-`` replaced by ``_`` only
   when PATH has a pyproject.toml, and exits 1 with "File or folder ... not found" if not.
   A PEP 660 editable install leaves ``scipion_em_locspiral-<v>.dist-info`` (underscores)
   there, so without pyproject.toml the check fails although pip succeeded;
4. it finds the package folder from the distribution's files (the first ``__init__.py``,
   else the first line of ``top_level.txt``), registers it with
   ``Domain.getPluginModule(dirName)`` and calls ``_pluginInstance._defineVariables()`` and
   ``defineBinaries(env)``: if no plugin is found there it crashes on ``None``.

``TestScipionInstall`` repeats 2-4 in a throw-away virtual environment that borrows this
environment's packages (no download: ``--no-build-isolation --no-deps --no-index``), on a
copy of the source tree in a folder named as the installer wants. ``TestWheel`` checks
the non-editable route (``installp`` from PyPI or a git URL installs a wheel): every
module and data file of the package is in it. ``TestLazyPlugin`` checks that the core
and the CLI do not import Scipion while Scipion still finds ``locspiral_em.Plugin``.
``TestNoPytest`` checks that the test modules a stock Scipion runs load without pytest,
which it does not have.

Plain unittest, so that ``scipion3 tests locspiral_em.tests.test_install`` runs it too.
"""
import glob
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile

import locspiral_em

DIST = "scipion-em-locspiral"
PACKAGE = "locspiral_em"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(locspiral_em.__file__)))
# Files pip needs from the checkout to build (docs/ and benchmarks/ are not packaged).
SOURCE_FILES = ("pyproject.toml", "setup.py", "README.md", "LICENSE")
TIMEOUT = 300  # s per subprocess; the whole module takes about 20 s
# Not part of the source even when lying in the package folder (caches, editor files).
NOT_SOURCE = ("__pycache__", "*.pyc", "*.egg-info", ".*", "*~", "*.swp", "*.orig", "*.rej",
              "*.bak")


def _version_tuple(text):
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def _skip_unless_source_checkout(case):
    """The build tests need the checkout (pyproject.toml next to the package)."""
    if not os.path.exists(os.path.join(REPO, "README.md")) or \
            os.path.basename(REPO) in ("site-packages", "dist-packages"):
        case.skipTest("locspiral_em is installed from a wheel: no source tree to build")


def _skip_unless_can_build(case):
    """Building without build isolation uses this environment's setuptools: the SPDX
    license string (PEP 639) needs >= 77 (the `test` extra installs it)."""
    spec = importlib.util.find_spec("setuptools")
    if spec is None:
        case.skipTest("setuptools is not installed: pip install -e '.[test]'")
    import setuptools
    version = _version_tuple(setuptools.__version__)
    if version < (77,):
        case.skipTest(f"setuptools {setuptools.__version__} cannot build this package "
                      "offline: pip install -e '.[test]' (setuptools >= 77)")


def _copy_source(destination):
    """Copy what pip needs to build, so that the build's egg-info and build folders land
    in the copy, not in the (shared) checkout."""
    os.makedirs(destination)
    for name in SOURCE_FILES:
        path = os.path.join(REPO, name)
        if os.path.exists(path):
            shutil.copy2(path, destination)
    shutil.copytree(os.path.join(REPO, PACKAGE), os.path.join(destination, PACKAGE),
                    ignore=shutil.ignore_patterns(*NOT_SOURCE))


def _site_dirs():
    """This environment's site-packages folders (numpy, setuptools, pip, pyworkflow...)."""
    import site
    dirs = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    dirs += [p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages")]
    repo = os.path.realpath(REPO)
    seen = []
    for d in dirs:
        if os.path.isdir(d) and os.path.realpath(d) != repo and d not in seen:
            seen.append(d)
    return seen


def _run(cmd, cwd, **kwargs):
    result = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True, timeout=TIMEOUT, **kwargs)
    return result.returncode, result.stdout


# What scipion-app does after pip, run with the new environment's Python (step 4 above;
# importlib_metadata is what scipion-app and pyworkflow use, importlib.metadata the same).
_LOOKUP = r"""
import json, sys
try:
    import importlib_metadata as metadata
except ImportError:
    import importlib.metadata as metadata
dist = metadata.distribution(sys.argv[1])
dirName = None
for path in dist.files:                       # PluginInfo.getDirName
    if path.name == "__init__.py":
        dirName = path.parts[0]
        break
    elif path.name == "top_level.txt":
        with open(str(path.locate())) as fh:
            dirName = fh.readline().strip()
result = {"dirName": dirName, "version": dist.version,
          "distFolder": str(dist.locate_file("")),
          "summary": dist.metadata["Summary"],
          "projectUrls": dist.metadata.get_all("Project-URL") or [],
          "pluginEntryPoints": sorted((e.name, e.value) for e in dist.entry_points
                                      if e.group == "pyworkflow.plugin")}
from pyworkflow import Config
module = Config.getDomain().getPluginModule(dirName)   # PluginInfo._getPlugin
plugin = module._pluginInstance                        # PluginInfo.getPluginClass
plugin._defineVariables()

class Env:                                             # scipion.install.Environment stand-in
    def __init__(self):
        self.calls = []
    def __getattr__(self, name):
        return lambda *args, **kwargs: self.calls.append(name)

env = Env()
plugin.defineBinaries(env)                             # PluginInfo.installBin
import pwem
result.update(moduleFile=module.__file__, isPwemPlugin=isinstance(plugin, pwem.Plugin),
              pluginName=plugin.getName(), binaries=env.calls,
              registered=sorted(Config.getDomain().getPlugins()))
print("RESULT " + json.dumps(result))
"""


class TestScipionInstall(unittest.TestCase):
    """`scipion3 installp -p .../scipion-em-locspiral --devel`, step by step."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="locspiral-install-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_installp_devel_finds_the_plugin(self):
        _skip_unless_source_checkout(self)
        _skip_unless_can_build(self)
        if importlib.util.find_spec("pwem") is None:
            self.skipTest("Scipion (scipion-em) is not installed")
        # 1. The installer takes the pip name from the folder's name.
        source = os.path.join(self.tmp, "src", DIST)
        _copy_source(source)
        pipName = os.path.basename(os.path.abspath(source).rstrip("/"))
        self.assertEqual(pipName, DIST)

        # A fresh environment that sees this one's packages through a .pth file (.pth
        # files inside those folders are not run, so this environment's own install of
        # the plugin does not leak in: the copy must be found through its own install).
        venv = os.path.join(self.tmp, "venv")
        code, out = _run([sys.executable, "-m", "venv", "--without-pip", venv], self.tmp)
        self.assertEqual(code, 0, out)
        python = os.path.join(venv, "bin", "python")
        if not os.path.exists(python):  # pragma: no cover - Windows layout
            python = os.path.join(venv, "Scripts", "python.exe")
        code, purelib = _run([python, "-c", "import sysconfig; "
                              "print(sysconfig.get_paths()['purelib'])"], self.tmp)
        self.assertEqual(code, 0, purelib)
        purelib = purelib.strip()
        with open(os.path.join(purelib, "outer-environment.pth"), "w") as handle:
            handle.write("\n".join(_site_dirs()) + "\n")

        # 2. `python -m pip install -e PATH`, offline, with this environment's setuptools.
        code, out = _run([python, "-m", "pip", "install", "-e", source, "--no-deps",
                          "--no-build-isolation", "--no-index", "--ignore-installed",
                          "--disable-pip-version-check"], self.tmp)
        self.assertEqual(code, 0, out)

        # 3. The installer's check.
        target = f"{pipName}*"
        if os.path.exists(os.path.join(source, "pyproject.toml")):
            target = target.replace("-", "_")
        found = glob.glob(os.path.join(purelib, target))
        self.assertTrue(found, f"scipion3 installp would stop here: "
                               f"'{os.path.join(purelib, target)}' not found after pip:\n"
                               f"{sorted(os.listdir(purelib))}")
        # Why pyproject.toml is needed: the pattern the installer uses without it finds
        # nothing after a PEP 660 install (what made installp exit 1).
        self.assertEqual(glob.glob(os.path.join(purelib, f"{DIST}*")), [])

        # 4. The installer's look-up of the plugin, in the new environment.
        env = dict(os.environ, PYTHONNOUSERSITE="1")
        env.pop("PYTHONPATH", None)
        code, out = _run([python, "-c", _LOOKUP, pipName], self.tmp, env=env)
        self.assertEqual(code, 0, out)
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        self.assertTrue(lines, out)
        result = json.loads(lines[-1][len("RESULT "):])
        self.assertEqual(result["dirName"], PACKAGE)
        self.assertEqual(result["version"], locspiral_em.__version__)
        # The distribution found is the one just installed, not this environment's.
        self.assertEqual(os.path.realpath(result["distFolder"]), os.path.realpath(purelib))
        self.assertEqual(result["pluginEntryPoints"], [[PACKAGE, PACKAGE]])
        # The editable install points at the copy it was made from.
        self.assertEqual(os.path.realpath(result["moduleFile"]),
                         os.path.realpath(os.path.join(source, PACKAGE, "__init__.py")))
        self.assertTrue(result["isPwemPlugin"])
        self.assertEqual(result["pluginName"], PACKAGE)
        self.assertEqual(result["binaries"], [])  # nothing to download or compile
        self.assertIn(PACKAGE, result["registered"])  # discovered at Scipion's start
        # The plugin manager shows the summary and, as home page, the first Project-URL
        # (PluginInfo.setLocalPluginInfo: project_url[0].split()[1]).
        self.assertTrue(result["summary"].strip())
        self.assertTrue(result["projectUrls"], "no [project.urls]")
        self.assertEqual(result["projectUrls"][0].split()[1],
                         "https://github.com/scipion-em/scipion-em-locspiral")


class TestWheel(unittest.TestCase):
    """A regular wheel (installp from PyPI or a git URL) holds the whole package."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="locspiral-wheel-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_wheel_has_every_module_data_file_and_entry_point(self):
        _skip_unless_source_checkout(self)
        _skip_unless_can_build(self)
        source = os.path.join(self.tmp, DIST)
        _copy_source(source)
        wheels = os.path.join(self.tmp, "wheels")
        code, out = _run([sys.executable, "-m", "pip", "wheel", "--no-deps",
                          "--no-build-isolation", "--no-index", "--disable-pip-version-check",
                          "-w", wheels, source], self.tmp)
        self.assertEqual(code, 0, out)
        built = glob.glob(os.path.join(wheels, "*.whl"))
        self.assertEqual(len(built), 1, out)
        # The installer globs scipion_em_locspiral* in site-packages: the wheel's
        # dist-info is named so.
        self.assertTrue(os.path.basename(built[0]).startswith(
            f"scipion_em_locspiral-{locspiral_em.__version__}-"), built[0])
        with zipfile.ZipFile(built[0]) as wheel:
            names = set(wheel.namelist())
            distInfo = f"scipion_em_locspiral-{locspiral_em.__version__}.dist-info"
            entryPoints = wheel.read(f"{distInfo}/entry_points.txt").decode()
            topLevel = wheel.read(f"{distInfo}/top_level.txt").decode().split()

        # Only the package at the top (not docs/ or benchmarks/): Scipion takes the
        # first top-level name as the plugin's folder.
        self.assertEqual(topLevel, [PACKAGE])
        self.assertEqual({n.split("/")[0] for n in names}, {PACKAGE, distInfo})
        # Every source file under locspiral_em/ is installed: modules, protocols.conf
        # (the protocol tree Scipion reads from the installed package), images and any
        # other data file a later change adds (extend [tool.setuptools.package-data]).
        package = os.path.join(source, PACKAGE)
        expected = set()
        for folder, _, files in os.walk(package):
            for name in files:
                expected.add(os.path.relpath(os.path.join(folder, name), source)
                             .replace(os.sep, "/"))
        missing = sorted(expected - names)
        self.assertEqual(missing, [], "files left out of the wheel")
        self.assertIn(f"{PACKAGE}/protocols.conf", names)

        # Entry points: the Scipion plugin, the command line, the CCP-EM Pipeliner jobs.
        self.assertIn("[pyworkflow.plugin]\nlocspiral_em = locspiral_em", entryPoints)
        self.assertIn("locspiral-em = locspiral_em.cli:main", entryPoints)
        section = entryPoints.split("[ccpem_pipeliner.jobs]")[1].split("\n[")[0]
        jobs = sorted(line.split(" = ")[0] for line in section.strip().splitlines())
        self.assertEqual(jobs, sorted([
            "locspiral.postprocess.local_enhancement", "locspiral.postprocess.local_bsharpen",
            "locspiral.postprocess.local_sharpen",
            "locspiral.map_analysis.local_bfactor", "locspiral.map_analysis.local_occupancy",
            "locspiral.map_analysis.maturity_index"]))


_LAZY_PLUGIN = r"""
import json, sys
import locspiral_em, locspiral_em.cli, locspiral_em.core
before = sorted(m for m in ("pwem", "pyworkflow") if m in sys.modules)
plugin = locspiral_em.Plugin          # what pyworkflow's registerPlugin reads
import pwem
print("RESULT " + json.dumps({"before": before, "module": plugin.__module__,
                              "isPwemPlugin": issubclass(plugin, pwem.Plugin)}))
"""


class TestLazyPlugin(unittest.TestCase):
    """The core and the command line do not import Scipion; Scipion still finds the
    ``Plugin`` class in the package, under the package's name (PEP 562 module attribute)."""

    def test_plugin_is_imported_only_when_asked_for(self):
        if importlib.util.find_spec("pwem") is None:
            self.skipTest("Scipion (scipion-em) is not installed")
        code, out = _run([sys.executable, "-c", _LAZY_PLUGIN], tempfile.gettempdir(),
                         env=dict(os.environ, PYTHONPATH=REPO))
        self.assertEqual(code, 0, out)
        result = json.loads(out.split("RESULT ", 1)[1].splitlines()[0])
        self.assertEqual(result["before"], [], "importing the core or the CLI loaded Scipion")
        # pyworkflow takes the plugin's name and folder from the class's module.
        self.assertEqual(result["module"], PACKAGE)
        self.assertTrue(result["isPwemPlugin"])


# Test modules a stock Scipion runs (`scipion3 tests MODULE`): they must not need pytest.
MODULES_WITHOUT_PYTEST = (
    "locspiral_em.tests.scipion_helpers",
    "locspiral_em.tests.test_protocols",
    "locspiral_em.tests.test_protocol_locsharpen",
    "locspiral_em.tests.test_viewers",
    "locspiral_em.tests.test_install",
)

_LOAD_WITHOUT_PYTEST = r"""
import json, sys, unittest
sys.modules["pytest"] = None     # `import pytest` now raises ImportError, as in Scipion
sys.path.insert(0, sys.argv[1])  # the tree this test belongs to, whatever is installed
loader = unittest.TestLoader()
counts = {}
for name in sys.argv[2:]:
    suite = loader.loadTestsFromName(name)
    failed = [t for t in suite if type(t).__name__ in ("_FailedTest", "ModuleImportFailure")]
    if loader.errors or failed:
        print("\n".join(loader.errors) or failed)
        sys.exit(1)
    counts[name] = suite.countTestCases()
print("COUNTS " + json.dumps(counts))
"""


class TestNoPytest(unittest.TestCase):
    """`scipion3 tests locspiral_em.tests.test_protocols` in a Scipion without pytest."""

    def test_scipion_test_modules_load_without_pytest(self):
        if importlib.util.find_spec("pwem") is None:
            self.skipTest("Scipion (scipion-em) is not installed")
        code, out = _run([sys.executable, "-c", _LOAD_WITHOUT_PYTEST, REPO,
                          *MODULES_WITHOUT_PYTEST], tempfile.gettempdir())
        self.assertEqual(code, 0, out)
        counts = json.loads(out.split("COUNTS ", 1)[1].strip().splitlines()[0])
        # Loading found the tests (a module that silently lost them would read 0).
        self.assertGreaterEqual(counts["locspiral_em.tests.test_protocols"], 20, counts)
        self.assertGreaterEqual(counts["locspiral_em.tests.test_install"], 4, counts)
        self.assertGreaterEqual(counts["locspiral_em.tests.test_protocol_locsharpen"], 4,
                                counts)
