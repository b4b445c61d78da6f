"""CCP-EM Pipeliner jobs: LocSpiral, LocBSharpen, LocSharpen, LocBFactor, LocOccupancy,
maturity index.

Each job runs the ``locspiral-em`` command line (``locspiral_em/cli.py``) as its pipeliner
command, then writes the Doppio visualisation file of the ChimeraX scene::

    python -m locspiral_em.cli METHOD [MAP | --half1 H1 --half2 H2] [--mask M] [options]
        -o JOBDIR/PREFIX --json JOBDIR/summary.json --chimerax --force --quiet
    python -m locspiral_em.ccpem.scene JOBDIR/summary.json JOBDIR/PREFIX_scene.json [MAP]

Why ``python -m locspiral_em.cli`` and not the ``locspiral-em`` script: the pipeliner runs
"python" commands with its own interpreter (``PipelinerCommand.get_final_command``), and that
interpreter has ``locspiral_em`` installed (it loaded this module through the entry point),
while the script's folder need not be on ``PATH`` (a venv that is not activated, Doppio's
packaged Python). For the same reason ``jobinfo.programs`` is empty: the pipeliner marks a
job unavailable when a listed program is not on ``PATH``, and there is no external program.

The command line does all the checking of the inputs (grids, voxel sizes, masks,
resolutions) and writes its outputs only after the computation succeeded, so a failed job
leaves no half-written node files. ``--force`` is given because the job folder belongs to
the job: re-running a job in place ("overwrite") must replace its own outputs.
``--quiet`` keeps ``run.err`` for errors (the progress bar goes to stderr).

The output file names follow the command line's ``<prefix>_<name>.mrc`` rule and are known
before the run, so every output node is declared in ``create_output_nodes``.

Node types (the pipeliner vocabulary, ``pipeliner.nodes``; local resolution maps are
``Image3D`` in the pipeliner's own Relion jobs):

* maps to look at or build into: ``DensityMap`` (``.locspiral.localenhanced``,
  ``.locspiral.localsharpen``, ``.locspiral.halfmapaverage``, ``.locspiral.missingdensity``)
* per-voxel measurements: ``Image3D`` (``.locspiral.qualitymap``,
  ``.locspiral.localbfactormap``, ``.locspiral.localamplitudemap``,
  ``.locspiral.localoccupancymap``)
* the mask the method used (given or automatic; LocBFactor: the voxels it could fit):
  ``Mask3D.mrc.locspiral.mask``
* the numbers: ``EvaluationMetric.json.locspiral.summary`` (the ``--json`` file) and
  LocBFactor's per-band noise levels ``EvaluationMetric.txt.locspiral.noisecurve``
* the ChimeraX scene: ``VisualisationScript.json.locspiral.chimerax``, a
  ``{"script": <.cxc>, "data": [maps]}`` file, the layout Doppio opens (as LocScale's and
  Servalcat's jobs write it); the ``.cxc`` is its "script".

Nothing here imports Scipion (pyworkflow, pwem): the jobs run in a plain CCP-EM install.
"""
import json
import os
from typing import Dict, List, Optional, Sequence

import mrcfile
import numpy as np

from pipeliner.display_tools import (
    create_results_display_object,
    make_map_model_thumb_and_display,
    make_mrcs_central_slices_montage,
)
from pipeliner.job_options import (
    BooleanJobOption,
    FileDescription,
    FloatJobOption,
    InputNodeJobOption,
    IntJobOption,
    JobOptionCondition,
    JobOptionValidationResult,
    MultiInputNodeJobOption,
    MultipleChoiceJobOption,
)
from pipeliner.nodes import (
    NODE_DENSITYMAP,
    NODE_EVALUATIONMETRIC,
    NODE_IMAGE3D,
    NODE_MASK3D,
    NODE_VISUALISATIONSCRIPT,
)
from pipeliner.pipeliner_job import PipelinerCommand, PipelinerJob, Ref
from pipeliner.results_display_objects import ResultsDisplayObject, ResultsDisplayPending

