"""Numbers that mean something: the JSON summary holds every value a run used (so that
rerunning from it gives the same maps bit for bit) and every file it wrote; LocOccupancy
reports what is not fixed by construction; the maturity index has a normalised companion
(the mature map against itself = 1); progress lines stay inside the requested range.

32^3 phantoms at 1.3 Å/voxel, one thread.
"""
import json
import os
import re

import numpy as np

from locspiral_em import core, run
from locspiral_em.core import occupancy as occ
from locspiral_em.run import RunSpec
from locspiral_em.tests.pytest_shim import pytest

N = 32
VOXEL = 1.3
METHODS = ("locspiral", "locbsharpen", "locsharpen", "locbfactor", "lococcupancy",
           "maturity")


@pytest.fixture(scope="module")
def ph():
    return core.make_phantom((N,) * 3, VOXEL, noise=0.5, seed=1)


@pytest.fixture(scope="module")
def files(ph, tmp_path_factory):
    folder = tmp_path_factory.mktemp("maps")
    partial = np.where(ph.domains[1], 0, ph.clean).astype(np.float32)
    arrays = dict(half1=ph.half1, half2=ph.half2, map=ph.map, clean=ph.clean,
                  partial=partial, mask=ph.mask.astype(np.float32))
    paths = {name: str(folder / f"{name}.mrc") for name in arrays}
    core.write_maps([(paths[name], a) for name, a in arrays.items()], VOXEL)
    return paths


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def first_spec(method, files, **kwargs):
    kwargs.update(workers=1, prefix=f"a/{method}", json_path=f"a/{method}.json")
    if method == "maturity":
        return RunSpec(method, map=files["clean"], immature=[files["partial"]],
                       immature_names=["partial"], mask=files["mask"], **kwargs)
    if method in ("locbfactor", "locsharpen"):
        # From the half maps: the max resolution comes from their FSC.
        return RunSpec(method, half1=files["half1"], half2=files["half2"],
                       mask=files["mask"], **kwargs)
    return RunSpec(method, map=files["map"], mask=files["mask"], max_res=4.0, **kwargs)


# --------------------------------------------------------------------------------------
# Rerunning from the JSON
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, options", [(m, {}) for m in METHODS] + [
    ("locbfactor", dict(spiral="reference")), ("locspiral", dict(spiral="reference")),
    ("locbfactor", dict(filtered=True, num_points=6, amplitude_at="lowest")),
    ("locbfactor", dict(estimator="debiased", bw_units="pixels"))])
def test_rerun_from_the_json_gives_the_same_maps_bit_for_bit(files, method, options):
    os.makedirs("a"), os.makedirs("b")
    first = run.run(first_spec(method, files, **options))
    summary = json.load(open(f"a/{method}.json"))
    # Every parameter is a value, none left to a default chosen elsewhere.
    assert all(value is not None for value in summary["parameters"].values()), \
        summary["parameters"]
    again = run.run(run.spec_from_summary(summary, prefix=f"b/{method}",
                                          json_path=f"b/{method}.json"))
    assert sorted(again.arrays) == sorted(first.arrays)
    for name, array in first.arrays.items():
        np.testing.assert_array_equal(again.arrays[name], array, err_msg=name)
    second = json.load(open(f"b/{method}.json"))
    assert second["parameters"] == summary["parameters"]
    assert second["results"] == summary["results"]


def test_rerun_of_an_automatic_mask_run(files):
    os.makedirs("a"), os.makedirs("b")
    first = run.run(RunSpec("locspiral", map=files["map"], max_res=4.0, workers=1,
                            prefix="a/s", json_path="a/s.json"))
    summary = json.load(open("a/s.json"))
    assert summary["mask"]["source"] == "auto"
    again = run.run(run.spec_from_summary(summary, prefix="b/s"))
    np.testing.assert_array_equal(again.mask, first.mask)
    np.testing.assert_array_equal(again.arrays["locspiral"], first.arrays["locspiral"])


def test_an_array_mask_cannot_be_rerun(ph, files):
    result = run.run(RunSpec("lococcupancy", map=files["map"], mask=ph.mask, workers=1,
                             prefix="x"))
    with pytest.raises(core.InputError, match="given as an array"):
        run.spec_from_summary(result.summary)


def test_threads_are_the_resolved_count(files):
    result = run.run(RunSpec("lococcupancy", map=files["map"], mask=files["mask"],
                             workers=None, prefix="x"))
    assert result.summary["parameters"]["threads"] == (os.cpu_count() or 1)
    result = run.run(RunSpec("lococcupancy", map=files["map"], mask=files["mask"],
                             workers=1, prefix="y"))
    assert result.summary["parameters"]["threads"] == 1


