"""Noise statistics: which voxels are solvent noise, and their per-band amplitude levels."""
import math

import numpy as np

from .errors import InputError


def quantile(values, q):
    """MATLAB's default quantile (piecewise linear, p_k = (k - 0.5)/n), as the reference."""
    return float(np.quantile(values, q, method="hazen"))


def _order_statistics(values, i):
    """The ``i``-th and ``i+1``-th smallest of ``values`` (1-D, no NaN), 0-based.

    A partial sort of ~10^6 values costs a band as much as a quarter of an FFT; instead a
    1/64 subsample brackets the two ranks (by 6 binomial SDs of a subsample rank), the
    values below the bracket are only counted and just the few inside it are partially
    sorted. The result is exact: if the bracket missed, the full partial sort decides.
    """
    n = values.size
    step = 64
    if n >= 256 * step:
        sub = values[::step].copy()
        ns = sub.size
        p = (i + 0.5) / n
        centre, spread = p * ns, 6.0 * np.sqrt(ns * p * (1.0 - p)) + 2.0
        a, b = int(np.floor(centre - spread)), int(np.ceil(centre + spread))
        sub.partition([r for r in (a, b) if 0 <= r < ns])
        low = sub[a] if a >= 0 else -np.inf
        high = sub[b] if b < ns else np.inf
        below = int(np.count_nonzero(values < low))
        inside = values[(values >= low) & (values <= high)]
        j = i - below
        if 0 <= j and j + 1 < inside.size:
            inside.partition([j, j + 1])
            return inside[j], inside[j + 1]
    part = np.partition(values, [i, i + 1])
    return part[i], part[i + 1]


_WEAK_FLOATS = int(np.__version__.split(".")[0]) >= 2   # NEP 50 promotion rules


def fast_quantile(values, q):
    """:func:`quantile` (hazen) from two order statistics found without a full partial sort.

    The index and the interpolation repeat numpy's own arithmetic (``_quantile`` and
    ``_lerp``, whose float32/float64 promotion differs between numpy 1 and 2), so the value
    is numpy's to the bit: a noise level that moved by one ulp could flip the significance
    gate of a voxel lying exactly on it.
    """
    values = np.asarray(values).ravel()
    n = values.size
    # numpy 2 (NEP 50) treats only exact Python int/float as weak: a numpy scalar q keeps
    # its dtype through numpy's index and weight arithmetic, so keep it here too.
    strong = _WEAK_FLOATS and type(q) not in (int, float)
    q = np.asarray(q) if strong else float(q)
    v = n * q + (0.5 + q * (1 - 0.5 - 0.5)) - 1   # hazen: alpha = beta = 1/2
    if v < 0:
        return float(values.min())
    if v >= n - 1:
        return float(values.max())
    i = math.floor(v)
    low, high = _order_statistics(values, i)
    gamma = v - i                                  # a Python float, as numpy's
    # numpy 2 passes a float q's weight as a Python float (computed in the values' dtype);
    # numpy 1 as a 0-d float64 array (computed in float64).
    t = gamma if _WEAK_FLOATS else np.asarray(gamma)
    diff = high - low
    result = low + diff * t if gamma < 0.5 else high - diff * (1 - t)
    return float(result)


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


MAX_SAMPLES = 1 << 20


class VoxelSample:
    """Flat indices of a set of voxels, for the per-band quantiles.

    A quantile of ~10^6 voxels is as good an estimate of a noise level as one of 10^7, and
    the selection (a partial sort) dominates a band's cost beyond FFTs on large maps; so in
    ``riesz`` mode at most ``MAX_SAMPLES`` voxels, evenly spread through the set, are kept.
    ``reference`` mode keeps every voxel, to reproduce the original numbers.
    """

    def __init__(self, selection, spiral="riesz", max_samples=MAX_SAMPLES):
        index = np.flatnonzero(selection)
        if spiral != "reference" and index.size > max_samples:
            index = index[np.linspace(0, index.size - 1, max_samples).astype(np.int64)]
        if selection.size < 2 ** 31:
            index = index.astype(np.int32)
        self.index = index
        # reference: numpy's own quantile, bit for bit; riesz: the same value, found faster.
        self._quantile = quantile if spiral == "reference" else fast_quantile

    def quantile(self, volume, q):
        """The ``q`` quantile of ``volume`` over the sampled voxels."""
        return self._quantile(np.take(volume.ravel(), self.index), q)


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
    sd = np.sqrt(np.square(values - np.float32(mean), dtype=np.float64).sum() / (values.size - 1))
    volume -= np.float32(mean)
    if sd > 0:
        volume /= np.float32(sd)
    return volume
