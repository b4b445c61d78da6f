"""LocBFactor: local B-factor and amplitude maps from a per-voxel local Guinier fit.

For ``num_points`` bands between ``min_res`` and ``max_res``::

    y_i(r) = log(C_i m_i sqrt(N^3)),   x_i = (k_i / (p N))^2  [1/Å^2],   n_i = log(q_i sqrt(N^3))

and per voxel the least-squares line ``y = A + slope x``. ``B = 4 slope`` (Å^2) is the
B-factor *for sharpening*: negative for a decaying signal, so a map blurred by B_blur gives
about ``-B_blur``. The fit accumulates its sums band by band (O(1) volumes), instead of
keeping ``num_points`` log-amplitude volumes.
"""
from typing import NamedTuple, Optional

import numpy as np

from .errors import InputError
from .filterbank import FilterBank, sweep_frequencies
from .noise import VoxelSample, noise_voxels
from .validate import prepare

AMPLITUDE_AT = ("intercept", "lowest")


class LocalBFactor(NamedTuple):
    """Result of :func:`locbfactor`.

    bfactor : B for sharpening (Å^2), 0 outside ``mask``.
    amplitude : A, the fitted log amplitude at 1/d^2 = 0 ("intercept", as the reference)
        or at the lowest swept frequency ("lowest", as the paper describes); 0 outside ``mask``.
    noise : per-band noise levels ``n_i`` (log units, same scale as ``y_i``).
    res_square : per-band ``x_i = 1/d_i^2`` (Å^-2).
    mask : the mask the maps are valid on (the input mask, less voxels the filtered fit
        could not fit).
    """
    bfactor: np.ndarray
    amplitude: np.ndarray
    noise: np.ndarray
    res_square: np.ndarray
    mask: Optional[np.ndarray] = None


def _log_amplitude(band, q, size):
    """y = log(C m sqrt(N^3)) with C = m/(m+q), computed in the band's own arrays (the band
    map ``b`` is not needed here, so it holds m + q): no volume is allocated per band.
    Voxels where m = 0 get log of the smallest float32 instead of -inf."""
    denom = np.add(band.m, np.float32(q), out=band.b)
    y = band.m
    y *= y
    y /= denom
    y *= np.float32(np.sqrt(size))
    np.maximum(y, np.finfo(np.float32).tiny, out=y)
    np.log(y, out=y)
    return y


