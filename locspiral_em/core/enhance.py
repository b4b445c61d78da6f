"""LocSpiral (local enhancement) and LocBSharpen (local B-factor sharpening).

Both sweep ``K = |kmax - kmin|`` bands from ``min_res`` to ``max_res`` and, per band,
weigh the phase cosine ``c = b/m`` by the SNR weight ``C = m/(m + q)``, where ``q`` is the
``threshold`` quantile of ``m`` over noise voxels (Kaur et al. 2021, Methods).
"""
from typing import NamedTuple

import numpy as np

from .filterbank import FilterBank, sweep_frequencies
from .noise import VoxelSample, noise_voxels, standardise
from .validate import prepare

SHARPEN_RES = 15.0  # Å: LocBSharpen imposes the local amplitude measured here above it


class EnhancedMap(NamedTuple):
    """``map``: the enhanced/sharpened map M; ``quality``: the quality map W."""
    map: np.ndarray
    quality: np.ndarray


def _finish(m_acc, w_acc, kmax, noise):
    # Dividing by kmax is the reference's normalisation; standardising on noise voxels
    # then puts both maps in units of noise SD, and M is clipped at 0 (positivity).
    for acc in (m_acc, w_acc):
        acc /= np.float32(kmax)
        standardise(acc, noise)
    np.maximum(m_acc, 0, out=m_acc)
    return EnhancedMap(m_acc, w_acc)


def locspiral(volume, mask, voxel_size, min_res, max_res, threshold=0.9, bw=4.5,
              snr_weight=True, spiral="riesz", workers=None, progress=None):
    """LocSpiral: local enhancement by spiral-phase amplitude weighting.

    ``M = sum_i C_i S_i c_i`` and ``W = sum_i C_i S_i`` with the significance gate
    ``S_i = (m_i >= q_i)``; both divided by kmax, standardised on noise voxels, M clipped at 0.

    Parameters
    ----------
    volume, mask : (nz, ny, nx) arrays; mask is 1 on the macromolecule.
    voxel_size : float, Å.
    min_res, max_res : float, Å (min_res > max_res).
    threshold : noise quantile (0.9-0.95 typical).
    bw : Gaussian band width, Fourier pixels.
    snr_weight : use ``C_i``; if False ``C_i = 1``.
    spiral : "riesz" (exact) or "reference" (the original code's economy filter).
    workers : FFT threads; progress : callable(done, total, message).

    Published EMD-10418 call: p=0.82, min_res 25, max_res 2.96, threshold 0.9, bw 4.5.
    """
    volume, mask, min_res, max_res = prepare(volume, mask, voxel_size, min_res, max_res)
    # The sweep needs only the noise voxels' flat indices (the sample); their boolean map, a
    # quarter volume, is made again for the standardisation at the end.
    sample = VoxelSample(noise_voxels(mask, spiral), spiral)
    # The bank works on the map divided by a power of two near its RMS (no copy of the map):
    # band powers stay in float32's range, and M and W, standardised on the noise, do not
    # depend on the map's units.
    bank = FilterBank(volume, voxel_size, bw, spiral, workers, rescale=True)
    kmin, kmax = bank.pixels(min_res), bank.pixels(max_res)
    m_acc = np.zeros(volume.shape, np.float32)
    w_acc = np.zeros(volume.shape, np.float32)
    for band in bank.sweep(sweep_frequencies(kmin, kmax), progress, "LocSpiral band"):
        q = np.float32(sample.quantile(band.m, threshold))

        def accumulate(lo, hi):
            b, m = band.b[lo:hi], band.m[lo:hi]
            significant = m >= q
            if snr_weight:
                # C c = (m/(m+q)) (b/m) = b/(m+q) and C = m/(m+q) = 1 - q/(m+q), in place:
                # no division by a vanishing m and no extra volume.
                m += q
                np.divide(b, m, out=b)
                np.divide(q, m, out=m)
                np.subtract(1, m, out=m)
            else:
                np.divide(b, m, out=b, where=m > 0)                # c; b = 0 where m = 0
                np.greater(m, 0, out=m, casting="unsafe")        # C = 1
            # Multiplying by the boolean gate is ~6x faster than a masked add (where=).
            b *= significant
            m *= significant
            m_acc[lo:hi] += b
            w_acc[lo:hi] += m
        # Slab by slab in the bank's threads: the chain stays in cache (see Slabs).
        bank.map_slabs(accumulate)
    band = bank = sample = None  # free the last band and the bank before finishing
    return _finish(m_acc, w_acc, kmax, noise_voxels(mask, spiral))


