"""The run layer (``locspiral_em.run``): the same maps as the core called directly, the JSON
summary (keys, units, numbers), the input checks (binary maps refused; masked, sharpened
and too-fine inputs warned) and all-or-nothing writing.

A 32^3 phantom at 1.3 Å/voxel with a non-zero origin, handed over as already-read
``MapData`` (as the Scipion protocols do) or as files (as the command line does).
"""
import json
import os

import numpy as np
from locspiral_em.tests.pytest_shim import pytest  # pytest, or a stand-in in a stock Scipion
import scipy.fft as sfft

from locspiral_em import chimerax, core, run
from locspiral_em.core import defaults as D
from locspiral_em.core.phantom import debye_waller
from locspiral_em.run import RunSpec

N = 32
VOXEL = 1.3
ORIGIN = (10.5, -3.0, 7.0)
NSTART = (-16, -16, -16)


@pytest.fixture(scope="module")
def ph():
    return core.make_phantom((N,) * 3, VOXEL, noise=0.5, seed=1)


@pytest.fixture(scope="module")
def maps(ph):
    wrap = lambda a: core.MapData(a, VOXEL, ORIGIN, NSTART)  # noqa: E731
    return dict(half1=wrap(ph.half1), half2=wrap(ph.half2),
                map=wrap(core.average_half_maps(ph.half1, ph.half2)))


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def spec(method, **kwargs):
    kwargs.setdefault("workers", 1)
    return RunSpec(method, **kwargs)


def unit_keys_ok(section, unitless):
    """Every number in ``section`` either names its unit (_A, _A2, _A3, _px) or is a
    dimensionless quantity listed in ``unitless``."""
    for key, value in section.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert key.endswith(("_A", "_A2", "_A3", "_px")) or key in unitless, key


# --------------------------------------------------------------------------------------
# Same numbers as the core
# --------------------------------------------------------------------------------------

def test_locbfactor_json_and_maps_match_the_core(ph, maps, tmp_path):
    s = spec("locbfactor", half1=maps["half1"], half2=maps["half2"], mask=ph.mask,
             max_res=4.0, num_points=6, prefix="out/b", json_path="out/b.json")
    result = run.run(s)
    volume = maps["map"].data
    expected = core.locbfactor(volume, ph.mask, VOXEL, 15.0, 4.0, 6, workers=1)
    np.testing.assert_array_equal(result.arrays["bfactor"], expected.bfactor)
    written = core.read_map("out/b_bfactor.mrc")
    np.testing.assert_allclose(written.data, expected.bfactor, atol=1e-5)
    assert written.voxel_size == pytest.approx(VOXEL)
    assert written.origin == ORIGIN and written.nstart == NSTART

    summary = json.load(open("out/b.json"))
    assert summary == json.loads(json.dumps(run._jsonable(result.summary)))
    assert summary["method"] == "locbfactor" and summary["schema"] == run.SCHEMA_VERSION
    assert summary["inputs"] == {"map": None, "half1": None, "half2": None, "mask": None}
    assert summary["mask"]["source"] == "array"
    assert summary["mask"]["voxels"] == int(ph.mask.sum())
    assert summary["mask"]["volume_A3"] == pytest.approx(ph.mask.sum() * VOXEL ** 3)
    assert summary["mask"]["box_fraction"] == pytest.approx(ph.mask.mean())
    fsc = core.fsc(ph.half1, ph.half2, VOXEL).resolution
    assert summary["resolution"] == {"min_res_A": 15.0, "max_res_A": 4.0,
                                     "fsc_res_A": pytest.approx(fsc),
                                     "max_res_source": "given", "num_bands": 6}
    r = summary["results"]
    inside = expected.bfactor[expected.mask].astype(np.float64)
    assert r["bfactor_mean_A2"] == pytest.approx(inside.mean())
    assert r["bfactor_sd_A2"] == pytest.approx(inside.std(ddof=1))
    assert r["fit_voxels"] == inside.size
    # The global B beside it: same range as the local fit, inside the mask.
    assert r["global_bfactor_range_A"] == [15.0, 4.0]
    assert r["global_bfactor_A2"] == pytest.approx(
        core.global_bfactor(volume, VOXEL, 15.0, 4.0, mask=ph.mask).bfactor)
    assert r["global_bfactor_text"] == "global Guinier B over 15-4.00 Å in the mask"
    assert summary["outputs"] == {"bfactor": "out/b_bfactor.mrc",
                                  "amplitude": "out/b_amplitude.mrc",
                                  "mask": "out/b_mask.mrc",
                                  "noise_curve": "out/b_noise_curve.txt"}
    assert summary["scene"] is None
    assert sorted(os.listdir("out")) == ["b.json", "b_amplitude.mrc", "b_bfactor.mrc",
                                         "b_mask.mrc", "b_noise_curve.txt"]
    unit_keys_ok(summary["parameters"], {"noise_quantile", "num_points", "threads", "bw"})
    unit_keys_ok(summary["resolution"], {"num_bands"})
    unit_keys_ok(summary["mask"], {"threshold", "voxels", "box_fraction",
                                   "solvent_fraction"})
    unit_keys_ok(r, {"fit_voxels", "num_bands"})


