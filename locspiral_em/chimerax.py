"""ChimeraX command scripts (``.cxc``) that show each result of the local methods.

Pure Python (numpy only for the default ranges and levels): nothing here imports or runs
ChimeraX. Each ``*_script`` function writes one script and returns its absolute path; open it
with ``chimerax path/to/script.cxc`` (or ``open path/to/script.cxc`` inside ChimeraX).

Conventions, so that scripts work across ChimeraX versions (1.1 and later) and can be moved:

* The script starts from an empty session (``close session``) so the maps get the model
  numbers #1, #2, ... used by the commands that follow.
* Map paths are written relative to the script's folder when the map lies inside it or a
  few folders up (ChimeraX runs a script from its own folder), absolute otherwise.
* Every map gets ``volume #N voxelSize p`` and then, on its own line, ``volume #N origin
  x,y,z`` (Å), so all maps open on the same grid whatever their headers say. (``voxelSize``
  after ``origin`` in one command would rescale the origin just given; hence two lines.)
* Colouring by another map uses ``color sample #surface map #values palette ... range
  vmin,vmax``. Named palettes of ChimeraX (rainbow, bluered, ...; ``^name`` reverses) are
  expanded here into explicit ``value,colour`` stops, so the colour key (``key colour:label
  ...``) shows exactly the colours and values used. Unknown palette names are passed through
  with ``key true`` (ChimeraX 1.2+ then draws the key itself).
* Colour scale titles (with units) are 2-D labels.

Sign convention: B maps hold the B-factor *for sharpening* (Å^2, negative = decaying signal).
The default B palette is reversed rainbow: the most negative B (most blurred) is red, the
least negative blue, as local-resolution maps are usually coloured (red = worse).
"""
import os

import numpy as np

__all__ = [
    "robust_range", "suggest_level", "map_origin", "palette_colors", "palette_stops",
    "key_command", "color_by_map_commands", "script_path_for", "ScriptWriter", "enhancement_script", "bfactor_script", "occupancy_script",
    "maturity_script", "B_PALETTE", "AMPLITUDE_PALETTE", "OCCUPANCY_PALETTE",
    "QUALITY_PALETTE", "MATURITY_COLORS",
]

B_PALETTE = "^rainbow"          # red = most negative B (blurred), blue = sharp
AMPLITUDE_PALETTE = "rainbow"    # blue = weak, red = strong local amplitude
OCCUPANCY_PALETTE = "^rainbow"   # red = low occupancy, blue = fully occupied
QUALITY_PALETTE = "rainbow"
MATURITY_COLORS = ("#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628",
                   "#f781bf", "#999999", "#ffff33")  # ColorBrewer Set1-9
MATURE_COLOR = "#b4b4b4"

# ChimeraX's built-in palettes (chimerax.core.colors._builtin_colormaps), as hex colours.
_BUILTIN_PALETTES = {
    "rainbow": ("#0000ff", "#00ffff", "#00ff00", "#ffff00", "#ff0000"),
    "grayscale": ("#000000", "#ffffff"),
    "red-white-blue": ("#ff0000", "#ffffff", "#0000ff"),
    "blue-white-red": ("#0000ff", "#ffffff", "#ff0000"),
    "cyan-white-maroon": ("#0fc7cf", "#ffffff", "#9e205e"),
    "cyan-gray-maroon": ("#0fc7cf", "#b3b3b3", "#9e205e"),
    "lipophilicity": ("#008b8b", "#ffffff", "#b8860b"),
}
_ALIASES = {"redblue": "red-white-blue", "bluered": "blue-white-red", "gray": "grayscale",
            "grey": "grayscale", "greyscale": "grayscale", "cyanmaroon": "cyan-white-maroon"}

# Where the colour key and its title go (fractions of the graphics window).
KEY_POS = (0.05, 0.08)
KEY_SIZE = (0.40, 0.035)
KEY_TITLE_POS = (0.05, 0.135)
MAP_SUFFIXES = (".mrc", ".map", ".ccp4", ".mrcs", ".rec", ".st")


