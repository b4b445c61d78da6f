"""Local against global sharpening: correlation with the noise-free sharp map, per B region.

    python benchmarks/bench_sharpening.py              # all cases, 1 FFT thread
    python benchmarks/bench_sharpening.py --cases three real

Maps compared: the input (average of the half maps), global Guinier sharpening
(``core.sharpen.global_sharpen``: B from ``core.global_bfactor`` of the masked map over
10 Å - max_res, ``exp(-B s^2 / 4)``, hard low-pass at max_res), LocSpiral, LocBSharpen (both
25 Å - max_res) and LocSharpen (``core.sharpen.locsharpen``, defaults, 25 Å - max_res).

Phantoms (``core.make_phantom``): pseudo-atom balls, each blurred by its own B, white noise in
each half map with SD ``noise`` x the clean map's SD inside the mask. The truth is the same
atoms unblurred (B = 0), low-passed at max_res (hard sphere, the same low-pass as global
sharpening); max_res is the FSC 0.143 resolution of the masked half maps, at least Nyquist.
Regions: each domain's ball (inside the mask), labelled by its blur.

"two-masked": the "two" phantom's map multiplied by a soft solvent mask (the mask grown by
3 Å, Gaussian edge of SD 2 Å), as deposited maps are; without half maps LocSharpen takes the
noise from the map's frequencies beyond max_res; it also runs with the half maps
(``half_maps=``). "two-masked-lowpassed": the same map also low-passed at max_res, so that
LocSharpen has no noise estimate at all and gives the map back unsharpened.

"radial", "radial-sharp": one ball of atoms whose B rises from the centre to the surface
(``radial_case``), regions the tertiles of the atoms' B; LocSharpen also with the half maps.

Real map: EMD-3488 (already sharpened, 3.2 Å, 1.05 Å/voxel), truth the model map
(5ME2, low-passed to 3.2 Å). The methods' mask is the model's 3 Å mask dilated by 2 voxels
(2.1 Å), so that side-chain density at the 3 Å edge lies inside; correlations are inside the
3 Å mask. No half maps exist, so max_res is the deposited 3.2 Å. Regions: tertiles of
LocSharpen's local B inside the 3 Å mask. The deposited map is masked (71 % of the box is
exactly 0) and low-passed at 3.2 Å: LocSharpen finds no noise estimate and does not sharpen.

Segment: the thresholded EMD-21457 segment with a model map of 6VYB computed on its grid
(``segment_case``); regions are per-voxel tertiles of the model's B; also the per-residue
Spearman of LocSharpen's and LocBFactor's B maps with the PDB B.

Results go to benchmarks/results_sharpening.json and .md.
"""
import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
import scipy.fft as sfft

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from locspiral_em import core  # noqa: E402
from locspiral_em.core import Domain  # noqa: E402
from locspiral_em.core.sharpen import global_sharpen, locsharpen  # noqa: E402

REALDATA = os.environ.get("LOCSPIRAL_REALDATA",
                          os.path.join(os.path.dirname(HERE), "..", "shared", "realdata"))
MIN_RES = 25.0
METHODS = ("input", "global", "locspiral", "locbsharpen", "locsharpen")


def lowpass(volume, voxel_size, resolution):
    p = float(voxel_size)
    s2 = (sfft.fftfreq(volume.shape[0], d=p)[:, None, None] ** 2
          + sfft.fftfreq(volume.shape[1], d=p)[None, :, None] ** 2
          + sfft.rfftfreq(volume.shape[2], d=p)[None, None, :] ** 2)
    spectrum = sfft.rfftn(volume.astype(np.float64)) * (s2 <= 1.0 / resolution ** 2)
    return sfft.irfftn(spectrum, s=volume.shape)


def pearson(a, b, region):
    return float(np.corrcoef(a[region].astype(np.float64), b[region].astype(np.float64))[0, 1])


def triangle(n, bfactors):
    c, r = n / 2, n / 7
    centres = [(c, c - 1.15 * r, c - 1.15 * r), (c, c - 1.15 * r, c + 1.15 * r),
               (c, c + 1.15 * r, c)]
    return [Domain(x, r, b) for x, b in zip(centres, bfactors)]


