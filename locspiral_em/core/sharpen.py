"""LocSharpen: local sharpening driven by the local B-factor and amplitude, with a local
Wiener weight; and the global Guinier sharpening it is compared with.

What the map should become. Where the map is blurred by a local B (sharpening sign, < 0),
its band at ``x = 1/d^2`` carries the signal ``S(x, r) = a(r) exp(B(r) x / 4)`` plus noise of
power ``P(x)``. The linear filter that brings it closest (least squares, hence best
correlation) to the same structure with B-factor ``B_t`` (``target_b``) is, per band and
voxel, the deblurring gain times the Wiener weight::

    g(x, r) = exp(-(B(r) - B_t) (x - x_ref) / 4) * S^2 / (S^2 + P)

The deblurring alone flattens the local Guinier curve (to slope ``B_t / 4``); the weight
stops it where the band's signal sinks below the noise, which a per-voxel gain needs far
more than a global one (exp(-B x / 4) reaches ~10^4 at 3 Å for B = -250 Å^2).
``S^2 / (S^2 + P)`` uses the *fitted* signal power (LocBFactor's line ``A + B x / 4``), not
the band's measured power: a single voxel's band power is a speckle-like random number and a
weight made of it lets noise through at the gains above (tried: "spectral subtraction"
``1 - P / m^2``, even with the true B map, gave correlation 0.01 in a B = 250 Å^2 domain,
where the fitted-power weight gives 0.33).

How it is computed. Gaussian shells of SD ``bw`` Fourier pixels every ``bw / 2`` from
``2 bw`` below ``min_res`` to ``2 bw`` above ``max_res`` (:func:`band_centres`). Each band must
be a real piece of the map for the gains to act on it, so the shells are turned into a
partition of unity: the map is divided in Fourier space by ``R(q) = sum_i H_i(q)`` and
low-passed at ``max_res`` before the band sweep, so that ``sum_i b_i`` is the low-passed map
itself; each ``b_i`` is multiplied by its ``g_i`` and summed. Deblurring is relative to
``x_ref = 1/min_res^2`` and is 1 below it, and the mean is kept, so the output stays on the
input's intensity scale. One pass over the bands, O(1) volumes.

Noise. The gains are only as honest as the noise power ``P`` of each band, taken from the
first of these that the data support (``SharpenedMap.noise`` says which):

1. "half maps": the band power of their half-difference (any map, masked or not);
2. "solvent": the solvent's mean band power (outside the mask, inside the box sphere, as the
   other methods' noise levels), when the solvent is neither masked (more than
   ``MASKED_SOLVENT`` of it at one value, usually 0) nor thresholded (nothing below that);
3. "beyond max_res": the map's own frequencies between max_res and Nyquist, inside the
   mask, taken as white below max_res (:func:`_beyond_resolution_noise`), when the map was
   not low-passed at max_res, at least a band width of them exists, and the mask itself was
   not clipped (a thresholded map's noise is no longer one additive field);
4. "none": no estimate. Then nothing says how far the map can be sharpened, so it is not:
   the output is the input low-passed at max_res, with a warning saying so. A deposited or
   post-processed map (masked, low-passed, already sharpened by its authors) lands here, and
   there global sharpening lowered the correlation with the model (EMD-3488 0.723 -> 0.708,
   the EMD-21457 segment 0.492 -> 0.454), so "no sharpening" is the safe answer, not a loss.

Measured (benchmarks/results_sharpening.md): on phantoms of 2-4 domains of B 40-250 Å^2 this
correlates better with the unblurred atoms than the input and global Guinier sharpening in
every domain (noise from the solvent, or for a soft-masked map from beyond max_res), and
than LocSpiral and LocBSharpen too where the solvent gives the noise. On a masked map
low-passed at max_res without half maps (case 4) it equals the input, which global
sharpening beats where the map was never sharpened (64^3 phantom, sharp domain 0.924
against 0.851) and loses to where it was (the real maps above).
"""
import threading
import warnings
from typing import NamedTuple

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from . import defaults as D
from .bfactor import locbfactor
from .errors import InputError
from .filterbank import FilterBank, Slabs, default_workers
from .globalstats import global_bfactor
from .noise import VoxelSample, noise_voxels
from .validate import (as_mask, as_volume, as_voxel_size, check_resolutions, check_same_grid,
                       prepare)

