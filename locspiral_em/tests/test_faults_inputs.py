"""Bad input is refused with one line, and nothing silently gives a wrong answer (issue 13,
inputs): origins that differ, half maps that are one map twice, maps in any intensity unit,
masks that are too small or no mask at all, voxel-size overrides, an FSC that never falls,
the Python API's argument types, a map thresholded upstream.

Every case asserts the exact promise: an InputError of one line naming the problem (and,
through the command line, exit status 2, one line on stderr, nothing written), or the same
answer as the standard input, never NaN. Phantoms are 32^3 at 1.2 Å; ``--threads 1``.
"""
import json
import os
import pathlib

import numpy as np
from locspiral_em.tests.pytest_shim import pytest  # pytest, or a stand-in in a stock Scipion

from locspiral_em import cli, core, run as R
from locspiral_em.core import InputError, MapData

N, VOXEL = 32, 1.2
REALDATA = pathlib.Path(__file__).resolve().parents[3] / "shared" / "realdata"


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Runs without a prefix write beside the input label: keep them in the test's folder."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def ph():
    return core.make_phantom((N,) * 3, VOXEL, noise=0.5, seed=1)


def one_line(excinfo):
    text = str(excinfo.value)
    assert "\n" not in text and text.strip() == text and text
    return text


def write(path, data, voxel=VOXEL, origin=(0.0, 0.0, 0.0), nstart=(0, 0, 0)):
    core.write_map(path, np.asarray(data, np.float32), voxel, origin, nstart)
    return str(path)


def spec(method, **kw):
    kw.setdefault("workers", 1)
    return R.RunSpec(method, **kw)


def cli_refuses(argv, folder, capsys, *needles):
    """The command line's promise for bad input: exit 2, one line on stderr naming the
    problem, nothing written (the folder holds only what was there before)."""
    before = sorted(os.listdir(folder))
    code = cli.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1, err
    for needle in needles:
        assert needle in err[0], err[0]
    assert sorted(os.listdir(folder)) == before
    return err[0]


def halves(ph, origin1=(0.0, 0.0, 0.0), origin2=(0.0, 0.0, 0.0), nstart1=(0, 0, 0),
           nstart2=(0, 0, 0)):
    return dict(half1=MapData(ph.half1, VOXEL, origin1, nstart1),
                half2=MapData(ph.half2, VOXEL, origin2, nstart2))


# ======================================================================================
# origins
# ======================================================================================

def test_half_maps_with_different_origins_are_refused_naming_both(ph):
    with pytest.raises(InputError) as e:
        R.load_inputs(spec("locspiral", **halves(ph, origin2=(12.0, 0.0, 0.0))))
    text = one_line(e)
    assert "(0.00, 0.00, 0.00)" in text and "(12.00, 0.00, 0.00)" in text
    assert "resample" in text


def test_half_maps_with_different_nstart_are_refused(ph):
    # Header origin 0 in both: ChimeraX places voxel 0 at nstart x voxel size.
    with pytest.raises(InputError) as e:
        R.load_inputs(spec("locspiral", **halves(ph, nstart2=(-16, -16, -16))))
    assert "(-19.20, -19.20, -19.20)" in one_line(e)  # -16 x 1.2 Å


def test_origin_and_the_same_nstart_position_are_one_grid(ph):
    # One header says origin -19.2 Å, the other nstart -16: the same place, accepted.
    inputs = R.load_inputs(spec("locspiral", **halves(
        ph, origin1=(-19.2, -19.2, -19.2), nstart2=(-16, -16, -16))))
    assert inputs.volume.shape == (N,) * 3


def test_origins_within_a_small_fraction_of_a_voxel_are_one_grid(ph):
    # float32 headers from two programs: 0.01 voxel apart is rounding, not a shift
    # (the tolerance is 0.05 voxel).
    inputs = R.load_inputs(spec("locspiral", **halves(ph, origin2=(0.012, 0.0, 0.0))))
    np.testing.assert_allclose(inputs.volume, core.average_half_maps(ph.half1, ph.half2))


AT = (12.0, 12.0, 12.0)  # a map's header origin, Å


def test_mask_with_another_origin_is_refused(ph):
    with pytest.raises(InputError) as e:
        R.run(spec("lococcupancy", map=MapData(ph.map, VOXEL, AT),
                   mask=MapData(ph.mask.astype(np.float32), VOXEL, (12.0, 18.0, 12.0))))
    assert "mask origin (12.00, 18.00, 12.00)" in one_line(e)