def pair(n, bfactors):
    c, r = n / 2, n / 6
    return [Domain((c, c, c - 1.1 * r), r, bfactors[0]),
            Domain((c, c, c + 1.1 * r), r, bfactors[1])]


def square(n, bfactors):
    c, r = n / 2, n / 8
    s = 1.1 * r
    centres = [(c, c - s, c - s), (c, c - s, c + s), (c, c + s, c - s), (c, c + s, c + s)]
    return [Domain(x, r, b) for x, b in zip(centres, bfactors)]


CASES = {
    # name: (box, voxel size, layout, blurs, half-map noise, seed)
    "three": (96, 1.2, triangle, (40.0, 120.0, 250.0), 0.7, 0),
    "two": (96, 1.0, pair, (60.0, 200.0), 1.0, 1),
    "four": (112, 1.1, square, (40.0, 90.0, 160.0, 250.0), 0.5, 2),
}


def soft_solvent_mask(mask, p):
    """What deposited maps carry: the mask dilated by 3 Å with a Gaussian edge (SD 2 Å)."""
    from scipy import ndimage
    grown = ndimage.binary_dilation(mask, iterations=max(1, int(round(3.0 / p))))
    return np.clip(ndimage.gaussian_filter(grown.astype(np.float32), 2.0 / p), 0, 1)


def run_methods(volume, mask, p, max_res, workers):
    maps, seconds, extra = {"input": volume}, {}, {}
    t = time.perf_counter()
    g = global_sharpen(volume, p, max_res, mask=mask, workers=workers)
    seconds["global"] = time.perf_counter() - t
    maps["global"], extra["global_b"] = g.map, g.bfactor
    for name, call in (("locspiral", core.locspiral), ("locbsharpen", core.locbsharpen)):
        t = time.perf_counter()
        maps[name] = call(volume, mask, p, MIN_RES, max_res, workers=workers).map
        seconds[name] = time.perf_counter() - t
    t = time.perf_counter()
    res = locsharpen(volume, mask, p, MIN_RES, max_res, workers=workers)
    seconds["locsharpen"] = time.perf_counter() - t
    maps["locsharpen"] = res.map
    return maps, seconds, extra, res


