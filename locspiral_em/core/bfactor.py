"""LocBFactor: local B-factor and amplitude maps from a per-voxel local Guinier fit.

For ``num_points`` bands between ``min_res`` and ``max_res`` a log local amplitude ``y_i(r)``
is fitted per voxel by the least-squares line ``y = A + slope x`` against
``x_i = (k_i / (p N))^2`` [1/Å^2]. ``B = 4 slope`` (Å^2) is the B-factor *for sharpening*:
negative for a decaying signal, so a map blurred by B_blur gives about ``-B_blur``. The fit
accumulates its sums band by band (O(1) volumes), instead of keeping ``num_points``
log-amplitude volumes.

Two estimators of ``y_i``:

``published`` (Kaur et al. 2021, the reference code)
    ``y_i = log(C_i m_i sqrt(N^3))`` with the SNR weight ``C_i = m_i / (m_i + q_i)``, noise
    level ``n_i = log(q_i sqrt(N^3))`` (``q_i``: the ``threshold`` quantile of ``m_i`` over the
    solvent). Band width in Fourier pixels, centres ``floor(p N / d)``.
``debiased`` (default in ``spiral="riesz"`` mode)
    The local band power ``m_i^2`` is smoothed over ``c / (2 pi bw)`` Å (c = 0.5, ``bw`` in
    Å^-1) and the noise's mean band power ``mu_i`` is subtracted:
    ``y_i = log(sqrt(max(P_i - mu_i, floor_i)) sqrt(N^3))`` with ``P_i`` the smoothed power and
    ``floor_i = 1e-3 mu_i``. ``mu_i`` comes from the solvent-only map (the map times the noise
    voxels; see ``_Sweep._solvent_band_power``), not from the solvent voxels' band power, which
    the particle's own spread-out band power contaminates in small boxes. Noise level
    ``n_i = log(sqrt(t_i - mu_i) sqrt(N^3))`` with ``t_i`` the ``threshold`` quantile of ``P_i``
    over the solvent voxels rescaled to the noise's mean, so ``y_i > n_i`` exactly when the
    band's smoothed power is above that quantile. Band width in Å^-1 and centres at the
    requested resolutions, so the same particle gives the same B in any box; by default the
    band of a 12 Å window (0.035 Å^-1, see below).

Why the published estimator is biased (measured: benchmarks/validate_bfactor.py):
* ``C_i`` inside the log lowers ``y_i`` by up to ``log 2`` where the signal approaches the
  noise, i.e. at the high-resolution end: the slope steepens (sharp domains read 15-30 % too
  steep, also with the filtered fit).
* A band width fixed in Fourier pixels is a physical width ``bw / (p N)`` that grows as the
  box shrinks; in small boxes the 15 Å shell reaches DC, where a particle's shape transform
  is orders of magnitude stronger than its high-resolution amplitudes, and lifts the first
  band: steeper again, and a box-dependent answer.
* Noise adds its power to ``m_i^2``: without subtraction the high bands are lifted (flatter).
  Subtracting a mean from a single voxel's speckle-like ``m_i^2`` (a chi-square-like value
  of a few degrees of freedom) leaves many negative values that any floor then biases;
  smoothing the power over half the filter's own spatial envelope first averages tens of
  speckles at high resolution (the envelope's width only grows by sqrt(1.25)), which makes
  the subtraction well conditioned.

How local (issue 14; measured: benchmarks/locality.py): the fit averages over a window of
FWHM ``2.355 sqrt(sigma_e^2 + sigma_s^2)``, ``sigma_e = 1 / (2 pi bw)`` the band filter's
amplitude envelope and ``sigma_s`` the power smoothing (:func:`fit_band`). The 0.02 Å^-1
band of issue 10 is a 21 Å window and recovered 43 % of a B 40 / 160 step between 17 Å
slabs (15-5 Å); the default 12 Å window recovers 62 % (80 % at 30 Å) with isolated domains
still within 1-5 %. A stronger neighbour's high-resolution power dominates a blurred
domain's bands across the window's tails, so blurred domains next to sharp ones read too
sharp, and more so the higher the fit's resolution end.
"""
from typing import NamedTuple, Optional

import numpy as np
import scipy.fft as sfft

try:  # the kernels behind scipy.fft's real transforms, which accept an output array
    from scipy.fft._pocketfft.pypocketfft import c2r as _c2r, r2c as _r2c
