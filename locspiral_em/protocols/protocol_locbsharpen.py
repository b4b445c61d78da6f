"""LocBSharpen: local B-factor sharpening of a cryo-EM map."""
import pyworkflow.protocol.params as params
from pwem.objects import Volume

from ..constants import FILE_QUALITY, FILE_SHARPENED, OUT_QUALITY, OUT_SHARPENED
from ..core import defaults as D
from .protocol_base import LocSpiralProtBase


class LocSpiralProtBSharpen(LocSpiralProtBase):
    """LocBSharpen: local B-factor sharpening (Kaur et al. 2021).

    Sweeps the same bands as LocSpiral without the significance test. Bands coarser than
    the sharpening resolution (15 Å) contribute C c m; from there on the local amplitude
    measured at 15 Å replaces m, i.e. each voxel gets a flat local Guinier curve at high
    resolution: a local, data-driven B-factor correction. Outputs the sharpened map and
    its quality map, in units of the noise SD.
    """
    _label = "LocBSharpen"
    _possibleOutputs = {OUT_SHARPENED: Volume, OUT_QUALITY: Volume}
    METHOD = "locbsharpen"
    METHOD_NAME = "LocBSharpen"

    def _defineExpertParams(self, form):
        form.addParam("sharpenRes", params.FloatParam, default=D.SHARPEN_RES,
                      expertLevel=params.LEVEL_ADVANCED, label="Sharpening resolution (Å)",
                      help="From the band nearest to this resolution on, the local amplitude "
                           "measured there is imposed on all finer bands (15 Å published).")

    def _validateMethod(self, errors):
        if self.sharpenRes.get() is None or self.sharpenRes.get() <= 0:
            errors.append("The sharpening resolution must be a positive number of Å.")

    def _methodSpec(self):
        return dict(sharpen_res=self.sharpenRes.get())

    def _outputFiles(self):
        return {"locbsharpen": FILE_SHARPENED, "locbsharpen_quality": FILE_QUALITY}

    def _createOutputs(self, results):
        self._defineVolumeOutputs([(OUT_SHARPENED, FILE_SHARPENED),
                                   (OUT_QUALITY, FILE_QUALITY)])

    def _summaryMethod(self):
        return [f"Outputs: *{OUT_SHARPENED}* (locally sharpened map, noise SD units, >= 0) "
                f"and *{OUT_QUALITY}* (quality map W)."]

    def _methodsSentence(self):
        return ("The map was sharpened with local B-factors with LocBSharpen, imposing above "
                f"{self.sharpenRes.get():g} Å the local amplitude measured at that resolution")
