"""The one run layer: a plain spec -> inputs -> method -> output maps, ChimeraX scene and a
JSON summary. The command line, the Scipion protocols and (through the command line) the
CCP-EM Pipeliner jobs all call :func:`run`, so loading, defaults, checks and numbers are the
same everywhere. No Scipion import here.

    from locspiral_em.run import RunSpec, run
    result = run(RunSpec("locbfactor", half1="h1.mrc", half2="h2.mrc", prefix="out/b",
                         json_path="out/b.json", chimerax=True))
    result.summary["results"]["bfactor_mean_A2"]

Map inputs (``map``, ``half1``, ``half2``, ``mask``, ``immature``, ``grid``) are each a path,
a :class:`~locspiral_em.core.MapData` already read (the protocols read Scipion files
themselves: stacks, other formats, sampling rate from the database) or a :class:`MapSource`
(both: data plus the path to report). ``mask`` may also be an array on the map's grid.

JSON summary (:data:`SCHEMA_VERSION`; every number carries its unit in its key name: ``_A``
Å, ``_A2`` Å^2, ``_A3`` Å^3, ``_px`` Fourier pixels; fractions and quantiles have none):

    method, version, schema
    inputs      {map, half1, half2, mask, immature: [...]}  paths as given, null for arrays
    parameters  {voxel_size_A, min_res_A, max_res_A, spiral, threads, bw_px (LocBFactor:
                 bw, bw_units, estimator; null = the core's default; window_A: the FWHM
                 of the fit's spatial window), noise_quantile,
                 snr_weight, sharpen_res_A, num_points, filtered, amplitude_at,
                 occupancy_quantile, occupied_level, target_b_A2, smooth_A,
                 bfactor_min_res_A, weight, noise_from: those of the method; LocSharpen's
                 noise_from is the core's results.noise_source, its filtered the fit asked
                 for, false where the core used the plain fit for want of solvent}
    mask        {source: file|array|auto, path, binarised_at (a mask file thresholded
                 with mask_binarise), threshold (on the low-passed map),
                 threshold_on, threshold_given, lowpass_A, dilation_A, voxels, volume_A3,
                 box_fraction, solvent_fraction (of the box's inscribed sphere, outside the
                 mask: where the noise is measured), warnings}
    resolution  {min_res_A, max_res_A, fsc_res_A (null without half maps),
                 max_res_source: given|fsc|default, num_bands; only when the half-map
                 FSC never falls to 0.143 (fsc_res_A is then Nyquist, a bound):
                 fsc_beyond_nyquist: true, fsc_at_nyquist (the FSC in the last shell)}
    outputs     {name: path}   every file written (maps, "mask", LocBFactor's
                 "noise_curve" text, "average" for the scene when no input file holds the
                 map the method ran on)
    scene       path of the ChimeraX .cxc script, or null
    results     locbfactor: bfactor_mean_A2, bfactor_sd_A2, bfactor_median_A2,
                fit_voxels, global_bfactor_A2 (null when the range is too narrow),
                global_bfactor_range_A [low, high] (= min_res, max_res), global_bfactor_text;
                locsharpen: bfactor_mean_A2, bfactor_sd_A2, bfactor_median_A2 (the smoothed
                local B map that drove the sharpening, inside the mask), fit_voxels,
                target_b_A2, global_bfactor_A2 (the input's global Guinier B in the mask
                over the local fit's range, for comparison; null when too narrow),
                global_bfactor_range_A [bfactor_min_res, max_res], global_bfactor_text,
                noise_source (half maps|solvent|beyond max_res|none), sharpened;
                lococcupancy: occupancy_low_level, occupancy_fraction_low,
                occupancy_regions [{voxels, volume_A3, median_occupancy, mean_occupancy,
                centre_xyz_px}], occupancy_region_count, occupancy_speck_count,
                occupancy_region_min_A3, occupancy_regions_text, occupancy_normalisation,
                occupancy_mean, occupancy_sd, occupancy_mean_text (the mean is 1 - quantile
                by construction); maturity: maturity [{position, name, index,
                normalised_index, outputs: {occupancy, missing}}], maturity_index and
                maturity_normalised_index {name: index}, mature_reference_index,
                occupancy_normalisation; every method: num_bands
    warnings    [lines]  (mask warnings are also under mask.warnings)
"""
import json
import os
import warnings as pywarnings
from dataclasses import dataclass
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import numpy as np

from . import __version__, core, outputs
from .core import InputError, MapData
from .core import defaults as D
from .core import masking

SCHEMA_VERSION = 1
MAP_EXTENSIONS = (".mrc", ".map", ".ccp4", ".mrcs", ".rec")

# The input checks' numerics live in the core; re-exported here (the protocols and tests
# import them from the run layer).
from .core.diagnostics import (GUINIER_LOW_RES, GUINIER_MIN_HIGH,  # noqa: F401,E402
                               MASKED_FRACTION, SHARPENED_B, global_guinier,
                               looks_masked, looks_sharpened)

# Output names per method (the keys of summary["outputs"]); maturity adds per-map names.
OUTPUTS = {
    "locspiral": ("locspiral", "locspiral_quality", "mask"),
    "locbsharpen": ("locbsharpen", "locbsharpen_quality", "mask"),
    "locsharpen": ("locsharpen", "locsharpen_bfactor", "mask"),
    "locbfactor": ("bfactor", "amplitude", "mask", "noise_curve"),
    "lococcupancy": ("occupancy", "mask"),
    "maturity": ("mask",),
}
SCENES = {"locspiral": "locspiral", "locbsharpen": "locbsharpen", "locsharpen": "locsharpen",
          "locbfactor": "bfactor", "lococcupancy": "occupancy", "maturity": "maturity"}
TEXT_OUTPUTS = {"noise_curve": ".txt"}


# -- spec ---------------------------------------------------------------------------------
@dataclass
class MapSource:
    """A map input: a ``path`` to read, already-read ``data`` (MapData), or both (``path``
    is then only reported)."""
    path: Optional[str] = None
    data: Optional[MapData] = None

    def read(self, voxel_size=None):
        if self.data is not None:
            return self.data
        return core.read_map(self.path, voxel_size)


MAP_INPUT_TYPES = "a file path (str, bytes or os.PathLike), a MapData or a MapSource"


def as_source(value, name="map", voxel_size=None):
    """A :class:`MapSource` for a map input: a path, MapData, MapSource or (with a
    ``voxel_size``) a numeric 3-D array; anything else is an InputError naming ``name``."""
    if value is None or isinstance(value, MapSource):
        return value
    if isinstance(value, MapData):
        return MapSource(None, value)
    if isinstance(value, (str, bytes, os.PathLike)):
        return MapSource(os.fsdecode(os.fspath(value)), None)
    if isinstance(value, (np.ndarray, list, tuple)):
        if voxel_size is None:
            raise InputError(f"{name} is an array without a voxel size: pass voxel_size= (Å) "
                             "or MapData(array, voxel_size)")
        return MapSource(None, MapData(value, _number(voxel_size, "voxel size")))
    raise InputError(f"{name} must be {MAP_INPUT_TYPES} or an array, not "
                     f"{type(value).__name__}")


def _as_map_list(value, name):
    """``immature``: one map (a path, MapData, MapSource, 3-D array) or a sequence of them,
    as a list (a single path is one map, not a sequence of characters)."""
    if value is None:
        return []
    if isinstance(value, (str, bytes, os.PathLike, MapData, MapSource)):
        return [value]
    if isinstance(value, np.ndarray):
        if value.ndim == 3:
            return [value]
        if value.ndim == 4:
            return list(value)
        raise InputError(f"{name}: an array of maps must be 3-D (one map) or 4-D (several), "
                         f"not {value.ndim}-D")
    try:
        return list(value)
    except TypeError:
        raise InputError(f"{name} must be a map ({MAP_INPUT_TYPES}) or a list of maps, not "
                         f"{type(value).__name__}") from None


