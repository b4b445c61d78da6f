"""ChimeraX command scripts (``.cxc``) that show each result of the local methods.

Pure Python (numpy; the local maps are read and written with the package's MRC code when a
display copy is made): nothing here imports or runs ChimeraX. Each ``*_script`` function
writes one script and returns its absolute path; open it with ``chimerax path/to/script.cxc``
(or ``open path/to/script.cxc`` inside ChimeraX).

Conventions, so that scripts work across ChimeraX versions (1.1 and later), can be moved and
can be opened into a session that already holds the user's own models:

* A script never closes the session. Its maps go into one group model with a fixed id per
  kind of scene (:data:`SCENE_MODEL_IDS`, 101-106: far above the ids a session hands out),
  as submodels ``#103.1``, ``#103.2``, ... The script first closes that group only (an
  earlier run of the same scene), then opens each map under a unique temporary name and
  moves it to its id with ``rename ##name=TEMP NAME id #103.k``: ``open`` only gained an
  ``id`` option in recent ChimeraX versions, and without one a map would get the lowest free
  number, which a script cannot know.
* Map paths are written relative to the script's folder when the map lies inside it or a
  few folders up (ChimeraX runs a script from its own folder), absolute otherwise.
* Every map gets ``volume #N voxelSize p`` and then, on its own line, ``volume #N origin
  x,y,z`` (Å), so all maps open on the same grid whatever their headers say. (``voxelSize``
  after ``origin`` in one command would rescale the origin just given; hence two lines.)
* Surfaces get ``surface dust #N size S`` (Å): isolated specks of solvent noise smaller
  than S are hidden (:func:`dust_size`).
* Colouring by another map uses ``color sample #surface map #values palette v1,c1:v2,c2:...``
  with the values written into the palette and *no* ``range``: ChimeraX's ``color sample``
  reads the values of a palette given with ``range`` as fractions 0..1 of that range
  (``Colormap.rescale_range``), so both together would put the colours at the wrong values.
  Named palettes of ChimeraX (rainbow, bluered, ...; ``^name`` reverses) are expanded here
  into explicit ``value,colour`` stops, so the colour key (``key colour:label ...``) shows
  exactly the colours and values used. Unknown palette names are passed through with
  ``range vmin,vmax`` and ``key true`` (ChimeraX 1.2+ then draws the key itself).
* Local maps (B, A, occupancy, W) are 0 outside their mask, which a palette would paint as
  data (B = 0 as the sharpest colour). Given the ``mask``, a scene colours from a *display
  copy* of the map (:func:`display_copy`, written next to the script as
  ``<map>_display.mrc``) holding a sentinel far below the data outside the mask, and the
  palette gives everything from the sentinel to just below the data neutral grey
  (:data:`NO_VALUE_COLOR`, the map's own surface colour), not shown in the key; a label
  under the key says so. The sentinel is a finite number (no NaN: ChimeraX interpolates
  the map at each surface vertex, and a NaN would spread). Being far away, any vertex whose
  interpolation touches a voxel outside the mask reads as grey, so the colouring never
  extends past the mask with made-up values.
* Colour scale titles (with units) are 2-D labels, named per scene (``locspiral103title``)
  and placed one line apart per scene kind, so that two scenes in one session neither
  overwrite nor print over each other's titles. A scene can be opened again in the same
  session: each label is first removed with ``2dlabels delete ##name=NAME`` (a model
  specifier, since a label's model carries its name: no error when there is none), as
  ``2dlabels create`` refuses an existing name and a ``.cxc`` stops at its first error.
  ChimeraX has one colour key, the scene coloured last: colouring a scene (directly or by
  an alias) hides the other scenes' key titles and notes the same way
  (``2dlabels change ##name=A ##name=B ... visibility false``).
* Aliases are prefixed with the scene kind (``locbfactor_showamplitude``,
  ``locspiral_showboth``): a later scene does not redefine an earlier scene's views.

Sign convention: B maps hold the B-factor *for sharpening* (Å^2, negative = decaying signal).
The default B palette is reversed rainbow: the most negative B (most blurred) is red, the
least negative blue, as local-resolution maps are usually coloured (red = worse).
"""
import os
from typing import NamedTuple

import numpy as np

