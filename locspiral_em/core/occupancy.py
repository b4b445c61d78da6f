"""LocOccupancy: local occupancy maps, and the maturity level index built on them."""
from typing import List, NamedTuple, Optional

import numpy as np

from .errors import InputError
from .filterbank import FilterBank, sweep_frequencies
from .noise import VoxelSample
from .validate import as_mask, as_volume, check_resolutions, prepare


def lococcupancy(volume, mask, voxel_size, min_res, max_res, quantile=0.25, bw=5.0,
                 spiral="riesz", workers=None, progress=None, levels=None):
    """Local occupancy map ``O`` in [0, 1] (0 outside the mask).

    For each of the ``|kmax - kmin|`` swept bands, ``t_i`` is the ``quantile``
    quantile of the amplitude ``m_i`` inside the mask, and ``O = mean_i (m_i >= t_i)``:
    the fraction of bands in which a voxel is as strong as the bulk of the molecule.

    ``levels`` gives the ``t_i`` instead (e.g. from :func:`occupancy_levels` of a reference
    map on the same scale), so that occupancy is measured against that reference.

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

        def count(lo, hi):
            occupied[lo:hi] += band.m[lo:hi] >= level
        bank.map_slabs(count)  # slab by slab in the bank's threads (see filterbank.Slabs)
    occupied /= np.float32(len(ks))
    occupied[~mask] = 0
    return occupied


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
    mature map is given, the ``missing`` density (mature map on the missing mask)."""
    index: float
    occupancy: np.ndarray
    missing_mask: np.ndarray
    missing: Optional[np.ndarray] = None


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
    levels = None
    if mature_map is not None:
        levels = occupancy_levels(mature_map, mask, voxel_size, min_res, max_res, quantile, bw,
                                  spiral, workers)
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
        index = 1.0 - float(missing_mask.sum()) / float(mask.sum())
        missing = None
        if mature_map is not None:
            missing = np.where(missing_mask, mature_map, 0).astype(np.float32)
        results.append(Maturity(index, occupancy, missing_mask, missing))
    return results
