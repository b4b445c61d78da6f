"""ChimeraX scripts (locspiral_em/chimerax.py), checked as text: ChimeraX is never launched.

Each script must open files that exist (paths relative to the script's folder) into its own
group model without closing anything else, put every map on the given grid (voxel size,
then origin), colour with the range it was given (values in the palette, no ``range``),
paint voxels outside the mask grey, show the molecule at its surface level, and use only
commands and argument forms ChimeraX accepts.
"""
import os
import re

import numpy as np
from locspiral_em.tests.pytest_shim import pytest  # pytest, or a stand-in in a stock Scipion
from scipy import ndimage

from locspiral_em import core
from locspiral_em import chimerax as cx
from locspiral_em.tests.scene_checks import (  # noqa: F401  (re-exported for other tests)
    KNOWN_COMMANDS, ChimeraXError, Session, check_syntax, colour_commands, commands,
    grid_of, key_pairs, opened_files, palette_colour, palette_stops_of, scene_group, spec)

VOXEL = 1.3
ORIGIN = (12.5, -3.9, 0.0)
GREY = tuple(int(cx.NO_VALUE_COLOR[i:i + 2], 16) / 255 for i in (1, 3, 5))


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    """A small phantom and maps derived from it, written to disk, with a B-like map that is
    0 outside the mask (as LocBFactor writes it)."""
    folder = tmp_path_factory.mktemp("maps")
    ph = core.make_phantom((32, 32, 32), VOXEL, noise=0.3, seed=1)
    rng = np.random.default_rng(0)
    bfactor = np.where(ph.mask, rng.normal(-90.0, 25.0, ph.mask.shape), 0).astype(np.float32)
    amplitude = np.where(ph.mask, rng.normal(-2.0, 0.5, ph.mask.shape), 0).astype(np.float32)
    occupancy = np.where(ph.mask, rng.uniform(0, 1, ph.mask.shape), 0).astype(np.float32)
    arrays = {"map": ph.map, "bfactor": bfactor, "amplitude": amplitude,
              "occupancy": occupancy, "enhanced": np.maximum(ph.clean, 0),
              "quality": np.abs(ph.clean), "missing1": np.where(ph.domains[0], ph.clean, 0),
              "missing2": np.where(ph.domains[1], ph.clean, 0)}
    paths = {}
    os.makedirs(folder / "results")
    for name, data in arrays.items():
        sub = "" if name == "map" else "results"
        paths[name] = str(folder / sub / f"{name}.mrc")
        core.write_map(paths[name], data, VOXEL)
    return dict(folder=str(folder), paths=paths, arrays=arrays, mask=ph.mask)


@pytest.fixture(scope="module")
def loose():
    """The demo phantom (three domains, one blurred, one half occupied) with its true
    molecule (the domain balls), a tight mask and a loose one (the mask grown by 8 voxels:
    most of it solvent)."""
    ph = core.demo_phantom(48)
    molecule = np.zeros(ph.mask.shape, bool)
    for domain in ph.domains:
        molecule |= domain
    return dict(map=ph.map, clean=ph.clean, molecule=molecule, tight=ph.mask,
                loose=ndimage.binary_dilation(ph.mask, iterations=8))


def inside_fraction(volume, level, molecule):
    """Fraction of the voxels above ``level`` that belong to the molecule."""
    above = volume > level
    return float(molecule[above].mean())


# -- numbers ------------------------------------------------------------------------------
def test_level_statistics_live_in_the_core():
    """suggest_level and robust_range are the core's (core/surface.py, numpy only), and
    chimerax re-exports the same functions for older imports."""
    from locspiral_em.core import surface
    assert cx.suggest_level is surface.suggest_level
    assert cx.robust_range is surface.robust_range
    with pytest.raises(core.InputError, match="mask shape"):
        surface.robust_range(np.zeros((4, 4, 4)), np.ones((4, 4, 3), bool))


def test_robust_range_uses_percentiles_inside_the_mask():
    values = np.arange(1000, dtype=float).reshape(10, 10, 10)
    mask = values >= 500
    lo, hi = cx.robust_range(values, mask, 2, 98)
    assert lo == pytest.approx(np.percentile(np.arange(500, 1000), 2))
    assert hi == pytest.approx(np.percentile(np.arange(500, 1000), 98))
    assert cx.robust_range(values, None, 0, 100) == (0.0, 999.0)
    # NaN ignored; constant field widened; empty mask refused.
    values[0, 0, 0] = np.nan
    assert np.isfinite(cx.robust_range(values)).all()
    assert cx.robust_range(np.ones((4, 4, 4))) == (0.5, 1.5)
    with pytest.raises(ValueError):
        cx.robust_range(values, np.zeros(values.shape, bool))


