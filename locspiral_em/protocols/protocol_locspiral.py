"""LocSpiral: local enhancement of a cryo-EM map by spiral-phase amplitude weighting."""
import pyworkflow.protocol.params as params
from pwem.objects import Volume

from ..constants import FILE_ENHANCED, FILE_QUALITY, OUT_ENHANCED, OUT_QUALITY
from ..core import defaults as D
from .protocol_base import LocSpiralProtBase


class LocSpiralProtEnhance(LocSpiralProtBase):
    """LocSpiral: local enhancement of a cryo-EM map (Kaur et al. 2021).

    For each frequency band between the min and max resolution, the local amplitude m and
    phase cosine c of the band are obtained with the spiral (Riesz) transform; the enhanced
    map sums c weighted by the SNR weight C = m/(m + q) where the band is significant
    (m >= q, q the noise level), and the quality map sums the weights. Both are given in
    units of the noise SD; the enhanced map is clipped at 0.
    """
    _label = "LocSpiral"
    _possibleOutputs = {OUT_ENHANCED: Volume, OUT_QUALITY: Volume}
    METHOD = "locspiral"
    METHOD_NAME = "LocSpiral"

    def _defineExpertParams(self, form):
        form.addParam("snrWeight", params.BooleanParam, default=D.SNR_WEIGHT,
                      expertLevel=params.LEVEL_ADVANCED, label="SNR weighting",
                      help="Weigh each band by C = m/(m + q) (the published method). "
                           "No: C = 1, significant bands count equally.")

    def _methodSpec(self):
        return dict(snr_weight=self.snrWeight.get())

    def _outputFiles(self):
        return {"locspiral": FILE_ENHANCED, "locspiral_quality": FILE_QUALITY}

    def _createOutputs(self, results):
        self._defineVolumeOutputs([(OUT_ENHANCED, FILE_ENHANCED),
                                   (OUT_QUALITY, FILE_QUALITY)])

    def _summaryMethod(self):
        return [f"Outputs: *{OUT_ENHANCED}* (enhanced map, noise SD units, >= 0) and "
                f"*{OUT_QUALITY}* (quality map W)."]

    def _methodsSentence(self):
        return "The map was locally enhanced with LocSpiral"