@pytest.mark.parametrize("method", ["locspiral", "locbsharpen", "lococcupancy", "maturity"])
def test_other_methods_match_the_core(ph, maps, method):
    volume = maps["map"].data
    kwargs = dict(map=maps["map"], mask=ph.mask, prefix="x")
    if method == "maturity":
        partial = np.where(ph.domains[1], 0, ph.clean).astype(np.float32)
        kwargs.update(immature=[core.MapData(partial, VOXEL)], immature_names=["partial"])
    else:
        kwargs["max_res"] = 4.0
    result = run.run(spec(method, **kwargs))
    if method == "locspiral":
        e = core.locspiral(volume, ph.mask, VOXEL, 25.0, 4.0, workers=1)
        np.testing.assert_array_equal(result.arrays["locspiral"], e.map)
        np.testing.assert_array_equal(result.arrays["locspiral_quality"], e.quality)
    elif method == "locbsharpen":
        e = core.locbsharpen(volume, ph.mask, VOXEL, 25.0, 4.0, workers=1)
        np.testing.assert_array_equal(result.arrays["locbsharpen"], e.map)
    elif method == "lococcupancy":
        e = core.lococcupancy(volume, ph.mask, VOXEL, 25.0, 4.0, workers=1)
        np.testing.assert_array_equal(result.arrays["occupancy"], e)
        assert result.summary["results"]["occupancy_mean"] == pytest.approx(
            float(e[ph.mask].mean()))
    else:
        # Maturity stops at 10 Å by default, whatever the FSC.
        (e,) = core.maturity_index(ph.mask, [partial], VOXEL, 25.0, 10.0, mature_map=volume,
                                   workers=1)
        np.testing.assert_array_equal(result.arrays["partial_occupancy"], e.occupancy)
        np.testing.assert_array_equal(result.arrays["partial_missing"], e.missing)
        assert result.summary["results"]["maturity_index"] == {"partial": e.index}
        assert result.summary["resolution"]["max_res_source"] == "default"
    for path in result.summary["outputs"].values():
        assert core.read_map(path).origin == ORIGIN


# --------------------------------------------------------------------------------------
# Defaults
# --------------------------------------------------------------------------------------