@dataclass
class RunSpec:
    """Everything a run needs. ``None`` parameters take the method's default
    (:mod:`locspiral_em.core.defaults`)."""
    method: str
    map: Any = None                 # the map (maturity: the mature map), or half maps:
    half1: Any = None
    half2: Any = None
    mask: Any = None                # file/MapData/array; None: automatic mask
    mask_threshold: Optional[float] = None   # automatic mask: explicit threshold
    mask_binarise: Optional[float] = None    # mask file: threshold it here (any values)
    mask_lowpass: float = D.MASK_LOWPASS
    mask_dilation: Optional[float] = None    # Å; None: the core's default
    immature: Sequence = ()         # maturity: immature maps
    immature_names: Optional[Sequence[str]] = None
    min_res: Optional[float] = None
    max_res: Optional[float] = None
    voxel_size: Optional[float] = None   # overrides the headers of files read here
    grid: Any = None                # map whose voxel size/origin the outputs get
    noise_quantile: float = D.NOISE_QUANTILE
    bw: Optional[float] = None
    snr_weight: bool = D.SNR_WEIGHT
    sharpen_res: float = D.SHARPEN_RES
    num_points: int = D.NUM_POINTS
    filtered: bool = D.FILTERED_FIT
    amplitude_at: str = D.AMPLITUDE_AT
    estimator: Optional[str] = None  # LocBFactor: None = the core's default
    bw_units: Optional[str] = None   # LocBFactor: None = the core's default
    window: Optional[float] = None   # LocBFactor: FWHM (Å) of the fit's spatial window
    quantile: float = D.OCCUPANCY_QUANTILE
    occupied: float = D.OCCUPIED_LEVEL
    target_b: float = D.TARGET_B     # LocSharpen: Å^2, sharpening sign
    smooth: float = D.SHARPEN_SMOOTH  # LocSharpen: Å
    bfactor_min_res: float = D.BFACTOR_MIN_RES  # LocSharpen: low end of the local B fit, Å
    spiral: str = D.SPIRAL
    workers: Optional[int] = None
    prefix: Optional[str] = None    # outputs <prefix>_<name>.mrc (default: input name)
    paths: Optional[Dict[str, str]] = None   # name -> path, replaces the prefix naming
    chimerax: bool = False          # also write <prefix>_<scene>.cxc
    scene_path: Optional[str] = None
    json_path: Optional[str] = None
    force: bool = False             # replace existing outputs

    def __post_init__(self):
        """Map inputs as sources now, so that a wrong type is refused naming its argument
        (arrays need ``voxel_size``; ``mask`` may be an array on the map's grid)."""
        voxel = self.voxel_size
        for name in ("map", "half1", "half2", "grid"):
            setattr(self, name, as_source(getattr(self, name), name, voxel))
        if isinstance(self.mask, (list, tuple)) and not isinstance(self.mask, MapData):
            try:
                self.mask = np.asarray(self.mask, dtype=np.float32)
            except (TypeError, ValueError):
                raise InputError("mask: a list must hold a numeric 3-D array on the map's "
                                 "grid; or give a mask file") from None
        if not isinstance(self.mask, np.ndarray):
            self.mask = as_source(self.mask, "mask")
        self.immature = [as_source(m, f"immature map {i + 1}", voxel)
                         for i, m in enumerate(_as_map_list(self.immature, "immature"))]


class RunResult(NamedTuple):
    summary: dict                   # the JSON summary (also written to spec.json_path)
    arrays: Dict[str, np.ndarray]   # output maps by name (maturity: per-map names)
    mask: np.ndarray                # the mask written as "mask" (LocBFactor: fitted voxels)
    volume: np.ndarray              # the map the method ran on


class Inputs(NamedTuple):
    volume: np.ndarray
    grid: MapData                   # voxel size, origin, nstart of the outputs
    halves: Optional[tuple]
    label: str                      # input path for the default prefix
    direct_path: Optional[str]      # path of a file holding exactly ``volume``, for scenes
    immature: List[np.ndarray]
    immature_names: List[str]
    paths: dict                     # summary["inputs"]
    warnings: Optional[list] = None  # lines for the summary (voxel size override, FSC)


# -- checks -------------------------------------------------------------------------------
def check_same_voxel(a, b, name_a, name_b):
    if abs(a - b) > 1e-3 * max(a, b):
        raise InputError(f"{name_a} voxel size {a:g} Å differs from {name_b} voxel size "
                         f"{b:g} Å; resample them onto one grid")


# Origins closer than this fraction of a voxel are the same grid (float32 headers written
# by different programs round the same origin differently).
ORIGIN_TOLERANCE = 0.05
# Half maps whose difference is this small against the map are copies of one map, not
# independent reconstructions (their FSC would be 1 to Nyquist, their noise 0).
IDENTICAL_HALVES = 1e-6
# The smallest mask and solvent (voxels) that hold a statistic: one definition, in the core
# (core.validate.as_mask refuses smaller ones for the Python API too).
MIN_MASK_VOXELS = core.validate.MIN_MASK_VOXELS
# A mask file's values: binary or soft (Relion: 1 inside, a soft edge, 0 outside) ones lie
# in [0, 1]; most voxels of a soft mask are exactly 0 or 1, its edge is a thin shell. A map
# whose values are mostly strictly between 0 and 1 is density, not a mask.
MASK_RANGE_TOLERANCE = 1e-3
MAX_SOFT_FRACTION = 0.5


def map_origin(m):
    """Position (x, y, z Å) of voxel (0, 0, 0) of a MapData, as ChimeraX reads its header:
    the origin when not zero, else nstart times the voxel size."""
    from .chimerax import map_origin as origin_of
    return origin_of(m.origin, m.nstart, m.voxel_size)


def has_position(m):
    """False for a map whose header origin and NXSTART are all 0: many programs (and
    arrays handed over as MapData) write no position, and such a map is taken to lie on
    the other map's grid."""
    return any(float(o) != 0.0 for o in m.origin) or any(int(n) != 0 for n in m.nstart)


def check_same_origin(a, b, name_a, name_b, strict=False):
    """Refuse two maps whose voxel (0, 0, 0) lies at different places: voxel-by-voxel
    arithmetic would mix different points of the molecule. ``strict`` (the two half maps
    of one refinement, written by one program): a map without a position differs too."""
    if not strict and not (has_position(a) and has_position(b)):
        return
    oa, ob = map_origin(a), map_origin(b)
    if max(abs(x - y) for x, y in zip(oa, ob)) > ORIGIN_TOLERANCE * float(a.voxel_size):
        text = lambda o: "(" + ", ".join(f"{v:.2f}" for v in o) + ")"  # noqa: E731
        raise InputError(f"{name_a} origin {text(oa)} Å differs from {name_b} origin "
                         f"{text(ob)} Å (header origin or NXSTART x voxel size): they are "
                         "not on one grid; resample one onto the other (e.g. ChimeraX "
                         "'volume resample ... onGrid') or fix the header")


def check_independent_halves(a, b, same_file=False):
    """Refuse half maps that are one map twice (the same file, or equal data)."""
    if same_file:
        raise InputError("half map 1 and half map 2 are the same file: the FSC would be 1 "
                         "to Nyquist and the noise 0; give the two independent half maps")
    if a is None or b is None:
        return
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return  # the grid check says so
    if core.scale.rms_difference(a, b) <= IDENTICAL_HALVES * core.scale.rms(a):
        raise InputError("half map 1 and half map 2 are identical: the FSC would be 1 to "
                         "Nyquist and the noise 0; give the two independent half maps")