WEIGHTS = ("wiener", "none")
BFACTOR_MIN_RES = D.BFACTOR_MIN_RES  # Å: the Guinier regime of a protein map starts (paper)
SMOOTH = D.SHARPEN_SMOOTH  # Å: see locsharpen's docstring
MASKED_SOLVENT = 0.2    # fraction of solvent voxels at one value (0) that means a masked map
EDGE_FLOOR = 0.5        # the normalised-convolution weight where maps start fading outside
# A map whose power per Fourier coefficient in the band width beyond max_res is below this
# fraction of what the band widths just inside predict was low-passed there (see
# _beyond_resolution_noise). Measured: unfiltered phantoms, masked or not, 1.0-1.2; the same
# soft-masked and low-passed 0.12; the deposited EMD-3488 0.15. 0.4 is their geometric middle.
LOWPASSED = 0.4
# Where the Wiener weight's band noise power comes from (SharpenedMap.noise).
NOISE_SOURCES = ("half maps", "solvent", "beyond max_res", "none")
# What each source means, in the words the summaries print.
NOISE_SOURCE_TEXT = {
    "half maps": "the noise power of the Wiener weight came from the half-map difference",
    "solvent": "the noise power of the Wiener weight came from the solvent outside the mask",
    "beyond max_res": "the noise power of the Wiener weight came from the map's own "
                      "frequencies beyond the max resolution, inside the mask",
    "none": "no usable noise estimate (no half maps, a masked or thresholded solvent, and "
            "no unfiltered frequencies beyond the max resolution): the map was only "
            "low-passed at the max resolution, not sharpened",
}


class GlobalSharpened(NamedTuple):
    """``map``: the globally sharpened map; ``bfactor``: the B used (Å^2, sharpening sign)."""
    map: np.ndarray
    bfactor: float


class SharpenedMap(NamedTuple):
    """Result of :func:`locsharpen`.

    map : the sharpened map, on the input's intensity scale (mean kept, low resolution
        unchanged where the signal is strong).
    bfactor : the (smoothed) local B map that drove it (Å^2, sharpening sign); it fades to 0
        over ``smooth`` Å outside ``mask``.
    mask : the voxels where the local B was fitted.
    noise : where the band noise power came from, one of ``NOISE_SOURCES``; "none": no
        usable noise estimate, so the map was not sharpened (only low-passed at max_res).
    """
    map: np.ndarray
    bfactor: np.ndarray
    mask: np.ndarray
    noise: str = "solvent"


def _s2(shape, voxel_size):
    p = float(voxel_size)
    return (sfft.fftfreq(shape[0], d=p)[:, None, None] ** 2
            + sfft.fftfreq(shape[1], d=p)[None, :, None] ** 2
            + sfft.rfftfreq(shape[2], d=p)[None, None, :] ** 2)


def global_sharpen(volume, voxel_size, max_res, bfactor=None, mask=None, min_res=10.0,
                   workers=None):
    """Global Guinier sharpening: ``F exp(-B s^2 / 4)`` with a hard low-pass at ``max_res``.

    ``bfactor=None`` fits it with :func:`global_bfactor` between ``min_res`` and ``max_res``
    on the map times ``mask`` (if given): the usual Rosenthal-Henderson practice. B carries
    the sharpening sign (negative boosts high frequencies). Returns :class:`GlobalSharpened`.
    """
    volume = as_volume(volume)
    p = as_voxel_size(voxel_size)
    max_res = float(max_res)
    if max_res < 2 * p - 1e-6:
        raise InputError(f"max resolution {max_res:g} Å is beyond Nyquist ({2 * p:g} Å)")
    if bfactor is None:
        if mask is not None:
            mask = as_mask(mask, volume.shape)
        bfactor = global_bfactor(volume, p, min_res, max_res, mask=mask,
                                 workers=workers).bfactor
    workers = default_workers(workers)
    s2 = _s2(volume.shape, p)
    spectrum = sfft.rfftn(volume, workers=workers)
    spectrum *= (np.exp(-float(bfactor) * s2 / 4.0) * (s2 <= 1.0 / max_res ** 2)
                 ).astype(np.float32)
    out = sfft.irfftn(spectrum, s=volume.shape, workers=workers).astype(np.float32)
    return GlobalSharpened(out, float(bfactor))


