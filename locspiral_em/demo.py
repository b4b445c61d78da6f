"""``locspiral-em demo``: every method on the bundled example phantom, written to a folder.

The example is generated (``core.demo_phantom``): three pseudo-atom domains in a 128^3 box at
1 Å/voxel, blurred by B = 40, 120 and 40 Å^2, the last one half occupied, with two noisy half
maps. Methods: LocSpiral, LocBSharpen, LocSharpen, LocBFactor, LocOccupancy and the maturity
index. Expect the B map to be clearly more negative on the blurred domain and the occupancy
map lower on the half-occupied one.

:func:`compute_demo` does the analysis (``docs/make_figures.py`` draws the README's figures
from it, so they show this demo); :func:`run_demo` writes it to a folder.

The methods run with the automatic mask (``core.auto_mask`` of the half-map average), as a
user's map would, not with the phantom's true mask; the summary says how much of the domains
it covers.
"""
import os
import sys
from typing import Dict, List, NamedTuple

import numpy as np

from . import core
from .core import InputError

SEED = 0  # the example's atoms and noise; the isolated-domain references use the same atoms
SIZE = 128  # the demo's box (``locspiral-em demo --size``)
MIN_RES = 25.0          # Å: LocSpiral, LocBSharpen, LocSharpen, LocOccupancy, maturity
MIN_RES_B = 15.0        # Å: LocBFactor
MAX_RES_OCCUPANCY = 10.0  # Å: LocOccupancy and maturity (the published 25-10 Å)
MATURITY_LABELS = ("complete", "one_missing", "two_missing")


class Demo(NamedTuple):
    """Everything the demo computed: the phantom, its automatic mask, the max resolution
    used, the output maps by name, LocBFactor's and LocSharpen's results and the maturity
    results (one per ``MATURITY_LABELS``)."""
    phantom: core.Phantom
    auto: core.AutoMask
    fsc_res: float
    max_res: float
    out: Dict[str, np.ndarray]
    bfactor: core.LocalBFactor
    sharpened: core.SharpenedMap
    maturity: List[core.Maturity]


def compute_demo(size=SIZE, workers=None, say=None):
    """Run every method on the demo phantom of ``size``^3 (automatic mask, max resolution
    the half-map FSC, not finer than 2.5 voxels); ``say(line)`` for progress lines."""
    say = say or (lambda *a: None)
    ph = core.demo_phantom(size, seed=SEED)
    p = ph.voxel_size
    res = core.fsc(ph.half1, ph.half2, p, workers=workers).resolution
    max_res = max(res, 2.5 * p)
    say(f"demo phantom {size}^3 at {p:g} Å/voxel; half-map FSC 0.143: {res:.2f} Å; "
        f"using max resolution {max_res:.2f} Å")
    auto = core.auto_mask(ph.map, p, workers=workers)
    mask = auto.mask
    say(f"automatic mask: {auto.volume:.0f} Å^3, {100 * auto.box_fraction:.1f}% of the box, "
        f"threshold {auto.threshold:.4g} on the {auto.lowpass:g} Å low-passed map")
    for warning in auto.warnings:
        say(f"warning: {warning}")
    out = {}
    say("LocSpiral ...")
    out["locspiral"], out["locspiral_quality"] = core.locspiral(
        ph.map, mask, p, MIN_RES, max_res, workers=workers)
    say("LocBSharpen ...")
    out["locbsharpen"], out["locbsharpen_quality"] = core.locbsharpen(
        ph.map, mask, p, MIN_RES, max_res, workers=workers)
    say("LocSharpen ...")
    # The half maps give the Wiener weight its noise, as `locspiral-em locsharpen` does.
    sharpened = core.locsharpen(ph.map, mask, p, MIN_RES, max_res,
                                half_maps=(ph.half1, ph.half2), workers=workers)
    out["locsharpen"], out["locsharpen_bfactor"] = sharpened.map, sharpened.bfactor
    say("LocBFactor ...")
    bf = core.locbfactor(ph.map, mask, p, MIN_RES_B, max_res, workers=workers)
    out["bfactor"], out["amplitude"] = bf.bfactor, bf.amplitude
    say("LocOccupancy ...")
    out["occupancy"] = core.lococcupancy(ph.map, mask, p, MIN_RES, MAX_RES_OCCUPANCY,
                                         workers=workers)
    say("Maturity index ...")
    # Immature stand-ins: the map without the half-occupied domain, and without two domains.
    one_missing = np.where(ph.domains[2], 0, ph.clean).astype(np.float32)
    two_missing = np.where(ph.domains[1] | ph.domains[2], 0, ph.clean).astype(np.float32)
    maturity = core.maturity_index(mask, [ph.clean, one_missing, two_missing], p, MIN_RES,
                                   MAX_RES_OCCUPANCY, mature_map=ph.clean, workers=workers)
    return Demo(ph, auto, res, max_res, out, bf, sharpened, maturity)


