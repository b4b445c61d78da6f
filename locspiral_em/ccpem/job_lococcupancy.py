"""CCP-EM Pipeliner job ``locspiral.map_analysis.local_occupancy``:
LocOccupancy local occupancy map.

See :mod:`locspiral_em.ccpem.job_base` for what the jobs share."""
import os
from typing import List, Sequence

from pipeliner.display_tools import create_results_display_object
from pipeliner.job_options import FloatJobOption
from pipeliner.nodes import NODE_IMAGE3D
from pipeliner.results_display_objects import ResultsDisplayObject

from ..core import defaults as D
from .job_base import SUMMARY, Row, _LocSpiralJob, _kwds, histogram_object, read_summary


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

    @staticmethod
    def region_rows(summary) -> List[List[str]]:
        """[[region, volume Å^3, median, mean, centre x y z (voxels)]] of the summary's
        results["occupancy_regions"] (connected, well-occupied parts of the mask, largest
        first): what a user acts on, where the mask mean is fixed by construction."""
        regions = (summary.get("results") or {}).get("occupancy_regions") or []
        return [[str(i), f"{r['volume_A3']:.4g}", f"{r['median_occupancy']:.2f}",
                 f"{r['mean_occupancy']:.2f}", " ".join(f"{c:.0f}" for c in r["centre_xyz_px"])]
                for i, r in enumerate(regions, 1)]

    def create_results_display(self) -> Sequence[ResultsDisplayObject]:
        occ = self.out_path("occupancy")
        summary = read_summary(self.output_dir)
        shown = [
            self.slices([Row(self.shown_map(), "map"),
                         Row(occ, "occupancy", "viridis", "occupancy", local=True,
                             value_range=(0.0, 1.0))]),
            histogram_object(occ, "Local occupancy inside the mask", "occupancy",
                             self.mask_path()),
        ]
        rows = self.region_rows(summary)
        if rows:
            results = summary.get("results") or {}
            shown.append(create_results_display_object(
                "table", title=results.get("occupancy_regions_text")
                or "Occupied regions of the mask, largest first",
                headers=["region", "volume (Å^3)", "median occupancy", "mean occupancy",
                         "centre x y z (voxels)"],
                table_data=rows, associated_data=[os.path.join(self.output_dir, SUMMARY)]))
        shown.append(self.text_object(summary))
        return shown