# ndimage.gaussian_filter's default reach: the kernel stops at this many SDs.
TRUNCATE = 4.0


def _gaussian_transfer(shape, sigma):
    """The real-FFT half-grid transfer factors (z, y, x) of ``ndimage.gaussian_filter``'s own
    kernel (sampled, cut at ``TRUNCATE`` SDs, normalised), or None when a periodic
    convolution cannot stand for its zero-padded one (a kernel longer than an axis)."""
    radius = int(TRUNCATE * float(sigma) + 0.5)
    if any(2 * radius + 1 > n for n in shape):
        return None
    j = np.arange(1, radius + 1)
    phi = np.exp(-0.5 / float(sigma) ** 2 * np.concatenate(([0], j)) ** 2)
    phi /= phi[0] + 2.0 * phi[1:].sum()

    def factor(n, real):   # the symmetric kernel's transform is real: a cosine series
        f = (sfft.rfftfreq(n) if real else sfft.fftfreq(n))[:, None]
        return (phi[0] + 2.0 * (phi[1:] * np.cos(2.0 * np.pi * f * j)).sum(axis=1)
                ).astype(np.float32)
    nz, ny, nx = shape
    return (factor(nz, False)[:, None, None], factor(ny, False)[None, :, None],
            factor(nx, True)[None, None, :])


class _Smoother:
    """``ndimage.gaussian_filter(v, sigma, mode="constant")`` for maps that are 0 outside
    ``valid``, by FFT on the FFT threads (ndimage's filter is single-threaded: 0.7 s a call
    at 256^3 and 3 Å, 6-10 inverse FFTs' time, against 2 FFTs here) when ``valid`` keeps
    the kernel's reach from the box faces, so that the periodic convolution is the zero-padded one; otherwise ndimage.
    Same kernel, so the two agree to float32 rounding of the largest value (the FFT leaves
    ~1e-7 of it where ndimage gives exact zeros)."""

    def __init__(self, valid, sigma, workers):
        self.sigma, self.workers = sigma, default_workers(workers)
        self.slabs = Slabs(valid.shape, self.workers)
        radius = int(TRUNCATE * float(sigma) + 0.5)
        self.transfer = _gaussian_transfer(valid.shape, sigma)
        if self.transfer is not None:
            for axis in range(3):
                inside = np.any(valid, axis=tuple(a for a in range(3) if a != axis))
                if inside[:radius].any() or inside[inside.size - radius:].any():
                    self.transfer = None
                    break

    def __call__(self, v):
        if self.transfer is None:
            return ndimage.gaussian_filter(v, self.sigma, mode="constant")
        spectrum = sfft.rfftn(v, workers=self.workers)
        tz, ty, tx = self.transfer

        def smooth(lo, hi):   # the three factors in one pass over each slab
            part = spectrum[lo:hi]
            part *= tz[lo:hi]
            part *= ty
            part *= tx
        self.slabs.map(smooth)
        return sfft.irfftn(spectrum, s=v.shape, workers=self.workers, overwrite_x=True
                           ).astype(np.float32, copy=False)


def _spread(values, valid, sigma, smoother=None, weight=None):
    """Gaussian average of ``values`` over ``valid`` voxels (normalised convolution, SD
    ``sigma`` voxels), fading to 0 outside: divided by max(weight, EDGE_FLOOR), so that inside
    the mask it is a local mean and beyond its edge it decays smoothly instead of stopping.
    ``smoother`` (a :class:`_Smoother` for ``valid``) and ``weight`` (its smoothed ``valid``,
    floored) may be passed to share them between calls; returns (average, weight)."""
    v = np.where(valid, values, np.float32(0)).astype(np.float32, copy=False)
    if sigma <= 0:
        return v, weight
    if smoother is None:
        smoother = _Smoother(valid, sigma, None)
    num = smoother(v)
    v = None
    if weight is None:
        weight = smoother(valid.astype(np.float32))
        np.maximum(weight, np.float32(EDGE_FLOOR), out=weight)
    num /= weight
    return num, weight


