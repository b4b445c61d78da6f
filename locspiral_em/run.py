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
                 bw, bw_units, estimator; null = the core's default), noise_quantile,
                 snr_weight, sharpen_res_A, num_points, filtered, amplitude_at,
                 occupancy_quantile, occupied_level, target_b_A2, smooth_A,
                 bfactor_min_res_A, weight, noise_from: those of the method}
    mask        {source: file|array|auto, path, threshold (on the low-passed map),
                 threshold_on, threshold_given, lowpass_A, dilation_A, voxels, volume_A3,
                 box_fraction, solvent_fraction (of the box's inscribed sphere, outside the
                 mask: where the noise is measured), warnings}
    resolution  {min_res_A, max_res_A, fsc_res_A (null without half maps),
                 max_res_source: given|fsc|default, num_bands}
    outputs     {name: path}   every file written (maps, "mask", LocBFactor's
                 "noise_curve" text, "average" for the scene when no input file holds the
                 map the method ran on)
    scene       path of the ChimeraX .cxc script, or null
    results     locbfactor: bfactor_mean_A2, bfactor_sd_A2, bfactor_median_A2,
                fit_voxels, global_bfactor_A2 (null when the range is too narrow),
                global_bfactor_range_A [low, high] (= min_res, max_res), global_bfactor_text;
                locsharpen: bfactor_mean_A2, bfactor_sd_A2 (the smoothed local B map that
                drove the sharpening, inside the mask), fit_voxels, target_b_A2,
                global_bfactor_A2 (the input's global Guinier B in the mask over the local
                fit's range, for comparison; null when too narrow), global_bfactor_range_A
                [bfactor_min_res, max_res], global_bfactor_text;
                lococcupancy: occupancy_mean, occupancy_sd; maturity: maturity [{position,
                name, index, outputs: {occupancy, missing}}], maturity_index {name: index};
                every method: num_bands
    warnings    [lines]  (mask warnings are also under mask.warnings)
"""
import json
import os
import tempfile
import warnings as pywarnings
from dataclasses import dataclass
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import numpy as np

from . import __version__, core
from .core import InputError, MapData
from .core import defaults as D
from .core import masking

SCHEMA_VERSION = 1
MAP_EXTENSIONS = (".mrc", ".map", ".ccp4", ".mrcs", ".rec")

# An unsharpened map's global Guinier B is clearly negative (blur); a sharpened one is
# flattened to about 0. Measured on the protocol tests' phantom (56^3, 1.2 Å, noise 0.5;
# 15 Å to FSC 2.98 Å, whole box): -43 Å^2 as is, -13 after sharpening by 30 Å^2, +17 after
# 60. Whole box, not masked: a binary mask's edge adds power at high resolution that keeps
# a masked fit near 0 for any sharpening.
SHARPENED_B = -10.0
GUINIER_LOW_RES = 15.0      # Å, low end of the sharpening check (LocBFactor's default)
GUINIER_MIN_HIGH = 8.0      # Å: the check needs a high end finer than this
MASKED_FRACTION = 0.5       # of the box corners equal to one value: the map was masked

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


def as_source(value):
    if value is None or isinstance(value, MapSource):
        return value
    if isinstance(value, MapData):
        return MapSource(None, value)
    return MapSource(os.fspath(value), None)


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


# -- checks -------------------------------------------------------------------------------
def check_same_voxel(a, b, name_a, name_b):
    if abs(a - b) > 1e-3 * max(a, b):
        raise InputError(f"{name_a} voxel size {a:g} Å differs from {name_b} voxel size "
                         f"{b:g} Å; resample them onto one grid")


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


def looks_masked(volume):
    """A warning line when the box corners (outside the inscribed sphere, solvent for a
    centred particle) are mostly one exact value: the map was masked (noise statistics need
    the solvent noise)."""
    from .core.noise import box_sphere
    volume = np.asarray(volume)
    corners = volume[~box_sphere(volume.shape)]
    if corners.size == 0:
        return None
    value = corners.flat[0]
    fraction = float(np.count_nonzero(corners == value)) / corners.size
    if fraction < MASKED_FRACTION:
        return None
    return (f"the map looks masked: {100 * fraction:.0f}% of the solvent in the box corners "
            f"is exactly {float(value):g}; the methods estimate noise from the solvent, so "
            "give the unmasked map (e.g. the average of the unfiltered half maps)")


def global_guinier(volume, voxel_size, low, high, mask=None, workers=None):
    """Global Guinier B (Å^2, sharpening sign) over ``low``-``high`` Å, or None when the
    range holds too few shells."""
    try:
        return core.global_bfactor(volume, voxel_size, low, high, mask=mask,
                                   workers=workers).bfactor
    except InputError:
        return None


def looks_sharpened(volume, voxel_size, high_res, workers=None):
    """A warning line when the global Guinier B of the whole box from 15 Å to ``high_res``
    is near 0 or positive (an unsharpened map decays: clearly negative)."""
    if high_res is None or high_res >= GUINIER_MIN_HIGH:
        return None
    high = max(float(high_res), 2.0 * float(voxel_size))
    b = global_guinier(volume, voxel_size, GUINIER_LOW_RES, high, workers=workers)
    if b is None or b <= SHARPENED_B:
        return None
    return (f"the map looks already sharpened: its global Guinier B over "
            f"{GUINIER_LOW_RES:g}-{high:.2f} Å is {b:+.1f} Å^2 (unsharpened maps are below "
            f"{SHARPENED_B:g}); the methods expect the unsharpened map (e.g. the average of "
            "the unfiltered half maps)")


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
    the immature maps; refuses masks given as maps, mixed grids and voxel sizes."""
    main, h1, h2 = as_source(spec.map), as_source(spec.half1), as_source(spec.half2)
    if (main is None) == (h1 is None and h2 is None):
        raise InputError("give either a map or --half1 and --half2 (not both, not neither)")
    paths = {"map": None, "half1": None, "half2": None}
    if main is not None:
        first = main.read(spec.voxel_size)
        name = "mature map" if spec.method == "maturity" else "map"
        check_density_map(first.data, name)
        volume, halves, direct = first.data, None, main.path
        paths["map"] = main.path
        label = main.path or spec.method
    else:
        if h1 is None or h2 is None:
            raise InputError("half maps need both --half1 and --half2")
        first, second = h1.read(spec.voxel_size), h2.read(spec.voxel_size)
        check_same_voxel(first.voxel_size, second.voxel_size, "half map 1", "half map 2")
        volume = core.average_half_maps(first.data, second.data)
        check_density_map(first.data, "half map 1")
        check_density_map(second.data, "half map 2")
        halves, direct = (first.data, second.data), None
        paths["half1"], paths["half2"] = h1.path, h2.path
        label = h1.path or spec.method
    grid = first
    if spec.grid is not None:
        grid = as_source(spec.grid).read(spec.voxel_size)
        check_same_voxel(grid.voxel_size, first.voxel_size, "map", "half map")
        if grid.data.shape != volume.shape:
            raise InputError(f"the half map grid {volume.shape} differs from the map grid "
                             f"{grid.data.shape}; give half maps on the map's grid")
    immature, names = [], []
    if spec.method == "maturity":
        given = list(spec.immature_names or [])
        for i, item in enumerate(spec.immature):
            source = as_source(item)
            label_i = _label(source, f"immature map {i + 1}")
            m = source.read(spec.voxel_size)
            check_same_voxel(m.voxel_size, first.voxel_size, label_i, "mature map")
            if m.data.shape != volume.shape:
                raise InputError(f"{label_i} grid {m.data.shape} differs from the mature map "
                                 f"grid {volume.shape}")
            check_density_map(m.data, label_i)
            immature.append(m.data)
            stem = (given[i] if i < len(given) else
                    os.path.splitext(os.path.basename(source.path))[0] if source.path
                    else f"immature{i + 1}")
            names.append(stem)
        names = unique_names(names)
        paths["immature"] = [as_source(item).path for item in spec.immature]
    return Inputs(volume, MapData(volume, grid.voxel_size, grid.origin, grid.nstart), halves,
                  label, direct, immature, names, paths)


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
    return masking.auto_mask(volume, voxel_size, **kwargs)


def make_mask(spec, inputs):
    """The mask as given (file, MapData or array) or the automatic one, with its summary."""
    volume, p = inputs.volume, inputs.grid.voxel_size
    info = {"source": None, "path": None, "threshold": None, "threshold_on": None,
            "lowpass_A": None, "dilation_A": None}
    warnings = []
    if spec.mask is not None:
        if isinstance(spec.mask, np.ndarray):
            mask = core.validate.as_mask(spec.mask, volume.shape)
            info["source"] = "array"
        else:
            source = as_source(spec.mask)
            m = source.read(spec.voxel_size)
            check_same_voxel(m.voxel_size, p, "mask", "map")
            mask = core.validate.as_mask(m.data, volume.shape)
            info.update(source="file", path=source.path)
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
    fsc_res = None
    if inputs.halves is not None:
        fsc_res = core.fsc(*inputs.halves, inputs.grid.voxel_size,
                           workers=spec.workers).resolution
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
    return {"min_res_A": min_res, "max_res_A": max_res, "fsc_res_A": fsc_res,
            "max_res_source": source}


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
    """{name: path} of every output, the scene path (or None); refuses to replace existing
    files without ``force``."""
    if spec.prefix:
        prefix = strip_map_extension(os.fspath(spec.prefix))
    elif spec.method == "maturity":
        prefix = "maturity"
    else:
        prefix = os.path.splitext(os.path.basename(inputs.label))[0]
    given = dict(spec.paths or {})
    paths = {}
    for name in output_names(spec, inputs):
        paths[name] = given.get(name) or f"{prefix}_{name}{TEXT_OUTPUTS.get(name, '.mrc')}"
    scene = None
    if spec.chimerax:
        scene = spec.scene_path or f"{prefix}_{SCENES[spec.method]}.cxc"
    others = [p for p in (scene, spec.json_path) if p]
    existing = [p for p in list(paths.values()) + others if os.path.exists(p)]
    if existing and not spec.force:
        raise InputError(f"{existing[0]} exists; choose another --output prefix or add "
                         "--force")
    return paths, scene


def write_text(path, write):
    """Write a text file atomically (temporary file in the same folder, then rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".txt", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            write(handle)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


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


def _parameters(spec, inputs, res):
    p = {"voxel_size_A": inputs.grid.voxel_size, "min_res_A": res["min_res_A"],
         "max_res_A": res["max_res_A"], "spiral": spec.spiral, "threads": spec.workers}
    # Band width: Fourier pixels except LocBFactor's debiased estimator (Å^-1), whose
    # default (None) the core chooses.
    if spec.method == "locbfactor":
        p.update(bw=_bw(spec), bw_units=spec.bw_units, estimator=spec.estimator)
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
    if m == "locsharpen":
        p.update(target_b_A2=float(spec.target_b), smooth_A=float(spec.smooth),
                 bfactor_min_res_A=float(spec.bfactor_min_res),
                 num_points=int(spec.num_points), filtered=D.SHARPEN_FILTERED,
                 weight="wiener",
                 noise_from="half maps" if inputs.halves is not None else "solvent")
    if m in ("lococcupancy", "maturity"):
        p["occupancy_quantile"] = float(spec.quantile)
    if m == "maturity":
        p["occupied_level"] = float(spec.occupied)
    return p


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
        bfactor_mean_A2=mean, bfactor_sd_A2=sd, fit_voxels=int(np.count_nonzero(r.mask)),
        target_b_A2=float(spec.target_b), global_bfactor_A2=glob,
        global_bfactor_range_A=[low, hi],
        global_bfactor_text=f"global Guinier B over {low:g}-{hi:.2f} Å in the mask")
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
        extra = {name: getattr(spec, name) for name in ("estimator", "bw_units")
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
        results["occupancy_mean"], results["occupancy_sd"] = _mean_sd(occupancy[mask])
    else:  # maturity
        rs = core.maturity_index(mask, inputs.immature, p, lo, hi, spec.occupied,
                                 spec.quantile, bw, mature_map=v, **common)
        arrays, entries = {}, []
        for position, (name, r) in enumerate(zip(inputs.immature_names, rs), 1):
            arrays[f"{name}_occupancy"], arrays[f"{name}_missing"] = r.occupancy, r.missing
            entries.append({"position": position, "name": name, "index": float(r.index),
                            "outputs": {"occupancy": f"{name}_occupancy",
                                        "missing": f"{name}_missing"}})
        results["maturity"] = entries
        results["maturity_index"] = {e["name"]: e["index"] for e in entries}
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


def run(spec, progress=None, log=None):
    """Do the whole run: check, load, mask, resolution, compute, then write every output
    (the noise curve and the scene, then the maps all-or-nothing, then the JSON summary).
    Raises :class:`InputError` for bad input before anything is written; on a failure
    while writing, the files this run created are removed (and no map was replaced if the
    failure came before the maps). ``progress(done, total, message)``
    per band; ``log(line)`` for information lines (the FSC resolution when it is used)."""
    log = log or (lambda line: None)
    check_parameters(spec)
    inputs = load_inputs(spec)
    paths, scene = plan_outputs(spec, inputs)
    mask_info = make_mask(spec, inputs)
    mask = mask_info.mask
    res = resolve_resolution(spec, inputs, log)
    core.validate.check_resolutions(inputs.grid.voxel_size, res["min_res_A"],
                                    res["max_res_A"], inputs.volume.shape)
    warnings = list(mask_info.summary["warnings"])
    for line in input_warnings(inputs.volume, inputs.grid.voxel_size, res["max_res_A"],
                               res["fsc_res_A"], spec.workers):
        # The automatic mask already says when the map looks masked: say it once.
        if not (line.startswith("the map looks masked") and
                any(w.startswith("the map looks masked") for w in warnings)):
            warnings.append(line)
    arrays, results, out_mask, texts = compute(spec, inputs, mask, res, progress,
                                               warnings_out=warnings)
    if "global_bfactor_range_A" in results and results.get("global_bfactor_A2") is None:
        low, high = results["global_bfactor_range_A"]
        warnings.append(f"no global Guinier B: too few Fourier shells between {low:g} and "
                        f"{high:.2f} Å")
    res["num_bands"] = results["num_bands"]
    inputs_summary = dict(inputs.paths, mask=mask_info.summary["path"])
    summary = {
        "method": spec.method, "version": __version__, "schema": SCHEMA_VERSION,
        "inputs": inputs_summary, "parameters": _parameters(spec, inputs, res),
        "mask": mask_info.summary, "resolution": res,
        "outputs": dict(paths), "scene": scene, "results": results, "warnings": warnings,
    }
    maps = dict(arrays, mask=out_mask.astype(np.float32), average=inputs.volume)
    created = [p for p in list(paths.values()) + [scene, spec.json_path]
               + _display_paths(scene, paths) if p and not os.path.exists(p)]
    try:
        # Small text files first, so that a failure there (disk full) happens before any
        # map is replaced; the maps go all-or-nothing; then the scene (its grey-outside-the-
        # mask display copies are made from the written maps); the JSON last (it lists them).
        for name, (table, header) in texts.items():
            write_text(paths[name], lambda h, t=table, c=header: np.savetxt(h, t, header=c))
        core.write_maps([(paths[name], maps[name]) for name in paths
                         if name not in TEXT_OUTPUTS], inputs.grid.voxel_size,
                        inputs.grid.origin, inputs.grid.nstart)
        if scene:
            _scene(spec, inputs, mask, out_mask, paths, scene, arrays, results)
        if spec.json_path:
            write_json(spec.json_path, summary)
    except BaseException:
        for path in created:
            if os.path.exists(path):
                os.remove(path)
        raise
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
        return (f"locsharpen: {span}, local B used inside the mask mean "
                f"{r['bfactor_mean_A2']:.1f} Å^2 ({r['global_bfactor_text']} {glob}), "
                f"target B {r['target_b_A2']:g} Å^2; wrote {out['locsharpen']} and "
                f"{out['locsharpen_bfactor']}")
    if m == "locbfactor":
        glob = r["global_bfactor_A2"]
        glob = "n/a" if glob is None else f"{glob:.1f} Å^2"
        return (f"locbfactor: {span}, B inside the mask mean {r['bfactor_mean_A2']:.1f} Å^2, "
                f"SD {r['bfactor_sd_A2']:.1f} Å^2 ({r['global_bfactor_text']} {glob}); "
                f"wrote {out['bfactor']}")
    if m == "lococcupancy":
        return (f"lococcupancy: {span}, occupancy inside the mask mean "
                f"{r['occupancy_mean']:.2f}, SD {r['occupancy_sd']:.2f}; "
                f"wrote {out['occupancy']}")
    timeline = ", ".join(f"{e['name']} {e['index']:.3f}"
                         for e in sorted(r["maturity"], key=lambda e: e["index"]))
    return f"maturity index (least to most mature): {timeline}"
