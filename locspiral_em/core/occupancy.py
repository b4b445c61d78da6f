"""LocOccupancy: local occupancy maps, and the maturity level index built on them."""
from typing import List, NamedTuple, Optional

import numpy as np

from .errors import InputError
from .filterbank import FilterBank, sweep_frequencies
from .noise import VoxelSample
from .validate import as_mask, as_volume, check_resolutions, prepare


def lococcupancy(volume, mask, voxel_size, min_res, max_res, quantile=0.25, bw=5.0,
                 spiral="riesz", workers=None, progress=None, levels=None, levels_out=None):
    """Local occupancy map ``O`` in [0, 1] (0 outside the mask).

    For each of the ``|kmax - kmin|`` swept bands, ``t_i`` is the ``quantile``
    quantile of the amplitude ``m_i`` inside the mask, and ``O = mean_i (m_i >= t_i)``:
    the fraction of bands in which a voxel is as strong as the bulk of the molecule.

    ``levels`` gives the ``t_i`` instead (e.g. from :func:`occupancy_levels` of a reference
    map on the same scale), so that occupancy is measured against that reference.
    ``levels_out``, a list, receives the ``t_i`` used (one sweep gives a reference map's
    occupancy and its levels).

    Without ``levels`` the mean of ``O`` over the mask is ``1 - quantile`` (0.75) by
    construction, whatever the map: each band marks the same share of the mask as weak.
    What tells maps apart is where ``O`` is low (:func:`occupancy_report`).

    Typical ranges: 50-25 Å to 10-8 Å for secondary-structure occupancy; 5 Å to 3-1.5 Å
    for residue occupancy. Published EMD-10418 call: 25-10 Å, quantile 0.25, bw 5.
    """
    if not 0.0 < float(quantile) < 1.0:
        raise InputError(f"the occupancy quantile must be between 0 and 1, got {quantile}")
    volume, mask, min_res, max_res = prepare(volume, mask, voxel_size, min_res, max_res)
    bank = FilterBank(volume, voxel_size, bw, spiral, workers)
    ks = sweep_frequencies(bank.pixels(min_res), bank.pixels(max_res))
    if levels is not None and len(levels) != len(ks):
        raise InputError(f"{len(levels)} occupancy levels given for {len(ks)} bands")
    occupied = np.zeros(volume.shape, np.float32)
    sample = VoxelSample(mask, spiral)
    for i, band in enumerate(bank.sweep(ks, progress, "LocOccupancy band")):
        level = np.float32(sample.quantile(band.m, quantile) if levels is None else levels[i])
        if levels_out is not None:
            levels_out.append(float(level))

        def count(lo, hi):
            occupied[lo:hi] += band.m[lo:hi] >= level
        bank.map_slabs(count)  # slab by slab in the bank's threads (see filterbank.Slabs)
    occupied /= np.float32(len(ks))
    occupied[~mask] = 0
    return occupied


LOW_OCCUPANCY = 0.5   # below: the voxel is as strong as the bulk in fewer than half the bands
MAX_REGIONS = 10      # regions listed in a report (largest first); the count gives the rest


class OccupancyRegion(NamedTuple):
    """One connected region of the mask where the occupancy is at least ``LOW_OCCUPANCY``:
    its size, its median and mean occupancy and its centre (voxel indices x, y, z)."""
    voxels: int
    volume_A3: float
    median: float
    mean: float
    centre_xyz: tuple


class OccupancyReport(NamedTuple):
    """What a LocOccupancy map says that is not fixed by construction (see
    :func:`occupancy_report`)."""
    fraction_low: float          # of the mask voxels, occupancy below LOW_OCCUPANCY
    regions: List[OccupancyRegion]   # largest first, at most MAX_REGIONS
    region_count: int            # all regions found of at least min_region_A3
    speck_count: int             # smaller ones, below what the map can resolve: not listed
    min_region_A3: float
    mean: float                  # over the mask: 1 - quantile by construction
    normalisation: str           # what O = 1 means, in words


def normalisation_text(quantile, min_res, max_res, reference=False):
    """What a LocOccupancy value is relative to, in one sentence."""
    whose = "the mature map's" if reference else "the map's own"
    return (f"occupancy = fraction of the bands from {min_res:g} to {max_res:.2f} Å in which "
            f"the voxel's local amplitude is at least {whose} {quantile:g}-quantile of that "
            "band's amplitudes inside the mask")


def min_region_volume(max_res):
    """The smallest region (Å^3) a sweep to ``max_res`` Å can resolve: a ball of diameter
    half the finest band's period. Smaller pieces are specks of single bands' ripples."""
    return np.pi / 6.0 * (0.5 * float(max_res)) ** 3


def occupancy_report(occupancy, mask, voxel_size, quantile, min_res, max_res,
                     low=LOW_OCCUPANCY, max_regions=MAX_REGIONS):
    """The numbers of a LocOccupancy map a user can act on: the fraction of the mask below
    ``low``, and the connected regions (26-connected) of the mask at or above ``low``,
    largest first, leaving out (but counting) specks below :func:`min_region_volume`. The
    mean over the mask is reported as ``mean`` but is ``1 - quantile`` by construction (each
    band marks ``quantile`` of the mask as weak)."""
    from scipy import ndimage

    occupancy = np.asarray(occupancy)
    mask = as_mask(mask, occupancy.shape, "mask")
    inside = occupancy[mask]
    if inside.size == 0:
        raise InputError("the mask is empty: no occupancy to report")
    strong = mask & (occupancy >= np.float32(low))
    labels, count = ndimage.label(strong, structure=np.ones((3, 3, 3), bool))
    sizes = np.bincount(labels.ravel())[1:]
    smallest = min_region_volume(max_res)
    resolved = sizes * float(voxel_size) ** 3 >= smallest
    order = [i for i in np.argsort(-sizes, kind="stable") if resolved[i]][:max_regions]
    regions = []
    for i in order:
        where = labels == i + 1
        values = occupancy[where]
        z, y, x = (float(c) for c in ndimage.center_of_mass(where))
        regions.append(OccupancyRegion(int(sizes[i]), float(sizes[i]) * float(voxel_size) ** 3,
                                       float(np.median(values)), float(values.mean()),
                                       (round(x, 1), round(y, 1), round(z, 1))))
    return OccupancyReport(float(np.count_nonzero(inside < np.float32(low))) / inside.size,
                           regions, int(np.count_nonzero(resolved)),
                           int(count - np.count_nonzero(resolved)), smallest,
                           float(inside.mean()), normalisation_text(quantile, min_res, max_res))