def test_suggest_level_shows_the_molecule_with_a_loose_mask(loose):
    volume, molecule = loose["map"], loose["molecule"]
    assert loose["loose"].sum() > 2.5 * molecule.sum()  # mostly solvent: a real test case
    # The old rule (enclose as many voxels as the mask) sits in the noise with this mask:
    # most voxels above it are solvent. This is what the new level must avoid.
    old = float(np.quantile(volume, 1.0 - loose["loose"].mean()))
    assert inside_fraction(volume, old, molecule) < 0.5
    levels = {}
    for name in ("tight", "loose"):
        levels[name] = cx.suggest_level(volume, loose[name])
        # Voxels above the level are mostly the true molecule ...
        assert inside_fraction(volume, levels[name], molecule) > 0.8, name
    # The level comes from the density, not from the mask's size.
    assert levels["loose"] == pytest.approx(levels["tight"], rel=0.05)
    # At least 3 robust noise SDs above the solvent.
    solvent = volume[~ndimage.binary_dilation(loose["loose"], iterations=2)]
    sd = 1.4826 * np.median(np.abs(solvent - np.median(solvent)))
    assert levels["loose"] >= np.median(solvent) + 3 * sd - 1e-6
    # Without a mask: 3 SD above the box-corner solvent, as before.
    assert cx.suggest_level(volume) == pytest.approx(core.auto_threshold(volume))
    with pytest.raises(ValueError):
        cx.suggest_level(volume, loose["tight"][:-1])


def test_suggest_level_every_domain_shows(loose):
    """A level that keeps only the strongest domain would be wrong too."""
    ph = core.demo_phantom(48)
    level = cx.suggest_level(loose["map"], loose["loose"])
    for domain in ph.domains:  # sharp, blurred, half occupied
        assert np.mean(loose["map"][domain] > level) > 0.1


def test_suggest_level_of_a_noise_free_masked_map(loose):
    """Maps that are 0 outside the mask (missing density, enhanced maps) have no solvent
    noise: the level comes from the density alone and is not 0."""
    clean = np.where(loose["tight"], loose["clean"], 0).astype(np.float32)
    level = cx.suggest_level(clean, loose["loose"])
    assert level > 0.05 * clean.max()
    assert inside_fraction(clean, level, loose["molecule"]) > 0.8


def test_dust_size():
    assert cx.dust_size(0.5) == 5.0      # at least ChimeraX's default, 5 Å
    assert cx.dust_size(1.3) == pytest.approx(7.8)


def test_display_copy_marks_outside_the_mask():
    rng = np.random.default_rng(2)
    mask = np.zeros((12, 12, 12), bool)
    mask[3:9, 3:9, 3:9] = True
    values = np.where(mask, rng.normal(-80.0, 20.0, mask.shape), 0).astype(np.float32)
    values[5, 5, 5] = np.nan  # no value inside the mask either
    vmin, vmax = -110.0, -50.0
    copy, no_value = cx.display_copy(values, mask, vmin, vmax)
    assert copy.dtype == np.float32 and np.isfinite(copy).all()   # no NaN for ChimeraX
    valid = mask & np.isfinite(values)
    np.testing.assert_array_equal(copy[valid], values[valid])
    assert np.all(copy[~valid] == no_value.sentinel)
    data_min = float(values[valid].min())
    width = max(vmax - vmin, float(values[valid].max()) - data_min)
    assert no_value.sentinel <= min(vmin, data_min) - 99 * width  # far from any data
    assert no_value.grey_top < min(vmin, data_min)

    # The palette as a scene writes it: grey for the sentinel and for any surface vertex
    # interpolated (trilinearly) with >= 2 % weight on a sentinel voxel; data colours at
    # the data, the lowest colour below vmin (clamped as without a mask).
    (command,) = [c for c in cx.color_by_map_commands("1", "2", cx.B_PALETTE, vmin, vmax,
                                                      no_value=no_value)
                  if c.startswith("color sample")]
    palette = command.split(" palette ")[1].split()[0]
    colours = cx.palette_colors(cx.B_PALETTE)
    assert palette_colour(palette, no_value.sentinel) == pytest.approx(GREY)
    for w in (0.02, 0.5, 1.0):
        for b in (vmin, vmax, data_min, float(values[valid].max())):
            mixed = w * no_value.sentinel + (1 - w) * b
            assert palette_colour(palette, mixed) == pytest.approx(GREY, abs=1e-6), (w, b)
    red = tuple(int(colours[0][i:i + 2], 16) / 255 for i in (1, 3, 5))
    blue = tuple(int(colours[-1][i:i + 2], 16) / 255 for i in (1, 3, 5))
    assert palette_colour(palette, vmin) == pytest.approx(red)
    assert palette_colour(palette, data_min) == pytest.approx(red)
    assert palette_colour(palette, vmax) == pytest.approx(blue)
    # B = 0 (what the B map holds outside the mask) would read as the sharpest colour.
    assert palette_colour(palette, 0.0) == pytest.approx(blue)
    with pytest.raises(ValueError):
        cx.display_copy(values, np.zeros(mask.shape, bool))


