"""The Scipion plugin class (imported only by Scipion, through ``locspiral_em.Plugin``).

Laid out as the Scipion plugin template (scipion-em-template) has it: ``_url`` points users
to the repository (Scipion shows it in the protocol forms and the plugin manager),
``getEnviron`` returns a ``pwutils.Environ``, ``defineBinaries`` declares what
``scipion3 installp`` / ``installb`` should install. Everything runs in the bundled Python core
(numpy, scipy, mrcfile) inside the Scipion Python, so there are no binaries, no *_HOME
variable and nothing to configure.
"""
import os

import pwem
import pyworkflow.constants as pwconst
import pyworkflow.utils as pwutils

from . import __version__

REPOSITORY_URL = "https://github.com/scipion-em/scipion-em-locspiral"


class Plugin(pwem.Plugin):
    """LocSpiral, LocBSharpen, LocSharpen, LocBFactor, LocOccupancy and the maturity
    index."""

    _url = REPOSITORY_URL
    _homeVar = ""       # no installation folder
    _pathVars = []      # so validateInstallation has no path to check
    # Shown by the plugin manager and used by getActiveVersion: the plugin's own version
    # (there is no separate binary version).
    _supportedVersions = [__version__]
    # Single-particle analysis maps (pyworkflow >= 3.x names it SPA; 0 on older ones).
    _processingField = [getattr(pwconst, "SPA", 0)]

    @classmethod
    def _defineVariables(cls):
        pass  # no variables: nothing to locate on disk

    @classmethod
    def getEnviron(cls):
        """Environment of the processes a protocol starts: Scipion's own, unchanged."""
        return pwutils.Environ(os.environ)

    @classmethod
    def getDependencies(cls):
        """System programs needed to install binaries: none."""
        return []

    @classmethod
    def getActiveVersion(cls, home=None, versions=None):
        return __version__

    @classmethod
    def validateInstallation(cls):
        return []  # pure Python: installed if importable

    @classmethod
    def defineBinaries(cls, env):
        pass  # nothing to install: `scipion3 installp` only pip-installs the package


# pyworkflow finds a plugin's package, name and path through its class's module; the class
# lives here only so that importing locspiral_em does not import Scipion.
Plugin.__module__ = __package__
