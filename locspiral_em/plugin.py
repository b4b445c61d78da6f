"""The Scipion plugin class (imported only by Scipion, through ``locspiral_em.Plugin``)."""
import os

import pwem

from . import __version__


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


# pyworkflow finds a plugin's package, name and path through its class's module; the class
# lives here only so that importing locspiral_em does not import Scipion.
Plugin.__module__ = __package__
