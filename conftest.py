"""Test-session set-up shared by the whole repository.

The Scipion protocol tests run a real, headless pyworkflow project. pyworkflow reads its
configuration from the environment when it is first imported, so a throw-away Scipion
environment is set here, before any test module imports it
(``locspiral_em/tests/scipion_env.py`` says what it sets; the same function serves
``python -m unittest`` and Scipion's own test runner, which do not read this file).

The core and CLI tests do not import pyworkflow; for them these variables are inert.
Set ``LOCSPIRAL_KEEP_TEST_DATA=1`` to keep the temporary folder for inspection.
"""
from locspiral_em.tests.scipion_env import setup_test_environment

setup_test_environment()


def pytest_configure(config):
    # pyworkflow parses the plugins' bibtex with bibtexparser, which floods the report with
    # pyparsing deprecation warnings that are neither ours nor actionable here.
    for module in ("bibtexparser.*", "pyparsing.*"):
        config.addinivalue_line("filterwarnings", f"ignore::DeprecationWarning:{module}")
