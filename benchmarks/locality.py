"""How local is LocBFactor? Contrast transfer across adjacent domains of different B.

    python benchmarks/locality.py --figure         # every case, 12-40 Å, 15-5 and 15-3 Å
    python benchmarks/locality.py --cases "window 16" --ranges 15 5

Local-resolution methods are judged by how much of a true step they recover between
neighbouring regions; this does the same for the local B. Phantom (``slab_phantom``): one
ball of pseudo-atoms (radius ``PARTICLE_A``, density 0.05 atoms per voxel) in a ``BOX``^3
box at ``VOXEL`` Å/voxel, cut into slabs of thickness L along x that alternate between
B = 40 and 160 Å^2 (a boundary through the centre), half maps with white noise of SD ``NOISE``
x the clean map's SD inside the mask (as validate_bfactor.py). Truth: for each kind of slab,
the global Guinier B (``core.global_bfactor``, same range) of the clean map of that kind
alone (the other slabs' atoms removed, the same atoms otherwise). Local value: the median
of the B map over the voxels of each kind in the slabs that lie whole inside the particle
(the caps cut by the ball's surface are in the map but not measured, so every measured slab
is L thick and has a slab of the other kind beside it). Contrast recovered:

    (median_B40 - median_B160) / (truth_B40 - truth_B160)

1 is a perfect step, 0 a map that does not see the domains. Next to it, the isolated-domain
bias: the whole ball at B 40 alone, and at B 160 alone (local median vs global Guinier B).

Writes benchmarks/locality.json and benchmarks/locality.md (and docs/figures/locality.png
with --figure).
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import scipy.fft as sfft

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from locspiral_em import core  # noqa: E402
from locspiral_em.core.phantom import ball, debye_waller  # noqa: E402

VOXEL = 1.2
BOX = 112            # 134 Å
PARTICLE_A = 42.0    # ball radius: 84 Å across, so 40 Å slabs still alternate
BLUR = (40.0, 160.0)
SIZES_A = (12.0, 17.0, 24.0, 30.0, 40.0)
# 15-5 Å: the B 160 slabs have signal above the noise in every band; 15-3 Å: their top
# bands are below it, and the sharp neighbours' spread-out power is what is measured there.
RANGES_A = ((15.0, 5.0), (15.0, 3.0))
NOISE = 0.5
DENSITY = 0.05

CASES = {
    # name: locbfactor options
    "published (bw 4.8 px)": dict(estimator="published", bw=4.8, bw_units="pixels"),
    "debiased, bw 0.02/Å (issue 10)": dict(bw=0.02, bw_units="inverse_angstrom"),
    "default (debiased, 12 Å window)": dict(),
    "window 16": dict(window=16.0),
    "window 14": dict(window=14.0),
    "window 10": dict(window=10.0),
    "window 9": dict(window=9.0),
    # The same 12 Å window split differently: less smoothing (0.032) or more (0.04).
    "window 12, bw 0.032": dict(window=12.0, bw=0.032, bw_units="inverse_angstrom"),
    "window 12, bw 0.04": dict(window=12.0, bw=0.04, bw_units="inverse_angstrom"),
    "default, filtered": dict(filtered=True),
}


def slab_kinds(shape, thickness_a, voxel=VOXEL):
    """Per voxel: the slab kind (0 for B 40, 1 for B 160; slabs of ``thickness_a`` Å across
    x, a boundary at the box centre) and whether the voxel's slab lies whole within
    ``PARTICLE_A`` of the centre."""
    x = (np.arange(shape[2]) - shape[2] / 2) * voxel
    index = np.floor(x / thickness_a).astype(int)
    kind = (index % 2).astype(np.int8)
    whole = (index * thickness_a >= -PARTICLE_A) & ((index + 1) * thickness_a <= PARTICLE_A)
    return (np.broadcast_to(kind[None, None, :], shape),
            np.broadcast_to(whole[None, None, :], shape))


def _atoms(shape, seed):
    """The particle (a ball of radius ``PARTICLE_A``), its point atoms (a random ``DENSITY``
    share of its voxels, the same for a given seed in every phantom) and the generator, for
    the noise that follows."""
    rng = np.random.default_rng(seed)
    particle = ball(shape, [n / 2 for n in shape], PARTICLE_A / VOXEL)
    sites = np.flatnonzero(particle)
    atoms = np.zeros(particle.size)
    atoms[rng.choice(sites, size=int(round(DENSITY * sites.size)), replace=False)] = 1.0
    return particle, atoms.reshape(shape), rng


def slab_phantom(thickness_a, box=BOX, noise=NOISE, seed=0):
    """The slab phantom for one slab thickness ``thickness_a`` (Å).

    Returns (map, mask, kinds, clean maps of each kind alone): ``kinds`` is a list of
    boolean volumes, the measured voxels (whole slabs, inside the particle) of each
    ``BLUR`` (B 40, then B 160)."""
    shape = (box,) * 3
    particle, atoms, rng = _atoms(shape, seed)
    k, whole = slab_kinds(shape, thickness_a)
    kinds = [particle & whole & (k == j) for j in range(len(BLUR))]
    alone = []
    for j, b in enumerate(BLUR):
        region = particle & (k == j)
        spectrum = sfft.rfftn(atoms * region)
        spectrum *= debye_waller(shape, VOXEL, b)
        alone.append(sfft.irfftn(spectrum, s=shape))
    clean = np.sum(alone, axis=0)
    mask = ball(shape, [n / 2 for n in shape], PARTICLE_A / VOXEL + 3)
    sd = clean[mask].std()
    half1 = clean + rng.normal(0.0, noise * sd, shape)
    half2 = clean + rng.normal(0.0, noise * sd, shape)
    return ((half1 + half2) / 2).astype(np.float32), mask, kinds, alone


def truth_of(alone, min_res, max_res):
    return [core.global_bfactor(a, VOXEL, min_res, max_res).bfactor for a in alone]


def measure(volume, mask, kinds, options, min_res, max_res, workers):
    t = time.time()
    res = core.locbfactor(volume, mask, VOXEL, min_res, max_res, num_points=10,
                          workers=workers, **options)
    local = [float(np.median(res.bfactor[k & res.mask])) for k in kinds]
    return local, float(res.window), time.time() - t


def run(cases, sizes, min_res, max_res, box=BOX, workers=1, seed=0):
    phantoms = {size: slab_phantom(size, box, seed=seed + int(size * 10)) for size in sizes}
    isolated = {b: _uniform_phantom(b, box, seed) for b in BLUR}
    rows = []
    for name, options in cases.items():
        row = {"case": name, "options": options, "range_A": [min_res, max_res],
               "isolated": {}, "slabs": []}
        for b, (vol, mask, kinds, alone) in isolated.items():
            truth = truth_of(alone, min_res, max_res)[0]
            local, window, sec = measure(vol, mask, kinds, options, min_res, max_res,
                                         workers)
            row["isolated"][f"{b:g}"] = {"truth": truth, "local": local[0],
                                         "error": (local[0] - truth) / abs(truth)}
            row["window_A"] = window
        for size in sizes:
            vol, mask, kinds, alone = phantoms[size]
            truth = truth_of(alone, min_res, max_res)
            local, window, sec = measure(vol, mask, kinds, options, min_res, max_res,
                                         workers)
            contrast = (local[1] - local[0]) / (truth[1] - truth[0])
            row["slabs"].append({"size_A": size, "truth": truth, "local": local,
                                 "contrast": contrast, "seconds": sec})
        rows.append(row)
        iso = row["isolated"]
        print(f"{min_res:g}-{max_res:g} Å {name:32s} window {row['window_A']:5.1f} Å  isolated "
              + " ".join(f"{100 * v['error']:+4.0f}%" for v in iso.values()) + "  contrast "
              + " ".join(f"{s['size_A']:g}Å:{100 * s['contrast']:3.0f}%" for s in row["slabs"]),
              flush=True)
    return rows


def _uniform_phantom(b, box, seed):
    """The whole ball at blur ``b`` (the slab phantom's atoms): an isolated domain."""
    shape = (box,) * 3
    particle, atoms, _ = _atoms(shape, seed)
    spectrum = sfft.rfftn(atoms)
    spectrum *= debye_waller(shape, VOXEL, b)
    clean = sfft.irfftn(spectrum, s=shape)
    mask = ball(shape, [n / 2 for n in shape], PARTICLE_A / VOXEL + 3)
    sd = clean[mask].std()
    rng = np.random.default_rng(seed + int(b))
    half1 = clean + rng.normal(0.0, NOISE * sd, shape)
    half2 = clean + rng.normal(0.0, NOISE * sd, shape)
    return ((half1 + half2) / 2).astype(np.float32), mask, [particle], [clean]


def markdown(rows, sizes, min_res, max_res, box):
    lines = [f"Slab phantom, {box}^3 at {VOXEL:g} Å/voxel, ball of radius {PARTICLE_A:g} Å, "
             f"slabs of B {BLUR[0]:g} / {BLUR[1]:g} Å^2, noise {NOISE:g}, fit "
             f"{min_res:g}-{max_res:g} Å. Contrast recovered = (median B 40 - median "
             "B 160) / (truth B 40 - truth B 160); isolated = the whole ball at one B, "
             "local median vs its global Guinier B.", "",
             "| case | window FWHM Å | isolated B 40 | isolated B 160 | "
             + " | ".join(f"contrast {s:g} Å" for s in sizes) + " |",
             "|---|---|---|---|" + "---|" * len(sizes)]
    for r in rows:
        iso = [r["isolated"][f"{b:g}"] for b in BLUR]
        lines.append(f"| {r['case']} | {r['window_A']:.1f} | "
                     + " | ".join(f"{v['local']:.1f} vs {v['truth']:.1f} "
                                  f"({100 * v['error']:+.0f}%)" for v in iso) + " | "
                     + " | ".join(f"{100 * s['contrast']:.0f}%" for s in r["slabs"]) + " |")
    lines += ["", "Slab medians (B 40 / B 160 slabs) against the truth (isolated Guinier B "
              "of each kind):", "",
              "| case | " + " | ".join(f"{s:g} Å" for s in sizes) + " |",
              "|---|" + "---|" * len(sizes)]
    for r in rows:
        lines.append(f"| {r['case']} | " + " | ".join(
            f"{s['local'][0]:.0f} / {s['local'][1]:.0f} (truth {s['truth'][0]:.0f} / "
            f"{s['truth'][1]:.0f})" for s in r["slabs"]) + " |")
    return "\n".join(lines) + "\n"


def figure(panels, path):
    """One panel per fit range: contrast recovered against slab thickness, per case."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for ax, rows in zip(axes[0], panels):
        for r in rows:
            default = r["options"] == {}
            ax.plot([s["size_A"] for s in r["slabs"]], [s["contrast"] for s in r["slabs"]],
                    "o-", lw=3 if default else 1.2, zorder=3 if default else 2,
                    label=f"{r['case']} ({r['window_A']:.0f} Å)")
        ax.axhline(1.0, color="grey", lw=0.5)
        ax.set_xlabel("domain (slab) thickness, Å")
        ax.set_ylabel("fraction of the true B contrast recovered")
        ax.set_ylim(0, 1.1)
        low, high = rows[0]["range_A"]
        ax.set_title(f"slabs of B {BLUR[0]:g} / {BLUR[1]:g} Å², fit {low:g}-{high:g} Å",
                     fontsize=9)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--sizes", type=float, nargs="+", default=list(SIZES_A))
    parser.add_argument("--ranges", type=float, nargs="+", default=[r for p in RANGES_A for r in p],
                        help="min max pairs, Å")
    parser.add_argument("--box", type=int, default=BOX)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--figure", action="store_true")
    parser.add_argument("--replot", action="store_true",
                        help="only redraw the figure from <out>.json")
    parser.add_argument("--out", default=os.path.join(HERE, "locality"))
    args = parser.parse_args(argv)
    png = os.path.join(os.path.dirname(HERE), "docs", "figures", "locality.png")
    if args.replot:
        with open(args.out + ".json") as f:
            stored = json.load(f)["rows"]
        ranges = list(dict.fromkeys(tuple(r["range_A"]) for r in stored))
        figure([[r for r in stored if tuple(r["range_A"]) == g] for g in ranges], png)
        return
    cases = {name: CASES[name] for name in args.cases}
    ranges = list(zip(args.ranges[::2], args.ranges[1::2]))
    rows = {r: run(cases, args.sizes, r[0], r[1], args.box, args.threads) for r in ranges}
    with open(args.out + ".json", "w") as f:
        json.dump({"voxel_size": VOXEL, "box": args.box, "particle_radius_A": PARTICLE_A,
                   "blur": BLUR, "noise": NOISE, "density": DENSITY,
                   "rows": [row for r in ranges for row in rows[r]]}, f, indent=1)
    text = "\n".join(markdown(rows[r], args.sizes, r[0], r[1], args.box) for r in ranges)
    with open(args.out + ".md", "w") as f:
        f.write(text)
    print(text)
    if args.figure:
        figure([rows[r] for r in ranges], png)


if __name__ == "__main__":
    main()
