"""Viewer of maturity-index runs: the maturation timeline (sorted bar chart) and, in
ChimeraX, the mature map with the density each immature map lacks in its own colour."""
import pyworkflow.protocol.params as params

from ..constants import (ATTR_MATURITY_INDEX, ATTR_MATURITY_NORMALISED, ATTR_SOURCE_NAME,
                         ATTR_SOURCE_POSITION, OUT_MATURITY_MISSING, OUT_MATURITY_OCCUPANCY)
from .. import chimerax as cx
from ..protocols import LocSpiralProtMaturity
from .viewer_base import LocSpiralViewerBase

SCRIPT = "maturity_chimerax.cxc"
PNG_BARS = "maturity_index.png"
PNG_SLICES = "maturity_occupancy_%03d.png"


class MaturityViewer(LocSpiralViewerBase):
    """Maturity index results: the indices as a sorted bar chart (a maturation timeline),
    the mature map with each immature map's missing density in its own colour (ChimeraX),
    and central slices of an immature map's occupancy map."""
    _label = "maturity index viewer"
    _targets = [LocSpiralProtMaturity]

    def _defineParams(self, form):
        form.addSection(label="Visualization")
        form.addParam("displayBars", params.LabelParam, label="Maturity index per map",
                      help="Bar chart of the maturity indices, least to most mature.")
        group = form.addGroup("ChimeraX")
        group.addParam("displayChimera", params.LabelParam,
                       label="Mature map and missing density",
                       help="Writes extra/" + SCRIPT + ": the mature map (transparent grey) "
                            "and, per immature map, the mature density it lacks, each in "
                            "its own colour. Type maturity_showmissing1, "
                            "maturity_showmissing2, ... or maturity_showallmissing in "
                            "ChimeraX to switch.")
        self._addLevelParam(group)
        group.addParam("transparency", params.FloatParam, default=0.7,
                       label="Transparency of the mature map (0-1)")
        group = form.addGroup("Slices")
        group.addParam("sliceMap", params.IntParam, default=1,
                       label="Immature map (input position)",
                       help="Position (1, 2, ...) of the immature map in the input list.")
        group.addParam("displaySlices", params.LabelParam,
                       label="Central slices of its occupancy map")

    def _getVisualizeDict(self):
        return {"displayBars": self._showBars, "displayChimera": self._showChimera,
                "displaySlices": self._showSlices}

    # ---------------------------------------------------------------- data
    def entries(self, outputName=OUT_MATURITY_MISSING):
        """Per immature map, in input order: dict(position, name, index, normalised,
        path)."""
        entries = []
        for item in self._output(outputName):
            # Runs made before the normalised index existed do not carry it.
            normalised = getattr(item, ATTR_MATURITY_NORMALISED, None)
            entries.append({
                "position": int(getattr(item, ATTR_SOURCE_POSITION).get()),
                "name": str(getattr(item, ATTR_SOURCE_NAME).get()),
                "index": float(getattr(item, ATTR_MATURITY_INDEX).get()),
                "normalised": None if normalised is None else normalised.get(),
                "path": self.volumePath(item)})
        return sorted(entries, key=lambda entry: entry["position"])

    # ---------------------------------------------------------------- files
    def makeBars(self):
        from .. import figures
        entries = self.entries()
        normalised = [e["normalised"] for e in entries]
        return figures.maturity_bars(self.extraPath(PNG_BARS),
                                     [e["name"] for e in entries],
                                     [e["index"] for e in entries],
                                     normalised=None if None in normalised else normalised)

    def makeChimeraScript(self):
        entries = self.entries()
        mature = self.protocol.inputVolume.get()
        mask = self.readMask()
        level = self.levelOr(self.surfaceLevel.get(), self.readVolume(mature), mask)
        transparency = self.transparency.get()
        return cx.maturity_script(
            self.extraPath(SCRIPT), self.volumePath(mature), [e["path"] for e in entries],
            self._voxelSize(), self._origin(mature), level,
            names=[e["name"] for e in entries], indices=[e["index"] for e in entries],
            mature_transparency=0.7 if transparency is None else transparency)

    def makeSlices(self):
        from .. import figures
        position = self.sliceMap.get() or 1
        entries = {e["position"]: e for e in self.entries(OUT_MATURITY_OCCUPANCY)}
        if position not in entries:
            raise ValueError(f"no immature map at position {position}; the run has "
                             f"{sorted(entries)}")
        entry = entries[position]
        from .. import core
        occupancy = core.read_map(entry["path"], self._voxelSize()).data
        return figures.central_slices(
            self.extraPath(PNG_SLICES % position), occupancy,
            f"Occupancy of {entry['name']} (maturity {entry['index']:.2f})", "viridis",
            0.0, 1.0, label="occupancy", mask=self.readMask())

    # ---------------------------------------------------------------- views
    def _showBars(self, param=None):
        return self._guard(self.makeBars, lambda p: self._imageView(p, "maturity index"))

    def _showChimera(self, param=None):
        return self._guard(self.makeChimeraScript, self._chimeraView)

    def _showSlices(self, param=None):
        return self._guard(self.makeSlices, lambda p: self._imageView(p, "occupancy slices"))