def run_demo(folder, size=SIZE, workers=None, quiet=False, force=False):
    """Compute the demo and write it to ``folder`` as one output set (:mod:`..outputs`):
    locked, staged and committed together or not at all, as a method's run."""
    from . import outputs
    folder = os.fspath(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise InputError(f"{folder} exists and is not a folder; choose another -o folder")
    if int(size) < 32:
        raise InputError(f"--size must be at least 32 voxels, got {size}")
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, file=sys.stderr))
    path = lambda name: os.path.join(folder, name)  # noqa: E731
    # The method maps and scenes join the set as they are written; these are known now.
    names = ["half1.mrc", "half2.mrc", "map.mrc", "mask.mrc", "summary.txt"]
    planned = {os.path.splitext(name)[0]: path(name) for name in names}
    outputs.check_outputs(planned)  # before computing: writable, no folder in the way
    with outputs.run_scope(lambda line: print(line, file=sys.stderr)):
        lock = outputs.hold(path("locspiral_demo"))  # one demo per folder at a time
        mine = os.path.basename(lock.path)
        if not force and any(name != mine for name in _listdir(folder)):
            raise InputError(f"{folder} exists and is not empty; choose another -o folder "
                             "or add --force")
        return _compute_and_write(folder, path, planned, size, workers, say)


def _listdir(folder):
    return os.listdir(folder) if os.path.isdir(folder) else []


def _compute_and_write(folder, path, planned, size, workers, say):
    from . import outputs
    demo = compute_demo(size, workers, say)
    ph, auto, max_res, out, bf = demo.phantom, demo.auto, demo.max_res, demo.out, demo.bfactor
    mask, maturity, p = auto.mask, demo.maturity, ph.voxel_size

    items = [("half1.mrc", ph.half1), ("half2.mrc", ph.half2), ("map.mrc", ph.map),
             ("mask.mrc", mask.astype(np.float32))]
    items += [(f"{name}.mrc", array) for name, array in out.items()]
    labels = list(MATURITY_LABELS)
    for label, m in zip(labels, maturity):
        items += [(f"maturity_{label}_occupancy.mrc", m.occupancy),
                  (f"maturity_{label}_missing.mrc", m.missing)]

    lines = []
    for j, (name, d, region) in enumerate(zip(("sharp", "blurred", "half-occupied"),
                                              ph.spec, ph.domains)):
        inside = region & bf.mask
        lines.append(f"  {name:14s} true B {-d.bfactor:7.1f}  Guinier B alone "
                     f"{_isolated_guinier(ph, j, MIN_RES_B, max_res):7.1f}  local B median "
                     f"{np.median(bf.bfactor[inside]):7.1f} Å^2   occupancy "
                     f"{d.occupancy:.1f} -> mean {out['occupancy'][region].mean():.2f}")
    lines.append("  maturity index: " + ", ".join(
        f"{label} {m.index:.2f}" for label, m in zip(labels, maturity))
        + "; normalised (complete = 1): " + ", ".join(
        f"{label} {m.normalised:.2f}" for label, m in zip(labels, maturity)))
    covered = [100.0 * np.count_nonzero(region & mask) / np.count_nonzero(region)
               for region in ph.domains]
    lines.append(f"  automatic mask ({auto.lowpass:g} Å low-pass, threshold "
                 f"{auto.threshold:.4g}, dilated {auto.dilation:g} Å): {auto.volume:.0f} Å^3, "
                 f"{100 * auto.box_fraction:.1f}% of the box, covers "
                 + "/".join(f"{c:.0f}" for c in covered) + "% of the domains")
    summary = "\n".join(lines)

    # Maps, scenes (with their display copies) and summary: staged, then renamed into place
    # together; a failure or Ctrl-C before that leaves the folder as it was.
    with outputs.OutputSet(outputs.current_anchor(), planned,
                           order_last=("summary",)) as staged, staged.active():
        staged.write_maps([(path(name), array) for name, array in items], p)
        scenes = _write_scenes(folder, ph.map, mask, out, bf, maturity, labels, p)
        staged.write_text(path("summary.txt"), lambda handle: handle.write(summary + "\n"))
        staged.commit()
    print(f"demo: wrote {len(items)} maps and {len(scenes)} ChimeraX scenes "
          f"(chimerax {scenes[0]}) to {folder}\n{summary}")
    return folder