__all__ = [
    "robust_range", "suggest_level", "dust_size", "map_origin", "palette_colors",
    "palette_stops", "key_command", "color_by_map_commands", "NoValue", "display_copy",
    "display_path", "write_display_copy", "script_path_for", "ScriptWriter",
    "enhancement_script", "bfactor_script", "occupancy_script", "maturity_script",
    "B_PALETTE", "AMPLITUDE_PALETTE", "OCCUPANCY_PALETTE", "QUALITY_PALETTE",
    "MATURITY_COLORS", "NO_VALUE_COLOR", "SCENE_MODEL_IDS",
]

B_PALETTE = "^rainbow"          # red = most negative B (blurred), blue = sharp
AMPLITUDE_PALETTE = "rainbow"    # blue = weak, red = strong local amplitude
OCCUPANCY_PALETTE = "^rainbow"   # red = low occupancy, blue = fully occupied
QUALITY_PALETTE = "rainbow"
MATURITY_COLORS = ("#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628",
                   "#f781bf", "#999999", "#ffff33")  # ColorBrewer Set1-9
MATURE_COLOR = "#b4b4b4"
MAP_COLOR = "#b4b4b4"            # surface colour of a map before it is coloured by values
NO_VALUE_COLOR = MAP_COLOR       # voxels outside the mask: the uncoloured map's grey
# Group model id of each kind of scene (see the module notes): distinct, so that scenes of
# different methods can be open together, and high, so that they do not meet the user's.
SCENE_MODEL_IDS = {"locspiral": 101, "locbsharpen": 102, "locbfactor": 103,
                   "lococcupancy": 104, "maturity": 105, "locsharpen": 106}
_SCENE_KINDS = {number: kind for kind, number in SCENE_MODEL_IDS.items()}
# Legend lines a reopened maturity scene clears at least (an earlier run with more maps).
LEGEND_SLOTS = 9


def _scene_slot(model_id):
    """0, 1, ... for the scene kinds in id order (other ids share the slots in turn)."""
    ids = sorted(SCENE_MODEL_IDS.values())
    return ids.index(model_id) if model_id in ids else int(model_id) % len(ids)
# Sentinel distance below the data, in data ranges: a surface vertex interpolated with a
# weight w on a sentinel voxel reads about w * SENTINEL_RANGES ranges below the data, so
# any w above ~1/SENTINEL_RANGES lands in the grey band.
SENTINEL_RANGES = 100.0
GREY_GAP = 0.01                  # grey up to this fraction of the data range below the data

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
KEY_TITLE_POS = (0.05, 0.135)     # the title of the first scene kind; the others above it
TITLE_STEP = 0.035                 # one title line (size 18) higher per scene kind
KEY_NOTE_POS = (0.05, 0.01)        # under the key's labels
MAP_SUFFIXES = (".mrc", ".map", ".ccp4", ".mrcs", ".rec", ".st")


# -- numbers ------------------------------------------------------------------------------
# The level and range statistics live in the numerical core (core/surface.py); they are
# re-exported here, where scenes and viewers have always imported them.
from .core.surface import (  # noqa: E402,F401
    MASS_FRACTION, MIN_ENCLOSED, NOISE_SIGMAS, _mass_level, _sample, _solvent_stats,
    robust_range, suggest_level)


def dust_size(voxel_size):
    """Size (Å) below which ``surface dust`` hides isolated surface pieces: 6 voxels, and at
    least 5 Å (ChimeraX's default). Specks of solvent noise above the level are a few voxels
    across; a domain, a subunit or a ligand that is not attached is larger."""
    return max(5.0, 6.0 * float(voxel_size))


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


def _palette_argument(palette, vmin, vmax, no_value=None):
    """(palette argument, data stops or None). With explicit stops the argument carries the
    values (and, for ``no_value``, the grey band below the data first)."""
    stops = palette_stops(palette, vmin, vmax)
    if stops is None:
        return str(palette).strip(), None
    written = list(stops)
    if no_value is not None:
        low = min(float(vmin), no_value.data_min)
        if low < stops[0][0]:  # data below vmin keep the lowest colour, as without a mask
            written.insert(0, (low, stops[0][1]))
        written[:0] = [(no_value.sentinel, NO_VALUE_COLOR), (no_value.grey_top, NO_VALUE_COLOR)]
    return ":".join(f"{_num(v)},{c}" for v, c in written), stops


def key_command(stops, pos=KEY_POS, size=KEY_SIZE, font_size=16):
    """``key colour:label ...`` for ``stops`` from :func:`palette_stops`."""
    pairs = " ".join(f"{c}:{_label(v)}" for v, c in stops)
    return (f"key {pairs} pos {_num(pos[0])},{_num(pos[1])} size {_num(size[0])},"
            f"{_num(size[1])} fontSize {int(font_size)}")


