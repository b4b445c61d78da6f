"""Viewers of LocSpiral (enhanced map) and LocBSharpen (locally sharpened map) runs: the
result against the input map in ChimeraX (and coloured by the quality map W), and central
slices of the result and of W."""
import pyworkflow.protocol.params as params

from ..constants import OUT_ENHANCED, OUT_QUALITY, OUT_SHARPENED
from .. import chimerax as cx
from ..protocols import LocSpiralProtBSharpen, LocSpiralProtEnhance
from .viewer_base import LocSpiralViewerBase


class _EnhancedMapViewer(LocSpiralViewerBase):
    """Shared by the LocSpiral and LocBSharpen viewers (not registered: no _targets)."""
    OUTPUT = OUT_ENHANCED
    WHAT = "enhanced map"
    METHOD = "LocSpiral"
    PREFIX = "locspiral"

    def _defineParams(self, form):
        form.addSection(label="Visualization")
        group = form.addGroup("ChimeraX")
        group.addParam("displayChimera", params.LabelParam,
                       label=f"{self.WHAT.capitalize()} and input map",
                       help=f"Writes extra/{self.PREFIX}_chimerax.cxc: the {self.WHAT} (gold "
                            "surface) over the input map (grey mesh). In ChimeraX, type "
                            f"{self.PREFIX}_showenhanced, {self.PREFIX}_showoriginal, "
                            f"{self.PREFIX}_showboth or {self.PREFIX}_showquality (the "
                            f"{self.WHAT} coloured by the quality map W) to switch views.")
        self._addLevelParam(group, "levelEnhanced", f"Level of the {self.WHAT}")
        self._addLevelParam(group, "levelOriginal", "Level of the input map")
        self._addRangeParams(group, cx.QUALITY_PALETTE,
                             f"quality map W ({self.PREFIX}_showquality)")
        group = form.addGroup("Slices")
        group.addParam("displaySlicesMap", params.LabelParam,
                       label=f"Central slices of the {self.WHAT}")
        group.addParam("displaySlicesQuality", params.LabelParam,
                       label="Central slices of the quality map W")

    def _getVisualizeDict(self):
        return {"displayChimera": self._showChimera,
                "displaySlicesMap": self._showSlicesMap,
                "displaySlicesQuality": self._showSlicesQuality}

    # ---------------------------------------------------------------- files
    def makeChimeraScript(self):
        mask = self.readMask()
        result = self._output(self.OUTPUT)
        quality = self._output(OUT_QUALITY)
        inputVolume = self.protocol.inputVolume.get()
        levelResult = self.levelOr(self.levelEnhanced.get(), self.readVolume(result), mask)
        levelInput = self.levelOr(self.levelOriginal.get(), self.readVolume(inputVolume), mask)
        qualityRange = self.colourRange(self.readVolume(quality), mask)
        return cx.enhancement_script(
            self.extraPath(f"{self.PREFIX}_chimerax.cxc"), self.volumePath(result),
            self.volumePath(inputVolume), self._voxelSize(), self._origin(), levelResult,
            levelInput, quality=self.volumePath(quality),
            quality_palette=self.palette.get() or cx.QUALITY_PALETTE,
            quality_range=qualityRange, title=f"{self.METHOD} {self.WHAT}",
            mask=mask)  # W outside the mask is no measurement: shown grey

    def makeSlicesMap(self):
        from .. import figures
        return figures.central_slices(self.extraPath(f"{self.PREFIX}_slices.png"),
                                      self.readVolume(self._output(self.OUTPUT)),
                                      f"{self.METHOD} {self.WHAT}", "gray",
                                      label="noise SD units", center=self.readMask())

    def makeSlicesQuality(self):
        from .. import figures
        mask = self.readMask()
        quality = self.readVolume(self._output(OUT_QUALITY))
        vmin, vmax = self.colourRange(quality, mask)
        return figures.central_slices(self.extraPath(f"{self.PREFIX}_quality_slices.png"),
                                      quality, f"{self.METHOD} quality map W", "viridis",
                                      vmin, vmax, label="W (noise SD units)",
                                      mask=mask)  # as the scene: grey outside the mask

    # ---------------------------------------------------------------- views
    def _showChimera(self, param=None):
        return self._guard(self.makeChimeraScript, self._chimeraView)

    def _showSlicesMap(self, param=None):
        return self._guard(self.makeSlicesMap,
                           lambda p: self._imageView(p, f"{self.WHAT} slices"))

    def _showSlicesQuality(self, param=None):
        return self._guard(self.makeSlicesQuality,
                           lambda p: self._imageView(p, "quality map slices"))


class LocSpiralViewer(_EnhancedMapViewer):
    """LocSpiral results: the enhanced map against the input map in ChimeraX (and coloured
    by the quality map W), central slices of the enhanced and quality maps."""
    _label = "LocSpiral viewer"
    _targets = [LocSpiralProtEnhance]


class LocBSharpenViewer(_EnhancedMapViewer):
    """LocBSharpen results: the locally sharpened map against the input map in ChimeraX (and
    coloured by the quality map W), central slices of the sharpened and quality maps."""
    _label = "LocBSharpen viewer"
    _targets = [LocSpiralProtBSharpen]
    OUTPUT = OUT_SHARPENED
    WHAT = "sharpened map"
    METHOD = "LocBSharpen"
    PREFIX = "locbsharpen"
