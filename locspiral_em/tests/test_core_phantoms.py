"""The core's methods against synthetic maps with a known answer.

Each test states the claim it checks, the reference it compares with and why its tolerance
is what it is. Numbers quoted in comments were measured on this core (commits 84fd1b0 and
bafadcf gave the same figures) with the exact parameters of the test; they are
documentation, not expected values: every assertion compares with an independently
computed reference or a stated bound.

Conventions checked along the way: a band centre ``k`` is in Fourier pixels of the longest
axis (``d = p * max(N) / k``, ``FilterBank.pixels``), each band filter has unit energy over
the full Fourier grid, B-factors carry the sharpening sign (negative = decaying), and the
truth for a phantom domain blurred by ``B_blur`` is the global Guinier B of that domain alone
(a small ball of atoms has a strong low-resolution shape term, so its Guinier slope over
15-3 Å is not exactly ``-B_blur``; the Debye-Waller ``-B_blur`` is the second reference).
"""
import tracemalloc

import numpy as np
from locspiral_em.tests.pytest_shim import pytest  # pytest, or a stand-in in a stock Scipion
import scipy.fft as sfft

from locspiral_em import core
from locspiral_em.core import Domain
from locspiral_em.core.noise import noise_voxels

BW = 4.8          # band width (Fourier pixels) of the published LocBFactor call
FLOAT32_TOL = 1e-5  # relative: float32 FFT round-off is ~eps32 * log2(N) ~ 5e-7 for N <= 64
# (measured <= 7e-7 below); 1e-5 leaves >10x headroom and is 100x tighter than the 1e-3
# flatness the claim needs, so a wrong gain, spacing or normalisation (>= 1e-2) cannot pass.


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

def reference_shell(shape, k, bw=BW):
    """The band filter written from ALGORITHM.md on the FULL complex grid, float64:
    Gaussian shell times the DC factor, divided by sqrt(sum H^2) (unit energy). Frequencies
    are per axis, in Fourier pixels of the longest axis (the core's convention for
    non-cubic boxes: ``q_a = j_a * max(N) / N_a``)."""
    n = max(shape)
    q = [np.fft.fftfreq(s) * n for s in shape]
    qq = np.sqrt(q[0][:, None, None] ** 2 + q[1][None, :, None] ** 2
                 + q[2][None, None, :] ** 2)
    h = np.exp(-(qq - k) ** 2 / (2 * bw ** 2)) * (1 - np.exp(-qq ** 2 / (2 * 0.05 ** 2)))
    return h / np.sqrt((h ** 2).sum())


def wave_radius(shape, j):
    """|q| in Fourier pixels of the longest axis of the integer wave vector j (cycles/box)."""
    n = max(shape)
    return float(np.sqrt(sum((ja * n / na) ** 2 for ja, na in zip(j, shape))))


def wave_phase(shape, j, phi0=0.3):
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    return phi0 + 2 * np.pi * sum(ja * g / na for ja, g, na in zip(j, grids, shape))


def pearson(a, b, mask):
    return float(np.corrcoef(a[mask].astype(np.float64), b[mask].astype(np.float64))[0, 1])


def global_sharpen(volume, voxel_size, bfactor, resolution):
    """Global sharpening: F * exp(-B s^2 / 4) (B with the sharpening sign, so a negative B
    boosts high frequencies), hard low-pass at ``resolution`` Å."""
    shape = volume.shape
    p = float(voxel_size)
    s2 = (sfft.fftfreq(shape[0], d=p)[:, None, None] ** 2
          + sfft.fftfreq(shape[1], d=p)[None, :, None] ** 2
          + sfft.rfftfreq(shape[2], d=p)[None, None, :] ** 2)
    spectrum = sfft.rfftn(volume.astype(np.float64))
    spectrum *= np.exp(-bfactor * s2 / 4.0) * (s2 <= 1.0 / resolution ** 2)
    return sfft.irfftn(spectrum, s=shape)


def domain_medians(values, phantom, mask):
    return [float(np.median(values[d & mask])) for d in phantom.domains]


def relative_error(value, truth):
    return abs(value - truth) / abs(truth)