def color_by_map_commands(surface_model, value_model, palette, vmin, vmax, title=None,
                          no_value=None, title_label="keytitle", note_label=None):
    """Commands colouring ``#surface_model`` by the values of ``#value_model``, with a key.

    Returns a list of command strings: ``color sample`` (explicit ``value,colour`` stops
    from vmin to vmax and no ``range``; a palette ChimeraX must resolve gets ``range
    vmin,vmax key true``), then ``key`` (and a title label update when ``title`` is given;
    the label ``title_label`` must exist, see :meth:`ScriptWriter.key_title`).

    ``no_value``: a :class:`NoValue` when ``#value_model`` is a :func:`display_copy`: the
    palette then starts with a grey band from its sentinel to just below the data (not in
    the key), and the label ``note_label`` (when given) is shown to say so.
    """
    vmin, vmax = float(vmin), float(vmax)
    argument, stops = _palette_argument(palette, vmin, vmax, no_value)
    command = f"color sample #{surface_model} map #{value_model} palette {argument}"
    commands = []
    if stops is None:
        commands.append(command + f" range {_num(vmin)},{_num(vmax)} key true")
    else:
        commands += [command, key_command(stops)]
    if title is not None:
        commands.append(f"2dlabels change {title_label} text {_quote(title)} visibility true")
    if note_label is not None:
        visible = "true" if no_value is not None and stops is not None else "false"
        commands.append(f"2dlabels change {note_label} visibility {visible}")
    return commands


# -- values outside the mask --------------------------------------------------------------
class NoValue(NamedTuple):
    """How a :func:`display_copy` marks voxels without a value: they hold ``sentinel``; the
    palette paints ``sentinel .. grey_top`` grey; ``data_min`` is the lowest value kept."""
    sentinel: float
    grey_top: float
    data_min: float


def display_copy(values, mask, vmin=None, vmax=None):
    """A copy of a local map for colouring, with a sentinel where it has no value.

    Voxels outside ``mask`` (and any NaN or infinity inside it) get a finite sentinel
    ``SENTINEL_RANGES`` (100) data ranges below the lowest value inside the mask (the data
    range: vmin..vmax or the values' own range, whichever is wider), so that neither a
    voxel nor an interpolated surface vertex touching one can be read as data.
    ``vmin``/``vmax``: the colour range (default :func:`robust_range` in the mask).
    Returns ``(copy float32, NoValue)``.
    """
    values = np.asarray(values, dtype=np.float32)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != values.shape:
        raise ValueError(f"mask shape {mask.shape} differs from values shape {values.shape}")
    valid = mask & np.isfinite(values)
    if not valid.any():
        raise ValueError("no finite values inside the mask")
    if vmin is None or vmax is None:
        lo, hi = robust_range(values, valid)
        vmin = lo if vmin is None else vmin
        vmax = hi if vmax is None else vmax
    data = values[valid]
    data_min, data_max = float(data.min()), float(data.max())
    width = max(float(vmax) - float(vmin), data_max - data_min, 1e-6 * max(1.0, abs(data_min)))
    low = min(float(vmin), data_min)
    sentinel = float(np.float32(low - SENTINEL_RANGES * width))
    grey_top = low - GREY_GAP * width
    copy = np.where(valid, values, np.float32(sentinel)).astype(np.float32)
    return copy, NoValue(sentinel, grey_top, data_min)


def display_path(script, value_path):
    """Where a scene writes the display copy of ``value_path``: next to the script, as
    ``<map name>_display.mrc`` (callers that list their outputs before writing can add it)."""
    folder = os.path.dirname(os.path.abspath(os.fspath(script)))
    stem = os.path.splitext(os.path.basename(_clean_path(value_path)))[0]
    return os.path.join(folder, f"{stem}_display.mrc")


def _as_mask(mask, shape):
    """A boolean mask from an array or an MRC file (voxels > 0.5)."""
    if isinstance(mask, (str, os.PathLike)):
        from .core import read_map
        mask = read_map(_clean_path(mask)).data > 0.5
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != tuple(shape):
        raise ValueError(f"mask shape {mask.shape} differs from the map's {tuple(shape)}")
    return mask


