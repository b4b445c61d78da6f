"""CCP-EM Pipeliner job ``locspiral.map_analysis.maturity_index``:
maturity index of assembly intermediates.

See :mod:`locspiral_em.ccpem.job_base` for what the jobs share."""
import os
from typing import List, Sequence

from pipeliner.display_tools import create_results_display_object
from pipeliner.job_options import (
    FloatJobOption,
    InputNodeJobOption,
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
from pipeliner.pipeliner_job import PipelinerCommand, PipelinerJob
from pipeliner.results_display_objects import ResultsDisplayObject, ResultsDisplayPending

from .. import __version__
from ..core import defaults as D
from ..run import unique_names  # the command line's rule for naming per-map outputs
from .job_base import (
    KAUR_2021, MAP_FILES, SPIRAL_CHOICES, SUMMARY, Row, _add_mask_options, _kwds,
    read_summary, slices_display, summary_metadata, summary_text)


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
        """[[map, published index, normalised index]] from least to most mature, from the
        summary's results["maturity_index"] and ["maturity_normalised_index"] {name: index}
        (normalised: over the mature map's own index, so the mature map reads 1; the
        published index does not reach 1 even for it, so 1 - index is no missing share)."""
        results = summary.get("results") or {}
        indices = results.get("maturity_index") or {}
        normalised = results.get("maturity_normalised_index") or {}
        rows = sorted(((name, float(index)) for name, index in indices.items()),
                      key=lambda item: item[1])
        return [[name, f"{index:.3f}",
                 "n/a" if normalised.get(name) is None else f"{normalised[name]:.3f}"]
                for name, index in rows]

    def create_results_display(self) -> Sequence[ResultsDisplayObject]:
        summary = read_summary(self.output_dir)
        rows = self.maturity_rows(summary)
        if not rows:
            return [ResultsDisplayPending(message="no maturity indices in the summary yet",
                                          reason=f"{os.path.join(self.output_dir, SUMMARY)}")]
        table = create_results_display_object(
            "table", title="Maturity index (least to most mature)",
            headers=["map", "maturity index (published)",
                     "normalised index (mature map = 1, nothing = 0)"],
            table_data=rows,
            associated_data=[os.path.join(self.output_dir, SUMMARY)])
        rows = [Row(os.path.join(self.output_dir, self.out_paths(s)[0]), s, "viridis",
                    "occupancy", local=True, value_range=(0.0, 1.0)) for s in self.stems()]
        text = create_results_display_object(
            "text", title="Maturity index summary", display_data=summary_text(summary),
            associated_data=[os.path.join(self.output_dir, SUMMARY)])
        return [table,
                slices_display(self.output_dir, "Occupancy of each immature map", rows,
                               os.path.join(self.output_dir, f"{self.PREFIX}_mask.mrc")),
                text]