# -- numbers ------------------------------------------------------------------------------
def robust_range(values, mask=None, low=2.0, high=98.0):
    """Default colour range: the ``low`` and ``high`` percentiles of ``values`` inside ``mask``
    (all finite values when ``mask`` is None). Returns ``(vmin, vmax)`` floats with
    ``vmin < vmax`` (widened by 1 around a constant field).

    >>> robust_range(bfactor_map, mask)   # e.g. (-142.3, -48.7) Å^2
    """
    values = np.asarray(values)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != values.shape:
            raise ValueError(f"mask shape {mask.shape} differs from values shape {values.shape}")
        values = values[mask]
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise ValueError("no finite values inside the mask to take a colour range from")
    vmin, vmax = (float(v) for v in np.percentile(values, [float(low), float(high)]))
    if not vmax > vmin:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    return vmin, vmax


def suggest_level(volume, mask=None):
    """A surface threshold for ``volume``.

    With a ``mask``: the level whose surface encloses as many voxels as the mask (the
    ``1 - mask fraction`` quantile of the whole map). Without: 3 noise SDs above the solvent
    in the box corners (:func:`locspiral_em.core.masking.auto_threshold`).
    """
    volume = np.asarray(volume, dtype=np.float32)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        fraction = float(mask.mean())
        if 0.0 < fraction < 1.0:
            values = volume.ravel()
            if values.size > 1 << 23:  # large maps: a regular sample of ~8 M voxels is plenty
                values = values[:: values.size // (1 << 23) + 1]
            return float(np.quantile(values, 1.0 - fraction))
    from .core.masking import auto_threshold
    return auto_threshold(volume)


def map_origin(origin=(0.0, 0.0, 0.0), nstart=(0, 0, 0), voxel_size=1.0):
    """The position (x, y, z Å) of grid index (0, 0, 0), as ChimeraX reads an MRC header: the
    header origin when it is not zero, else ``nstart * voxel_size``. Pass
    ``MapData.origin, MapData.nstart, MapData.voxel_size`` from :func:`read_map`."""
    origin = tuple(float(o) for o in origin)
    if any(o != 0.0 for o in origin):
        return origin
    return tuple(float(n) * float(voxel_size) for n in nstart)


def _num(value, digits=6):
    """Compact number text (no exponent for ordinary magnitudes, no trailing zeros)."""
    value = float(value)
    if value == 0:
        return "0"
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        if -5 < int(exponent) < 8:
            text = f"{value:.{max(0, digits - 1 - int(exponent))}f}".rstrip("0").rstrip(".")
    return text


def _label(value):
    """Key label: 3 significant digits, integers for |value| >= 100."""
    value = float(value)
    if abs(value) >= 100:
        return str(int(round(value)))
    return _num(value, 3)


# -- palettes -----------------------------------------------------------------------------
def palette_colors(palette):
    """The colours of ``palette`` (low to high), or None when ChimeraX must resolve it.

    ``palette``: a ChimeraX built-in name (``rainbow``, ``bluered``, ``redblue``,
    ``cyanmaroon``, ``grayscale``, ...), optionally prefixed by ``^`` to reverse it, or
    colours separated by ``:`` (``blue:white:red``) or ``,``-free names/hex codes.
    Palettes with explicit values (``0,blue:1,red``) and other names (ColorBrewer's
    ``RdYlBu-9``, ...) return None.
    """
    text = str(palette).strip()
    reverse = text.startswith("^")
    if reverse:
        text = text[1:]
    if ":" in text:
        parts = [p.strip() for p in text.split(":")]
        if any("," in p for p in parts) or len(parts) < 2 or not all(parts):
            return None
        colors = parts
    else:
        name = _ALIASES.get(text.lower(), text.lower())
        if name not in _BUILTIN_PALETTES:
            return None
        colors = list(_BUILTIN_PALETTES[name])
    return colors[::-1] if reverse else list(colors)


def palette_stops(palette, vmin, vmax):
    """``[(value, colour), ...]``: the palette's colours spread evenly from vmin to vmax,
    or None for palettes only ChimeraX can resolve (see :func:`palette_colors`)."""
    colors = palette_colors(palette)
    if colors is None:
        return None
    values = np.linspace(float(vmin), float(vmax), len(colors))
    return [(float(v), c) for v, c in zip(values, colors)]


def _palette_argument(palette, vmin, vmax):
    stops = palette_stops(palette, vmin, vmax)
    if stops is None:
        return str(palette).strip(), None
    return ":".join(f"{_num(v)},{c}" for v, c in stops), stops


def key_command(stops, pos=KEY_POS, size=KEY_SIZE, font_size=16):
    """``key colour:label ...`` for ``stops`` from :func:`palette_stops`."""
    pairs = " ".join(f"{c}:{_label(v)}" for v, c in stops)
    return (f"key {pairs} pos {_num(pos[0])},{_num(pos[1])} size {_num(size[0])},"
            f"{_num(size[1])} fontSize {int(font_size)}")


def color_by_map_commands(surface_model, value_model, palette, vmin, vmax, title=None):
    """Commands colouring ``#surface_model`` by the values of ``#value_model``, with a key.

    Returns a list of command strings: ``color sample``, then ``key`` (and a title label
    update when ``title`` is given; the label ``keytitle`` must exist, see ScriptWriter).
    """
    vmin, vmax = float(vmin), float(vmax)
    argument, stops = _palette_argument(palette, vmin, vmax)
    command = (f"color sample #{surface_model} map #{value_model} palette {argument} "
               f"range {_num(vmin)},{_num(vmax)}")
    commands = []
    if stops is None:
        commands.append(command + " key true")
    else:
        commands += [command, key_command(stops)]
    if title is not None:
        commands.append(f"2dlabels change keytitle text {_quote(title)} visibility true")
    return commands


# -- script assembly ----------------------------------------------------------------------
def _quote(text):
    text = str(text)
    if text and not any(ch in text for ch in " \t;#\"'"):
        return text
    return '"' + text.replace('"', "'") + '"'


def _clean_path(path):
    """Scipion file names may carry a ``:mrc`` format suffix; ChimeraX wants the file."""
    path = os.fspath(path)
    for suffix in (":mrc", ":mrcs"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    return path


def script_path_for(map_path, script_dir, max_up=3):
    """``map_path`` as written in a script in ``script_dir``: relative when the map is inside
    the script's folder or at most ``max_up`` folders up from it (so the tree can move as a
    whole), absolute otherwise."""
    target = os.path.abspath(_clean_path(map_path))
    script_dir = os.path.abspath(script_dir)
    try:
        relative = os.path.relpath(target, script_dir)
    except ValueError:  # another drive on Windows
        return target
    ups = 0
    for part in relative.split(os.sep):
        if part != os.pardir:
            break
        ups += 1
    if ups > max_up or os.path.commonpath([target, script_dir]) == os.path.abspath(os.sep):
        return target
    return relative.replace(os.sep, "/")


class ScriptWriter:
    """Builds a ChimeraX script line by line; maps are numbered #1, #2, ... as opened.

    >>> s = ScriptWriter("out/view.cxc", "LocBFactor")
    >>> m = s.open_map("out/map.mrc", 1.06, (0, 0, 0), level=0.02)
    >>> s.write()
    """

    def __init__(self, path, title="", max_up=3):
        self.path = os.path.abspath(os.fspath(path))
        self.folder = os.path.dirname(self.path)
        self.max_up = max_up
        self.lines = [
            f"# ChimeraX script written by locspiral_em (scipion-em-locspiral): {title}".rstrip(),
            "# Open with:  chimerax " + os.path.basename(self.path)
            + "   (or 'open " + os.path.basename(self.path) + "' in ChimeraX).",
            "# Map paths are relative to this script's folder; ChimeraX runs it from there.",
            "# It starts a new session so that the maps get the model numbers used below.",
            "close session",
        ]
        self.models = 0
        self.maps = {}

    def comment(self, text):
        for line in str(text).splitlines() or [""]:
            self.lines.append(("# " + line).rstrip())

    def command(self, *commands):
        for command in commands:
            if "\n" in command:
                raise ValueError(f"a command must be one line: {command!r}")
            self.lines.append(command)

    def open_map(self, path, voxel_size, origin=(0.0, 0.0, 0.0), level=None, color=None,
                 style="surface", show=True, transparency=None, name=None):
        """Open a map as the next model, on the given grid; returns its model number."""
        written = script_path_for(path, self.folder, self.max_up)
        self.models += 1
        n = self.models
        command = f"open {_quote(written)}"
        if not written.lower().endswith(MAP_SUFFIXES):
            command += " format mrc"
        self.command(command)
        if name:
            self.command(f"rename #{n} {_quote(name)}")
        x, y, z = (float(o) for o in origin)
        self.command(f"volume #{n} voxelSize {_num(voxel_size)}",
                     f"volume #{n} origin {_num(x)},{_num(y)},{_num(z)}")
        display = f"volume #{n} style {style} step 1"
        if level is not None:
            display += f" level {_num(level)}"
        if color is not None:
            display += f" color {color}"
        if transparency is not None:
            display += f" transparency {_num(transparency)}"
        self.command(display)
        if not show:
            self.command(f"volume #{n} hide")
        self.maps[n] = os.path.abspath(_clean_path(path))
        return n

    def key_title(self, text, visible=True):
        """The label above the colour key (named ``keytitle``)."""
        self.command(f"2dlabels create keytitle text {_quote(text)} xpos "
                     f"{_num(KEY_TITLE_POS[0])} ypos {_num(KEY_TITLE_POS[1])} size 18"
                     + ("" if visible else " visibility false"))

    def alias(self, name, commands):
        """``alias name c1; c2; ...`` (a one-word command that replays ``commands``)."""
        for c in commands:
            if c.lstrip().startswith("#"):
                raise ValueError("an alias command cannot start with '#'")
        self.command(f"alias {name} " + "; ".join(commands))

    def finish(self):
        self.command("set bgColor white", "lighting soft", "view")

    def write(self):
        """Write the script (atomically) and return its absolute path."""
        os.makedirs(self.folder, exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write("\n".join(self.lines) + "\n")
        os.replace(tmp, self.path)
        return self.path


def _range_or_default(vmin, vmax, default):
    lo = default[0] if vmin is None else float(vmin)
    hi = default[1] if vmax is None else float(vmax)
    if not hi > lo:
        raise ValueError(f"the colour range needs vmin < vmax, got {lo:g}, {hi:g}")
    return lo, hi


# -- one script per result ----------------------------------------------------------------
def _colour_scene(surface, values, palette, value_range, title):
    """Commands colouring ``#surface`` by ``#values``: an explicit range gives an exact key,
    None lets ChimeraX take the full value range and draw the key itself."""
    if value_range is None or None in tuple(value_range):
        return [f"color sample #{surface} map #{values} palette {palette} range full key true",
                f"2dlabels change keytitle text {_quote(title)} visibility true"]
    lo, hi = _range_or_default(value_range[0], value_range[1], (None, None))
    return color_by_map_commands(surface, values, palette, lo, hi, title)


def enhancement_script(path, enhanced, original, voxel_size, origin=(0.0, 0.0, 0.0),
                       level_enhanced=None, level_original=None, quality=None,
                       quality_palette=QUALITY_PALETTE, quality_range=None,
                       title="LocSpiral enhanced map"):
    """Script comparing an enhanced (LocSpiral) or sharpened (LocBSharpen) map with the
    original map.

    Models: #1 enhanced map (gold surface at ``level_enhanced``), #2 original map (grey mesh
    at ``level_original``), #3 the quality map W when ``quality`` is given (hidden).
    Aliases typed in ChimeraX switch views: ``showenhanced``, ``showoriginal``, ``showboth``
    (the default) and, with a quality map, ``showquality``: the enhanced surface coloured by
    W over ``quality_range`` = (vmin, vmax) (e.g. :func:`robust_range` of W in the mask;
    None: W's full range).

    ``enhanced``, ``original``, ``quality``: map file paths. ``origin``: x, y, z Å of grid
    index 0 (see :func:`map_origin`). Levels None let ChimeraX choose (see
    :func:`suggest_level`). Returns the script's absolute path.
    """
    s = ScriptWriter(path, title)
    s.comment(f"#1 {title}; #2 original map" + ("; #3 quality map W" if quality else ""))
    m1 = s.open_map(enhanced, voxel_size, origin, level_enhanced, color="#d4a017",
                    name=title)
    m2 = s.open_map(original, voxel_size, origin, level_original, color="#808080",
                    style="mesh", name="original map")
    s.alias("showenhanced", [f"volume #{m1} show", f"volume #{m2} hide"])
    s.alias("showoriginal", [f"volume #{m1} hide", f"volume #{m2} show"])
    s.alias("showboth", [f"volume #{m1} show", f"volume #{m2} show"])
    views = ["showenhanced", "showoriginal", "showboth"]
    if quality is not None:
        m3 = s.open_map(quality, voxel_size, origin, show=False, name="quality map W")
        s.key_title("Quality map W", visible=False)
        s.alias("showquality", [f"volume #{m1} show", f"volume #{m2} hide"]
                + _colour_scene(m1, m3, quality_palette, quality_range, "Quality map W"))
        views.append("showquality")
    s.finish()
    s.command("echo Type " + ", ".join(views) + " to switch views.")
    return s.write()


def bfactor_script(path, map_path, bfactor_path, amplitude_path=None, voxel_size=1.0,
                   origin=(0.0, 0.0, 0.0), level=None, palette=B_PALETTE, vmin=None,
                   vmax=None, amplitude_palette=AMPLITUDE_PALETTE, amplitude_range=None):
    """Script showing the input map's surface coloured by the local B-factor map.

    Models: #1 the map (surface at ``level``), #2 the B map, #3 the A (amplitude) map when
    given (both hidden). The surface is coloured with ``color sample #1 map #2 palette ...
    range vmin,vmax`` and a colour key titled "Local B-factor (Å²)". Aliases: ``showbfactor``
    (this scene, the default) and ``showamplitude`` (the same surface coloured by the A map
    over ``amplitude_range`` = (vmin, vmax); None: A's full range).

    ``vmin``, ``vmax`` (Å^2): colour range, e.g. :func:`robust_range` of the B map inside the
    mask (-150, 0 when not given). Returns the script's absolute path.
    """
    lo, hi = _range_or_default(vmin, vmax, (-150.0, 0.0))
    s = ScriptWriter(path, "LocBFactor local B-factor")
    s.comment("#1 map; #2 local B-factor map (B for sharpening, Å^2, negative = decaying)"
              + ("; #3 local amplitude map A" if amplitude_path else ""))
    m1 = s.open_map(map_path, voxel_size, origin, level, color="#b4b4b4", name="map")
    m2 = s.open_map(bfactor_path, voxel_size, origin, show=False, name="local B-factor")
    b_title = "Local B-factor (Å²)"
    s.key_title(b_title)
    b_scene = color_by_map_commands(m1, m2, palette, lo, hi, b_title)
    scenes = ["showbfactor"]
    if amplitude_path is not None:
        m3 = s.open_map(amplitude_path, voxel_size, origin, show=False,
                        name="local amplitude A")
        s.alias("showamplitude", _colour_scene(m1, m3, amplitude_palette, amplitude_range,
                                               "Local amplitude A (log)"))
        scenes.append("showamplitude")
    s.alias("showbfactor", b_scene)
    s.comment("Scene 1: the map coloured by the local B-factor")
    s.command(*b_scene)
    s.finish()
    s.command("echo Type " + " or ".join(scenes) + " to switch the colouring.")
    return s.write()


def occupancy_script(path, map_path, occupancy_path, voxel_size=1.0, origin=(0.0, 0.0, 0.0),
                     level=None, palette=OCCUPANCY_PALETTE, vmin=0.0, vmax=1.0):
    """Script showing the map's surface coloured by the local occupancy map (0..1), with a
    colour key. Models: #1 map, #2 occupancy map (hidden). Returns the script's path."""
    lo, hi = _range_or_default(vmin, vmax, (0.0, 1.0))
    s = ScriptWriter(path, "LocOccupancy local occupancy")
    s.comment("#1 map; #2 local occupancy map (0..1)")
    m1 = s.open_map(map_path, voxel_size, origin, level, color="#b4b4b4", name="map")
    m2 = s.open_map(occupancy_path, voxel_size, origin, show=False, name="local occupancy")
    s.key_title("Local occupancy")
    s.command(*color_by_map_commands(m1, m2, palette, lo, hi))
    s.finish()
    return s.write()


def maturity_script(path, mature_path, missing_paths, voxel_size=1.0,
                    origin=(0.0, 0.0, 0.0), level=None, names=None, indices=None,
                    colors=None, missing_levels=None, mature_transparency=0.7):
    """Script showing the mature map and, in its own colour, the density each immature map
    lacks (the "missing" maps of :func:`maturity_index`: mature density where the immature
    map is not highly occupied).

    Models: #1 mature map (light grey, transparent, at ``level``), #2.. one missing-density
    map per immature map (solid colour, at ``missing_levels[i]``, default ``level``). A 2-D
    legend lists each map's name, colour and maturity index. Aliases ``showmissing1``,
    ``showmissing2``, ... show the mature map with only that map's missing density, and
    ``showallmissing`` restores all. Returns the script's absolute path.
    """
    missing_paths = list(missing_paths)
    count = len(missing_paths)
    names = list(names) if names is not None else [f"immature {i + 1}" for i in range(count)]
    if colors is None:
        colors = [MATURITY_COLORS[i % len(MATURITY_COLORS)] for i in range(count)]
    levels = list(missing_levels) if missing_levels is not None else [level] * count
    if not (len(names) == len(colors) == len(levels) == count):
        raise ValueError("names, colors and missing_levels need one entry per missing map")
    if indices is not None and len(indices) != count:
        raise ValueError("indices needs one entry per missing map")
    s = ScriptWriter(path, "maturity index: missing density")
    s.comment("#1 mature map; #2.. density of the mature map missing from each immature map")
    m0 = s.open_map(mature_path, voxel_size, origin, level, color=MATURE_COLOR,
                    transparency=mature_transparency, name="mature map")
    models = []
    for p, name, colour, lev in zip(missing_paths, names, colors, levels):
        models.append(s.open_map(p, voxel_size, origin, lev, color=colour,
                                 name=f"missing in {name}"))
    s.command("2dlabels create legend0 text \"Missing density (mature map in grey)\" "
              "xpos 0.03 ypos 0.95 size 18")
    for i, (name, colour) in enumerate(zip(names, colors)):
        text = f"{name}" + (f": maturity {float(indices[i]):.2f}" if indices is not None else "")
        ypos = 0.95 - 0.045 * (i + 1)
        s.command(f"2dlabels create legend{i + 1} text {_quote(text)} color {colour} "
                  f"xpos 0.03 ypos {_num(round(ypos, 4))} size 16")
    for i, m in enumerate(models):
        others = [f"volume #{o} hide" for o in models if o != m]
        s.alias(f"showmissing{i + 1}", [f"volume #{m0} show", f"volume #{m} show"] + others)
    if models:
        s.alias("showallmissing", [f"volume #{m0} show"] + [f"volume #{m} show" for m in models])
    s.finish()
    if models:
        s.command("echo Type showmissing1 ... showmissing%d or showallmissing to switch views."
                  % len(models))
    return s.write()
