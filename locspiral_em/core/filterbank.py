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

Memory (riesz mode): the bank keeps the map's transform and, for its bands, one half-grid
complex buffer and one volume (m), about three volumes in all (6.5 before). A band's four
spectra are made one after another in that buffer, the shell evaluated again for each (no
stored |q| or shell): after the complex stage of each Riesz component's inverse FFT, each
slab of planes is transformed along x into a small array, its square added to m, and its
planes of the buffer refilled with the next spectrum; b, made last, is written into the
buffer's own memory. Bands are produced one at a time, so memory does not grow with the
number of bands.

Speed (riesz mode): a band costs about its four inverse FFTs. The shell is evaluated only
within ``SHELL_REACH`` band widths of its centre, where it is not negligible, and the inverse
FFTs skip the columns that are zero outside that box; the element-wise work (shell, Riesz
multipliers, amplitude, the methods' accumulation) runs block by block in the bank's threads
(``Slabs``, ``FilterBank.map_slabs``), fused so that each block stays in cache.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, NamedTuple

import numpy as np
import scipy.fft as sfft

from .errors import InputError
from .scale import scale_of

try:  # the kernels behind scipy.fft.irfft and ifft, which accept an output array (in place)
    from scipy.fft._pocketfft.pypocketfft import c2c as _c2c, c2r as _c2r, r2c as _r2c
except ImportError:  # other scipy layouts: fall back to irfft and a copy
    _c2c = _c2r = _r2c = None

SPIRAL_MODES = ("riesz", "reference")
DC_SIGMA = 0.05  # Fourier pixels: the DC-suppressing factor is zero only at q = 0
# Beyond this many band widths from its centre a shell is below exp(-50) ~ 2e-22 of its peak;
# even a spectrum 1e14 times stronger there than on the shell would add less than float32
# rounding (6e-8) to the band, so the riesz mode leaves those coefficients at 0 and does not
# evaluate exp() there.
SHELL_REACH = 10.0
# Element-wise work on volumes runs block by block: a block of this many bytes of one volume
# and the temporaries made from it stay in cache across a chain of operations, instead of
# each operation streaming whole volumes through memory.
BLOCK_BYTES = 1 << 19


class Band(NamedTuple):
    """One frequency band: centre ``k`` (Fourier pixels), band map ``b``, amplitude ``m``."""
    k: float
    b: np.ndarray
    m: np.ndarray


def default_workers(workers):
    """FFT threads: ``None`` or a value < 1 means every core."""
    if workers is None or workers < 1:
        return os.cpu_count() or 1
    return int(workers)


_POOLS = {}
_POOLS_LOCK = threading.Lock()
if hasattr(os, "register_at_fork"):  # a forked child has none of its parent's threads
    os.register_at_fork(after_in_child=_POOLS.clear)


def _pool(workers):
    with _POOLS_LOCK:
        pool = _POOLS.get(workers)
        if pool is None:
            pool = _POOLS[workers] = ThreadPoolExecutor(workers, "locspiral")
        return pool


class Slabs:
    """Consecutive axis-0 slabs ``[lo, hi)`` of a volume (and of its real-FFT half grid, which
    has the same first axis), worked on by ``workers`` threads.

    numpy releases the GIL inside its element-wise loops, so the per-band arithmetic besides
    the FFTs runs on every core as the FFTs do, and block by block (``BLOCK_BYTES``) so that
    a chain of operations on one block stays in cache.
    """

    def __init__(self, shape, workers):
        plane = 4 * int(np.prod(shape[1:]))
        step = max(1, BLOCK_BYTES // max(plane, 1))
        edges = list(range(0, shape[0], step)) + [shape[0]]
        self.blocks = list(zip(edges[:-1], edges[1:]))
        self.workers = workers
        # A few tasks per thread, each a run of consecutive blocks: balanced when other
        # processes share the cores, and little scheduling per block.
        count = 1 if workers <= 1 else min(len(self.blocks), 4 * workers)
        split = np.linspace(0, len(self.blocks), count + 1).astype(int)
        self._tasks = [self.blocks[a:b] for a, b in zip(split[:-1], split[1:])]

    def map(self, work):
        """``work(lo, hi)`` on every slab; the results in slab order."""
        tasks = self._tasks
        if len(tasks) == 1:
            return [work(lo, hi) for lo, hi in self.blocks]
        results = [None] * len(tasks)
        lock = threading.Lock()
        queue = iter(range(len(tasks)))

        def drain():
            while True:
                with lock:
                    i = next(queue, None)
                if i is None:
                    return
                results[i] = [work(lo, hi) for lo, hi in tasks[i]]
        # The calling thread takes tasks too, so that when the other threads are slow to get
        # a core (a busy machine) it is not left waiting for them: it does their share, and
        # helpers that have not started by then are cancelled.
        helpers = [_pool(self.workers).submit(drain) for _ in range(self.workers - 1)]
        try:
            drain()
        finally:
            for helper in helpers:
                if not helper.cancel():
                    helper.result()
        return [r for part in results for r in part]


def _support(magnitudes, reach):
    """Indices of one axis in FFT order with ``|q| < reach``: ``[0, a)`` and ``[b, n)``,
    returned as ``(a, b)`` (``a = b = n`` when the whole axis is inside)."""
    inside = np.abs(magnitudes) < reach
    n = inside.size
    if inside.all():
        return n, n
    lead = int(np.argmin(inside))
    trail = int(np.argmin(inside[::-1]))
    return lead, n - trail


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
    rescale : bool
        Work on the map divided by the power of two nearest its RMS (``scale.scale_of``), so
        that band powers neither overflow nor underflow in float32 whatever the map's units;
        ``scale_exponent`` is that power (b and m are in units of ``2**scale_exponent``).
        No copy of the map is made. Off by default: b and m in the map's own units.
    """

    def __init__(self, volume, voxel_size, bw, spiral="riesz", workers=None, rescale=False):
        if spiral not in SPIRAL_MODES:
            raise InputError(f"spiral must be one of {SPIRAL_MODES}, not {spiral!r}")
        self.shape = tuple(int(n) for n in volume.shape)
        self.voxel_size = float(voxel_size)
        self.bw = float(bw)
        self.spiral = spiral
        self.workers = default_workers(workers)
        self.slabs = Slabs(self.shape, self.workers)
        # One Fourier pixel is 1/(p*N) Å^-1 with N the longest axis, so that on a cubic box
        # "k pixels" means exactly what the paper and the reference code mean.
        self.n_ref = max(self.shape)
        self.scale_exponent = scale_of(volume).exponent if rescale else 0
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
        # |q| itself is not kept (half a volume): each pass makes it block by block (_radius),
        # in cache, where it is used, from qz^2 and the plane qy^2 + qx^2 (small).
        self._half_shape = (nz, ny, self._qx.shape[2])
        self._qyx2 = np.add(np.square(self._qy), np.square(self._qx))
        # The Riesz multiplier -i q_j/|q| is odd, and an odd multiplier has no Hermitian value
        # on an even axis's Nyquist plane (-N/2 is its own mirror image). The real inverse FFT
        # drops it silently along the last axis only; dropping it along every axis keeps the
        # transform the same whichever way the map's axes are ordered.
        self._riesz_axes = tuple(self._without_nyquist(a, n_axis) for a, n_axis in
                                 zip((self._qz, self._qy, self._qx), self.shape))
        # The multipliers -i q_j as complex vectors: a complex-by-complex product is as fast
        # as complex-by-real and saves a pass applying -i.
        self._riesz_multipliers = tuple((a * np.complex64(-1j)).astype(np.complex64)
                                        for a in self._riesz_axes)
        # No DC-factor array here: on this grid every non-zero |q| is >= 1 pixel, where
        # 1 - exp(-q^2 / (2 * 0.05^2)) is exactly 1 in float32, so the factor only zeroes q = 0.
        self._dc = None
        # The half grid holds each coefficient once, except the x = 0 (and x = N/2) planes;
        # weights turn half-grid sums into full-grid sums for the normalisation.
        w = np.full(self._half_shape[2], 2.0, dtype=np.float32)
        w[0] = 1.0
        if nx % 2 == 0:
            w[-1] = 1.0
        self._half_weight = w
        self._work = None
        self._box_cache = (None, {})
        self._spectrum = self._forward(volume)

    def _forward(self, volume):
        """``rfftn`` of the map divided by ``2**scale_exponent``. Scaled, the map is copied
        slab by slab into the real-to-complex stage along x (rfftn's first stage), then the
        complex stage runs in place: the same transform as rfftn of a scaled copy, bit for
        bit, without that copy."""
        e = self.scale_exponent
        if e == 0 or _r2c is None or _c2c is None:
            volume = np.asarray(volume, dtype=np.float32)
            return sfft.rfftn(np.ldexp(volume, -e) if e else volume, workers=self.workers)
        spectrum = np.empty(self._half_shape, np.complex64)

        def along_x(lo, hi):
            part = np.ldexp(np.asarray(volume[lo:hi], dtype=np.float32), np.int32(-e),
                            dtype=np.float32)
            _r2c(part, (2,), True, 0, spectrum[lo:hi], 1)
        self.slabs.map(along_x)
        return _c2c(spectrum, (0, 1), True, 0, spectrum, self.workers)

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
        self._q_reference = q
        self._dc = (1.0 - np.exp(-q ** 2 / (2 * DC_SIGMA ** 2))).astype(np.float32)
        # Quirk 1: the "economy" quadrature filter, one complex filter, not isotropic.
        econ = ((ky + kz) + 1j * kx).astype(np.complex64)
        mod = np.abs(econ)
        with np.errstate(invalid="ignore", divide="ignore"):
            self._econ = np.where(mod > 0, econ / mod, 0).astype(np.complex64)
        volume = np.asarray(volume, dtype=np.float32)
        if self.scale_exponent:   # a scaled copy: the reference mode is for small maps
            volume = np.ldexp(volume, -self.scale_exponent)
        self._spectrum = sfft.fftn(volume.astype(np.complex64),
                                   workers=self.workers)

    # -- bands ---------------------------------------------------------------------------
    def map_slabs(self, work):
        """``work(lo, hi)`` on consecutive axis-0 slabs of the volume in this bank's threads
        (see ``Slabs``); the results in slab order."""
        return self.slabs.map(work)

    def shell(self, k, out=None):
        """The normalised band filter of centre ``k`` on this bank's grid."""
        if self.spiral != "reference":
            return self._shell_riesz(k, out)
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

    @property
    def _q(self):
        """|q| (Fourier pixels) on the bank's whole grid. The riesz bank keeps only the three
        axes and makes this on demand (half a volume, for tests and tools)."""
        if self.spiral == "reference":
            return self._q_reference
        return self._radius(slice(None), slice(None), slice(None))

    def _radius(self, z, y, x):
        """|q| on the block ``[z, y, x]`` (slices) of the riesz half grid: one addition and a
        square root per coefficient. (``sqrt(qz^2 + (qy^2 + qx^2))``: exact integers on a
        cubic box, within float32 rounding of any other order on others.)"""
        q = np.add(np.square(self._qz[z]), self._qyx2[:, y, x])
        return np.sqrt(q, out=q)

    def _shell_riesz(self, k, out=None):
        # The same arithmetic as the reference branch of shell(), element-wise work in the
        # bank's threads (the sweep itself fills its spectra with _fill_slab; LocBFactor's and
        # LocSharpen's setups call this once or twice per band).
        h = np.empty(self._half_shape, np.float32) if out is None else out
        scale = np.float32(-1.0 / (2.0 * self.bw ** 2))
        every = slice(None)

        def gaussian(lo, hi):
            hs = np.subtract(self._radius(slice(lo, hi), every, every), np.float32(k),
                             out=h[lo:hi])
            hs *= hs
            hs *= scale
            np.exp(hs, out=hs)
        self.slabs.map(gaussian)
        h[0, 0, 0] = 0                 # the DC factor: exactly 1 elsewhere on this grid
        # Per-column sums in float32 (BLAS-fast; 2e-6 relative off a float64 sum, well
        # below what the methods resolve), then the half-grid weights.
        columns = h.reshape(-1, h.shape[-1])
        energy = float(np.einsum("ij,ij->j", columns, columns) @ self._half_weight)
        norm = np.float32(np.sqrt(energy))
        self.slabs.map(lambda lo, hi: np.divide(h[lo:hi], norm, out=h[lo:hi]))
        return h

    def band(self, k):
        """Band map and spiral amplitude at centre ``k`` (Fourier pixels)."""
        if self.spiral == "reference":
            return self._band_reference(k)
        return self._band_riesz(k)

    def _inverse(self, spectrum, out=None, support=None):
        """Inverse real FFT that uses ``spectrum`` (half grid) as its scratch space, written
        into ``out`` when given.

        ``irfftn`` would copy the spectrum into a temporary for its complex stage and allocate
        its result; doing the complex stage in place and the last axis into a kept buffer
        saves that memory and the page faults of fresh volumes.

        ``support = (za, zb, xa)`` says the spectrum is 0 outside the planes ``[0, za)`` and
        ``[zb, nz)`` and the columns ``[0, xa)`` (a shell's box, see ``_fill_slab``). The
        complex stage then transforms along y only those planes' first ``xa`` columns, and
        along z only the first ``xa`` columns: the transforms of zero columns are zero.
        """
        if support is None:
            support = (self.shape[0], self.shape[0], spectrum.shape[2])
        self._complex_stage(spectrum, support)
        if out is not None and _c2r is not None:
            # scipy's own kernel behind irfft, called with an output buffer (2: divide by n).
            return _c2r(spectrum, (2,), self.shape[2], False, 2, out, self.workers)
        result = sfft.irfft(spectrum, n=self.shape[2], axis=2, workers=self.workers)
        if out is None:
            return result
        out[...] = result
        return out

    def _shell_support(self, k):
        """Where the shell of centre ``k`` may be non-zero: ``reach`` (its largest |q| that
        counts, ``SHELL_REACH`` band widths beyond ``k``) and the planes/columns
        ``(za, zb, xa)`` of its box (see ``_inverse``)."""
        reach = k + SHELL_REACH * self.bw
        za, zb = _support(self._qz.ravel(), reach)
        xa = _support(self._qx.ravel(), reach)[0]
        return reach, (za, zb, xa)

    def _fill_slab(self, out, lo, hi, k, reach, support, weight=1.0, multiplier=None,
                   energy=False):
        """Planes ``[lo, hi)`` of ``out`` (half grid) set to ``F H weight`` or, given a
        Riesz ``multiplier`` (-i q_j), to ``F H weight (-i q_j) / |q|`` (0 at DC), where H is
        the shell of centre ``k`` before normalisation. Returns the slab's part of the
        full-grid energy ``sum H^2`` when ``energy`` (else 0).

        Every entry of the slab is written, so ``out`` may hold anything before (the last
        band's real-space component). The shell is made only where ``|q|`` may be within
        ``reach``: in each block of planes, the rows and columns with ``qz^2 + qy^2 < reach^2``
        (resp. ``qz^2 + qx^2``) for the block's smallest ``|qz|``; the rest is 0. Making it
        again for each of a band's four spectra is cheaper than keeping it: it costs no
        memory, and a block's work stays in cache.
        """
        za, zb, _ = support
        ny, nx_half = self._half_shape[1:]
        scale = np.float32(-1.0 / (2.0 * self.bw ** 2))
        weight = np.float32(weight)
        # The half-grid weights (1 on the x = 0 and x = N/2 planes, 2 elsewhere) in the energy
        # sum: 2 sum h^2 less the single-weight columns' sums, with a BLAS dot product.
        single = [0] + ([nx_half - 1] if self.shape[2] % 2 == 0 and nx_half > 1 else [])

        def box(z0, z1, y0, y1, x1):
            at = (slice(z0, z1), slice(y0, y1), slice(0, x1))
            q = self._radius(*at)
            h = np.subtract(q, np.float32(k))
            h *= h
            h *= scale
            np.exp(h, out=h)
            dc = z0 == 0 and y0 == 0
            if dc:
                h[0, 0, 0] = 0   # the DC factor: exactly 1 elsewhere on this grid (see setup)
            total = 0.0
            if energy:
                flat = h.reshape(-1)
                total = 2.0 * float(np.dot(flat, flat))
                for x in single:
                    if x < x1:
                        column = h[:, :, x]
                        total -= float(np.vdot(column, column))
            if multiplier is None:
                if weight != 1:
                    h *= weight
            else:
                if dc:
                    q[0, 0, 0] = 1   # h is 0 there: no 0/0 (and no errstate, costly per box)
                np.divide(weight, q, out=q)
                h *= q
            target = out[at]
            np.multiply(self._spectrum[at], h, out=target)
            if multiplier is not None:
                target *= multiplier[tuple(s if n > 1 else slice(None)
                                           for s, n in zip(at, multiplier.shape))]
            return total

        total = 0.0
        for z0, z1, inside in ((lo, min(hi, za), True), (max(lo, za), min(hi, zb), False),
                               (max(lo, zb), hi, True)):
            if z1 <= z0:
                continue
            if not inside:
                out[z0:z1] = 0
                continue
            ya, yb, x1 = self._rows_and_columns(reach, z0, z1)
            out[z0:z1, ya:yb] = 0
            out[z0:z1, :ya, x1:] = 0
            out[z0:z1, yb:, x1:] = 0
            if ya > 0 and x1 > 0:
                total += box(z0, z1, 0, ya, x1)
            if yb < ny and x1 > 0:
                total += box(z0, z1, yb, ny, x1)
        return total

    def _rows_and_columns(self, reach, z0, z1):
        """``(ya, yb, x1)``: the rows ``[0, ya)``, ``[yb, ny)`` and columns ``[0, x1)`` of
        planes ``[z0, z1)`` where ``qz^2 + qy^2`` (resp. ``qz^2 + qx^2``) may be below
        ``reach^2``; kept for the band (the same for its four spectra)."""
        cache = self._box_cache
        if cache[0] != reach:   # a new band (a race of two threads here only recomputes)
            cache = self._box_cache = (reach, {})
        found = cache[1].get((z0, z1))
        if found is None:
            near = float(np.abs(self._qz.ravel()[z0:z1]).min())
            rest = np.sqrt(max(reach * reach - near * near, 0.0))
            ya, yb = _support(self._qy.ravel(), rest)
            found = cache[1][(z0, z1)] = (ya, yb, _support(self._qx.ravel(), rest)[0])
        return found

    def _shell_spectrum(self, k, out, weight=1.0, multiplier=None):
        """``_fill_slab`` on every slab in the bank's threads: returns the shell's full-grid
        energy and the support ``(za, zb, xa)`` for ``_inverse``."""
        reach, support = self._shell_support(k)
        energy = sum(self.slabs.map(lambda lo, hi: self._fill_slab(
            out, lo, hi, k, reach, support, weight, multiplier, energy=True)))
        return energy, support

    def _complex_stage(self, spectrum, support):
        """The complex stage of ``_inverse`` (along z and y, in place, pruned to
        ``support``)."""
        if _c2c is None:
            spectrum[...] = sfft.ifftn(spectrum, axes=(0, 1), workers=self.workers)
            return
        za, zb, xa = support
        for z0, z1 in ((0, za), (zb, self.shape[0])):
            if z1 > z0:
                part = spectrum[z0:z1, :, :xa]
                _c2c(part, (1,), False, 2, part, self.workers)   # 2: divide by n
        part = spectrum[:, :, :xa]
        _c2c(part, (0,), False, 2, part, self.workers)

    def _real_rows(self, spectrum, lo, hi, workers=1):
        """The last stage of the inverse real FFT (along x) of planes ``[lo, hi)``, after
        ``_complex_stage``, into a new slab-sized array (it stays in cache)."""
        part = spectrum[lo:hi]
        if _c2r is None:
            return sfft.irfft(part, n=self.shape[2], axis=2, workers=workers)
        out = np.empty((hi - lo,) + self.shape[1:], np.float32)
        return _c2r(part, (2,), self.shape[2], False, 2, out, workers)

    def _band_riesz(self, k, reuse=False):
        # Memory: the map's transform and two buffers, one half-grid spectrum (refilled for
        # each component, and which ends holding b) and m. They live as long as the bank
        # when reused: big fresh arrays cost page faults.
        if reuse:
            if self._work is None:
                self._work = (np.empty(self._half_shape, np.complex64),
                              np.empty(self.shape, np.float32))
            spectrum, m = self._work
        else:
            spectrum = np.empty(self._half_shape, np.complex64)
            m = np.empty(self.shape, np.float32)
        reach, support = self._shell_support(k)
        rz, ry, rx = self._riesz_multipliers

        # The Riesz components first and b last, m = sqrt(((R_z^2 + R_y^2) + R_x^2) + b^2).
        # R_z's spectrum is made with the unnormalised shell while its energy is summed; the
        # unit-energy factor 1/sqrt(energy) is then applied to R_z in real space and folded
        # into the other three spectra. After the complex stage of a component's inverse FFT,
        # each slab of planes is transformed along x into a small array, squared into m, and
        # its planes of the spectrum, read, are refilled with the next component's.
        energy, _ = self._shell_spectrum(k, spectrum, 1.0, rz)
        norm = np.float32(1.0 / np.sqrt(energy))

        def component(lo, hi, first, multiplier):
            r = self._real_rows(spectrum, lo, hi)
            if first:
                r *= norm
                np.multiply(r, r, out=m[lo:hi])
            else:
                r *= r
                m[lo:hi] += r
            self._fill_slab(spectrum, lo, hi, k, reach, support, norm, multiplier)

        for first, multiplier in ((True, ry), (False, rx), (False, None)):   # R_z, R_y, R_x
            self._complex_stage(spectrum, support)
            self.slabs.map(lambda lo, hi: component(lo, hi, first, multiplier))

        # b, written contiguously into the spectrum's own memory: plane z of b lies before
        # plane z of the half grid (a half-grid row is longer than a real row), so, slab
        # after slab in order, b's planes only cover planes already transformed.
        self._complex_stage(spectrum, support)
        b = spectrum.view(np.float32).reshape(-1)[:int(np.prod(self.shape))]
        b = b.reshape(self.shape)
        for lo, hi in self.slabs.blocks:
            b[lo:hi] = self._real_rows(spectrum, lo, hi, self.workers)

        def amplitude(lo, hi):
            ms = m[lo:hi]
            ms += np.square(b[lo:hi])                          # one slab: stays in cache
            np.sqrt(ms, out=ms)
        self.slabs.map(amplitude)
        return Band(float(k), b, m)

    def _band_reference(self, k):
        hf = self.shell(k) * self._spectrum
        b = sfft.ifftn(hf, workers=self.workers).real.astype(np.float32)
        hf *= self._econ
        s = np.abs(sfft.ifftn(hf, workers=self.workers, overwrite_x=True)).astype(np.float32)
        m = np.sqrt(b * b + s * s)
        return Band(float(k), b, m)

    def scratch(self):
        """A float32 volume the caller may use between bands (a fresh one: the riesz bank
        keeps no spare volume)."""
        return np.empty(self.shape, np.float32)

    def sweep(self, ks, progress=None, label="band", cutoff=None):
        """Yield ``Band`` for each centre in ``ks``, reporting progress after each.

        The bands' arrays are reused: each band is overwritten by the next one, so use (or
        copy) it before asking for the next. This keeps memory at a fixed number of volumes.
        ``cutoff`` (Fourier pixels): the volume holds nothing beyond it (LocSharpen low-passes
        at max_res and sweeps bands past it); the message then gives where a band's content
        really is (:meth:`band_centre`), not a centre beyond the requested range.
        """
        total = len(ks)
        for i, k in enumerate(ks):
            band = self._band_riesz(k, reuse=True) if self.spiral == "riesz" else self.band(k)
            yield band
            if progress is not None:
                centre = k if cutoff is None else self.band_centre(k, cutoff)
                progress(i + 1, total, f"{label} {i + 1}/{total} at "
                         f"{self.resolution(centre):.2f} Å" if centre > 0
                         else f"{label} {i + 1}/{total}")

    def band_centre(self, k, cutoff):
        """Mean Fourier radius (pixels) of the shell ``k``'s power that lies below ``cutoff``:
        the power-weighted |q| over the shells of radius q <= cutoff (4 pi q^2 dq each)."""
        if k <= cutoff:
            return float(k)
        q = np.linspace(0.0, float(cutoff), 512)
        w = np.exp(-(q - k) ** 2 / self.bw ** 2) * q ** 2  # H^2 times the shell area
        return float(np.sum(w * q) / np.sum(w)) if np.sum(w) > 0 else float(cutoff)


def sweep_frequencies(kmin, kmax, count=None):
    """Band centres from ``kmin`` to ``kmax`` inclusive.

    By default ``|kmax - kmin|`` evenly spaced values, as LocSpiral, LocBSharpen and
    LocOccupancy do; LocBFactor passes its own ``count``.
    """
    if count is None:
        count = int(abs(kmax - kmin))
    return np.linspace(kmin, kmax, int(count))