def test_map_origin_follows_chimerax_header_rules():
    assert cx.map_origin((1.0, 2.0, 3.0), (5, 6, 7), 2.0) == (1.0, 2.0, 3.0)
    assert cx.map_origin((0.0, 0.0, 0.0), (5, -6, 7), 2.0) == (10.0, -12.0, 14.0)


def test_palettes():
    assert cx.palette_colors("rainbow") == ["#0000ff", "#00ffff", "#00ff00", "#ffff00",
                                            "#ff0000"]
    assert cx.palette_colors("^rainbow") == cx.palette_colors("rainbow")[::-1]
    assert cx.palette_colors("bluered") == cx.palette_colors("blue-white-red")
    assert cx.palette_colors("blue:white:red") == ["blue", "white", "red"]
    assert cx.palette_colors("RdYlBu-9") is None          # ChimeraX resolves it
    assert cx.palette_colors("0,blue:1,red") is None      # explicit values: passed through
    stops = cx.palette_stops("redblue", -100.0, 20.0)
    assert [v for v, _ in stops] == [-100.0, -40.0, 20.0]
    assert [c for _, c in stops] == ["#ff0000", "#ffffff", "#0000ff"]


def test_explicit_palette_values_come_without_range():
    """ChimeraX's color sample reads palette values as fractions 0..1 when a range is also
    given (Colormap.rescale_range): the two must never be combined."""
    commands_ = cx.color_by_map_commands("1", "2", "rainbow", -120.0, -40.0)
    sample = commands_[0]
    assert sample == ("color sample #1 map #2 palette -120,#0000ff:-100,#00ffff:-80,#00ff00:"
                      "-60,#ffff00:-40,#ff0000")
    assert " range " not in sample
    passed = cx.color_by_map_commands("1", "2", "RdYlBu-9", -120.0, -40.0)[0]
    assert passed.endswith("palette RdYlBu-9 range -120,-40 key true")


def test_paths_relative_when_close_absolute_when_far(tmp_path):
    script_dir = tmp_path / "run" / "extra"
    assert cx.script_path_for(str(script_dir / "b.mrc"), str(script_dir)) == "b.mrc"
    assert (cx.script_path_for(str(tmp_path / "imp" / "extra" / "m.mrc:mrc"), str(script_dir))
            == "../../imp/extra/m.mrc")
    far = os.path.abspath(os.sep + os.path.join("elsewhere", "m.mrc"))
    assert cx.script_path_for(far, str(script_dir)) == far
    deep = str(script_dir / "a" / "b" / "c" / "d")
    assert cx.script_path_for(str(tmp_path / "m.mrc"), deep) == str(tmp_path / "m.mrc")


