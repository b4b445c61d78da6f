"""The speed helpers must not change results: ``noise.fast_quantile`` against
``np.quantile(method="hazen")`` to the bit, ``FilterBank.map_slabs`` / ``Slabs`` against the
same work done on whole arrays, and the riesz bank's restricted-support shell (evaluated only
within ``SHELL_REACH`` band widths of its centre) against the full Gaussian shell.
"""
import numpy as np
from locspiral_em.tests.pytest_shim import pytest  # pytest, or a stand-in in a stock Scipion
import scipy.fft as sfft

from locspiral_em.core import filterbank, noise
from locspiral_em.core.filterbank import FilterBank, Slabs
from locspiral_em.core.noise import fast_quantile

QS = (0.0, 0.25, 0.5, 0.9, 0.95, 1.0)


def hazen(values, q):
    return float(np.quantile(values, q, method="hazen"))


class _PartitionSpy:
    """Stands in for numpy inside ``noise`` and counts the full partial sorts
    (``np.partition``: the fallback when the 1/64 subsample's bracket misses)."""

    def __init__(self):
        self.calls = 0

    def partition(self, *args, **kwargs):
        self.calls += 1
        return np.partition(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(np, name)


@pytest.fixture
def spy(monkeypatch):
    spy = _PartitionSpy()
    monkeypatch.setattr(noise, "np", spy)
    return spy


def _check(values, qs=QS):
    for q in qs:
        got, want = fast_quantile(values, q), hazen(values, q)
        assert got == want, (values.dtype, values.size, q, got, want)
        assert type(got) is float


# -- fast_quantile ------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_quantile_is_numpy_hazen_on_random_arrays(dtype):
    rng = np.random.default_rng(1)
    # tiny sizes (v < 0 and v >= n - 1 cases), sizes around the 256 * 64 subsample threshold
    # and large ones; several distributions
    sizes = [1, 2, 3, 4, 5, 7, 10, 33, 100, 1000, 16383, 16384, 16385, 50_001, 120_000]
    makers = [lambda n: rng.normal(size=n), lambda n: rng.exponential(size=n) ** 3,
              lambda n: rng.uniform(-1e-3, 1e-3, n), lambda n: rng.standard_cauchy(n)]
    for n in sizes:
        for make in makers:
            _check(make(n).astype(dtype))
    # a random q, too (Python floats, as the methods pass it)
    values = rng.normal(size=30_000).astype(dtype)
    _check(values, [float(q) for q in rng.uniform(0, 1, 20)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_quantile_with_a_numpy_scalar_q(dtype):
    """numpy 2 promotes with a Python float q weakly (the values' dtype) but with a numpy
    scalar or 0-d array q strongly (float64 for np.float64): the value must follow."""
    rng = np.random.default_rng(10)
    values = rng.normal(size=30_000).astype(dtype)
    for convert in (np.float64, np.float32, np.asarray):
        _check(values, [convert(q) for q in rng.uniform(0, 1, 10)] + [convert(0.9)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_quantile_with_ties_and_constants(dtype):
    rng = np.random.default_rng(2)
    for n in (1, 2, 17, 1000, 20_000, 100_000):
        _check(np.full(n, 3.25, dtype))                              # constant
        _check(rng.integers(0, 4, n).astype(dtype))                  # 4 values, heavy ties
        _check(rng.integers(0, 2, n).astype(dtype))                  # 2 values
        tied = rng.normal(size=n).astype(dtype)
        tied[: n // 2] = 0                                           # half the values tied
        _check(rng.permutation(tied))
    # the ranks fall exactly on the boundary between two tied blocks
    values = np.repeat(np.arange(10, dtype=dtype), 10_000)
    _check(rng.permutation(values))
    _check(values)                                                   # sorted input


def test_fast_quantile_takes_the_fast_path_on_ordinary_data(spy):
    values = np.random.default_rng(3).normal(size=100_000).astype(np.float32)
    _check(values, (0.25, 0.5, 0.9, 0.95))
    assert spy.calls == 0


def _adversarial(n, dtype, rng):
    """Arrays whose every 64th element (the subsample) is unrepresentative of the rest, so
    that the subsample's bracket around the rank misses."""
    cases = []
    # 1) the subsample holds the largest values: its bracket sits above every other value
    values = rng.normal(size=n)
    values[::64] = 1e6 + rng.random(values[::64].size)
    cases.append(values)
    # 2) the subsample holds the smallest values
    values = rng.normal(size=n)
    values[::64] = -1e6 - rng.random(values[::64].size)
    cases.append(values)
    # 3) the subsample is one constant in the middle of the others' range (empty bracket
    #    interior, ranks far from it)
    values = rng.uniform(0, 1, n)
    values[::64] = 0.5
    cases.append(values)
    # 4) sorted data, the subsample's order statistics then lag the full ones by <= 63 places
    cases.append(np.sort(rng.normal(size=n)))
    return [c.astype(dtype) for c in cases]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_quantile_when_the_subsample_bracket_misses(spy, dtype):
    rng = np.random.default_rng(4)
    for n in (16_384, 40_000, 131_071):
        for values in _adversarial(n, dtype, rng):
            _check(values)
    # the fallback (full partial sort) was really taken, not only the bracket
    assert spy.calls > 0


def test_fast_quantile_leaves_its_input_alone():
    values = np.random.default_rng(5).normal(size=50_000).astype(np.float32)
    copy = values.copy()
    fast_quantile(values, 0.9)
    np.testing.assert_array_equal(values, copy)


# -- Slabs / map_slabs --------------------------------------------------------------------

def _chain(x):
    """A chain of element-wise operations, in place in ``x`` (as the methods do)."""
    x *= x
    x += np.float32(1.5)
    np.log(x, out=x)
    np.sqrt(x, out=x)
    x /= np.float32(3.0)
    return x


SHAPES = [(1, 5, 7), (2, 300, 300), (3, 17, 19), (5, 256, 260), (40, 256, 200), (31, 9, 64),
          (64, 48, 40)]


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_slabs_cover_the_first_axis_in_order(workers):
    for shape in SHAPES:
        slabs = Slabs(shape, workers)
        got = slabs.map(lambda lo, hi: (lo, hi))
        assert got == slabs.blocks                       # results in slab order
        assert got[0][0] == 0 and got[-1][1] == shape[0]
        assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(got, got[1:] + [(shape[0],)]))
        assert all(hi - lo >= 1 for lo, hi in got)


@pytest.mark.parametrize("workers", [1, 2])
def test_map_slabs_equals_the_whole_array_work(workers):
    rng = np.random.default_rng(6)
    for shape in SHAPES:
        x = rng.normal(size=shape).astype(np.float32)
        want = _chain(x.copy())
        got = x.copy()
        Slabs(shape, workers).map(lambda lo, hi: _chain(got[lo:hi]))
        np.testing.assert_array_equal(got, want)
        # out-of-place work with a reduction per slab, combined in slab order
        out = np.empty_like(x)

        def work(lo, hi):
            np.multiply(x[lo:hi], x[lo:hi], out=out[lo:hi])
            return int(np.count_nonzero(x[lo:hi] > 0))
        counts = Slabs(shape, workers).map(work)
        np.testing.assert_array_equal(out, x * x)
        assert sum(counts) == int(np.count_nonzero(x > 0))


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("shape", [(24, 20, 18), (3, 40, 36), (17, 16, 15)])
def test_filter_bank_map_slabs_equals_the_whole_array_work(workers, shape):
    """Through the bank (its own slabs and threads), on a band's arrays; the first axis of
    (3, 40, 36) is shorter than the 4-per-thread task count."""
    volume = np.random.default_rng(7).normal(size=shape).astype(np.float32)
    bank = FilterBank(volume, 1.0, 2.0, workers=workers)
    band = bank.band(4.0)
    want_b, want_m = band.b.copy(), band.m.copy()
    q = np.float32(np.quantile(want_m, 0.9))
    want = np.divide(want_b, want_m + q) * (want_m >= q)
    got = np.empty(shape, np.float32)

    def work(lo, hi):
        b, m = band.b[lo:hi], band.m[lo:hi]
        np.multiply(np.divide(b, m + q), m >= q, out=got[lo:hi])
    bank.map_slabs(work)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(band.b, want_b)


def test_map_slabs_propagates_errors():
    def work(lo, hi):
        if hi == 40:
            raise ValueError("slab failed")
    for workers in (1, 2):
        with pytest.raises(ValueError, match="slab failed"):
            Slabs((40, 256, 200), workers).map(work)


# -- the restricted-support shell -----------------------------------------------------------

def _full_shell(bank, k):
    """The unnormalised shell on the whole half grid, in float64 (DC factor: 0 at q = 0)."""
    q = bank._q.astype(np.float64)
    h = np.exp(-(q - k) ** 2 / (2.0 * bank.bw ** 2))
    h[0, 0, 0] = 0
    return h, q


def _half_grid_energy(bank, h):
    return float(np.sum(h * h * bank._half_weight.astype(np.float64)))


# (shape, bw, k): reach = k + 10 bw inside the box (a restricted support) and beyond it
SHELLS = [((32, 32, 32), 1.0, 4.0), ((32, 32, 32), 1.5, 9.0), ((40, 36, 30), 1.2, 6.0),
          ((33, 33, 33), 2.0, 5.0), ((36, 30, 40), 0.8, 12.0), ((24, 24, 24), 4.5, 8.0)]


@pytest.mark.parametrize("shape,bw,k", SHELLS)
def test_restricted_shell_spectra_equal_the_full_shell(shape, bw, k):
    volume = np.random.default_rng(8).normal(size=shape).astype(np.float32)
    bank = FilterBank(volume, 1.0, bw, workers=2)
    h, q = _full_shell(bank, k)
    # a flat spectrum makes H F = H, so the filter itself is compared
    bank._spectrum = np.ones_like(bank._spectrum)
    hf = np.full(bank._spectrum.shape, np.nan, np.complex64)   # every entry must be written
    energy, (za, zb, xa) = bank._shell_spectrum(k, hf)
    # H w (-i q_j) / |q| with w = 2 and a Riesz multiplier of 1 (the bank's are -i q_j)
    hq = np.full(bank._spectrum.shape, np.nan, np.complex64)
    ones = np.ones((1, 1, hq.shape[2]), np.complex64)
    energy_q, support_q = bank._shell_spectrum(k, hq, 2.0, ones)
    with np.errstate(invalid="ignore", divide="ignore"):
        h_over_q = np.where(q > 0, 2.0 * h / q, 0)
    # float32 rounding of a peak-1 filter (exp of up to -50 with a float32 |q|)
    np.testing.assert_allclose(hf.real, h, rtol=0, atol=2e-6)
    np.testing.assert_allclose(hq.real, h_over_q, rtol=0, atol=2e-6 * np.max(h_over_q))
    assert not np.any(hf.imag) and not np.any(hq.imag)
    assert energy == pytest.approx(_half_grid_energy(bank, h), rel=1e-5)
    assert (energy_q, support_q) == (energy, (za, zb, xa))
    # the support reported to the inverse FFTs holds everything that is not 0
    outside = np.ones(hf.shape, bool)
    outside[:za, :, :xa] = False
    outside[zb:, :, :xa] = False
    assert not np.any(hf[outside]) and not np.any(hq[outside])
    # the public shell() (evaluated everywhere) is the same filter, normalised
    np.testing.assert_allclose(bank.shell(k), h / np.sqrt(_half_grid_energy(bank, h)),
                               rtol=0, atol=2e-6 * np.max(h) / np.sqrt(energy))


def test_radius_is_the_stored_radius_of_before():
    """The bank makes |q| block by block: on a cubic box (integer q^2) exactly the float32
    sqrt(qz^2 + qy^2 + qx^2) it used to keep, elsewhere within float32 rounding of it."""
    for shape in [(32, 32, 32), (33, 33, 33), (40, 36, 30), (33, 31, 35)]:
        bank = FilterBank(np.zeros(shape, np.float32), 1.0, 2.0, workers=1)
        want = np.sqrt(bank._qz ** 2 + bank._qy ** 2 + bank._qx ** 2, dtype=np.float32)
        block = (slice(3, 9), slice(30, None), slice(0, 7))
        if len(set(shape)) == 1:
            np.testing.assert_array_equal(bank._q, want)
            np.testing.assert_array_equal(bank._radius(*block), want[block])
        else:   # two float32 roundings of the sum and one of the root: <= 2 ulp
            np.testing.assert_allclose(bank._q, want, rtol=2.5e-7, atol=0)
            np.testing.assert_allclose(bank._radius(*block), want[block], rtol=2.5e-7, atol=0)


@pytest.mark.parametrize("shape,bw,k", SHELLS)
def test_band_equals_the_full_shell_transform(shape, bw, k):
    """b and m of band() (restricted shell, pruned inverse FFTs) against plain irfftn of the
    full shell: b = IFFT(H F), R_j = IFFT(-i q_j/|q| H F) with the bank's Nyquist-free q_j."""
    volume = np.random.default_rng(9).normal(size=shape).astype(np.float32)
    bank = FilterBank(volume, 1.0, bw, workers=2)
    spectrum = bank._spectrum.copy()
    h, q = _full_shell(bank, k)
    h /= np.sqrt(_half_grid_energy(bank, h))
    hf = h * spectrum
    b = sfft.irfftn(hf, s=shape)
    power = b * b
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(q > 0, 1.0 / q, 0)
    for axis in bank._riesz_axes:
        r = sfft.irfftn(-1j * axis.astype(np.float64) * unit * hf, s=shape)
        power += r * r
    m = np.sqrt(power)
    band = bank.band(k)
    scale = np.max(m)
    np.testing.assert_allclose(band.b, b, rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(band.m, m, rtol=0, atol=1e-5 * scale)
    # and the sweep (reused buffers) gives the same band
    swept = next(iter(bank.sweep([k])))
    np.testing.assert_array_equal(swept.b, band.b)
    np.testing.assert_array_equal(swept.m, band.m)


def test_shell_reach_leaves_only_negligible_coefficients():
    """What the support drops is below exp(-SHELL_REACH^2 / 2) of the peak."""
    assert np.exp(-filterbank.SHELL_REACH ** 2 / 2) < 1e-20


# -- memory and scale of the riesz bank ------------------------------------------------------

def test_bank_and_its_sweep_hold_about_three_volumes():
    """The map's transform, one half-grid buffer (the band's four spectra in turn; b is
    written into its memory) and m: 2 (1 + 2/N) + 1 = 3.03 volumes at 128^3, plus
    slab-sized temporaries. The bank of before (|q|, two spectra, three volumes) held 6.5."""
    import tracemalloc
    n = 128
    volume = np.random.default_rng(11).normal(size=(n,) * 3).astype(np.float32)
    tracemalloc.start()
    try:
        bank = FilterBank(volume, 1.0, 4.5, workers=1)
        for band in bank.sweep([n / 25, n / 10, n / 3.5]):
            assert np.isfinite(band.m).all()
            # contiguous: the methods' element-wise work and ravel() need no copy
            assert band.b.flags.c_contiguous and band.m.flags.c_contiguous
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # slack: 0.25 volume for the per-slab temporaries (a 512 KiB block of a few arrays)
    assert peak / (4 * n ** 3) < 3.3


def test_rescaled_bank_gives_the_same_bands_for_any_power_of_two():
    """rescale=True: the spectrum is rfftn of the map / 2**e bit for bit (made without a copy
    of the map), and a map times 2**40 or 2**-40 gives the very same band arrays."""
    rng = np.random.default_rng(12)
    volume = (rng.normal(size=(30, 34, 31)) * 1.3e-6).astype(np.float32)
    bank = FilterBank(volume, 1.0, 2.0, workers=2, rescale=True)
    # RMS 1.3e-6 ~ 2^-19.6 (maps within 2^-16..2^16 run as they are: scale.SAFE_EXPONENT)
    assert bank.scale_exponent == -20
    np.testing.assert_array_equal(
        bank._spectrum, sfft.rfftn(np.ldexp(volume, 20), workers=2))
    want = bank.band(6.0)
    for factor in (2.0 ** 40, 2.0 ** -40):
        other = FilterBank(volume * np.float32(factor), 1.0, 2.0, workers=1, rescale=True)
        got = other.band(6.0)
        np.testing.assert_array_equal(got.b, want.b)
        np.testing.assert_array_equal(got.m, want.m)
    # without rescale: the map's own units (the default, as before)
    plain = FilterBank(volume, 1.0, 2.0, workers=2)
    assert plain.scale_exponent == 0
    np.testing.assert_allclose(plain.band(6.0).m, np.ldexp(want.m, -20), rtol=0,
                               atol=1e-6 * float(np.ldexp(want.m.max(), -20)))


@pytest.mark.parametrize("method", ["locspiral", "locbsharpen"])
def test_enhancement_is_scale_free_inside(method):
    """The module functions (not only core's wrapped exports) give the standard answer for a
    map times 1e30 or 1e-30: the bank rescales the map's spectrum. Float32 rounding of the
    scaled input (not a power of two) is the only difference: 1e-4 of the map's range."""
    from locspiral_em.core import enhance
    from locspiral_em.core.phantom import Domain, make_phantom
    ph = make_phantom((40,) * 3, 1.0, [Domain((20, 20, 20), 9.0, 60.0)], noise=0.5, seed=3)
    run = getattr(enhance, method)
    want = run(ph.map, ph.mask, 1.0, 20.0, 3.0, workers=1)
    for factor in (1e30, 1e-30):
        got = run(ph.map * np.float32(factor), ph.mask, 1.0, 20.0, 3.0, workers=1)
        for g, w in zip(got, want):
            assert np.isfinite(g).all()
            np.testing.assert_allclose(g, w, rtol=0, atol=1e-4 * float(np.ptp(w)))


# -- LocSharpen's smoothing and LocBFactor's memory (issue 14, part 3) -----------------------

def _ball(n, radius, centre=None):
    c = np.asarray(centre if centre is not None else (n / 2,) * 3)
    z, y, x = np.ogrid[:n, :n, :n]
    return (z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2 < radius ** 2


@pytest.mark.parametrize("sigma", [1.3, 3.0])
def test_fft_smoother_is_ndimage_gaussian_filter(sigma):
    """LocSharpen's Gaussian average by FFT (``sharpen._Smoother``) is
    ``ndimage.gaussian_filter(mode="constant")``: same sampled, truncated kernel, and a mask
    farther than the kernel's reach from the faces makes the periodic convolution the
    zero-padded one. Tolerance 1e-6 of the largest value: float32 FFT rounding (~1e-7
    relative to the largest coefficient), where a wrong kernel (even its 4-SD truncation,
    6e-5 of the mass per axis) or a wrapped edge would be off by more than 1e-5."""
    from scipy import ndimage
    from locspiral_em.core import sharpen
    n = 40
    valid = _ball(n, 8.0)
    values = np.where(valid, np.random.default_rng(5).normal(3.0, 1.0, (n,) * 3), 0)
    values = values.astype(np.float32)
    smoother = sharpen._Smoother(valid, sigma, 2)
    assert smoother.transfer is not None          # the FFT path
    for v in (values, valid.astype(np.float32)):
        want = ndimage.gaussian_filter(v, sigma, mode="constant")
        np.testing.assert_allclose(smoother(v), want, rtol=0,
                                   atol=1e-6 * float(np.abs(want).max()))


def test_smoother_falls_back_to_ndimage_near_the_faces():
    """A mask within the kernel's reach (4 SDs) of a face would wrap around in a periodic
    convolution: ndimage then does it, to the bit."""
    from scipy import ndimage
    from locspiral_em.core import sharpen
    n, sigma = 40, 3.0
    valid = _ball(n, 8.0, centre=(20, 20, 30))     # reaches x = 37 > 40 - 12
    values = np.where(valid, 1.5, 0).astype(np.float32)
    smoother = sharpen._Smoother(valid, sigma, 2)
    assert smoother.transfer is None
    np.testing.assert_array_equal(smoother(values),
                                  ndimage.gaussian_filter(values, sigma, mode="constant"))


def _locbfactor_peak(ph, **options):
    import tracemalloc
    from locspiral_em import core
    tracemalloc.start()
    try:
        core.locbfactor(ph.map, ph.mask, 1.0, 15.0, 3.5, workers=1, **options)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak / (4 * ph.map.size)


def test_locbfactor_filtered_fit_and_power_smoothing_cost_little_memory():
    """The debiased estimator's power smoothing transforms into the bank's own half-grid
    buffer (which holds the band map it does not use): no volume more than the published
    estimator, which does not smooth (before: one volume more). The filtered fit adds two
    float32 sums and a one-byte band count: 2.25 volumes (before: three float32 sums, 3).
    Slack 0.2 volume: slab-sized temporaries (a few 512 KiB blocks at 48^3)."""
    from locspiral_em.core.phantom import Domain, make_phantom
    n = 48
    ph = make_phantom((n,) * 3, 1.0, [Domain((24, 24, 19), 6.0, 50.0),
                                      Domain((24, 24, 29), 6.0, 120.0)], noise=0.5, seed=0)
    plain = _locbfactor_peak(ph, filtered=False)
    published = _locbfactor_peak(ph, filtered=False, estimator="published")
    filtered = _locbfactor_peak(ph, filtered=True)
    assert plain < published + 0.2
    assert filtered - plain < 2.25 + 0.2