except ImportError:  # other scipy layouts: rfftn and irfftn, with their temporaries
    _c2r = _r2c = None

from . import defaults as D
from .errors import InputError
from .filterbank import FilterBank, default_workers, sweep_frequencies
from .noise import VoxelSample, fast_quantile, noise_voxels
from .validate import prepare

AMPLITUDE_AT = ("intercept", "lowest")
ESTIMATORS = ("debiased", "published")
BW_UNITS = ("pixels", "inverse_angstrom")
DEFAULT_BW = {"pixels": 4.8, "inverse_angstrom": 0.02}
# Power smoothing SD as a fraction of the band filter's real-space envelope SD 1/(2 pi bw).
SMOOTHING = 0.5
# FWHM of a Gaussian over its SD: the window is quoted as a FWHM in Å, like a resolution.
FWHM_PER_SD = 2.0 * np.sqrt(2.0 * np.log(2.0))
# Spatial window (FWHM, Å) of the debiased estimator when neither bw nor window is given
# (None: DEFAULT_BW's 0.02 Å^-1 would set it, a 21 Å window); see benchmarks/locality.md.
DEFAULT_WINDOW = D.BFACTOR_WINDOW
# Floor of the debiased power, relative to the solvent's mean band power: where the smoothed
# power does not exceed the noise the band has no measurable signal and the value is a
# convention (use ``filtered=True`` to leave such bands out of the fit).
POWER_FLOOR = 1e-3

class LocalBFactor(NamedTuple):
    """Result of :func:`locbfactor`.

    bfactor : B for sharpening (Å^2), 0 outside ``mask``.
    amplitude : A, the fitted log amplitude at 1/d^2 = 0 ("intercept", as the reference)
        or at the lowest swept frequency ("lowest", as the paper describes); 0 outside ``mask``.
    noise : per-band noise levels ``n_i`` (log units, same scale as ``y_i``).
    res_square : per-band ``x_i = 1/d_i^2`` (Å^-2).
    mask : the mask the maps are valid on (the input mask, less voxels the filtered fit
        could not fit).
    window : FWHM (Å) of the spatial window the fit averaged over (the ``window`` argument).
    """
    bfactor: np.ndarray
    amplitude: np.ndarray
    noise: np.ndarray
    res_square: np.ndarray
    mask: Optional[np.ndarray] = None
    window: Optional[float] = None


def _log_amplitude(band, q, size, lo, hi):
    """Slab ``[lo, hi)`` of y = log(C m sqrt(N^3)) with C = m/(m+q), computed in the band's
    own arrays (the band map ``b`` is not needed here, so it holds m + q): no volume is
    allocated per band. Voxels where m = 0 get log of the smallest float32 instead of -inf."""
    denom = np.add(band.m[lo:hi], np.float32(q), out=band.b[lo:hi])
    y = band.m[lo:hi]
    y *= y
    y /= denom
    y *= np.float32(np.sqrt(size))
    np.maximum(y, np.finfo(np.float32).tiny, out=y)
    np.log(y, out=y)
    return y


def _estimator_and_units(bw, estimator, bw_units, spiral):
    """The estimator and band-width unit these options mean (None: the defaults)."""
    if estimator is None:
        estimator = "published" if spiral == "reference" else "debiased"
    if estimator not in ESTIMATORS:
        raise InputError(f"estimator must be one of {ESTIMATORS}, not {estimator!r}")
    if estimator == "debiased" and spiral == "reference":
        raise InputError("estimator='debiased' needs spiral='riesz'; the reference mode "
                         "reproduces the published estimator")
    if bw_units is None:
        # An explicit number keeps its historical meaning (Fourier pixels); the default
        # band width of the debiased estimator is physical.
        bw_units = "inverse_angstrom" if bw is None and estimator == "debiased" \
            else "pixels"
    if bw_units not in BW_UNITS:
        raise InputError(f"bw_units must be one of {BW_UNITS}, not {bw_units!r}")
    return estimator, bw_units


