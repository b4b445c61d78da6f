"""CCP-EM Pipeliner job ``locspiral.map_analysis.local_bfactor``:
LocBFactor local B-factor map.

See :mod:`locspiral_em.ccpem.job_base` for what the jobs share."""
from typing import Sequence

from pipeliner.job_options import (
    BooleanJobOption,
    FloatJobOption,
    IntJobOption,
    MultipleChoiceJobOption,
)
from pipeliner.nodes import NODE_EVALUATIONMETRIC, NODE_IMAGE3D
from pipeliner.results_display_objects import ResultsDisplayObject

from ..core import defaults as D
from ..core.bfactor import BW_UNITS, ESTIMATORS
from .job_base import AUTOMATIC, Row, _LocSpiralJob, _kwds, histogram_object, read_summary


class LocalBFactorJob(_LocSpiralJob):
    PROCESS_NAME = "locspiral.map_analysis.local_bfactor"
    OUT_DIR = "LocBFactor"
    METHOD = "locbfactor"

    def __init__(self) -> None:
        super().__init__()
        self.jobinfo.display_name = "LocBFactor local B-factor map"
        self.jobinfo.short_desc = "Local B-factor and amplitude maps"
        self.jobinfo.long_desc = (
            "LocBFactor fits a local Guinier line to the spiral-phase amplitudes of a "
            "band-pass sweep in each voxel: the slope gives a local B-factor map (Å², with "
            "the sign used for sharpening: negative = decaying signal) and the intercept an "
            "amplitude map. Shows where density is flexible or weak.")

    def add_method_options(self) -> None:
        self.joboptions["num_points"] = IntJobOption(
            label="Number of bands",
            default_value=D.NUM_POINTS,
            hard_min=3,
            suggested_max=30,
            step_value=1,
            help_text="Number of bands in the local Guinier fit.",
        )
        self.joboptions["filtered"] = BooleanJobOption(
            label="Fit only bands above noise?",
            default_value=D.FILTERED_FIT,
            help_text="Fit per voxel only the bands above the noise level.",
            jobop_group="Advanced options",
        )
        self.joboptions["estimator"] = MultipleChoiceJobOption(
            label="Local amplitude estimator",
            choices=[AUTOMATIC] + list(ESTIMATORS),
            default_value=AUTOMATIC,
            help_text="automatic: debiased with the riesz spiral, published (the paper's) "
                      "with reference.",
            jobop_group="Advanced options",
        )
        self.joboptions["bw_units"] = MultipleChoiceJobOption(
            label="Band width unit",
            choices=[AUTOMATIC] + list(BW_UNITS),
            default_value=AUTOMATIC,
            help_text="Unit of the band width (automatic: the core's choice for the "
                      "estimator).",
            jobop_group="Advanced options",
        )
        self.joboptions["amplitude_at"] = MultipleChoiceJobOption(
            label="Amplitude map at",
            choices=["intercept", "lowest"],
            default_value=D.AMPLITUDE_AT,
            help_text="Log amplitude at 1/d² = 0 (intercept, as the original code) or at the "
                      "lowest swept frequency (as the paper describes).",
            jobop_group="Advanced options",
        )
        self.joboptions["window"] = FloatJobOption(
            label="Fit window FWHM (Å)",
            default_value=None,  # empty: the command line's default
            hard_min=0.0,
            suggested_min=6.0,
            suggested_max=30.0,
            step_value=1.0,
            help_text="FWHM of the spatial window each voxel's fit averages over (empty: "
                      f"{D.BFACTOR_WINDOW:g} Å for the debiased estimator). Smaller: sharper "
                      "steps between domains, noisier values. Sets the band width, or with "
                      "a band width the power smoothing.",
            jobop_group="Advanced options",
        )

    def method_args(self):
        jo = self.joboptions
        args = ["--num-points", jo["num_points"].get_number(),
                "--amplitude-at", jo["amplitude_at"].get_string()]
        if jo["filtered"].get_boolean():
            args.append("--filtered")
        for name, flag in (("estimator", "--estimator"), ("bw_units", "--bw-units")):
            if jo[name].get_string() != AUTOMATIC:  # automatic: let the core choose
                args += [flag, jo[name].get_string()]
        if not jo["window"].is_blank:
            args += ["--window", jo["window"].get_number()]
        return args

    def output_maps(self):
        return {"bfactor": (NODE_IMAGE3D, _kwds("localbfactormap")),
                "amplitude": (NODE_IMAGE3D, _kwds("localamplitudemap"))}

    def output_files(self):
        files = super().output_files()
        # Per-band noise levels of the fit (1/d^2, log amplitude), a two-column text file.
        files["noise_curve"] = (f"{self.PREFIX}_noise_curve.txt", NODE_EVALUATIONMETRIC,
                                _kwds("noisecurve"))
        return files

    def create_results_display(self) -> Sequence[ResultsDisplayObject]:
        bmap = self.out_path("bfactor")
        return [
            # The scenes' rules: through the molecule, grey outside the fitted mask (the
            # colour maps and ranges of the Scipion viewer's slices).
            self.slices([Row(self.shown_map(), "map"),
                         Row(bmap, "B", "viridis", "B (Å²)", local=True),
                         Row(self.out_path("amplitude"), "A", "magma", "A (log amplitude)",
                             local=True)]),
            histogram_object(bmap, "Local B-factor inside the fitted mask",
                             "B for sharpening (Å²; negative = decaying signal)",
                             self.mask_path()),
            self.text_object(read_summary(self.output_dir)),
        ]