def write_display_copy(script, value_path, mask, vmin=None, vmax=None):
    """Read ``value_path``, write its :func:`display_copy` to :func:`display_path` (same
    header grid) and return ``(path, NoValue, (vmin, vmax))``; the range defaults to
    :func:`robust_range` of the values inside ``mask`` (an array or a mask file)."""
    from .core import read_map
    from .outputs import source, write_map  # through a run's output set while it is staged
    grid = read_map(source(_clean_path(value_path)))
    mask = _as_mask(mask, grid.data.shape)
    if vmin is None or vmax is None:
        lo, hi = robust_range(grid.data, mask & np.isfinite(grid.data))
        vmin = lo if vmin is None else float(vmin)
        vmax = hi if vmax is None else float(vmax)
    copy, no_value = display_copy(grid.data, mask, vmin, vmax)
    path = display_path(script, value_path)
    write_map(path, copy, grid.voxel_size, grid.origin, grid.nstart)
    return path, no_value, (float(vmin), float(vmax))


def _level_from_file(path, mask):
    """:func:`suggest_level` of the map in ``path`` (for scenes given a mask but no level)."""
    from .core import read_map
    data = read_map(_clean_path(path)).data
    return suggest_level(data, _as_mask(mask, data.shape))


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
    """Builds a ChimeraX script line by line. Maps go into the group model ``#model_id``
    as ``#model_id.1``, ``#model_id.2``, ... in opening order (see the module notes).

    >>> s = ScriptWriter("out/view.cxc", "LocBFactor", model_id=103)
    >>> m = s.open_map("out/map.mrc", 1.06, (0, 0, 0), level=0.02)   # "103.1"
    >>> s.write()
    """

    def __init__(self, path, title="", max_up=3, model_id=100, group_name=None):
        self.path = os.path.abspath(os.fspath(path))
        self.folder = os.path.dirname(self.path)
        self.max_up = max_up
        self.model_id = int(model_id)
        if self.model_id < 1:
            raise ValueError(f"model_id must be a positive integer, got {model_id!r}")
        self.group_name = group_name or (title or "locspiral_em scene")
        self.lines = [
            f"# ChimeraX script written by locspiral_em (scipion-em-locspiral): {title}".rstrip(),
            "# Open with:  chimerax " + os.path.basename(self.path)
            + "   (or 'open " + os.path.basename(self.path) + "' in ChimeraX).",
            "# Map paths are relative to this script's folder; ChimeraX runs it from there.",
            f"# Its maps go into model #{self.model_id} (#{self.model_id}.1, "
            f"#{self.model_id}.2, ...); the session's other models are left alone.",
            f"# Only an earlier #{self.model_id} (this scene opened before) is closed.",
            f"close #{self.model_id}",
        ]
        self.models = 0
        self.maps = {}
        self.surfaces = []

    @property
    def label_prefix(self):
        """Prefix of this scene's 2-D label names (unique per scene kind)."""
        return f"locspiral{self.model_id}"

    @property
    def kind(self):
        """The scene kind (``locbfactor``, ...; ``scene<id>`` for other ids): the prefix of
        its alias names, so that two scenes in one session keep their own views."""
        return _SCENE_KINDS.get(self.model_id, f"scene{self.model_id}")

    def alias_name(self, view):
        """``<kind>_<view>``, e.g. ``locbfactor_showamplitude``."""
        return f"{self.kind}_{view}"

    def title_position(self):
        """(x, y) of this scene's key title: one line higher per scene kind, so that titles
        of scenes opened together do not print over each other."""
        y = KEY_TITLE_POS[1] + TITLE_STEP * _scene_slot(self.model_id)
        return KEY_TITLE_POS[0], round(y, 4)

    def hide_other_keys(self):
        """``2dlabels change ##name=... visibility false`` for the key titles and notes of
        the other scene kinds: ChimeraX shows one colour key, the scene coloured last; the
        model specifiers match only labels that exist (none: no error)."""
        others = [f"locspiral{number}{part}" for number in sorted(SCENE_MODEL_IDS.values())
                  if number != self.model_id for part in ("title", "note")]
        return "2dlabels change " + " ".join(f"##name={n}" for n in others) + \
            " visibility false"

    def label(self, name, text, xpos, ypos, size, color=None, visible=True):
        """A named 2-D label, safe to write again when the scene is reopened.

        ``2dlabels create`` refuses a name that exists (ChimeraX 1.1+: 'Label "..." already
        exists', which stops the script), and ``2dlabels delete NAME`` does not accept a
        missing name. The label model's name is the label's, so ``2dlabels delete
        ##name=NAME`` (a model specifier: matching nothing is no error) removes an earlier
        run's label when there is one and does nothing otherwise."""
        self.command(f"2dlabels delete ##name={name}")
        self.command(f"2dlabels create {name} text {_quote(text)}"
                     + (f" color {color}" if color else "")
                     + f" xpos {_num(xpos)} ypos {_num(ypos)} size {int(size)}"
                     + ("" if visible else " visibility false"))

    def comment(self, text):
        for line in str(text).splitlines() or [""]:
            self.lines.append(("# " + line).rstrip())

    def command(self, *commands):
        for command in commands:
            if "\n" in command:
                raise ValueError(f"a command must be one line: {command!r}")
            self.lines.append(command)

    def open_map(self, path, voxel_size, origin=(0.0, 0.0, 0.0), level=None, color=None,
                 style="surface", show=True, transparency=None, name=None, dust=None):
        """Open a map as the next submodel, on the given grid; returns its model spec
        (``"103.2"``: write ``#`` before it in commands). ``dust``: ``surface dust`` size
        (Å) for a shown surface; None: :func:`dust_size`; 0: none."""
        written = script_path_for(path, self.folder, self.max_up)
        self.models += 1
        spec = f"{self.model_id}.{self.models}"
        temporary = f"locspiral_em_{self.model_id}_{self.models}"
        command = f"open {_quote(written)}"
        if not written.lower().endswith(MAP_SUFFIXES):
            command += " format mrc"
        self.command(command + f" name {temporary}")
        # The new map has whatever number was free; find it by its temporary name and move
        # it to its place in the scene's group (created by the first rename).
        label = name or os.path.splitext(os.path.basename(_clean_path(path)))[0]
        self.command(f"rename ##name={temporary} {_quote(label)} id #{spec}")
        x, y, z = (float(o) for o in origin)
        self.command(f"volume #{spec} voxelSize {_num(voxel_size)}",
                     f"volume #{spec} origin {_num(x)},{_num(y)},{_num(z)}")
        display = f"volume #{spec} style {style} step 1"
        if level is not None:
            display += f" level {_num(level)}"
        if color is not None:
            display += f" color {color}"
        if transparency is not None:
            display += f" transparency {_num(transparency)}"
        self.command(display)
        if show:
            size = dust_size(voxel_size) if dust is None else float(dust)
            if size > 0:
                self.command(f"surface dust #{spec} size {_num(size, 3)}")
                self.surfaces.append(spec)
        else:
            self.command(f"volume #{spec} hide")
        self.maps[spec] = os.path.abspath(_clean_path(path))
        return spec

    def key_title(self, text, visible=True):
        """The label above the colour key (named :meth:`title_label`, at
        :meth:`title_position`)."""
        x, y = self.title_position()
        self.label(self.title_label(), text, x, y, 18, visible=visible)

    def title_label(self):
        return self.label_prefix + "title"

    def note_label(self):
        return self.label_prefix + "note"

    def no_value_note(self, visible=True):
        """The label under the key explaining the grey of voxels outside the mask."""
        self.label(self.note_label(), "grey: outside the mask (no value)", KEY_NOTE_POS[0],
                   KEY_NOTE_POS[1], 14, visible=visible)

    def alias(self, view, commands):
        """``alias <kind>_<view> c1; c2; ...`` (a one-word command that replays
        ``commands``); returns the alias name (see :meth:`alias_name`)."""
        for c in commands:
            if c.lstrip().startswith("#"):
                raise ValueError("an alias command cannot start with '#'")
        name = self.alias_name(view)
        self.command(f"alias {name} " + "; ".join(commands))
        return name

    def finish(self):
        self.command(f"rename #{self.model_id} {_quote(self.group_name)}",
                     "set bgColor white", "lighting soft", f"view #{self.model_id}")

    def write(self):
        """Write the script (atomically, or into a run's output set while it is staged)
        and return its absolute path."""
        from .outputs import write_text_file
        write_text_file(self.path, "\n".join(self.lines) + "\n")
        return self.path


