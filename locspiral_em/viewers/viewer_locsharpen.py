"""Viewer of LocSharpen (local sharpening) runs: the sharpened map against the input map in
ChimeraX, and central slices of the sharpened map, of the input map (the same cuts) and of
the local B map that drove the sharpening."""
import pyworkflow.protocol.params as params

from .. import chimerax as cx
from ..constants import OUT_LOCSHARPEN, OUT_LOCSHARPEN_BFACTOR
from ..protocols import LocSpiralProtLocSharpen
from .viewer_base import LocSpiralViewerBase


class LocSharpenViewer(LocSpiralViewerBase):
    """LocSharpen results: the locally sharpened map (gold surface) over the input map (grey
    mesh) in ChimeraX; central slices of the sharpened map and of the input map through the
    same voxel, on the same intensity scale; central slices of the local B map used."""
    _label = "LocSharpen viewer"
    _targets = [LocSpiralProtLocSharpen]
    PREFIX = "locsharpen"

    def _defineParams(self, form):
        form.addSection(label="Visualization")
        group = form.addGroup("ChimeraX")
        group.addParam("displayChimera", params.LabelParam,
                       label="Sharpened map and input map",
                       help=f"Writes extra/{self.PREFIX}_chimerax.cxc: the sharpened map "
                            "(gold surface) over the input map (grey mesh). In ChimeraX, "
                            f"type {self.PREFIX}_showenhanced, {self.PREFIX}_showoriginal "
                            f"or {self.PREFIX}_showboth to switch views.")
        self._addLevelParam(group, "levelEnhanced", "Level of the sharpened map")
        self._addLevelParam(group, "levelOriginal", "Level of the input map")
        group = form.addGroup("Slices")
        group.addParam("displaySlicesMap", params.LabelParam,
                       label="Central slices of the sharpened map")
        group.addParam("displaySlicesInput", params.LabelParam,
                       label="Central slices of the input map",
                       help="The same cuts as the sharpened map's, on the same grey scale "
                            "(the output keeps the input's intensity scale), so the two "
                            "figures compare directly.")
        group.addParam("displaySlicesB", params.LabelParam,
                       label="Central slices of the local B map used",
                       help="The smoothed local B-factor (Å^2, sharpening sign) that drove "
                            "the sharpening, grey outside the run's mask.")

    def _getVisualizeDict(self):
        return {"displayChimera": self._showChimera,
                "displaySlicesMap": self._showSlicesMap,
                "displaySlicesInput": self._showSlicesInput,
                "displaySlicesB": self._showSlicesB}

    # ---------------------------------------------------------------- files
    def makeChimeraScript(self):
        mask = self.readMask()
        result = self._output(OUT_LOCSHARPEN)
        inputVolume = self.protocol.inputVolume.get()
        levelResult = self.levelOr(self.levelEnhanced.get(), self.readVolume(result), mask)
        levelInput = self.levelOr(self.levelOriginal.get(), self.readVolume(inputVolume), mask)
        return cx.enhancement_script(
            self.extraPath(f"{self.PREFIX}_chimerax.cxc"), self.volumePath(result),
            self.volumePath(inputVolume), self._voxelSize(), self._origin(), levelResult,
            levelInput, title="LocSharpen map", mask=mask,
            model_id=cx.SCENE_MODEL_IDS["locsharpen"])

    def _sliceRange(self):
        """One grey scale for both slice figures: the 1st-99th percentiles of the input map
        the run sharpened (the half-map average when it has half maps)."""
        import numpy as np
        lo, hi = np.percentile(self.readInputMap(), [1, 99])
        return float(lo), float(hi)

    def makeSlicesMap(self):
        from .. import figures
        vmin, vmax = self._sliceRange()
        return figures.central_slices(self.extraPath(f"{self.PREFIX}_slices.png"),
                                      self.readVolume(self._output(OUT_LOCSHARPEN)),
                                      "LocSharpen sharpened map", "gray", vmin, vmax,
                                      label="input map units", center=self.readMask())

    def makeSlicesInput(self):
        from .. import figures
        vmin, vmax = self._sliceRange()
        return figures.central_slices(self.extraPath(f"{self.PREFIX}_input_slices.png"),
                                      self.readInputMap(), "Input map (as sharpened)",
                                      "gray", vmin, vmax, label="input map units",
                                      center=self.readMask())

    def makeSlicesB(self):
        from .. import figures
        mask = self.readMask()
        bfactor = self.readVolume(self._output(OUT_LOCSHARPEN_BFACTOR))
        vmin, vmax = cx.robust_range(bfactor, mask)
        return figures.central_slices(self.extraPath(f"{self.PREFIX}_bfactor_slices.png"),
                                      bfactor, "LocSharpen local B map used", "viridis",
                                      vmin, vmax, label="B (Å²)", mask=mask)

    # ---------------------------------------------------------------- views
    def _showChimera(self, param=None):
        return self._guard(self.makeChimeraScript, self._chimeraView)

    def _showSlicesMap(self, param=None):
        return self._guard(self.makeSlicesMap,
                           lambda p: self._imageView(p, "sharpened map slices"))

    def _showSlicesInput(self, param=None):
        return self._guard(self.makeSlicesInput,
                           lambda p: self._imageView(p, "input map slices"))

    def _showSlicesB(self, param=None):
        return self._guard(self.makeSlicesB,
                           lambda p: self._imageView(p, "local B map slices"))