def _same_file(x, y):
    try:
        return bool(x and y and os.path.samefile(x, y))
    except OSError:
        return False


def binary_mask(data, shape, binarise=None, name="mask"):
    """A mask read from a file as a boolean mask on ``shape``: voxels above 0.5 (soft
    masks in [0, 1] are normal), or above ``binarise`` when given (any values). A map that
    is no mask (values outside [0, 1], or mostly strictly between 0 and 1: density) is
    refused, naming --mask-binarise."""
    array = core.validate.as_volume(data, name)
    if binarise is not None:
        level = _number(binarise, "mask binarise threshold")
        return core.validate.as_mask(array > np.float32(level), shape, name)
    low, high = float(array.min()), float(array.max())
    tol = MASK_RANGE_TOLERANCE
    if low < -tol or high > 1.0 + tol:
        raise InputError(f"the {name} has values {low:.4g} to {high:.4g}, outside [0, 1]: "
                         "it looks like a density map, not a mask; give a binary or soft "
                         "(0..1) mask, or threshold it with --mask-binarise T")
    soft = float(np.count_nonzero((array > tol) & (array < 1.0 - tol))) / array.size
    if soft > MAX_SOFT_FRACTION:
        raise InputError(f"{100 * soft:.0f}% of the {name}'s voxels lie strictly between 0 "
                         "and 1: it looks like a density map, not a mask; give a binary or "
                         "soft mask, or threshold it with --mask-binarise T")
    return core.validate.as_mask(array, shape, name)


check_mask_size = core.validate.check_mask_size  # also applied by core.validate.as_mask


def check_finite_outputs(arrays):
    """The last guard before writing: no output map may hold NaN or Inf."""
    for name, array in arrays.items():
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise InputError(f"the {name} output has {bad} NaN or infinite voxels, so "
                             "nothing was written; please report it with the input maps "
                             "(a map far outside float32's range can cause it)")


def check_density_map(data, label="map"):
    """Refuse a map with at most 2 distinct values (a mask given as the map): the methods
    need density. O(n), no sort: every voxel is its minimum or its maximum."""
    array = core.validate.as_volume(data, label)  # NaNs and shape first: clearer message
    low, high = float(array.min()), float(array.max())
    if low == high:
        raise InputError(f"the {label} is constant ({low:g}): give the unsharpened, "
                         "unmasked density map")
    if not np.any((array != low) & (array != high)):
        raise InputError(f"the {label} has only 2 distinct values ({low:g} and {high:g}): it "
                         "is a mask, not a density map; give the unsharpened, unmasked map "
                         "(and the mask as the mask input)")


def finer_than_fsc(max_res, fsc_res):
    if max_res is None or fsc_res is None or max_res >= fsc_res - 1e-6:
        return None
    return (f"max resolution {max_res:.2f} Å is finer than the half-map FSC 0.143 "
            f"resolution {fsc_res:.2f} Å: the finest bands are noise; use the FSC "
            "resolution or coarser")


def input_warnings(volume, voxel_size, max_res=None, fsc_res=None, workers=None):
    """Warnings on the input: masked, already sharpened, max resolution finer than the FSC.
    Shared by :func:`run` and the protocols' ``_warnings``."""
    lines = [looks_masked(volume),
             looks_sharpened(volume, voxel_size, fsc_res if fsc_res else max_res, workers),
             finer_than_fsc(max_res, fsc_res)]
    return [line for line in lines if line]


def check_parameters(spec):
    """Cheap checks of the spec before anything is read."""
    if spec.method not in D.METHODS:
        raise InputError(f"unknown method {spec.method!r}; one of {', '.join(D.METHODS)}")
    if spec.spiral not in core.filterbank.SPIRAL_MODES:
        raise InputError(f"spiral must be one of {core.filterbank.SPIRAL_MODES}, not "
                         f"{spec.spiral!r}")
    bw = _bw(spec) if spec.bw is None else _number(spec.bw, "band width")
    if bw is not None and not bw > 0:
        raise InputError(f"the band width must be positive, not {bw:g}")
    if spec.window is not None:
        if spec.method != "locbfactor":
            raise InputError(f"window is a LocBFactor option; {spec.method} has no window "
                             "(leave it out)")
        if not _number(spec.window, "window") > 0.0:
            raise InputError(f"the window is a FWHM in Å (> 0, 12 typical), got "
                             f"{spec.window!r}")
    if spec.method in ("locspiral", "locbsharpen", "locsharpen", "locbfactor"):
        q = _number(spec.noise_quantile, "noise quantile")
        if not 0.0 < q < 1.0:
            raise InputError(f"the noise quantile must be between 0 and 1 (0.9-0.95 "
                             f"typical), got {q:g}")
    if spec.method == "locsharpen":
        if spec.spiral != "riesz":
            raise InputError("locsharpen has no counterpart in the original code: use the "
                             "riesz spiral, not 'reference'")
        _number(spec.target_b, "target B-factor")
        if not _number(spec.smooth, "smoothing") >= 0.0:
            raise InputError(f"the smoothing of the local B map is a distance in Å (>= 0, "
                             f"3 typical), got {spec.smooth!r}")
        if not _number(spec.bfactor_min_res, "local B min resolution") > 0.0:
            raise InputError(f"the local B fit's min resolution must be positive, got "
                             f"{spec.bfactor_min_res!r}")
    if spec.method == "maturity":
        if not spec.immature:
            raise InputError("give at least one immature map")
        level = _number(spec.occupied, "highly occupied level")
        if not 0.0 < level <= 1.0:
            raise InputError(f"the highly occupied level is an occupancy between 0 and 1 "
                             f"(0.75 typical), got {level:g}")
    for name in ("min_res", "max_res", "mask_threshold"):
        if getattr(spec, name) is not None:
            _number(getattr(spec, name), name.replace("_", " "))
    if spec.mask is not None and spec.mask_threshold is not None:
        raise InputError("give either --mask or --mask-threshold, not both")
    if spec.mask_binarise is not None:
        _number(spec.mask_binarise, "mask binarise threshold")
        if spec.mask is None:
            raise InputError("--mask-binarise thresholds a --mask file; without --mask use "
                             "--mask-threshold (the automatic mask's threshold)")