from .. import __version__
from ..core import defaults as D
from ..core.bfactor import BW_UNITS, ESTIMATORS
from ..run import unique_names  # the command line's rule for naming per-map outputs

SUMMARY = "summary.json"
AUTOMATIC = "automatic"  # choice that passes no flag, so the command line's default applies
MAP_FILES = FileDescription("3D map", [".mrc", ".map", ".ccp4"])
SPIRAL_CHOICES = ["riesz", "reference"]

KAUR_2021 = Ref(
    authors=["Kaur S", "Gomez-Blanco J", "Khalifa AAZ", "Adinarayanan S",
             "Sanchez-Garcia R", "Wrapp D", "McLellan JS", "Bui KH", "Vargas J"],
    title="Local computational methods to improve the interpretability and analysis of "
          "cryo-EM maps",
    journal="Nat. Commun.",
    year="2021",
    volume="12",
    pages="1240",
    doi="10.1038/s41467-021-21509-5",
)


def _kwds(*words):
    return ["locspiral", *words]


def read_summary(output_dir) -> dict:
    """The ``--json`` summary of a finished job (empty dict when it is not there yet)."""
    path = os.path.join(output_dir, SUMMARY)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def summary_metadata(output_dir) -> dict:
    """What ``gather_metadata`` reports (the pipeliner's metadata report of a job): the
    summary's method, version, parameters, resolution, mask, results and warnings."""
    summary = read_summary(output_dir)
    if not summary:
        return {"No metadata": f"{os.path.join(output_dir, SUMMARY)} not written (yet)"}
    keys = ("method", "version", "parameters", "resolution", "mask", "results", "warnings")
    return {key: summary[key] for key in keys if key in summary}