def band_centres(kmin, kmax, bw):
    """Centres of the sharpening bands (Fourier pixels): every ``bw / 2`` from ``2 bw`` below
    ``kmin`` (not below 0) to ``2 bw`` above ``kmax``.

    A band's gain is one number, so the gain a frequency ``q`` receives is the average of the
    gains of the bands that cover it, weighted by their share of ``q``. Bands must therefore
    surround every ``q`` of the range on both sides: a sweep that stops at ``kmax`` gives the
    frequencies near ``kmax`` the gains of lower bands only (measured: with bands from kmin to
    kmax only, a -100 Å^2 deblurring to 4 Å raised log|F| by 19 x 1/d^2 at 4.4 Å instead of
    25 x 1/d^2; with these centres by 25-27 x). Dividing by ``R`` makes any spacing an exact
    partition; ``bw / 2`` keeps the bands' shares of each ``q`` smooth, so the gains are
    interpolated smoothly between bands, and needs fewer bands than 1-pixel steps for bw > 2.
    """
    lo = max(kmin - 2.0 * bw, 0.0)
    hi = kmax + 2.0 * bw
    count = int(np.ceil((hi - lo) / (0.5 * bw))) + 1
    return np.linspace(lo, hi, count)


def _half_grid_weights(shape):
    """Weights that turn sums over the real-FFT half grid into full-grid sums."""
    w = np.full(shape[2] // 2 + 1, 2.0, np.float32)
    w[0] = 1.0
    if shape[2] % 2 == 0:
        w[-1] = 1.0
    return w


def _solvent_problem(volume, sample):
    """Why the solvent cannot give the noise power (a phrase, or None when it can), and the
    solvent's most common value (the level a masked solvent was set to).

    A thresholded map (nothing below the level its solvent was set to) has no noise left
    anywhere; a solvent-masked map has its solvent set to one value (0, or a constant after
    an offset) or tapered by the mask, so its solvent power is far below the noise inside
    the molecule (EMD-3488: solvent RMS falls from 0.04 next to the molecule to 0.0001 at
    the mask's edge, with no plateau).
    """
    solvent = np.take(volume.ravel(), sample.index)
    values, counts = np.unique(solvent, return_counts=True)
    top = int(np.argmax(counts))
    flat, level = float(counts[top]) / solvent.size, float(values[top]) + 0.0  # no "-0"
    if flat <= MASKED_SOLVENT:
        return None, level
    what = f"{100 * flat:.0f}% of the solvent voxels are exactly {level:.4g}"
    if float(volume.min()) >= level:
        return f"{what} and no voxel is below that: the map was thresholded", level
    return f"{what}: the map looks solvent-masked", level


def _beyond_resolution_noise(volume, mask, voxel_size, max_res, bw, workers, flat_level):
    """Noise power per Fourier coefficient (``|D|^2``, as the half maps' difference gives it)
    from the map's own frequencies beyond ``max_res`` up to Nyquist, inside ``mask``; or
    (None, reason) when they cannot give it.

    Beyond the resolution the map is mostly noise (signal there only raises the estimate:
    less sharpening, never more). Inside the mask, because a masked map's solvent carries no
    noise. The level is taken as white below max_res: the lower bands, where that may be
    wrong, carry signal far above the noise, so their weights hardly depend on it. Unusable
    when the mask itself was clipped (more than ``MASKED_SOLVENT`` of its voxels at the
    solvent's flat level ``flat_level``, as in a thresholded map: the noise is then not one
    additive field throughout the mask), when fewer than a band width (``bw`` Fourier
    pixels) of frequencies lie beyond max_res, or when the map was low-passed at max_res:
    its power per coefficient in the band width beyond max_res is below ``LOWPASSED`` times
    what the band width just inside predicts
    (its power times the fall from the band width before it, at most 1), i.e. the spectrum
    falls more than 2.5x faster across max_res than just inside it, which neither noise nor
    a blurred signal does.
    """
    shape, p = volume.shape, float(voxel_size)
    clipped = float(np.count_nonzero((volume == flat_level) & mask)) / max(
        int(np.count_nonzero(mask)), 1)
    if clipped > MASKED_SOLVENT:
        return None, (f"{100 * clipped:.0f}% of the mask is exactly {flat_level:.4g} too, so "
                      "its noise is not one additive field the frequencies beyond the max "
                      "resolution could measure")
    n = max(shape)
    s = np.sqrt(_s2(shape, p)) * (p * n)          # radius in Fourier pixels of the largest axis
    k_max, k_nyq = p * n / float(max_res), 0.5 * n
    if k_nyq - k_max < bw:
        return None, (f"less than a band width of frequencies lies between the max resolution "
                      f"{max_res:.2f} Å and Nyquist ({2 * p:.2f} Å)")
    weights = _half_grid_weights(shape)[None, None, :]
    spectrum = sfft.rfftn(volume, workers=workers)
    power = np.abs(spectrum) ** 2

    def per_coefficient(lo, hi):
        shell = (s > lo) & (s <= hi)
        total = float(np.sum(shell * weights, dtype=np.float64))
        return float(np.sum(power * shell * weights, dtype=np.float64)) / max(total, 1.0)

    before, inside = per_coefficient(k_max - 2 * bw, k_max - bw), per_coefficient(k_max - bw,
                                                                                   k_max)
    after = per_coefficient(k_max, k_max + bw)
    power = None
    beyond = (s > k_max) & (s <= k_nyq)
    s = None
    count = float(np.sum(beyond * weights, dtype=np.float64))
    predicted = inside * min(inside / before, 1.0) if before > 0 else inside
    if after < LOWPASSED * predicted:
        return None, (f"the map was low-passed at about {max_res:.2f} Å (power beyond it "
                      f"{after / predicted:.2g} of what the spectrum inside predicts)")
    spectrum *= beyond
    high = sfft.irfftn(spectrum, s=shape, workers=workers)
    spectrum = None
    # Parseval: stationary noise of |D|^2 per coefficient has mean power count |D|^2 / N^2.
    level = float(np.mean(np.square(high[mask], dtype=np.float64))) * volume.size ** 2 / count
    return level, None


def _partition_volume(volume, bank, ks, max_res, workers, noise_spectrum=None):
    """The map divided in Fourier space by ``R(q) = sum_i H_i(q)`` (``bank``'s own filters) and
    low-passed at ``max_res``, so that the bands of the result sum to the low-passed map.

    Also returns each partition band's energy ``sum_q (H_i / R)^2`` over the kept
    frequencies: a signal of flat (white) spectrum has ``energy_i`` times the band power of
    the unit-energy band ``H_i`` the local amplitudes are measured with; the map's mean;
    and, if ``noise_spectrum`` (``|FFT(noise)|^2`` on the half grid) is given, each band's
    mean noise power ``<m_i^2>``: by Parseval ``<b_i^2> = sum_q (H_i / R)^2 |D|^2 / N^2`` (N
    voxels), and the Riesz components together carry as much power as ``b_i`` (sum_j
    q_j^2 / |q|^2 = 1), so ``<m_i^2> = 2 <b_i^2>``.
    """
    shape = volume.shape
    n = bank.n_ref
    # One shell buffer for both passes (a fresh half grid per band costs its page faults),
    # the element-wise work slab by slab on the bank's threads.
    total = h = None
    for k in ks:
        h = bank.shell(k, out=h)
        total = h.copy() if total is None else np.add(total, h, out=total)
    fz = (sfft.fftfreq(shape[0]) * n)[:, None, None] ** 2
    fy = (sfft.fftfreq(shape[1]) * n)[None, :, None] ** 2
    fx = (sfft.rfftfreq(shape[2]) * n)[None, None, :] ** 2
    cutoff = bank.voxel_size * n / max_res
    factor = np.zeros(total.shape, np.float32)

    def make_factor(lo, hi):
        q = np.sqrt(fz[lo:hi] + fy + fx).astype(np.float32)
        keep = (q <= cutoff) & (total[lo:hi] > 0)
        np.divide(np.float32(1), total[lo:hi], out=factor[lo:hi], where=keep)
    bank.slabs.map(make_factor)
    total = None
    weights = _half_grid_weights(shape)
    energy = np.empty(len(ks))
    noise = None if noise_spectrum is None else np.empty(len(ks))

    def column_sums(lo, hi):
        # Per slab: sum_q (H / R)^2 and sum_q (H / R)^2 |D|^2 per x column, in float64.
        hs = h[lo:hi]
        hs *= factor[lo:hi]
        hs *= hs
        sums = hs.reshape(-1, hs.shape[-1]).sum(axis=0, dtype=np.float64)
        if noise_spectrum is None:
            return sums, None
        hs *= noise_spectrum[lo:hi]
        return sums, hs.reshape(-1, hs.shape[-1]).sum(axis=0, dtype=np.float64)

    for i, k in enumerate(ks):
        h = bank.shell(k, out=h)
        parts = bank.slabs.map(column_sums)
        energy[i] = float(np.sum([a for a, _ in parts], axis=0) @ weights)
        if noise is not None:
            noise[i] = 2.0 * float(np.sum([b for _, b in parts], axis=0)
                                   @ weights) / float(volume.size) ** 2
    h = None
    spectrum = sfft.rfftn(volume, workers=workers)
    mean = float(spectrum[0, 0, 0].real) / volume.size
    bank.slabs.map(lambda lo, hi: np.multiply(spectrum[lo:hi], factor[lo:hi],
                                              out=spectrum[lo:hi]))
    factor = None
    out = sfft.irfftn(spectrum, s=shape, workers=workers).astype(np.float32, copy=False)
    return out, energy, mean, noise


def locsharpen(volume, mask, voxel_size, min_res, max_res, threshold=D.NOISE_QUANTILE,
               bw=D.DEFAULTS["locsharpen"].bw, bfactor=None, amplitude=None,
               target_b=D.TARGET_B, bfactor_min_res=BFACTOR_MIN_RES, num_points=D.NUM_POINTS,
               filtered=D.SHARPEN_FILTERED, smooth=SMOOTH, weight="wiener", half_maps=None,
               spiral=D.SPIRAL, workers=None, progress=None):
    """Local sharpening: every band deblurred by its own local B toward ``target_b``, with a
    local Wiener weight (see the module docstring).

    Parameters
    ----------
    volume, mask : (nz, ny, nx) map (unsharpened, unmasked) and binary macromolecule mask.
    voxel_size : Å.
    min_res, max_res : Å, the band sweep (25 Å to the FSC resolution is typical); the output
        is low-passed at ``max_res``.
    threshold : noise quantile for LocBFactor's noise levels (its filtered fit). The band
        noise power of the Wiener weight is the solvent's mean, not a quantile.
    bw : band width (SD) of the sharpening bands, Fourier pixels (LocSpiral's 4.5); the
        bands are ``bw / 2`` apart. Results change by <= 0.013 in correlation for 3 or 6
        (benchmarks/results_sharpening.md).
    bfactor, amplitude : local B (Å^2, sharpening sign) and log amplitude maps as
        :func:`locbfactor` returns them with ``amplitude_at="intercept"`` (log of the band
        amplitude times sqrt(N^3) at 1/d^2 = 0). None: computed here with
        ``locbfactor(volume, mask, voxel_size, bfactor_min_res, max_res, num_points,
        threshold, filtered=filtered)``. With ``weight="wiener"`` both or neither.
    target_b : B the local Guinier curves are brought to (Å^2, sharpening sign); 0 flattens.
    filtered : LocBFactor's noise-filtered fit: the plain fit keeps noise-floor bands and
        reads a B = -250 region as about -127 (measured: 96^3 phantom, debiased estimator of
        core/bfactor.py); the filtered fit reads about -200. True (default): filtered where
        the solvent gives the noise levels its gate needs; on a solvent-masked or
        thresholded map the plain fit (LocBFactor's default), as the gate has no levels.
    smooth : SD (Å) of the Gaussian average of the B and signal-power maps over the mask
        before use; they also fade to 0 over this distance outside the mask. The per-voxel
        fit is noisy and ``exp(-B x / 4)`` is steep in B (an error of 20 Å^2 is a factor 2.4
        at 2.4 Å); 3 Å averages a few of the fit's own speckles and stays well below the
        size of a domain. 0: use the maps as they are (0 outside the mask).
    weight : "wiener" (default) or "none" (deblurring only: flattens the local Guinier
        curve up to ``max_res`` whatever the noise; for diagnostics).
    half_maps : optional (half1, half2), the unmasked half maps ``volume`` averages: the
        Wiener weight's band noise power then comes from their difference's spectrum (the
        whole box) instead of the solvent; needed when ``volume`` is solvent-masked.
    spiral : only "riesz" (the original code has no such method).
    workers, progress : FFT threads; callable(done, total, message).

    Returns :class:`SharpenedMap` (map, bfactor, mask).
    """
    if spiral != "riesz":
        raise InputError("locsharpen has no counterpart in the original code; use "
                         "spiral='riesz'")
    if weight not in WEIGHTS:
        raise InputError(f"weight must be one of {WEIGHTS}, not {weight!r}")
    volume, mask, min_res, max_res = prepare(volume, mask, voxel_size, min_res, max_res)
    p = float(voxel_size)
    if half_maps is not None:
        if len(half_maps) != 2:
            raise InputError("half_maps must be a pair (half1, half2)")
        half1 = as_volume(half_maps[0], "half map 1")
        half2 = as_volume(half_maps[1], "half map 2")
        for name, half in (("half map 1", half1), ("half map 2", half2)):
            check_same_grid(volume, half, "map", name)
    workers = default_workers(workers)
    sample = VoxelSample(noise_voxels(mask))
    # Where the Wiener weight's band noise power comes from (module docstring, "Noise").
    (problem, flat_level), level, why = _solvent_problem(volume, sample), None, None
    if half_maps is not None:
        source = "half maps"
    elif problem is None:
        source = "solvent"
    else:
        level, why = _beyond_resolution_noise(volume, mask, p, max_res, float(bw), workers,
                                              flat_level)
        source = "beyond max_res" if level is not None else "none"
    if weight == "wiener" and source == "beyond max_res":
        warnings.warn(f"{problem}, so the Wiener weight's noise power is taken from the "
                      f"map's own frequencies beyond {max_res:.2f} Å inside the mask (white "
                      "below it); the half maps would give it exactly", stacklevel=2)
    if weight == "wiener" and source == "none":
        warnings.warn(f"{problem}, and {why}: no noise estimate for the Wiener weight, so "
                      f"the map is NOT sharpened (only low-passed at {max_res:.2f} Å); give "
                      "the half maps, or the unmasked map, to sharpen it", stacklevel=2)
    if filtered and problem is not None:
        # The noise filter gates bands on the solvent's noise levels: with no usable solvent
        # it gates on nothing meaningful. On the thresholded EMD-21457 segment it dropped
        # good bands: per-residue Spearman with the PDB B -0.18, the plain fit -0.32 (model
        # mask grown by 2 voxels); on the held-out deposited map of the issue +0.33 (wrong
        # sign) against LocBFactor's plain -0.38.
        filtered = False
    if bfactor is None:
        if amplitude is not None:
            raise InputError("an amplitude map needs the B-factor map it was fitted with")
        check_resolutions(p, bfactor_min_res, max_res, volume.shape)
        fit = locbfactor(volume, mask, p, bfactor_min_res, max_res, num_points=num_points,
                         threshold=threshold, filtered=filtered, workers=workers)
        bmap, amp, valid = fit.bfactor, fit.amplitude, fit.mask
        fit = None
        if valid is None:
            valid = mask
    else:
        bmap = as_volume(bfactor, "B-factor map")
        if bmap.shape != volume.shape:
            raise InputError(f"the B-factor map grid {bmap.shape} differs from the map grid "
                             f"{volume.shape}")
        amp = None if amplitude is None else as_volume(amplitude, "amplitude map")
        if weight == "wiener" and amp is None:
            raise InputError("weight='wiener' needs the amplitude map that goes with the "
                             "B-factor map (locbfactor(...).amplitude), or neither")
        valid = mask
    sigma = float(smooth) / p
    smoother = _Smoother(valid, sigma, workers) if sigma > 0 else None
    bmap, weight_map = _spread(bmap, valid, sigma, smoother)
    if amp is not None:
        # Signal power at 1/d^2 = 0 in unit-energy band units, averaged as a power.
        power0 = np.where(valid, 2.0 * amp - np.float32(np.log(volume.size)), -np.inf)
        power0 = np.exp(power0.astype(np.float32))
        power0 = _spread(power0, valid, sigma, smoother, weight_map)[0]
        # An average of powers is >= 0; the FFT's rounding may leave -1e-7 of the maximum.
        np.maximum(power0, np.float32(0), out=power0)
    amp = weight_map = smoother = None
    if weight == "wiener" and source == "none":
        # Nothing says how far the map can be sharpened: it is given back as it came.
        return SharpenedMap(global_sharpen(volume, p, max_res, bfactor=0.0,
                                           workers=workers).map, bmap, valid, source)
    # A bank on an empty map of the same grid gives the filters (and pixels()) the band
    # sweep will use; the map's own bank is built after the partition division.
    shells = FilterBank(np.zeros(volume.shape, np.float32), p, bw, workers=workers)
    kmin, kmax = shells.pixels(min_res), shells.pixels(max_res)
    ks = band_centres(kmin, kmax, float(bw))
    noise_spectrum = None
    if half_maps is not None:
        # The noise of the average map, (n1 + n2) / 2, has the power of (h1 - h2) / 2.
        noise_spectrum = np.abs(sfft.rfftn((half1 - half2) * np.float32(0.5),
                                           workers=workers)) ** 2
        half1 = half2 = None
    parted, energy, mean, band_noise = _partition_volume(volume, shells, ks, max_res, workers,
                                                         noise_spectrum)
    noise_spectrum = None
    shells = None
    if level is not None:
        band_noise = 2.0 * level * energy / float(volume.size) ** 2   # as for the half maps
    bank = FilterBank(parted, p, bw, workers=workers)
    parted = None
    xs = np.array([bank.frequency_squared(k) for k in ks])
    # Deblurring is relative to min_res and stops below it: the low resolutions, where the
    # Guinier law does not hold, keep the input's scale.
    x_ref = float(bank.frequency_squared(kmin))

    acc = np.zeros(volume.shape, np.float32)
    # The gains are made slab by slab (the bank's slabs, on its threads) while the slab is
    # in cache: no full-volume scratch array, and each band's voxels pass through memory
    # once. Each thread keeps its own two slab-sized scratch arrays.
    local = threading.local()

    def scratch(rows):
        if getattr(local, "gain", None) is None or local.gain.shape[0] < rows:
            local.gain = np.empty((rows,) + volume.shape[1:], np.float32)
            local.signal = np.empty_like(local.gain) if weight == "wiener" else None
        return local.gain[:rows], (None if local.signal is None else local.signal[:rows])

    def add_band(lo, hi, b, m, x, noise, deblur, log_energy):
        g, s = scratch(hi - lo)
        np.subtract(bmap[lo:hi], np.float32(target_b), out=g)
        g *= deblur
        np.exp(g, out=g)
        if weight == "wiener":
            # Fitted signal power in this band's units: S0 exp(B x / 2) energy_i.
            total = m[lo:hi]                                     # m is free: S^2 + P
            np.multiply(bmap[lo:hi], np.float32(x / 2.0), out=s)
            s += log_energy
            np.exp(s, out=s)
            s *= power0[lo:hi]
            np.add(s, np.float32(noise), out=total)
            np.divide(s, total, out=s, where=total > 0)         # S = P = 0 leaves 0
            g *= s
        slab = b[lo:hi]
        slab *= g
        acc[lo:hi] += slab

    # The map is low-passed at max_res: the bands past it report where their content is.
    cutoff = bank.voxel_size * bank.n_ref / max_res
    for i, band in enumerate(bank.sweep(ks, progress, "LocSharpen band", cutoff=cutoff)):
        if energy[i] <= 0:
            continue           # a band wholly beyond max_res: nothing of the map is left in it
        b, m = band.b, band.m
        noise = log_energy = None
        if weight == "wiener":
            if band_noise is not None:
                noise = float(band_noise[i])
            else:
                # The solvent's mean band power: the noise power of this partition band.
                noise = float(np.mean(np.square(np.take(m.ravel(), sample.index),
                                                dtype=np.float64)))
            log_energy = np.float32(np.log(energy[i]))
        deblur = np.float32(-max(xs[i] - x_ref, 0.0) / 4.0)
        bank.slabs.map(lambda lo, hi: add_band(lo, hi, b, m, xs[i], noise, deblur,
                                               log_energy))
    band = b = m = bank = local = None
    acc += np.float32(mean)
    return SharpenedMap(acc, bmap, valid, source)
