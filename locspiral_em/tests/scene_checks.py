"""Checks shared by the ChimeraX, figure and viewer tests: reading a generated ``.cxc`` script
as ChimeraX would (model ids, files, grid, colour stops), replaying scripts in a simulated
ChimeraX session (:class:`Session`: models, 2-D labels, aliases, the key; a second
``2dlabels create`` of a name is an error, as in ChimeraX) and checking a PNG.

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


# -- a simulated ChimeraX session ---------------------------------------------------------
class ChimeraXError(Exception):
    """A command ChimeraX would refuse (a ``.cxc`` stops at the first one)."""


_SPEC = re.compile(r"#(\d+(?:\.\d+)*)")


class Session:
    """The state of a ChimeraX session that the scenes touch, to replay scripts in turn.

    Holds models (id tuples -> name; a group model appears when a map is renamed into
    it), named 2-D labels (name -> {text, xpos, ypos, visible}), aliases (name -> (owning
    script, commands)) and the colour key (owning script). Commands are checked the way
    ChimeraX treats them (``chimerax.label.label2d``, ``std_commands``):

    * ``2dlabels create NAME`` is an error when NAME exists ('Label "NAME" already
      exists', ChimeraX 1.1+); ``2dlabels change NAME`` and ``2dlabels delete NAME`` need
      NAME to exist; ``2dlabels delete|change ##name=NAME`` (a model specifier) is
      never an error and acts on NAME when it exists;
    * ``close #N`` removes #N and its submodels, and is no error when there are none;
    * ``open FILE ... name T`` needs the file (relative to the script's folder) and gives
      the map the lowest free top-level id; ``rename ##name=T LABEL id #G.k`` needs exactly
      one model named T and a free #G.k;
    * ``volume``, ``surface dust``, ``color sample`` and ``view`` refer to models that exist
      (ChimeraX would silently do nothing: here it is an error, since the scene meant one);
    * typing an alias's name replays its commands.
    """

    def __init__(self):
        self.models = {}
        self.labels = {}
        self.aliases = {}
        self.key_owner = None
        self.log = []

    # models
    def _ids(self, text):
        return tuple(int(p) for p in text.split("."))

    def _need(self, spec, line):
        ident = self._ids(spec)
        if ident not in self.models:
            raise ChimeraXError(f"no model #{spec}: {line}")
        return ident

    def _free_top_id(self):
        used = {ident[0] for ident in self.models}
        number = 1
        while number in used:
            number += 1
        return number

    def run_script(self, script):
        """Run every command of ``script`` in order (raises :class:`ChimeraXError` at the
        first failing one, as ChimeraX stops a ``.cxc``)."""
        folder = os.path.dirname(os.path.abspath(script))
        for line in commands(script):
            self.run(line, folder=folder, owner=os.path.abspath(script))

    def run(self, line, folder=".", owner=None):
        self.log.append(line)
        word, _, rest = line.partition(" ")
        if word in self.aliases and not rest:
            alias_owner, parts = self.aliases[word]
            for part in parts:
                self.run(part, folder=folder, owner=alias_owner)
            return
        handler = getattr(self, "_cmd_" + word.replace("2dlabels", "labels"), None)
        if handler is None:
            raise ChimeraXError(f"unknown command: {line}")
        handler(rest, line, folder, owner)

    def _cmd_close(self, rest, line, folder, owner):
        match = re.fullmatch(r"#(\d+(?:\.\d+)*)", rest.strip())
        if not match:
            raise ChimeraXError(f"the scenes close only their own group: {line}")
        ident = self._ids(match.group(1))
        for other in list(self.models):
            if other[:len(ident)] == ident:
                del self.models[other]

    def _cmd_open(self, rest, line, folder, owner):
        if rest.startswith('"'):
            path = rest[1:rest.index('"', 1)]
            tail = rest[rest.index('"', 1) + 1:]
        else:
            path, _, tail = rest.partition(" ")
        full = os.path.normpath(os.path.join(folder, path))
        if not os.path.exists(full):
            raise ChimeraXError(f"no such file {full}: {line}")
        name = re.search(r"\bname (\S+)", tail)
        self.models[(self._free_top_id(),)] = name.group(1) if name else os.path.basename(path)

    def _cmd_rename(self, rest, line, folder, owner):
        match = re.fullmatch(r"##name=(\S+) (.+) id #(\d+(?:\.\d+)*)", rest)
        if match is None:
            match = re.fullmatch(r"#(\d+) (.+)", rest)  # the group's own name
            if match is None:
                raise ChimeraXError(f"rename form not used by the scenes: {line}")
            self._need(match.group(1), line)
            self.models[self._ids(match.group(1))] = match.group(2).strip('"')
            return
        temporary, label, target = match.groups()
        found = [ident for ident, name in self.models.items() if name == temporary]
        if len(found) != 1:
            raise ChimeraXError(f"{len(found)} models named {temporary}: {line}")
        target = self._ids(target)
        if target in self.models:
            raise ChimeraXError(f"model #{'.'.join(map(str, target))} exists: {line}")
        del self.models[found[0]]
        for depth in range(1, len(target)):
            self.models.setdefault(target[:depth], "group")  # rename creates the parents
        self.models[target] = label.strip('"')

    def _cmd_volume(self, rest, line, folder, owner):
        spec = _SPEC.match(rest)
        if spec is None:
            raise ChimeraXError(f"volume without a model: {line}")
        self._need(spec.group(1), line)

    def _cmd_surface(self, rest, line, folder, owner):
        spec = re.fullmatch(r"dust #(\S+) size \S+", rest)
        if spec is None:
            raise ChimeraXError(f"surface form not used by the scenes: {line}")
        self._need(spec.group(1), line)

    def _cmd_color(self, rest, line, folder, owner):
        match = re.match(r"sample #(\S+) map #(\S+) palette \S+", rest)
        if match is None:
            raise ChimeraXError(f"color form not used by the scenes: {line}")
        self._need(match.group(1), line)
        self._need(match.group(2), line)
        if " key true" in rest:
            self.key_owner = owner

    def _cmd_key(self, rest, line, folder, owner):
        self.key_owner = owner

    def _cmd_view(self, rest, line, folder, owner):
        if rest.strip():
            self._need(rest.strip().lstrip("#"), line)

    def _cmd_alias(self, rest, line, folder, owner):
        name, _, body = rest.partition(" ")
        parts = [p.strip() for p in body.split(";")]
        if not name or not all(parts):
            raise ChimeraXError(f"empty alias or alias part: {line}")
        self.aliases[name] = (owner, parts)

    def _cmd_set(self, rest, line, folder, owner):
        pass

    _cmd_lighting = _cmd_echo = _cmd_set

    def _cmd_labels(self, rest, line, folder, owner):
        action, _, args = rest.partition(" ")
        words = args.split(" ")
        # A model specifier is one or more ##name=NAME (a union); it may match nothing.
        specs = []
        while words and words[0].startswith("##name="):
            specs.append(words.pop(0)[len("##name="):])
        if specs:
            if action == "create":
                raise ChimeraXError(f"not a label name: {line}")
            if action not in ("change", "delete"):
                raise ChimeraXError(f"2dlabels action not used by the scenes: {line}")
            for name in [n for n in specs if n in self.labels]:
                if action == "delete":
                    del self.labels[name]
                else:
                    self._label_options(name, " ".join(words), line)
            if action == "delete" and words:
                raise ChimeraXError(f"2dlabels delete takes no options: {line}")
            return
        name, options = (words[0] if words else ""), " ".join(words[1:])
        if action == "create":
            if not name or name == "all":
                raise ChimeraXError(f"not a label name: {line}")
            if name in self.labels:
                raise ChimeraXError(f'Label "{name}" already exists: {line}')
            self.labels[name] = dict(text="", xpos=0.5, ypos=0.5, visible=True)
            self._label_options(name, options, line)
        elif action in ("change", "delete"):
            if name not in self.labels:
                raise ChimeraXError(f"No label with name: '{name}': {line}")
            if action == "delete":
                del self.labels[name]
            else:
                self._label_options(name, options, line)
        else:
            raise ChimeraXError(f"2dlabels action not used by the scenes: {line}")

    def _label_options(self, name, options, line):
        tokens = re.findall(r'"[^"]*"|\S+', options)
        if len(tokens) % 2:
            raise ChimeraXError(f"an option without a value: {line}")
        label = self.labels[name]
        for key, value in zip(tokens[::2], tokens[1::2]):
            value = value.strip('"')
            if key == "text":
                label["text"] = value
            elif key in ("xpos", "ypos"):
                label[key] = float(value)
            elif key == "visibility":
                if value not in ("true", "false"):
                    raise ChimeraXError(f"visibility true or false: {line}")
                label["visible"] = value == "true"
            elif key not in ("size", "color"):
                raise ChimeraXError(f"2dlabels option {key} not used by the scenes: {line}")
