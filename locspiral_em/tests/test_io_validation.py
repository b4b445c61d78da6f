"""Core I/O (``read_map``/``write_map``/``write_maps``), input validation of the methods,
the global statistics (``fsc``, ``global_bfactor``) and ``threshold_mask``.

Every test asserts numbers or exact behaviour. Boxes are 32-64^3 so the file runs in a few
seconds.
"""
import os

import mrcfile
import numpy as np
from locspiral_em.tests.pytest_shim import pytest  # pytest, or a stand-in in a stock Scipion
import scipy.fft as sfft

from locspiral_em import core
from locspiral_em.core import InputError

VOXEL = 1.3
ORIGIN = (10.5, -3.0, 7.0)
NSTART = (-16, 5, 0)


def listing(folder):
    """Every entry of a folder, hidden temporaries included."""
    return sorted(os.listdir(folder))


def temporaries(folder):
    return [name for name in os.listdir(folder) if name.startswith(".tmp-")]


# ======================================================================================
# write_map / read_map
# ======================================================================================

def test_round_trip_keeps_data_voxel_size_origin_nstart(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.normal(size=(24, 28, 32)).astype(np.float32)  # (z, y, x), non-cubic
    path = tmp_path / "m.mrc"
    core.write_map(path, data, VOXEL, ORIGIN, NSTART)

    back = core.read_map(path)
    assert back.data.dtype == np.float32
    assert back.data.shape == (24, 28, 32)
    np.testing.assert_array_equal(back.data, data)
    assert back.voxel_size == pytest.approx(VOXEL, abs=1e-6)  # header is float32
    assert back.origin == ORIGIN
    assert back.nstart == NSTART

    # And what any other MRC reader sees.
    with mrcfile.open(path) as mrc:
        assert mrc.data.shape == (24, 28, 32)
        assert mrc.voxel_size.x == pytest.approx(VOXEL, abs=1e-6)
        assert mrc.voxel_size.z == pytest.approx(VOXEL, abs=1e-6)
        assert (float(mrc.header.origin.x), float(mrc.header.origin.y),
                float(mrc.header.origin.z)) == ORIGIN
        assert (int(mrc.header.nxstart), int(mrc.header.nystart),
                int(mrc.header.nzstart)) == NSTART
        assert mrc.header.dmax == pytest.approx(float(data.max()))
    assert temporaries(tmp_path) == []


def test_read_map_converts_integer_modes_and_uses_voxel_override(tmp_path):
    path = tmp_path / "int8.mrc"
    data = (np.arange(8 * 9 * 10) % 7 - 3).astype(np.int8).reshape(8, 9, 10)
    with mrcfile.new(path) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = 2.0
    back = core.read_map(path)
    assert back.data.dtype == np.float32
    np.testing.assert_array_equal(back.data, data.astype(np.float32))
    assert back.voxel_size == 2.0
    assert core.read_map(path, voxel_size=1.06).voxel_size == 1.06


def test_write_map_replaces_existing_file_and_leaves_no_temporaries(tmp_path):
    path = tmp_path / "m.mrc"
    core.write_map(path, np.zeros((8, 8, 8), np.float32), 1.0)
    core.write_map(path, np.ones((10, 8, 8), np.float32), 2.0)
    back = core.read_map(path)
    assert back.data.shape == (10, 8, 8) and float(back.data.sum()) == 640.0
    assert back.voxel_size == 2.0
    assert listing(tmp_path) == ["m.mrc"]


def test_write_map_creates_missing_folders(tmp_path):
    path = tmp_path / "a" / "b" / "m.mrc"
    core.write_map(path, np.ones((8, 8, 8), np.float32), 1.0)
    assert core.read_map(path).data.sum() == 512.0
    assert listing(tmp_path / "a" / "b") == ["m.mrc"]


def test_write_maps_all_or_nothing_when_a_later_item_has_bad_data(tmp_path):
    good = tmp_path / "first.mrc"
    bad = tmp_path / "second.mrc"
    with pytest.raises(ValueError):  # 1-D data: mrcfile refuses it
        core.write_maps([(good, np.ones((8, 8, 8), np.float32)), (bad, np.ones(10))], 1.0)
    assert listing(tmp_path) == []  # neither file, and no .tmp- leftovers


def test_write_maps_all_or_nothing_when_a_later_folder_cannot_be_created(tmp_path):
    good = tmp_path / "first.mrc"
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, so blocker/ cannot be a folder")
    with pytest.raises(OSError):
        core.write_maps([(good, np.ones((8, 8, 8), np.float32)),
                         (blocker / "sub" / "second.mrc", np.ones((8, 8, 8), np.float32))],
                        1.0)
    assert listing(tmp_path) == ["blocker"]
    assert blocker.read_text() == "a file, so blocker/ cannot be a folder"


def test_write_maps_failure_keeps_existing_targets_byte_identical(tmp_path):
    first = tmp_path / "first.mrc"
    core.write_map(first, np.full((8, 8, 8), 5.0, np.float32), 1.0, ORIGIN)
    before = first.read_bytes()
    with pytest.raises(ValueError):
        core.write_maps([(first, np.zeros((8, 8, 8), np.float32)),
                         (tmp_path / "second.mrc", np.zeros(3))], 2.0)
    assert first.read_bytes() == before
    assert listing(tmp_path) == ["first.mrc"]


def test_write_maps_writes_every_item_with_the_same_header(tmp_path):
    items = [(tmp_path / f"{i}.mrc", np.full((8, 9, 10), i, np.float32)) for i in range(3)]
    core.write_maps(items, VOXEL, ORIGIN, NSTART)
    for i in range(3):
        back = core.read_map(tmp_path / f"{i}.mrc")
        assert float(back.data.mean()) == i
        assert back.origin == ORIGIN and back.nstart == NSTART
        assert back.voxel_size == pytest.approx(VOXEL, abs=1e-6)
    assert listing(tmp_path) == ["0.mrc", "1.mrc", "2.mrc"]


def test_write_maps_all_or_nothing_when_a_later_rename_fails(tmp_path):
    (tmp_path / "second.mrc").mkdir()  # os.replace(file, folder) fails
    with pytest.raises((OSError, InputError)):
        core.write_maps([(tmp_path / "first.mrc", np.ones((8, 8, 8), np.float32)),
                         (tmp_path / "second.mrc", np.ones((8, 8, 8), np.float32))], 1.0)
    assert not (tmp_path / "first.mrc").exists()
    assert temporaries(tmp_path) == []


def test_written_maps_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "m.mrc"
        core.write_map(path, np.ones((8, 8, 8), np.float32), 1.0)
    finally:
        os.umask(old)
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o644)


