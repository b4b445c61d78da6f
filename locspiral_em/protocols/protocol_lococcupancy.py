"""LocOccupancy: local occupancy map of a cryo-EM map."""
import numpy as np

import pyworkflow.protocol.params as params
from pwem.objects import Volume

from .. import core
from ..constants import FILE_OCCUPANCY, OUT_OCCUPANCY
from .protocol_base import LocSpiralProtBase


class LocSpiralProtOccupancy(LocSpiralProtBase):
    """LocOccupancy: local occupancy map (Kaur et al. 2021).

    For each band between the min and max resolution, a voxel counts as occupied when its
    local amplitude reaches the occupancy quantile (0.25) of the amplitudes inside the mask;
    the occupancy map (0 to 1, 0 outside the mask) is the fraction of bands in which the
    voxel is occupied. 25 to 10 Å shows secondary-structure occupancy (partially occupied
    domains, flexible parts); 5 to 3-1.5 Å residue occupancy at high resolution.
    """
    _label = "LocOccupancy"
    _possibleOutputs = {OUT_OCCUPANCY: Volume}
    MIN_RES_DEFAULT = 25.0
    MAX_RES_DEFAULT = 10.0
    BW_DEFAULT = 5.0
    USES_NOISE_THRESHOLD = False
    METHOD_NAME = "LocOccupancy"

    def _defineMethodParams(self, form):
        form.addParam("occupancyQuantile", params.FloatParam, default=0.25,
                      label="Occupancy quantile",
                      help="Per band, a voxel is occupied when its local amplitude is at least "
                           "this quantile of the amplitudes inside the mask (0.25 published).")

    def _validateMethod(self, errors):
        quantile = self.occupancyQuantile.get()
        if quantile is None or not 0.0 < quantile < 1.0:
            errors.append(f"The occupancy quantile must be between 0 and 1 (0.25 typical), "
                          f"not {quantile}.")

    def _methodsSettings(self):
        return (LocSpiralProtBase._methodsSettings(self) +
                f", occupancy quantile {self.occupancyQuantile.get():g}")

    # LocOccupancy proper (the maturity index subclass overrides what follows)
    def _compute(self, inputs):
        occupancy = core.lococcupancy(inputs["volume"], inputs["mask"],
                                      quantile=self.occupancyQuantile.get(), bw=self.bw.get(),
                                      **self._coreArgs(inputs))
        inside = occupancy[inputs["mask"]]
        stats = {"meanOccupancy": float(np.mean(inside))}
        return [(FILE_OCCUPANCY, occupancy)], stats, None

    def _createOutputs(self, results):
        self._defineVolumeOutputs([(OUT_OCCUPANCY, FILE_OCCUPANCY)])

    def _summaryMethod(self):
        mean = self.getResults().get("meanOccupancy")
        lines = [f"Output: *{OUT_OCCUPANCY}* (local occupancy, 0 to 1, 0 outside the mask)."]
        if mean is not None:
            lines.insert(0, f"Mean occupancy inside the mask: {mean:.3f}")
        return lines

    def _methodsSentence(self):
        return "Local occupancy was estimated with LocOccupancy"
