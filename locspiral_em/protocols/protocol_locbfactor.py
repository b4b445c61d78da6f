"""LocBFactor: local B-factor and amplitude maps from a per-voxel local Guinier fit."""
import pyworkflow.object as pwobj
import pyworkflow.protocol.params as params
from pwem.objects import Volume

from ..constants import (ATTR_GLOBAL_B, ATTR_GLOBAL_B_MAX_RES, ATTR_GLOBAL_B_MIN_RES,
                         ATTR_MEAN_B, ATTR_SD_B, EXTRA_NOISE_CURVE, FILE_AMPLITUDE,
                         FILE_BFACTOR, OUT_AMPLITUDE, OUT_BFACTOR)
from ..core import defaults as D
from ..core.bfactor import AMPLITUDE_AT, ESTIMATORS
from .protocol_base import LocSpiralProtBase

AMPLITUDE_CHOICES = list(AMPLITUDE_AT)
ESTIMATOR_CHOICES = ["default"] + list(ESTIMATORS)
WINDOW_USED = "windowA"   # stored: FWHM (Å) of the spatial window the fit averaged over


class LocSpiralProtBFactor(LocSpiralProtBase):
    """LocBFactor: local B-factor map (Kaur et al. 2021).

    For a few bands between the min and max resolution, the log of the SNR-weighted local
    amplitude is fitted per voxel by a line against 1/d^2 (a local Guinier plot). The B map
    holds 4 x slope, the B-factor *for sharpening* in Å^2 (negative for decaying signal,
    comparable to the global B that sharpening programs report); the A map the fitted log
    amplitude. The run also reports the mean and SD of B inside the mask and the global
    Guinier B of the map, and saves the per-band noise levels.
    """
    _label = "LocBFactor"
    _possibleOutputs = {OUT_BFACTOR: Volume, OUT_AMPLITUDE: Volume}
    METHOD = "locbfactor"
    BW_LABEL = "Band width (empty: default)"
    METHOD_NAME = "LocBFactor"

    def __init__(self, **kwargs):
        LocSpiralProtBase.__init__(self, **kwargs)
        for name in self.B_RESULT_ATTRS + (WINDOW_USED,):
            setattr(self, name, pwobj.Float())

    def _defineMethodParams(self, form):
        form.addParam("numPoints", params.IntParam, default=D.NUM_POINTS,
                      label="Number of bands in the fit",
                      help="Bands (points of the local Guinier plot) between the min and max "
                           "resolution; 10 published.")

    def _defineExpertParams(self, form):
        form.addParam("filteredFit", params.BooleanParam, default=D.FILTERED_FIT,
                      expertLevel=params.LEVEL_ADVANCED, label="Fit only bands above noise",
                      help="Per voxel, fit only the bands whose log amplitude is above the "
                           "band's noise level. Voxels with fewer than 2 such bands get no "
                           "value and leave the mask (extra/mask.mrc).")
        form.addParam("amplitudeAt", params.EnumParam, choices=AMPLITUDE_CHOICES,
                      default=AMPLITUDE_CHOICES.index(D.AMPLITUDE_AT),
                      display=params.EnumParam.DISPLAY_HLIST,
                      expertLevel=params.LEVEL_ADVANCED, label="Amplitude map at",
                      help="*intercept*: the fitted log amplitude at 1/d^2 = 0, as the "
                           "reference code writes it. *lowest*: at the lowest swept "
                           "frequency (min resolution), as the paper describes it.")
        form.addParam("estimator", params.EnumParam, choices=ESTIMATOR_CHOICES, default=0,
                      display=params.EnumParam.DISPLAY_HLIST,
                      expertLevel=params.LEVEL_ADVANCED, label="Amplitude estimator",
                      help="*default*: debiased with the riesz spiral, published with the "
                           "reference one. *debiased*: smoothed band power less the solvent's "
                           "(band width in 1/Å; empty: the band of the spatial window below). "
                           "*published*: the paper's SNR-weighted amplitude (band width in "
                           "Fourier pixels, 4.8).")
        form.addParam("window", params.FloatParam, default=None, allowsNull=True,
                      expertLevel=params.LEVEL_ADVANCED,
                      label="Spatial window FWHM (Å, empty: default)",
                      help="How local the B map is: the FWHM of the region each voxel's fit "
                           f"averages over. Empty: {D.BFACTOR_WINDOW:g} Å for the debiased "
                           "estimator, the 4.8-pixel band's own for the published one. "
                           "Smaller separates adjacent domains better (12 Å recovers about "
                           "60% of a B step between 17 Å domains, 80% between 30 Å ones) "
                           "at the price of noisier values. Sets the band width, or with "
                           "an explicit band width (debiased) the power smoothing.")

    def _validateMethod(self, errors):
        if self.numPoints.get() is None or self.numPoints.get() < 2:
            errors.append("The fit needs at least 2 bands (number of bands >= 2).")
        if self.window.get() is not None and not self.window.get() > 0:
            errors.append(f"The spatial window is a FWHM in Å (> 0, {D.BFACTOR_WINDOW:g} "
                          f"typical), not {self.window.get()}.")

    def _methodSpec(self):
        estimator = ESTIMATOR_CHOICES[self.estimator.get()]
        return dict(num_points=self.numPoints.get(), filtered=self.filteredFit.get(),
                    amplitude_at=AMPLITUDE_CHOICES[self.amplitudeAt.get()],
                    estimator=None if estimator == "default" else estimator,
                    window=self.window.get())

    def _outputFiles(self):
        return {"bfactor": FILE_BFACTOR, "amplitude": FILE_AMPLITUDE,
                "noise_curve": EXTRA_NOISE_CURVE}

    def _storedResults(self, summary):
        return dict(self._bResults(summary),
                    **{WINDOW_USED: summary["parameters"].get("window_A")})

    def _createOutputs(self, results):
        self._storeResultAttrs(results, self.B_RESULT_ATTRS + (WINDOW_USED,))
        self._defineVolumeOutputs([(OUT_BFACTOR, FILE_BFACTOR),
                                   (OUT_AMPLITUDE, FILE_AMPLITUDE)])

    def _summaryMethod(self):
        lines = [f"Local B-factor for sharpening inside the mask: mean "
                 f"{getattr(self, ATTR_MEAN_B).get():.2f} Å^2, SD "
                 f"{getattr(self, ATTR_SD_B).get():.2f} Å^2"]
        globalLine = self._globalBLine("Global Guinier B")
        if globalLine:
            lines.append(globalLine)
        window = getattr(self, WINDOW_USED).get()
        if window is not None:
            lines.append(f"Local means within a {window:.1f} Å (FWHM) spatial window: "
                         "domains much smaller than that read partly as their neighbours")
        lines.append(f"Outputs: *{OUT_BFACTOR}* (B, Å^2, 0 outside the mask) and "
                     f"*{OUT_AMPLITUDE}* (log amplitude at the "
                     f"{AMPLITUDE_CHOICES[self.amplitudeAt.get()]}); noise levels in "
                     f"extra/{EXTRA_NOISE_CURVE}")
        return lines

    def _methodsSettings(self):
        settings = LocSpiralProtBase._methodsSettings(self)
        fit = "only bands above noise" if self.filteredFit.get() else "all bands"
        return settings + f", a per-voxel least-squares fit over {fit}"

    def _methodsSentence(self):
        return "Local B-factors were estimated with LocBFactor"

    def _methodsResults(self):
        text = (f"The mean local B-factor for sharpening inside the mask was "
                f"{getattr(self, ATTR_MEAN_B).get():.1f} Å^2 "
                f"(SD {getattr(self, ATTR_SD_B).get():.1f} Å^2)")
        globalB = getattr(self, ATTR_GLOBAL_B).get()
        if globalB is not None:
            text += (f", compared with a global Guinier B-factor of {globalB:.1f} Å^2 "
                     f"over the same range "
                     f"({getattr(self, ATTR_GLOBAL_B_MIN_RES).get():g}-"
                     f"{getattr(self, ATTR_GLOBAL_B_MAX_RES).get():.2f} Å) inside the mask")
        return text + "."