# -- scripts ------------------------------------------------------------------------------
def test_bfactor_script(maps):
    p, mask = maps["paths"], maps["mask"]
    vmin, vmax = cx.robust_range(maps["arrays"]["bfactor"], mask)
    a_range = cx.robust_range(maps["arrays"]["amplitude"], mask)
    script = cx.bfactor_script(os.path.join(maps["folder"], "results", "b.cxc"), p["map"],
                               p["bfactor"], p["amplitude"], VOXEL, ORIGIN, 0.05,
                               cx.B_PALETTE, vmin, vmax, amplitude_range=a_range, mask=mask)
    assert os.path.isabs(script) and os.path.exists(script)
    check_syntax(script)
    lines = commands(script)
    # Only the scene's own group is closed; its maps are #103.1 ...
    assert lines[0] == "close #103" and scene_group(script) == cx.SCENE_MODEL_IDS["locbfactor"]
    files = opened_files(script)
    # The B and A maps are shown from display copies written next to the script.
    b_copy, a_copy = cx.display_path(script, p["bfactor"]), cx.display_path(script,
                                                                            p["amplitude"])
    assert files == {1: p["map"], 2: b_copy, 3: a_copy}
    assert all(os.path.exists(f) for f in files.values())
    copy = core.read_map(b_copy)
    assert copy.voxel_size == pytest.approx(VOXEL)
    np.testing.assert_array_equal(copy.data[mask], maps["arrays"]["bfactor"][mask])
    sentinel = float(np.unique(copy.data[~mask])[0])
    assert np.all(copy.data[~mask] == sentinel) and sentinel < vmin - 99 * (vmax - vmin) * 0.9
    # Relative paths: the folder can move.
    assert "open ../map.mrc name locspiral_em_103_1" in lines
    assert "open bfactor_display.mrc name locspiral_em_103_2" in lines
    for model in files:
        size, origin = grid_of(script, model)
        assert size == pytest.approx(VOXEL)
        assert origin == pytest.approx(ORIGIN)
    assert "volume #103.1 style surface step 1 level 0.05 color #b4b4b4" in lines
    assert f"surface dust #103.1 size {cx.dust_size(VOXEL):g}" in lines
    assert "volume #103.2 hide" in lines and "volume #103.3 hide" in lines
    # B colouring: surface .1 by map .2 over the data's robust range, direct and as alias.
    colours = colour_commands(script)
    b_colours = [c for c in colours if c[1] == 2]
    assert len(b_colours) == 2
    for surface, _, palette, value_range in b_colours:
        assert surface == 1
        assert value_range == pytest.approx((vmin, vmax), rel=1e-5)
        stops = palette_stops_of(palette)
        data = [s for s in stops if s[1] != cx.NO_VALUE_COLOR]
        assert [c for _, c in data][-5:] == cx.palette_colors(cx.B_PALETTE)
        # Outside the mask (the sentinel) grey, not the sharpest colour B = 0 would get.
        assert palette_colour(palette, sentinel) == pytest.approx(GREY)
        assert palette_colour(palette, 0.0) != pytest.approx(GREY)
    # Amplitude scene in its alias, also from a display copy.
    a_colours = [c for c in colours if c[1] == 3]
    assert len(a_colours) == 1 and a_colours[0][3] == pytest.approx(a_range, rel=1e-5)
    assert any(l.startswith("alias locbfactor_showamplitude ") for l in lines)
    assert any(l.startswith("alias locbfactor_showbfactor ") for l in lines)
    # Key: the palette's colours (no grey), labelled from vmin to vmax, titled in Å^2.
    key = [l for l in lines if l.startswith("key ")][0]
    pairs = key_pairs(key)
    assert [c for c, _ in pairs] == cx.palette_colors(cx.B_PALETTE)
    labels = [float(label) for _, label in pairs]
    assert labels[0] == pytest.approx(vmin, abs=0.5) and labels[-1] == pytest.approx(vmax,
                                                                                      abs=0.5)
    assert "pos " in key
    assert any("2dlabels create locspiral103title" in l and "Å²" in l for l in lines)
    assert any("2dlabels create locspiral103note" in l and "outside the mask" in l
               for l in lines)
    assert lines[-2:] == ["view #103", "echo Type locbfactor_showbfactor or "
                                       "locbfactor_showamplitude to switch the colouring."]


def test_bfactor_script_level_and_range_from_the_mask(maps, tmp_path):
    """Given only the mask, the scene takes the level from the map and the colour range
    from the B values inside the mask (what the viewers and the run layer pass)."""
    p, mask = maps["paths"], maps["mask"]
    script = cx.bfactor_script(str(tmp_path / "b.cxc"), p["map"], p["bfactor"],
                               voxel_size=VOXEL, mask=mask)
    check_syntax(script)
    level_line = [l for l in commands(script) if l.startswith("volume #103.1 style")][0]
    level = float(level_line.split(" level ")[1].split()[0])
    assert level == pytest.approx(cx.suggest_level(maps["arrays"]["map"], mask), rel=1e-4)
    ((_, _, _, value_range),) = set(colour_commands(script))
    assert value_range == pytest.approx(cx.robust_range(maps["arrays"]["bfactor"], mask),
                                        rel=1e-4)
    # A mask file works as well as an array.
    mask_file = str(tmp_path / "mask.mrc")
    core.write_map(mask_file, mask.astype(np.float32), VOXEL)
    again = cx.bfactor_script(str(tmp_path / "c.cxc"), p["map"], p["bfactor"],
                              voxel_size=VOXEL, mask=mask_file)
    assert colour_commands(again)[0][3] == pytest.approx(value_range)


