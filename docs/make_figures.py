"""Make the example figures of the README from the bundled demo phantom.

    python docs/make_figures.py [output folder [threads]]   (default: docs/figures, all cores)

The figures show ``locspiral-em demo`` itself: :func:`locspiral_em.demo.compute_demo` with
its defaults (``core.demo_phantom``: three pseudo-atom domains in a 128^3 box at 1 Å/voxel,
blurred by B = 40, 120 and 40 Å^2, the last one half occupied; the automatic mask; the
half-map FSC as max resolution), so their numbers are those of the demo's summary.txt and
of the README. The figures written:

* guinier.png - local Guinier plots at voxels of low, median and high local B;
* bfactor_histogram.png - local B inside the mask, with the global Guinier B;
* slices.png - central slices of the local B map;
* occupancy_slices.png - central slices of the local occupancy map;
* maturity.png - published maturity indices of the complete map and of two "immature"
  stand-ins (domains removed), each labelled with its normalised index (complete = 1);
* example_bfactor.cxc - the ChimeraX script that colours the map by the local B. It opens
  map.mrc and the display copies bfactor_display.mrc and amplitude_display.mrc (the B and
  A maps with a sentinel outside the mask, shown grey) from its own folder, as
  ``locspiral-em demo`` writes them next to its bfactor.cxc: copy it into a demo output
  folder and run ``chimerax example_bfactor.cxc`` there. (The display copies made here go
  to a temporary folder: only the script is kept.)

Deterministic: the phantom has a fixed seed.
"""
import os
import shutil
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from locspiral_em import chimerax as cx  # noqa: E402
from locspiral_em import core, demo, figures  # noqa: E402
from locspiral_em.core.diagnostics import global_guinier  # noqa: E402

MIN_RES_B = demo.MIN_RES_B


def main(folder=os.path.join(HERE, "figures"), workers=None):
    os.makedirs(folder, exist_ok=True)
    # The demo's defaults (its size, seed, mask, ranges): what `locspiral-em demo` does.
    run = demo.compute_demo(workers=workers, say=print)
    ph, bf, mask, max_res = run.phantom, run.bfactor, run.auto.mask, run.max_res
    p = ph.voxel_size
    print(f"demo phantom {ph.map.shape[0]}^3: FSC 0.143 resolution {run.fsc_res:.2f} Å, max "
          f"resolution {max_res:.2f} Å")

    # The global B the CLI prints beside the local one: the fit's range, inside the mask.
    global_b = global_guinier(ph.map, p, MIN_RES_B, max_res, mask=mask)
    written = []
    png, profiles, fits = figures.local_guinier_figure(
        os.path.join(folder, "guinier.png"), ph.map, mask, p, MIN_RES_B, max_res,
        bfactor=bf.bfactor, pick_mask=bf.mask, workers=workers,
        title=f"Local Guinier plots, demo phantom ({MIN_RES_B:g}-{max_res:.2f} Å)")
    written.append(png)
    written.append(figures.bfactor_histogram(
        os.path.join(folder, "bfactor_histogram.png"), bf.bfactor, bf.mask,
        global_b=global_b, title="Local B-factor of the demo phantom"))
    vmin, vmax = cx.robust_range(bf.bfactor, bf.mask)
    written.append(figures.central_slices(
        os.path.join(folder, "slices.png"), bf.bfactor,
        "Local B-factor (true B: -40, -120, -40 Å²)", "viridis", vmin, vmax,
        label="B (Å²)", mask=bf.mask))

    occupancy = run.out["occupancy"]
    written.append(figures.central_slices(
        os.path.join(folder, "occupancy_slices.png"), occupancy,
        "Local occupancy (third domain half occupied)", "viridis", 0.0, 1.0,
        label="occupancy", mask=mask))

    # The demo's immature stand-ins: the map without one domain, without two.
    names = {"complete": "complete", "one_missing": "one domain missing",
             "two_missing": "two domains missing"}
    written.append(figures.maturity_bars(
        os.path.join(folder, "maturity.png"),
        [names[label] for label in demo.MATURITY_LABELS], [m.index for m in run.maturity],
        title="Maturity index of the demo maps", normalised=[m.normalised for m in run.maturity]))

    # The script expects the demo's maps next to it. They are written to a temporary folder
    # (the scene writes the display copies from them) and only the script is kept.
    with tempfile.TemporaryDirectory() as maps:
        for name, data in (("map", ph.map), ("bfactor", bf.bfactor),
                           ("amplitude", bf.amplitude)):
            core.write_map(os.path.join(maps, f"{name}.mrc"), data, p)
        script = cx.bfactor_script(
            os.path.join(maps, "example_bfactor.cxc"), os.path.join(maps, "map.mrc"),
            os.path.join(maps, "bfactor.mrc"), os.path.join(maps, "amplitude.mrc"), p,
            (0.0, 0.0, 0.0), cx.suggest_level(ph.map, mask), cx.B_PALETTE, vmin, vmax,
            amplitude_range=cx.robust_range(bf.amplitude, bf.mask), mask=bf.mask)
        target = os.path.join(folder, "example_bfactor.cxc")
        shutil.copyfile(script, target)
        written.append(target)

    for domain, spec, region in zip(("sharp", "blurred", "half-occupied"), ph.spec,
                                    ph.domains):
        inside = region & bf.mask
        print(f"  {domain:14s} true B {-spec.bfactor:7.1f}  median local B "
              f"{np.median(bf.bfactor[inside]):7.1f} Å^2, mean occupancy "
              f"{occupancy[region].mean():.2f}")
    print("  maturity index:", ", ".join(f"{label} {m.index:.2f} (normalised "
                                          f"{m.normalised:.2f})" for label, m in
                                          zip(demo.MATURITY_LABELS, run.maturity)))
    print("  Guinier voxels (z, y, x):", profiles.voxels.tolist(), "B:",
          np.round(fits[:, 1], 1).tolist())
    for path in written:
        print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path) / 1024:.0f} kB)")
    return written


if __name__ == "__main__":
    main(*sys.argv[1:2], workers=int(sys.argv[2]) if len(sys.argv) > 2 else None)
