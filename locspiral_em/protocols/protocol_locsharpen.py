"""LocSharpen: local sharpening of a cryo-EM map driven by its local B-factor and amplitude
maps, with a local Wiener weight."""
import pyworkflow.object as pwobj
import pyworkflow.protocol.params as params
from pwem.objects import Volume

from ..constants import (ATTR_GLOBAL_B, ATTR_GLOBAL_B_MAX_RES, ATTR_GLOBAL_B_MIN_RES,
                         ATTR_MEAN_B, ATTR_SD_B, FILE_LOCSHARPEN, FILE_LOCSHARPEN_BFACTOR,
                         OUT_LOCSHARPEN, OUT_LOCSHARPEN_BFACTOR, SPIRAL_RIESZ)
from ..core import defaults as D
from ..core.sharpen import NOISE_SOURCE_TEXT
from .protocol_base import LocSpiralProtBase, _sentence

HELP_TARGET_B = (
    "B-factor (Å^2, with the sharpening sign: negative = blurred) that every voxel's local "
    "Guinier curve is brought to. 0 (default) flattens the local curves, as a global "
    "sharpening by the map's own B-factor would do globally; a negative value (e.g. -20) "
    "sharpens less.")
HELP_BFACTOR_MIN_RES = (
    "Low-resolution end (Å) of the local B-factor fit that drives the sharpening "
    "(LocBFactor's noise-filtered fit from here to the max resolution). 15 Å: where the "
    "Guinier regime of a protein map starts.")
HELP_NUM_POINTS = "Bands (points of the local Guinier plot) of the local B-factor fit; 10."
HELP_SMOOTH = (
    "Standard deviation (Å) of the Gaussian average of the local B and signal-power maps "
    "over the mask before they are used; both fade to 0 over this distance outside the "
    "mask. The per-voxel fit is noisy and the gain exp(-B x / 4) is steep in B, so a few Å "
    "of averaging (3 Å default, well below a domain's size) steadies it. 0: as fitted.")