def test_default_max_res_per_method(ph, maps):
    """LocOccupancy: 10 Å even with half maps; LocSpiral: the FSC; required without."""
    halves = dict(half1=maps["half1"], half2=maps["half2"], mask=ph.mask)
    occ = run.run(spec("lococcupancy", prefix="o", **halves)).summary["resolution"]
    assert (occ["max_res_A"], occ["max_res_source"]) == (10.0, "default")
    assert D.defaults("lococcupancy").max_res == D.defaults("maturity").max_res == 10.0
    lines = []
    loc = run.run(spec("locspiral", prefix="l", **halves), log=lines.append)
    fsc = core.fsc(ph.half1, ph.half2, VOXEL).resolution
    assert loc.summary["resolution"]["max_res_A"] == pytest.approx(fsc)
    assert loc.summary["resolution"]["max_res_source"] == "fsc"
    assert lines == [f"max resolution from the half-map FSC (0.143): {fsc:.2f} Å"]
    with pytest.raises(core.InputError, match="--max-res is required"):
        run.run(spec("locbfactor", map=maps["map"], mask=ph.mask, prefix="b"))
    assert sorted(os.listdir(".")) == sorted(
        ["o_occupancy.mrc", "o_mask.mrc", "l_locspiral.mrc", "l_locspiral_quality.mrc",
         "l_mask.mrc"])


def test_automatic_mask_is_the_core_auto_mask(maps):
    result = run.run(spec("lococcupancy", map=maps["map"], prefix="a"))
    auto = core.masking.auto_mask(maps["map"].data, VOXEL, workers=1)
    np.testing.assert_array_equal(result.mask, auto.mask)
    m = result.summary["mask"]
    assert m["source"] == "auto" and m["lowpass_A"] == 15.0
    assert m["threshold"] == pytest.approx(auto.threshold)
    assert m["voxels"] == int(auto.mask.sum())
    assert m["volume_A3"] == pytest.approx(auto.volume)
    assert m["solvent_fraction"] == pytest.approx(auto.solvent_fraction)
    assert run.mask_text(m).startswith(
        f"mask: automatic threshold {auto.threshold:.4g} on the 15 Å low-passed map")


def test_prefix_drops_a_map_extension():
    assert run.strip_map_extension("out.mrc") == "out"
    assert run.strip_map_extension("dir.v2/out.MAP") == "dir.v2/out"
    assert run.strip_map_extension("run.001") == "run.001"


# --------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------

def test_binary_and_constant_maps_are_refused(ph, maps, tmp_path):
    binary = core.MapData(ph.mask.astype(np.float32) * 3.0, VOXEL)
    with pytest.raises(core.InputError, match=r"only 2 distinct values \(0 and 3\): it is a "
                                              r"mask, not a density map"):
        run.run(spec("locspiral", map=binary, max_res=4.0, prefix="x"))
    with pytest.raises(core.InputError, match="half map 2 has only 2 distinct values"):
        run.run(spec("locspiral", half1=maps["half1"], half2=binary, prefix="x"))
    with pytest.raises(core.InputError, match="immature map 1 has only 2 distinct values"):
        run.run(spec("maturity", map=maps["map"], immature=[binary], prefix="x"))
    with pytest.raises(core.InputError, match=r"the map is constant \(0\)"):
        run.run(spec("lococcupancy", map=core.MapData(np.zeros((N,) * 3, np.float32),
                                                      VOXEL), prefix="x"))
    run.check_density_map(maps["map"].data)  # a real map passes
    assert os.listdir(tmp_path) == []


def sharpened(volume, b):
    """``volume`` sharpened by ``b`` Å^2 (amplitudes times exp(b s^2 / 4))."""
    spectrum = sfft.rfftn(volume) * debye_waller(volume.shape, VOXEL, -b)
    return sfft.irfftn(spectrum, s=volume.shape).astype(np.float32)


