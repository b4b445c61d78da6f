"""scipion-em-locspiral: spiral-phase local methods for cryo-EM maps.

The numerical core (``locspiral_em.core``) needs only numpy, scipy and mrcfile.
The Scipion ``Plugin`` below is defined only when scipion-em is installed, so the
command line and the core also work outside Scipion.
"""
__version__ = "0.1.0"

# Read by Scipion: the package citations (keys of bibtex.py) and the logo (none).
_references = ["Kaur2021"]
_logo = None

try:
    import pwem
except ImportError:  # plain numerical/CLI install, no Scipion
    pwem = None

if pwem is not None:
    import os

    class Plugin(pwem.Plugin):
        """LocSpiral, LocBSharpen, LocBFactor, LocOccupancy and the maturity index.

        Everything runs in the bundled Python core (numpy, scipy, mrcfile) inside the
        Scipion Python: there are no binaries to download and nothing to configure.
        """
        _supportedVersions = [__version__]
        _url = "https://doi.org/10.1038/s41467-021-21509-5"  # the method's paper

        @classmethod
        def _defineVariables(cls):
            pass  # no installation folder, no variables

        @classmethod
        def getEnviron(cls):
            return dict(os.environ)

        @classmethod
        def getActiveVersion(cls, home=None, versions=None):
            return __version__

        @classmethod
        def validateInstallation(cls):
            return []  # pure Python: installed if importable

        @classmethod
        def defineBinaries(cls, env):
            pass  # nothing to install
