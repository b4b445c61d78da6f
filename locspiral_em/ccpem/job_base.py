"""What the CCP-EM Pipeliner jobs share: the base job of the single-map methods, the
options, the summary and the results display (one module per job: job_locspiral.py,
job_locbsharpen.py, job_locsharpen.py, job_locbfactor.py, job_lococcupancy.py,
job_maturity.py; ``jobs.py`` re-exports them all).

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
  Servalcat's jobs write it); the ``.cxc`` is its "script"; the copies of the local maps
  it colours from (``<map>_display.mrc``, a sentinel outside the mask):
  ``Image3D.mrc.locspiral.displaycopy``

Results display: a slice figure (:func:`slices_display`, the scenes' rules: cut through the
molecule, local maps grey outside the mask), the job's histogram or table, the summary text.

Nothing here imports Scipion (pyworkflow, pwem): the jobs run in a plain CCP-EM install.
"""
import json
import os
from typing import Dict, List, NamedTuple, Optional, Sequence

import mrcfile
import numpy as np

from pipeliner.display_tools import (
    create_results_display_object,
    make_map_model_thumb_and_display,
)
from pipeliner.job_options import (
    BooleanJobOption,
    FileDescription,
    FloatJobOption,
    InputNodeJobOption,
    JobOptionCondition,
    JobOptionValidationResult,
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


class Row(NamedTuple):
    """One map of a job's slice figure: its file, label, colour map, colour bar title,
    whether it is a local map (no value outside the mask: drawn grey there, its colour range
    the 2nd-98th percentiles inside the mask, as the scenes and the Scipion viewers), and a
    fixed ``(vmin, vmax)`` (occupancy: 0, 1)."""
    path: str
    label: str
    cmap: str = "gray"
    unit: str = ""
    local: bool = False
    value_range: Optional[tuple] = None


def slices_display(output_dir, title, rows, mask_path=None, name="slices") -> ResultsDisplayObject:
    """The job's slice figure as a results display image: z, y and x slices of each map in
    ``rows`` (:class:`Row`), one row and colour bar each, with the scenes' rules (the
    pipeliner's own central-slices montage cuts the box centre, which may be solvent, and
    paints a local map's 0 outside the mask as data): all rows cut through the molecule
    (the mask's centre of mass, or its fullest plane,
    :func:`locspiral_em.figures.slice_center`), local maps grey outside the mask. Written
    to ``Thumbnails/<name>.png`` in the job folder; a display-pending object saying why
    when a map is missing or matplotlib is absent. The maps are memory-mapped: only the
    mask and the three planes of each map are read into memory."""
    from contextlib import ExitStack
    try:
        from .. import figures
        from ..core.surface import robust_range
        with ExitStack() as stack:
            def mapped(path):
                return stack.enter_context(mrcfile.mmap(path, mode="r", permissive=True)).data

            mask = (np.asarray(mapped(mask_path)) > 0.5
                    if mask_path and os.path.isfile(mask_path) else None)
            panels = []
            for row in rows:
                volume = mapped(row.path)
                inside = None
                if row.local:  # the local maps are exactly 0 outside their mask
                    inside = mask if mask is not None else np.asarray(volume) != 0
                lo, hi = row.value_range or (
                    robust_range(volume, inside & np.isfinite(volume)) if row.local
                    else (None, None))
                panels.append(figures.Panel(volume, row.label, row.cmap, row.unit, lo, hi,
                                            mask=inside))
            png = os.path.join(output_dir, "Thumbnails", f"{name}.png")
            center = mask if mask is not None else next(
                (p.mask for p in panels if p.mask is not None), None)
            _, point = figures.slices_montage(png, panels, title=title, center=center)
    except Exception as exc:  # a display must not fail the job: say why instead
        return ResultsDisplayPending(message=f"slice figure not made: {exc}",
                                     reason=type(exc).__name__)
    iz, iy, ix = point
    return create_results_display_object(
        "image", title=title, image_path=png,
        image_desc=f"Slices z = {iz}, y = {iy}, x = {ix} through the molecule (the mask's "
                   "centre); local maps grey outside the mask (no value).",
        associated_data=[row.path for row in rows] + ([mask_path] if mask is not None else []))


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

    def display_copies(self, files) -> List[str]:
        """File names of the scene's display copies (the local maps with a sentinel outside
        the mask, ``<map>_display.mrc``), by the command line's own rule
        (``run.planned_outputs``): outputs of the run, so nodes of the job."""
        from ..run import SCENES, planned_outputs
        scene = f"{self.PREFIX}_{SCENES[self.METHOD]}.cxc"
        planned = planned_outputs({n: f for n, (f, _, _) in files.items()}, scene, None)
        return [os.path.basename(path) for name, path in planned.items()
                if name.endswith("_display") and name not in files]

    def create_output_nodes(self) -> None:
        files = self.output_files()
        for file_name, node_type, kwds in files.values():
            self.add_output_node(file_name, node_type, kwds)
        for file_name in self.display_copies(files):
            self.add_output_node(file_name, NODE_IMAGE3D, _kwds("displaycopy"))
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
    def slices(self, rows) -> ResultsDisplayObject:
        """:func:`slices_display` of ``rows`` cut through the job's mask."""
        return slices_display(self.output_dir, f"{self.jobinfo.display_name}: slices", rows,
                              self.mask_path())

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


# -- shared by LocSpiral and LocBSharpen -------------------------------------------------
class _EnhancementBase(_LocSpiralJob):
    CATEGORY_LABEL = "Map Postprocessing"

    def output_maps(self):
        return {self.METHOD: (NODE_DENSITYMAP, _kwds(self.MAP_KWD)),
                f"{self.METHOD}_quality": (NODE_IMAGE3D, _kwds("qualitymap"))}

    def create_results_display(self) -> Sequence[ResultsDisplayObject]:
        out = self.out_path(self.METHOD)
        return [
            self.slices([Row(self.shown_map(), "input"), Row(out, self.METHOD),
                         Row(self.out_path(f"{self.METHOD}_quality"), "quality W", "viridis",
                             "W (noise SD units)", local=True)]),
            make_map_model_thumb_and_display(outputdir=self.output_dir, maps=[out],
                                             title=f"{self.jobinfo.display_name} map"),
            self.text_object(read_summary(self.output_dir)),
        ]
