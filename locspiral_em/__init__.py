"""scipion-em-locspiral: spiral-phase local methods for cryo-EM maps.

The numerical core (``locspiral_em.core``) needs only numpy, scipy and mrcfile.
The Scipion ``Plugin`` below is defined only when scipion-em is installed, so the
command line and the core also work outside Scipion.
"""
__version__ = "0.1.0"

try:
    import pwem
except ImportError:  # plain numerical/CLI install, no Scipion
    pwem = None

if pwem is not None:
    from .bibtex import _bibtexStr  # noqa: F401  (Scipion reads the module's bibtex)

    _references = ["Kaur2021"]
    _logo = None

    class Plugin(pwem.Plugin):
        """Everything runs in the bundled Python core: nothing to download or configure."""

        @classmethod
        def _defineVariables(cls):
            pass

        @classmethod
        def defineBinaries(cls, env):
            pass