def occupancy_levels(volume, mask, voxel_size, min_res, max_res, quantile=0.25, bw=5.0,
                     spiral="riesz", workers=None):
    """The per-band amplitude levels ``t_i`` that :func:`lococcupancy` uses for this map."""
    volume, mask, min_res, max_res = prepare(volume, mask, voxel_size, min_res, max_res)
    bank = FilterBank(volume, voxel_size, bw, spiral, workers)
    ks = sweep_frequencies(bank.pixels(min_res), bank.pixels(max_res))
    sample = VoxelSample(mask, spiral)
    return np.array([sample.quantile(band.m, quantile) for band in bank.sweep(ks)])


class Maturity(NamedTuple):
    """Per immature map: the maturity ``index`` (fraction of the mature mask highly occupied),
    its ``occupancy`` map, the ``missing_mask`` (mature mask not highly occupied) and, when the
    mature map is given, the ``missing`` density (mature map on the missing mask).

    ``index`` is the published one: the mature map itself does not reach 1 (its own weak
    bands leave part of its mask below the occupied level). With the mature map given,
    ``reference_index`` is the mature map's own index and ``normalised`` is
    ``index / reference_index``: 1 for a map as complete as the mature one, 0 when nothing of
    it is there (an empty map has occupancy 0 against the mature map's levels)."""
    index: float
    occupancy: np.ndarray
    missing_mask: np.ndarray
    missing: Optional[np.ndarray] = None
    normalised: Optional[float] = None
    reference_index: Optional[float] = None


def maturity_index(mature_mask, immature_maps, voxel_size, min_res, max_res, occupied=0.75,
                   quantile=0.25, bw=5.0, mature_map=None, spiral="riesz", workers=None,
                   progress=None) -> List[Maturity]:
    """Maturity level index of each immature map against a mature map's mask.

    Each immature map's occupancy map is computed inside the mature mask and thresholded at
    ``occupied`` (0.75: "highly occupied"); the index is the fraction of mature-mask voxels
    that are highly occupied. Sorting maps by it places them on a maturation timeline.

    When ``mature_map`` is given, the occupancy levels ``t_i`` are those of the mature map
    (the mature map defines full occupancy), so the maps must be on one scale, as classes
    or refinements from one data set are. Without it each immature map uses its own
    quantile levels; the index then cannot fall much below ``1 - quantile`` whatever is
    missing, because a quantile inside the mask always marks the same fraction as weak.
    """
    if isinstance(immature_maps, np.ndarray) and immature_maps.ndim == 3:
        immature_maps = [immature_maps]
    immature_maps = list(immature_maps)
    if not immature_maps:
        raise InputError("give at least one immature map")
    first = as_volume(immature_maps[0], "immature map 1")
    mask = as_mask(mature_mask, first.shape, "mature mask")
    check_resolutions(voxel_size, min_res, max_res, first.shape)
    if mature_map is not None:
        mature_map = as_volume(mature_map, "mature map")
        if mature_map.shape != first.shape:
            raise InputError(f"the mature map grid {mature_map.shape} differs from the "
                             f"immature maps' grid {first.shape}")
    levels = reference_index = None
    if mature_map is not None:
        # One sweep of the mature map gives its levels and its own index (the 1 of the
        # normalised index); its occupancy at its own quantile levels.
        levels = []
        reference = lococcupancy(mature_map, mask, voxel_size, min_res, max_res, quantile, bw,
                                 spiral, workers, levels_out=levels)
        reference_index = _index(mask, reference, occupied)
    results = []
    total = len(immature_maps)
    for j, volume in enumerate(immature_maps):
        volume = as_volume(volume, f"immature map {j + 1}")
        if volume.shape != first.shape:
            raise InputError(f"immature map {j + 1} grid {volume.shape} differs from immature "
                             f"map 1 grid {first.shape}; all maps must share one grid")

        def report(done, count, message, j=j):
            if progress is not None:
                progress(j * count + done, total * count, f"map {j + 1}/{total}: {message}")

        occupancy = lococcupancy(volume, mask, voxel_size, min_res, max_res, quantile,
                                 bw, spiral, workers, report, levels)
        missing_mask = mask & (occupancy < np.float32(occupied))
        index = _index(mask, occupancy, occupied)
        missing = normalised = None
        if mature_map is not None:
            missing = np.where(missing_mask, mature_map, 0).astype(np.float32)
            normalised = index / reference_index if reference_index > 0 else None
        results.append(Maturity(index, occupancy, missing_mask, missing, normalised,
                                reference_index))
    return results


def _index(mask, occupancy, occupied):
    """The published maturity index: the fraction of the mask highly occupied."""
    missing = np.count_nonzero(mask & (occupancy < np.float32(occupied)))
    return 1.0 - float(missing) / float(np.count_nonzero(mask))
