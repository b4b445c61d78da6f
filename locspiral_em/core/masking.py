"""Binary masks from a density threshold, as the reference code makes them."""
import numpy as np
from scipy import ndimage

from .errors import InputError
from .validate import as_volume

MIN_OBJECT_VOXELS = 25


def auto_threshold(volume, sigmas=3.0):
    """A threshold ``sigmas`` noise SDs above the solvent mean, the solvent taken as the
    box corners outside the inscribed sphere (where a centred particle has no density)."""
    from .noise import box_sphere
    volume = as_volume(volume)
    corners = volume[~box_sphere(volume.shape)]
    return float(corners.mean() + sigmas * corners.std(ddof=1))


def threshold_mask(volume, threshold=None, min_voxels=MIN_OBJECT_VOXELS):
    """Macromolecule mask: voxels above ``threshold`` in connected objects (6-connectivity)
    of at least ``min_voxels`` voxels; smaller specks are noise.

    ``threshold=None`` uses :func:`auto_threshold` (3 SD above the box-corner solvent).
    """
    volume = as_volume(volume)
    if threshold is None:
        threshold = auto_threshold(volume)
    above = volume > float(threshold)
    labels, count = ndimage.label(above)  # default structure: 6-connectivity
    if count == 0:
        raise InputError(f"no voxel is above the mask threshold {threshold:g} (map range "
                         f"{volume.min():g} to {volume.max():g}); use a lower threshold")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    mask = (sizes >= int(min_voxels))[labels]
    if not mask.any():
        raise InputError(f"thresholding at {threshold:g} leaves only objects smaller than "
                         f"{min_voxels} voxels; use a lower threshold")
    return mask
