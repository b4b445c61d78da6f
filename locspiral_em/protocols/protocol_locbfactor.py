"""LocBFactor: local B-factor and amplitude maps from a per-voxel local Guinier fit."""
import numpy as np

import pyworkflow.object as pwobj
import pyworkflow.protocol.params as params
from pwem.objects import Volume

from .. import core
from ..constants import (ATTR_GLOBAL_B, ATTR_GLOBAL_B_MAX_RES, ATTR_GLOBAL_B_MIN_RES,
                         ATTR_MEAN_B, ATTR_SD_B, EXTRA_NOISE_CURVE, FILE_AMPLITUDE,
                         FILE_BFACTOR, OUT_AMPLITUDE, OUT_BFACTOR)
from .protocol_base import LocSpiralProtBase

AMPLITUDE_CHOICES = ["intercept", "lowest"]
GLOBAL_B_MIN_RES = 10.0  # Å: low end of the global Guinier fit (Rosenthal & Henderson)


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
    MIN_RES_DEFAULT = 15.0
    BW_DEFAULT = 4.8
    METHOD_NAME = "LocBFactor"

    def __init__(self, **kwargs):
        LocSpiralProtBase.__init__(self, **kwargs)
        for name in (ATTR_MEAN_B, ATTR_SD_B, ATTR_GLOBAL_B, ATTR_GLOBAL_B_MIN_RES,
                     ATTR_GLOBAL_B_MAX_RES):
            setattr(self, name, pwobj.Float())

    def _defineMethodParams(self, form):
        form.addParam("numPoints", params.IntParam, default=10,
                      label="Number of bands in the fit",
                      help="Bands (points of the local Guinier plot) between the min and max "
                           "resolution; 10 published.")

    def _defineExpertParams(self, form):
        form.addParam("filteredFit", params.BooleanParam, default=False,
                      expertLevel=params.LEVEL_ADVANCED, label="Fit only bands above noise",
                      help="Per voxel, fit only the bands whose log amplitude is above the "
                           "band's noise level. Voxels with fewer than 2 such bands get no "
                           "value and leave the mask (extra/mask.mrc).")
        form.addParam("amplitudeAt", params.EnumParam, choices=AMPLITUDE_CHOICES, default=0,
                      display=params.EnumParam.DISPLAY_HLIST,
                      expertLevel=params.LEVEL_ADVANCED, label="Amplitude map at",
                      help="*intercept*: the fitted log amplitude at 1/d^2 = 0, as the "
                           "reference code writes it. *lowest*: at the lowest swept "
                           "frequency (min resolution), as the paper describes it.")

    def _validateMethod(self, errors):
        if self.numPoints.get() is None or self.numPoints.get() < 2:
            errors.append("The fit needs at least 2 bands (number of bands >= 2).")

    def _compute(self, inputs):
        volume = inputs["volume"]
        result = core.locbfactor(volume, inputs["mask"], num_points=self.numPoints.get(),
                                 threshold=self.threshold.get(), bw=self.bw.get(),
                                 filtered=self.filteredFit.get(),
                                 amplitude_at=AMPLITUDE_CHOICES[self.amplitudeAt.get()],
                                 **self._coreArgs(inputs))
        inside = result.bfactor[result.mask].astype(np.float64)
        stats = {ATTR_MEAN_B: float(inside.mean()),
                 ATTR_SD_B: float(inside.std(ddof=1)) if inside.size > 1 else 0.0}
        self.info(f"Local B inside the mask: mean {stats[ATTR_MEAN_B]:.2f} Å^2, "
                  f"SD {stats[ATTR_SD_B]:.2f} Å^2 ({inside.size} voxels)")
        stats.update(self._globalB(volume, inputs, inputs["mask"]))
        np.savetxt(self._getExtraPath(EXTRA_NOISE_CURVE),
                   np.column_stack([result.res_square, result.noise]),
                   header="res_square (1/A^2)  noise (log amplitude units, as the fit)")
        return ([(FILE_BFACTOR, result.bfactor), (FILE_AMPLITUDE, result.amplitude)],
                stats, result.mask)

    def _globalB(self, volume, inputs, mask):
        """Global Guinier B of the masked input map from 10 Å to the max resolution, or
        over the protocol's range when the max resolution is coarser than 10 Å. Masked,
        because solvent noise flattens the spectrum of the whole box (on the demo phantom
        -35 Å^2 unmasked, -51 masked, -53 for the noise-free map)."""
        low, high = GLOBAL_B_MIN_RES, inputs["maxRes"]
        if high >= low:
            low = inputs["minRes"]
        try:
            fit = core.global_bfactor(volume, inputs["voxelSize"], min_res=low, max_res=high,
                                      mask=mask, workers=self._workers())
        except core.InputError as exc:
            self.warning(f"No global Guinier B: {exc}")
            return {ATTR_GLOBAL_B: None, ATTR_GLOBAL_B_MIN_RES: low,
                    ATTR_GLOBAL_B_MAX_RES: high}
        self.info(f"Global Guinier B ({low:g} - {high:.2f} Å): {fit.bfactor:.2f} Å^2")
        return {ATTR_GLOBAL_B: fit.bfactor, ATTR_GLOBAL_B_MIN_RES: low,
                ATTR_GLOBAL_B_MAX_RES: high}

    def _createOutputs(self, results):
        for name in (ATTR_MEAN_B, ATTR_SD_B, ATTR_GLOBAL_B, ATTR_GLOBAL_B_MIN_RES,
                     ATTR_GLOBAL_B_MAX_RES):
            attr = getattr(self, name)
            attr.set(results.get(name))
            self._store(attr)
        self._defineVolumeOutputs([(OUT_BFACTOR, FILE_BFACTOR),
                                   (OUT_AMPLITUDE, FILE_AMPLITUDE)])

    def _summaryMethod(self):
        lines = [f"Local B-factor for sharpening inside the mask: mean "
                 f"{getattr(self, ATTR_MEAN_B).get():.2f} Å^2, SD "
                 f"{getattr(self, ATTR_SD_B).get():.2f} Å^2"]
        globalB = getattr(self, ATTR_GLOBAL_B).get()
        if globalB is not None:
            lines.append(f"Global Guinier B of the map "
                         f"({getattr(self, ATTR_GLOBAL_B_MIN_RES).get():g} - "
                         f"{getattr(self, ATTR_GLOBAL_B_MAX_RES).get():.2f} Å): "
                         f"{globalB:.2f} Å^2")
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
                     f"({getattr(self, ATTR_GLOBAL_B_MIN_RES).get():g}-"
                     f"{getattr(self, ATTR_GLOBAL_B_MAX_RES).get():.2f} Å)")
        return text + "."