def locbsharpen(volume, mask, voxel_size, min_res, max_res, threshold=0.9, bw=4.5,
                sharpen_res=SHARPEN_RES, spiral="riesz", workers=None, progress=None):
    """LocBSharpen: local B-factor sharpening.

    Same sweep as LocSpiral without the significance gate. Bands coarser than
    ``sharpen_res`` (15 Å) contribute ``C_i c_i m_i``; from the band nearest to it on,
    the local amplitude ``a`` measured there replaces ``m_i``: ``C_i c_i a``, i.e. a flat
    local Guinier curve at high resolution. W accumulates ``C_i m_i`` / ``C_i a`` alike.
    """
    volume, mask, min_res, max_res = prepare(volume, mask, voxel_size, min_res, max_res)
    # The sweep needs only the noise voxels' flat indices (the sample); their boolean map, a
    # quarter volume, is made again for the standardisation at the end.
    sample = VoxelSample(noise_voxels(mask, spiral), spiral)
    # The bank works on the map divided by a power of two near its RMS (no copy of the map):
    # band powers stay in float32's range, and M and W, standardised on the noise, do not
    # depend on the map's units.
    bank = FilterBank(volume, voxel_size, bw, spiral, workers, rescale=True)
    kmin, kmax = bank.pixels(min_res), bank.pixels(max_res)
    ks = sweep_frequencies(kmin, kmax)
    i0 = int(np.argmin(np.abs(ks - bank.pixels(sharpen_res))))
    m_acc = np.zeros(volume.shape, np.float32)
    w_acc = np.zeros(volume.shape, np.float32)
    # The bands from i0 on share one amplitude a (band i0's m), so they are swept first and
    # summed without it, sum C_i c_i and sum C_i, which are multiplied by a once, when band
    # i0 is made again: four FFTs more, and no copy of a (one volume) kept across the sweep.
    # Then the coarser bands add C_i c_i m_i and C_i m_i.
    order = list(range(i0, len(ks))) + [i0] + list(range(i0))
    again = len(ks) - i0                              # where band i0 comes again
    for j, band in enumerate(bank.sweep(ks[order], progress, "LocBSharpen band")):
        if j == again:
            a = band.m

            def times_amplitude(lo, hi):
                m_acc[lo:hi] *= a[lo:hi]
                w_acc[lo:hi] *= a[lo:hi]
            bank.map_slabs(times_amplitude)
            continue
        q = np.float32(sample.quantile(band.m, threshold))
        shared = j < again

        def accumulate(lo, hi):
            # C c x = b x/(m+q) and C x = m x/(m+q): x = 1 for the bands sharing a (a comes
            # later), x = m for the coarser ones.
            b, m = band.b[lo:hi], band.m[lo:hi]
            weight = np.add(m, q)                     # one slab: stays in cache
            np.divide(np.float32(1) if shared else m, weight, out=weight)
            b *= weight
            m *= weight
            m_acc[lo:hi] += b
            w_acc[lo:hi] += m
        # Slab by slab in the bank's threads (see Slabs).
        bank.map_slabs(accumulate)
    band = bank = a = sample = None  # free them before finishing
    return _finish(m_acc, w_acc, kmax, noise_voxels(mask, spiral))
