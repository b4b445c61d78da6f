"""Noise statistics: which voxels are solvent noise, and their per-band amplitude levels."""
import numpy as np

from .errors import InputError


def quantile(values, q):
    """MATLAB's default quantile (piecewise linear, p_k = (k - 0.5)/n), as the reference."""
    return float(np.quantile(values, q, method="hazen"))


def box_sphere(shape, spiral="riesz"):
    """Voxels inside the sphere (ellipsoid for non-cubic boxes) inscribed in the box.

    Solvent outside it may hold masking or box-edge artefacts, so noise is only taken inside.
    ``spiral="reference"`` uses the original's coordinates ``i + 1 - floor((N+1)/2)``,
    radius ``floor((N+1)/2)`` and strict ``<`` (quirk 3).
    """
    inside = np.zeros(shape, dtype=np.float32)
    for axis, n in enumerate(shape):
        i = np.arange(n, dtype=np.float64)
        if spiral == "reference":
            r = np.floor((n + 1) / 2)
            t = (i + 1 - r) / r
        else:
            t = (i - (n - 1) / 2) / (n / 2)
        view = [None] * len(shape)
        view[axis] = slice(None)
        inside = inside + (t ** 2).astype(np.float32)[tuple(view)]
    return inside < 1.0


def noise_voxels(mask, spiral="riesz", min_count=100):
    """Boolean array of noise voxels: outside the mask and inside the box sphere."""
    noise = box_sphere(mask.shape, spiral) & ~mask
    count = int(noise.sum())
    if count < min_count:
        raise InputError(
            f"the mask leaves only {count} solvent voxels inside the box sphere; noise "
            "statistics need solvent. Use a tighter mask (higher threshold) or a larger box.")
    return noise


def standardise(volume, noise):
    """Subtract the noise voxels' mean and divide by their SD (N-1), in place."""
    values = volume[noise]
    mean = values.mean(dtype=np.float64)
    sd = values.std(dtype=np.float64, ddof=1)
    volume -= np.float32(mean)
    if sd > 0:
        volume /= np.float32(sd)
    return volume