# --------------------------------------------------------------------------------------
# 1. Riesz amplitude of plane waves and of a wave packet
# --------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, j", [
    ((48, 48, 48), (3, 4, 5)),
    ((48, 40, 64), (3, 5, 4)),     # non-cubic: per-axis spacing 64/48, 64/40, 64/64
    ((48, 40, 64), (-3, 2, 7)),
])
@pytest.mark.parametrize("offset", [0.0, 2.5])   # on the band centre, and 2.5 px off it
def test_plane_wave_amplitude_is_flat_and_equals_filter_gain(shape, j, offset):
    """For A cos(2 pi j.r/N + phi), b = A H(q0) cos(.) and |R| = A H(q0) |sin(.)|, so
    m = A H(q0) everywhere and b/m = cos(phase)."""
    amplitude = 1.7
    phase = wave_phase(shape, j)
    q0 = wave_radius(shape, j)
    k = q0 + offset
    gain = reference_shell(shape, k)[tuple(ja % na for ja, na in zip(j, shape))]
    bank = core.FilterBank(amplitude * np.cos(phase), 1.0, BW)
    # The band centre means the resolution the core says it means.
    assert bank.resolution(q0) == pytest.approx(
        1.0 / np.sqrt(sum((ja / na) ** 2 for ja, na in zip(j, shape))), rel=1e-12)
    band = bank.band(k)
    m = band.m.astype(np.float64)
    assert (m.max() - m.min()) / m.mean() < FLOAT32_TOL
    assert m.mean() == pytest.approx(amplitude * gain, rel=FLOAT32_TOL)
    assert np.abs(band.b / m - np.cos(phase)).max() < FLOAT32_TOL


def test_equal_wavelengths_along_each_axis_of_a_non_cubic_box_have_equal_amplitude():
    """Waves of period 8 voxels along z (N=48), y (N=40) and x (N=64) are the same physical
    frequency; with per-axis spacing they get the same gain, which is H at 8 px (64/8)."""
    shape = (48, 40, 64)
    waves = [(6, 0, 0), (0, 5, 0), (0, 0, 8)]
    gain = reference_shell(shape, 8.0)[6, 0, 0]
    means = []
    for j in waves:
        assert wave_radius(shape, j) == pytest.approx(8.0, rel=1e-12)
        m = core.FilterBank(np.cos(wave_phase(shape, j)), 1.0, BW).band(8.0).m
        assert (m.max() - m.min()) / m.mean() < FLOAT32_TOL
        means.append(float(m.mean()))
    np.testing.assert_allclose(means, gain, rtol=FLOAT32_TOL)


