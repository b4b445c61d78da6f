"""The core's ``spiral="reference"`` mode against an independent numpy transcription.

The helpers prefixed ``ref_`` below are a deliberately plain transcription of
/work/shared/ALGORITHM.md ("The filter bank", "Reference quirks" 1-5, "Noise statistics",
LocSpiral, LocBSharpen, LocBFactor, LocOccupancy), written from the document alone and
without looking at the core's implementation: full complex FFT grids, ``np.fft``,
``np.meshgrid``, float64 throughout.  The core computes in float32, so the comparisons
use a 1e-4 tolerance (see ``assert_close``).

Readings of the document taken where it leaves room (listed so that a disagreement can be
traced to one of them):
* integer FFT frequencies k are numpy ``fftfreq(N) * N`` on the unshifted grid; for even N
  every filter (shell, DC factor, spiral) is evaluated at k + 1 along every axis (quirk 2),
  for odd N at k itself;
* the DC factor multiplies the shell before the sum-to-one normalisation;
* quirk 4: only N = shape[0] is used, and the core must refuse non-cubic boxes in this mode;
* phase cosine c = cos(atan2(s, b)) (= b/m where m > 0);
* both M and W are divided by kmax and standardised on the noise voxels; only M is clipped
  at 0 (the document says "M is clipped at 0");
* LocBSharpen: i0 = argmin |k_i - floor(p*N/sharpen_res)| (first index on a tie);
* LocBFactor: ordinary unweighted least squares over the num_points bands, the intercept
  is the value at x = 0 (``amplitude_at="intercept"``), bfactor = 4 * slope, 0 outside mask;
* LocOccupancy: O = mean over bands of (m_i >= t_i), 0 outside the mask.
"""
import numpy as np
from locspiral_em.tests.pytest_shim import pytest  # pytest, or a stand-in in a stock Scipion

from locspiral_em import core

VOXEL = 1.5
TOL = 1e-4


# --------------------------------------------------------------------------------------
# Independent reference implementation (transcribed from ALGORITHM.md)
# --------------------------------------------------------------------------------------

def ref_grid(n):
    """Integer frequency grids (kz, ky, kx) in numpy FFT order, with the off-by-one quirk."""
    # 0, 1, ..., -1; rounded because fftfreq(n) * n is not exact (e.g. -5.999999999999999
    # for n = 24), which would break the economy filter's exact zero at ky + kz = 0 = kx.
    k = np.rint(np.fft.fftfreq(n) * n)
    if n % 2 == 0:                     # quirk 2: even N evaluated at k + 1 on every axis
        k = k + 1.0
    kz, ky, kx = np.meshgrid(k, k, k, indexing="ij")
    return kz, ky, kx


def ref_sweep(voxel, n, min_res, max_res, count=None):
    kmax = np.floor(voxel * n / max_res)
    kmin = np.floor(voxel * n / min_res)
    if count is None:
        count = int(abs(kmax - kmin))
    return kmin, kmax, np.linspace(kmin, kmax, count)


def ref_bands(volume, freqs, bw):
    """Yield (k_i, b_i, s_i) for every swept frequency: reference (economy) mode."""
    n = volume.shape[0]
    kz, ky, kx = ref_grid(n)
    radius = np.sqrt(kx ** 2 + ky ** 2 + kz ** 2)
    dc = 1.0 - np.exp(-radius ** 2 / (2.0 * 0.05 ** 2))
    num = (ky + kz) + 1j * kx                       # quirk 1: economy spiral filter
    den = np.abs(num)
    spiral = np.zeros_like(num)
    nz = den > 0
    spiral[nz] = num[nz] / den[nz]
    fv = np.fft.fftn(volume.astype(np.float64))
    for k in freqs:
        h = np.exp(-(radius - k) ** 2 / (2.0 * bw ** 2)) * dc
        h = h / h.sum()
        b = np.real(np.fft.ifftn(h * fv))
        s = np.abs(np.fft.ifftn(h * spiral * fv))
        yield k, b, s


def ref_noise_voxels(mask):
    """Outside the mask and inside the reference's noise sphere (quirk 3).

    Integer coordinates and an exact integer comparison x^2 + y^2 + z^2 < R^2: voxels ON the
    sphere (e.g. (12, 4, 3) for N = 25, R = 13) are excluded, as in the original's double
    arithmetic. A float32 evaluation of sum((c/R)^2) < 1 rounds some of them to 0.99999994
    and wrongly includes them, which moves every noise quantile and the standardisation.
    """
    n = mask.shape[0]
    c = np.arange(n) + 1 - np.floor((n + 1) / 2)
    z, y, x = np.meshgrid(c, c, c, indexing="ij")
    r = np.floor((n + 1) / 2)
    sphere = (x ** 2 + y ** 2 + z ** 2) < r ** 2
    return sphere & (mask == 0)


def ref_quantile(values, q):
    return np.quantile(values, q, method="hazen")   # quirk 5