def test_warnings_masked_sharpened_and_finer_than_fsc(ph, maps):
    volume = maps["map"].data
    fsc = core.fsc(ph.half1, ph.half2, VOXEL).resolution
    assert run.input_warnings(volume, VOXEL, 4.0, fsc, workers=1) == []
    # Masked: the solvent is exactly 0.
    (line,) = run.input_warnings(volume * ph.mask, VOXEL, workers=1)
    assert line.startswith("the map looks masked: 100% of the solvent")
    # Sharpened by 100 Å^2: the global Guinier B from 15 Å to the FSC goes positive.
    b = core.global_bfactor(sharpened(volume, 100.0), VOXEL, 15.0, fsc).bfactor
    assert b > run.SHARPENED_B
    (line,) = run.input_warnings(sharpened(volume, 100.0), VOXEL, fsc, None, workers=1)
    assert line.startswith(f"the map looks already sharpened: its global Guinier B over "
                           f"15-{fsc:.2f} Å is {b:+.1f} Å^2")
    # Too low a resolution for a Guinier slope (LocOccupancy's 10 Å, no half maps): no check.
    assert run.looks_sharpened(sharpened(volume, 100.0), VOXEL, 10.0) is None
    # Max resolution finer than the FSC.
    (line,) = run.input_warnings(volume, VOXEL, 2.7, fsc, workers=1)
    assert line.startswith(f"max resolution 2.70 Å is finer than the half-map FSC 0.143 "
                           f"resolution {fsc:.2f} Å")


def test_warnings_reach_the_summary(ph, maps):
    result = run.run(spec("locspiral", half1=maps["half1"], half2=maps["half2"],
                          mask=ph.mask, max_res=2.7, prefix="w"))
    assert [w[:40] for w in result.summary["warnings"]] == [
        "max resolution 2.70 Å is finer than the "]


# --------------------------------------------------------------------------------------
# Nothing written on failure
# --------------------------------------------------------------------------------------

def test_bad_input_writes_nothing(ph, maps, tmp_path):
    for bad in [dict(max_res=2.0),                       # beyond Nyquist
                dict(max_res=4.0, min_res=4.0),          # empty range
                dict(max_res=4.0, mask=np.ones((N,) * 3, bool)),   # no solvent
                dict(max_res=4.0, mask=ph.mask, mask_threshold=0.1)]:
        kwargs = dict(map=maps["map"], mask=ph.mask, prefix="out/x", json_path="out/x.json",
                      chimerax=True)
        kwargs.update(bad)
        with pytest.raises(core.InputError):
            run.run(spec("locbfactor", **kwargs))
    assert os.listdir(tmp_path) == []


def test_existing_outputs_refused_without_force(ph, maps, tmp_path):
    (tmp_path / "x.json").write_text("keep")
    kwargs = dict(map=maps["map"], mask=ph.mask, max_res=4.0, prefix="x",
                  json_path="x.json")
    with pytest.raises(core.InputError, match="x.json exists"):
        run.run(spec("lococcupancy", **kwargs))
    assert os.listdir(tmp_path) == ["x.json"]
    run.run(spec("lococcupancy", force=True, **kwargs))
    assert json.load(open("x.json"))["method"] == "lococcupancy"


def test_failure_while_writing_removes_what_the_run_created(ph, maps, tmp_path,
                                                            monkeypatch):
    """A failure while writing (here: the scene, written after the maps were staged)
    leaves no new file, no summary and no temporary; a file that ``force`` allowed to be
    replaced is untouched (the set commits together or not at all: test_faults_outputs)."""
    (tmp_path / "x_mask.mrc").write_text("older file")

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(chimerax, "occupancy_script", broken)
    with pytest.raises(OSError):
        run.run(spec("lococcupancy", map=maps["map"], mask=ph.mask, prefix="x",
                     chimerax=True, json_path="x.json", force=True))
    assert os.listdir(tmp_path) == ["x_mask.mrc"]
    assert (tmp_path / "x_mask.mrc").read_text() == "older file"


# --------------------------------------------------------------------------------------
# LocSharpen
# --------------------------------------------------------------------------------------