def _range_or_default(vmin, vmax, default):
    lo = default[0] if vmin is None else float(vmin)
    hi = default[1] if vmax is None else float(vmax)
    if not hi > lo:
        raise ValueError(f"the colour range needs vmin < vmax, got {lo:g}, {hi:g}")
    return lo, hi


# -- one script per result ----------------------------------------------------------------
class _Values(NamedTuple):
    """A map to colour by, as a scene opens it: the file, its NoValue (None: as is) and the
    colour range (None: ChimeraX's full range)."""
    path: str
    no_value: object
    value_range: object


def _values_for(script, path, palette, value_range, mask):
    """The file a scene colours from: with a ``mask`` (and a palette whose colours are
    known here) a display copy with grey outside the mask, its range's missing ends from
    the values in the mask; else the map itself (range None unless both ends are given)."""
    lo, hi = (None, None) if value_range is None else (value_range[0], value_range[1])
    if mask is None or palette_colors(palette) is None:
        given = None if lo is None or hi is None else _range_or_default(lo, hi, (lo, hi))
        return _Values(path, None, given)
    copy, no_value, used = write_display_copy(script, path, mask, lo, hi)
    _range_or_default(used[0], used[1], used)  # refuses vmin >= vmax
    return _Values(copy, no_value, used)