def ref_standardise(a, noise):
    return (a - a[noise].mean()) / a[noise].std(ddof=1)


def ref_locspiral(volume, mask, voxel, min_res, max_res, threshold, bw, snr_weight=True):
    n = volume.shape[0]
    kmin, kmax, freqs = ref_sweep(voxel, n, min_res, max_res)
    noise = ref_noise_voxels(mask)
    M = np.zeros(volume.shape)
    W = np.zeros(volume.shape)
    margins = []
    for _, b, s in ref_bands(volume, freqs, bw):
        m = np.sqrt(b ** 2 + s ** 2)
        c = np.cos(np.arctan2(s, b))
        q = ref_quantile(m[noise], threshold)
        C = m / (m + q) if snr_weight else np.ones_like(m)
        S = (m >= q)
        M += C * S * c
        W += C * S
        margins.append(np.abs(m - q) / q)
    M /= kmax
    W /= kmax
    M = np.maximum(ref_standardise(M, noise), 0.0)
    W = ref_standardise(W, noise)
    return M, W, np.min(margins, axis=0)


def ref_locbsharpen(volume, mask, voxel, min_res, max_res, threshold, bw, sharpen_res):
    n = volume.shape[0]
    kmin, kmax, freqs = ref_sweep(voxel, n, min_res, max_res)
    noise = ref_noise_voxels(mask)
    i0 = int(np.argmin(np.abs(freqs - np.floor(voxel * n / sharpen_res))))
    M = np.zeros(volume.shape)
    W = np.zeros(volume.shape)
    a = None
    for i, (_, b, s) in enumerate(ref_bands(volume, freqs, bw)):
        m = np.sqrt(b ** 2 + s ** 2)
        c = np.cos(np.arctan2(s, b))
        q = ref_quantile(m[noise], threshold)
        C = m / (m + q)
        if i == i0:
            a = m
        amp = m if i < i0 else a
        M += C * c * amp
        W += C * amp
    M /= kmax
    W /= kmax
    M = np.maximum(ref_standardise(M, noise), 0.0)
    W = ref_standardise(W, noise)
    return M, W, i0


def ref_locbfactor(volume, mask, voxel, min_res, max_res, num_points, threshold, bw):
    n = volume.shape[0]
    _, _, freqs = ref_sweep(voxel, n, min_res, max_res, count=num_points)
    noise = ref_noise_voxels(mask)
    ys, xs, ns = [], [], []
    for k, b, s in ref_bands(volume, freqs, bw):
        m = np.sqrt(b ** 2 + s ** 2)
        q = ref_quantile(m[noise], threshold)
        C = m / (m + q)
        ys.append(np.log(C * m * np.sqrt(n ** 3)))
        xs.append((k / (voxel * n)) ** 2)
        ns.append(np.log(q * np.sqrt(n ** 3)))
    y = np.array(ys)                       # (bands, z, y, x)
    x = np.array(xs)[:, None, None, None]
    cnt = len(xs)
    sx, sy = x.sum(0), y.sum(0)
    sxx, sxy = (x * x).sum(0), (x * y).sum(0)
    slope = (cnt * sxy - sx * sy) / (cnt * sxx - sx * sx)
    intercept = (sy - slope * sx) / cnt
    inside = mask > 0
    bfac = np.where(inside, 4.0 * slope, 0.0)
    return bfac, intercept, np.array(ns), np.array(xs)


def ref_lococcupancy(volume, mask, voxel, min_res, max_res, quantile, bw):
    n = volume.shape[0]
    _, _, freqs = ref_sweep(voxel, n, min_res, max_res)
    inside = mask > 0
    acc = np.zeros(volume.shape)
    margins = []
    for _, b, s in ref_bands(volume, freqs, bw):
        m = np.sqrt(b ** 2 + s ** 2)
        t = ref_quantile(m[inside], quantile)
        acc += (m >= t)
        margins.append(np.abs(m - t) / t)
    occ = np.where(inside, acc / len(freqs), 0.0)
    return occ, np.min(margins, axis=0)


# --------------------------------------------------------------------------------------
# Test data and comparison helpers
# --------------------------------------------------------------------------------------