def test_mask_without_a_position_is_taken_on_the_maps_grid(ph):
    # Origin and NXSTART all 0: no position written (many mask tools); accepted.
    inputs = R.load_inputs(spec("lococcupancy", map=MapData(ph.map, VOXEL, AT)))
    info = R.make_mask(spec("lococcupancy", mask=MapData(ph.mask.astype(np.float32), VOXEL)),
                       inputs)
    np.testing.assert_array_equal(info.mask, ph.mask)


def test_immature_map_with_another_origin_is_refused(ph):
    with pytest.raises(InputError) as e:
        R.load_inputs(spec("maturity", map=MapData(ph.map, VOXEL, AT),
                           immature=[MapData(ph.map, VOXEL, (0.0, 0.0, 0.0), (2, 0, 0))]))
    assert "immature map 1 origin (2.40, 0.00, 0.00)" in one_line(e)


def test_grid_map_with_another_origin_is_refused(ph):
    with pytest.raises(InputError) as e:
        R.load_inputs(spec("locspiral", **halves(ph, origin1=AT, origin2=AT),
                           grid=MapData(ph.map, VOXEL, (5.0, 5.0, 5.0))))
    assert "grid map origin (5.00, 5.00, 5.00)" in one_line(e)


def test_cli_half_maps_with_different_origins_exit_2(ph, tmp_path, capsys):
    a = write(tmp_path / "h1.mrc", ph.half1)
    b = write(tmp_path / "h2.mrc", ph.half2, origin=(0.0, 0.0, 3.6))
    cli_refuses(["locbfactor", "--half1", a, "--half2", b, "--threads", "1", "-q",
                 "-o", str(tmp_path / "out")], tmp_path, capsys, "(0.00, 0.00, 3.60)")


# ======================================================================================
# half maps that are one map twice
# ======================================================================================

def test_the_same_half_map_file_twice_is_refused(ph, tmp_path, capsys):
    a = write(tmp_path / "h1.mrc", ph.half1)
    cli_refuses(["locsharpen", "--half1", a, "--half2", a, "--threads", "1", "-q", "-o",
                 str(tmp_path / "out")], tmp_path, capsys, "same file", "independent")


def test_equal_half_map_data_are_refused(ph):
    with pytest.raises(InputError) as e:
        R.load_inputs(spec("locspiral", half1=MapData(ph.half1, VOXEL),
                           half2=MapData(ph.half1.copy(), VOXEL)))
    assert "identical" in one_line(e)


def test_fsc_of_one_file_twice_is_refused(ph, tmp_path, capsys):
    a = write(tmp_path / "h1.mrc", ph.half1)
    b = write(tmp_path / "copy.mrc", ph.half1)
    cli_refuses(["fsc", a, b, "--json", str(tmp_path / "f.json")], tmp_path, capsys,
                "identical")


# ======================================================================================
# scale invariance: the same answer for a map in any unit, never NaN
# ======================================================================================
# The phantom's RMS is 0.017. Factors 1e30 and 1e-30 overflow and underflow float32 band
# powers without normalisation; 1e6 is an ordinary unit change. The wrapped methods divide
# by a power of two near the RMS, exact in floating point, so what differs is only the
# float32 rounding of the scaled map itself (relative 6e-8 per voxel): B-factors agree to
# 0.01 Å^2 (measured 3e-5), fractions and W to 1e-5, scaled maps to 1e-5 relative.
SCALES = (1e30, 1e-30, 1e6)


def scaled(volume, s):
    return (np.asarray(volume, np.float64) * s).astype(np.float32)


def finite(*arrays):
    return all(np.isfinite(a).all() for a in arrays)


@pytest.fixture(scope="module")
def standard(ph):
    m = ph.mask
    return dict(
        bfactor=core.locbfactor(ph.map, m, VOXEL, 15, 3.0, workers=1),
        spiral=core.locspiral(ph.map, m, VOXEL, 25, 3.0, workers=1),
        occupancy=core.lococcupancy(ph.map, m, VOXEL, 25, 10, workers=1),
        sharpen=core.locsharpen(ph.map, m, VOXEL, 25, 3.0, workers=1,
                                half_maps=(ph.half1, ph.half2)))


