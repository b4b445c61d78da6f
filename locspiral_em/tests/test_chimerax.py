"""ChimeraX scripts (locspiral_em/chimerax.py), checked as text: ChimeraX is never launched.

Each script must open files that exist (paths relative to the script's folder), put every
map on the given grid (voxel size, then origin), colour with the range it was given, and
use only commands and argument forms ChimeraX accepts.
"""
import os
import re

import numpy as np
import pytest

from locspiral_em import core
from locspiral_em import chimerax as cx

VOXEL = 1.3
ORIGIN = (12.5, -3.9, 0.0)
# First words of the commands the scripts may use (all ChimeraX 1.x commands).
KNOWN_COMMANDS = {"close", "open", "rename", "volume", "color", "key", "2dlabels", "alias",
                  "set", "lighting", "view", "echo"}


# -- helpers ------------------------------------------------------------------------------
def commands(script):
    """Non-comment, non-blank lines of a script."""
    with open(script, encoding="utf-8") as handle:
        lines = [line.rstrip("\n") for line in handle]
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def opened_files(script):
    """{model number: absolute path} in opening order, resolved as ChimeraX does (from the
    script's folder)."""
    folder = os.path.dirname(script)
    files = {}
    for line in commands(script):
        if line.startswith("open "):
            argument = line[len("open "):]
            if argument.startswith('"'):
                path = argument[1:argument.index('"', 1)]
            else:
                path = argument.split()[0]
            files[len(files) + 1] = os.path.normpath(os.path.join(folder, path))
    return files


def grid_of(script, model):
    """(voxel size, origin) set for ``#model``, checking voxelSize comes before origin."""
    lines = commands(script)
    size_lines = [i for i, l in enumerate(lines) if l.startswith(f"volume #{model} voxelSize ")]
    origin_lines = [i for i, l in enumerate(lines) if l.startswith(f"volume #{model} origin ")]
    assert len(size_lines) == 1 and len(origin_lines) == 1, (model, lines)
    # 'voxelSize' rescales the current origin, so it must not follow the origin.
    assert size_lines[0] < origin_lines[0]
    size = float(lines[size_lines[0]].split()[-1])
    origin = tuple(float(v) for v in lines[origin_lines[0]].split()[-1].split(","))
    return size, origin


def colour_commands(script):
    """(surface model, value model, palette argument, (vmin, vmax)) of each
    'color sample' (aliases included)."""
    found = []
    with open(script, encoding="utf-8") as handle:
        text = handle.read()
    number = r"-?[\d.]+(?:e[-+]?\d+)?"
    pattern = (rf"color sample #(\d+) map #(\d+) palette (\S+) range "
               rf"({number}|full)(?:,({number}))?")
    for match in re.finditer(pattern, text):
        surface, values, palette, lo, hi = match.groups()
        value_range = None if lo == "full" else (float(lo), float(hi))
        found.append((int(surface), int(values), palette, value_range))
    return found


def key_pairs(line):
    """[(colour, label)] of a 'key' command."""
    pairs = []
    for token in line.split()[1:]:
        if token in ("pos", "size", "fontSize"):
            break
        colour, label = token.split(":", 1)
        pairs.append((colour, label))
    return pairs


def check_syntax(script):
    for line in commands(script):
        for part in line.split(";") if line.startswith("alias ") else [line]:
            word = part.split()[0]
            if line.startswith("alias ") and part is not line.split(";")[0]:
                assert not part.strip().startswith("#")
            assert word in KNOWN_COMMANDS, line
        assert "\n" not in line


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    """A small phantom and maps derived from it, written to disk, with a B-like map."""
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


# -- numbers ------------------------------------------------------------------------------
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


def test_suggest_level_encloses_the_mask_volume(maps):
    volume, mask = maps["arrays"]["map"], maps["mask"]
    level = cx.suggest_level(volume, mask)
    assert np.mean(volume > level) == pytest.approx(mask.mean(), abs=0.002)
    assert cx.suggest_level(volume) == pytest.approx(core.auto_threshold(volume))


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
                               cx.B_PALETTE, vmin, vmax, amplitude_range=a_range)
    assert os.path.isabs(script) and os.path.exists(script)
    check_syntax(script)
    lines = commands(script)
    assert lines[0] == "close session"
    files = opened_files(script)
    assert files == {1: p["map"], 2: p["bfactor"], 3: p["amplitude"]}
    assert all(os.path.exists(f) for f in files.values())
    # Relative paths: the folder can move.
    assert "open ../map.mrc" in lines and "open bfactor.mrc" in lines
    for model in files:
        size, origin = grid_of(script, model)
        assert size == pytest.approx(VOXEL)
        assert origin == pytest.approx(ORIGIN)
    assert "volume #1 style surface step 1 level 0.05 color #b4b4b4" in lines
    assert "volume #2 hide" in lines and "volume #3 hide" in lines
    # B colouring: surface #1 by map #2 over the data's robust range, direct and as alias.
    colours = colour_commands(script)
    b_colours = [c for c in colours if c[1] == 2]
    assert len(b_colours) == 2
    for surface, _, palette, value_range in b_colours:
        assert surface == 1
        assert value_range == pytest.approx((vmin, vmax), rel=1e-5)
        stops = [s.split(",") for s in palette.split(":")]
        assert [c for _, c in stops] == cx.palette_colors(cx.B_PALETTE)
        assert float(stops[0][0]) == pytest.approx(vmin, rel=1e-5)
        assert float(stops[-1][0]) == pytest.approx(vmax, rel=1e-5)
    # Amplitude scene in its alias.
    a_colours = [c for c in colours if c[1] == 3]
    assert len(a_colours) == 1 and a_colours[0][3] == pytest.approx(a_range, rel=1e-5)
    assert any(l.startswith("alias showamplitude ") for l in lines)
    assert any(l.startswith("alias showbfactor ") for l in lines)
    # Key: the palette's colours, labelled from vmin to vmax, titled in Å^2.
    key = [l for l in lines if l.startswith("key ")][0]
    pairs = key_pairs(key)
    assert [c for c, _ in pairs] == cx.palette_colors(cx.B_PALETTE)
    labels = [float(label) for _, label in pairs]
    assert labels[0] == pytest.approx(vmin, abs=0.5) and labels[-1] == pytest.approx(vmax,
                                                                                      abs=0.5)
    assert "pos " in key
    assert any("2dlabels create keytitle" in l and "Å²" in l for l in lines)


