"""Write the Doppio visualisation-script file for a job's ChimeraX scene.

Run as the last command of each pipeliner job::

    python -m locspiral_em.ccpem.scene SUMMARY.json OUT.json [EXTRA_MAP ...]

``SUMMARY.json`` is what ``locspiral-em ... --json`` wrote: ``{"outputs": {name: path},
"scene": path-or-null, "results": {...}, "warnings": [...]}``. ``OUT.json`` gets the
pipeliner's VisualisationScript layout (as ``pipeliner.utils.write_script_json`` writes it):
``{"script": <the .cxc>, "data": [every map the scene opens]}``. Doppio reads "data" to know
which files to hand to the viewer with the script, so it lists those of the output maps and
the input maps given as EXTRA_MAP (the scene shows the input map, or the half-map average,
which is then an output) that the script's ``open`` lines name, under the summary's
(project-relative) names.

Standalone on purpose (standard library only): it must not import the pipeliner, which is not
needed to write a JSON file, nor the numerical core.
"""
import json
import os
import shlex
import sys

MAP_SUFFIXES = (".mrc", ".map", ".ccp4", ".mrcs")


def opened_files(script):
    """Real paths of the files a ``.cxc`` opens (``open PATH ...`` lines; relative paths are
    relative to the script's folder, where ChimeraX runs it)."""
    folder = os.path.dirname(os.path.abspath(script))
    opened = set()
    with open(script, encoding="utf-8") as handle:
        for line in handle:
            if not line.lstrip().startswith("open "):
                continue  # other lines may hold free text (labels, echo) with stray quotes
            try:
                words = shlex.split(line, comments=True)
            except ValueError:  # unbalanced quotes: take the path as the next word
                words = line.split()
            if len(words) >= 2:
                opened.add(os.path.realpath(os.path.join(folder, words[1])))
    return opened


def scene_data(summary, extra=()):
    """(script path, data list) from a ``--json`` summary dict: the candidate maps (EXTRA
    and the outputs) that the script opens, as the summary names them (project-relative).
    Raises ValueError when the summary has no scene (the command ran without
    ``--chimerax``)."""
    script = summary.get("scene")
    if not script:
        raise ValueError("the summary has no ChimeraX scene (was --chimerax given?)")
    opened = opened_files(script)
    data = []
    for path in list(extra) + list(_output_paths(summary.get("outputs", {}))):
        if (path and path.lower().endswith(MAP_SUFFIXES) and path not in data
                and os.path.realpath(path) in opened):
            data.append(path)
    return script, data


def _output_paths(outputs):
    # "outputs" is {name: path}; a list of paths per name is accepted too.
    for value in outputs.values():
        if isinstance(value, (list, tuple)):
            yield from value
        else:
            yield value


def write_scene_json(summary_path, out_path, extra=()):
    with open(summary_path, encoding="utf-8") as handle:
        summary = json.load(handle)
    if not summary.get("scene") or not os.path.isfile(summary["scene"]):
        raise FileNotFoundError(f"no ChimeraX scene file: {summary.get('scene')}")
    script, data = scene_data(summary, extra)
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump({"script": script, "data": data}, handle, indent=1)
    os.replace(tmp, out_path)  # never a half-written node file
    return out_path


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        print("usage: python -m locspiral_em.ccpem.scene SUMMARY.json OUT.json [MAP ...]",
              file=sys.stderr)
        return 2
    try:
        write_scene_json(argv[0], argv[1], argv[2:])
    except (OSError, ValueError) as exc:
        print(f"locspiral_em.ccpem.scene: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