def test_write_maps_refuses_non_volume_data_before_writing(tmp_path):
    with pytest.raises(InputError, match="second.mrc"):
        core.write_maps([(tmp_path / "first.mrc", np.ones((8, 8, 8), np.float32)),
                         (tmp_path / "second.mrc", np.ones((8, 8), np.float32))], 1.0)
    assert listing(tmp_path) == []


# -- read_map errors -------------------------------------------------------------------

def test_read_map_missing_file(tmp_path):
    path = tmp_path / "nothere.mrc"
    with pytest.raises(InputError) as info:
        core.read_map(path)
    assert str(info.value) == f"map file not found: {path}"


def test_read_map_folder_is_not_a_map(tmp_path):
    with pytest.raises(InputError, match="not found"):
        core.read_map(tmp_path)


@pytest.mark.parametrize("content", [
    b"",                                           # empty: no header
    b"\x00" * 100,                                 # shorter than the 1024-byte header
    b"this is a text file, not a map\n" * 100,     # long enough, nonsense header
    bytes(np.random.default_rng(3).integers(0, 256, 6000, dtype=np.uint8)),  # garbage
], ids=["empty", "short", "text", "random"])
def test_read_map_non_mrc_file(tmp_path, content):
    path = tmp_path / "bad.mrc"
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        core.read_map(path)
    assert type(info.value) is InputError
    assert str(path) in str(info.value)
    assert "MRC" in str(info.value)


def test_read_map_two_dimensional_file(tmp_path):
    path = tmp_path / "image.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((16, 16), np.float32))
        mrc.voxel_size = 1.0
    with pytest.raises(InputError) as info:
        core.read_map(path)
    assert str(info.value) == f"{path} holds a 2-D array (16, 16), not a 3-D volume"