def _colour_scene(s, surface, values, palette, value, title):
    """Commands colouring ``#surface`` by ``#values``: an explicit range gives an exact key,
    None lets ChimeraX take the full value range and draw the key itself. The session has
    one colour key, now this scene's: the other scenes' key titles and notes are hidden
    first (:meth:`ScriptWriter.hide_other_keys`)."""
    if value.value_range is None:
        return [s.hide_other_keys(),
                f"color sample #{surface} map #{values} palette {palette} range full key true",
                f"2dlabels change {s.title_label()} text {_quote(title)} visibility true",
                f"2dlabels change {s.note_label()} visibility false"]
    lo, hi = _range_or_default(value.value_range[0], value.value_range[1], (None, None))
    return [s.hide_other_keys()] + color_by_map_commands(
        surface, values, palette, lo, hi, title, value.no_value, s.title_label(),
        s.note_label())


def _maybe_level(level, path, mask):
    """The given level, or with a mask and no level the map's :func:`suggest_level`."""
    if level is None and mask is not None:
        return _level_from_file(path, mask)
    return level


def enhancement_script(path, enhanced, original, voxel_size, origin=(0.0, 0.0, 0.0),
                       level_enhanced=None, level_original=None, quality=None,
                       quality_palette=QUALITY_PALETTE, quality_range=None,
                       title="LocSpiral enhanced map", mask=None, model_id=None, dust=None):
    """Script comparing an enhanced (LocSpiral) or sharpened (LocBSharpen, LocSharpen) map
    with the original map.

    Models (in group #101, or #102 when ``title`` names LocBSharpen, #106 when it names
    LocSharpen; ``model_id`` sets it):
    .1 enhanced map (gold surface at ``level_enhanced``), .2 original map (grey mesh at
    ``level_original``), .3 the quality map W when ``quality`` is given (hidden).
    Aliases typed in ChimeraX switch views, prefixed with the scene kind (``locspiral_``,
    ``locbsharpen_``, ``locsharpen_``): ``..._showenhanced``, ``..._showoriginal``,
    ``..._showboth`` (the default) and, with a quality map, ``..._showquality``: the
    enhanced surface coloured by
    W over ``quality_range`` = (vmin, vmax) (e.g. :func:`robust_range` of W in the mask;
    None: W's full range, or the robust range in ``mask`` when one is given).

    ``enhanced``, ``original``, ``quality``: map file paths. ``origin``: x, y, z Å of grid
    index 0 (see :func:`map_origin`). ``mask`` (boolean array or mask file): W is shown from
    a display copy, grey outside the mask; levels left None are then taken from the maps
    with :func:`suggest_level` (without a mask ChimeraX chooses). ``dust``: surface dust
    size in Å (None: :func:`dust_size`, 0: off). Returns the script's absolute path.
    """
    if model_id is None:
        kind = title.lower()
        model_id = SCENE_MODEL_IDS["locsharpen" if "locsharpen" in kind else
                                   "locbsharpen" if "sharpen" in kind else "locspiral"]
    level_enhanced = _maybe_level(level_enhanced, enhanced, mask)
    level_original = _maybe_level(level_original, original, mask)
    s = ScriptWriter(path, title, model_id=model_id)
    s.comment(f"#{model_id}.1 {title}; #{model_id}.2 original map"
              + (f"; #{model_id}.3 quality map W" if quality else ""))
    m1 = s.open_map(enhanced, voxel_size, origin, level_enhanced, color="#d4a017",
                    name=title, dust=dust)
    m2 = s.open_map(original, voxel_size, origin, level_original, color="#808080",
                    style="mesh", name="original map", dust=dust)
    views = [s.alias("showenhanced", [f"volume #{m1} show", f"volume #{m2} hide"]),
             s.alias("showoriginal", [f"volume #{m1} hide", f"volume #{m2} show"]),
             s.alias("showboth", [f"volume #{m1} show", f"volume #{m2} show"])]
    if quality is not None:
        value = _values_for(path, quality, quality_palette, quality_range, mask)
        m3 = s.open_map(value.path, voxel_size, origin, show=False, name="quality map W")
        s.key_title("Quality map W", visible=False)
        s.no_value_note(visible=False)
        views.append(s.alias("showquality", [f"volume #{m1} show", f"volume #{m2} hide"]
                             + _colour_scene(s, m1, m3, quality_palette, value,
                                             "Quality map W")))
    s.finish()
    s.command("echo Type " + ", ".join(views) + " to switch views.")
    return s.write()


