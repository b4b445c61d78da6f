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
    # Exact arithmetic (integers for the reference, float64 otherwise): voxels lying on the
    # sphere must not flip in or out with float32 rounding.
    if spiral == "reference":
        radius = [int(np.floor((n + 1) / 2)) for n in shape]
        axes = [np.arange(n) + 1 - r for n, r in zip(shape, radius)]
        d2 = sum(a.reshape([-1 if i == j else 1 for j in range(3)]) ** 2
                 for i, a in enumerate(axes))
        return d2 < radius[0] ** 2
    axes = [(2.0 * np.arange(n) - (n - 1)) / n for n in shape]
    d2 = sum(a.reshape([-1 if i == j else 1 for j in range(3)]) ** 2 for i, a in enumerate(axes))
    return d2 < 1.0


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