def test_read_map_anisotropic_voxels(tmp_path):
    path = tmp_path / "aniso.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((8, 8, 8), np.float32))
        mrc.voxel_size = (1.0, 1.0, 1.5)
    with pytest.raises(InputError) as info:
        core.read_map(path)
    message = str(info.value)
    assert str(path) in message and "anisotropic" in message
    assert "(1.0, 1.0, 1.5)" in message
    # An explicit voxel size is the user's statement that the voxels are cubic.
    assert core.read_map(path, voxel_size=1.2).voxel_size == 1.2


def test_read_map_zero_voxel_size_needs_an_override(tmp_path):
    path = tmp_path / "novoxel.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.ones((8, 8, 8), np.float32))
        mrc.voxel_size = 0.0
    with pytest.raises(InputError) as info:
        core.read_map(path)
    assert str(path) in str(info.value)
    assert "--voxel-size" in str(info.value)
    back = core.read_map(path, voxel_size=1.3)
    assert back.voxel_size == 1.3
    assert float(back.data.sum()) == 512.0


@pytest.mark.parametrize("override", [0.0, -1.3, float("nan")])
def test_read_map_rejects_non_positive_voxel_override(tmp_path, override):
    path = tmp_path / "m.mrc"
    core.write_map(path, np.ones((8, 8, 8), np.float32), 1.3)
    with pytest.raises(InputError, match="m.mrc"):
        core.read_map(path, voxel_size=override)


# ======================================================================================
# Validation of the methods' inputs
# ======================================================================================

N = 32


@pytest.fixture(scope="module")
def phantom():
    return core.make_phantom((N,) * 3, VOXEL, noise=0.5, seed=2)


def _maturity(volume, mask, p, min_res, max_res):
    return core.maturity_index(mask, [volume], p, min_res, max_res, mature_map=None,
                               workers=1)


METHODS = {
    "locspiral": lambda v, m, p, lo, hi: core.locspiral(v, m, p, lo, hi, workers=1),
    "locbsharpen": lambda v, m, p, lo, hi: core.locbsharpen(v, m, p, lo, hi, workers=1),
    "locbfactor": lambda v, m, p, lo, hi: core.locbfactor(v, m, p, lo, hi, workers=1),
    "lococcupancy": lambda v, m, p, lo, hi: core.lococcupancy(v, m, p, lo, hi, workers=1),
    "maturity_index": _maturity,
}
method_params = pytest.mark.parametrize("method", sorted(METHODS))


def expect_input_error(call):
    with pytest.raises(Exception) as info:
        call()
    assert type(info.value) is InputError, f"{type(info.value).__name__}: {info.value}"
    return str(info.value)


@method_params
def test_valid_call_runs(phantom, method):
    """The baseline every invalid variant below differs from in one thing only."""
    out = METHODS[method](phantom.map, phantom.mask, VOXEL, 25.0, 8.0)
    assert out is not None


@method_params
def test_nan_map(phantom, method):
    volume = phantom.map.copy()
    volume[3, 4, 5] = np.nan
    volume[6, 7, 8] = np.inf
    message = expect_input_error(lambda: METHODS[method](volume, phantom.mask, VOXEL, 25, 8))
    assert "has 2 NaN or infinite voxels" in message


