"""LocBFactor's estimators against the isolated global Guinier B of phantom domains, and
their dependence on the box size (issue 10, "Local B-factor bias").

Phantom (benchmarks/validate_bfactor.py runs the same at 96-256 voxels): one particle built
in a 96^3 box at 1.2 Å/voxel, three balls of pseudo-atoms of radius 15 Å blurred by
B = 40, 100, 200 Å^2, centred in a 96^3 and a 128^3 box (same atoms) with white noise of
SD 0.5 x the clean SD inside the mask per half map. Truth: the global Guinier B of each
clean domain alone in the same box, over the same range. Local value: median of the B map
inside the domain ball. "old" is the published estimator with the old default band width
(4.8 Fourier pixels), "new" the debiased estimator with its defaults (0.02 Å^-1).

Measured (B 40 / 100 / 200; benchmark seeds):

==========  ==================  ========================  ========================
range       case                96^3                      128^3
==========  ==================  ========================  ========================
15-3 Å      truth               -49.8 / -109.5 / -205.1   -48.7 / -108.5 / -204.1
            old                 -65.4 / -126.9 / -145.8   -61.5 / -123.7 / -138.4
            old, filtered       -63.2 / -136.8 / -307.6   -58.4 / -125.8 / -279.5
            new                 -48.7 / -108.4 / -156.0   -48.5 / -107.1 / -153.5
            new, filtered       -48.7 / -108.4 / -153.2   -48.5 / -107.1 / -163.0
15-5 Å      truth               -69.9 / -132.3 / -218.6   -65.7 / -127.3 / -213.4
            old                 -97.6 / -178.4 / -283.7   -83.1 / -164.9 / -270.7
            new (= filtered)    -59.2 / -125.0 / -213.3   -58.0 / -125.1 / -215.7
==========  ==================  ========================  ========================

Not asserted, because they do not hold:
* B 200 over 15-3 Å. The domain has no measurable signal beyond ~5 Å at this noise (median
  per-voxel band S/N 0.3 at 4.1 Å, 0.004 at 3 Å): its top bands are decided by the last
  per cent of the noise-power estimate and by chance, so it reads -153..-205 (new, plain)
  over four noise seeds and both boxes, and the filtered fit is no better (-145..-193).
  Over 15-5 Å, where it has signal, it is within 2 %.
* B 40 over 15-5 Å reads 15.3 % (96^3) and 11.7 % (128^3) flat: over 15-5 Å the isolated
  ball's Guinier slope is dominated by its own shape (form factor) term, -70 against a
  Debye-Waller -40, which a local window of ~8 Å sees only in part. The old estimator
  reads it 40 % / 27 % steep.
"""
import numpy as np
from locspiral_em.tests.pytest_shim import pytest  # pytest, or a stand-in in a stock Scipion

from locspiral_em import core
from locspiral_em.core import InputError
from locspiral_em.core.filterbank import FilterBank, sweep_frequencies
from locspiral_em.core.noise import VoxelSample, noise_voxels
from locspiral_em.core.phantom import (Domain, centre_in_box, isolated_domains,
                                       reboxed_phantom)

P = 1.2
BASE = 96
BLUR = (40.0, 100.0, 200.0)
PUBLISHED = dict(estimator="published", bw=4.8, bw_units="pixels")   # the old default


def particle_spec(n=BASE, radius_a=15.0):
    c, r = n / 2, radius_a / P
    s = 1.2 * r
    centres = [(c, c - 0.58 * s, c - s), (c, c - 0.58 * s, c + s), (c, c + 1.16 * s, c)]
    return [Domain(cc, r, b) for cc, b in zip(centres, BLUR)]


