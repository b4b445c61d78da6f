"""Shim for tools that still call ``setup.py`` (pip < 21.3 editable installs).

All metadata lives in pyproject.toml (PEP 621); setuptools >= 61 reads it from there.
"""
from setuptools import setup

setup()