class FitBand(NamedTuple):
    """How a LocBFactor run filters and smooths (:func:`fit_band`): ``bw`` in ``bw_units``
    and ``bw_px`` in Fourier pixels of the box, ``envelope_sd`` the band filter's amplitude
    envelope SD ``1 / (2 pi bw)`` (Å), ``smooth_sd`` the power smoothing SD (Å, 0 for the
    published estimator) and ``window`` the FWHM (Å) of both together: the spatial window
    the local fit averages over."""
    estimator: str
    bw_units: str
    bw: float
    bw_px: float
    envelope_sd: float
    smooth_sd: float
    window: float


def fit_band(voxel_size, box, bw=None, estimator=None, bw_units=None, window=None,
             spiral=D.SPIRAL):
    """The band width, smoothing and window that :func:`locbfactor` uses for these options
    in a box of ``box`` voxels (its longest side), as a :class:`FitBand`; the one place
    they are decided, so that the run layer reports what the core did. ``voxel_size`` or
    ``box`` None: only what does not depend on them (the rest None, and ``bw`` None where
    a window sets a width in Fourier pixels)."""
    estimator, bw_units = _estimator_and_units(bw, estimator, bw_units, spiral)
    if voxel_size is None or box is None:
        return _box_free_band(bw, estimator, bw_units, window)
    p, n_ref = float(voxel_size), int(box)
    bw_given = bw is not None
    if window is None and not bw_given and estimator == "debiased":
        window = DEFAULT_WINDOW
    if window is not None:
        window = float(window)
        if not window > 0:
            raise InputError(f"window must be a positive FWHM in Å, got {window:g}")
        if bw_given and estimator == "published":
            raise InputError("the published estimator does not smooth, so window and bw "
                             "both set its band width; give only one of them")
        if not bw_given:
            # The window sets the band: the filter's envelope takes the share of the window
            # that the default split gives it (all of it without smoothing).
            share = 1.0 if estimator == "published" else np.sqrt(1.0 + SMOOTHING ** 2)
            bw = 1.0 / (2.0 * np.pi * window / FWHM_PER_SD / share)   # Å^-1
            if bw_units == "pixels":
                bw *= p * n_ref
    bw = DEFAULT_BW[bw_units] if bw is None else float(bw)
    if bw_units == "inverse_angstrom":
        if not 0 < bw < 0.5 / p:
            if window is not None and not bw_given:
                raise InputError(
                    f"window {window:g} Å is too narrow for {p:g} Å voxels (its band "
                    f"width {bw:.3g} Å^-1 passes Nyquist); use a window of at least "
                    f"{window * bw / (0.5 / p):.1f} Å")
            raise InputError(f"bw {bw:g} Å^-1 must be positive and below Nyquist "
                             f"({0.5 / p:g} Å^-1); for a width in Fourier pixels pass "
                             "bw_units='pixels'")
        bw_px = bw * p * n_ref
    else:
        if not bw > 0:
            raise InputError(f"bw must be positive, got {bw:g}")
        bw_px = bw
    # The band filter's amplitude envelope, widened by the power smoothing (debiased only).
    envelope_sd = p * n_ref / (2.0 * np.pi * bw_px)
    smooth_sd = 0.0
    if estimator == "debiased":
        if window is None or not bw_given:
            smooth_sd = SMOOTHING * envelope_sd
        else:   # explicit band and window: the smoothing fills the rest of the window
            rest = (window / FWHM_PER_SD) ** 2 - envelope_sd ** 2
            if rest < -1e-9 * envelope_sd ** 2:
                raise InputError(
                    f"window {window:g} Å is narrower than the band filter's own envelope "
                    f"({FWHM_PER_SD * envelope_sd:.1f} Å FWHM at bw {bw:g} "
                    f"{'Å^-1' if bw_units == 'inverse_angstrom' else 'Fourier pixels'}); "
                    "widen the window or the band, or leave bw unset")
            smooth_sd = float(np.sqrt(max(rest, 0.0)))
    return FitBand(estimator, bw_units, float(bw), float(bw_px), float(envelope_sd),
                   float(smooth_sd), float(FWHM_PER_SD * np.hypot(envelope_sd, smooth_sd)))


def _box_free_band(bw, estimator, bw_units, window):
    if bw_units == "inverse_angstrom":
        # A physical band: any voxel size and box give the same width and window (a tiny
        # voxel keeps the Nyquist check out of the way; the caller's grid checks that).
        return fit_band(1e-6, 1, bw, estimator, bw_units, window)._replace(
            bw_px=None, envelope_sd=None, smooth_sd=None)
    if bw is None and (window is not None or
                       (estimator == "debiased" and DEFAULT_WINDOW is not None)):
        # A width in Fourier pixels of a box not known here.
        return FitBand(estimator, bw_units, None, None, None, None, None)
    bw = DEFAULT_BW[bw_units] if bw is None else float(bw)
    return FitBand(estimator, bw_units, bw, None, None, None, None)


