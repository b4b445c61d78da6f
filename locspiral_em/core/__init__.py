"""The numerical core of the spiral-phase local methods (numpy, scipy and mrcfile only).

Arrays are float32 3-D volumes in mrcfile's (z, y, x) order; resolutions are in Å, voxel
sizes in Å, B-factors in Å^2 with the sharpening sign (negative = decaying signal).
See Kaur et al., Nat Commun 12, 1240 (2021).
"""
from .bfactor import GuinierProfiles, LocalBFactor, guinier_profiles, locbfactor
from .enhance import EnhancedMap, locbsharpen, locspiral
from .errors import InputError
from .filterbank import Band, FilterBank, sweep_frequencies
from .globalstats import FSC, GuinierB, average_half_maps, fsc, global_bfactor
from .masking import AutoMask, auto_mask, auto_threshold, threshold_mask
from .mrcio import MapData, read_map, write_map, write_maps
from .occupancy import Maturity, lococcupancy, maturity_index, occupancy_levels
from .phantom import Domain, Phantom, demo_phantom, make_phantom
from .sharpen import GlobalSharpened, SharpenedMap, global_sharpen, locsharpen

__all__ = [
    "locspiral", "locbsharpen", "locsharpen", "global_sharpen", "locbfactor", "lococcupancy",
    "maturity_index",
    "guinier_profiles", "occupancy_levels", "average_half_maps", "fsc", "global_bfactor",
    "threshold_mask", "auto_threshold", "auto_mask", "read_map", "write_map", "write_maps",
    "make_phantom", "demo_phantom", "FilterBank", "sweep_frequencies", "InputError",
    "EnhancedMap", "LocalBFactor", "GuinierProfiles", "Maturity", "FSC", "GuinierB", "AutoMask",
    "MapData", "Band", "Domain", "Phantom", "SharpenedMap", "GlobalSharpened",
]