@pytest.mark.parametrize("options", [
    dict(), dict(spiral="reference"), dict(bw=4.8), dict(bw=0.03, bw_units="inverse_angstrom"),
    dict(estimator="published"), dict(estimator="debiased", bw_units="pixels")])
def test_locbfactor_options_in_the_json_are_those_the_core_used(ph, options):
    """The run layer's statement of LocBFactor's estimator, unit and width against the
    core's own resolution of them (its sweep object), for each way of leaving them out."""
    from locspiral_em.core.bfactor import _Sweep
    spec = RunSpec("locbfactor", map=core.MapData(ph.map, VOXEL), **options)
    used = run._locbfactor_used(spec, VOXEL, N)
    sweep = _Sweep(ph.map, ph.mask, VOXEL, 15.0, 4.0, 4, 0.9, options.get("bw"),
                   options.get("estimator"), options.get("bw_units"),
                   options.get("spiral", "riesz"), 1)
    assert (used["estimator"], used["bw_units"]) == (sweep.estimator, sweep.bw_units)
    # Every width is stated, also one that the default window sets in Fourier pixels.
    assert used["bw"] is not None
    bw_px = used["bw"] * (VOXEL * N if used["bw_units"] == "inverse_angstrom" else 1.0)
    assert bw_px == pytest.approx(sweep.bank.bw, rel=1e-12)


def test_json_lists_the_display_copies_and_locsharpen_median(files):
    os.makedirs("a")
    result = run.run(first_spec("locsharpen", files, chimerax=True))
    assert np.median(result.arrays["locsharpen_bfactor"][result.mask]) == pytest.approx(
        result.summary["results"]["bfactor_median_A2"], rel=1e-6)
    result = run.run(first_spec("locbfactor", files, chimerax=True, force=True))
    outputs = result.summary["outputs"]
    assert outputs["bfactor_display"] == "a/locbfactor_bfactor_display.mrc"
    assert outputs["amplitude_display"] == "a/locbfactor_amplitude_display.mrc"
    # Every file the run wrote is listed, and every file listed exists.
    listed = {os.path.normpath(p) for p in outputs.values()}
    listed |= {os.path.normpath(result.summary["scene"]), "a/locbfactor.json"}
    written = {os.path.join("a", f) for f in os.listdir("a") if f.startswith("locbfactor")}
    assert written == listed


# --------------------------------------------------------------------------------------
# LocOccupancy: what is not fixed by construction
# --------------------------------------------------------------------------------------
def test_occupancy_report_on_a_known_map():
    """A hand-made occupancy map: two separate occupied blocks (1.0 and 0.8) and a weak
    slab (0.2) inside the mask: the regions, their order, sizes and medians are exact."""
    occupancy = np.zeros((20, 20, 20), np.float32)
    mask = np.zeros(occupancy.shape, bool)
    mask[2:18, 2:18, 2:18] = True
    occupancy[mask] = 0.2
    occupancy[3:9, 3:9, 3:9] = 1.0      # 216 voxels
    occupancy[12:16, 12:16, 12:16] = 0.8   # 64 voxels, not touching the first
    # Specks: 8 voxels (64 Å^3) is under the 65.4 Å^3 a sweep to 10 Å resolves (a ball of
    # diameter 5 Å); 9 voxels (72 Å^3) is over it and listed.
    occupancy[3:5, 12:14, 12:14] = 0.9
    occupancy[12:15, 3:6, 3] = 0.9
    report = occ.occupancy_report(occupancy, mask, 2.0, 0.25, 25.0, 10.0)
    assert report.min_region_A3 == pytest.approx(np.pi / 6 * 5.0 ** 3)
    assert (report.region_count, report.speck_count) == (3, 1)
    assert [r.voxels for r in report.regions] == [216, 64, 9]
    occupancy[3:5, 12:14, 12:14] = 0.2
    occupancy[12:15, 3:6, 3] = 0.2
    report = occ.occupancy_report(occupancy, mask, 2.0, 0.25, 25.0, 10.0)
    assert report.region_count == 2
    assert [(r.voxels, r.volume_A3, r.median) for r in report.regions] == [
        (216, 216 * 8.0, 1.0), (64, 64 * 8.0, pytest.approx(0.8))]
    assert report.regions[0].centre_xyz == (5.5, 5.5, 5.5)
    assert report.fraction_low == pytest.approx(1 - 280 / 16 ** 3)
    assert report.speck_count == 0
    assert "0.25-quantile" in report.normalisation and "25 to 10.00 Å" in report.normalisation
    capped = occ.occupancy_report(occupancy, mask, 2.0, 0.25, 25.0, 10.0, max_regions=1)
    assert len(capped.regions) == 1 and capped.region_count == 2