def bfactor_script(path, map_path, bfactor_path, amplitude_path=None, voxel_size=1.0,
                   origin=(0.0, 0.0, 0.0), level=None, palette=B_PALETTE, vmin=None,
                   vmax=None, amplitude_palette=AMPLITUDE_PALETTE, amplitude_range=None,
                   mask=None, model_id=None, dust=None):
    """Script showing the input map's surface coloured by the local B-factor map.

    Models (group #103, or ``model_id``): .1 the map (surface at ``level``), .2 the B map,
    .3 the A (amplitude) map when given (both hidden). The surface is coloured with ``color
    sample #103.1 map #103.2 palette v,colour:...`` and a colour key titled "Local B-factor
    (Å²)". Aliases: ``locbfactor_showbfactor`` (this scene, the default) and
    ``locbfactor_showamplitude`` (the
    same surface coloured by the A map over ``amplitude_range`` = (vmin, vmax); None: A's
    full range, or its robust range in ``mask``).

    ``vmin``, ``vmax`` (Å^2): colour range, e.g. :func:`robust_range` of the B map inside the
    mask (with a ``mask``: that; without: -150, 0). ``mask``: the voxels where B (and A) are
    defined, e.g. ``LocalBFactor.mask`` (boolean array or mask file); the B and A maps are
    then shown from display copies, grey outside it, and a ``level`` left None is taken
    from the map with :func:`suggest_level`. Returns the script's absolute path.
    """
    if mask is None or (vmin is not None and vmax is not None):
        lo, hi = _range_or_default(vmin, vmax, (-150.0, 0.0))
    else:
        lo, hi = vmin, vmax  # the missing end comes from the B map inside the mask
    if model_id is None:
        model_id = SCENE_MODEL_IDS["locbfactor"]
    level = _maybe_level(level, map_path, mask)
    s = ScriptWriter(path, "LocBFactor local B-factor", model_id=model_id)
    s.comment(f"#{model_id}.1 map; #{model_id}.2 local B-factor map (B for sharpening, Å^2, "
              "negative = decaying)"
              + (f"; #{model_id}.3 local amplitude map A" if amplitude_path else ""))
    m1 = s.open_map(map_path, voxel_size, origin, level, color=MAP_COLOR, name="map",
                    dust=dust)
    b_value = _values_for(path, bfactor_path, palette, (lo, hi), mask)
    if b_value.value_range is None:  # a passed-through palette without a mask
        b_value = b_value._replace(value_range=_range_or_default(lo, hi, (-150.0, 0.0)))
    m2 = s.open_map(b_value.path, voxel_size, origin, show=False, name="local B-factor")
    b_title = "Local B-factor (Å²)"
    s.key_title(b_title)
    s.no_value_note(visible=b_value.no_value is not None)
    b_scene = _colour_scene(s, m1, m2, palette, b_value, b_title)
    scenes = [s.alias_name("showbfactor")]
    if amplitude_path is not None:
        a_value = _values_for(path, amplitude_path, amplitude_palette, amplitude_range, mask)
        m3 = s.open_map(a_value.path, voxel_size, origin, show=False,
                        name="local amplitude A")
        scenes.append(s.alias("showamplitude", _colour_scene(
            s, m1, m3, amplitude_palette, a_value, "Local amplitude A (log)")))
    s.alias("showbfactor", b_scene)
    s.comment("Scene 1: the map coloured by the local B-factor")
    s.command(*b_scene)
    s.finish()
    s.command("echo Type " + " or ".join(scenes) + " to switch the colouring.")
    return s.write()