@pytest.fixture(scope="module")
def runs():
    """Local medians and truths per box, range and estimator (computed once: ~30 s)."""
    spec = particle_spec()
    base = core.make_phantom((BASE,) * 3, P, spec, noise=0.0, seed=0)
    alone = isolated_domains((BASE,) * 3, P, spec, seed=0)
    cases = {3.0: (("new", {}), ("new_filtered", {"filtered": True}), ("old", PUBLISHED),
                   ("old_filtered", dict(PUBLISHED, filtered=True))),
             # Every band of this range is above the noise in every domain: the filtered fit
             # is the plain fit (measured identical), so it is not run again.
             5.0: (("new", {}), ("old", PUBLISHED))}
    out = {}
    for n in (96, 128):
        # The benchmark's noise seeds (seed + n with seed 0), so its table applies here.
        ph = reboxed_phantom(base, (n,) * 3, 0.5, seed=n)
        for max_res, runs_ in cases.items():
            out[n, max_res, "truth"] = [
                core.global_bfactor(centre_in_box(a, (n,) * 3), P, 15.0, max_res).bfactor
                for a in alone]
            for name, options in runs_:
                res = core.locbfactor(ph.map, ph.mask, P, 15.0, max_res, workers=1,
                                      **options)
                out[n, max_res, name] = [float(np.median(res.bfactor[d & res.mask]))
                                         for d in ph.domains]
    return out


def relative_error(value, truth):
    return abs(value - truth) / abs(truth)


# Domains whose claim holds (see the module docstring for the others), per max resolution.
MEASURABLE = {3.0: (0, 1), 5.0: (1, 2)}


@pytest.mark.parametrize("n", [96, 128])
@pytest.mark.parametrize("max_res, name", [(3.0, "new"), (3.0, "new_filtered"),
                                           (5.0, "new")])
def test_debiased_estimator_recovers_isolated_guinier_b(runs, n, max_res, name):
    """Within 15 % of the isolated domain's global Guinier B: B 40 and 100 over 15-3 Å,
    B 100 and 200 over 15-5 Å; and the three domains ranked.

    15 %: the local fit sees each domain through the band filter's envelope (SD
    1/(2 pi 0.02 Å^-1) = 8 Å, widened by sqrt(1.25) by the power smoothing) on a 15 Å ball
    next to two others, so its shape term is not the isolated ball's (the noise-free map
    read by the same local fit is 2-5 % off the truth over 15-3 Å), and the noise adds the
    per-voxel scatter of a 10-band fit. Measured: 15-3 Å 2 % and 1 % (96^3), 0 % and 1 %
    (128^3); 15-5 Å 5 % and 2 % (96^3), 2 % and 1 % (128^3).
    """
    local, truth = runs[n, max_res, name], runs[n, max_res, "truth"]
    for j in MEASURABLE[max_res]:
        assert relative_error(local[j], truth[j]) < 0.15, (local, truth)
    assert local[2] < local[1] < local[0] < 0, local


@pytest.mark.parametrize("max_res, name", [(3.0, "new"), (3.0, "new_filtered"),
                                           (5.0, "new")])
def test_debiased_estimator_does_not_depend_on_the_box(runs, max_res, name):
    """The same particle in a 96^3 and a 128^3 box agrees within 10 % (band width and
    centres in Å^-1, so the filters are the same physical filters, and the noise power is
    taken from the solvent-only map, so the particle's spread-out power does not enter it;
    what remains is the noise realisation). All domains over 15-5 Å; B 40 and 100 over
    15-3 Å (B 200 there is noise-determined). Measured: 15-3 Å 0.4 % and 1.3 %; 15-5 Å 2.0 %,
    0.0 % and 1.1 %. The old estimator moves by 6 % / 2.6 % (15-3 Å) and 16 % / 8 % / 5 %
    (15-5 Å)."""
    small, large = runs[96, max_res, name], runs[128, max_res, name]
    domains = range(3) if max_res == 5.0 else MEASURABLE[max_res]
    for j in domains:
        assert abs(small[j] - large[j]) < 0.10 * abs(0.5 * (small[j] + large[j])), (small,
                                                                                     large)


@pytest.mark.parametrize("n", [96, 128])
@pytest.mark.parametrize("max_res, new, old", [(3.0, "new", "old"),
                                               (3.0, "new_filtered", "old_filtered"),
                                               (5.0, "new", "old")])
