"""CCP-EM Pipeliner job ``locspiral.postprocess.local_enhancement``:
LocSpiral local enhancement.

See :mod:`locspiral_em.ccpem.job_base` for what the jobs share."""
from pipeliner.job_options import BooleanJobOption

from ..core import defaults as D
from .job_base import _EnhancementBase


class LocalEnhancementJob(_EnhancementBase):
    PROCESS_NAME = "locspiral.postprocess.local_enhancement"
    OUT_DIR = "LocSpiral"
    METHOD = "locspiral"
    MAP_KWD = "localenhanced"

    def __init__(self) -> None:
        super().__init__()
        self.jobinfo.display_name = "LocSpiral local enhancement"
        self.jobinfo.short_desc = "Local enhancement of a map by the spiral-phase transform"
        self.jobinfo.long_desc = (
            "LocSpiral enhances a cryo-EM map locally: it sweeps a bank of band-pass filters, "
            "takes the spiral-phase (Riesz) amplitude of each band, keeps the bands above "
            "the solvent noise and combines them, so regions of uneven resolution all come "
            "out sharp without over-sharpening. Also writes a quality map W. For model "
            "building into maps with uneven resolution.")

    def add_method_options(self) -> None:
        self.joboptions["snr_weight"] = BooleanJobOption(
            label="Weigh bands by SNR?",
            default_value=D.SNR_WEIGHT,
            help_text="Weigh each band by its signal-to-noise ratio C = m/(m + q).",
            jobop_group="Advanced options",
        )

    def method_args(self):
        return [] if self.joboptions["snr_weight"].get_boolean() else ["--no-snr-weight"]
