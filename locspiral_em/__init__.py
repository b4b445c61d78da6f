"""scipion-em-locspiral: spiral-phase local methods for cryo-EM maps.

The numerical core (``locspiral_em.core``) needs only numpy, scipy and mrcfile.
The Scipion ``Plugin`` (in ``plugin.py``) is loaded only when Scipion asks for it, so the
command line and the core neither need Scipion nor pay for importing it (~150 MB, 0.4 s).
"""
# Single source of the version: pyproject.toml reads it from here (a literal, read without
# importing the package), Scipion's plugin manager shows it.
__version__ = "0.1.0"

# Read by Scipion: the package citations (keys of bibtex.py) and the logo (none).
_references = ["Kaur2021"]
_logo = None


def __getattr__(name):
    # PEP 562: Scipion reads ``locspiral_em.Plugin`` when it registers the plugin
    # (pyworkflow.plugin.Domain.registerPlugin: ``m._pluginInstance = m.Plugin()``).
    if name == "Plugin":
        from .plugin import Plugin
        return Plugin
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
