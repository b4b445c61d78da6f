"""The plugin's tests: pytest collects them all; unittest (Scipion's ``scipion3 tests``,
``python -m unittest locspiral_em.tests``) runs the ``unittest.TestCase`` classes."""
import os
import unittest


def load_tests(loader, standard_tests, pattern):
    """unittest's discovery of this package, less the placeholders of modules that skipped
    themselves (``unittest.SkipTest`` at import: the CCP-EM Pipeliner or pytest is not
    there, as in a stock Scipion). Scipion's runner would list such a placeholder as a test
    class ``unittest.loader.ModuleSkipped.locspiral_em.tests`` and fail to run it by name."""
    here = os.path.dirname(os.path.abspath(__file__))
    found = loader.discover(here, pattern or "test*.py",
                            top_level_dir=os.path.dirname(os.path.dirname(here)))
    standard_tests.addTests(_without_skipped_modules(found, loader.suiteClass))
    return standard_tests


def _without_skipped_modules(suite, suite_class):
    kept = suite_class()
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            kept.addTest(_without_skipped_modules(test, suite_class))
        elif type(test).__name__ != "ModuleSkipped":
            kept.addTest(test)
    return kept
