"""CCP-EM Pipeliner job ``locspiral.postprocess.local_bsharpen``:
LocBSharpen local B-factor sharpening.

See :mod:`locspiral_em.ccpem.job_base` for what the jobs share."""
from pipeliner.job_options import FloatJobOption

from ..core import defaults as D
from .job_base import _EnhancementBase


class LocalBSharpenJob(_EnhancementBase):
    PROCESS_NAME = "locspiral.postprocess.local_bsharpen"
    OUT_DIR = "LocBSharpen"
    METHOD = "locbsharpen"
    MAP_KWD = "localsharpen"

    def __init__(self) -> None:
        super().__init__()
        self.jobinfo.display_name = "LocBSharpen local B-factor sharpening"
        self.jobinfo.short_desc = "Sharpen a map by its local B-factor"
        self.jobinfo.long_desc = (
            "LocBSharpen sharpens a map with a local B-factor: the local amplitude measured "
            "at the sharpening resolution is imposed on the finer bands, so flexible parts "
            "are not over-sharpened. Also writes a quality map W.")

    def add_method_options(self) -> None:
        self.joboptions["sharpen_res"] = FloatJobOption(
            label="Sharpening reference resolution (Å)",
            default_value=D.SHARPEN_RES,
            hard_min=0.0,
            suggested_min=5.0,
            suggested_max=30.0,
            step_value=0.5,
            help_text="Resolution whose local amplitude is imposed on finer bands.",
        )

    def method_args(self):
        return ["--sharpen-res", self.joboptions["sharpen_res"].get_number()]