class LocSpiralProtLocSharpen(LocSpiralProtBase):
    """LocSharpen: local sharpening driven by the local B-factor and amplitude maps.

    The local B-factor and amplitude are fitted per voxel (LocBFactor's noise-filtered
    local Guinier fit) and smoothed. Each Gaussian frequency band from the min to the max
    resolution is then multiplied, voxel by voxel, by the deblurring gain
    exp(-(B(r) - B_target)(x - x_ref)/4) (x = 1/d^2, x_ref at the min resolution) and by a
    Wiener weight S^2/(S^2 + P): S^2 is the fitted local signal power of the band, P the
    band's noise power: from the half-map difference when the input has half maps, else from
    the solvent, else (a masked map) from the map's own frequencies beyond the max
    resolution; with none of these usable the map is only low-passed, not sharpened, and
    the summary says so. Bands where the signal sinks below the noise are therefore not
    amplified. The output stays on the input's intensity scale and is low-passed at the max
    resolution.
    """
    _label = "local sharpening (LocSharpen)"
    _possibleOutputs = {OUT_LOCSHARPEN: Volume, OUT_LOCSHARPEN_BFACTOR: Volume}
    METHOD = "locsharpen"
    METHOD_NAME = "LocSharpen"
    INPUT_HELP = ("The unsharpened, unmasked map. When it carries half maps (import with "
                  "'Set half maps'), their average is sharpened, their FSC gives the default "
                  "max resolution and their difference the noise power of the Wiener weight "
                  "(then the map may be masked); without half maps the noise is measured in "
                  "the solvent or, on a masked map, beyond the max resolution; a map with "
                  "neither is only low-passed, not sharpened.")

    def __init__(self, **kwargs):
        LocSpiralProtBase.__init__(self, **kwargs)
        for name in self.B_RESULT_ATTRS:
            setattr(self, name, pwobj.Float())

    # ------------------------------------------------------------------ form
    def _defineMethodParams(self, form):
        form.addParam("targetB", params.FloatParam, default=D.TARGET_B,
                      label="Target B-factor (Å^2)", help=HELP_TARGET_B)
        form.addParam("bfactorMinRes", params.FloatParam, default=D.BFACTOR_MIN_RES,
                      label="Local B fit min resolution (Å)", help=HELP_BFACTOR_MIN_RES)
        form.addParam("numPoints", params.IntParam, default=D.NUM_POINTS,
                      label="Number of bands in the local B fit", help=HELP_NUM_POINTS)

    def _defineExpertParams(self, form):
        form.addParam("smooth", params.FloatParam, default=D.SHARPEN_SMOOTH,
                      expertLevel=params.LEVEL_ADVANCED, label="Smoothing of the B map (Å)",
                      help=HELP_SMOOTH)

    def _validateMethod(self, errors):
        if self._spiral() != SPIRAL_RIESZ:
            errors.append("LocSharpen has no counterpart in the original code: use the "
                          "'riesz' spiral transform.")
        if self.targetB.get() is None:
            errors.append("The target B-factor must be a number of Å^2 (0 flattens).")
        smooth = self.smooth.get()
        if smooth is None or smooth < 0:
            errors.append("The smoothing of the B map is a distance in Å (>= 0).")
        if self.numPoints.get() is None or self.numPoints.get() < 2:
            errors.append("The local B fit needs at least 2 bands (number of bands >= 2).")
        low = self.bfactorMinRes.get()
        if low is None or low <= 0:
            errors.append("The local B fit min resolution must be a positive number of Å.")
            return
        maxRes = self._formMaxRes()
        volume = self.inputVolume.get()
        if maxRes is None or volume is None or not volume.getSamplingRate():
            return  # from the FSC: checked by the run
        if low <= maxRes:
            errors.append(f"The local B fit min resolution {low:g} Å must be coarser (a "
                          f"larger number) than the max resolution {maxRes:g} Å.")
            return
        dims = volume.getDim()
        if dims is not None:
            try:
                from ..core.validate import check_resolutions
                check_resolutions(volume.getSamplingRate(), low, maxRes, tuple(dims)[::-1])
            except Exception as exc:
                errors.append("Local B fit: " + _sentence(exc))

    def _methodSpec(self):
        return dict(target_b=self.targetB.get(), smooth=self.smooth.get(),
                    bfactor_min_res=self.bfactorMinRes.get(),
                    num_points=self.numPoints.get())

    # ------------------------------------------------------------------ outputs
    def _outputFiles(self):
        return {"locsharpen": FILE_LOCSHARPEN, "locsharpen_bfactor": FILE_LOCSHARPEN_BFACTOR}

    def _storedResults(self, summary):
        return dict(self._bResults(summary),
                    noiseFrom=summary["parameters"]["noise_from"])

    def _createOutputs(self, results):
        self._storeResultAttrs(results, self.B_RESULT_ATTRS)
        self._defineVolumeOutputs([(OUT_LOCSHARPEN, FILE_LOCSHARPEN),
                                   (OUT_LOCSHARPEN_BFACTOR, FILE_LOCSHARPEN_BFACTOR)])

    # ------------------------------------------------------------------ info
    def _summaryMethod(self):
        lines = [f"Local B-factor used inside the mask (smoothed over {self.smooth.get():g} "
                 f"Å): mean {getattr(self, ATTR_MEAN_B).get():.2f} Å^2, SD "
                 f"{getattr(self, ATTR_SD_B).get():.2f} Å^2; target B "
                 f"{self.targetB.get():g} Å^2"]
        globalLine = self._globalBLine("Global Guinier B of the input")
        if globalLine:
            lines.append(globalLine)
        noise = self.getResults().get("noiseFrom")
        if noise:
            text = NOISE_SOURCE_TEXT.get(noise, f"noise from {noise}")
            lines.append(text[0].upper() + text[1:])
        lines.append(f"Outputs: *{OUT_LOCSHARPEN}* (locally sharpened map, on the input's "
                     f"intensity scale) and *{OUT_LOCSHARPEN_BFACTOR}* (the smoothed local "
                     "B map used, Å^2, sharpening sign).")
        return lines

    def _methodsSentence(self):
        return ("The map was sharpened locally with LocSharpen: every frequency band was "
                "deblurred voxel by voxel by the local B-factor (LocBFactor's noise-filtered "
                f"fit from {self.bfactorMinRes.get():g} Å with {self.numPoints.get()} bands, "
                f"smoothed over {self.smooth.get():g} Å) toward a target B-factor of "
                f"{self.targetB.get():g} Å^2 and weighted by a local Wiener filter from the "
                "fitted signal power and the band's noise power")

    def _methodsResults(self):
        text = (f"The mean local B-factor used inside the mask was "
                f"{getattr(self, ATTR_MEAN_B).get():.1f} Å^2 "
                f"(SD {getattr(self, ATTR_SD_B).get():.1f} Å^2)")
        globalB = getattr(self, ATTR_GLOBAL_B).get()
        if globalB is not None:
            text += (f", compared with a global Guinier B-factor of {globalB:.1f} Å^2 over "
                     f"the same range ({getattr(self, ATTR_GLOBAL_B_MIN_RES).get():g}-"
                     f"{getattr(self, ATTR_GLOBAL_B_MAX_RES).get():.2f} Å) inside the mask")
        return text + "."