@method_params
def test_two_dimensional_map(phantom, method):
    image = phantom.map[N // 2]
    message = expect_input_error(lambda: METHODS[method](image, phantom.mask[N // 2], VOXEL,
                                                         25, 8))
    assert "3-D" in message and "(32, 32)" in message


@method_params
def test_mask_grid_mismatch(phantom, method):
    mask = phantom.mask[:, :, :30]
    message = expect_input_error(lambda: METHODS[method](phantom.map, mask, VOXEL, 25, 8))
    assert "(32, 32, 30)" in message and "(32, 32, 32)" in message


@method_params
def test_empty_mask(phantom, method):
    mask = np.zeros((N,) * 3, bool)
    message = expect_input_error(lambda: METHODS[method](phantom.map, mask, VOXEL, 25, 8))
    assert "empty" in message


@method_params
def test_all_ones_mask(phantom, method):
    mask = np.ones((N,) * 3, np.float32)
    message = expect_input_error(lambda: METHODS[method](phantom.map, mask, VOXEL, 25, 8))
    assert "whole box" in message


@method_params
def test_max_res_beyond_nyquist(phantom, method):
    message = expect_input_error(
        lambda: METHODS[method](phantom.map, phantom.mask, VOXEL, 25, 2.5))
    # Nyquist is 2 x 1.3 = 2.6 Å.
    assert "max resolution 2.5 Å is beyond Nyquist (2.6 Å for voxel size 1.3 Å)" in message
    # Exactly Nyquist is allowed.
    METHODS[method](phantom.map, phantom.mask, VOXEL, 25, 2.6)


@method_params
@pytest.mark.parametrize("min_res, max_res", [(8.0, 8.0), (6.0, 8.0)])
def test_min_res_not_coarser_than_max_res(phantom, method, min_res, max_res):
    message = expect_input_error(
        lambda: METHODS[method](phantom.map, phantom.mask, VOXEL, min_res, max_res))
    assert (f"min resolution {min_res:g} Å must be coarser (larger) than max resolution "
            f"{max_res:g} Å") in message


@method_params
def test_range_narrower_than_one_fourier_pixel(phantom, method):
    # p N = 41.6 Å: floor(41.6/25) = 1 and floor(41.6/22) = 1, so no band in between;
    # 25-20 Å (floor 2) is the narrowest range that passes.
    message = expect_input_error(
        lambda: METHODS[method](phantom.map, phantom.mask, VOXEL, 25, 22))
    assert "range 25-22 Å spans less than one Fourier pixel on this 32-voxel box" in message
    METHODS[method](phantom.map, phantom.mask, VOXEL, 25, 20)


@method_params
def test_non_positive_voxel_size(phantom, method):
    for bad in (0.0, -1.3):
        message = expect_input_error(
            lambda: METHODS[method](phantom.map, phantom.mask, bad, 25, 8))
        assert "voxel size must be positive" in message


def test_mask_leaving_too_little_solvent(phantom):
    mask = np.ones((N,) * 3, bool)
    # 125 solvent voxels (above as_mask's minimum of 100), all in a corner outside the box
    # sphere: the noise statistics still have none.
    mask[:5, :5, :5] = False
    message = expect_input_error(lambda: core.locspiral(phantom.map, mask, VOXEL, 25, 8))
    assert "leaves only 0 solvent voxels" in message


def test_method_specific_parameters(phantom):
    message = expect_input_error(lambda: core.lococcupancy(phantom.map, phantom.mask, VOXEL,
                                                           25, 8, quantile=1.0))
    assert "between 0 and 1, got 1.0" in message
    message = expect_input_error(lambda: core.locbfactor(phantom.map, phantom.mask, VOXEL,
                                                         15, 4, num_points=1))
    assert "at least 2" in message
    message = expect_input_error(lambda: core.locspiral(phantom.map, phantom.mask, VOXEL,
                                                        25, 8, spiral="economy"))
    assert "'economy'" in message
    message = expect_input_error(lambda: core.maturity_index(phantom.mask, [], VOXEL, 25, 8))
    assert "at least one immature map" in message
    other = phantom.map[:, :, :30]
    message = expect_input_error(lambda: core.maturity_index(
        phantom.mask, [phantom.map, other], VOXEL, 25, 8))
    assert "immature map 2 grid (32, 32, 30) differs from immature map 1 grid" in message


# ======================================================================================
# FSC
# ======================================================================================

def shell_counts(n):
    """Full-grid coefficients per rounded shell, as core.fsc bins them."""
    f = sfft.fftfreq(n) * n
    r = np.sqrt(f[:, None, None] ** 2 + f[None, :, None] ** 2 + f[None, None, :] ** 2)
    return np.bincount(np.rint(r).astype(int).ravel())[: n // 2 + 1]


def test_fsc_identical_maps_is_one_to_nyquist():
    rng = np.random.default_rng(4)
    volume = rng.normal(size=(40, 40, 40)).astype(np.float32)
    curve = core.fsc(volume, volume, VOXEL, workers=1)
    assert curve.threshold == 0.143
    assert curve.fsc.shape == (21,)
    np.testing.assert_allclose(curve.fsc, 1.0, atol=1e-6)
    np.testing.assert_allclose(curve.frequency, np.arange(21) / (VOXEL * 40))
    assert curve.resolution == 2 * VOXEL


def test_fsc_independent_noise_crosses_early():
    n = 48
    rng = np.random.default_rng(5)
    a = rng.normal(size=(n,) * 3).astype(np.float32)
    b = rng.normal(size=(n,) * 3).astype(np.float32)
    curve = core.fsc(a, b, 1.0, workers=1)
    # For independent real fields each shell's FSC is ~ N(0, 1/n_k), n_k the shell's
    # full-grid coefficient count; no shell should be beyond 5 SD.
    counts = shell_counts(n)
    z = curve.fsc[1:] * np.sqrt(counts[1:])
    assert np.abs(z).max() < 5
    # Shells 1, 2, 3 hold 18, 62 and ~120 coefficients (SD 0.24, 0.13, 0.09), so the curve
    # is below 0.143 by shell 3 except with probability ~0.2%; here it is at shell 1 or 2.
    assert curve.resolution >= 1.0 / curve.frequency[3]
    assert curve.resolution > 10.0


def test_fsc_known_signal_and_noise():
    """Gaussian signal with spectrum exp(-B s^2 / 2) per coefficient (white noise blurred by
    exp(-B s^2/4)) plus independent white noise of SD sigma in each half map. Expected
    FSC(s) = SSNR/(1+SSNR), SSNR = exp(-B s^2/2)/sigma^2, so FSC = 0.143 at
    s*^2 = (2/B) ln(0.857/(0.143 sigma^2)). Near s* the expected FSC changes by ~0.06 per
    shell while its sampling SD is ~(1-0.143^2)/sqrt(n_k) ~ 0.02 (n_k ~ 3000), so the
    measured crossing lies within one shell of s*."""
    n, p, bfac, sigma = 48, VOXEL, 150.0, 0.1
    rng = np.random.default_rng(6)
    white = rng.normal(size=(n,) * 3)
    signal = sfft.irfftn(sfft.rfftn(white) * core.phantom.debye_waller((n,) * 3, p, bfac),
                         s=(n,) * 3)
    half1 = (signal + sigma * rng.normal(size=signal.shape)).astype(np.float32)
    half2 = (signal + sigma * rng.normal(size=signal.shape)).astype(np.float32)
    curve = core.fsc(half1, half2, p, workers=1)

    s_star = np.sqrt(2.0 / bfac * np.log((1 - 0.143) / (0.143 * sigma ** 2)))
    shell = 1.0 / (p * n)
    assert 1.0 / (s_star + shell) <= curve.resolution <= 1.0 / (s_star - shell)
    assert 3.2 < curve.resolution < 3.7  # 1/s* = 3.42 Å
    # The curve follows the expectation shell by shell where it is well sampled.
    expected = 1.0 / (1.0 + sigma ** 2 * np.exp(bfac * curve.frequency ** 2 / 2))
    np.testing.assert_allclose(curve.fsc[5:], expected[5:], atol=0.06)


def test_fsc_phantom_resolution_within_bounds():
    """core.make_phantom: the noise-free map and the noise SD are known, so the expected
    FSC per shell is P_clean / (P_clean + n_k N^3 sigma^2) (white noise of SD sigma has
    E|F|^2 = N^3 sigma^2 per coefficient). Near the crossing (shell ~17-21 of 24) the
    expected FSC drops ~0.05 per shell and the measured one scatters with SD
    ~1/sqrt(n_k) ~ 0.016 (n_k ~ 4 pi k^2 ~ 4000), i.e. ~0.35 shell: the measured 0.143
    crossing lies within one shell of the predicted (interpolated) one. Halving the noise
    moves it to a finer resolution."""
    n, p = 48, 1.0
    results = {}
    for noise in (0.5, 0.25):
        ph = core.make_phantom((n,) * 3, p, noise=noise, seed=7)
        sigma = noise * float(ph.clean.astype(np.float64)[ph.mask].std())
        clean_power = np.abs(sfft.rfftn(ph.clean.astype(np.float64))) ** 2
        shells, weight, nshell, freq = core.globalstats._shell_index((n,) * 3, p)
        keep = shells < nshell
        signal = np.bincount(shells[keep], (weight * clean_power)[keep], nshell)
        count = np.bincount(shells[keep], weight[keep], nshell)
        expected = signal / (signal + count * n ** 3 * sigma ** 2)
        k = int(np.nonzero(expected[1:] < 0.143)[0][0]) + 1  # first predicted shell below
        t = (expected[k - 1] - 0.143) / (expected[k - 1] - expected[k])
        predicted_shell = k - 1 + t
        curve = core.fsc(ph.half1, ph.half2, p, workers=1)
        measured_shell = p * n / curve.resolution
        assert abs(measured_shell - predicted_shell) < 1.0, (noise, measured_shell,
                                                             predicted_shell)
        results[noise] = curve.resolution
    assert 2.6 < results[0.5] < 3.1      # predicted 2.82 Å
    assert 2.2 < results[0.25] < 2.5     # predicted 2.35 Å


def test_fsc_mask_and_grid_checks():
    rng = np.random.default_rng(8)
    a = rng.normal(size=(32,) * 3).astype(np.float32)
    b = a + rng.normal(size=a.shape).astype(np.float32)
    mask = np.zeros((32,) * 3, bool)
    mask[8:24, 8:24, 8:24] = True
    # Without the phase-randomisation correction a masked FSC is the FSC of the masked maps;
    # with it (the default) the raw masked curve is still kept alongside.
    masked = core.fsc(a, b, 1.0, mask=mask, correct=False)
    direct = core.fsc(a * mask, b * mask, 1.0)
    np.testing.assert_array_equal(masked.fsc, direct.fsc)
    assert masked.resolution == direct.resolution
    np.testing.assert_array_equal(core.fsc(a, b, 1.0, mask=mask).fsc_masked, direct.fsc)
    assert not np.allclose(masked.fsc, core.fsc(a, b, 1.0).fsc)
    message = expect_input_error(lambda: core.fsc(a, a[:, :, :30], 1.0))
    assert "half map 1 grid (32, 32, 32) differs from half map 2 grid (32, 32, 30)" in message
    message = expect_input_error(lambda: core.fsc(a, a, 1.0, mask=mask[:30]))
    assert "(30, 32, 32)" in message
    message = expect_input_error(lambda: core.fsc(a, np.where(mask, np.nan, a), 1.0))
    assert "half map 2 has 4096 NaN" in message


# ======================================================================================
# Global Guinier B
# ======================================================================================

@pytest.mark.parametrize("bfac", [50.0, 150.0])
def test_global_bfactor_recovers_blur(bfac):
    """White Gaussian noise has E|F| the same on every shell (Rayleigh mean, flat spectrum);
    multiplying by exp(-B s^2/4) makes log <|F|> = const - (B/4) s^2, so the fit returns
    4 x slope = -B. The shell means over >= 450 coefficients (k >= 6 on 64^3) have relative
    SD <= 0.52/sqrt(450) ~ 2.5%, i.e. log errors ~0.025 against a drop of B/4 * 0.14
    (1.8 to 5 log units) over 10-2.8 Å: the slope error is ~1-2%, and the rounding of
    coefficients to shells adds a bias well under 1%; 5% is a safe bound."""
    n, p = 64, 1.0
    rng = np.random.default_rng(9)
    white = rng.normal(size=(n,) * 3)
    blurred = sfft.irfftn(sfft.rfftn(white) * core.phantom.debye_waller((n,) * 3, p, bfac),
                          s=(n,) * 3).astype(np.float32)
    fit = core.global_bfactor(blurred, p, 10.0, 2.8, workers=1)
    assert fit.bfactor == pytest.approx(-bfac, rel=0.05)
    # The fitted points are the shells between 10 and 2.8 Å: k = 7 .. 22 on a 64 Å box.
    np.testing.assert_allclose(fit.res_square, (np.arange(7, 23) / 64.0) ** 2)

    flat = core.global_bfactor(white.astype(np.float32), p, 10.0, 2.8, workers=1)
    assert abs(flat.bfactor) < 0.05 * bfac


def test_global_bfactor_errors():
    volume = np.random.default_rng(10).normal(size=(32,) * 3).astype(np.float32)
    message = expect_input_error(lambda: core.global_bfactor(volume, 1.0, 5.0, 6.0))
    assert "min resolution 5 Å must be coarser than max resolution 6 Å" in message
    # 32 Å box: shells at 1/32 Å^-1 steps; 10-9 Å (0.1-0.111) holds only k = 4 (0.125 no).
    message = expect_input_error(lambda: core.global_bfactor(volume, 1.0, 10.0, 9.0))
    assert "too few Fourier shells between 10 and 9 Å" in message


# ======================================================================================
# threshold_mask
# ======================================================================================

def test_threshold_mask_minimum_object_size_and_connectivity():
    volume = np.zeros((20, 20, 20), np.float32)
    # 25 voxels: a 5 x 5 plate -> kept.
    volume[2, 2:7, 2:7] = 1
    # 24 voxels: a 5 x 5 plate less one corner -> removed.
    volume[10, 2:7, 2:7] = 1
    volume[10, 6, 6] = 0
    # The same 24-voxel plate plus a voxel sharing only an edge with it, (17, 7, 4) next to
    # (16, 6, 4), and one sharing only a corner, (17, 1, 1) next to (16, 2, 2). With
    # 6-connectivity these are three objects (24, 1, 1 voxels), all removed; with 18- or
    # 26-connectivity they would be one object of 25 or 26 voxels and be kept.
    volume[16, 2:7, 2:7] = 1
    volume[16, 6, 6] = 0
    volume[17, 7, 4] = 1
    volume[17, 1, 1] = 1
    mask = core.threshold_mask(volume, 0.5)
    assert mask.dtype == bool
    expected = np.zeros_like(mask)
    expected[2, 2:7, 2:7] = True
    np.testing.assert_array_equal(mask, expected)
    # Two voxels touching diagonally (along an edge or at a corner) are two 1-voxel
    # objects, removed at min_voxels=2; two face neighbours are one 2-voxel object, kept.
    pair = np.zeros((10, 10, 10), np.float32)
    pair[2, 2, 2] = pair[3, 3, 2] = 1          # edge-diagonal
    pair[6, 6, 6] = pair[7, 7, 7] = 1          # corner-diagonal
    pair[2, 7, 7] = pair[2, 7, 8] = 1          # face neighbours
    kept = core.threshold_mask(pair, 0.5, min_voxels=2)
    assert int(kept.sum()) == 2 and kept[2, 7, 7] and kept[2, 7, 8]


def test_threshold_mask_keeps_size_25_and_removes_24_with_min_voxels():
    volume = np.zeros((16, 16, 16), np.float32)
    volume[4, 4, 0:16] = 2.0          # 16-voxel rod
    volume[4, 5:14, 0] = 2.0          # + 9 along y from its end: 25 connected voxels
    volume[10, 10, 2:14] = 2.0        # 12-voxel rod
    volume[11, 10, 2:14] = 2.0        # + 12 in the next plane: 24 connected voxels
    mask = core.threshold_mask(volume, 1.0)
    assert int(mask.sum()) == 25
    assert mask[4, 4, 0:16].all() and mask[4, 5:14, 0].all()
    assert not mask[10:12].any()
    # The limit is a parameter: at 24 both objects stay.
    assert int(core.threshold_mask(volume, 1.0, min_voxels=24).sum()) == 49


def test_threshold_mask_errors():
    volume = np.zeros((16, 16, 16), np.float32)
    volume[3, 3, 3:10] = 1.0  # a 7-voxel speck only
    message = expect_input_error(lambda: core.threshold_mask(volume, 5.0))
    assert "no voxel is above the mask threshold 5 (map range 0 to 1)" in message
    message = expect_input_error(lambda: core.threshold_mask(volume, 0.5))
    assert "leaves only objects smaller than 25 voxels" in message


def test_threshold_mask_automatic_threshold_is_three_sd_above_corner_solvent():
    rng = np.random.default_rng(11)
    volume = rng.normal(size=(32,) * 3).astype(np.float32)
    volume[10:22, 10:22, 10:22] += 10.0
    corners = volume[~core.noise.box_sphere(volume.shape)]
    expected = float(corners.mean() + 3 * corners.std(ddof=1))
    assert core.auto_threshold(volume) == pytest.approx(expected, rel=1e-6)
    mask = core.threshold_mask(volume)
    # The 12^3 cube is well above threshold; pure-noise specks rarely reach 25 voxels.
    assert mask[10:22, 10:22, 10:22].all()
    np.testing.assert_array_equal(mask, core.threshold_mask(volume, expected))