def test_debiased_estimator_is_closer_to_the_truth_than_the_published_one(runs, n, max_res,
                                                                          new, old):
    """Both boxes, plain and filtered: the debiased estimator's error is the smaller one,
    for every domain over 15-5 Å and the measurable ones over 15-3 Å (numbers in the module
    docstring; B 200 over 15-3 Å, where neither measures it, is left out: the published
    estimator is 29-50 % off there, the debiased one 20-25 % on these seeds)."""
    truth = runs[n, max_res, "truth"]
    domains = range(3) if max_res == 5.0 else MEASURABLE[max_res]
    for j in domains:
        a, b, t = runs[n, max_res, new][j], runs[n, max_res, old][j], truth[j]
        assert relative_error(a, t) < relative_error(b, t), (runs[n, max_res, new],
                                                             runs[n, max_res, old], truth)


# --------------------------------------------------------------------------------------
# The published estimator stays available; the figures' curves are the fitted curves
# --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small():
    return core.make_phantom((64, 64, 64), 1.0, noise=0.5, seed=8)


def test_published_estimator_is_the_original_fit(small):
    """``estimator="published", bw_units="pixels"`` is ALGORITHM.md's LocBFactor in the
    exact mode: y_i = log(C_i m_i sqrt(N^3)), centres floor(p N / d), ordinary least squares
    (written here from the document with the core's filter bank, float64 sums). Tolerance:
    float32 accumulation of 10 terms of magnitude ~log(N^3 m) ~ 10, ~1e-5 relative."""
    ph = small
    res = core.locbfactor(ph.map, ph.mask, 1.0, 15.0, 3.0, **PUBLISHED)
    bank = FilterBank(ph.map, 1.0, 4.8)
    ks = sweep_frequencies(bank.pixels(15.0), bank.pixels(3.0), 10)
    xs = np.array([bank.frequency_squared(k) for k in ks])
    sample = VoxelSample(noise_voxels(ph.mask))
    ys = []
    for k in ks:
        m = bank.band(k).m.astype(np.float64)
        q = sample.quantile(m.astype(np.float32), 0.9)
        ys.append(np.log(m * m / (m + q) * np.sqrt(m.size)))
    ys = np.stack(ys)
    xc = xs - xs.mean()
    slope = np.tensordot(xc, ys, axes=1) / np.sum(xc ** 2)
    inside = ph.mask
    np.testing.assert_allclose(res.bfactor[inside], 4 * slope[inside], rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(res.res_square, xs)


@pytest.mark.parametrize("filtered", [False, True])
def test_guinier_profiles_are_the_fitted_curves(small, filtered):
    """A line fitted (float64 polyfit) through ``guinier_profiles`` at a few voxels, with
    the same filter (points above ``noise``), gives the B map's value there (default
    estimator). Tolerance 1e-3 relative + 0.05 Å^2: float32 sums in the core."""
    ph = small
    res = core.locbfactor(ph.map, ph.mask, 1.0, 15.0, 3.0, filtered=filtered)
    voxels = np.argwhere(res.mask)[::997][:6]
    prof = core.guinier_profiles(ph.map, ph.mask, 1.0, 15.0, 3.0, voxels)
    np.testing.assert_allclose(prof.noise, res.noise, rtol=1e-6)
    for v, y in zip(voxels, prof.log_amplitude):
        use = y > prof.noise if filtered else np.ones(y.size, bool)
        slope = np.polyfit(prof.res_square[use], y[use], 1)[0]
        assert 4 * slope == pytest.approx(res.bfactor[tuple(v)], rel=1e-3, abs=0.05)


def test_band_width_units_and_defaults(small):
    """An explicit ``bw`` number keeps its historical unit (Fourier pixels); the default is
    a 12 Å window (issue 14; the band it sets is in Å^-1); a width beyond Nyquist in Å^-1
    (e.g. 4.8 meant as pixels) is refused."""
    ph = small
    run = lambda **o: core.locbfactor(ph.map, ph.mask, 1.0, 15.0, 3.0, **o).bfactor  # noqa
    np.testing.assert_array_equal(run(), run(window=12.0))
    band = core.bfactor.fit_band(1.0, max(ph.map.shape), window=12.0)
    np.testing.assert_array_equal(run(), run(bw=band.bw, bw_units="inverse_angstrom"))
    np.testing.assert_array_equal(run(bw=4.8), run(bw=4.8, bw_units="pixels"))
    for bad in (dict(bw=4.8, bw_units="inverse_angstrom"), dict(bw_units="px"),
                dict(estimator="weighted"), dict(bw=-1.0)):
        with pytest.raises(InputError):
            run(**bad)