def test_locsharpen_defaults_are_the_core_signature():
    """One default per parameter: core.defaults, the RunSpec and core.locsharpen agree."""
    import inspect
    sig = inspect.signature(core.locsharpen).parameters
    d = D.defaults("locsharpen")
    assert (d.min_res, d.max_res, d.bw) == (25.0, None, 4.5)
    assert sig["bw"].default == d.bw
    assert sig["threshold"].default == D.NOISE_QUANTILE == 0.9
    assert sig["target_b"].default == D.TARGET_B == 0.0
    assert sig["smooth"].default == D.SHARPEN_SMOOTH == 3.0
    assert sig["bfactor_min_res"].default == D.BFACTOR_MIN_RES == 15.0
    assert sig["num_points"].default == D.NUM_POINTS == 10
    assert sig["filtered"].default is D.SHARPEN_FILTERED is True
    s = RunSpec("locsharpen")
    assert (s.target_b, s.smooth, s.bfactor_min_res, s.num_points, s.noise_quantile) == (
        0.0, 3.0, 15.0, 10, 0.9)


def test_locsharpen_from_half_maps_matches_the_core(ph, maps):
    """Half maps: the run sharpens their average with their difference as the noise (the
    core called with half_maps=), writes both maps on the input grid, the JSON numbers in
    their units and a scene of the sharpened map over the average."""
    s = spec("locsharpen", half1=maps["half1"], half2=maps["half2"], mask=ph.mask,
             max_res=4.0, prefix="out/s", json_path="out/s.json", chimerax=True)
    result = run.run(s)
    volume = maps["map"].data
    expected = core.locsharpen(volume, ph.mask, VOXEL, 25.0, 4.0,
                               half_maps=(ph.half1, ph.half2), workers=1)
    np.testing.assert_array_equal(result.arrays["locsharpen"], expected.map)
    np.testing.assert_array_equal(result.arrays["locsharpen_bfactor"], expected.bfactor)
    # The half maps were used: the solvent-noise weight gives another map.
    solvent = core.locsharpen(volume, ph.mask, VOXEL, 25.0, 4.0, workers=1).map
    assert np.abs(solvent - expected.map).max() > 1e-3 * expected.map.std()
    for name in ("locsharpen", "locsharpen_bfactor", "mask", "average"):
        written = core.read_map(f"out/s_{name}.mrc")
        assert written.data.shape == (N,) * 3
        assert written.voxel_size == pytest.approx(VOXEL)
        assert written.origin == ORIGIN and written.nstart == NSTART
    np.testing.assert_allclose(core.read_map("out/s_locsharpen.mrc").data, expected.map,
                               atol=1e-6)

    summary = json.load(open("out/s.json"))
    assert summary["method"] == "locsharpen"
    assert summary["outputs"] == {"locsharpen": "out/s_locsharpen.mrc",
                                  "locsharpen_bfactor": "out/s_locsharpen_bfactor.mrc",
                                  "mask": "out/s_mask.mrc", "average": "out/s_average.mrc"}
    par = summary["parameters"]
    assert (par["min_res_A"], par["max_res_A"], par["bw_px"], par["noise_quantile"]) == (
        25.0, 4.0, 4.5, 0.9)
    assert (par["target_b_A2"], par["smooth_A"], par["bfactor_min_res_A"],
            par["num_points"], par["filtered"], par["noise_from"]) == (
        0.0, 3.0, 15.0, 10, True, "half maps")
    r = summary["results"]
    inside = expected.bfactor[ph.mask].astype(np.float64)
    assert r["bfactor_mean_A2"] == pytest.approx(inside.mean())
    assert r["bfactor_sd_A2"] == pytest.approx(inside.std(ddof=1))
    assert r["bfactor_mean_A2"] < -20.0  # the phantom is blurred: sharpening sign < 0
    assert r["fit_voxels"] == int(expected.mask.sum())
    assert r["target_b_A2"] == 0.0
    # The global B beside it: the local fit's range (15 Å to max res), inside the mask.
    assert r["global_bfactor_range_A"] == [15.0, 4.0]
    assert r["global_bfactor_A2"] == pytest.approx(
        core.global_bfactor(volume, VOXEL, 15.0, 4.0, mask=ph.mask).bfactor)
    assert r["global_bfactor_text"] == "global Guinier B over 15-4.00 Å in the mask"
    assert r["num_bands"] == summary["resolution"]["num_bands"] > 5
    assert summary["warnings"] == []
    unit_keys_ok(par, {"noise_quantile", "num_points", "threads"})
    unit_keys_ok(r, {"fit_voxels", "num_bands"})
    assert run.result_text(summary) == (
        f"locsharpen: 25-4.00 Å, local B used inside the mask mean "
        f"{r['bfactor_mean_A2']:.1f} Å^2 (global Guinier B over 15-4.00 Å in the mask "
        f"{r['global_bfactor_A2']:.1f} Å^2), target B 0 Å^2, noise from half maps; wrote "
        f"out/s_locsharpen.mrc and out/s_locsharpen_bfactor.mrc")
    # The scene: the sharpened map over the half-map average, in LocSharpen's own group.
    assert summary["scene"] == "out/s_locsharpen.cxc"
    text = open("out/s_locsharpen.cxc").read()
    opened = [line.split()[1] for line in text.splitlines() if line.startswith("open ")]
    assert opened == ["s_locsharpen.mrc", "s_average.mrc"]
    assert "close #106" in text and "Quality" not in text


