"""The filter bank shared by every method: Gaussian shells and the spiral (Riesz) transform.

For a band centred on Fourier radius ``k`` (in Fourier pixels, see ``FilterBank.pixels``)
the filter is a Gaussian shell

    H(q) = exp(-(|q| - k)^2 / (2 bw^2)) * (1 - exp(-|q|^2 / (2 * 0.05^2)))

The band map is ``b = IFFT(H F)``; its quadrature partner is the isotropic spiral
(Riesz) transform ``R_j = IFFT(-i q_j/|q| H F)`` and the local amplitude is
``m = sqrt(b^2 + |R|^2)`` (Kaur et al. 2021, Larkin et al. 2001).

Two modes:

``riesz`` (default)
    The exact three-component Riesz transform on the real-FFT half grid, with per-axis
    frequency spacing so non-cubic boxes are right. Each filter has unit energy
    (``sum H^2 = 1``), so ``m`` estimates the local structure-factor amplitude and a flat
    spectrum gives a flat amplitude across bands (no 1/k bias in the B-factor fit).
``reference``
    The original MATLAB code's behaviour, to reproduce published numbers: the "economy"
    single complex spiral filter ``((ky + kz) + i kx) / |...|``, every filter evaluated one
    pixel off DC for even N, and filters normalised to unit sum. Cubic boxes only.

Only the transform of the input and a few half-grid arrays are kept; bands are produced
one at a time so memory does not grow with the number of bands.
"""
from typing import Iterator, NamedTuple

import numpy as np
import scipy.fft as sfft

from .errors import InputError

try:  # the kernel behind scipy.fft.irfft, which (unlike irfft) accepts an output array
    from scipy.fft._pocketfft.pypocketfft import c2r as _c2r
except ImportError:  # other scipy layouts: fall back to irfft and a copy
    _c2r = None

SPIRAL_MODES = ("riesz", "reference")
DC_SIGMA = 0.05  # Fourier pixels: the DC-suppressing factor is zero only at q = 0


class Band(NamedTuple):
    """One frequency band: centre ``k`` (Fourier pixels), band map ``b``, amplitude ``m``."""
    k: float
    b: np.ndarray
    m: np.ndarray


def default_workers(workers):
    """FFT threads: ``None`` or a value < 1 means every core."""
    import os
    if workers is None or workers < 1:
        return os.cpu_count() or 1
    return int(workers)