def _isolated_guinier(ph, j, min_res, max_res):
    """Global Guinier B of domain ``j`` alone (same atoms, no noise) over the local fit's
    range: what the local B can recover. It is steeper than the Debye-Waller B because a
    small ball of atoms still carries its shape at 15 Å (no Wilson statistics yet)."""
    spec = [d if i == j else d._replace(occupancy=0.0) for i, d in enumerate(ph.spec)]
    alone = core.make_phantom(ph.clean.shape, ph.voxel_size, spec, noise=0.0, seed=SEED).clean
    return core.global_bfactor(alone, ph.voxel_size, min_res, max_res).bfactor


def _write_scenes(folder, volume, mask, out, bf, maturity, labels, p):
    """One ChimeraX scene per method, next to the maps it opens."""
    from . import chimerax as cx
    path = lambda name: os.path.join(folder, name)  # noqa: E731
    level = cx.suggest_level(volume, mask)
    scenes = []
    for method, title in (("locspiral", "LocSpiral enhanced map"),
                          ("locbsharpen", "LocBSharpen map")):
        cx.enhancement_script(path(f"{method}.cxc"), path(f"{method}.mrc"), path("map.mrc"), p,
                              level_enhanced=cx.suggest_level(out[method], mask),
                              level_original=level, quality=path(f"{method}_quality.mrc"),
                              quality_range=cx.robust_range(out[f"{method}_quality"], mask),
                              title=title, mask=mask)
        scenes.append(f"{method}.cxc")
    # LocSharpen: the sharpened map over the input, as the run layer's scene (no W map).
    cx.enhancement_script(path("locsharpen.cxc"), path("locsharpen.mrc"), path("map.mrc"), p,
                          level_enhanced=cx.suggest_level(out["locsharpen"], mask),
                          level_original=level, mask=mask, title="LocSharpen map",
                          model_id=cx.SCENE_MODEL_IDS["locsharpen"])
    scenes.append("locsharpen.cxc")
    vmin, vmax = cx.robust_range(bf.bfactor, bf.mask)
    cx.bfactor_script(path("bfactor.cxc"), path("map.mrc"), path("bfactor.mrc"),
                      path("amplitude.mrc"), p, level=level, vmin=vmin, vmax=vmax,
                      amplitude_range=cx.robust_range(bf.amplitude, bf.mask), mask=bf.mask)
    cx.occupancy_script(path("occupancy.cxc"), path("map.mrc"), path("occupancy.mrc"), p,
                        level=level, mask=mask)
    cx.maturity_script(path("maturity.cxc"), path("map.mrc"),
                       [path(f"maturity_{label}_missing.mrc") for label in labels], p,
                       level=level, names=labels, indices=[m.index for m in maturity])
    scenes += ["bfactor.cxc", "occupancy.cxc", "maturity.cxc"]
    return [os.path.join(folder, name) for name in scenes]
