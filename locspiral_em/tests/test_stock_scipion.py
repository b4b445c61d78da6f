"""Every test module loads in a stock Scipion, which has no pytest.

Scipion's runner (``scipion3 tests --grep locspiral_em --mode onlyclasses``:
``pyworkflow.apps.pw_run_tests``) discovers every ``test*.py`` with plain unittest and prints
"Error loading the test" for a module whose import fails, yet exits 0. The pytest-style
modules take ``pytest`` from :mod:`locspiral_em.tests.pytest_shim`; ``scipion_env
--check-loading`` (also a CI step) runs that listing with ``import pytest`` failing.

Plain unittest, so that ``scipion3 tests locspiral_em.tests.test_stock_scipion`` runs it too.
"""
import glob
import importlib.util
import os
import re
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))

# A stand-in run with `import pytest` failing: decorators pass through, skips are unittest's.
_SHIM_WITHOUT_PYTEST = r"""
import sys, unittest
sys.modules["pytest"] = None
from locspiral_em.tests.pytest_shim import HAVE_PYTEST, pytest
assert not HAVE_PYTEST
def f():
    return 1
assert pytest.fixture(f) is f and pytest.fixture(scope="module")(f) is f
assert pytest.mark.parametrize("x", [1, 2])(f) is f
assert pytest.mark.skipif(True, reason="r")(f) is f and pytest.mark.slow(f) is f
assert pytest.importorskip("os").sep
for skip in (lambda: pytest.skip("no pipeliner", allow_module_level=True),
             lambda: pytest.importorskip("no_such_module_h7")):
    try:
        skip()
    except unittest.SkipTest:
        pass
    else:
        raise AssertionError("no SkipTest")
print("ok")
"""


class TestStockScipionLoading(unittest.TestCase):

    def test_no_module_imports_pytest_directly(self):
        """`import pytest` at module level fails in Scipion: every test module goes
        through the shim (new modules too)."""
        direct = []
        for path in sorted(glob.glob(os.path.join(HERE, "*.py"))):
            if os.path.basename(path) == "pytest_shim.py":
                continue
            with open(path, encoding="utf-8") as handle:
                for number, line in enumerate(handle, 1):
                    if re.match(r"\s*(import pytest\b|from pytest\b)", line):
                        direct.append(f"{os.path.basename(path)}:{number}: {line.strip()}")
        self.assertEqual(direct, [], "use: from locspiral_em.tests.pytest_shim import pytest")

    def test_shim_without_pytest(self):
        out = subprocess.run([sys.executable, "-c", _SHIM_WITHOUT_PYTEST],
                             capture_output=True, text=True)
        self.assertEqual((out.returncode, out.stdout.strip()), (0, "ok"), out.stderr)

    def test_stock_scipion_listing_has_no_loading_errors(self):
        """The CI check itself: the listing with pytest unimportable shows the Scipion test
        classes and no "Error loading the test" line (it fails when one module breaks)."""
        if importlib.util.find_spec("pwem") is None:
            self.skipTest("Scipion (scipion-em) is not installed")
        out = subprocess.run([sys.executable, "-m", "locspiral_em.tests.scipion_env",
                              "--check-loading"], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn(" 0 modules that do not load", out.stdout)


if __name__ == "__main__":
    unittest.main()