def test_bfactor_script_defaults_and_passthrough_palette(maps, tmp_path):
    p = maps["paths"]
    script = cx.bfactor_script(str(tmp_path / "b.cxc"), p["map"], p["bfactor"],
                               palette="RdYlBu-9")
    check_syntax(script)
    found = colour_commands(script)
    assert found == [(1, 2, "RdYlBu-9", (-150.0, 0.0))] * 2  # alias and direct
    assert any(l.endswith("key true") for l in commands(script))
    assert grid_of(script, 1) == (1.0, (0.0, 0.0, 0.0))
    with pytest.raises(ValueError):
        cx.bfactor_script(str(tmp_path / "c.cxc"), p["map"], p["bfactor"], vmin=0, vmax=-10)


def test_occupancy_script(maps):
    p = maps["paths"]
    script = cx.occupancy_script(os.path.join(maps["folder"], "occ.cxc"), p["map"],
                                 p["occupancy"], VOXEL, ORIGIN, level=0.1)
    check_syntax(script)
    assert opened_files(script) == {1: p["map"], 2: p["occupancy"]}
    assert "open map.mrc" in commands(script)
    ((surface, values, palette, value_range),) = colour_commands(script)
    assert (surface, values, value_range) == (1, 2, (0.0, 1.0))
    key = [l for l in commands(script) if l.startswith("key ")][0]
    assert [float(l) for _, l in key_pairs(key)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    for model in (1, 2):
        assert grid_of(script, model) == (pytest.approx(VOXEL), pytest.approx(ORIGIN))


def test_enhancement_script(maps):
    p = maps["paths"]
    q_range = cx.robust_range(maps["arrays"]["quality"], maps["mask"])
    script = cx.enhancement_script(os.path.join(maps["folder"], "results", "e.cxc"),
                                   p["enhanced"], p["map"], VOXEL, ORIGIN, 1.5, 0.02,
                                   quality=p["quality"], quality_range=q_range,
                                   title="LocSpiral enhanced map")
    check_syntax(script)
    lines = commands(script)
    assert opened_files(script) == {1: p["enhanced"], 2: p["map"], 3: p["quality"]}
    assert any(l.startswith("volume #1 style surface") and "level 1.5" in l for l in lines)
    assert any(l.startswith("volume #2 style mesh") and "level 0.02" in l for l in lines)
    for alias in ("showenhanced", "showoriginal", "showboth", "showquality"):
        assert any(l.startswith(f"alias {alias} ") for l in lines)
    ((surface, values, _, value_range),) = colour_commands(script)
    assert (surface, values) == (1, 3) and value_range == pytest.approx(q_range, rel=1e-5)
    for model in (1, 2, 3):
        assert grid_of(script, model) == (pytest.approx(VOXEL), pytest.approx(ORIGIN))


def test_maturity_script(maps):
    p = maps["paths"]
    script = cx.maturity_script(os.path.join(maps["folder"], "mat.cxc"), p["map"],
                                [p["missing1"], p["missing2"]], VOXEL, ORIGIN, level=0.1,
                                names=["early", "late form"], indices=[0.35, 0.8])
    check_syntax(script)
    lines = commands(script)
    assert opened_files(script) == {1: p["map"], 2: p["missing1"], 3: p["missing2"]}
    # Each missing map in its own colour; the mature map transparent grey.
    assert any(l.startswith("volume #1 style surface") and "transparency 0.7" in l
               for l in lines)
    colours = [re.search(r"color (#\w+)", l).group(1) for l in lines
               if re.match(r"volume #[23] style surface", l)]
    assert colours == list(cx.MATURITY_COLORS[:2])
    assert any('"late form: maturity 0.80"' in l for l in lines)
    assert any(l.startswith("alias showmissing2 ") for l in lines)
    for model in (1, 2, 3):
        assert grid_of(script, model) == (pytest.approx(VOXEL), pytest.approx(ORIGIN))
    with pytest.raises(ValueError):
        cx.maturity_script(os.path.join(maps["folder"], "bad.cxc"), p["map"],
                           [p["missing1"]], names=["a", "b"])


def test_paths_with_spaces_and_scipion_suffix_are_quoted(tmp_path):
    folder = tmp_path / "my run"
    core.write_map(str(folder / "my map.mrc"), np.zeros((8, 8, 8), np.float32), 1.0)
    script = cx.occupancy_script(str(folder / "o.cxc"), str(folder / "my map.mrc:mrc"),
                                 str(folder / "my map.mrc"))
    assert 'open "my map.mrc"' in commands(script)
    assert all(os.path.exists(f) for f in opened_files(script).values())
