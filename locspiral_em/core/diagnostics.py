"""Checks on an input map that the run layer turns into warning lines: masked, already
sharpened. Numerics only (the wording of the lines lives here too, so every front end says
the same thing)."""
import numpy as np

from .errors import InputError
from .globalstats import global_bfactor
from .noise import box_sphere

# An unsharpened map's global Guinier B is clearly negative (blur); a sharpened one is
# flattened to about 0. Measured on the protocol tests' phantom (56^3, 1.2 Å, noise 0.5;
# 15 Å to FSC 2.98 Å, whole box): -43 Å^2 as is, -13 after sharpening by 30 Å^2, +17 after
# 60. Whole box, not masked: a binary mask's edge adds power at high resolution that keeps
# a masked fit near 0 for any sharpening.
SHARPENED_B = -10.0
GUINIER_LOW_RES = 15.0      # Å, low end of the sharpening check (LocBFactor's default)
GUINIER_MIN_HIGH = 8.0      # Å: the check needs a high end finer than this
MASKED_FRACTION = 0.5       # of the box corners equal to one value: the map was masked


def looks_masked(volume):
    """A warning line when the box corners (outside the inscribed sphere, solvent for a
    centred particle) are mostly one exact value: the map was masked (noise statistics need
    the solvent noise)."""
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
        return global_bfactor(volume, voxel_size, low, high, mask=mask,
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