def _scalar_text(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def summary_text(summary) -> str:
    """The summary's numbers, resolution range, mask and warnings, one per line, for a
    ResultsDisplayText. Scalars and flat {name: scalar} / [scalar] values are listed;
    nested ones (the maturity entries) have their own table."""
    lines = []
    res = summary.get("resolution") or {}
    if res.get("min_res_A") is not None and res.get("max_res_A") is not None:
        lines.append(f"resolution range: {res['min_res_A']:g}-{res['max_res_A']:.2f} Å"
                     + (f" (max from {res['max_res_source']})" if res.get("max_res_source")
                        else ""))
    mask = summary.get("mask") or {}
    if mask.get("voxels") is not None:
        lines.append(f"mask: {mask.get('source')}, {mask['voxels']} voxels")
    for name, value in (summary.get("results") or {}).items():
        flat = (dict, list, tuple)
        if isinstance(value, dict) and not any(isinstance(v, flat) for v in value.values()):
            lines.append(f"{name}: " + ", ".join(f"{k} {_scalar_text(v)}"
                                                 for k, v in value.items()))
        elif isinstance(value, (list, tuple)) and not any(isinstance(v, flat) for v in value):
            lines.append(f"{name}: " + ", ".join(_scalar_text(v) for v in value))
        elif not isinstance(value, flat):
            lines.append(f"{name}: {_scalar_text(value)}")
    for warning in summary.get("warnings") or []:
        lines.append(f"warning: {warning}")
    return "\n".join(lines) if lines else "(no summary yet)"


def masked_values(path, mask_path=None):
    """Finite values of the map at ``path`` inside the mask file (> 0.5: the ``mask``
    output, the mask the method used), else where the map is not 0 (the local maps are
    exactly 0 outside their mask)."""
    with mrcfile.open(path, permissive=True) as handle:
        data = np.asarray(handle.data, dtype=np.float64)
    if mask_path:
        with mrcfile.open(mask_path, permissive=True) as handle:
            inside = np.asarray(handle.data) > 0.5
    else:
        inside = data != 0
    values = data[inside]
    return values[np.isfinite(values)]


def histogram_object(path, title, xlabel, mask_path=None, bins=40):
    """A ResultsDisplayHistogram of the map inside the mask, with fixed bins (the automatic
    "fd" bins can run into the thousands for a large map with a few outliers)."""
    values = masked_values(path, mask_path)
    if values.size == 0:
        return ResultsDisplayPending(message=f"{path}: no voxels inside the mask",
                                     reason="empty mask")
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        hi = lo + 1.0
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    return create_results_display_object(
        "histogram", title=title, bins=[int(c) for c in counts],
        bin_edges=[float(e) for e in edges], xlabel=xlabel, ylabel="voxels",
        associated_data=[path] + ([mask_path] if mask_path else []))


def _add_mask_options(joboptions, label):
    joboptions["input_mask"] = InputNodeJobOption(
        label=label,
        node_type=NODE_MASK3D,
        pattern=MAP_FILES,
        help_text="Binary mask (1 = molecule, values > 0.5) on the map's grid. Leave empty "
                  f"for the automatic mask: the map low-passed to {D.MASK_LOWPASS:g} Å, "
                  "thresholded, its connected objects that are not noise specks kept and "
                  "dilated, as Relion's mask creation. The mask used is an output either way.",
    )
    joboptions["mask_threshold"] = FloatJobOption(
        label="Automatic mask threshold",
        default_value=None,
        help_text=f"Threshold of the automatic mask, on the {D.MASK_LOWPASS:g} Å low-passed "
                  "map (empty: automatic). Not used when a mask is given.",
        deactivate_if=JobOptionCondition([("input_mask", "!=", "")]),
    )


class _LocSpiralJob(PipelinerJob):
    """Inputs, options and command shared by the four single-map methods."""

    METHOD = ""          # the locspiral-em subcommand, and key of core.defaults.DEFAULTS
    # Output file prefix inside the job folder: files are map_<name>.mrc (map_bfactor.mrc,
    # map_locspiral_quality.mrc, ...), the command line's <prefix>_<name> rule.
    PREFIX = "map"
    USES_NOISE_QUANTILE = True

    def __init__(self) -> None:
        super().__init__()
        d = D.defaults(self.METHOD)
        self.jobinfo.version = __version__
        self.jobinfo.job_author = "scipion-em-locspiral contributors"
        self.jobinfo.references = [KAUR_2021]
        self.jobinfo.documentation = "https://github.com/scipion-em/scipion-em-locspiral"
        self.jobinfo.programs = []  # runs the command line in the pipeliner's Python

        self.joboptions["use_halfmaps"] = BooleanJobOption(
            label="Use half maps?",
            default_value=True,
            help_text="Yes: give the two unfiltered half maps; their average is analysed and "
                      "the maximum resolution defaults to their FSC 0.143 resolution. No: "
                      "give one unsharpened, unmasked map (then set the maximum resolution).",
        )
        self.joboptions["input_half1"] = InputNodeJobOption(
            label="Half map 1",
            node_type=NODE_DENSITYMAP,
            node_kwds=["halfmap"],
            pattern=MAP_FILES,
            help_text="Unfiltered half map 1 (e.g. Relion's run_half1_class001_unfil.mrc).",
            required_if=JobOptionCondition([("use_halfmaps", "=", True)]),
            deactivate_if=JobOptionCondition([("use_halfmaps", "=", False)]),
        )
        self.joboptions["input_half2"] = InputNodeJobOption(
            label="Half map 2",
            node_type=NODE_DENSITYMAP,
            node_kwds=["halfmap"],
            pattern=MAP_FILES,
            help_text="Unfiltered half map 2, on the grid of half map 1.",
            required_if=JobOptionCondition([("use_halfmaps", "=", True)]),
            deactivate_if=JobOptionCondition([("use_halfmaps", "=", False)]),
        )
        self.joboptions["input_map"] = InputNodeJobOption(
            label="Input map",
            node_type=NODE_DENSITYMAP,
            pattern=MAP_FILES,
            help_text="Unsharpened, unmasked map (used when 'Use half maps?' is No).",
            required_if=JobOptionCondition([("use_halfmaps", "=", False)]),
            deactivate_if=JobOptionCondition([("use_halfmaps", "=", True)]),
        )
        _add_mask_options(self.joboptions, "Mask")
        self.joboptions["min_res"] = FloatJobOption(
            label="Lowest resolution (Å)",
            default_value=d.min_res,
            hard_min=0.0,
            suggested_min=5.0,
            suggested_max=50.0,
            step_value=0.5,
            help_text=f"Lowest resolution of the frequency sweep (default {d.min_res:g} Å).",
            is_required=True,
        )
        self.joboptions["max_res"] = FloatJobOption(
            label="Highest resolution (Å)",
            default_value=d.max_res,
            hard_min=0.0,
            suggested_min=1.0,
            suggested_max=20.0,
            step_value=0.1,
            help_text="Highest resolution of the sweep. Empty: " + D.max_res_text(self.METHOD),
            required_if=(JobOptionCondition([("use_halfmaps", "=", False)])
                         if d.max_res is None else None),
        )
        if self.USES_NOISE_QUANTILE:
            self.joboptions["noise_quantile"] = FloatJobOption(
                label="Noise quantile",
                default_value=D.NOISE_QUANTILE,
                hard_min=0.0,
                hard_max=1.0,
                suggested_min=0.8,
                suggested_max=0.99,
                step_value=0.01,
                help_text="Quantile q of the amplitude over solvent voxels that counts as "
                          "noise, 0.9-0.95 typical.",
                jobop_group="Advanced options",
            )
        self.joboptions["bw"] = FloatJobOption(
            label="Band width",
            default_value=d.bw,  # None (empty): the core's, which depends on other options
            hard_min=0.0,
            suggested_max=10.0,
            step_value=0.1,
            help_text=f"Gaussian band width of the filter bank (empty: {D.bw_text(self.METHOD)}).",
            jobop_group="Advanced options",
        )
        self.joboptions["spiral"] = MultipleChoiceJobOption(
            label="Spiral transform",
            choices=SPIRAL_CHOICES,
            default_value=D.SPIRAL,
            help_text="riesz: exact isotropic transform. reference: the original code's "
                      "economy filter and grid, to reproduce published numbers.",
            jobop_group="Advanced options",
        )
        self.add_method_options()
        self.get_runtab_options(threads=True)

    # -- per method --------------------------------------------------------------------
    def add_method_options(self) -> None:
        """Add the method's own options (subclasses)."""

    def method_args(self) -> List[object]:
        """The method's own command-line arguments (subclasses)."""
        return []

    def output_maps(self) -> Dict[str, tuple]:
        """{CLI output name: (node type, node keywords)} of the method's maps (subclasses);
        every method also writes "mask" (and, from half maps, "average")."""
        raise NotImplementedError

    def output_files(self) -> Dict[str, tuple]:
        """{CLI output name: (file name in the job folder, node type, keywords)}: the names
        are the keys of the summary's "outputs"."""
        files = {name: (f"{self.PREFIX}_{name}.mrc", node_type, kwds)
                 for name, (node_type, kwds) in self.output_maps().items()}
        files["mask"] = (f"{self.PREFIX}_mask.mrc", NODE_MASK3D, _kwds("mask"))
        if self.uses_halfmaps():
            # With --chimerax and half maps the command writes their average for the scene.
            files["average"] = (f"{self.PREFIX}_average.mrc", NODE_DENSITYMAP,
                                _kwds("halfmapaverage"))
        return files

    # -- paths -------------------------------------------------------------------------
    def uses_halfmaps(self) -> bool:
        return self.joboptions["use_halfmaps"].get_boolean()

    def out_path(self, name) -> str:
        return os.path.join(self.output_dir, f"{self.PREFIX}_{name}.mrc")

    def scene_json(self) -> str:
        return f"{self.PREFIX}_scene.json"

    def shown_map(self) -> str:
        """The map the scene and the montage show as the input."""
        if self.uses_halfmaps():
            return self.out_path("average")
        return self.joboptions["input_map"].get_string()

    # -- pipeliner interface -----------------------------------------------------------
    def additional_joboption_validation(self) -> List[JobOptionValidationResult]:
        errors = []
        jo = self.joboptions
        if jo["use_halfmaps"].value:
            h1, h2 = jo["input_half1"].value, jo["input_half2"].value
            if h1 and h2 and os.path.abspath(h1) == os.path.abspath(h2):
                errors.append(JobOptionValidationResult(
                    "error", [jo["input_half1"], jo["input_half2"]],
                    "half map 1 and half map 2 are the same file"))
        min_res, max_res = jo["min_res"].value, jo["max_res"].value
        if min_res is not None and max_res is not None and max_res >= min_res:
            errors.append(JobOptionValidationResult(
                "error", [jo["min_res"], jo["max_res"]],
                f"the highest resolution ({max_res:g} Å) must be a smaller number than the "
                f"lowest ({min_res:g} Å)"))
        return errors

    def create_output_nodes(self) -> None:
        for file_name, node_type, kwds in self.output_files().values():
            self.add_output_node(file_name, node_type, kwds)
        self.add_output_node(SUMMARY, NODE_EVALUATIONMETRIC, _kwds("summary"))
        self.add_output_node(self.scene_json(), NODE_VISUALISATIONSCRIPT, _kwds("chimerax"))

    def input_args(self) -> List[object]:
        jo = self.joboptions
        if self.uses_halfmaps():
            args = ["--half1", jo["input_half1"].get_string(),
                    "--half2", jo["input_half2"].get_string()]
        else:
            args = [jo["input_map"].get_string()]
        mask = jo["input_mask"].get_string()
        if mask:
            args += ["--mask", mask]
        elif not jo["mask_threshold"].is_blank:
            args += ["--mask-threshold", jo["mask_threshold"].get_number()]
        return args

    def common_args(self) -> List[object]:
        jo = self.joboptions
        args = ["--min-res", jo["min_res"].get_number()]
        if not jo["max_res"].is_blank:
            args += ["--max-res", jo["max_res"].get_number()]
        if "noise_quantile" in jo:
            args += ["--noise-quantile", jo["noise_quantile"].get_number()]
        if not jo["bw"].is_blank:
            args += ["--bw", jo["bw"].get_number()]
        args += ["--spiral", jo["spiral"].get_string()]
        return args

    def run_args(self) -> List[object]:
        return ["-o", os.path.join(self.output_dir, self.PREFIX),
                "--json", os.path.join(self.output_dir, SUMMARY),
                "--chimerax", "--force", "--quiet",
                "--threads", self.get_nr_threads()]

    def get_commands(self) -> List[PipelinerCommand]:
        # Run from the project folder (working_dir None): every path is project-relative.
        command = (["python", "-m", "locspiral_em.cli", self.METHOD] + self.input_args()
                   + self.common_args() + self.method_args() + self.run_args())
        extra = [] if self.uses_halfmaps() else [self.joboptions["input_map"].get_string()]
        scene = ["python", "-m", "locspiral_em.ccpem.scene",
                 os.path.join(self.output_dir, SUMMARY),
                 os.path.join(self.output_dir, self.scene_json())] + extra
        return [PipelinerCommand(command), PipelinerCommand(scene)]

    # -- results -----------------------------------------------------------------------
    def montage(self, names, cmap="") -> ResultsDisplayObject:
        files = {self.out_path(n): f"{self.jobinfo.display_name}: {n}" for n in names}
        return make_mrcs_central_slices_montage(in_files=files, output_dir=self.output_dir,
                                                cmap=cmap)

    def text_object(self, summary) -> ResultsDisplayObject:
        return create_results_display_object(
            "text", title=f"{self.jobinfo.display_name} summary",
            display_data=summary_text(summary),
            associated_data=[os.path.join(self.output_dir, SUMMARY)])

    def gather_metadata(self) -> dict:
        return summary_metadata(self.output_dir)

    def mask_path(self) -> Optional[str]:
        """The mask the method used (its "mask" output), when the job has written it."""
        path = self.out_path("mask")
        return path if os.path.isfile(path) else None


# -- the six jobs -----------------------------------------------------------------------
class _EnhancementBase(_LocSpiralJob):
    CATEGORY_LABEL = "Map Postprocessing"

    def output_maps(self):
        return {self.METHOD: (NODE_DENSITYMAP, _kwds(self.MAP_KWD)),
                f"{self.METHOD}_quality": (NODE_IMAGE3D, _kwds("qualitymap"))}

    def create_results_display(self) -> Sequence[ResultsDisplayObject]:
        out = self.out_path(self.METHOD)
        files = {self.shown_map(): "input", out: self.jobinfo.display_name,
                 self.out_path(f"{self.METHOD}_quality"): "quality W"}
        return [
            make_mrcs_central_slices_montage(in_files=files, output_dir=self.output_dir),
            make_map_model_thumb_and_display(outputdir=self.output_dir, maps=[out],
                                             title=f"{self.jobinfo.display_name} map"),
            self.text_object(read_summary(self.output_dir)),
        ]


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
            "from the solvent), so noise is not amplified where the signal fades. The output "
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
        files = {self.shown_map(): "input", out: self.jobinfo.display_name}
        return [
            make_mrcs_central_slices_montage(in_files=files, output_dir=self.output_dir),
            make_map_model_thumb_and_display(outputdir=self.output_dir, maps=[out],
                                             title=f"{self.jobinfo.display_name} map"),
            histogram_object(self.out_path("locsharpen_bfactor"),
                             "Local B-factor used inside the mask",
                             "B for sharpening (Å²; negative = decaying signal)",
                             self.mask_path()),
            self.text_object(read_summary(self.output_dir)),
        ]


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

    def method_args(self):
        jo = self.joboptions
        args = ["--num-points", jo["num_points"].get_number(),
                "--amplitude-at", jo["amplitude_at"].get_string()]
        if jo["filtered"].get_boolean():
            args.append("--filtered")
        for name, flag in (("estimator", "--estimator"), ("bw_units", "--bw-units")):
            if jo[name].get_string() != AUTOMATIC:  # automatic: let the core choose
                args += [flag, jo[name].get_string()]
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
            self.montage(["bfactor", "amplitude"], cmap="turbo"),
            histogram_object(bmap, "Local B-factor inside the fitted mask",
                             "B for sharpening (Å²; negative = decaying signal)",
                             self.mask_path()),
            self.text_object(read_summary(self.output_dir)),
        ]


