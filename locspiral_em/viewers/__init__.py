"""Scipion viewers of the plugin, one per protocol (found by pyworkflow through this
package). File-making parts are plain methods (``make*``) returning paths, so they run
headless; the ``_show*`` methods wrap them into views for Scipion's GUI."""
from .viewer_base import ImageFileView, LocSpiralViewerBase, chimeraViewOrMessage
from .viewer_locbfactor import LocBFactorViewer
from .viewer_locsharpen import LocSharpenViewer
from .viewer_lococcupancy import LocOccupancyViewer
from .viewer_locspiral import LocBSharpenViewer, LocSpiralViewer
from .viewer_maturity import MaturityViewer

__all__ = ["LocSpiralViewer", "LocBSharpenViewer", "LocSharpenViewer", "LocBFactorViewer",
           "LocOccupancyViewer", "MaturityViewer", "ImageFileView", "LocSpiralViewerBase",
           "chimeraViewOrMessage"]
