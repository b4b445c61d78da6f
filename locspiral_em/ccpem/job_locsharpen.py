"""CCP-EM Pipeliner job ``locspiral.postprocess.local_sharpen``:
LocSharpen local sharpening.

See :mod:`locspiral_em.ccpem.job_base` for what the jobs share."""
from typing import Sequence

from pipeliner.display_tools import make_map_model_thumb_and_display
from pipeliner.job_options import FloatJobOption, IntJobOption, MultipleChoiceJobOption
from pipeliner.nodes import NODE_DENSITYMAP, NODE_IMAGE3D
from pipeliner.results_display_objects import ResultsDisplayObject

from ..core import defaults as D
from .job_base import Row, _LocSpiralJob, _kwds, histogram_object, read_summary


class LocalSharpenJob(_LocSpiralJob):
    PROCESS_NAME = "locspiral.postprocess.local_sharpen"
    OUT_DIR = "LocSharpen"
    METHOD = "locsharpen"
    CATEGORY_LABEL = "Map Postprocessing"

    def __init__(self) -> None:
        super().__init__()
        self.jobinfo.display_name = "LocSharpen local sharpening"
        self.jobinfo.short_desc = ("Local sharpening by the local B-factor and amplitude, "
                                   "Wiener-weighted")
        self.jobinfo.long_desc = (
            "LocSharpen sharpens a map locally, driven by its local B-factor and amplitude "
            "maps (LocBFactor's noise-filtered local Guinier fit, smoothed): every frequency "
            "band is deblurred voxel by voxel by its own local B toward a target B, and "
            "multiplied by a local Wiener weight S²/(S² + P) from the fitted signal power "
            "and the band's noise power (from the half-map difference with half maps, else "
            "from the solvent, else, on a masked map, from the map's own frequencies beyond "
            "the max resolution; with none usable the map is only low-passed, and the "
            "summary says so), so noise is not amplified where the signal fades. The output "
            "stays on the input's intensity scale. Also writes the smoothed local B map "
            "used. Give the unsharpened, unmasked map or the half maps.")

    def add_method_options(self) -> None:
        # LocSharpen exists only with the exact Riesz transform (the original code has no
        # such method): offer no other choice.
        self.joboptions["spiral"] = MultipleChoiceJobOption(
            label="Spiral transform",
            choices=["riesz"],
            default_value="riesz",
            help_text="riesz: exact isotropic transform (LocSharpen has no reference mode).",
            jobop_group="Advanced options",
        )
        self.joboptions["target_b"] = FloatJobOption(
            label="Target B-factor (Å²)",
            default_value=D.TARGET_B,
            suggested_min=-100.0,
            suggested_max=0.0,
            step_value=5.0,
            help_text="B-factor (sharpening sign: negative = blurred) every voxel's local "
                      "Guinier curve is brought to; 0 flattens them.",
        )
        self.joboptions["bfactor_min_res"] = FloatJobOption(
            label="Local B fit lowest resolution (Å)",
            default_value=D.BFACTOR_MIN_RES,
            hard_min=0.0,
            suggested_min=8.0,
            suggested_max=30.0,
            step_value=0.5,
            help_text="Low-resolution end of the local B-factor fit that drives the "
                      "sharpening (where the Guinier regime starts).",
        )
        self.joboptions["num_points"] = IntJobOption(
            label="Number of bands in the local B fit",
            default_value=D.NUM_POINTS,
            hard_min=2,
            suggested_max=30,
            step_value=1,
            help_text="Number of bands in the local Guinier fit.",
            jobop_group="Advanced options",
        )
        self.joboptions["smooth"] = FloatJobOption(
            label="Smoothing of the local B map (Å)",
            default_value=D.SHARPEN_SMOOTH,
            hard_min=0.0,
            suggested_max=10.0,
            step_value=0.5,
            help_text="SD of the Gaussian average of the local B and signal-power maps over "
                      "the mask before use (the per-voxel fit is noisy); 0: as fitted.",
            jobop_group="Advanced options",
        )

    def method_args(self):
        jo = self.joboptions
        return ["--target-b", jo["target_b"].get_number(),
                "--bfactor-min-res", jo["bfactor_min_res"].get_number(),
                "--num-points", jo["num_points"].get_number(),
                "--smooth", jo["smooth"].get_number()]

    def output_maps(self):
        return {"locsharpen": (NODE_DENSITYMAP, _kwds("localsharpen")),
                "locsharpen_bfactor": (NODE_IMAGE3D, _kwds("localbfactormap"))}

    def create_results_display(self) -> Sequence[ResultsDisplayObject]:
        out = self.out_path("locsharpen")
        return [
            self.slices([Row(self.shown_map(), "input"), Row(out, "locsharpen"),
                         Row(self.out_path("locsharpen_bfactor"), "local B used", "viridis",
                             "B (Å²)", local=True)]),
            make_map_model_thumb_and_display(outputdir=self.output_dir, maps=[out],
                                             title=f"{self.jobinfo.display_name} map"),
            histogram_object(self.out_path("locsharpen_bfactor"),
                             "Local B-factor used inside the mask",
                             "B for sharpening (Å²; negative = decaying signal)",
                             self.mask_path()),
            self.text_object(read_summary(self.output_dir)),
        ]
