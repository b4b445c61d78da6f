"""Viewer of LocOccupancy runs: the map coloured by local occupancy (ChimeraX) and central
slices of the occupancy map."""
import pyworkflow.protocol.params as params

from ..constants import OUT_OCCUPANCY
from .. import chimerax as cx
from ..protocols import LocSpiralProtMaturity, LocSpiralProtOccupancy
from .viewer_base import LocSpiralViewerBase

SCRIPT = "lococcupancy_chimerax.cxc"
PNG_SLICES = "occupancy_slices.png"


class LocOccupancyViewer(LocSpiralViewerBase):
    """Local occupancy results: the input map's surface coloured by the occupancy map (0 to
    1) in ChimeraX with a colour key, and central slices of the occupancy map."""
    _label = "LocOccupancy viewer"
    _targets = [LocSpiralProtOccupancy]

    @classmethod
    def can_handle_this(cls, classHierarchy, instance=None):
        # The maturity index protocol subclasses LocOccupancy but has its own outputs/viewer.
        if LocSpiralProtMaturity in classHierarchy:
            return None
        return super().can_handle_this(classHierarchy, instance)

    def _defineParams(self, form):
        form.addSection(label="Visualization")
        group = form.addGroup("ChimeraX")
        group.addParam("displayChimera", params.LabelParam,
                       label="Map coloured by the local occupancy",
                       help="Writes extra/" + SCRIPT + " and opens it in ChimeraX (or tells "
                            "where it is when ChimeraX is not installed in Scipion).")
        self._addRangeParams(group, cx.OCCUPANCY_PALETTE, "occupancy", 0.0, 1.0)
        self._addLevelParam(group)
        group = form.addGroup("Slices")
        group.addParam("displaySlices", params.LabelParam,
                       label="Central slices of the occupancy map")

    def _getVisualizeDict(self):
        return {"displayChimera": self._showChimera, "displaySlices": self._showSlices}

    def makeChimeraScript(self):
        mask = self.readMask()
        occupancy = self.readVolume(self._output(OUT_OCCUPANCY))
        vmin, vmax = self.colourRange(occupancy, mask)
        inputVolume = self.protocol.inputVolume.get()
        level = self.levelOr(self.surfaceLevel.get(), self.readVolume(inputVolume), mask)
        return cx.occupancy_script(
            self.extraPath(SCRIPT), self.volumePath(inputVolume),
            self.volumePath(self._output(OUT_OCCUPANCY)), self._voxelSize(), self._origin(),
            level, self.palette.get() or cx.OCCUPANCY_PALETTE, vmin, vmax,
            mask=mask)  # occupancy 0 outside the mask is no measurement: shown grey

    def makeSlices(self):
        from .. import figures
        mask = self.readMask()
        occupancy = self.readVolume(self._output(OUT_OCCUPANCY))
        vmin, vmax = self.colourRange(occupancy, mask)
        return figures.central_slices(self.extraPath(PNG_SLICES), occupancy,
                                      "Local occupancy", "viridis", vmin, vmax,
                                      label="occupancy", mask=mask)

    def _showChimera(self, param=None):
        return self._guard(self.makeChimeraScript, self._chimeraView)

    def _showSlices(self, param=None):
        return self._guard(self.makeSlices,
                           lambda p: self._imageView(p, "occupancy slices"))