def test_bfactor_script_defaults_and_passthrough_palette(maps, tmp_path):
    p = maps["paths"]
    script = cx.bfactor_script(str(tmp_path / "b.cxc"), p["map"], p["bfactor"],
                               palette="RdYlBu-9")
    check_syntax(script)
    found = colour_commands(script)
    assert found == [(1, 2, "RdYlBu-9", (-150.0, 0.0))] * 2  # alias and direct
    assert any(l.endswith("key true") for l in commands(script))
    assert opened_files(script)[2] == p["bfactor"]  # no mask: the map itself
    assert grid_of(script, 1) == (1.0, (0.0, 0.0, 0.0))
    with pytest.raises(ValueError):
        cx.bfactor_script(str(tmp_path / "c.cxc"), p["map"], p["bfactor"], vmin=0, vmax=-10)


def test_occupancy_script(maps):
    p, mask = maps["paths"], maps["mask"]
    script = cx.occupancy_script(os.path.join(maps["folder"], "occ.cxc"), p["map"],
                                 p["occupancy"], VOXEL, ORIGIN, level=0.1, mask=mask)
    check_syntax(script)
    assert scene_group(script) == cx.SCENE_MODEL_IDS["lococcupancy"]
    copy = cx.display_path(script, p["occupancy"])
    assert opened_files(script) == {1: p["map"], 2: copy}
    assert "open map.mrc name locspiral_em_104_1" in commands(script)
    ((surface, values, palette, value_range),) = colour_commands(script)
    assert (surface, values, value_range) == (1, 2, (0.0, 1.0))
    # Occupancy 0 outside the mask is no measurement: grey, not "empty" red.
    outside = float(core.read_map(copy).data[~mask].max())
    assert outside < -10
    assert palette_colour(palette, outside) == pytest.approx(GREY)
    assert palette_colour(palette, 0.0) == pytest.approx((1.0, 0.0, 0.0))
    key = [l for l in commands(script) if l.startswith("key ")][0]
    assert [float(l) for _, l in key_pairs(key)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    for model in (1, 2):
        assert grid_of(script, model) == (pytest.approx(VOXEL), pytest.approx(ORIGIN))


def test_enhancement_script(maps):
    p, mask = maps["paths"], maps["mask"]
    q_range = cx.robust_range(maps["arrays"]["quality"], mask)
    script = cx.enhancement_script(os.path.join(maps["folder"], "results", "e.cxc"),
                                   p["enhanced"], p["map"], VOXEL, ORIGIN, 1.5, 0.02,
                                   quality=p["quality"], quality_range=q_range,
                                   title="LocSpiral enhanced map", mask=mask)
    check_syntax(script)
    lines = commands(script)
    assert scene_group(script) == 101
    assert opened_files(script) == {1: p["enhanced"], 2: p["map"],
                                    3: cx.display_path(script, p["quality"])}
    assert any(l.startswith("volume #101.1 style surface") and "level 1.5" in l for l in lines)
    assert any(l.startswith("volume #101.2 style mesh") and "level 0.02" in l for l in lines)
    assert "surface dust #101.1 size 7.8" in lines and "surface dust #101.2 size 7.8" in lines
    for alias in ("showenhanced", "showoriginal", "showboth", "showquality"):
        assert any(l.startswith(f"alias locspiral_{alias} ") for l in lines)
    ((surface, values, _, value_range),) = colour_commands(script)
    assert (surface, values) == (1, 3) and value_range == pytest.approx(q_range, rel=1e-5)
    for model in (1, 2, 3):
        assert grid_of(script, model) == (pytest.approx(VOXEL), pytest.approx(ORIGIN))
    # LocBSharpen's scene has its own group: both can be open together.
    sharp = cx.enhancement_script(os.path.join(maps["folder"], "results", "s.cxc"),
                                  p["enhanced"], p["map"], VOXEL, title="LocBSharpen map")
    assert scene_group(sharp) == 102
    # Levels left None with a mask come from the maps themselves.
    auto = cx.enhancement_script(os.path.join(maps["folder"], "results", "a.cxc"),
                                 p["enhanced"], p["map"], VOXEL, mask=mask)
    level_line = [l for l in commands(auto) if l.startswith("volume #101.2 style")][0]
    assert float(level_line.split(" level ")[1].split()[0]) == pytest.approx(
        cx.suggest_level(maps["arrays"]["map"], mask), rel=1e-4)


def test_maturity_script(maps):
    p = maps["paths"]
    script = cx.maturity_script(os.path.join(maps["folder"], "mat.cxc"), p["map"],
                                [p["missing1"], p["missing2"]], VOXEL, ORIGIN, level=0.1,
                                names=["early", "late form"], indices=[0.35, 0.8])
    check_syntax(script)
    lines = commands(script)
    assert scene_group(script) == cx.SCENE_MODEL_IDS["maturity"]
    assert opened_files(script) == {1: p["map"], 2: p["missing1"], 3: p["missing2"]}
    # Each missing map in its own colour; the mature map transparent grey; all de-dusted
    # (a missing map is a difference of maps and carries specks).
    assert any(l.startswith("volume #105.1 style surface") and "transparency 0.7" in l
               for l in lines)
    colours = [re.search(r"color (#\w+)", l).group(1) for l in lines
               if re.match(r"volume #105\.[23] style surface", l)]
    assert colours == list(cx.MATURITY_COLORS[:2])
    assert [l for l in lines if l.startswith("surface dust")] == [
        f"surface dust #105.{k} size 7.8" for k in (1, 2, 3)]
    assert any('"late form: maturity 0.80"' in l for l in lines)
    assert any(l.startswith("alias maturity_showmissing2 ") for l in lines)
    for model in (1, 2, 3):
        assert grid_of(script, model) == (pytest.approx(VOXEL), pytest.approx(ORIGIN))
    with pytest.raises(ValueError):
        cx.maturity_script(os.path.join(maps["folder"], "bad.cxc"), p["map"],
                           [p["missing1"]], names=["a", "b"])


def test_scenes_use_distinct_groups_and_labels():
    """Scenes of different methods can be open in one session: distinct group ids and
    label names, none of them the low ids ChimeraX hands out first."""
    ids = list(cx.SCENE_MODEL_IDS.values())
    assert len(set(ids)) == len(ids) and min(ids) > 100
    writers = [cx.ScriptWriter("x.cxc", model_id=i) for i in ids]
    assert len({w.title_label() for w in writers}) == len(ids)
    with pytest.raises(ValueError):
        cx.ScriptWriter("x.cxc", model_id=0)


def test_paths_with_spaces_and_scipion_suffix_are_quoted(tmp_path):
    folder = tmp_path / "my run"
    core.write_map(str(folder / "my map.mrc"), np.zeros((8, 8, 8), np.float32), 1.0)
    script = cx.occupancy_script(str(folder / "o.cxc"), str(folder / "my map.mrc:mrc"),
                                 str(folder / "my map.mrc"))
    assert 'open "my map.mrc" name locspiral_em_104_1' in commands(script)
    assert all(os.path.exists(f) for f in opened_files(script).values())


# -- one ChimeraX session, several scenes -------------------------------------------------
def _all_scenes(maps, folder):
    """One script of each scene kind (the runs' options: masks, quality and A maps)."""
    p, mask = maps["paths"], maps["mask"]
    os.makedirs(folder, exist_ok=True)
    at = lambda name: os.path.join(folder, name)  # noqa: E731
    return {
        "locspiral": cx.enhancement_script(at("e.cxc"), p["enhanced"], p["map"], VOXEL,
                                           ORIGIN, quality=p["quality"], mask=mask),
        "locbsharpen": cx.enhancement_script(at("bs.cxc"), p["enhanced"], p["map"], VOXEL,
                                             title="LocBSharpen map", quality=p["quality"],
                                             mask=mask),
        "locsharpen": cx.enhancement_script(at("ls.cxc"), p["enhanced"], p["map"], VOXEL,
                                            title="LocSharpen map", mask=mask),
        "locbfactor": cx.bfactor_script(at("b.cxc"), p["map"], p["bfactor"], p["amplitude"],
                                        VOXEL, ORIGIN, mask=mask),
        "lococcupancy": cx.occupancy_script(at("o.cxc"), p["map"], p["occupancy"], VOXEL,
                                            mask=mask),
        "maturity": cx.maturity_script(at("m.cxc"), p["map"], [p["missing1"], p["missing2"]],
                                       VOXEL, level=0.1, names=["a", "b"], indices=[0.4, 0.8]),
    }


def test_the_session_simulation_refuses_what_chimerax_refuses(tmp_path):
    """The simulated session is strict where ChimeraX is: a second ``2dlabels create`` of a
    name is an error (the bug of scenes opened twice), a missing label cannot be changed,
    a model specifier matching nothing is fine."""
    script = tmp_path / "twice.cxc"
    script.write_text("2dlabels create t text a\n2dlabels create t text b\n")
    session = Session()
    with pytest.raises(ChimeraXError, match="already exists"):
        session.run_script(str(script))
    session = Session()
    with pytest.raises(ChimeraXError, match="No label"):
        session.run("2dlabels change t visibility false")
    session.run("2dlabels delete ##name=t")       # nothing there: no error
    session.run("2dlabels create t text a xpos 0.1 ypos 0.2 size 18")
    session.run("2dlabels delete ##name=t")
    assert session.labels == {}
    with pytest.raises(ChimeraXError, match="no model"):
        session.run("volume #103.1 hide")


def test_a_scene_opens_twice_in_one_session(maps, tmp_path):
    """Opening the same scene again replaces it: no error (a .cxc stops at the first),
    the same models, one title and one note, coloured with the key."""
    script = _all_scenes(maps, str(tmp_path))["locbfactor"]
    session = Session()
    session.run_script(script)
    first = (dict(session.models), dict(session.labels), dict(session.aliases))
    session.run_script(script)
    assert (session.models, session.labels, session.aliases) == first
    assert sorted(k for k in session.models if k[0] == 103) == [(103,), (103, 1), (103, 2),
                                                                (103, 3)]
    assert set(session.labels) == {"locspiral103title", "locspiral103note"}
    assert session.labels["locspiral103title"]["visible"]
    assert session.key_owner == script
    assert session.log.count("close #103") == 2


def test_all_scenes_in_turn_keep_their_own_views(maps, tmp_path):
    """Every scene opened in turn, then all again: no error; each keeps its aliases (named
    by scene kind), title (own position) and models; every alias still runs afterwards and
    its colouring takes the key to its scene."""
    scenes = _all_scenes(maps, str(tmp_path))
    session = Session()
    for _ in range(2):
        for script in scenes.values():
            session.run_script(script)
    owners = {}
    for name, (owner, _) in session.aliases.items():
        owners.setdefault(owner, []).append(name)
    for kind, script in scenes.items():
        defined = [l.split()[1] for l in commands(script) if l.startswith("alias ")]
        assert all(n.startswith(kind + "_") for n in defined)
        # None taken over by another scene (the occupancy scene has one view, no alias).
        assert sorted(owners.get(script, [])) == sorted(defined)
        assert defined or kind == "lococcupancy"
    groups = {k[0] for k in session.models}
    assert groups == set(cx.SCENE_MODEL_IDS.values())
    titles = {n: l for n, l in session.labels.items() if n.endswith("title")}
    # The scenes with a colour key (LocSharpen here has no quality map; maturity a legend).
    assert set(titles) == {f"locspiral{cx.SCENE_MODEL_IDS[k]}title" for k in
                           ("locspiral", "locbsharpen", "locbfactor", "lococcupancy")}
    assert len({(l["xpos"], l["ypos"]) for l in titles.values()}) == len(titles)
    kinds = {script: kind for kind, script in scenes.items()}
    for name, (owner, _) in sorted(session.aliases.items()):
        session.run(name)
        if "showquality" in name or "showbfactor" in name or "showamplitude" in name:
            # The one key is this scene's, and so is the one key title shown.
            assert session.key_owner == owner, name
            shown = {n for n, l in session.labels.items()
                     if l["visible"] and n.endswith("title")}
            assert shown == {f"locspiral{cx.SCENE_MODEL_IDS[kinds[owner]]}title"}, name
    # Maturity reopened with one immature map: the second legend line goes.
    p = maps["paths"]
    again = cx.maturity_script(scenes["maturity"], p["map"], [p["missing1"]], VOXEL,
                               level=0.1, names=["a"])
    session.run_script(again)
    assert "locspiral105legend1" in session.labels
    assert "locspiral105legend2" not in session.labels
