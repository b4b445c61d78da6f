"""Checks shared by the ChimeraX, figure and viewer tests: reading a generated ``.cxc`` script
as ChimeraX would (model ids, files, grid, colour stops) and checking a PNG.

No pytest here: the viewer tests are a plain unittest module (stock Scipion has no pytest)
and import these too. ChimeraX itself is never run; :func:`palette_colour` reproduces how
``color sample`` maps a value to a colour with explicit palette stops (linear interpolation
between stops, the end colours beyond them: ``Colormap.interpolated_rgba``).
"""
import os
import re

import numpy as np

from locspiral_em import chimerax as cx

# First words of the commands the scripts may use (all ChimeraX 1.x commands).
KNOWN_COMMANDS = {"close", "open", "rename", "volume", "surface", "color", "key", "2dlabels",
                  "alias", "set", "lighting", "view", "echo"}
_NUMBER = r"-?[\d.]+(?:e[-+]?\d+)?"


def commands(script):
    """Non-comment, non-blank lines of a script."""
    with open(script, encoding="utf-8") as handle:
        lines = [line.rstrip("\n") for line in handle]
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def scene_group(script):
    """The group model id the script puts its maps in (from its one ``close #N``)."""
    closes = [line for line in commands(script) if line.startswith("close")]
    assert len(closes) == 1, closes
    match = re.fullmatch(r"close #(\d+)", closes[0])
    assert match, closes[0]  # never 'close session' or 'close' (all models)
    return int(match.group(1))


def spec(script, model):
    """``#group.model`` for submodel ``model`` (1, 2, ...) of the script's group."""
    return f"#{scene_group(script)}.{model}"


def opened_files(script):
    """{submodel number: absolute path} in opening order, resolved as ChimeraX does (from the
    script's folder). Checks that each map is opened under a unique temporary name and then
    moved by that name to the next submodel id of the group."""
    folder = os.path.dirname(script)
    group = scene_group(script)
    lines = commands(script)
    files = {}
    for i, line in enumerate(lines):
        if not line.startswith("open "):
            continue
        argument = line[len("open "):]
        if argument.startswith('"'):
            path = argument[1:argument.index('"', 1)]
            rest = argument[argument.index('"', 1) + 1:]
        else:
            path, _, rest = argument.partition(" ")
        name = re.search(r"\bname (\S+)", rest).group(1)
        number = len(files) + 1
        rename = lines[i + 1]
        assert re.fullmatch(rf"rename ##name={re.escape(name)} .+ id #{group}\.{number}",
                            rename), (line, rename)
        assert sum(f"##name={name} " in l for l in lines) == 1  # unique temporary name
        files[number] = os.path.normpath(os.path.join(folder, path))
    return files


def grid_of(script, model):
    """(voxel size, origin) set for submodel ``model``, checking voxelSize comes first."""
    lines = commands(script)
    target = spec(script, model)
    size_lines = [i for i, l in enumerate(lines) if l.startswith(f"volume {target} voxelSize ")]
    origin_lines = [i for i, l in enumerate(lines) if l.startswith(f"volume {target} origin ")]
    assert len(size_lines) == 1 and len(origin_lines) == 1, (model, lines)
    # 'voxelSize' rescales the current origin, so it must not follow the origin.
    assert size_lines[0] < origin_lines[0]
    size = float(lines[size_lines[0]].split()[-1])
    origin = tuple(float(v) for v in lines[origin_lines[0]].split()[-1].split(","))
    return size, origin


def palette_stops_of(palette):
    """[(value, colour)] of a palette argument with explicit values, else None."""
    parts = palette.split(":")
    if not all("," in p for p in parts):
        return None
    return [(float(p.split(",", 1)[0]), p.split(",", 1)[1]) for p in parts]


def colour_commands(script):
    """(surface submodel, value submodel, palette argument, (vmin, vmax)) of each
    'color sample' (aliases included). The range is the palette's data stops (the grey
    no-value band and the clamp to the data minimum left out) or a ``range`` argument;
    None for ``range full``."""
    found = []
    with open(script, encoding="utf-8") as handle:
        text = handle.read()
    group = scene_group(script)
    pattern = (rf"color sample #{group}\.(\d+) map #{group}\.(\d+) palette ([^\s;]+)"
               rf"(?: range ({_NUMBER}|full)(?:,({_NUMBER}))?)?")
    for match in re.finditer(pattern, text):
        surface, values, palette, lo, hi = match.groups()
        stops = palette_stops_of(palette)
        if stops is not None:
            # Values in the palette: ChimeraX would rescale them as fractions with a range.
            assert lo is None, f"explicit palette values with a range: {match.group(0)}"
            data = [(v, c) for v, c in stops if c != cx.NO_VALUE_COLOR]
            if len(data) > 2 and data[0][1] == data[1][1]:
                data = data[1:]  # the stop holding the lowest colour down to the data minimum
            value_range = (data[0][0], data[-1][0])
        else:
            value_range = None if lo in (None, "full") else (float(lo), float(hi))
        found.append((int(surface), int(values), palette, value_range))
    return found


def palette_colour(palette, value):
    """The colour ``color sample`` gives ``value`` with explicit stops, as (r, g, b) 0..1:
    linear between stops, the end colours beyond them."""
    stops = sorted(palette_stops_of(palette))
    values = np.array([v for v, _ in stops])
    rgb = np.array([_hex_rgb(c) for _, c in stops])
    return tuple(float(np.interp(value, values, rgb[:, k])) for k in range(3))


def _hex_rgb(colour):
    colour = colour.lstrip("#")
    return tuple(int(colour[i:i + 2], 16) / 255 for i in (0, 2, 4))


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
    """Every command is one a ChimeraX 1.x knows; alias parts do not start with '#'; no
    command closes the session or other models."""
    for line in commands(script):
        for part in line.split(";") if line.startswith("alias ") else [line]:
            word = part.split()[0]
            if line.startswith("alias ") and part is not line.split(";")[0]:
                assert not part.strip().startswith("#")
            assert word in KNOWN_COMMANDS, line
        assert "\n" not in line
        assert "close session" not in line, line
    scene_group(script)  # exactly one close, of the scene's own group


def check_png(path, size):
    """Exists, is ``size`` = (width, height) pixels, and shows something (not one colour).
    Returns the image (rows, columns, RGB(A) 0..1)."""
    import matplotlib.image as mpimg
    assert os.path.exists(path), path
    image = mpimg.imread(path)
    height, width = image.shape[:2]
    assert (width, height) == tuple(size), ((width, height), size)
    rgb = image[..., :3]
    assert rgb.std() > 0.02                       # not blank
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 20   # more than a few flat colours
    assert os.path.getsize(path) < 200_000
    return image