def locbfactor(volume, mask, voxel_size, min_res, max_res, num_points=10, threshold=0.9,
               bw=4.8, filtered=False, amplitude_at="intercept", spiral="riesz",
               workers=None, progress=None):
    """Local B-factor (for sharpening, Å^2) and amplitude maps.

    Parameters
    ----------
    min_res, max_res : Å; 15 Å to the global resolution is typical.
    num_points : number of bands in the fit (10 published).
    filtered : per voxel, fit only bands whose ``y_i > n_i`` (above noise); voxels with fewer
        than 2 such bands get no value and leave the returned mask.
    amplitude_at : "intercept" (A at 1/d^2 = 0) or "lowest" (A at the lowest swept frequency).

    Published EMD-10418 call: min_res 15, max_res 2.96, num_points 10, threshold 0.9, bw 4.8.
    """
    if amplitude_at not in AMPLITUDE_AT:
        raise InputError(f"amplitude_at must be one of {AMPLITUDE_AT}, not {amplitude_at!r}")
    if int(num_points) < 2:
        raise InputError("num_points must be at least 2 to fit a line")
    volume, mask, min_res, max_res = prepare(volume, mask, voxel_size, min_res, max_res)
    noise = noise_voxels(mask, spiral)
    bank = FilterBank(volume, voxel_size, bw, spiral, workers)
    ks = sweep_frequencies(bank.pixels(min_res), bank.pixels(max_res), int(num_points))
    xs = np.array([bank.frequency_squared(k) for k in ks])
    # Centre x so that the float32 sums stay well conditioned.
    x_mean = float(xs.mean())
    xc = (xs - x_mean).astype(np.float32)

    shape = volume.shape
    sum_y = np.zeros(shape, np.float32)
    sum_xy = np.zeros(shape, np.float32)
    if filtered:
        count = np.zeros(shape, np.float32)
        sum_x = np.zeros(shape, np.float32)
        sum_xx = np.zeros(shape, np.float32)
    noise_levels = np.empty(len(ks))
    sample = VoxelSample(noise, spiral)
    for i, band in enumerate(bank.sweep(ks, progress, "LocBFactor band")):
        q = sample.quantile(band.m, threshold)
        noise_levels[i] = np.log(q * np.sqrt(volume.size))
        y = _log_amplitude(band, q, volume.size)
        if filtered:
            use = y > np.float32(noise_levels[i])
            y *= use
            count += use
            used_x = np.multiply(use, xc[i], out=bank.scratch())
            sum_x += used_x
            used_x *= xc[i]
            sum_xx += used_x
        sum_y += y
        y *= xc[i]
        sum_xy += y
    band = y = bank = None  # free the band and the filter bank before the final arithmetic

    # The least-squares solution, in place in the sums: slope ends in sum_xy, the intercept
    # at the centred abscissa in sum_y.
    slope, intercept = sum_xy, sum_y
    if filtered:
        # slope = (n Sxy - Sx Sy) / (n Sxx - Sx^2), intercept = (Sy - slope Sx) / n
        t = sum_x * sum_x
        denom = np.multiply(sum_xx, count, out=sum_xx)
        denom -= t
        valid = (count >= 2) & (denom > 0)
        slope *= count
        slope -= np.multiply(sum_x, sum_y, out=t)
        np.divide(slope, denom, out=slope, where=valid)
        intercept -= np.multiply(slope, sum_x, out=t)
        np.divide(intercept, count, out=intercept, where=valid)
        t = denom = sum_x = sum_xx = None
        mask = mask & valid
    else:
        # The centred x sum to 0, so the normal equations decouple.
        slope /= np.float32(np.sum(xc.astype(np.float64) ** 2))
        intercept /= np.float32(len(ks))
    # Back from centred x to the requested abscissa.
    x_at = 0.0 if amplitude_at == "intercept" else xs[0]
    amplitude = intercept
    amplitude += slope * np.float32(x_at - x_mean)
    bfactor = slope
    bfactor *= np.float32(4.0)
    bfactor[~mask] = 0
    amplitude[~mask] = 0
    return LocalBFactor(bfactor, amplitude, noise_levels, xs, mask)


class GuinierProfiles(NamedTuple):
    """Local Guinier curves at chosen voxels: ``log_amplitude[v, i]`` at ``res_square[i]``."""
    res_square: np.ndarray
    log_amplitude: np.ndarray
    noise: np.ndarray
    voxels: np.ndarray


def guinier_profiles(volume, mask, voxel_size, min_res, max_res, voxels, num_points=10,
                     threshold=0.9, bw=4.8, spiral="riesz", workers=None, progress=None):
    """The ``y_i`` of :func:`locbfactor` at a few voxels ``(z, y, x)``, for local Guinier plots.

    Re-runs the band sweep (``num_points`` bands) and keeps only the requested voxels.
    """
    volume, mask, min_res, max_res = prepare(volume, mask, voxel_size, min_res, max_res)
    voxels = np.atleast_2d(np.asarray(voxels, dtype=int))
    noise = noise_voxels(mask, spiral)
    bank = FilterBank(volume, voxel_size, bw, spiral, workers)
    ks = sweep_frequencies(bank.pixels(min_res), bank.pixels(max_res), int(num_points))
    xs = np.array([bank.frequency_squared(k) for k in ks])
    curves = np.empty((len(voxels), len(ks)))
    levels = np.empty(len(ks))
    index = tuple(voxels.T)
    sample = VoxelSample(noise, spiral)
    for i, band in enumerate(bank.sweep(ks, progress, "Guinier band")):
        q = sample.quantile(band.m, threshold)
        levels[i] = np.log(q * np.sqrt(volume.size))
        curves[:, i] = _log_amplitude(band, q, volume.size)[index]
    return GuinierProfiles(xs, curves, levels, voxels)