class FilterBank:
    """Band-pass maps and spiral-phase amplitudes of one volume, one band at a time.

    Parameters
    ----------
    volume : (nz, ny, nx) array
    voxel_size : float, Å
    bw : float
        Gaussian band width in Fourier pixels.
    spiral : {"riesz", "reference"}
    workers : int or None
        FFT threads (None: all cores).
    """

    def __init__(self, volume, voxel_size, bw, spiral="riesz", workers=None):
        if spiral not in SPIRAL_MODES:
            raise InputError(f"spiral must be one of {SPIRAL_MODES}, not {spiral!r}")
        self.shape = tuple(int(n) for n in volume.shape)
        self.voxel_size = float(voxel_size)
        self.bw = float(bw)
        self.spiral = spiral
        self.workers = default_workers(workers)
        # One Fourier pixel is 1/(p*N) Å^-1 with N the longest axis, so that on a cubic box
        # "k pixels" means exactly what the paper and the reference code mean.
        self.n_ref = max(self.shape)
        if spiral == "reference":
            if len(set(self.shape)) != 1:
                raise InputError("spiral='reference' reproduces the original code, which "
                                 f"assumes a cubic box; this map is {self.shape}. "
                                 "Use spiral='riesz' for non-cubic boxes.")
            self._setup_reference(volume)
        else:
            self._setup_riesz(volume)

    # -- resolution <-> Fourier pixels -------------------------------------------------
    def pixels(self, resolution):
        """Fourier radius in pixels of a resolution in Å: floor(p*N/d), as the reference."""
        return float(np.floor(self.voxel_size * self.n_ref / float(resolution)))

    def resolution(self, k):
        """Resolution in Å of a Fourier radius ``k`` in pixels."""
        return self.voxel_size * self.n_ref / k

    def frequency_squared(self, k):
        """1/d^2 in Å^-2 of a Fourier radius ``k`` in pixels."""
        return (k / (self.voxel_size * self.n_ref)) ** 2

    # -- setup ---------------------------------------------------------------------------
    def _setup_riesz(self, volume):
        nz, ny, nx = self.shape
        n = self.n_ref
        # Per-axis frequencies in Fourier pixels of the reference axis.
        self._qz = (sfft.fftfreq(nz) * n).astype(np.float32)[:, None, None]
        self._qy = (sfft.fftfreq(ny) * n).astype(np.float32)[None, :, None]
        self._qx = (sfft.rfftfreq(nx) * n).astype(np.float32)[None, None, :]
        q = np.sqrt(self._qz ** 2 + self._qy ** 2 + self._qx ** 2, dtype=np.float32)
        self._q = q
        # The Riesz multiplier -i q_j/|q| is odd, and an odd multiplier has no Hermitian value
        # on an even axis's Nyquist plane (-N/2 is its own mirror image). The real inverse FFT
        # drops it silently along the last axis only; dropping it along every axis keeps the
        # transform the same whichever way the map's axes are ordered.
        self._riesz_axes = tuple(self._without_nyquist(a, n_axis) for a, n_axis in
                                 zip((self._qz, self._qy, self._qx), self.shape))
        # No DC-factor array here: on this grid every non-zero |q| is >= 1 pixel, where
        # 1 - exp(-q^2 / (2 * 0.05^2)) is exactly 1 in float32, so the factor only zeroes q = 0.
        self._dc = None
        # The half grid holds each coefficient once, except the x = 0 (and x = N/2) planes;
        # weights turn half-grid sums into full-grid sums for the normalisation.
        w = np.full(q.shape[2], 2.0, dtype=np.float32)
        w[0] = 1.0
        if nx % 2 == 0:
            w[-1] = 1.0
        self._half_weight = w
        self._work = None
        self._band_buffers = None
        self._spectrum = sfft.rfftn(np.asarray(volume, dtype=np.float32),
                                    workers=self.workers)

    @staticmethod
    def _without_nyquist(frequencies, n):
        """Copy of one axis's frequencies with the Nyquist entry (index n/2, even n) zeroed."""
        out = frequencies.copy()
        if n % 2 == 0:
            out.reshape(-1)[n // 2] = 0
        return out

    def _setup_reference(self, volume):
        n = self.shape[0]
        # Quirk 2: for even N the original evaluates every filter at (k + 1).
        shift = 1.0 if n % 2 == 0 else 0.0
        k1 = (sfft.fftfreq(n) * n + shift).astype(np.float32)
        kz, ky, kx = k1[:, None, None], k1[None, :, None], k1[None, None, :]
        q = np.sqrt(kz ** 2 + ky ** 2 + kx ** 2, dtype=np.float32)
        self._q = q
        self._dc = (1.0 - np.exp(-q ** 2 / (2 * DC_SIGMA ** 2))).astype(np.float32)
        # Quirk 1: the "economy" quadrature filter, one complex filter, not isotropic.
        econ = ((ky + kz) + 1j * kx).astype(np.complex64)
        mod = np.abs(econ)
        with np.errstate(invalid="ignore", divide="ignore"):
            self._econ = np.where(mod > 0, econ / mod, 0).astype(np.complex64)
        self._spectrum = sfft.fftn(np.asarray(volume, dtype=np.float32).astype(np.complex64),
                                   workers=self.workers)

    # -- bands ---------------------------------------------------------------------------
    def shell(self, k, out=None):
        """The normalised band filter of centre ``k`` on this bank's grid."""
        h = np.subtract(self._q, np.float32(k), out=out)
        h *= h
        h *= np.float32(-1.0 / (2.0 * self.bw ** 2))
        np.exp(h, out=h)
        if self._dc is None:
            h[0, 0, 0] = 0
        else:
            h *= self._dc
        if self.spiral == "reference":
            h /= h.sum(dtype=np.float64)
        else:
            # Per-column sums in float32 (BLAS-fast; 2e-6 relative off a float64 sum, well
            # below what the methods resolve), then the half-grid weights.
            columns = h.reshape(-1, h.shape[-1])
            energy = float(np.einsum("ij,ij->j", columns, columns) @ self._half_weight)
            h /= np.float32(np.sqrt(energy))
        return h

    def band(self, k):
        """Band map and spiral amplitude at centre ``k`` (Fourier pixels)."""
        if self.spiral == "reference":
            return self._band_reference(k)
        return self._band_riesz(k)

    def _inverse(self, spectrum, out=None):
        """Inverse real FFT that uses ``spectrum`` (half grid) as its scratch space, written
        into ``out`` when given.

        ``irfftn`` would copy the spectrum into a temporary for its complex stage and allocate
        its result; doing the complex stage in place and the last axis into a kept buffer
        saves that memory and the page faults of fresh volumes every band.
        """
        spectrum = sfft.ifftn(spectrum, axes=(0, 1), overwrite_x=True, workers=self.workers)
        if out is not None and _c2r is not None:
            # scipy's own kernel behind irfft, called with an output buffer (2: divide by n).
            return _c2r(spectrum, (2,), self.shape[2], False, 2, out, self.workers)
        result = sfft.irfft(spectrum, n=self.shape[2], axis=2, workers=self.workers)
        if out is None:
            return result
        out[...] = result
        return out

    def _band_riesz(self, k, reuse=False):
        # Work buffers live as long as the bank: big fresh arrays cost page faults per band.
        if self._work is None:
            self._work = (np.empty(self._q.shape, np.float32),
                          np.empty(self._spectrum.shape, np.complex64),
                          np.empty(self._spectrum.shape, np.complex64),
                          np.empty(self.shape, np.float32))
        h, hf, tmp, r = self._work
        if reuse:
            if self._band_buffers is None:
                self._band_buffers = (np.empty(self.shape, np.float32),
                                      np.empty(self.shape, np.float32))
            b, m2 = self._band_buffers
        else:
            b, m2 = np.empty(self.shape, np.float32), np.empty(self.shape, np.float32)
        self.shell(k, out=h)
        np.multiply(self._spectrum, h, out=tmp)                 # H F
        self._inverse(tmp, out=b)
        np.multiply(b, b, out=m2)
        # -i H F / |q|: the three Riesz components are this times q_z, q_y, q_x.
        with np.errstate(invalid="ignore"):
            h /= self._q
        h[0, 0, 0] = 0                                           # 0/0 at DC
        np.multiply(self._spectrum, h, out=hf)
        hf *= np.complex64(-1j)
        # Multiplying the (re, im) float view by a real axis vector is ~3x faster than a
        # complex-by-real multiply.
        hf_pairs = hf.view(np.float32).reshape(hf.shape + (2,))
        tmp_pairs = tmp.view(np.float32).reshape(tmp.shape + (2,))
        for q_axis in self._riesz_axes:
            np.multiply(hf_pairs, q_axis[..., None], out=tmp_pairs)
            self._inverse(tmp, out=r)
            r *= r
            m2 += r
        np.sqrt(m2, out=m2)
        return Band(float(k), b, m2)

    def _band_reference(self, k):
        hf = self.shell(k) * self._spectrum
        b = sfft.ifftn(hf, workers=self.workers).real.astype(np.float32)
        hf *= self._econ
        s = np.abs(sfft.ifftn(hf, workers=self.workers, overwrite_x=True)).astype(np.float32)
        m = np.sqrt(b * b + s * s)
        return Band(float(k), b, m)

    def scratch(self):
        """A float32 volume the caller may use between bands (the bank's own scratch in riesz
        mode, so it costs no memory; the next band overwrites it)."""
        if self.spiral == "riesz" and self._work is not None:
            return self._work[3]
        return np.empty(self.shape, np.float32)

    def sweep(self, ks, progress=None, label="band"):
        """Yield ``Band`` for each centre in ``ks``, reporting progress after each.

        The bands' arrays are reused: each band is overwritten by the next one, so use (or
        copy) it before asking for the next. This keeps memory at a fixed number of volumes.
        """
        total = len(ks)
        for i, k in enumerate(ks):
            band = self._band_riesz(k, reuse=True) if self.spiral == "riesz" else self.band(k)
            yield band
            if progress is not None:
                progress(i + 1, total, f"{label} {i + 1}/{total} at {self.resolution(k):.2f} Å"
                         if k > 0 else f"{label} {i + 1}/{total}")


def sweep_frequencies(kmin, kmax, count=None):
    """Band centres from ``kmin`` to ``kmax`` inclusive.

    By default ``|kmax - kmin|`` evenly spaced values, as LocSpiral, LocBSharpen and
    LocOccupancy do; LocBFactor passes its own ``count``.
    """
    if count is None:
        count = int(abs(kmax - kmin))
    return np.linspace(kmin, kmax, int(count))
