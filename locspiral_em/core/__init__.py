"""The numerical core of the spiral-phase local methods (numpy, scipy and mrcfile only).

Arrays are float32 3-D volumes in mrcfile's (z, y, x) order; resolutions are in Å, voxel
sizes in Å, B-factors in Å^2 with the sharpening sign (negative = decaying signal).
See Kaur et al., Nat Commun 12, 1240 (2021).

The methods exported here are scale-free (:mod:`.scale`): they run on the map divided by a
power of two near its RMS and give the scale back to what scales with the map, so a map in
any intensity unit gives the same B, occupancy, W and maturity (the module functions, e.g.
``core.bfactor.locbfactor``, are the unwrapped ones).
"""
from . import bfactor as _bfactor
from . import enhance as _enhance
from . import occupancy as _occupancy
from . import sharpen as _sharpen
from .bfactor import GuinierProfiles, LocalBFactor
from .enhance import EnhancedMap
from .errors import InputError
from .filterbank import Band, FilterBank, sweep_frequencies
from .globalstats import FSC, GuinierB, average_half_maps, fsc, global_bfactor
from .masking import AutoMask, auto_mask, auto_threshold, threshold_mask
from .mrcio import MapData, read_map, write_map, write_maps
from .occupancy import Maturity
from .phantom import Domain, Phantom, demo_phantom, make_phantom
from .scale import each, linear_fields, linear_result, log_fields, scale_free
from .sharpen import GlobalSharpened, SharpenedMap

# LocSpiral/LocBSharpen maps and W are standardised on the solvent noise: scale-free.
locspiral = scale_free()(_enhance.locspiral)
locbsharpen = scale_free()(_enhance.locbsharpen)
# A and the noise levels are log amplitudes: shifted by ln(scale); B is scale-free.
locbfactor = scale_free(restore=lambda r, s: log_fields("noise")(
    log_fields("amplitude")(r, s), s))(_bfactor.locbfactor)
guinier_profiles = scale_free(restore=log_fields("log_amplitude", "noise", where=None))(
    _bfactor.guinier_profiles)
lococcupancy = scale_free(linear_args=("levels",))(_occupancy.lococcupancy)
occupancy_levels = scale_free(restore=linear_result)(_occupancy.occupancy_levels)
# A mature map and its immature maps keep their ratio: one factor, the mature map's.
maturity_index = scale_free(arrays=("mature_map",), array_lists=("immature_maps",),
                            restore=each(linear_fields("missing")))(_occupancy.maturity_index)
# The two half maps (noise of the Wiener weight) are divided by the map's factor.
locsharpen = scale_free(array_lists=("half_maps",), log_args=("amplitude",),
                        restore=linear_fields("map"))(_sharpen.locsharpen)
global_sharpen = scale_free(restore=linear_fields("map"))(_sharpen.global_sharpen)
# The automatic mask's low-pass sums the map: a map near float32's limit (1e38) overflows
# there. Its threshold is in the map's units (given and returned).
auto_mask = scale_free(linear_args=("threshold",), restore=linear_fields("threshold"))(
    auto_mask)

__all__ = [
    "locspiral", "locbsharpen", "locsharpen", "global_sharpen", "locbfactor", "lococcupancy",
    "maturity_index",
    "guinier_profiles", "occupancy_levels", "average_half_maps", "fsc", "global_bfactor",
    "threshold_mask", "auto_threshold", "auto_mask", "read_map", "write_map", "write_maps",
    "make_phantom", "demo_phantom", "FilterBank", "sweep_frequencies", "InputError",
    "EnhancedMap", "LocalBFactor", "GuinierProfiles", "Maturity", "FSC", "GuinierB", "AutoMask",
    "MapData", "Band", "Domain", "Phantom", "SharpenedMap", "GlobalSharpened",
]