class LocalOccupancyJob(_LocSpiralJob):
    PROCESS_NAME = "locspiral.map_analysis.local_occupancy"
    OUT_DIR = "LocOccupancy"
    METHOD = "lococcupancy"
    USES_NOISE_QUANTILE = False

    def __init__(self) -> None:
        super().__init__()
        self.jobinfo.display_name = "LocOccupancy local occupancy map"
        self.jobinfo.short_desc = "Local occupancy map, 0..1"
        self.jobinfo.long_desc = (
            "LocOccupancy estimates, per voxel, the fraction of the band-pass sweep in which "
            "the local spiral-phase amplitude reaches the level of well-occupied density: a "
            "map from 0 to 1 that shows partly occupied domains, ligands and residues.")

    def add_method_options(self) -> None:
        self.joboptions["quantile"] = FloatJobOption(
            label="Occupied amplitude quantile",
            default_value=D.OCCUPANCY_QUANTILE,
            hard_min=0.0,
            hard_max=1.0,
            step_value=0.01,
            help_text="Amplitude quantile inside the mask that counts as occupied.",
        )

    def method_args(self):
        return ["--quantile", self.joboptions["quantile"].get_number()]

    def output_maps(self):
        return {"occupancy": (NODE_IMAGE3D, _kwds("localoccupancymap"))}

    def create_results_display(self) -> Sequence[ResultsDisplayObject]:
        occ = self.out_path("occupancy")
        return [
            self.montage(["occupancy"], cmap="turbo"),
            histogram_object(occ, "Local occupancy inside the mask", "occupancy",
                             self.mask_path()),
            self.text_object(read_summary(self.output_dir)),
        ]