def test_locsharpen_options_reach_the_core(ph, maps):
    """A single map: the noise comes from the solvent; every option is passed on."""
    s = spec("locsharpen", map=maps["map"], mask=ph.mask, max_res=4.5, min_res=20.0,
             target_b=-20.0, smooth=2.0, bfactor_min_res=12.0, num_points=6,
             noise_quantile=0.95, bw=3.0, prefix="o")
    result = run.run(s)
    expected = core.locsharpen(maps["map"].data, ph.mask, VOXEL, 20.0, 4.5, threshold=0.95,
                               bw=3.0, target_b=-20.0, smooth=2.0, bfactor_min_res=12.0,
                               num_points=6, workers=1)
    np.testing.assert_array_equal(result.arrays["locsharpen"], expected.map)
    np.testing.assert_array_equal(result.arrays["locsharpen_bfactor"], expected.bfactor)
    p, r = result.summary["parameters"], result.summary["results"]
    assert p["noise_from"] == "solvent" and p["target_b_A2"] == -20.0
    assert r["global_bfactor_range_A"] == [12.0, 4.5]
    assert r["target_b_A2"] == -20.0


def test_locsharpen_masked_map_warns_in_the_summary(ph, maps, recwarn):
    """The core's UserWarning (solvent-masked map) becomes a summary line, not a Python
    warning; the run still writes its maps."""
    masked = core.MapData(maps["map"].data * ph.mask, VOXEL)
    result = run.run(spec("locsharpen", map=masked, mask=ph.mask, max_res=4.0, prefix="m"))
    lines = result.summary["warnings"]
    assert any(w.startswith("the map looks masked") for w in lines), lines
    assert any("looks solvent-masked" in w and "Wiener weight" in w for w in lines), lines
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]
    assert os.path.isfile("m_locsharpen.mrc")


def test_locsharpen_bad_options_are_refused_before_anything_is_written(ph, maps, tmp_path):
    for bad, message in ((dict(spiral="reference"), "riesz"),
                         (dict(smooth=-1.0), "smoothing"),
                         (dict(num_points=1), "num_points must be at least 2"),
                         (dict(bfactor_min_res=0.0), "min resolution must be positive"),
                         (dict(bfactor_min_res=3.9), r"the local B fit \(3.9 Å to the max "
                                                     r"resolution\): min resolution 3.9 Å "
                                                     "must be coarser")):
        with pytest.raises(core.InputError, match=message):
            run.run(spec("locsharpen", map=maps["map"], mask=ph.mask, max_res=4.0,
                         prefix="x", json_path="x.json", **bad))
    assert os.listdir(tmp_path) == []