def test_occupancy_mean_is_fixed_by_construction_and_labelled(ph, files):
    """Without reference levels the mask mean is 1 - quantile whatever the map (each band
    marks that share of the mask as weak): the JSON says so and the CLI line omits it."""
    for quantile in (0.25, 0.4):
        result = run.run(RunSpec("lococcupancy", map=files["map"], mask=files["mask"],
                                 quantile=quantile, workers=1, prefix=f"q{quantile}"))
        r = result.summary["results"]
        # Ties and the discrete quantile leave it a few voxels off 1 - q (2000+ voxels).
        assert r["occupancy_mean"] == pytest.approx(1 - quantile, abs=2e-3)
        assert r["occupancy_mean_text"].startswith(
            f"fixed by construction at 1 - quantile = {1 - quantile:g}")
        o = result.arrays["occupancy"]
        assert r["occupancy_fraction_low"] == pytest.approx(np.mean(o[ph.mask] < 0.5))
        assert r["occupancy_region_count"] >= len(r["occupancy_regions"]) >= 1
        assert "mean" not in run.result_text(result.summary)


# --------------------------------------------------------------------------------------
# Maturity: the normalised index
# --------------------------------------------------------------------------------------
def test_normalised_maturity_index_is_one_for_the_mature_map_and_zero_for_nothing(ph):
    partial = np.where(ph.domains[1], 0, ph.clean).astype(np.float32)
    empty = np.zeros_like(ph.clean)
    same, part, none = core.maturity_index(ph.mask, [ph.clean, partial, empty], VOXEL,
                                           25.0, 10.0, mature_map=ph.clean, workers=1)
    # The published index of the mature map itself is well below 1 (its own weak bands).
    assert same.index < 0.9
    assert same.normalised == 1.0 and same.reference_index == same.index
    assert none.index == 0.0 and none.normalised == 0.0
    assert 0.0 < part.normalised < 1.0
    assert part.normalised == pytest.approx(part.index / same.index)


def test_maturity_json_and_line_carry_both_indices(files):
    result = run.run(RunSpec("maturity", map=files["clean"],
                             immature=[files["clean"], files["partial"]],
                             immature_names=["complete", "partial"], mask=files["mask"],
                             workers=1, prefix="m"))
    r = result.summary["results"]
    assert r["maturity_normalised_index"]["complete"] == 1.0
    assert r["maturity_index"]["complete"] == r["mature_reference_index"] < 0.9
    assert [e["normalised_index"] for e in r["maturity"]] == [
        1.0, r["maturity_normalised_index"]["partial"]]
    line = run.result_text(result.summary)
    assert "published" in line and "normalised (mature map = 1, nothing = 0)" in line
    assert f"complete {r['maturity_index']['complete']:.3f} (normalised 1.000)" in line


# --------------------------------------------------------------------------------------
# Progress lines
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["locspiral", "locsharpen", "locbfactor", "lococcupancy"])
def test_progress_reports_bands_inside_the_requested_range(files, method):
    """No band is reported finer than the max resolution (LocSharpen sweeps bands past it
    on a map low-passed there: their content lies below the cut-off)."""
    max_res = 4.0 if method != "lococcupancy" else 10.0
    messages = []
    result = run.run(RunSpec(method, map=files["map"], mask=files["mask"], max_res=max_res,
                             workers=1, prefix="p"),
                     progress=lambda done, total, message: messages.append(message))
    reported = [float(x) for x in re.findall(r"at ([0-9.]+) Å", " ".join(messages))]
    assert len(reported) >= result.summary["results"]["num_bands"] - 1  # k = 0: no Å
    # Printed with 2 decimals: 0.005 Å of rounding.
    assert min(reported) >= max_res - 0.005, (min(reported), messages)


def test_band_centre_below_a_cutoff():
    """The centre a band beyond the cut-off reports: below the cut-off, above the band's
    lower flank; a band inside the range reports its own centre."""
    bank = core.FilterBank(np.zeros((N,) * 3, np.float32), VOXEL, 4.5, workers=1)
    assert bank.band_centre(8.0, 10.0) == 8.0
    beyond = bank.band_centre(19.0, 10.0)   # 2 band widths past the cut-off
    assert 10.0 - 4.5 < beyond < 10.0