class MaturityIndexJob(PipelinerJob):
    """Maturity level index of immature maps against a mature map (one grid)."""

    PROCESS_NAME = "locspiral.map_analysis.maturity_index"
    OUT_DIR = "MaturityIndex"
    METHOD = "maturity"
    PREFIX = "maturity"

    def __init__(self) -> None:
        super().__init__()
        d = D.defaults(self.METHOD)
        self.jobinfo.display_name = "Maturity index of assembly intermediates"
        self.jobinfo.short_desc = "Order intermediate maps by how much of the mature map they hold"
        self.jobinfo.long_desc = (
            "For each immature (intermediate) map, the local occupancy is computed inside "
            "the mature map's mask; the maturity index is the fraction of that mask that is "
            "highly occupied. Sorting maps by the index places them on an assembly timeline. "
            "Also writes each map's occupancy map and the mature density it misses.")
        self.jobinfo.version = __version__
        self.jobinfo.job_author = "scipion-em-locspiral contributors"
        self.jobinfo.references = [KAUR_2021]
        self.jobinfo.documentation = "https://github.com/scipion-em/scipion-em-locspiral"
        self.jobinfo.programs = []

        self.joboptions["mature_map"] = InputNodeJobOption(
            label="Mature map",
            node_type=NODE_DENSITYMAP,
            pattern=MAP_FILES,
            is_required=True,
            help_text="The mature (complete) map; defines the mask and full occupancy.",
        )
        self.joboptions["immature_maps"] = MultiInputNodeJobOption(
            label="Immature maps",
            node_type=NODE_DENSITYMAP,
            pattern=MAP_FILES,
            is_required=True,
            help_text="Intermediate maps on the mature map's grid and scale (classes or "
                      "refinements of one data set). Their file names name the outputs "
                      "(maturity_<name>_occupancy.mrc, ..._missing.mrc).",
        )
        _add_mask_options(self.joboptions, "Mask of the mature map")
        self.joboptions["min_res"] = FloatJobOption(
            label="Lowest resolution (Å)", default_value=d.min_res, hard_min=0.0,
            step_value=0.5, is_required=True,
            help_text=f"Lowest resolution of the sweep (default {d.min_res:g} Å).")
        self.joboptions["max_res"] = FloatJobOption(
            label="Highest resolution (Å)", default_value=d.max_res, hard_min=0.0,
            step_value=0.5, is_required=True,
            help_text=f"Highest resolution of the sweep (default {d.max_res:g} Å).")
        self.joboptions["quantile"] = FloatJobOption(
            label="Occupied amplitude quantile", default_value=D.OCCUPANCY_QUANTILE,
            hard_min=0.0, hard_max=1.0, step_value=0.01,
            help_text="Amplitude quantile inside the mask that counts as occupied.")
        self.joboptions["occupied"] = FloatJobOption(
            label="Occupancy counted as present", default_value=D.OCCUPIED_LEVEL,
            hard_min=0.0, hard_max=1.0, step_value=0.05,
            help_text="A mask voxel with local occupancy above this counts as present.")
        self.joboptions["bw"] = FloatJobOption(
            label="Band width", default_value=d.bw, hard_min=0.0,
            step_value=0.1, jobop_group="Advanced options",
            help_text=f"Gaussian band width of the filter bank (empty: {D.bw_text(self.METHOD)}).")
        self.joboptions["spiral"] = MultipleChoiceJobOption(
            label="Spiral transform", choices=SPIRAL_CHOICES, default_value=D.SPIRAL,
            jobop_group="Advanced options",
            help_text="riesz: exact isotropic transform; reference: the original code's.")
        self.get_runtab_options(threads=True)

    def stems(self) -> List[str]:
        """The per-map output names, as the command line makes them: file names without
        extension, made unique (a, a_2) when two maps share one."""
        return unique_names([os.path.splitext(os.path.basename(p))[0]
                        for p in self.joboptions["immature_maps"].get_list()])

    def out_paths(self, stem):
        return (f"{self.PREFIX}_{stem}_occupancy.mrc", f"{self.PREFIX}_{stem}_missing.mrc")

    def additional_joboption_validation(self) -> List[JobOptionValidationResult]:
        jo = self.joboptions
        errors = []
        min_res, max_res = jo["min_res"].value, jo["max_res"].value
        if min_res is not None and max_res is not None and max_res >= min_res:
            errors.append(JobOptionValidationResult(
                "error", [jo["min_res"], jo["max_res"]],
                "the highest resolution must be a smaller number than the lowest"))
        return errors

    def create_output_nodes(self) -> None:
        for stem in self.stems():
            occ, missing = self.out_paths(stem)
            self.add_output_node(occ, NODE_IMAGE3D, _kwds("localoccupancymap"))
            self.add_output_node(missing, NODE_DENSITYMAP, _kwds("missingdensity"))
        self.add_output_node(f"{self.PREFIX}_mask.mrc", NODE_MASK3D, _kwds("mask"))
        self.add_output_node(SUMMARY, NODE_EVALUATIONMETRIC, _kwds("summary"))
        self.add_output_node(f"{self.PREFIX}_scene.json", NODE_VISUALISATIONSCRIPT,
                             _kwds("chimerax"))

    def get_commands(self) -> List[PipelinerCommand]:
        jo = self.joboptions
        mature = jo["mature_map"].get_string()
        command = ["python", "-m", "locspiral_em.cli", "maturity", "--mature", mature,
                   "--immature", *jo["immature_maps"].get_list()]
        if jo["input_mask"].get_string():
            command += ["--mask", jo["input_mask"].get_string()]
        elif not jo["mask_threshold"].is_blank:
            command += ["--mask-threshold", jo["mask_threshold"].get_number()]
        command += ["--min-res", jo["min_res"].get_number(),
                    "--max-res", jo["max_res"].get_number(),
                    "--quantile", jo["quantile"].get_number(),
                    "--occupied", jo["occupied"].get_number()]
        if not jo["bw"].is_blank:
            command += ["--bw", jo["bw"].get_number()]
        command += ["--spiral", jo["spiral"].get_string(),
                    "-o", os.path.join(self.output_dir, self.PREFIX),
                    "--json", os.path.join(self.output_dir, SUMMARY),
                    "--chimerax", "--force", "--quiet", "--threads", self.get_nr_threads()]
        scene = ["python", "-m", "locspiral_em.ccpem.scene",
                 os.path.join(self.output_dir, SUMMARY),
                 os.path.join(self.output_dir, f"{self.PREFIX}_scene.json"), mature]
        return [PipelinerCommand(command), PipelinerCommand(scene)]

    # -- results -----------------------------------------------------------------------
    def gather_metadata(self) -> dict:
        return summary_metadata(self.output_dir)

    def maturity_rows(self, summary) -> List[List[str]]:
        """[[map, index, missing fraction]] from least to most mature, from the summary's
        results["maturity_index"] {name: index}."""
        indices = (summary.get("results") or {}).get("maturity_index") or {}
        rows = sorted(((name, float(index)) for name, index in indices.items()),
                      key=lambda item: item[1])
        return [[name, f"{index:.3f}", f"{1.0 - index:.3f}"] for name, index in rows]

    def create_results_display(self) -> Sequence[ResultsDisplayObject]:
        summary = read_summary(self.output_dir)
        rows = self.maturity_rows(summary)
        if not rows:
            return [ResultsDisplayPending(message="no maturity indices in the summary yet",
                                          reason=f"{os.path.join(self.output_dir, SUMMARY)}")]
        table = create_results_display_object(
            "table", title="Maturity index (least to most mature)",
            headers=["map", "maturity index", "fraction of the mature mask missing"],
            table_data=rows,
            associated_data=[os.path.join(self.output_dir, SUMMARY)])
        files = {os.path.join(self.output_dir, self.out_paths(s)[0]): f"{s}: occupancy"
                 for s in self.stems()}
        text = create_results_display_object(
            "text", title="Maturity index summary", display_data=summary_text(summary),
            associated_data=[os.path.join(self.output_dir, SUMMARY)])
        return [table,
                make_mrcs_central_slices_montage(in_files=files, output_dir=self.output_dir,
                                                 cmap="turbo"),
                text]
