"""Viewer of LocBFactor runs: the map coloured by the local B (ChimeraX), the B histogram,
local Guinier plots and central slices of the B and A maps."""
import pyworkflow.protocol.params as params

from ..constants import ATTR_GLOBAL_B, ATTR_MAX_RES, OUT_AMPLITUDE, OUT_BFACTOR
from .. import chimerax as cx
from ..protocols import LocSpiralProtBFactor
from .viewer_base import LocSpiralViewerBase

SCRIPT = "locbfactor_chimerax.cxc"
PNG_HISTOGRAM = "bfactor_histogram.png"
PNG_GUINIER = "local_guinier.png"
PNG_SLICES_B = "bfactor_slices.png"
PNG_SLICES_A = "amplitude_slices.png"


class LocBFactorViewer(LocSpiralViewerBase):
    """Local B-factor results: the input map's surface coloured by the B map in ChimeraX
    (type 'locbfactor_showamplitude' there to colour it by the A map), the histogram of B
    inside the mask (mean, SD and the global Guinier B marked), local Guinier plots at
    voxels of low, median and high B, and central slices of the B and A maps."""
    _label = "LocBFactor viewer"
    _targets = [LocSpiralProtBFactor]

    def _defineParams(self, form):
        form.addSection(label="Visualization")
        group = form.addGroup("ChimeraX")
        group.addParam("displayChimera", params.LabelParam,
                       label="Map coloured by the local B-factor",
                       help="Writes extra/" + SCRIPT + " and opens it in ChimeraX (or tells "
                            "where it is when ChimeraX is not installed in Scipion).")
        self._addRangeParams(group, cx.B_PALETTE, "B-factor (Å^2)")
        self._addLevelParam(group)
        group = form.addGroup("Plots")
        group.addParam("displayHistogram", params.LabelParam,
                       label="Histogram of the local B-factor",
                       help="B inside the mask, with its mean and SD and the map's global "
                            "Guinier B.")
        group.addParam("displayGuinier", params.LabelParam, label="Local Guinier plots",
                       help="Log local amplitude against 1/d^2 at voxels whose B is near the "
                            "given percentiles of B inside the mask, with the fitted lines "
                            "(slope x 4 = B) and the noise level (Kaur et al. 2021, Fig. 3B). "
                            "Recomputes the bands at those voxels (a few seconds).")
        group.addParam("guinierPercentiles", params.StringParam, default="10 50 90",
                       label="Percentiles of B for the Guinier plots",
                       help="Space-separated percentiles (0-100) of B inside the mask.")
        group.addParam("displaySlicesB", params.LabelParam,
                       label="Central slices of the B map")
        group.addParam("displaySlicesA", params.LabelParam,
                       label="Central slices of the A map")

    def _getVisualizeDict(self):
        return {"displayChimera": self._showChimera,
                "displayHistogram": self._showHistogram,
                "displayGuinier": self._showGuinier,
                "displaySlicesB": self._showSlicesB,
                "displaySlicesA": self._showSlicesA}

    # ---------------------------------------------------------------- data
    def _bfactor(self):
        return self.readVolume(self._output(OUT_BFACTOR))

    def _amplitude(self):
        return self.readVolume(self._output(OUT_AMPLITUDE))

    def _estimator(self):
        """The run's amplitude estimator as the core takes it (None: the core's default),
        so that the plotted curves are the ones the run fitted."""
        choice = getattr(self.protocol, "estimator", None)
        if choice is None or choice.get() is None:
            return None
        from ..protocols.protocol_locbfactor import ESTIMATOR_CHOICES
        name = ESTIMATOR_CHOICES[choice.get()]
        return None if name == "default" else name

    def _window(self):
        """The spatial window (FWHM, Å) the run's fit used, so that the plotted curves are
        the ones fitted even when the run chose a non-default window: the run's request when
        it gave one, else the window it recorded (the default of its day), unless a band
        width was given (the band then set the window: passing both would re-split it)."""
        prot = self.protocol
        if prot.window.get() is not None or prot.bw.get() is not None:
            return prot.window.get()
        from ..protocols.protocol_locbfactor import WINDOW_USED
        used = getattr(prot, WINDOW_USED, None)
        return None if used is None else used.get()

    def _percentiles(self):
        text = (self.guinierPercentiles.get() or "10 50 90").replace(",", " ")
        values = [float(v) for v in text.split()]
        if not values or any(not 0 <= v <= 100 for v in values):
            raise ValueError(f"percentiles must be numbers from 0 to 100, got '{text}'")
        return values

    # ---------------------------------------------------------------- files
    def makeChimeraScript(self):
        """Write the ChimeraX script; returns its path."""
        mask = self.readMask()
        bfactor = self._bfactor()
        amplitude = self._amplitude()
        vmin, vmax = self.colourRange(bfactor, mask)
        inputVolume = self.protocol.inputVolume.get()
        level = self.levelOr(self.surfaceLevel.get(), self.readVolume(inputVolume), mask)
        return cx.bfactor_script(
            self.extraPath(SCRIPT), self.volumePath(inputVolume),
            self.volumePath(self._output(OUT_BFACTOR)),
            self.volumePath(self._output(OUT_AMPLITUDE)), self._voxelSize(), self._origin(),
            level, self.palette.get() or cx.B_PALETTE, vmin, vmax,
            amplitude_range=cx.robust_range(amplitude, mask, self.percentileLow.get(),
                                            self.percentileHigh.get()),
            mask=mask)  # B and A are 0 outside the fitted voxels: shown grey there

    def makeHistogram(self):
        from .. import figures
        globalB = getattr(self.protocol, ATTR_GLOBAL_B).get()
        return figures.bfactor_histogram(self.extraPath(PNG_HISTOGRAM), self._bfactor(),
                                         self.readMask(), global_b=globalB)

    def makeGuinierPlot(self):
        from .. import figures
        prot = self.protocol
        maxRes = getattr(prot, ATTR_MAX_RES).get()
        if maxRes is None:
            raise ValueError("the run has not finished: no max resolution recorded")
        data = self.readInputMap()
        # Noise statistics from the mask the run was given; voxels picked where B exists.
        png, _, _ = figures.local_guinier_figure(
            self.extraPath(PNG_GUINIER), data, self.readInputMask(data), self._voxelSize(),
            prot.minRes.get(), maxRes, bfactor=self._bfactor(),
            percentiles=self._percentiles(), num_points=prot.numPoints.get(),
            threshold=prot.threshold.get(), bw=prot.bw.get(), filtered=prot.filteredFit.get(),
            spiral=prot._spiral(), workers=prot._workers(), pick_mask=self.readMask(),
            estimator=self._estimator(), window=self._window())
        return png

    def makeSlicesB(self):
        from .. import figures
        mask = self.readMask()
        bfactor = self._bfactor()
        vmin, vmax = self.colourRange(bfactor, mask)
        return figures.central_slices(self.extraPath(PNG_SLICES_B), bfactor,
                                      "Local B-factor (B for sharpening)", "viridis",
                                      vmin, vmax, label="B (Å²)", mask=mask)

    def makeSlicesA(self):
        from .. import figures
        mask = self.readMask()
        amplitude = self._amplitude()
        vmin, vmax = cx.robust_range(amplitude, mask, self.percentileLow.get(),
                                     self.percentileHigh.get())
        return figures.central_slices(self.extraPath(PNG_SLICES_A), amplitude,
                                      "Local amplitude A", "magma", vmin, vmax,
                                      label="A (log amplitude)", mask=mask)

    # ---------------------------------------------------------------- views
    def _showChimera(self, param=None):
        return self._guard(self.makeChimeraScript, self._chimeraView)

    def _showHistogram(self, param=None):
        return self._guard(self.makeHistogram,
                           lambda p: self._imageView(p, "Local B-factor histogram"))

    def _showGuinier(self, param=None):
        return self._guard(self.makeGuinierPlot,
                           lambda p: self._imageView(p, "Local Guinier plots"))

    def _showSlicesB(self, param=None):
        return self._guard(self.makeSlicesB, lambda p: self._imageView(p, "B map slices"))

    def _showSlicesA(self, param=None):
        return self._guard(self.makeSlicesA, lambda p: self._imageView(p, "A map slices"))

