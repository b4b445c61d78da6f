"""``pytest`` for the test modules, or a stand-in where there is none (a stock Scipion).

Scipion's test runner (``scipion3 tests``: ``pyworkflow.apps.pw_run_tests``) discovers
every ``test*.py`` of the plugin with plain ``unittest`` and prints "Error loading the test"
for each module whose import fails. Scipion has no pytest, so the pytest-style modules
import it through here::

    from locspiral_em.tests.pytest_shim import pytest

With pytest installed this is pytest itself. Without it, ``pytest`` is a stand-in on which
the module-level decorators (``@pytest.fixture``, ``@pytest.mark.parametrize(...)``, ...)
do nothing: the module loads, and since its tests are plain functions (not
``unittest.TestCase``) unittest finds none, so the runner lists only the Scipion test
classes and reports nothing as broken. ``pytest.skip(..., allow_module_level=True)`` and a
failing ``pytest.importorskip(name)`` raise ``unittest.SkipTest``: the module skips itself
(e.g. ``test_ccpem.py`` without the CCP-EM Pipeliner). Nothing of the stand-in runs a test.
"""
import importlib
import unittest

try:
    import pytest
except ImportError:
    class _Absent:
        """Any attribute is another stand-in; called on one function or class (a bare
        decorator) it returns it unchanged, called otherwise (a decorator factory) it
        returns a stand-in that will."""

        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return _Absent()

        def __call__(self, *args, **kwargs):
            if len(args) == 1 and not kwargs and callable(args[0]):
                return args[0]
            return _Absent()

        def __bool__(self):
            return False

    class _Pytest(_Absent):
        """The module-level skips keep their meaning: unittest's own skip of the module
        (``locspiral_em/tests/__init__.py`` keeps such modules out of the runner's list)."""

        @staticmethod
        def skip(reason="", allow_module_level=False, **kwargs):
            raise unittest.SkipTest(reason)

        @staticmethod
        def importorskip(name, *args, **kwargs):
            try:
                return importlib.import_module(name)
            except ImportError as exc:
                raise unittest.SkipTest(f"{name} is not importable: {exc}") from None

    pytest = _Pytest()
    HAVE_PYTEST = False
else:
    HAVE_PYTEST = True

__all__ = ["pytest", "HAVE_PYTEST"]