def _number(value, name):
    """``value`` as a finite float, or an InputError naming the parameter."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not np.isfinite(number):
        raise InputError(f"the {name} must be a number, got {value!r}")
    return number


def _bw(spec):
    """The band width: given, else the method's default (None: the core function's own)."""
    return float(spec.bw) if spec.bw is not None else D.defaults(spec.method).bw


# -- inputs -------------------------------------------------------------------------------
def _label(source, fallback):
    return source.path if source is not None and source.path else fallback


def load_inputs(spec):
    """The map the method runs on (the half maps' average when given), the output grid,
    the immature maps; refuses masks given as maps, mixed grids, origins and voxel sizes,
    and half maps that are one map twice."""
    main = as_source(spec.map, "map", spec.voxel_size)
    h1 = as_source(spec.half1, "half1", spec.voxel_size)
    h2 = as_source(spec.half2, "half2", spec.voxel_size)
    if (main is None) == (h1 is None and h2 is None):
        raise InputError("give either a map or --half1 and --half2 (not both, not neither)")
    paths = {"map": None, "half1": None, "half2": None}
    warnings = []
    if main is not None:
        first = main.read(spec.voxel_size)
        name = "mature map" if spec.method == "maturity" else "map"
        check_density_map(first.data, name)
        volume, halves, direct = first.data, None, main.path
        paths["map"] = main.path
        label = main.path or spec.method
        read = [(name, main)]
    else:
        if h1 is None or h2 is None:
            raise InputError("half maps need both --half1 and --half2")
        check_independent_halves(None, None, same_file=_same_file(h1.path, h2.path))
        first, second = h1.read(spec.voxel_size), h2.read(spec.voxel_size)
        check_same_voxel(first.voxel_size, second.voxel_size, "half map 1", "half map 2")
        volume = core.average_half_maps(first.data, second.data)
        check_density_map(first.data, "half map 1")
        check_density_map(second.data, "half map 2")
        check_same_origin(first, second, "half map 1", "half map 2", strict=True)
        check_independent_halves(first.data, second.data)
        halves, direct = (first.data, second.data), None
        paths["half1"], paths["half2"] = h1.path, h2.path
        label = h1.path or spec.method
        read = [("half map 1", h1), ("half map 2", h2)]
    grid = first
    if spec.grid is not None:
        grid_source = as_source(spec.grid, "grid", spec.voxel_size)
        grid = grid_source.read(spec.voxel_size)
        check_same_voxel(grid.voxel_size, first.voxel_size, "map", "half map")
        if grid.data.shape != volume.shape:
            raise InputError(f"the half map grid {volume.shape} differs from the map grid "
                             f"{grid.data.shape}; give half maps on the map's grid")
        check_same_origin(grid, first, "the grid map", read[0][0])
    immature, names = [], []
    if spec.method == "maturity":
        given = list(spec.immature_names or [])
        sources = [as_source(item, f"immature map {i + 1}", spec.voxel_size)
                   for i, item in enumerate(_as_map_list(spec.immature, "immature"))]
        for i, source in enumerate(sources):
            label_i = _label(source, f"immature map {i + 1}")
            m = source.read(spec.voxel_size)
            check_same_voxel(m.voxel_size, first.voxel_size, label_i, "mature map")
            if m.data.shape != volume.shape:
                raise InputError(f"{label_i} grid {m.data.shape} differs from the mature map "
                                 f"grid {volume.shape}")
            check_same_origin(m, first, label_i, "the mature map")
            check_density_map(m.data, label_i)
            immature.append(m.data)
            read.append((label_i, source))
            stem = (given[i] if i < len(given) else
                    os.path.splitext(os.path.basename(source.path))[0] if source.path
                    else f"immature{i + 1}")
            names.append(stem)
        names = unique_names(names)
        paths["immature"] = [source.path for source in sources]
    line = voxel_override_warning(spec.voxel_size, read)
    if line:
        warnings.append(line)
    return Inputs(volume, MapData(volume, grid.voxel_size, grid.origin, grid.nstart), halves,
                  label, direct, immature, names, paths, warnings)


def voxel_override_warning(voxel_size, named_sources):
    """A warning line when ``--voxel-size`` replaces header voxel sizes that disagree with
    each other (a sign that the maps are not from one grid), or None. Decided: a warning,
    not a refusal: overriding wrong headers is what the option is for."""
    if voxel_size is None:
        return None
    headers = [(name, core.mrcio.header_voxel_size(source.path)) for name, source
               in named_sources if source is not None and source.path and source.data is None]
    headers = [(name, size) for name, size in headers if size is not None]
    sizes = [size for _, size in headers]
    if len(sizes) < 2 or max(sizes) - min(sizes) <= 1e-3 * max(sizes):
        return None
    listed = ", ".join(f"{name} {size:.4g} Å" for name, size in headers)
    return (f"--voxel-size {float(voxel_size):g} Å replaces header voxel sizes that "
            f"disagree ({listed}): check that the maps are on one grid")


def unique_names(names):
    """Names made unique (``a``, ``a_2``, ...), so per-map outputs never collide."""
    taken, out = set(), []
    for name in names:
        candidate, count = name, 1
        while candidate in taken:
            count += 1
            candidate = f"{name}_{count}"
        taken.add(candidate)
        out.append(candidate)
    return out


class MaskInfo(NamedTuple):
    mask: np.ndarray
    summary: dict


def default_mask(volume, voxel_size, threshold=None, lowpass=D.MASK_LOWPASS, dilation=None,
                 workers=None):
    """The automatic mask, one function for the CLI and the protocols:
    :func:`core.masking.auto_mask` (Relion-style: low-pass to ``lowpass`` Å, the automatic
    or given ``threshold`` applied to the low-passed map, connected objects, dilation by
    ``dilation`` Å, None: the core's default)."""
    kwargs = dict(threshold=threshold, lowpass=lowpass, workers=workers)
    if dilation is not None:
        kwargs["dilation"] = dilation
    return core.auto_mask(volume, voxel_size, **kwargs)  # scale-free (core.scale)


def make_mask(spec, inputs):
    """The mask as given (file, MapData or array) or the automatic one, with its summary."""
    volume, p = inputs.volume, inputs.grid.voxel_size
    info = {"source": None, "path": None, "threshold": None, "threshold_on": None,
            "lowpass_A": None, "dilation_A": None}
    warnings = []
    if spec.mask is not None:
        if isinstance(spec.mask, np.ndarray) or (isinstance(spec.mask, (list, tuple)) and
                                                 not isinstance(spec.mask, MapData)):
            array = np.asarray(spec.mask)
            mask = (core.validate.as_mask(array, volume.shape) if array.dtype == bool else
                    binary_mask(array, volume.shape, spec.mask_binarise))
            info["source"] = "array"
        else:
            source = as_source(spec.mask, "mask")
            m = source.read(spec.voxel_size)
            check_same_voxel(m.voxel_size, p, "mask", "map")
            if m.data.shape == volume.shape:
                check_same_origin(m, inputs.grid, "the mask", "the map")
            mask = binary_mask(m.data, volume.shape, spec.mask_binarise)
            info.update(source="file", path=source.path)
        if spec.mask_binarise is not None:
            info["binarised_at"] = float(spec.mask_binarise)
    else:
        auto = default_mask(volume, p, spec.mask_threshold, spec.mask_lowpass,
                            spec.mask_dilation, spec.workers)
        mask = core.validate.as_mask(auto.mask, volume.shape)
        lowpass = getattr(auto, "lowpass", None)
        info.update(source="auto", threshold=float(auto.threshold),
                    threshold_on=(f"{lowpass:g} Å low-passed map" if lowpass else "map"),
                    lowpass_A=float(lowpass) if lowpass else None,
                    dilation_A=_float(getattr(auto, "dilation", None)),
                    threshold_given=spec.mask_threshold is not None)
        warnings = [str(w) for w in (getattr(auto, "warnings", None) or [])]
    check_mask_size(mask)
    info.update(_mask_numbers(mask, p))
    info["warnings"] = warnings
    return MaskInfo(mask, info)


def _float(value):
    return None if value is None else float(value)


def _mask_numbers(mask, voxel_size):
    """Size of the mask; ``solvent_fraction``: the part of the box's inscribed sphere left
    outside it, where the methods measure the noise (as core.masking.auto_mask reports)."""
    from .core.noise import box_sphere
    voxels = int(np.count_nonzero(mask))
    sphere = box_sphere(mask.shape)
    return {"voxels": voxels, "volume_A3": voxels * float(voxel_size) ** 3,
            "box_fraction": voxels / mask.size,
            "solvent_fraction": float(np.count_nonzero(sphere & ~mask)) / float(sphere.sum())}


def resolve_resolution(spec, inputs, log):
    """min and max resolution (Å), the FSC resolution of the half maps and where max came
    from: given, the method's fixed default (LocOccupancy, maturity: 10 Å) or the FSC."""
    d = D.defaults(spec.method)
    min_res = float(spec.min_res) if spec.min_res is not None else d.min_res
    fsc_res = beyond = at_nyquist = None
    if inputs.halves is not None:
        curve = core.fsc(*inputs.halves, inputs.grid.voxel_size, workers=spec.workers)
        fsc_res, beyond = curve.resolution, bool(curve.beyond_nyquist)
        at_nyquist = float(curve.at_nyquist)
        if beyond and inputs.warnings is not None:
            inputs.warnings.append(
                f"the half-map FSC never falls to 0.143: the resolution is better than "
                f"Nyquist ({fsc_res:.2f} Å; the FSC is still {at_nyquist:.2f} there)"
                + (", which is used as the max resolution" if spec.max_res is None
                   and D.defaults(spec.method).max_res is None else "")
                + "; check that the half maps are independent (not from one refinement "
                "half, not masked or filtered together)")
    if spec.max_res is not None:
        max_res, source = float(spec.max_res), "given"
    elif d.max_res is not None:
        max_res, source = d.max_res, "default"
    elif fsc_res is not None:
        max_res, source = fsc_res, "fsc"
        log(f"max resolution from the half-map FSC (0.143): {fsc_res:.2f} Å")
    else:
        raise InputError("--max-res is required when no half maps are given (it defaults to "
                         "the half-map FSC 0.143 resolution)")
    res = {"min_res_A": min_res, "max_res_A": max_res, "fsc_res_A": fsc_res,
           "max_res_source": source}
    if beyond:
        # Only then (the summary's resolution keys stay as they were otherwise): the FSC
        # resolution is Nyquist, a bound, not a measurement.
        res.update(fsc_beyond_nyquist=True, fsc_at_nyquist=at_nyquist)
    return res


# -- outputs ------------------------------------------------------------------------------
def strip_map_extension(prefix):
    """``out.mrc`` -> ``out``: a prefix named like a map must not give ``out.mrc_x.mrc``."""
    base, ext = os.path.splitext(prefix)
    return base if ext.lower() in MAP_EXTENSIONS else prefix


def output_names(spec, inputs):
    names = list(OUTPUTS[spec.method])
    if spec.method == "maturity":
        for stem in inputs.immature_names:
            names += [f"{stem}_occupancy", f"{stem}_missing"]
    if spec.chimerax and inputs.direct_path is None:
        names.append("average")  # the map the scene shows, when no input file holds it
    return names


def plan_outputs(spec, inputs):
    """{name: path} of every output, the scene path (or None). Before any work: refuses
    output paths that are inputs or each other, folders, under a file or not writable
    (:func:`outputs.check_outputs`); takes the prefix's lock and finishes or undoes what an
    interrupted run on it left (:func:`outputs.hold`); then refuses to replace existing
    files without ``force``."""
    if spec.method == "maturity":
        default = "maturity"
    else:
        default = os.path.splitext(os.path.basename(inputs.label))[0]
    prefix = strip_map_extension(os.fspath(spec.prefix)) if spec.prefix else default
    if os.path.basename(prefix) in ("", ".", ".."):
        # "-o out/", "-o ." name a folder: the files go into it with their default names,
        # not as out/_locspiral.mrc or the hidden ._locspiral.mrc
        prefix = os.path.join(prefix, default)
    given = dict(spec.paths or {})
    paths = {}
    for name in output_names(spec, inputs):
        paths[name] = given.get(name) or f"{prefix}_{name}{TEXT_OUTPUTS.get(name, '.mrc')}"
    scene = None
    if spec.chimerax:
        scene = spec.scene_path or f"{prefix}_{SCENES[spec.method]}.cxc"
    planned = planned_outputs(paths, scene, spec.json_path)
    outputs.check_outputs(planned, _input_paths(spec))
    if all(name in given for name in paths):  # every map named (protocols): lock beside them
        anchor = os.path.join(os.path.dirname(os.fspath(paths[next(iter(paths))])),
                              f"locspiral_{spec.method}")
    else:
        anchor = prefix
    outputs.hold(anchor)
    existing = [p for p in planned.values() if os.path.exists(p)]
    if existing and not spec.force:
        raise InputError(f"{existing[0]} exists; choose another --output prefix or add "
                         "--force")
    return paths, scene


def planned_outputs(paths, scene, json_path):
    """Every file a run writes, by name: the maps and texts, ``scene``, the scene's display
    copies (``<name>_display``) and ``json``."""
    planned = dict(paths)
    if scene:
        planned["scene"] = scene
        from . import chimerax as cx
        for name, path in paths.items():
            copy = cx.display_path(scene, path)
            if copy in _display_paths(scene, {name: path}):
                planned[f"{name}_display"] = copy
    if json_path:
        planned["json"] = json_path
    return planned


def _input_paths(spec):
    """{label: path} of the input files of a spec (arrays and MapData have none)."""
    found = {}
    for label in ("map", "half1", "half2", "mask", "grid"):
        value = getattr(spec, label)
        if value is not None and not isinstance(value, np.ndarray):
            found[label] = as_source(value).path
    for i, item in enumerate(spec.immature or (), 1):
        found[f"immature map {i}"] = as_source(item).path
    return found


def write_text(path, write):
    """Write a text file (``write(handle)``): into the run's output set when one is being
    written, else atomically on its own (temporary beside it, then rename)."""
    active = outputs.active()
    if active is not None:
        active.write_text(path, write)
        return
    outputs.write_alone(path, write)


def write_json(path, summary):
    write_text(path, lambda handle: json.dump(_jsonable(summary), handle, indent=1,
                                               ensure_ascii=False))


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if np.isfinite(value) else None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


# -- the run ------------------------------------------------------------------------------
class _BandCounter:
    """Progress callback wrapper that remembers the number of bands swept."""

    def __init__(self, progress):
        self.progress, self.total = progress, None

    def __call__(self, done, total, message=""):
        self.total = total
        if self.progress is not None:
            self.progress(done, total, message)


def _mean_sd(values):
    values = np.asarray(values, np.float64)
    if values.size == 0:
        return None, None
    return float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0


def _occupancy_results(occupancy, mask, voxel_size, quantile, min_res, max_res):
    """LocOccupancy's summary numbers: what the map says (the share of the mask below 0.5,
    the occupied regions), what it is relative to, and the mean labelled as the constant it
    is (``1 - quantile`` by construction)."""
    from .core.occupancy import LOW_OCCUPANCY, occupancy_report
    report = occupancy_report(occupancy, mask, voxel_size, quantile, min_res, max_res)
    mean, sd = _mean_sd(occupancy[mask])
    return dict(
        occupancy_low_level=LOW_OCCUPANCY,
        occupancy_fraction_low=report.fraction_low,
        occupancy_regions=[dict(voxels=r.voxels, volume_A3=r.volume_A3,
                                median_occupancy=r.median, mean_occupancy=r.mean,
                                centre_xyz_px=list(r.centre_xyz)) for r in report.regions],
        occupancy_region_count=report.region_count,
        occupancy_speck_count=report.speck_count,
        occupancy_region_min_A3=report.min_region_A3,
        occupancy_regions_text=(f"connected regions of the mask with occupancy >= "
                                f"{LOW_OCCUPANCY:g}, largest first ({len(report.regions)} "
                                f"of {report.region_count} listed; {report.speck_count} "
                                f"specks under {report.min_region_A3:.0f} Å^3, below what "
                                f"a sweep to {max_res:.2f} Å resolves, left out)"),
        occupancy_normalisation=report.normalisation,
        occupancy_mean=mean, occupancy_sd=sd,
        occupancy_mean_text=(f"fixed by construction at 1 - quantile = {1 - quantile:g} "
                             "(each band marks that share of the mask as weak): not a "
                             "result"))

def _locbfactor_used(spec, voxel_size=None, box=None):
    """LocBFactor's estimator, band-width unit and band width (in that unit) as the core
    resolves them (``core.bfactor.fit_band``, the core's one place for it) for a box of
    ``box`` voxels; without the box a width in Fourier pixels that a window sets is None."""
    band = core.bfactor.fit_band(voxel_size, box, spec.bw, spec.estimator, spec.bw_units,
                                 spec.window, spec.spiral)
    return dict(bw=band.bw, bw_units=band.bw_units, estimator=band.estimator)


def _parameters(spec, inputs, res, results=None):
    # threads: the worker count the core resolved (None = every core), not what was asked.
    p = {"voxel_size_A": inputs.grid.voxel_size, "min_res_A": res["min_res_A"],
         "max_res_A": res["max_res_A"], "spiral": spec.spiral,
         "threads": core.filterbank.default_workers(spec.workers)}
    # Band width: Fourier pixels except LocBFactor, whose estimator, unit and width the core
    # chooses when not given: the values it used, so that the JSON reruns the same fit.
    if spec.method == "locbfactor":
        p.update(_locbfactor_used(spec, inputs.grid.voxel_size,
                                  max(inputs.volume.shape)))
    else:
        p["bw_px"] = _bw(spec)
    m = spec.method
    if m in ("locspiral", "locbsharpen", "locsharpen", "locbfactor"):
        p["noise_quantile"] = float(spec.noise_quantile)
    if m == "locspiral":
        p["snr_weight"] = bool(spec.snr_weight)
    if m == "locbsharpen":
        p["sharpen_res_A"] = float(spec.sharpen_res)
    if m == "locbfactor":
        p.update(num_points=int(spec.num_points), filtered=bool(spec.filtered),
                 amplitude_at=spec.amplitude_at)
        # The spatial window (FWHM, Å) the fit averaged over: what "local" meant.
        p["window_A"] = core.bfactor.fit_band(
            inputs.grid.voxel_size, max(inputs.volume.shape), spec.bw, spec.estimator,
            spec.bw_units, spec.window, spec.spiral).window
    if m == "locsharpen":
        p.update(target_b_A2=float(spec.target_b), smooth_A=float(spec.smooth),
                 bfactor_min_res_A=float(spec.bfactor_min_res),
                 num_points=int(spec.num_points), weight="wiener")
        # The core decides where the Wiener weight's noise came from (results.noise_source:
        # half maps, solvent, beyond max_res or none); say what it used, not what the inputs
        # suggest. "filtered" is the fit asked for: the core falls back to the plain fit when
        # the solvent gives no noise levels, which is certain for "beyond max_res" / "none".
        source = (results or {}).get("noise_source")
        if source is None:
            source = "half maps" if inputs.halves is not None else "solvent"
        p.update(noise_from=source,
                 filtered=D.SHARPEN_FILTERED and source not in ("beyond max_res", "none"))
    if m in ("lococcupancy", "maturity"):
        p["occupancy_quantile"] = float(spec.quantile)
    if m == "maturity":
        p["occupied_level"] = float(spec.occupied)
    return p


# summary["parameters"] key -> RunSpec field (the others, e.g. "weight", are derived).
_SPEC_FIELDS = {
    "voxel_size_A": "voxel_size", "min_res_A": "min_res", "max_res_A": "max_res",
    "spiral": "spiral", "threads": "workers", "bw_px": "bw", "bw": "bw",
    "bw_units": "bw_units", "estimator": "estimator", "noise_quantile": "noise_quantile",
    "snr_weight": "snr_weight", "sharpen_res_A": "sharpen_res", "num_points": "num_points",
    "filtered": "filtered", "amplitude_at": "amplitude_at", "occupancy_quantile": "quantile",
    "occupied_level": "occupied", "target_b_A2": "target_b", "smooth_A": "smooth",
    "bfactor_min_res_A": "bfactor_min_res", "window_A": "window",
}


def spec_from_summary(summary, **overrides):
    """A :class:`RunSpec` that reruns the run a JSON summary describes: its inputs, mask and
    every parameter it used (``overrides``: e.g. a new ``prefix`` or ``json_path``). Only
    file inputs can be rerun; a mask given as an array cannot."""
    from dataclasses import fields
    known = {f.name for f in fields(RunSpec)}
    method, inputs, mask = summary["method"], summary["inputs"], summary["mask"]
    kw = {field: summary["parameters"][key] for key, field in _SPEC_FIELDS.items()
          if key in summary["parameters"] and field in known}
    if method == "locsharpen":
        kw.pop("filtered", None)  # LocSharpen's fit is always filtered (not a spec field)
    if kw.get("estimator") == "published" and kw.get("bw") is not None:
        # Published LocBFactor: no smoothing, so the window is the band's own envelope and
        # the core takes one or the other; the band width reruns it exactly.
        kw.pop("window", None)
    for name in ("map", "half1", "half2"):
        if inputs.get(name):
            kw[name] = inputs[name]
    if method == "maturity":
        kw["immature"] = list(inputs["immature"])
        kw["immature_names"] = [e["name"] for e in summary["results"]["maturity"]]
    if mask["source"] == "file":
        kw["mask"] = mask["path"]
        if mask.get("binarised_at") is not None and "mask_binarise" in known:
            kw["mask_binarise"] = mask["binarised_at"]
    elif mask["source"] == "auto":
        if mask.get("lowpass_A") is not None:
            kw["mask_lowpass"] = mask["lowpass_A"]
        kw["mask_dilation"] = mask.get("dilation_A")
        if mask.get("threshold_given"):
            kw["mask_threshold"] = mask["threshold"]
    else:
        raise InputError("this run's mask was given as an array, not a file: save it as an "
                         "MRC file and give it as the mask to rerun")
    kw.update(overrides)
    return RunSpec(method, **kw)


def _locsharpen(spec, inputs, mask, res, common, warnings_out):
    """LocSharpen through the core (half maps, when given, set the Wiener weight's noise);
    the core's UserWarnings (a solvent-masked map) become summary warning lines."""
    v, p = inputs.volume, inputs.grid.voxel_size
    lo, hi = res["min_res_A"], res["max_res_A"]
    low = float(spec.bfactor_min_res)
    try:
        core.validate.check_resolutions(p, low, hi, v.shape)
    except InputError as exc:
        raise InputError(f"the local B fit ({low:g} Å to the max resolution): {exc}") from None
    with pywarnings.catch_warnings(record=True) as caught:
        pywarnings.simplefilter("always", UserWarning)
        r = core.locsharpen(v, mask, p, lo, hi, spec.noise_quantile, _bw(spec),
                            target_b=float(spec.target_b),
                            bfactor_min_res=float(spec.bfactor_min_res),
                            num_points=int(spec.num_points), filtered=D.SHARPEN_FILTERED,
                            smooth=float(spec.smooth), half_maps=inputs.halves, **common)
    for w in caught:
        if issubclass(w.category, UserWarning):
            warnings_out.append(str(w.message))
        else:  # not ours to turn into a line: pass it on as it came
            pywarnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    arrays = {"locsharpen": r.map, "locsharpen_bfactor": r.bfactor}
    inside = r.bfactor[mask]
    mean, sd = _mean_sd(inside)
    glob = global_guinier(v, p, low, hi, mask=mask, workers=spec.workers)
    results = dict(
        bfactor_mean_A2=mean, bfactor_sd_A2=sd,
        bfactor_median_A2=float(np.median(inside)) if inside.size else None,
        fit_voxels=int(np.count_nonzero(r.mask)),
        target_b_A2=float(spec.target_b), global_bfactor_A2=glob,
        global_bfactor_range_A=[low, hi],
        global_bfactor_text=f"global Guinier B over {low:g}-{hi:.2f} Å in the mask",
        # The core picks the noise (and filters the B fit only where the solvent is usable);
        # "none": no noise estimate, the map was only low-passed, not sharpened.
        noise_source=getattr(r, "noise", None),
        sharpened=getattr(r, "noise", None) != "none")
    return arrays, results


def compute(spec, inputs, mask, res, progress=None, warnings_out=None):
    """Run the method: ({name: array}, results dict, mask to write, extra texts). Warning
    lines of the method itself (LocSharpen: a solvent-masked map) go to ``warnings_out``."""
    warnings_out = [] if warnings_out is None else warnings_out
    v, p = inputs.volume, inputs.grid.voxel_size
    lo, hi = res["min_res_A"], res["max_res_A"]
    counter = _BandCounter(progress)
    common = dict(spiral=spec.spiral, workers=spec.workers, progress=counter)
    bw = _bw(spec)
    m = spec.method
    results, texts, out_mask = {}, {}, mask
    if m == "locspiral":
        r = core.locspiral(v, mask, p, lo, hi, spec.noise_quantile, bw,
                           snr_weight=spec.snr_weight, **common)
        arrays = {"locspiral": r.map, "locspiral_quality": r.quality}
    elif m == "locbsharpen":
        r = core.locbsharpen(v, mask, p, lo, hi, spec.noise_quantile, bw,
                             sharpen_res=spec.sharpen_res, **common)
        arrays = {"locbsharpen": r.map, "locbsharpen_quality": r.quality}
    elif m == "locsharpen":
        arrays, extra = _locsharpen(spec, inputs, mask, res, common, warnings_out)
        results.update(extra)
    elif m == "locbfactor":
        extra = {name: getattr(spec, name) for name in ("estimator", "bw_units", "window")
                 if getattr(spec, name) is not None}
        r = core.locbfactor(v, mask, p, lo, hi, spec.num_points, spec.noise_quantile, bw,
                            filtered=spec.filtered, amplitude_at=spec.amplitude_at,
                            **extra, **common)
        arrays = {"bfactor": r.bfactor, "amplitude": r.amplitude}
        out_mask = r.mask
        inside = r.bfactor[r.mask]
        mean, sd = _mean_sd(inside)
        # The global B over the local fit's own range, inside the mask (solvent noise would
        # flatten the whole box's spectrum), so the two numbers compare like with like.
        glob = global_guinier(v, p, lo, hi, mask=mask, workers=spec.workers)
        results.update(
            bfactor_mean_A2=mean, bfactor_sd_A2=sd,
            bfactor_median_A2=float(np.median(inside)) if inside.size else None,
            fit_voxels=int(inside.size), global_bfactor_A2=glob,
            global_bfactor_range_A=[lo, hi],
            global_bfactor_text=f"global Guinier B over {lo:g}-{hi:.2f} Å in the mask")
        texts["noise_curve"] = (np.column_stack([r.res_square, r.noise]),
                                "res_square (1/A^2)  noise (log amplitude units, as the fit)")
    elif m == "lococcupancy":
        occupancy = core.lococcupancy(v, mask, p, lo, hi, spec.quantile, bw, **common)
        arrays = {"occupancy": occupancy}
        results.update(_occupancy_results(occupancy, mask, p, spec.quantile, lo, hi))
    else:  # maturity
        rs = core.maturity_index(mask, inputs.immature, p, lo, hi, spec.occupied,
                                 spec.quantile, bw, mature_map=v, **common)
        arrays, entries = {}, []
        for position, (name, r) in enumerate(zip(inputs.immature_names, rs), 1):
            arrays[f"{name}_occupancy"], arrays[f"{name}_missing"] = r.occupancy, r.missing
            entries.append({"position": position, "name": name, "index": float(r.index),
                            "normalised_index": r.normalised,
                            "outputs": {"occupancy": f"{name}_occupancy",
                                        "missing": f"{name}_missing"}})
        results["maturity"] = entries
        results["maturity_index"] = {e["name"]: e["index"] for e in entries}
        # The published index does not reach 1 for the mature map itself: the normalised
        # one divides by the mature map's own index (mature = 1, nothing there = 0).
        results["maturity_normalised_index"] = {e["name"]: e["normalised_index"]
                                                for e in entries}
        results["mature_reference_index"] = rs[0].reference_index if rs else None
        results["occupancy_normalisation"] = core.occupancy.normalisation_text(
            spec.quantile, lo, hi, reference=True)
        if counter.total:
            counter.total //= len(rs)  # the core counts bands over all maps
    results["num_bands"] = counter.total
    return arrays, results, out_mask, texts


def _scene(spec, inputs, mask, fit_mask, paths, scene, arrays, results):
    """Write the method's ChimeraX scene (``mask``: the mask used; ``fit_mask``: LocBFactor's
    fitted voxels, where the colour ranges are taken)."""
    from . import chimerax as cx
    grid = inputs.grid
    kw = dict(voxel_size=grid.voxel_size,
              origin=cx.map_origin(grid.origin, grid.nstart, grid.voxel_size))
    original = inputs.direct_path or paths["average"]
    level = cx.suggest_level(inputs.volume, mask)
    m = spec.method
    if m in ("locspiral", "locbsharpen"):
        cx.enhancement_script(
            scene, paths[m], original, **kw, level_enhanced=cx.suggest_level(arrays[m], mask),
            level_original=level, quality=paths[f"{m}_quality"],
            quality_range=cx.robust_range(arrays[f"{m}_quality"], mask), mask=mask,
            title="LocSpiral enhanced map" if m == "locspiral" else "LocBSharpen map")
    elif m == "locsharpen":
        # The sharpened map over the input; no W (LocSharpen has no quality map).
        cx.enhancement_script(
            scene, paths[m], original, **kw, level_enhanced=cx.suggest_level(arrays[m], mask),
            level_original=level, mask=mask, title="LocSharpen map",
            model_id=cx.SCENE_MODEL_IDS["locsharpen"])
    elif m == "locbfactor":
        vmin, vmax = cx.robust_range(arrays["bfactor"], fit_mask)
        cx.bfactor_script(scene, original, paths["bfactor"], paths["amplitude"], **kw,
                          level=level, vmin=vmin, vmax=vmax, mask=fit_mask,
                          amplitude_range=cx.robust_range(arrays["amplitude"], fit_mask))
    elif m == "lococcupancy":
        cx.occupancy_script(scene, original, paths["occupancy"], **kw, level=level, mask=mask)
    else:
        entries = results["maturity"]
        cx.maturity_script(scene, original, [paths[e["outputs"]["missing"]] for e in entries],
                           **kw, level=level, names=[e["name"] for e in entries],
                           indices=[e["index"] for e in entries])


def _display_paths(scene, paths):
    """The display copies a scene writes beside itself for the value maps it colours by."""
    if not scene:
        return []
    from . import chimerax as cx
    names = [n for n in paths if n in ("bfactor", "amplitude", "occupancy")
             or n.endswith("_quality")]
    return [cx.display_path(scene, paths[n]) for n in names]


def _display_outputs(scene, paths):
    """``{<name>_display: path}`` of the display copies the scene writes (``_display_paths``),
    for the summary's outputs."""
    written = set(_display_paths(scene, paths))
    if not written:
        return {}
    from . import chimerax as cx
    # Named like the scene: relative when it is, as the other outputs are given.
    shown = (lambda p: p) if os.path.isabs(scene) else os.path.relpath
    return {f"{name}_display": shown(cx.display_path(scene, path))
            for name, path in paths.items() if cx.display_path(scene, path) in written}


def run(spec, progress=None, log=None):
    """Do the whole run: check, load, plan and lock the outputs, mask, resolution,
    compute, then write every output (maps, texts, scene with its display copies, JSON) as
    one set that is committed together or not at all (:mod:`locspiral_em.outputs`).
    Raises :class:`InputError` for bad input before anything is written and
    :class:`outputs.OutputError` when writing fails (disk full...): then nothing of the set
    was written and existing outputs are unchanged. ``progress(done, total, message)``
    per band; ``log(line)`` for information lines (the FSC resolution when it is used; what
    was done with the leftovers of an interrupted earlier run)."""
    with outputs.run_scope(log):  # the prefix's lock is held until the run ends
        return _run(spec, progress, log)


def _run(spec, progress=None, log=None):
    log = log or (lambda line: None)
    check_parameters(spec)
    inputs = load_inputs(spec)
    paths, scene = plan_outputs(spec, inputs)
    mask_info = make_mask(spec, inputs)
    mask = mask_info.mask
    res = resolve_resolution(spec, inputs, log)
    core.validate.check_resolutions(inputs.grid.voxel_size, res["min_res_A"],
                                    res["max_res_A"], inputs.volume.shape)
    warnings = list(mask_info.summary["warnings"]) + list(inputs.warnings or [])
    for line in input_warnings(inputs.volume, inputs.grid.voxel_size, res["max_res_A"],
                               res["fsc_res_A"], spec.workers):
        # The automatic mask already says when the map looks masked: say it once.
        if not (line.startswith("the map looks masked") and
                any(w.startswith("the map looks masked") for w in warnings)):
            warnings.append(line)
    arrays, results, out_mask, texts = compute(spec, inputs, mask, res, progress,
                                               warnings_out=warnings)
    check_finite_outputs(arrays)  # refuse rather than write NaN or Inf
    if "global_bfactor_range_A" in results and results.get("global_bfactor_A2") is None:
        low, high = results["global_bfactor_range_A"]
        warnings.append(f"no global Guinier B: too few Fourier shells between {low:g} and "
                        f"{high:.2f} Å")
    res["num_bands"] = results["num_bands"]
    inputs_summary = dict(inputs.paths, mask=mask_info.summary["path"])
    summary = {
        "method": spec.method, "version": __version__, "schema": SCHEMA_VERSION,
        "inputs": inputs_summary, "parameters": _parameters(spec, inputs, res, results),
        "mask": mask_info.summary, "resolution": res,
        "outputs": dict(paths, **_display_outputs(scene, paths)), "scene": scene,
        "results": results, "warnings": warnings,
    }
    maps = dict(arrays, mask=out_mask.astype(np.float32), average=inputs.volume)
    # Every file is staged beside its final path, then all are renamed into place together
    # (the JSON last: it lists them); a failure or Ctrl-C before that leaves no trace.
    anchor = outputs.current_anchor() or paths[next(iter(paths))]
    with outputs.OutputSet(anchor, planned_outputs(paths, scene, spec.json_path)) as staged:
        with staged.active():  # the scene reads and writes the staged maps
            for name in paths:
                if name not in TEXT_OUTPUTS:
                    staged.write_map(paths[name], maps[name], inputs.grid.voxel_size,
                                     inputs.grid.origin, inputs.grid.nstart)
            for name, (table, header) in texts.items():
                write_text(paths[name], lambda h, t=table, c=header: np.savetxt(h, t, header=c))
            if scene:
                _scene(spec, inputs, mask, out_mask, paths, scene, arrays, results)
            if spec.json_path:
                write_json(spec.json_path, summary)
        staged.commit()
    return RunResult(summary, arrays, out_mask, inputs.volume)


# -- text ---------------------------------------------------------------------------------
def mask_text(mask):
    """One line describing the mask of a summary (CLI output, protocol log and summary)."""
    size = (f"{mask['voxels']} voxels ({mask['volume_A3']:.4g} Å^3, "
            f"{100 * mask['box_fraction']:.1f}% of the box)")
    if mask["source"] == "file":
        return f"mask: {mask['path']}, {size}"
    if mask["source"] == "array":
        return f"mask: given, {size}"
    how = "given" if mask.get("threshold_given") else "automatic"
    text = f"mask: {how} threshold {mask['threshold']:.4g} on the {mask['threshold_on']}"
    if mask.get("dilation_A"):
        text += f", dilated by {mask['dilation_A']:g} Å"
    return f"{text}, {size}"


def result_text(summary):
    """The result line of a summary, as the CLI prints it."""
    m, res, r = summary["method"], summary["resolution"], summary["results"]
    span = f"{res['min_res_A']:g}-{res['max_res_A']:.2f} Å"
    out = summary["outputs"]
    if m in ("locspiral", "locbsharpen"):
        return f"{m}: {span}, wrote {out[m]} and {out[m + '_quality']}"
    if m == "locsharpen":
        glob = r["global_bfactor_A2"]
        glob = "n/a" if glob is None else f"{glob:.1f} Å^2"
        # A map without a noise estimate comes back only low-passed: the result line says
        # so, not only a warning above it.
        how = ("NOT sharpened (no usable noise estimate: the output is the input low-passed "
               f"at {res['max_res_A']:.2f} Å)" if r.get("sharpened") is False else
               f"target B {r['target_b_A2']:g} Å^2, noise from {r.get('noise_source')}")
        return (f"locsharpen: {span}, local B used inside the mask mean "
                f"{r['bfactor_mean_A2']:.1f} Å^2 ({r['global_bfactor_text']} {glob}), "
                f"{how}; wrote {out['locsharpen']} and {out['locsharpen_bfactor']}")
    if m == "locbfactor":
        glob = r["global_bfactor_A2"]
        glob = "n/a" if glob is None else f"{glob:.1f} Å^2"
        return (f"locbfactor: {span}, B inside the mask mean {r['bfactor_mean_A2']:.1f} Å^2, "
                f"SD {r['bfactor_sd_A2']:.1f} Å^2 ({r['global_bfactor_text']} {glob}); "
                f"wrote {out['bfactor']}")
    if m == "lococcupancy":
        # Not the mean: it is 1 - quantile by construction. Where it is low is the result.
        regions = r["occupancy_regions"]
        shown = "; ".join(f"{g['volume_A3']:.0f} Å^3 median {g['median_occupancy']:.2f}"
                          for g in regions[:3])
        more = f" (+{r['occupancy_region_count'] - 3} more)" \
            if r["occupancy_region_count"] > 3 else ""
        return (f"lococcupancy: {span}, {100 * r['occupancy_fraction_low']:.1f}% of the mask "
                f"below {r['occupancy_low_level']:g}; {r['occupancy_region_count']} region(s) "
                f"at or above it: {shown or 'none'}{more}; {r['occupancy_normalisation']}; "
                f"wrote {out['occupancy']}")
    def normalised(e):
        value = e.get("normalised_index")
        return "n/a" if value is None else f"{value:.3f}"
    timeline = ", ".join(f"{e['name']} {e['index']:.3f} (normalised {normalised(e)})"
                         for e in sorted(r["maturity"], key=lambda e: e["index"]))
    return (f"maturity index, published (fraction of the mature mask highly occupied; the "
            f"mature map itself scores {r.get('mature_reference_index') or 0:.3f}) and "
            f"normalised (mature map = 1, nothing = 0), least to most mature: {timeline}")
