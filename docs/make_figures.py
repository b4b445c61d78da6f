"""Make the example figures of the README from the bundled demo phantom.

    python docs/make_figures.py [output folder]      (default: docs/figures)

The phantom (``core.demo_phantom``: three pseudo-atom domains in a 64^3 box at 1 Å/voxel,
blurred by B = 40, 120 and 40 Å^2, the last one half occupied) is analysed with LocBFactor,
LocOccupancy and the maturity index, and the figures are written:

* guinier.png - local Guinier plots at voxels of low, median and high local B;
* bfactor_histogram.png - local B inside the mask, with the global Guinier B;
* slices.png - central slices of the local B map;
* occupancy_slices.png - central slices of the local occupancy map;
* maturity.png - maturity indices of two "immature" stand-ins (domains removed);
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

from locspiral_em import core, figures  # noqa: E402
from locspiral_em import chimerax as cx  # noqa: E402

MIN_RES_B = 15.0
MIN_RES_OCC, MAX_RES_OCC = 25.0, 10.0


def main(folder=os.path.join(HERE, "figures")):
    os.makedirs(folder, exist_ok=True)
    ph = core.demo_phantom(64)
    p = ph.voxel_size
    resolution = core.fsc(ph.half1, ph.half2, p).resolution
    max_res = max(resolution, 2.5 * p)
    print(f"demo phantom: FSC 0.143 resolution {resolution:.2f} Å, max resolution "
          f"{max_res:.2f} Å")

    bf = core.locbfactor(ph.map, ph.mask, p, MIN_RES_B, max_res)
    global_b = core.global_bfactor(ph.map, p, min_res=10.0, max_res=max_res).bfactor
    written = []
    png, profiles, fits = figures.local_guinier_figure(
        os.path.join(folder, "guinier.png"), ph.map, ph.mask, p, MIN_RES_B, max_res,
        bfactor=bf.bfactor, pick_mask=bf.mask,
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

    occupancy = core.lococcupancy(ph.map, ph.mask, p, MIN_RES_OCC, MAX_RES_OCC)
    written.append(figures.central_slices(
        os.path.join(folder, "occupancy_slices.png"), occupancy,
        "Local occupancy (third domain half occupied)", "viridis", 0.0, 1.0,
        label="occupancy", mask=ph.mask))

    # Immature stand-ins, as locspiral-em demo: the map without one domain, without two.
    one_missing = np.where(ph.domains[2], 0, ph.clean).astype(np.float32)
    two_missing = np.where(ph.domains[1] | ph.domains[2], 0, ph.clean).astype(np.float32)
    maturity = core.maturity_index(ph.mask, [two_missing, ph.clean, one_missing], p,
                                   MIN_RES_OCC, MAX_RES_OCC, mature_map=ph.clean)
    written.append(figures.maturity_bars(
        os.path.join(folder, "maturity.png"), ["two domains missing", "complete",
                                               "one domain missing"],
        [m.index for m in maturity], title="Maturity index of the demo maps"))

    # The script expects the demo's maps next to it. They are written to a temporary folder
    # (the scene writes the display copies from them) and only the script is kept.
    with tempfile.TemporaryDirectory() as maps:
        for name, data in (("map", ph.map), ("bfactor", bf.bfactor),
                           ("amplitude", bf.amplitude)):
            core.write_map(os.path.join(maps, f"{name}.mrc"), data, p)
        script = cx.bfactor_script(
            os.path.join(maps, "example_bfactor.cxc"), os.path.join(maps, "map.mrc"),
            os.path.join(maps, "bfactor.mrc"), os.path.join(maps, "amplitude.mrc"), p,
            (0.0, 0.0, 0.0), cx.suggest_level(ph.map, ph.mask), cx.B_PALETTE, vmin, vmax,
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
    print("  Guinier voxels (z, y, x):", profiles.voxels.tolist(), "B:",
          np.round(fits[:, 1], 1).tolist())
    for path in written:
        print(f"wrote {os.path.relpath(path)} ({os.path.getsize(path) / 1024:.0f} kB)")
    return written


if __name__ == "__main__":
    main(*sys.argv[1:])