@pytest.mark.parametrize("s", SCALES)
def test_locbfactor_is_scale_free_and_its_log_amplitude_shifts(ph, standard, s):
    ref = standard["bfactor"]
    r = core.locbfactor(scaled(ph.map, s), ph.mask, VOXEL, 15, 3.0, workers=1)
    assert finite(r.bfactor, r.amplitude, r.noise)
    np.testing.assert_array_equal(r.mask, ref.mask)
    np.testing.assert_allclose(r.bfactor, ref.bfactor, atol=0.01)
    # A is a natural-log amplitude: ln(s) higher inside the mask, 0 outside as before.
    np.testing.assert_allclose(r.amplitude[ref.mask], ref.amplitude[ref.mask] + np.log(s),
                               atol=1e-3)
    assert not r.amplitude[~ref.mask].any()
    np.testing.assert_allclose(r.noise, ref.noise + np.log(s), atol=1e-3)


@pytest.mark.parametrize("s", SCALES)
def test_locspiral_w_and_map_are_scale_free(ph, standard, s):
    ref = standard["spiral"]
    r = core.locspiral(scaled(ph.map, s), ph.mask, VOXEL, 25, 3.0, workers=1)
    assert finite(r.map, r.quality)
    # M and W are in units of the solvent noise SD: the same numbers for any unit.
    np.testing.assert_allclose(r.quality, ref.quality, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(r.map, ref.map, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("s", SCALES)
def test_occupancy_and_maturity_are_scale_free(ph, standard, s):
    r = core.lococcupancy(scaled(ph.map, s), ph.mask, VOXEL, 25, 10, workers=1)
    np.testing.assert_allclose(r, standard["occupancy"], atol=1e-5)
    partial = np.where(ph.domains[0], 0.0, ph.map).astype(np.float32)
    ref = core.maturity_index(ph.mask, [partial], VOXEL, 25, 10, mature_map=ph.map,
                              workers=1)[0]
    got = core.maturity_index(ph.mask, [scaled(partial, s)], VOXEL, 25, 10,
                              mature_map=scaled(ph.map, s), workers=1)[0]
    assert got.index == pytest.approx(ref.index, abs=1e-6)
    # The missing-density map is the mature map's density: it keeps the map's unit.
    np.testing.assert_allclose(got.missing / s, ref.missing, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("s", SCALES)
def test_locsharpen_map_scales_with_the_map_and_b_does_not(ph, standard, s):
    ref = standard["sharpen"]
    r = core.locsharpen(scaled(ph.map, s), ph.mask, VOXEL, 25, 3.0, workers=1,
                        half_maps=(scaled(ph.half1, s), scaled(ph.half2, s)))
    assert finite(r.map, r.bfactor)
    np.testing.assert_allclose(r.bfactor, ref.bfactor, atol=0.01)
    peak = float(np.abs(ref.map).max())
    np.testing.assert_allclose(r.map / s, ref.map, atol=1e-5 * peak)


@pytest.mark.parametrize("s", SCALES)
def test_fsc_guinier_b_and_automatic_mask_are_scale_free(ph, s):
    f0 = core.fsc(ph.half1, ph.half2, VOXEL, workers=1)
    f = core.fsc(scaled(ph.half1, s), scaled(ph.half2, s), VOXEL, workers=1)
    np.testing.assert_allclose(f.fsc, f0.fsc, atol=1e-6)
    assert f.resolution == pytest.approx(f0.resolution, abs=1e-4)
    g0 = core.global_bfactor(ph.map, VOXEL, 15, 3.0)
    g = core.global_bfactor(scaled(ph.map, s), VOXEL, 15, 3.0)
    assert g.bfactor == pytest.approx(g0.bfactor, abs=0.01)
    assert g.intercept == pytest.approx(g0.intercept + np.log(s), abs=1e-4)
    a0 = core.auto_mask(ph.map, VOXEL, workers=1)
    a = core.auto_mask(scaled(ph.map, s), VOXEL, workers=1)
    np.testing.assert_array_equal(a.mask, a0.mask)
    assert a.threshold / s == pytest.approx(a0.threshold, rel=1e-5)


def test_run_layer_on_a_map_times_1e30_gives_the_standard_summary(ph, tmp_path):
    base = R.run(spec("locbfactor", map=MapData(ph.map, VOXEL), max_res=3.0,
                      prefix=str(tmp_path / "a")))
    big = R.run(spec("locbfactor", map=MapData(scaled(ph.map, 1e30), VOXEL), max_res=3.0,
                     prefix=str(tmp_path / "b")))
    assert all(finite(a) for a in big.arrays.values())
    assert big.summary["results"]["bfactor_mean_A2"] == pytest.approx(
        base.summary["results"]["bfactor_mean_A2"], abs=0.01)
    assert big.summary["mask"]["voxels"] == base.summary["mask"]["voxels"]
    assert big.summary["mask"]["threshold"] / 1e30 == pytest.approx(
        base.summary["mask"]["threshold"], rel=1e-5)


def test_half_maps_near_float32s_limit_give_the_standard_summary(ph, tmp_path):
    """Peak at 3e38 (float32 ends at 3.4e38), RMS about 1e37. Before: the half-map average
    overflowed to inf, and the automatic mask's low-pass (a sum over the box) gave NaN."""
    s = 3e38 / max(float(np.abs(ph.half1).max()), float(np.abs(ph.half2).max()))
    halves = lambda k: dict(half1=MapData(scaled(ph.half1, k), VOXEL),  # noqa: E731
                            half2=MapData(scaled(ph.half2, k), VOXEL))
    base = R.run(spec("locbfactor", **halves(1.0), prefix=str(tmp_path / "a")))
    big = R.run(spec("locbfactor", **halves(s), prefix=str(tmp_path / "b")))
    assert finite(core.average_half_maps(scaled(ph.half1, s), scaled(ph.half2, s)))
    assert all(finite(a) for a in big.arrays.values())
    assert big.summary["resolution"]["fsc_res_A"] == pytest.approx(  # float32 rounding of
        base.summary["resolution"]["fsc_res_A"], abs=1e-4)            # the scaled maps
    assert big.summary["mask"]["voxels"] == base.summary["mask"]["voxels"]
    assert big.summary["results"]["bfactor_mean_A2"] == pytest.approx(
        base.summary["results"]["bfactor_mean_A2"], abs=0.01)  # tolerance as SCALES above


def test_no_output_with_nan_is_ever_written():
    with pytest.raises(InputError) as e:
        R.check_finite_outputs({"bfactor": np.array([[[0.0, np.nan, np.inf]]])})
    assert "bfactor output has 2 NaN or infinite voxels" in one_line(e)


# ======================================================================================
# masks
# ======================================================================================

def test_one_voxel_mask_is_refused_with_the_minimum(ph):
    mask = np.zeros((N,) * 3, bool)
    mask[16, 16, 16] = True
    with pytest.raises(InputError) as e:
        R.run(spec("maturity", map=MapData(ph.map, VOXEL), mask=mask,
                   immature=[MapData(ph.map, VOXEL)]))
    assert f"holds 1 voxels; at least {R.MIN_MASK_VOXELS}" in one_line(e)


def test_mask_leaving_no_solvent_statistic_is_refused(ph):
    mask = np.ones((N,) * 3, bool)
    mask[:2, :2, :2] = False  # 8 solvent voxels
    with pytest.raises(InputError) as e:
        R.run(spec("locspiral", map=MapData(ph.map, VOXEL), mask=mask, max_res=3.0))
    assert "leaves 8 voxels of solvent" in one_line(e)


@pytest.mark.parametrize("call", ["locspiral", "locbsharpen", "locbfactor", "lococcupancy",
                                  "locsharpen", "maturity_index"])
@pytest.mark.parametrize("inside", [1, 99])
def test_the_python_api_refuses_masks_under_the_minimum(ph, call, inside):
    """The minimum is the core's (core.validate.as_mask), so the Python API refuses what
    the run layer refuses: 99 voxels is one short."""
    mask = np.zeros((N,) * 3, bool)
    mask.reshape(-1)[:inside] = True
    args = {"maturity_index": (mask, [ph.map])}.get(call, (ph.map, mask))
    with pytest.raises(InputError) as e:
        getattr(core, call)(*args, VOXEL, 12.0, 3.0, workers=1)
    assert f"holds {inside} voxels; at least 100 are needed" in one_line(e)
    assert R.MIN_MASK_VOXELS == core.validate.MIN_MASK_VOXELS == 100  # one definition


def test_the_python_api_refuses_a_mask_that_leaves_too_little_solvent(ph):
    mask = np.ones((N,) * 3, bool)
    mask.reshape(-1)[:99] = False
    with pytest.raises(InputError) as e:
        core.lococcupancy(ph.map, mask, VOXEL, 12.0, 3.0, workers=1)
    assert "leaves 99 voxels of solvent; at least 100" in one_line(e)
    mask.reshape(-1)[99] = False  # 100 voxels of solvent: enough
    assert np.isfinite(core.lococcupancy(ph.map, mask, VOXEL, 12.0, 3.0, workers=1)).all()


def test_density_map_given_as_mask_is_refused_naming_mask_binarise(ph):
    with pytest.raises(InputError) as e:
        R.run(spec("lococcupancy", map=MapData(ph.map, VOXEL),
                   mask=MapData(ph.map, VOXEL)))
    text = one_line(e)
    assert "outside [0, 1]" in text and "--mask-binarise" in text


def test_density_scaled_to_0_1_is_refused_as_no_mask(ph):
    v = ph.map
    normalised = (v - v.min()) / (v.max() - v.min())  # every voxel strictly inside (0, 1)
    with pytest.raises(InputError) as e:
        R.make_mask(spec("lococcupancy", mask=MapData(normalised, VOXEL)),
                    R.load_inputs(spec("lococcupancy", map=MapData(ph.map, VOXEL))))
    assert "strictly between 0 and 1" in one_line(e)


def test_mask_binarise_thresholds_a_density_mask(ph):
    inputs = R.load_inputs(spec("lococcupancy", map=MapData(ph.map, VOXEL)))
    level = float(np.percentile(ph.map, 90))
    info = R.make_mask(spec("lococcupancy", mask=MapData(ph.map, VOXEL),
                            mask_binarise=level), inputs)
    np.testing.assert_array_equal(info.mask, ph.map > np.float32(level))
    assert info.summary["binarised_at"] == level


def test_soft_relion_mask_is_accepted_and_taken_above_half(ph):
    # A Relion-style mask: 1 inside a ball, a raised-cosine edge 6 voxels wide, 0 outside.
    z, y, x = np.indices((N,) * 3)
    r = np.sqrt((z - 16) ** 2 + (y - 16) ** 2 + (x - 16) ** 2)
    soft = np.clip(0.5 + 0.5 * np.cos(np.pi * (r - 8) / 6), 0, 1)
    soft = np.where(r < 8, 1.0, np.where(r > 14, 0.0, soft)).astype(np.float32)
    inputs = R.load_inputs(spec("lococcupancy", map=MapData(ph.map, VOXEL)))
    info = R.make_mask(spec("lococcupancy", mask=MapData(soft, VOXEL)), inputs)
    np.testing.assert_array_equal(info.mask, soft > 0.5)


def test_cli_density_as_mask_exits_2_and_mask_binarise_runs(ph, tmp_path, capsys):
    m = write(tmp_path / "map.mrc", ph.map)
    out = str(tmp_path / "out")
    cli_refuses(["lococcupancy", m, "--mask", m, "--threads", "1", "-q", "-o", out],
                tmp_path, capsys, "--mask-binarise")
    level = float(np.percentile(ph.map, 85))
    assert cli.main(["lococcupancy", m, "--mask", m, "--mask-binarise", str(level),
                     "--threads", "1", "-q", "-o", out, "--json", out + ".json"]) == 0
    summary = json.loads(pathlib.Path(out + ".json").read_text())
    assert summary["mask"]["voxels"] == int(np.count_nonzero(ph.map > np.float32(level)))


# ======================================================================================
# --voxel-size over headers that disagree, FSC beyond Nyquist
# ======================================================================================

def test_voxel_size_override_of_disagreeing_headers_is_warned(ph, tmp_path):
    a = write(tmp_path / "h1.mrc", ph.half1, voxel=1.2)
    b = write(tmp_path / "h2.mrc", ph.half2, voxel=1.25)
    r = R.run(spec("lococcupancy", half1=a, half2=b, voxel_size=1.2,
                   prefix=str(tmp_path / "o")))
    lines = [w for w in r.summary["warnings"] if w.startswith("--voxel-size 1.2 Å")]
    assert len(lines) == 1
    assert "half map 1 1.2 Å" in lines[0] and "half map 2 1.25 Å" in lines[0]


def test_voxel_size_override_of_agreeing_headers_is_silent(ph, tmp_path):
    a = write(tmp_path / "h1.mrc", ph.half1, voxel=1.0)
    b = write(tmp_path / "h2.mrc", ph.half2, voxel=1.0)
    r = R.run(spec("lococcupancy", half1=a, half2=b, voxel_size=1.2,
                   prefix=str(tmp_path / "o")))
    assert not [w for w in r.summary["warnings"] if "--voxel-size" in w]


@pytest.fixture(scope="module")
def clean(ph):
    # Noise 0.02: the half maps agree to Nyquist (FSC 0.97 in the last shell).
    return core.make_phantom((N,) * 3, VOXEL, noise=0.02, seed=1)


def test_fsc_that_never_falls_says_better_than_nyquist(clean, tmp_path, capsys):
    a, b = (write(tmp_path / f"h{i}.mrc", h) for i, h in ((1, clean.half1), (2, clean.half2)))
    js = str(tmp_path / "f.json")
    assert cli.main(["fsc", a, b, "--json", js]) == 0
    out = capsys.readouterr().out
    curve = core.fsc(clean.half1, clean.half2, VOXEL)
    assert curve.fsc[-1] > 0.143
    assert f"better than Nyquist (2.40 Å): the FSC is still {curve.fsc[-1]:.2f} there" in out
    result = json.loads(pathlib.Path(js).read_text())["resolution"]
    assert result["fsc_beyond_nyquist"] is True
    assert result["fsc_at_nyquist"] == pytest.approx(curve.fsc[-1])


def test_fsc_that_falls_reports_its_crossing(ph, tmp_path, capsys):
    a, b = (write(tmp_path / f"h{i}.mrc", h) for i, h in ((1, ph.half1), (2, ph.half2)))
    js = str(tmp_path / "f.json")
    assert cli.main(["fsc", a, b, "--json", js]) == 0
    curve = core.fsc(ph.half1, ph.half2, VOXEL)
    assert f"{curve.resolution:.2f} Å" in capsys.readouterr().out
    assert json.loads(pathlib.Path(js).read_text())["resolution"]["fsc_beyond_nyquist"] is False


def test_default_max_res_at_nyquist_is_flagged_and_warned(clean):
    r = R.run(spec("locbfactor", **halves(clean)))
    res = r.summary["resolution"]
    assert res["max_res_source"] == "fsc" and res["max_res_A"] == pytest.approx(2 * VOXEL)
    assert res["fsc_beyond_nyquist"] is True
    assert res["fsc_at_nyquist"] == pytest.approx(
        core.fsc(clean.half1, clean.half2, VOXEL).fsc[-1])
    assert any("better than Nyquist" in w and "used as the max resolution" in w
               for w in r.summary["warnings"])


# ======================================================================================
# the Python API: argument types
# ======================================================================================

def test_array_map_needs_a_voxel_size():
    with pytest.raises(InputError) as e:
        R.RunSpec("locspiral", map=np.zeros((N,) * 3, np.float32))
    assert one_line(e).startswith("map is an array without a voxel size: pass voxel_size=")


def test_array_map_with_voxel_size_runs_as_mapdata(ph):
    a = R.run(spec("lococcupancy", map=ph.map, voxel_size=VOXEL, prefix="a"))
    b = R.run(spec("lococcupancy", map=MapData(ph.map, VOXEL), prefix="b"))
    np.testing.assert_array_equal(a.arrays["occupancy"], b.arrays["occupancy"])


def test_mapdata_from_a_list_holds_a_float32_array():
    m = MapData([[[0, 1], [2, 3]]], 1.5)
    assert isinstance(m.data, np.ndarray) and m.data.dtype == np.float32
    assert m.data.shape == (1, 2, 2)
    with pytest.raises(InputError) as e:
        MapData(object(), 1.0)
    assert "numeric 3-D array" in one_line(e)
    with pytest.raises(InputError):
        MapData(np.zeros((8, 8, 8)), -1.0)


def test_mask_as_a_nested_list_is_an_array_mask(ph):
    inputs = R.load_inputs(spec("lococcupancy", map=MapData(ph.map, VOXEL)))
    info = R.make_mask(spec("lococcupancy", mask=ph.mask.astype(int).tolist()), inputs)
    np.testing.assert_array_equal(info.mask, ph.mask)
    assert info.summary["source"] == "array"


def test_read_map_takes_bytes_and_pathlike(ph, tmp_path):
    path = write(tmp_path / "m.mrc", ph.map)
    for given in (os.fsencode(path), pathlib.Path(path)):
        np.testing.assert_array_equal(core.read_map(given).data, ph.map)
    with pytest.raises(InputError) as e:
        core.read_map(3)
    assert "a map path must be a file name" in one_line(e)


def test_one_immature_path_is_one_map_not_its_characters(ph, tmp_path):
    path = write(tmp_path / "one.mrc", ph.map)
    s = spec("maturity", map=MapData(ph.map, VOXEL), immature=path)
    assert len(s.immature) == 1
    assert R.load_inputs(s).immature_names == ["one"]


@pytest.mark.parametrize("argument", ["map", "half1", "grid", "mask", "immature"])
def test_a_wrong_type_is_refused_naming_its_argument(argument):
    with pytest.raises(InputError) as e:
        R.RunSpec("maturity" if argument == "immature" else "locspiral", **{argument: 42})
    assert one_line(e).startswith(argument)


# ======================================================================================
# a map thresholded upstream (solvent exactly 0)
# ======================================================================================

def test_thresholded_phantom_gets_a_mask_and_a_warning(ph):
    # The clean density clipped at its 95th percentile, the rest exactly 0, as a Chimera
    # segment is: the non-zero voxels are all density, there is no noise to measure, and
    # 5 "noise" SDs of them lie above the density (the automatic level keeps nothing).
    v = np.where(ph.clean > np.percentile(ph.clean, 95), ph.clean, 0).astype(np.float32)
    auto = core.auto_mask(v, VOXEL, workers=1)
    assert any("keeps nothing of this masked map" in w for w in auto.warnings)
    # Measured: all the density left is inside, 96.5% of the true mask (the domain balls
    # grown by 3 voxels) is covered, 15.6% of the box; bounds with margin.
    assert not np.any((v != 0) & ~auto.mask)
    assert np.count_nonzero(auto.mask & ph.mask) >= 0.95 * np.count_nonzero(ph.mask)
    assert auto.box_fraction < 0.3


@pytest.mark.skipif(not (REALDATA / "emd_21457_seg.mrc").exists(), reason="no real data")
@pytest.mark.parametrize("method", ["locbfactor", "lococcupancy"])
def test_thresholded_real_segment_runs_with_defaults(method, tmp_path):
    r = R.run(spec(method, map=str(REALDATA / "emd_21457_seg.mrc"),
                   max_res=3.2 if method == "locbfactor" else None,
                   prefix=str(tmp_path / method)))
    assert all(finite(a) for a in r.arrays.values())
    assert any("keeps nothing of this masked map" in w for w in r.summary["warnings"])
    assert 0.2 < r.summary["mask"]["box_fraction"] < 0.8


def test_mask_binarise_without_a_mask_is_refused(ph):
    with pytest.raises(InputError) as e:
        R.run(spec("lococcupancy", map=MapData(ph.map, VOXEL), mask_binarise=0.1))
    assert "--mask-binarise thresholds a --mask file" in one_line(e)


# ======================================================================================
# inputs found by attacking the command line by hand
# ======================================================================================

def test_a_map_one_voxel_thick_is_called_an_image(tmp_path, capsys):
    thin = write(tmp_path / "thin.mrc", np.ones((1, N, N)))  # before: "holds a 3-D array
    line = cli_refuses(["locspiral", thin, "--max-res", "3", "--threads", "1"],  # ... not
                       tmp_path, capsys, "32 x 32 x 1 voxels",                   # 3-D"
                       "one voxel thick: an image, not a 3-D volume")
    assert line.startswith("locspiral-em locspiral: error: ")


def test_a_folder_given_as_the_map_is_called_a_folder(tmp_path):
    (tmp_path / "run.mrc").mkdir()
    with pytest.raises(InputError) as e:
        core.read_map(tmp_path / "run.mrc")
    assert one_line(e) == (f"map file not found: {tmp_path / 'run.mrc'} is a folder; give "
                           "the map's file name")


def test_a_file_name_with_a_newline_still_gives_one_error_line(tmp_path, capsys):
    """The one-line promise holds for any file name: control characters are shown escaped
    (as ls shows them); before, the message broke in two."""
    line = cli_refuses(["locspiral", str(tmp_path / "no\nsuch\tmap.mrc"), "--max-res", "3"],
                       tmp_path, capsys, "map file not found: ")
    assert line.endswith("no\\nsuch\\tmap.mrc")