def phantom_case(name, workers):
    base, _, variant = name.partition("-")
    masked = variant in ("masked", "masked-lowpassed")
    n, p, layout, blurs, noise, seed = CASES[base]
    spec = layout(n, blurs)
    ph = core.make_phantom((n,) * 3, p, spec, noise=noise, seed=seed)
    # Same seed, same draws: the same atoms, unblurred.
    sharp = core.make_phantom((n,) * 3, p, [d._replace(bfactor=0.0) for d in spec], noise=0.0,
                              seed=seed).clean
    max_res = max(core.fsc(ph.half1, ph.half2, p, mask=ph.mask).resolution, 2 * p)
    truth = lowpass(sharp, p, max_res)
    volume = ph.map * soft_solvent_mask(ph.mask, p) if masked else ph.map
    if variant == "masked-lowpassed":
        # As deposited maps are: also low-passed at the resolution, so that nothing beyond
        # it is left to measure the noise with.
        volume = (lowpass(ph.map, p, max_res) * soft_solvent_mask(ph.mask, p)).astype(
            np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the masked case warns, as it should
        maps, seconds, extra, res = run_methods(volume, ph.mask, p, max_res, workers)
    if masked:
        # The fix the warning points to: the noise power from the (unmasked) half maps.
        t = time.perf_counter()
        maps["locsharpen + half maps"] = locsharpen(volume, ph.mask, p, MIN_RES, max_res,
                                                    half_maps=(ph.half1, ph.half2),
                                                    workers=workers).map
        seconds["locsharpen + half maps"] = time.perf_counter() - t
    regions = [(f"B {b:g}", d & ph.mask) for d, b in zip(ph.domains, blurs)]
    row = {"case": name, "box": n, "voxel_size": p, "noise": noise, "seed": seed,
           "max_res": round(max_res, 3), "global_b": round(extra["global_b"], 1),
           "noise_source": res.noise,
           "local_b_median": {lab: round(float(np.median(res.bfactor[r])), 1)
                              for lab, r in regions},
           "regions": [lab for lab, _ in regions], "seconds": {k: round(v, 1) for k, v in
                                                               seconds.items()},
           "corr": {}}
    for m in maps:
        row["corr"][m] = {"all": round(pearson(maps[m], truth, ph.mask), 4)}
        row["corr"][m].update({lab: round(pearson(maps[m], truth, r), 4) for lab, r in regions})
    return row


def real_case(workers):
    from scipy import ndimage
    p = 1.05
    volume = core.read_map(os.path.join(REALDATA, "emd_3488.mrc")).data
    truth = core.read_map(os.path.join(REALDATA, "model_map.mrc")).data
    inside = core.read_map(os.path.join(REALDATA, "model_map_mask3A.mrc")).data > 0.5
    mask = ndimage.binary_dilation(inside, iterations=2)
    max_res = 3.2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # masked: LocSharpen says it cannot sharpen
        maps, seconds, extra, res = run_methods(volume, mask, p, max_res, workers)
    # The model map is not flat: its own Guinier B (10 Å - 3.2 Å, same mask) is the fair
    # target for both sharpenings; the deposited map is sharper than the model (B -13.6
    # against -45.8), so "flattening" it moves away from the model.
    target = core.global_bfactor(truth, p, 10.0, max_res, mask=mask).bfactor
    maps["global to model B"] = global_sharpen(volume, p, max_res,
                                               bfactor=extra["global_b"] - target).map
    # The model map's median local B (LocBFactor's filtered fit), reported beside it: on
    # this masked, low-passed map LocSharpen has no noise estimate and does not sharpen, so
    # runs of it toward either target give the input back too.
    fit = core.locbfactor(truth, mask, p, 15.0, max_res, filtered=True, workers=workers)
    local_target = float(np.median(fit.bfactor[fit.mask & inside]))
    b = res.bfactor[inside]
    cuts = np.quantile(b, [1 / 3, 2 / 3])
    regions = [("high B (steepest third)", inside & (res.bfactor <= cuts[0])),
               ("medium B", inside & (res.bfactor > cuts[0]) & (res.bfactor <= cuts[1])),
               ("low B (flattest third)", inside & (res.bfactor > cuts[1]))]
    # Thirds chosen by LocSharpen's own B favour its errors (a voxel whose B was read too
    # steep lands in the "steepest" third and is over-sharpened), and the model's atomic B are
    # all 23.13 Å^2, so they cannot define regions; the distance from the molecule's centre is
    # a split that no estimate chose (peripheral density is usually the worse resolved).
    grid = np.indices(volume.shape).reshape(3, -1).T[inside.ravel()]
    radius = np.linalg.norm(grid - grid.mean(axis=0), axis=1)
    rcuts = np.quantile(radius, [1 / 3, 2 / 3])
    radial = np.zeros(volume.shape)
    radial[inside] = radius
    regions += [("core third", inside & (radial <= rcuts[0])),
                ("middle third", inside & (radial > rcuts[0]) & (radial <= rcuts[1])),
                ("outer third", inside & (radial > rcuts[1]))]
    row = {"case": "real EMD-3488", "box": volume.shape[0], "voxel_size": p, "max_res": max_res,
           "model_b": round(target, 1), "model_local_b": round(local_target, 1),
           "noise_source": res.noise,
           "global_b": round(extra["global_b"], 1),
           "local_b_median": {lab: round(float(np.median(res.bfactor[r])), 1)
                              for lab, r in regions},
           "regions": [lab for lab, _ in regions],
           "seconds": {k: round(v, 1) for k, v in seconds.items()}, "corr": {}}
    for m in METHODS + ("global to model B",):
        row["corr"][m] = {"all": round(pearson(maps[m], truth, inside), 4)}
        row["corr"][m].update({lab: round(pearson(maps[m], truth, r), 4) for lab, r in regions})
    return row


def segment_case(workers):
    """The thresholded EMD-21457 segment (48x40x47 at 1.05 Å, 3.2 Å) against a model map of
    6VYB on its grid (Gaussian atoms with their PDB B, low-passed to 3.2 Å:
    ``test_realdata.model_map``). Mask: the 3 Å model mask grown by 2 voxels, as for
    EMD-3488; correlations in the 3 Å mask; regions: per-voxel tertiles of the model's B
    (each voxel gets the B of its nearest atom)."""
    from scipy import ndimage
    from locspiral_em.tests import test_realdata as rd
    source = core.read_map(os.path.join(REALDATA, rd.SEGMENT))
    volume, p, origin = source.data, float(source.voxel_size), source.origin
    xyz, bfactor, electrons, residue = rd.read_model(os.path.join(REALDATA, rd.SEGMENT_PDB))
    truth = rd.model_map(volume.shape, p, origin, xyz, bfactor, electrons)
    inside = rd.atom_distance(volume.shape, p, origin, xyz) <= 3.0
    mask = ndimage.binary_dilation(inside, iterations=2)
    max_res = 3.2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # thresholded: LocSharpen says it cannot sharpen
        maps, seconds, extra, res = run_methods(volume, mask, p, max_res, workers)
    b_voxel = rd.model_b_map(volume.shape, p, origin, xyz, bfactor)
    cuts = np.quantile(b_voxel[inside], [1 / 3, 2 / 3])
    regions = [(f"model B <= {cuts[0]:.0f}", inside & (b_voxel <= cuts[0])),
               ("middle model B", inside & (b_voxel > cuts[0]) & (b_voxel <= cuts[1])),
               (f"model B > {cuts[1]:.0f}", inside & (b_voxel > cuts[1]))]
    fit = core.locbfactor(volume, mask, p, 15.0, max_res, workers=workers)   # its defaults
    spearman = {}
    for label, bmap, valid in (("LocSharpen", res.bfactor, res.mask),
                               ("LocBFactor", fit.bfactor, fit.mask)):
        spearman[label], count = rd.residue_spearman(bmap, valid, p, origin, xyz, bfactor,
                                                     residue)
    row = {"case": "segment EMD-21457", "box": "x".join(str(n) for n in volume.shape),
           "voxel_size": round(p, 3), "max_res": max_res,
           "global_b": round(extra["global_b"], 1), "noise_source": res.noise,
           "local_b_median": {lab: round(float(np.median(res.bfactor[r])), 1)
                              for lab, r in regions},
           "spearman": {k: round(v, 3) for k, v in spearman.items()}, "residues": count,
           "regions": [lab for lab, _ in regions],
           "seconds": {k: round(v, 1) for k, v in seconds.items()}, "corr": {}}
    for m in maps:
        row["corr"][m] = {"all": round(pearson(maps[m], truth, inside), 4)}
        row["corr"][m].update({lab: round(pearson(maps[m], truth, r), 4) for lab, r in regions})
    return row


RADIAL = {
    # name: (box, radius in voxels, B at the centre and at the surface, half-map noise, seed)
    "radial": (80, 24.0, 40.0, 200.0, 0.7, 0),
    "radial-sharp": (80, 24.0, 40.0, 100.0, 0.2, 0),
}


def radial_case(name, workers):
    """A ball of pseudo-atoms whose B rises with the distance from the centre, B0 + (B1 -
    B0) (r / R)^2 (as in a real protein, core sharp, surface blurred), in 8 groups of B;
    1.0 Å/voxel; white noise in each half map. Regions: tertiles of the atoms' B (per
    voxel, the formula's). LocSharpen runs with the half maps (where the held-out map of
    issue 14 lost its middle B third to global sharpening, 0.947 against 0.950) and with the
    solvent."""
    from locspiral_em.core.phantom import ball, debye_waller
    n, radius, b0, b1, noise, seed = RADIAL[name]
    p, shape = 1.0, (n,) * 3
    rng = np.random.default_rng(seed)
    c = n / 2
    inside = ball(shape, (c, c, c), radius)
    zz, yy, xx = np.indices(shape)
    bvox = b0 + (b1 - b0) * ((zz - c) ** 2 + (yy - c) ** 2 + (xx - c) ** 2) / radius ** 2
    sites = rng.choice(np.flatnonzero(inside), size=int(0.05 * inside.sum()), replace=False)
    edges = np.linspace(b0, b1, 9)
    clean, sharp = np.zeros(shape), np.zeros(shape)
    for lo, hi in zip(edges[:-1], edges[1:]):
        atoms = np.zeros(n ** 3)
        b = bvox.ravel()[sites]
        atoms[sites[(b >= lo) & (b <= hi)]] = 1.0
        spectrum = sfft.rfftn(atoms.reshape(shape))
        clean += sfft.irfftn(spectrum * debye_waller(shape, p, 0.5 * (lo + hi)), s=shape)
        sharp += sfft.irfftn(spectrum, s=shape)
    mask = ball(shape, (c, c, c), radius + 3)
    sd = clean[mask].std()
    half1 = (clean + rng.normal(0, noise * sd, shape)).astype(np.float32)
    half2 = (clean + rng.normal(0, noise * sd, shape)).astype(np.float32)
    volume = ((half1 + half2) / 2).astype(np.float32)
    max_res = max(core.fsc(half1, half2, p, mask=mask).resolution, 2 * p)
    truth = lowpass(sharp, p, max_res)
    maps, seconds, extra, res = run_methods(volume, mask, p, max_res, workers)
    t = time.perf_counter()
    halves = locsharpen(volume, mask, p, MIN_RES, max_res, half_maps=(half1, half2),
                        workers=workers)
    seconds["locsharpen + half maps"] = time.perf_counter() - t
    maps["locsharpen + half maps"] = halves.map
    cuts = np.quantile(bvox[inside], [1 / 3, 2 / 3])
    regions = [(f"B <= {cuts[0]:.0f}", inside & (bvox <= cuts[0])),
               ("middle B", inside & (bvox > cuts[0]) & (bvox <= cuts[1])),
               (f"B > {cuts[1]:.0f}", inside & (bvox > cuts[1]))]
    row = {"case": f"{name} (B {b0:g}-{b1:g})", "box": n, "voxel_size": p, "noise": noise,
           "seed": seed, "max_res": round(max_res, 3), "global_b": round(extra["global_b"], 1),
           "noise_source": res.noise,
           "local_b_median": {lab: round(float(np.median(halves.bfactor[r])), 1)
                              for lab, r in regions},
           "regions": [lab for lab, _ in regions],
           "seconds": {k: round(v, 1) for k, v in seconds.items()}, "corr": {}}
    for m in maps:
        row["corr"][m] = {"all": round(pearson(maps[m], truth, mask), 4)}
        row["corr"][m].update({lab: round(pearson(maps[m], truth, r), 4) for lab, r in regions})
    return row


SENSITIVITY = [("bw", 3.0), ("bw", 6.0), ("smooth", 0.0), ("smooth", 6.0),
               ("filtered", False), ("target_b", -50.0)]


def sensitivity(name, workers):
    """LocSharpen with one setting changed from its defaults (bw 4.5, smooth 3 Å, filtered
    fit, target 0), on one phantom; correlations as in the main table."""
    n, p, layout, blurs, noise, seed = CASES[name]
    spec = layout(n, blurs)
    ph = core.make_phantom((n,) * 3, p, spec, noise=noise, seed=seed)
    sharp = core.make_phantom((n,) * 3, p, [d._replace(bfactor=0.0) for d in spec], noise=0.0,
                              seed=seed).clean
    max_res = max(core.fsc(ph.half1, ph.half2, p, mask=ph.mask).resolution, 2 * p)
    truth = lowpass(sharp, p, max_res)
    regions = [(f"B {b:g}", d & ph.mask) for d, b in zip(ph.domains, blurs)]
    rows = []
    for key, value in [("defaults", None)] + SENSITIVITY:
        kw = {} if value is None else {key: value}
        out = locsharpen(ph.map, ph.mask, p, MIN_RES, max_res, workers=workers, **kw).map
        corr = {"all": round(pearson(out, truth, ph.mask), 4)}
        corr.update({lab: round(pearson(out, truth, r), 4) for lab, r in regions})
        rows.append({"case": name, "setting": key if value is None else f"{key}={value}",
                     "corr": corr})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown_sensitivity(rows):
    out = ["## Sensitivity of LocSharpen to its settings", "",
           "One setting changed from the defaults at a time; correlation as above.", ""]
    for case in dict.fromkeys(r["case"] for r in rows):
        sub = [r for r in rows if r["case"] == case]
        heads = list(sub[0]["corr"])
        out.append(f"{case}:")
        out.append("")
        out.append("| setting | " + " | ".join(heads) + " |")
        out.append("|---" * (len(heads) + 1) + "|")
        for r in sub:
            out.append(f"| {r['setting']} | " + " | ".join(f"{r['corr'][h]:.3f}" for h in heads)
                       + " |")
        out.append("")
    return "\n".join(out) + "\n"


def provenance():
    """Commit of the core the table was made with (and whether core/ had local changes: the
    local B comes from core/bfactor.py, whose estimator was being revised)."""
    import subprocess
    root = os.path.dirname(HERE)
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "locspiral_em/core"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "an unknown commit"
    return f"commit {head}" + (" with uncommitted changes in locspiral_em/core" if dirty else "")


def markdown(rows):
    out = ["# Local against global sharpening", "",
           "Pearson correlation with the noise-free sharp map (phantoms: the unblurred atoms "
           "low-passed at max_res; EMD-3488: the 5ME2 model map), inside the mask and per B "
           "region. Generated by `benchmarks/bench_sharpening.py`; see its docstring for the "
           "set-up.", "", f"Core at {provenance()}.", ""]
    for row in rows:
        box = row["box"] if isinstance(row["box"], str) else f"{row['box']}^3"
        out.append(f"## {row['case']}: {box} at {row['voxel_size']} Å, "
                   f"max_res {row['max_res']} Å" + (f", half-map noise {row['noise']}"
                                                     if "noise" in row else ""))
        out.append("")
        out.append(f"Global B {row['global_b']} Å^2"
                   + (f" (model map's own: {row['model_b']} Å^2, its median local B "
                      f"{row['model_local_b']} Å^2)" if "model_b" in row else "")
                   + "; LocSharpen's local B (median per region): "
                   + ", ".join(f"{k}: {v}" for k, v in row["local_b_median"].items()))
        out.append("")
        out.append(f"LocSharpen's noise power from: {row.get('noise_source', 'n/a')}"
                   + ("" if row.get("noise_source") != "none" else
                      " (no estimate: the map is given back low-passed, not sharpened)"))
        if "spearman" in row:
            out.append("")
            out.append("Per-residue Spearman of the local B map with the PDB B (right sign: "
                       f"negative; {row['residues']} residues): "
                       + ", ".join(f"{k} {v:+.3f}" for k, v in row["spearman"].items()))
        out.append("")
        heads = ["all"] + row["regions"]
        out.append("| method | " + " | ".join(heads) + " | s |")
        out.append("|---" * (len(heads) + 2) + "|")
        for m in row["corr"]:
            c = row["corr"][m]
            out.append(f"| {m} | " + " | ".join(f"{c[h]:.3f}" for h in heads)
                       + f" | {row['seconds'].get(m, 0):.0f} |")
        out.append("")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=list(CASES) + [
        "two-masked", "two-masked-lowpassed"] + list(RADIAL) + ["real", "segment"])
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--sensitivity", nargs="*", default=["three", "two"],
                    help="phantom cases for the settings table (none: skip it)")
    ap.add_argument("--out", default=os.path.join(HERE, "results_sharpening"))
    args = ap.parse_args()
    rows = []
    for name in args.cases:
        row = (real_case(args.workers) if name == "real" else
               segment_case(args.workers) if name == "segment" else
               radial_case(name, args.workers) if name in RADIAL else
               phantom_case(name, args.workers))
        rows.append(row)
        print(json.dumps(row), flush=True)
    sens = []
    for name in args.sensitivity:
        sens += sensitivity(name, args.workers)
    with open(args.out + ".json", "w") as fh:
        json.dump({"core": provenance(), "comparison": rows, "sensitivity": sens}, fh, indent=1)
    text = markdown(rows) + ("\n" + markdown_sensitivity(sens) if sens else "")
    with open(args.out + ".md", "w") as fh:
        fh.write(text)
    print(text)


if __name__ == "__main__":
    main()