@pytest.mark.parametrize("shape, j, sigma", [
    ((64, 64, 64), (6, 8, 10), 10.0),
    ((48, 40, 64), (6, 5, 8), 8.0),
])
def test_wave_packet_amplitude_follows_its_envelope(shape, j, sigma):
    """G(r) cos(2 pi j.r/N) with a broad Gaussian envelope G (SD ``sigma`` voxels): m is
    about H(q0) G(r).

    Tolerances, from the two leading error terms. The envelope's spectrum is a Gaussian
    blob of SD sq = max(N)/(2 pi sigma) px around +-q0. (i) The shell's radial Gaussian
    (SD bw) multiplies it, so at the envelope centre m = H(q0) G / sqrt(1 + sq^2/bw^2)
    exactly to this order, and elsewhere the ratio m/(H G) stays between that factor and 1
    (the filtered envelope is wider): deviation <= sq^2 / (2 bw^2). (ii) The packet is not
    monochromatic: the Riesz direction q/|q| varies by sq/q0 across the blob, which puts
    errors of order (sq/q0)^2 into the quadrature (largest at the zero crossings of b); we
    allow 2 (sq/q0)^2. Measured: 64^3: centre 0.97777 vs predicted 0.97822, max deviation
    0.0266 vs bound 0.0329; 48x40x64: 0.96586 vs 0.96657, 0.0402 vs 0.0521.
    """
    amplitude = 1.3
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    centre = [n // 2 for n in shape]
    r2 = sum((g - c) ** 2 for g, c in zip(grids, centre))
    envelope = np.exp(-r2 / (2 * sigma ** 2))
    q0 = wave_radius(shape, j)
    gain = reference_shell(shape, q0)[tuple(ja % na for ja, na in zip(j, shape))]
    band = core.FilterBank(amplitude * envelope * np.cos(wave_phase(shape, j)),
                           1.0, BW).band(q0)
    ratio = band.m / (amplitude * gain * envelope)
    sq = max(shape) / (2 * np.pi * sigma)
    predicted_centre = 1.0 / np.sqrt(1.0 + sq ** 2 / BW ** 2)
    assert ratio[tuple(centre)] == pytest.approx(predicted_centre, abs=(sq / q0) ** 2)
    inner = r2 <= (sigma / 2) ** 2          # the box centre, where G > 0.88
    bound = sq ** 2 / (2 * BW ** 2) + 2 * (sq / q0) ** 2
    assert np.abs(ratio[inner] - 1.0).max() < bound


# --------------------------------------------------------------------------------------
# 2. LocBFactor on two domains of different blur
# --------------------------------------------------------------------------------------

TWO_DOMAIN_SEED = 1
TWO_DOMAIN_BLUR = (40.0, 120.0)


def two_domain_spec(n, radius=12.0):
    c = n / 2
    return [Domain((c, c, c - 1.5 * radius), radius, TWO_DOMAIN_BLUR[0]),
            Domain((c, c, c + 1.5 * radius), radius, TWO_DOMAIN_BLUR[1])]


@pytest.fixture(scope="module")
def large_box():
    """N=256 at 1 Å (box edge 256 Å, like real single-particle boxes), two balls of radius
    12 Å blurred by B 40 and 120, noise 0.5; the isolated domains' global Guinier B over
    15-3 Å (measured -51.1 and -129.9)."""
    n = 256
    spec = two_domain_spec(n)
    ph = core.make_phantom((n,) * 3, 1.0, spec, noise=0.5, seed=TWO_DOMAIN_SEED)
    first = [spec[0], spec[1]._replace(occupancy=0.0)]
    first = core.make_phantom((n,) * 3, 1.0, first, noise=0.0, seed=TWO_DOMAIN_SEED).clean
    # The clean map is the sum of the domains' densities, so the second domain alone is the
    # difference (float32 round-off: its Guinier B agrees with a separate phantom to 1e-6).
    truth = [core.global_bfactor(first, 1.0, 15.0, 3.0).bfactor,
             core.global_bfactor(ph.clean - first, 1.0, 15.0, 3.0).bfactor]
    return ph, truth


def test_locbfactor_recovers_two_domain_bfactors_in_a_large_box(large_box):
    """Plain fit (Riesz, unit-energy filters), median over each domain ball: within 15% of
    the isolated domain's global Guinier B, ranked right, and closer to that truth than to
    the Debye-Waller -B_blur.

    15%: the local Guinier curve of a 12 Å ball is fitted from 10 noisy bands whose Gaussian
    shells (bw 4.8 px) average over about 256/(2 pi 4.8) ~ 8 Å around each voxel, comparable
    to the ball radius, so the local shape term differs from the global one by an amount of
    the order of the global shape term itself (-51 vs -40: ~10 Å^2); 15% of the truth is
    8-20 Å^2. Measured: -56.6 / -136.6 vs -51.1 / -129.9 (10.7%, 5.1%).
    """
    ph, truth = large_box
    res = core.locbfactor(ph.map, ph.mask, 1.0, 15.0, 3.0, num_points=10)
    local = domain_medians(res.bfactor, ph, res.mask)
    for value, expected, blur in zip(local, truth, TWO_DOMAIN_BLUR):
        assert relative_error(value, expected) < 0.15, (local, truth)
        assert abs(value - expected) < abs(value + blur), (local, truth)
    assert local[1] < local[0] < 0


def test_locbfactor_filtered_fit_ranks_two_domains_in_a_large_box(large_box):
    """The noise-filtered fit on the same phantom ranks the domains right.

    Not asserted, because it does not hold at 15%: the filtered medians are -54.1 (5.8% off
    -51.1) and -151.1 (16.3% off -129.9): the blurred domain's high-resolution bands sink
    under the noise level, the fit keeps fewer, lower-SNR bands where C_i = m/(m+q) inside
    the log steepens the slope (ALGORITHM.md, "SNR weight C_i inside the log adds slope").
    The core owner measured -50.2 / -144.8 on a different layout/seed.
    """
    ph, truth = large_box
    res = core.locbfactor(ph.map, ph.mask, 1.0, 15.0, 3.0, num_points=10, filtered=True)
    local = domain_medians(res.bfactor, ph, res.mask)
    assert local[1] < local[0] < 0, (local, truth)
    # The sharp domain's estimate stays within 15% (same justification as above).
    assert relative_error(local[0], truth[0]) < 0.15, (local, truth)


def test_locbfactor_small_box_still_ranks_two_domains():
    """The same two domains in a 128 Å box (N=128, p=1): the 15 Å Gaussian shell (k=8 px,
    bw 4.8 px) reaches down to DC, so the low bands mix in the low-resolution shape and the
    sharp domain's B is biased steep. Only the ranking is asserted.

    Measured (plain): -65.5 / -145.3 vs isolated global Guinier -51.7 / -130.6 (27% and 11%
    off); filtered: -64.3 / -178.7 (24% and 37% off). The core owner saw -69 / -145 (plain)
    with another layout. Large boxes (test above) do not show the bias.
    """
    n = 128
    spec = two_domain_spec(n)
    ph = core.make_phantom((n,) * 3, 1.0, spec, noise=0.5, seed=TWO_DOMAIN_SEED)
    for filtered in (False, True):
        res = core.locbfactor(ph.map, ph.mask, 1.0, 15.0, 3.0, num_points=10,
                              filtered=filtered)
        local = domain_medians(res.bfactor, ph, res.mask)
        assert local[1] < local[0] < 0, (filtered, local)


# --------------------------------------------------------------------------------------
# 3. Mean local B against the global Guinier B on a uniform phantom
# --------------------------------------------------------------------------------------

def test_mean_local_bfactor_matches_global_guinier_on_a_uniform_phantom():
    """One ball of radius 40 Å blurred by B 60, N=256, p=1, noise 0.5, margin 2, 15-3 Å.
    The exact mode ALGORITHM.md recommends (Riesz, unit-energy filters, noise-filtered fit):
    the mean local B inside the mask is within 15% of the clean map's global Guinier B.

    15%: the paper's own validation on real maps agrees with Relion's global B to 2-6%
    (-89.45 vs -84.56, -153.68 vs -158.08); a phantom of point atoms adds the shape term
    and the per-voxel noise of a 10-band fit, so we allow 15%.
    Measured: filtered -67.7 vs global Guinier (clean) -62.6 (8% off; Debye-Waller -60).
    The plain fit gives -75.5 (21% off): it keeps the noise-dominated top bands, where the
    SNR weight C_i = m/(m+q) inside the log falls towards 1/2 and steepens the slope; that
    figure is reported here, not asserted. The global Guinier B of the noisy map itself is
    -28.9 (white noise flattens the spherical average), hence the clean map as reference.
    """
    n = 256
    c = n / 2
    ph = core.make_phantom((n,) * 3, 1.0, [Domain((c, c, c), 40.0, 60.0)], noise=0.5,
                           margin=2.0, seed=2)
    truth = core.global_bfactor(ph.clean, 1.0, 15.0, 3.0).bfactor
    res = core.locbfactor(ph.map, ph.mask, 1.0, 15.0, 3.0, num_points=10, filtered=True)
    # The filtered fit must keep (nearly) the whole mask: a mean over a few surviving voxels
    # would prove nothing. Losing more than 1% would mean the fit failed inside the ball.
    assert res.mask.sum() >= 0.99 * ph.mask.sum()
    mean_b = float(res.bfactor[res.mask].mean())
    assert relative_error(mean_b, truth) < 0.15, (mean_b, truth)


# --------------------------------------------------------------------------------------
# 4. LocOccupancy
# --------------------------------------------------------------------------------------

def test_lococcupancy_marks_half_occupied_domain_lower():
    """The shipped demo phantom at 160^3 (1 Å, domains of radius 22.9 Å: sharp B 40, blurred
    B 120, half-occupied B 40), 25-10 Å, quantile 0.25.

    Criterion: the method's own "highly occupied" cutoff 0.75 (the maturity index uses it).
    Both full-occupancy domains have a median occupancy >= 0.75; the half-occupied one a
    median below it, and fewer than half as many of its voxels are highly occupied as in the
    full domain of the same blur. Measured medians 1.0, 1.0, 0.5; means 0.935, 0.901, 0.496;
    fraction >= 0.75: 0.877, 0.805, 0.338.
    """
    ph = core.demo_phantom(160)
    occupancy = core.lococcupancy(ph.map, ph.mask, 1.0, 25.0, 10.0)
    sharp, blurred, half = ph.domains
    assert np.median(occupancy[sharp]) >= 0.75
    assert np.median(occupancy[blurred]) >= 0.75
    assert np.median(occupancy[half]) < 0.75
    high = lambda region: float((occupancy[region] >= 0.75).mean())  # noqa: E731
    assert high(half) < 0.5 * high(sharp), (high(half), high(sharp))


# --------------------------------------------------------------------------------------
# 5. LocSpiral and LocBSharpen against global sharpening
# --------------------------------------------------------------------------------------

def test_locspiral_raises_correlation_with_the_clean_model():
    """Clean model: two balls of radius 18 Å blurred by B 20 (N=96, p=1.5). Input: the same
    atoms blurred by B 150, noise 0.5. Resolution: FSC 0.143 of the masked half maps.
    Pearson correlation with the model inside the mask, for the input, global sharpening
    (exp(-B s^2/4), low-pass at the FSC resolution) with B from core.global_bfactor of the
    input over 15 Å-FSC, or with the known blur difference (-130), LocSpiral (25 Å-FSC) and
    LocBSharpen.

    Measured (seed 3): FSC 3.43 Å, global B of the input -43.9 (the noise flattens it; the
    clean input gives -155); correlations: input 0.592, low-pass only 0.587, global (input
    B) 0.639, global (known -130) 0.617, LocSpiral 0.653, LocBSharpen 0.623. Seeds 0, 1, 2,
    4 give the same order (LocSpiral ahead of global by 0.008-0.015).
    With unequal blur (B 150 and 60, otherwise identical) nothing beats the input: input
    0.734, global 0.720, LocSpiral 0.724, LocBSharpen 0.689 (FSC at Nyquist, 3.0 Å): that
    variant is reported, not asserted.
    No tolerance: each comparison is a strict inequality between two measured correlations
    on one deterministic phantom.
    """
    n, p, seed = 96, 1.5, 3
    c, r = n / 2, 12.0
    spec = lambda b: [Domain((c, c, c - 1.1 * r), r, b),  # noqa: E731
                      Domain((c, c, c + 1.1 * r), r, b)]
    data = core.make_phantom((n,) * 3, p, spec(150.0), noise=0.5, seed=seed)
    model = core.make_phantom((n,) * 3, p, spec(20.0), noise=0.5, seed=seed).clean
    mask = data.mask
    res = core.fsc(data.half1, data.half2, p, mask=mask).resolution
    b_global = core.global_bfactor(data.map, p, 15.0, res).bfactor
    corr = {
        "input": pearson(data.map, model, mask),
        "global": pearson(global_sharpen(data.map, p, b_global, res), model, mask),
        "global_known": pearson(global_sharpen(data.map, p, -130.0, res), model, mask),
        "locspiral": pearson(core.locspiral(data.map, mask, p, 25.0, res).map, model, mask),
        "locbsharpen": pearson(core.locbsharpen(data.map, mask, p, 25.0, res).map, model,
                               mask),
    }
    assert corr["locspiral"] > corr["input"], corr
    assert corr["locspiral"] > corr["global"], corr
    assert corr["locspiral"] > corr["global_known"], corr
    assert corr["locbsharpen"] > corr["input"], corr


# --------------------------------------------------------------------------------------
# 6. Maturity index
# --------------------------------------------------------------------------------------

def test_maturity_index_orders_maps_by_missing_domains():
    """Six balls of radius 14 Å (2x3 grid, spacing 2.2 r), B 60, N=96, p=1.5, noise 0.5,
    25-10 Å. Mature reference: half map 1 of the complete phantom; immature maps: half map 2
    (independent noise) of phantoms with 0, 1 and 2 domains at occupancy 0 (same atoms
    otherwise). Occupancy levels from the mature map (``mature_map=``).

    Masks: the automatic threshold mask of the mature map (covers 0.39% of the box: the
    cores of the balls only) and the union of the domain balls (2.3%). Measured indices:
    automatic 0.650 > 0.542 > 0.430; balls 0.633 > 0.533 > 0.429.
    With the ball mask each domain is 1/6 of the mask, so k missing domains should remove
    about k/6 of the highly occupied voxels: index_k ~ index_0 (1 - k/6) (predicted 0.528,
    0.422). Tolerance: half a domain's share, index_0/12: a missing ball's absence also
    changes the 25-10 Å band amplitudes in a rim of about one 10 Å wavelength around it,
    which the bound has to absorb.
    Without the mature map (each map's own quantile levels) the order is NOT right
    (automatic 0.648, 0.702, 0.715; balls 0.628, 0.704, 0.714), as the docstring of
    maturity_index explains; the core owner saw 0.661, 0.715, 0.71. Not asserted.
    """
    n, p, seed = 96, 1.5, 5
    c, r = n / 2, 14.0 / p
    step = 2.2 * r
    spec = [Domain((c, c + (i - 0.5) * step, c + (j - 1) * step), r, 60.0)
            for i in range(2) for j in range(3)]

    def phantom(missing):
        return core.make_phantom((n,) * 3, p, [d._replace(occupancy=0.0) if k in missing
                                               else d for k, d in enumerate(spec)],
                                 noise=0.5, seed=seed)

    mature = phantom(())
    maps = [phantom(()).half2, phantom((0,)).half2, phantom((0, 5)).half2]
    balls = np.zeros(mature.mask.shape, bool)
    for ball in mature.domains:
        balls |= ball
    auto = core.threshold_mask(mature.half1)
    for name, mask in (("automatic", auto), ("balls", balls)):
        index = [m.index for m in core.maturity_index(mask, maps, p, 25.0, 10.0,
                                                      mature_map=mature.half1)]
        assert index[0] > index[1] > index[2], (name, index)
        if name == "balls":
            for k in (1, 2):
                assert abs(index[k] - index[0] * (1 - k / 6)) < index[0] / 12, index


# --------------------------------------------------------------------------------------
# 7. Non-cubic boxes and axis permutations
# --------------------------------------------------------------------------------------

def test_non_cubic_box_gives_sensible_bfactors_and_quality():
    """64x56x72 at 1.5 Å, balls of radius 15 Å blurred by B 40 and 120, noise 0.5.

    LocBFactor (15-4 Å): the domains are ranked right. The values are biased steep like any
    small box (108 Å edge, see the 128 Å test): measured -71.4 / -148.3 vs isolated global
    Guinier -49.2 / -123.6; only the ranking is asserted.
    LocSpiral (25-4 Å): the quality map W is standardised on the noise voxels (mean 0, SD
    1 there), so the domains must stand out by more than 3 noise SDs (a conventional
    detection threshold); measured medians 8.4 and 7.3.
    """
    shape, p = (64, 56, 72), 1.5
    c, r = [n / 2 for n in shape], 10.0
    spec = [Domain((c[0], c[1], c[2] - 1.2 * r), r, 40.0),
            Domain((c[0], c[1], c[2] + 1.2 * r), r, 120.0)]
    ph = core.make_phantom(shape, p, spec, noise=0.5, seed=7)
    res = core.locbfactor(ph.map, ph.mask, p, 15.0, 4.0)
    local = domain_medians(res.bfactor, ph, res.mask)
    assert local[1] < local[0] < 0, local
    enhanced = core.locspiral(ph.map, ph.mask, p, 25.0, 4.0)
    noise = noise_voxels(ph.mask)
    assert abs(float(enhanced.quality[noise].mean())) < 1e-3   # the standardisation
    for ball in ph.domains:
        assert np.median(enhanced.quality[ball]) > 3.0


def _permuted_results(ph, perm, p):
    """LocBFactor (plain fit: no per-voxel gates) and LocSpiral of the phantom with its
    axes permuted, permuted back."""
    inverse = np.argsort(perm)
    volume, mask = np.transpose(ph.map, perm), np.transpose(ph.mask, perm)
    lb = core.locbfactor(volume, mask, p, 15.0, 4.0)
    ls = core.locspiral(volume, mask, p, 25.0, 4.0)
    back = lambda a: np.transpose(a, inverse)  # noqa: E731
    return {"B": back(lb.bfactor), "A": back(lb.amplitude), "M": back(ls.map),
            "W": back(ls.quality)}


def _results(ph, p):
    return _permuted_results(ph, (0, 1, 2), p)


def _two_domain(shape, p=1.5, seed=7):
    c, r = [n / 2 for n in shape], 10.0
    spec = [Domain((c[0], c[1], c[2] - 1.2 * r), r, 40.0),
            Domain((c[0], c[1], c[2] + 1.2 * r), r, 120.0)]
    return core.make_phantom(shape, p, spec, noise=0.5, seed=seed)


def _assert_permutation_invariant(reference, permuted):
    """Tolerance 1e-4 of each map's range: float32 round-off gives ~1e-6; a wrong axis
    convention gives percent-level differences. Every map has a per-voxel gate: M and W gate
    each band by m >= q, and the debiased LocBFactor (B, A) floors each band's power above
    the noise, P - mu, at 1e-3 mu. A voxel within float32 round-off of its gate can flip it
    and jump. Measured on the 63x55x71 box: B differs by up to 1.2e-4 of its range on one
    steep edge voxel (B -264 Å^2), by < 1e-5 on all but 18 of 246,015 voxels, 99.9th
    percentile 1.3e-6. So we allow jumps on at most 1e-4 of the voxels (a handful) and
    require round-off level agreement (< 1e-5) on 99.9% of them."""
    for name, ref in reference.items():
        span = float(ref.max() - ref.min())
        diff = np.abs(ref - permuted[name]) / span
        assert (diff > 1e-4).mean() <= 1e-4, (name, float((diff > 1e-4).mean()))
        if name in ("B", "A"):
            assert np.quantile(diff, 0.999) < 1e-5, (name, float(np.quantile(diff, 0.999)))


@pytest.mark.parametrize("shape, perms", [
    ((63, 63, 63), [(2, 0, 1)]),                       # cubic
    ((63, 55, 71), [(2, 0, 1), (1, 0, 2), (0, 2, 1)]),  # non-cubic: per-axis spacing
    ((64, 64, 64), [(1, 0, 2)]),                       # even, last axis kept in place
])
def test_results_are_invariant_to_a_permutation_of_axes(shape, perms):
    """The Riesz transform is isotropic, the shells depend on |q| only and the noise sphere
    is symmetric, so permuting the axes of the input permutes the outputs.

    Odd boxes (no Nyquist plane) and, on an even box, permutations that keep the last axis
    in place: measured max differences <= 1.1e-6 of the range (B, A, M, W); one voxel of
    64^3 flipped a LocSpiral gate (swap of z and y).
    """
    ph = _two_domain(shape)
    reference = _results(ph, 1.5)
    for perm in perms:
        _assert_permutation_invariant(reference, _permuted_results(ph, perm, 1.5))


def test_even_box_permutation_moving_the_last_axis():
    ph = _two_domain((64, 64, 64))
    _assert_permutation_invariant(_results(ph, 1.5), _permuted_results(ph, (2, 0, 1), 1.5))


# --------------------------------------------------------------------------------------
# 8. Streaming: memory does not grow with the number of bands
# --------------------------------------------------------------------------------------

def _peak_bytes(function):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        function()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("filtered", [False, True])
def test_locbfactor_memory_does_not_grow_with_the_number_of_bands(filtered):
    """tracemalloc sees numpy's data buffers. 5 vs 20 bands on 64^3: if the log-amplitude
    volumes were kept per band, 15 more bands would add >= 15 volumes; streaming sums add
    none. Bound: less than one float32 volume (measured: peak 12.8 volumes plain, 17.6
    filtered, for both band counts, difference < 0.001 volume). The first assertion checks
    that the tracing works at all (the bank alone holds more than two volumes)."""
    ph = core.make_phantom((64, 64, 64), 1.0, seed=8)
    volume_bytes = ph.map.nbytes

    def run(points):
        return _peak_bytes(lambda: core.locbfactor(ph.map, ph.mask, 1.0, 15.0, 3.0,
                                                   num_points=points, filtered=filtered,
                                                   workers=1))

    few, many = run(5), run(20)
    assert few > 2 * volume_bytes
    assert many - few < volume_bytes, (few / volume_bytes, many / volume_bytes)


def test_locspiral_memory_does_not_grow_with_the_number_of_bands():
    """Same for LocSpiral, whose band count is set by the resolution range: 25-9 Å (5 bands)
    against 25-2.9 Å (20 bands) on 64^3 at 1 Å. Bound and reasoning as above (measured:
    12.1 volumes for both)."""
    ph = core.make_phantom((64, 64, 64), 1.0, seed=8)
    volume_bytes = ph.map.nbytes

    def run(max_res):
        return _peak_bytes(lambda: core.locspiral(ph.map, ph.mask, 1.0, 25.0, max_res,
                                                  workers=1))

    few, many = run(9.0), run(2.9)
    assert few > 2 * volume_bytes
    assert many - few < volume_bytes, (few / volume_bytes, many / volume_bytes)