class _Sweep:
    """The bands of one LocBFactor run and their ``(y_i, n_i)``, shared by :func:`locbfactor`
    and :func:`guinier_profiles` so that the curves drawn are the curves fitted."""

    def __init__(self, volume, mask, voxel_size, min_res, max_res, num_points, threshold, bw,
                 estimator, bw_units, spiral, workers, window=None):
        if int(num_points) < 2:
            raise InputError("num_points must be at least 2 to fit a line")
        _estimator_and_units(bw, estimator, bw_units, spiral)   # before the map checks
        volume, mask, min_res, max_res = prepare(volume, mask, voxel_size, min_res, max_res)
        p = float(voxel_size)
        n_ref = max(volume.shape)
        band = fit_band(p, n_ref, bw, estimator, bw_units, window, spiral)
        estimator, bw_units, bw_px = band.estimator, band.bw_units, band.bw_px
        self.band, self.window = band, band.window
        self.estimator, self.bw_units, self.threshold = estimator, bw_units, threshold
        self.volume, self.mask, self.size = volume, mask, volume.size
        noise = noise_voxels(mask, spiral)
        self.sample = VoxelSample(noise, spiral)
        self.bank = FilterBank(volume, p, bw_px, spiral, workers)
        if bw_units == "pixels":
            # The reference's sweep: centres at floor(p N / d) Fourier pixels.
            ks = sweep_frequencies(self.bank.pixels(min_res), self.bank.pixels(max_res),
                                   int(num_points))
        else:
            # At the requested resolutions: floor() moves the range with the box size.
            ks = np.linspace(p * n_ref / min_res, p * n_ref / max_res, int(num_points))
        self.ks = ks
        self.xs = np.array([self.bank.frequency_squared(k) for k in ks])
        self.workers = default_workers(workers)
        # Per-voxel work runs slab by slab in the bank's threads (filterbank.Slabs); kept
        # apart from the bank so that the final fit can use them after release().
        self.slabs = self.bank.slabs
        self._spectrum = None     # the power's transform (debiased), reused band after band
        if estimator == "debiased":
            self._noise_power = self._solvent_band_power(volume, noise, ks)
            # Gaussian smoothing of SD sigma (Å) as three 1-D transfer factors on the real-FFT
            # half grid, exp(-2 pi^2 sigma^2 s^2) per axis (per-axis spacing: non-cubic boxes).
            sigma = band.smooth_sd
            g = lambda f: np.exp(-2.0 * (np.pi * sigma * f) ** 2).astype(np.float32)  # noqa
            nz, ny, nx = volume.shape
            self._transfer = (g(sfft.fftfreq(nz, d=p))[:, None, None],
                              g(sfft.fftfreq(ny, d=p))[None, :, None],
                              g(sfft.rfftfreq(nx, d=p))[None, None, :])

    def _solvent_band_power(self, volume, noise, ks):
        """Per band, the mean band power m^2 that the noise alone would have, from the
        solvent voxels only.

        The solvent voxels' own band power is not the noise power: the band filter (and the
        smoothing) spread the particle's band power several Å into the solvent, which in a
        small box is a large part of it (measured at 3 Å on the validation phantom: +7.5 % at
        96^3, +2.9 % at 128^3, +0.8 % at 192^3; at 15 Å several times the noise). Filtering
        the solvent-only map ``V * S`` instead (S: the noise voxels, a fraction f of the box)
        removes the particle before the filter. For white noise of variance s^2,
        E|FFT(n S)(q)|^2 = N^3 f s^2 at every q whatever the shape of S, so with Parseval the
        noise's mean m^2 = b^2 + |R|^2 over the box is ``2 sum_q H^2 |FFT(V S)|^2 / (N^6 f)``
        (b and the Riesz part carry equal energy); coloured noise comes out blurred by the
        transform of S, a few Fourier pixels. Costs one forward FFT, no inverse FFT."""
        fraction = int(np.count_nonzero(noise)) / volume.size
        solvent = np.where(noise, volume, np.float32(0))
        spectrum = sfft.rfftn(solvent, workers=self.workers)
        solvent = None
        power = np.abs(spectrum)
        spectrum = None
        power *= power
        # Half-grid coefficients count twice in the full grid, except the x = 0 (and x = N/2)
        # planes.
        weight = np.full(power.shape[2], 2.0, np.float32)
        weight[0] = 1.0
        if volume.shape[2] % 2 == 0:
            weight[-1] = 1.0
        power *= weight
        shell = None
        out = []
        for k in ks:
            shell = self.bank.shell(k, out=shell)
            shell *= shell
            total = np.einsum("i,i->", shell.ravel(), power.ravel(), dtype=np.float64)
            out.append(2.0 * float(total) / (float(volume.size) ** 2 * fraction))
        return np.array(out)

    def _smoothed_power(self, band):
        """Smoothed m^2, written into ``band.m``.

        The same transforms as ``rfftn`` and ``irfftn`` (bit for bit), but the power's
        transform lives in one half-grid buffer kept for the whole sweep and the inverse
        writes into ``band.m``: no fresh volumes (and their page faults) per band."""
        power = band.m
        self.slabs.map(lambda lo, hi: np.multiply(power[lo:hi], power[lo:hi],
                                                  out=power[lo:hi]))
        if _r2c is None:
            spectrum = sfft.rfftn(power, workers=self.workers)
        else:
            spectrum = _r2c(power, (0, 1, 2), True, 0, self._spectrum_buffer(band),
                            self.workers)
        tz, ty, tx = self._transfer

        def smooth(lo, hi):   # the three factors in one pass, in the order of rfftn's axes
            s = spectrum[lo:hi]
            s *= tz[lo:hi]
            s *= ty
            s *= tx
        self.slabs.map(smooth)
        if _c2r is None:
            power[...] = sfft.irfftn(spectrum, s=power.shape, workers=self.workers,
                                     overwrite_x=True)
        else:   # irfftn's own call (2: divide by N^3), with the output array given
            _c2r(spectrum, (0, 1, 2), power.shape[2], False, 2, power, self.workers)
        return power

    def _spectrum_buffer(self, band):
        """A half-grid complex array for the power's transform. The riesz bank's own buffer
        when it holds this band's map ``b``: the debiased estimator never reads ``b``, and the
        bank refills the buffer for the next band anyway, so the power's transform costs no
        volume of its own (one volume less at LocBFactor's, and LocSharpen's, peak)."""
        work = getattr(self.bank, "_work", None)
        if work is not None and np.may_share_memory(work[0], band.b):
            return work[0]
        if self._spectrum is None:
            nz, ny, nx = band.m.shape
            self._spectrum = np.empty((nz, ny, nx // 2 + 1), np.complex64)
        return self._spectrum

    def bands(self, progress=None, label="LocBFactor band", consume=None):
        """Yield ``(y, n)`` per band: the log-amplitude volume (the band's own array,
        overwritten by the next band) and the noise level in the same units.

        ``consume(i, n, y_slab, lo, hi)``, when given, is called on each axis-0 slab of
        ``y`` in the bank's threads as soon as the slab is made (while it is in cache); it
        may overwrite the slab, and the yielded ``y`` then holds what it left there."""
        log_scale = 0.5 * np.log(self.size)      # the sqrt(N^3) of the published y
        for i, band in enumerate(self.bank.sweep(self.ks, progress, label)):
            if self.estimator == "published":
                q = self.sample.quantile(band.m, self.threshold)
                level = np.log(q * np.sqrt(self.size))

                def work(lo, hi, band=band, q=q, level=level, i=i):
                    y = _log_amplitude(band, q, self.size, lo, hi)
                    if consume is not None:
                        consume(i, level, y, lo, hi)
                self.slabs.map(work)
                yield band.m, level
                continue
            power = self._smoothed_power(band)
            values = np.take(power.ravel(), self.sample.index)
            mu = self._noise_power[i]
            # The gate: the solvent's threshold quantile of the smoothed power, rescaled so
            # that its distribution has the noise's mean (the particle's spread-out power
            # lifts both alike; for pure noise the factor is 1). fast_quantile is
            # np.quantile(method="hazen") to the bit (this estimator is riesz-only).
            q = fast_quantile(values, self.threshold)
            q *= mu / max(float(values.mean(dtype=np.float64)), np.finfo(np.float64).tiny)
            floor = POWER_FLOOR * mu if mu > 0 else np.finfo(np.float32).tiny
            level = 0.5 * np.log(max(q - mu, floor)) + log_scale
            values = None

            def work(lo, hi, power=power, mu=mu, floor=floor, level=level, i=i):
                y = power[lo:hi]
                y -= np.float32(mu)
                np.maximum(y, np.float32(floor), out=y)
                np.log(y, out=y)
                y *= np.float32(0.5)
                y += np.float32(log_scale)
                if consume is not None:
                    consume(i, level, y, lo, hi)
            self.slabs.map(work)
            yield power, level

    def release(self):
        self.bank = self._spectrum = None


def locbfactor(volume, mask, voxel_size, min_res, max_res, num_points=D.NUM_POINTS,
               threshold=D.NOISE_QUANTILE, bw=None, filtered=D.FILTERED_FIT,
               amplitude_at=D.AMPLITUDE_AT, spiral=D.SPIRAL,
               workers=None, progress=None, estimator=None, bw_units=None, window=None):
    """Local B-factor (for sharpening, Å^2) and amplitude maps.

    Parameters
    ----------
    min_res, max_res : Å; 15 Å to the global resolution is typical.
    num_points : number of bands in the fit (10 published).
    threshold : noise quantile (of ``m_i``, or of the smoothed power for "debiased").
    bw : Gaussian band width in ``bw_units``; None: the band of ``window`` (default 12 Å:
        0.035 Å^-1) for the debiased estimator, 4.8 Fourier pixels (the published call) for
        the published one.
    filtered : per voxel, fit only bands whose ``y_i > n_i`` (above noise); voxels with fewer
        than 2 such bands get no value and leave the returned mask.
    amplitude_at : "intercept" (A at 1/d^2 = 0) or "lowest" (A at the lowest swept frequency).
    estimator : "debiased" (default for ``spiral="riesz"``) or "published" (default, and the
        reference behaviour, for ``spiral="reference"``); see the module docstring.
    bw_units : "inverse_angstrom" (band width and centres in physical units: box-size
        independent) or "pixels" (Fourier pixels, centres floor(p N / d), as the reference).
        None: "inverse_angstrom" when ``bw`` is None and the estimator is "debiased",
        otherwise "pixels" (an explicit ``bw`` number keeps its historical unit).
    window : FWHM (Å) of the spatial window the fit averages over: the band filter's
        amplitude envelope (SD ``1 / (2 pi bw)``) and, for "debiased", the power smoothing,
        added in quadrature. None: ``defaults.BFACTOR_WINDOW`` (12 Å) for the debiased
        estimator without ``bw``, else what ``bw`` gives. Without ``bw`` it
        sets the band width (the envelope keeps its default share of the window); with an
        explicit ``bw`` (debiased only) it sets the smoothing. The value used is returned
        as ``LocalBFactor.window``; ``benchmarks/locality.py`` measures what it means for
        adjacent domains.

    Published EMD-10418 call: min_res 15, max_res 2.96, num_points 10, threshold 0.9, bw 4.8
    (``estimator="published", bw_units="pixels"``).
    """
    if amplitude_at not in AMPLITUDE_AT:
        raise InputError(f"amplitude_at must be one of {AMPLITUDE_AT}, not {amplitude_at!r}")
    run = _Sweep(volume, mask, voxel_size, min_res, max_res, num_points, threshold, bw,
                 estimator, bw_units, spiral, workers, window)
    mask, xs, window = run.mask, run.xs, run.window
    # Centre x so that the float32 sums stay well conditioned.
    x_mean = float(xs.mean())
    xc = (xs - x_mean).astype(np.float32)

    shape = run.volume.shape
    sum_y = np.zeros(shape, np.float32)
    sum_xy = np.zeros(shape, np.float32)
    if filtered:
        # How many bands each voxel's fit used: a small integer, exact in one byte (a
        # float32 count was 3/4 of a volume more at the peak).
        count = np.zeros(shape, np.uint8 if len(xs) <= np.iinfo(np.uint8).max
                         else np.float32)
        sum_x = np.zeros(shape, np.float32)
        sum_xx = np.zeros(shape, np.float32)
    noise_levels = np.empty(len(xs))

    def accumulate(i, level, y, lo, hi):
        # One slab of the band's sums, while the slab of y is in cache (see _Sweep.bands).
        if filtered:
            use = y > np.float32(level)
            y *= use
            count[lo:hi] += use
            used_x = np.multiply(use, xc[i], out=np.empty(y.shape, np.float32))
            sum_x[lo:hi] += used_x
            used_x *= xc[i]
            sum_xx[lo:hi] += used_x
        sum_y[lo:hi] += y
        y *= xc[i]
        sum_xy[lo:hi] += y

    for i, (_, level) in enumerate(run.bands(progress, "LocBFactor band", accumulate)):
        noise_levels[i] = level
    slabs = run.slabs
    run.release()  # free the band and the filter bank before the final arithmetic

    # The least-squares solution, in place in the sums (slab by slab in the bank's threads):
    # slope ends in sum_xy, the intercept at the centred abscissa in sum_y.
    fitted = np.empty(shape, bool) if filtered else mask
    # Back from centred x to the requested abscissa.
    x_at = 0.0 if amplitude_at == "intercept" else xs[0]
    shift = np.float32(x_at - x_mean)
    # The centred x sum to 0, so without filtering the normal equations decouple.
    sxx = np.float32(np.sum(xc.astype(np.float64) ** 2))
    points = np.float32(len(xs))

    def solve(lo, hi):
        slope, intercept = sum_xy[lo:hi], sum_y[lo:hi]
        if filtered:
            # slope = (n Sxy - Sx Sy) / (n Sxx - Sx^2), intercept = (Sy - slope Sx) / n
            n, sx = count[lo:hi], sum_x[lo:hi]
            t = sx * sx
            denom = np.multiply(sum_xx[lo:hi], n, out=sum_xx[lo:hi])
            denom -= t
            valid = (n >= 2) & (denom > 0)
            slope *= n
            slope -= np.multiply(sx, intercept, out=t)
            np.divide(slope, denom, out=slope, where=valid)
            intercept -= np.multiply(slope, sx, out=t)
            np.divide(intercept, n, out=intercept, where=valid)
            inside = np.logical_and(mask[lo:hi], valid, out=fitted[lo:hi])
        else:
            slope /= sxx
            intercept /= points
            inside = mask[lo:hi]
        amplitude = intercept
        amplitude += slope * shift
        bfactor = slope
        bfactor *= np.float32(4.0)
        outside = ~inside
        np.copyto(bfactor, 0, where=outside)
        np.copyto(amplitude, 0, where=outside)
    slabs.map(solve)
    count = sum_x = sum_xx = None
    bfactor, amplitude, mask = sum_xy, sum_y, fitted
    return LocalBFactor(bfactor, amplitude, noise_levels, xs, mask, window)


class GuinierProfiles(NamedTuple):
    """Local Guinier curves at chosen voxels: ``log_amplitude[v, i]`` at ``res_square[i]``."""
    res_square: np.ndarray
    log_amplitude: np.ndarray
    noise: np.ndarray
    voxels: np.ndarray


def guinier_profiles(volume, mask, voxel_size, min_res, max_res, voxels,
                     num_points=D.NUM_POINTS, threshold=D.NOISE_QUANTILE, bw=None,
                     spiral=D.SPIRAL, workers=None, progress=None,
                     estimator=None, bw_units=None, window=None):
    """The ``y_i`` of :func:`locbfactor` at a few voxels ``(z, y, x)``, for local Guinier plots.

    Re-runs the band sweep (``num_points`` bands, same options and defaults as
    :func:`locbfactor`) and keeps only the requested voxels; ``noise`` is the per-band level
    that the filtered fit compares ``y_i`` with.
    """
    run = _Sweep(volume, mask, voxel_size, min_res, max_res, num_points, threshold, bw,
                 estimator, bw_units, spiral, workers, window)
    voxels = np.atleast_2d(np.asarray(voxels, dtype=int))
    curves = np.empty((len(voxels), len(run.xs)))
    levels = np.empty(len(run.xs))
    index = tuple(voxels.T)
    for i, (y, level) in enumerate(run.bands(progress, "Guinier band")):
        levels[i] = level
        curves[:, i] = y[index]
    return GuinierProfiles(run.xs, curves, levels, voxels)
