"""LocOccupancy: local occupancy map of a cryo-EM map."""
import pyworkflow.protocol.params as params
from pwem.objects import Volume

from ..constants import FILE_OCCUPANCY, OUT_OCCUPANCY
from ..core import defaults as D
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
    METHOD = "lococcupancy"
    USES_NOISE_THRESHOLD = False
    METHOD_NAME = "LocOccupancy"

    def _defineMethodParams(self, form):
        form.addParam("occupancyQuantile", params.FloatParam, default=D.OCCUPANCY_QUANTILE,
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

    def _maxResHelp(self):
        return ("High-resolution end of the sweep (Å). Default 10 Å whatever the half-map "
                "FSC: 25-10 Å is the published range of secondary-structure occupancy, where "
                "a partly occupied domain stands out; a sweep to the FSC resolution is "
                "dominated by side-chain detail and noise. Use 5 to 3-1.5 Å for residue "
                "occupancy at high resolution.")

    def _methodSpec(self):
        return dict(quantile=self.occupancyQuantile.get())

    # LocOccupancy proper (the maturity index subclass overrides what follows)
    def _outputFiles(self):
        return {"occupancy": FILE_OCCUPANCY}

    def _storedResults(self, summary):
        # The mean is 1 - quantile by construction: kept, but the summary shows what is not.
        r = summary["results"]
        return {"meanOccupancy": r["occupancy_mean"],
                "fractionLow": r["occupancy_fraction_low"],
                "lowLevel": r["occupancy_low_level"],
                "regions": r["occupancy_regions"],
                "regionCount": r["occupancy_region_count"],
                "normalisation": r["occupancy_normalisation"]}

    def _createOutputs(self, results):
        self._defineVolumeOutputs([(OUT_OCCUPANCY, FILE_OCCUPANCY)])

    def _summaryMethod(self):
        results = self.getResults()
        lines = [f"Output: *{OUT_OCCUPANCY}* (local occupancy, 0 to 1, 0 outside the mask)."]
        if results.get("fractionLow") is not None:
            level = results["lowLevel"]
            regions = [f"  {g['volume_A3']:.0f} Å^3 ({g['voxels']} voxels): median "
                       f"{g['median_occupancy']:.2f}, centre (x, y, z) "
                       f"{tuple(g['centre_xyz_px'])} voxels" for g in results["regions"]]
            lines[:0] = [f"{100 * results['fractionLow']:.1f}% of the mask has occupancy "
                         f"below {level:g}.",
                         f"Regions of the mask at or above {level:g}, largest first "
                         f"({len(regions)} of {results['regionCount']}):"] + regions + [
                         f"Scale: {results['normalisation']} (the mean inside the mask, "
                         f"{results['meanOccupancy']:.3f}, is 1 - quantile by construction)."]
        return lines

    def _methodsSentence(self):
        return "Local occupancy was estimated with LocOccupancy"