def occupancy_script(path, map_path, occupancy_path, voxel_size=1.0, origin=(0.0, 0.0, 0.0),
                     level=None, palette=OCCUPANCY_PALETTE, vmin=0.0, vmax=1.0, mask=None,
                     model_id=None, dust=None):
    """Script showing the map's surface coloured by the local occupancy map (0..1), with a
    colour key. Models (group #104, or ``model_id``): .1 map, .2 occupancy map (hidden).
    ``mask``: the mask LocOccupancy was given (boolean array or mask file): the occupancy is
    shown from a display copy, grey outside it (occupancy 0 there is no measurement), and a
    ``level`` left None is taken from the map. Returns the script's path."""
    lo, hi = _range_or_default(vmin, vmax, (0.0, 1.0))
    if model_id is None:
        model_id = SCENE_MODEL_IDS["lococcupancy"]
    level = _maybe_level(level, map_path, mask)
    s = ScriptWriter(path, "LocOccupancy local occupancy", model_id=model_id)
    s.comment(f"#{model_id}.1 map; #{model_id}.2 local occupancy map (0..1)")
    m1 = s.open_map(map_path, voxel_size, origin, level, color=MAP_COLOR, name="map",
                    dust=dust)
    value = _values_for(path, occupancy_path, palette, (lo, hi), mask)
    if value.value_range is None:
        value = value._replace(value_range=(lo, hi))
    m2 = s.open_map(value.path, voxel_size, origin, show=False, name="local occupancy")
    s.key_title("Local occupancy")
    s.no_value_note(visible=value.no_value is not None)
    s.command(*_colour_scene(s, m1, m2, palette, value, "Local occupancy"))
    s.finish()
    return s.write()


def maturity_script(path, mature_path, missing_paths, voxel_size=1.0,
                    origin=(0.0, 0.0, 0.0), level=None, names=None, indices=None,
                    colors=None, missing_levels=None, mature_transparency=0.7,
                    model_id=None, dust=None):
    """Script showing the mature map and, in its own colour, the density each immature map
    lacks (the "missing" maps of :func:`maturity_index`: mature density where the immature
    map is not highly occupied).

    Models (group #105, or ``model_id``): .1 mature map (light grey, transparent, at
    ``level``), .2.. one missing-density map per immature map (solid colour, at
    ``missing_levels[i]``, default ``level``). All surfaces get ``surface dust`` (``dust``
    Å; None: :func:`dust_size`): a missing map is a difference and carries specks. A 2-D
    legend lists each map's name, colour and maturity index. Aliases
    ``maturity_showmissing1``, ``maturity_showmissing2``, ... show the mature map with only
    that map's missing density, and ``maturity_showallmissing`` restores all. Returns the
    script's absolute path.
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
    if model_id is None:
        model_id = SCENE_MODEL_IDS["maturity"]
    s = ScriptWriter(path, "maturity index: missing density", model_id=model_id)
    s.comment(f"#{model_id}.1 mature map; #{model_id}.2.. density of the mature map missing "
              "from each immature map")
    m0 = s.open_map(mature_path, voxel_size, origin, level, color=MATURE_COLOR,
                    transparency=mature_transparency, name="mature map", dust=dust)
    models = []
    for p, name, colour, lev in zip(missing_paths, names, colors, levels):
        models.append(s.open_map(p, voxel_size, origin, lev, color=colour,
                                 name=f"missing in {name}", dust=dust))
    legend = s.label_prefix + "legend"
    s.label(f"{legend}0", "Missing density (mature map in grey)", 0.03, 0.95, 18)
    for i, (name, colour) in enumerate(zip(names, colors)):
        text = f"{name}" + (f": maturity {float(indices[i]):.2f}" if indices is not None else "")
        s.label(f"{legend}{i + 1}", text, 0.03, round(0.95 - 0.045 * (i + 1), 4), 16,
                color=colour)
    # Legend lines of an earlier run of this scene with more immature maps.
    for i in range(count + 1, max(count, LEGEND_SLOTS) + 1):
        s.command(f"2dlabels delete ##name={legend}{i}")
    for i, m in enumerate(models):
        others = [f"volume #{o} hide" for o in models if o != m]
        s.alias(f"showmissing{i + 1}", [f"volume #{m0} show", f"volume #{m} show"] + others)
    if models:
        s.alias("showallmissing", [f"volume #{m0} show"] + [f"volume #{m} show" for m in models])
    s.finish()
    if models:
        s.command(f"echo Type {s.alias_name('showmissing1')} ... "
                  f"{s.alias_name(f'showmissing{len(models)}')} or "
                  f"{s.alias_name('showallmissing')} to switch views.")
    return s.write()
