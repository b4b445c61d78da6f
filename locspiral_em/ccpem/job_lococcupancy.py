"""CCP-EM Pipeliner job ``locspiral.map_analysis.local_occupancy``:
LocOccupancy local occupancy map.

See :mod:`locspiral_em.ccpem.job_base` for what the jobs share."""
from typing import Sequence

from pipeliner.job_options import FloatJobOption
from pipeliner.nodes import NODE_IMAGE3D
from pipeliner.results_display_objects import ResultsDisplayObject

from ..core import defaults as D
from .job_base import Row, _LocSpiralJob, _kwds, histogram_object, read_summary


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
            self.slices([Row(self.shown_map(), "map"),
                         Row(occ, "occupancy", "viridis", "occupancy", local=True,
                             value_range=(0.0, 1.0))]),
            histogram_object(occ, "Local occupancy inside the mask", "occupancy",
                             self.mask_path()),
            self.text_object(read_summary(self.output_dir)),
        ]