def make_phantom(n, seed=7):
    """Random smooth phantom: Gaussian blobs inside a central ball, plus white noise."""
    rng = np.random.default_rng(seed)
    c = np.arange(n) - (n - 1) / 2.0
    z, y, x = np.meshgrid(c, c, c, indexing="ij")
    vol = np.zeros((n, n, n))
    for _ in range(12):
        centre = rng.uniform(-n / 6.0, n / 6.0, size=3)
        sigma = rng.uniform(0.8, 2.0)
        d2 = (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2
        vol += rng.uniform(0.5, 1.5) * np.exp(-d2 / (2 * sigma ** 2))
    vol += 0.15 * rng.standard_normal(vol.shape)
    mask = (z ** 2 + y ** 2 + x ** 2) < (n / 3.5) ** 2
    return vol.astype(np.float32), mask.astype(np.float32)


@pytest.fixture(scope="module", params=[24, 25], ids=["N24", "N25"])
def data(request):
    return make_phantom(request.param)


def assert_close(name, got, want, scale, where=None):
    """|got - want| <= 1e-4 * scale on the selected voxels.

    ``scale`` is max|want| for maps with an arbitrary physical scale (1e-4 relative error is
    about 1000 float32 ulps, room for the FFT round-off of the core's float32 path), and 1 for
    standardised maps, where the unit is the noise standard deviation: an absolute 1e-4 there
    is 1e-4 of the noise SD, while values reach a few tens so the relative error stays at the
    float32 FFT level.
    """
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{name}: shape {got.shape} != {want.shape}"
    if where is not None:
        got, want = got[where], want[where]
    dev = float(np.max(np.abs(got - want))) if got.size else 0.0
    print(f"{name}: max deviation {dev:.3e} (scale {scale:.3e}, rel {dev / scale:.3e})")
    assert dev <= TOL * scale, f"{name}: max deviation {dev:.3e} > {TOL:g} * {scale:.3e}"


def unambiguous(margin, rel=1e-4):
    """Voxels whose significance/occupancy tests are not within float32 round-off of the
    threshold in any band (a flip there is a legitimate float32 vs float64 difference)."""
    keep = margin > rel
    assert keep.mean() > 0.99, "too many voxels sit on a band threshold"
    return keep


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------

def test_locspiral_reference(data):
    vol, mask = data
    args = dict(min_res=20.0, max_res=3.6, threshold=0.9, bw=4.5)
    M, W, margin = ref_locspiral(vol, mask, VOXEL, **args)
    gM, gW = core.locspiral(vol, mask, VOXEL, spiral="reference", **args)
    keep = unambiguous(margin)
    assert_close("locspiral map", gM, M, 1.0, keep)
    assert_close("locspiral quality", gW, W, 1.0, keep)


def test_locspiral_reference_no_snr_weight(data):
    vol, mask = data
    args = dict(min_res=20.0, max_res=3.6, threshold=0.9, bw=4.5)
    M, W, margin = ref_locspiral(vol, mask, VOXEL, snr_weight=False, **args)
    gM, gW = core.locspiral(vol, mask, VOXEL, spiral="reference", snr_weight=False, **args)
    keep = unambiguous(margin)
    assert_close("locspiral map (C=1)", gM, M, 1.0, keep)
    assert_close("locspiral quality (C=1)", gW, W, 1.0, keep)


def test_locbsharpen_reference(data):
    vol, mask = data
    # sharpen_res=10 puts i0 inside the sweep (k = 1, 2.125, 3.25, ...; floor(p*N/10) = 3)
    args = dict(min_res=20.0, max_res=3.6, threshold=0.9, bw=4.5, sharpen_res=10.0)
    M, W, i0 = ref_locbsharpen(vol, mask, VOXEL, **args)
    assert 0 < i0 < 8
    gM, gW = core.locbsharpen(vol, mask, VOXEL, spiral="reference", **args)
    assert_close("locbsharpen map", gM, M, 1.0)
    assert_close("locbsharpen quality", gW, W, 1.0)


def test_locbfactor_reference(data):
    vol, mask = data
    args = dict(min_res=15.0, max_res=3.6, num_points=6, threshold=0.9, bw=4.8)
    B, A, noise, xs = ref_locbfactor(vol, mask, VOXEL, **args)
    out = core.locbfactor(vol, mask, VOXEL, spiral="reference", filtered=False,
                          amplitude_at="intercept", **args)
    gB, gA, gnoise, gx = out[0], out[1], out[2], out[3]
    inside = mask > 0
    assert np.all(np.asarray(gB)[~inside] == 0)
    assert_close("locbfactor bfactor", gB, B, np.max(np.abs(B[inside])), inside)
    assert_close("locbfactor amplitude", gA, A, np.max(np.abs(A[inside])), inside)
    assert_close("locbfactor noise", np.ravel(gnoise), noise, np.max(np.abs(noise)))
    assert_close("locbfactor res_square", np.ravel(gx), xs, np.max(np.abs(xs)))


def test_lococcupancy_reference(data):
    vol, mask = data
    args = dict(min_res=20.0, max_res=6.0, quantile=0.25, bw=5.0)
    O, margin = ref_lococcupancy(vol, mask, VOXEL, **args)
    gO = core.lococcupancy(vol, mask, VOXEL, spiral="reference", **args)
    keep = unambiguous(margin)
    assert_close("lococcupancy", gO, O, 1.0, keep)


def test_reference_mode_rejects_non_cubic():
    vol, mask = make_phantom(24)
    vol, mask = vol[:, :, :20].copy(), mask[:, :, :20].copy()
    with pytest.raises(core.InputError):
        core.locspiral(vol, mask, VOXEL, 20.0, 3.6, spiral="reference")
