"""Checks run before any computation, so bad input fails early with a readable message."""
import numpy as np

from .errors import InputError


def as_volume(volume, name="map"):
    """A float32 3-D array with finite values, or an InputError naming the problem."""
    try:
        array = np.asarray(volume, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InputError(f"the {name} is not a numeric array: {exc}") from None
    if array.ndim != 3:
        raise InputError(f"the {name} must be a 3-D volume, got {array.ndim} dimension(s) "
                         f"{array.shape}")
    if min(array.shape) < 8:
        raise InputError(f"the {name} box {array.shape} is too small (need at least 8 voxels "
                         "per axis)")
    bad = ~np.isfinite(array)
    if bad.any():
        raise InputError(f"the {name} has {int(bad.sum())} NaN or infinite voxels; "
                         "replace them (e.g. by 0) or regenerate the map")
    return array


# A mask (or its solvent) of fewer voxels holds no noise or occupancy statistic: the
# 0.25 or 0.9 quantile of n values has a rank SD of sqrt(q (1 - q) / n), 0.03-0.04 at 100
# voxels, and noise quantiles from fewer than 100 voxels swing from band to band.
MIN_MASK_VOXELS = 100


def as_mask(mask, shape, name="mask"):
    """A boolean mask on the map's grid that is neither empty nor everything, with at
    least ``MIN_MASK_VOXELS`` voxels inside and as many of solvent outside."""
    if mask is None:
        raise InputError(f"a {name} is required: pass a mask file or a threshold")
    array = np.asarray(mask)
    if array.shape != tuple(shape):
        raise InputError(f"the {name} grid {array.shape} differs from map grid "
                         f"{tuple(shape)}; resample the mask onto the map's grid")
    if array.dtype != bool:
        array = as_volume(array, name) > 0.5
    count = int(array.sum())
    if count == 0:
        raise InputError(f"the {name} is empty (no voxel above 0.5); use a lower threshold "
                         "or check the mask file")
    if count == array.size:
        raise InputError(f"the {name} covers the whole box, so there is no solvent to "
                         "estimate noise from; use a tighter mask (higher threshold)")
    check_mask_size(array, name)
    return array


def check_mask_size(mask, name="mask"):
    """Refuse a mask, or a solvent outside it, too small for the methods' statistics."""
    inside = int(np.count_nonzero(mask))
    outside = int(np.size(mask) - inside)
    if inside < MIN_MASK_VOXELS:
        raise InputError(f"the {name} holds {inside} voxels; at least {MIN_MASK_VOXELS} are "
                         "needed for an occupancy or noise statistic; use a larger mask "
                         "(lower threshold, dilation)")
    if outside < MIN_MASK_VOXELS:
        raise InputError(f"the {name} leaves {outside} voxels of solvent; at least "
                         f"{MIN_MASK_VOXELS} are needed to measure the noise; use a tighter "
                         "mask or a larger box")


def as_voxel_size(voxel_size):
    """A positive, finite voxel size in Å."""
    try:
        p = float(voxel_size)
    except (TypeError, ValueError):
        raise InputError(f"voxel size must be a number in Å, got {voxel_size!r}") from None
    if not np.isfinite(p) or p <= 0:
        raise InputError(f"voxel size must be positive (Å), got {voxel_size!r}; "
                         "check the map header or pass --voxel-size")
    return p


def check_resolutions(voxel_size, min_res, max_res, shape):
    """Resolution range in Å: positive, low-to-high, and not beyond Nyquist."""
    p = as_voxel_size(voxel_size)
    if min_res is None or max_res is None:
        raise InputError("both a minimum and a maximum resolution (Å) are needed")
    min_res, max_res = float(min_res), float(max_res)
    nyquist = 2.0 * p
    if max_res < nyquist - 1e-6:
        raise InputError(f"max resolution {max_res:g} Å is beyond Nyquist ({nyquist:g} Å for "
                         f"voxel size {p:g} Å); use a value >= {nyquist:g} Å")
    if min_res <= max_res:
        raise InputError(f"min resolution {min_res:g} Å must be coarser (larger) than max "
                         f"resolution {max_res:g} Å")
    n = max(shape)
    kmin, kmax = np.floor(p * n / min_res), np.floor(p * n / max_res)
    if kmax - kmin < 1:
        raise InputError(f"the range {min_res:g}-{max_res:g} Å spans less than one Fourier "
                         f"pixel on this {n}-voxel box; widen the resolution range")
    return min_res, max_res


def check_same_grid(a, b, name_a, name_b):
    if tuple(np.shape(a)) != tuple(np.shape(b)):
        raise InputError(f"{name_a} grid {tuple(np.shape(a))} differs from {name_b} grid "
                         f"{tuple(np.shape(b))}; resample them onto one grid")


def prepare(volume, mask, voxel_size, min_res, max_res):
    """Validate the common inputs; returns (float32 volume, bool mask, min_res, max_res)."""
    volume = as_volume(volume)
    mask = as_mask(mask, volume.shape)
    min_res, max_res = check_resolutions(voxel_size, min_res, max_res, volume.shape)
    return volume, mask, min_res, max_res
