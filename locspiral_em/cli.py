"""Command line: ``locspiral-em {locspiral,locbsharpen,locbfactor,lococcupancy,maturity,fsc,demo}``.

Bad input exits with status 2, one line on stderr, and writes nothing; outputs are written
only after the computation succeeded, all together, and existing files are not replaced
unless ``--force`` is given.
"""
import argparse
import os
import sys
import time

import numpy as np

from . import __version__
from . import core
from .core import InputError

METHODS = ("locspiral", "locbsharpen", "locbfactor", "lococcupancy", "maturity")


# -- progress -------------------------------------------------------------------------
class ProgressBar:
    """A one-line text bar on stderr, refreshed per band; silent when ``quiet``."""

    def __init__(self, quiet=False, stream=None, width=30):
        # Looked up at run time, so redirected stderr (logs, tests) gets the progress.
        self.quiet, self.stream, self.width = quiet, stream or sys.stderr, width
        self.start = time.time()

    def __call__(self, done, total, message=""):
        if self.quiet:
            return
        if not self.stream.isatty():
            # Logs and pipes get a line per tenth of the run, not carriage returns.
            step = max(1, total // 10)
            if done % step == 0 or done == total:
                self.stream.write(f"{done}/{total} {time.time() - self.start:.1f} s {message}\n")
                self.stream.flush()
            return
        filled = int(self.width * done / max(total, 1))
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = time.time() - self.start
        self.stream.write(f"\r[{bar}] {done}/{total} {elapsed:6.1f} s  {message:<40.40}")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


# -- inputs ---------------------------------------------------------------------------
class Inputs:
    """The map the method runs on, with its voxel size and origin, the mask and half maps."""

    def __init__(self, volume, voxel_size, origin, nstart, mask, halves, label):
        self.volume, self.voxel_size, self.origin, self.nstart = volume, voxel_size, origin, nstart
        self.mask, self.halves, self.label = mask, halves, label


def _same_voxel(a, b, name_a, name_b):
    if abs(a - b) > 1e-3 * max(a, b):
        raise InputError(f"{name_a} voxel size {a:g} Å differs from {name_b} voxel size {b:g} Å; "
                         "resample them onto one grid")


def load_inputs(args, need_mask=True):
    if bool(args.map) == bool(args.half1 or args.half2):
        raise InputError("give either a map or --half1 and --half2 (not both, not neither)")
    if args.map:
        first = core.read_map(args.map, args.voxel_size)
        volume, halves, label = first.data, None, args.map
    else:
        if not (args.half1 and args.half2):
            raise InputError("half maps need both --half1 and --half2")
        first = core.read_map(args.half1, args.voxel_size)
        second = core.read_map(args.half2, args.voxel_size)
        _same_voxel(first.voxel_size, second.voxel_size, "half map 1", "half map 2")
        volume = core.average_half_maps(first.data, second.data)
        halves, label = (first.data, second.data), args.half1
    mask = None
    if need_mask:
        mask = load_mask(args, volume, first.voxel_size)
    return Inputs(volume, first.voxel_size, first.origin, first.nstart, mask, halves, label)


def load_mask(args, volume, voxel_size):
    if args.mask and args.mask_threshold is not None:
        raise InputError("give either --mask or --mask-threshold, not both")
    if args.mask:
        m = core.read_map(args.mask, args.voxel_size)
        _same_voxel(m.voxel_size, voxel_size, "mask", "map")
        return core.validate.as_mask(m.data, volume.shape)
    return core.threshold_mask(volume, args.mask_threshold)


def resolve_max_res(args, inputs, default=None):
    """--max-res, else the half-map FSC 0.143 resolution, else the method's default."""
    if args.max_res is not None:
        return args.max_res
    if inputs.halves is not None:
        curve = core.fsc(*inputs.halves, inputs.voxel_size, workers=args.threads)
        print(f"max resolution from the half-map FSC (0.143): {curve.resolution:.2f} Å",
              file=sys.stderr)
        return curve.resolution
    if default is not None:
        return default
    raise InputError("--max-res is required when no half maps are given (it defaults to the "
                     "half-map FSC 0.143 resolution)")


def output_paths(args, inputs, names, scene=None):
    """``<prefix>_<name>.mrc`` for each output (with ``--chimerax`` also the scene
    ``<prefix>_<scene>.cxc`` and, for half-map input, the averaged map it shows); refuse to
    replace files without --force."""
    prefix = args.output or os.path.splitext(os.path.basename(inputs.label))[0]
    paths = {name: f"{prefix}_{name}.mrc" for name in names}
    others = []
    if getattr(args, "chimerax", False) and scene:
        if inputs.halves is not None:
            paths["average"] = f"{prefix}_average.mrc"
        others.append(f"{prefix}_{scene}.cxc")
    existing = [p for p in list(paths.values()) + others if os.path.exists(p)]
    if existing and not args.force:
        raise InputError(f"{existing[0]} exists; choose another --output prefix or add --force")
    return paths


def scene_paths(args, inputs, paths, scene):
    """(script path, path of the map the scene shows as the input)."""
    prefix = args.output or os.path.splitext(os.path.basename(inputs.label))[0]
    return f"{prefix}_{scene}.cxc", paths.get("average", args.map)


def scene_grid(grid):
    """Voxel size and origin keyword arguments that open maps aligned with ``grid`` (an
    ``Inputs`` or a ``MapData``)."""
    from . import chimerax
    return dict(voxel_size=grid.voxel_size,
                origin=chimerax.map_origin(grid.origin, grid.nstart, grid.voxel_size))


def write_outputs(paths, arrays, inputs):
    arrays = dict(arrays, average=inputs.volume)
    core.write_maps([(paths[name], arrays[name]) for name in paths], inputs.voxel_size,
                    inputs.origin, inputs.nstart)


def _common(args):
    return dict(spiral=args.spiral, workers=args.threads, progress=ProgressBar(args.quiet))


def _mean_sd(values):
    return float(np.mean(values)), float(np.std(values, ddof=1)) if values.size > 1 else 0.0


# -- commands -------------------------------------------------------------------------
def run_locspiral(args, method="locspiral"):
    inputs = load_inputs(args)
    paths = output_paths(args, inputs, [method, f"{method}_quality"], scene=method)
    max_res = resolve_max_res(args, inputs)
    if method == "locspiral":
        result = core.locspiral(inputs.volume, inputs.mask, inputs.voxel_size, args.min_res,
                                max_res, args.noise_quantile, args.bw,
                                snr_weight=not args.no_snr_weight, **_common(args))
    else:
        result = core.locbsharpen(inputs.volume, inputs.mask, inputs.voxel_size, args.min_res,
                                  max_res, args.noise_quantile, args.bw,
                                  sharpen_res=args.sharpen_res, **_common(args))
    write_outputs(paths, {method: result.map, f"{method}_quality": result.quality}, inputs)
    if args.chimerax:
        from . import chimerax as cx
        script, original = scene_paths(args, inputs, paths, method)
        cx.enhancement_script(
            script, paths[method], original, **scene_grid(inputs),
            level_enhanced=cx.suggest_level(result.map, inputs.mask),
            level_original=cx.suggest_level(inputs.volume, inputs.mask),
            quality=paths[f"{method}_quality"],
            quality_range=cx.robust_range(result.quality, inputs.mask),
            title="LocSpiral enhanced map" if method == "locspiral" else "LocBSharpen map")
        print(f"ChimeraX scene: chimerax {script}")
    print(f"{method}: {args.min_res:g}-{max_res:.2f} Å, wrote {paths[method]} and "
          f"{paths[method + '_quality']}")
    return paths


def run_locbsharpen(args):
    return run_locspiral(args, "locbsharpen")


def run_locbfactor(args):
    inputs = load_inputs(args)
    paths = output_paths(args, inputs, ["bfactor", "amplitude"], scene="bfactor")
    max_res = resolve_max_res(args, inputs)
    result = core.locbfactor(inputs.volume, inputs.mask, inputs.voxel_size, args.min_res,
                             max_res, args.num_points, args.noise_quantile, args.bw,
                             filtered=args.filtered, amplitude_at=args.amplitude_at,
                             **_common(args))
    mean, sd = _mean_sd(result.bfactor[result.mask])
    try:
        # Masked: solvent noise would flatten the whole box's spectrum.
        glob = core.global_bfactor(inputs.volume, inputs.voxel_size, max(10.0, 2 * max_res),
                                   max_res, mask=inputs.mask, workers=args.threads).bfactor
        glob_text = f"{glob:.1f} Å^2"
    except InputError:  # too few shells for a global fit: the local maps are still valid
        glob_text = "n/a"
    write_outputs(paths, {"bfactor": result.bfactor, "amplitude": result.amplitude}, inputs)
    if args.chimerax:
        from . import chimerax as cx
        script, original = scene_paths(args, inputs, paths, "bfactor")
        vmin, vmax = cx.robust_range(result.bfactor, result.mask)
        cx.bfactor_script(script, original, paths["bfactor"], paths["amplitude"],
                          **scene_grid(inputs), level=cx.suggest_level(inputs.volume, inputs.mask),
                          vmin=vmin, vmax=vmax,
                          amplitude_range=cx.robust_range(result.amplitude, result.mask))
        print(f"ChimeraX scene: chimerax {script}")
    print(f"locbfactor: {args.min_res:g}-{max_res:.2f} Å, B inside the mask mean {mean:.1f} "
          f"Å^2, SD {sd:.1f} Å^2 (global Guinier in the mask {glob_text}); wrote {paths['bfactor']}")
    return paths


def run_lococcupancy(args):
    inputs = load_inputs(args)
    paths = output_paths(args, inputs, ["occupancy"], scene="occupancy")
    max_res = resolve_max_res(args, inputs, default=10.0)
    occupancy = core.lococcupancy(inputs.volume, inputs.mask, inputs.voxel_size, args.min_res,
                                  max_res, args.quantile, args.bw, **_common(args))
    write_outputs(paths, {"occupancy": occupancy}, inputs)
    if args.chimerax:
        from . import chimerax as cx
        script, original = scene_paths(args, inputs, paths, "occupancy")
        cx.occupancy_script(script, original, paths["occupancy"], **scene_grid(inputs),
                            level=cx.suggest_level(inputs.volume, inputs.mask))
        print(f"ChimeraX scene: chimerax {script}")
    mean, sd = _mean_sd(occupancy[inputs.mask])
    print(f"lococcupancy: {args.min_res:g}-{max_res:.2f} Å, occupancy inside the mask mean "
          f"{mean:.2f}, SD {sd:.2f}; wrote {paths['occupancy']}")
    return paths


def run_maturity(args):
    mature = core.read_map(args.mature, args.voxel_size)
    mask = load_mask(args, mature.data, mature.voxel_size)
    maps = []
    for path in args.immature:
        m = core.read_map(path, args.voxel_size)
        _same_voxel(m.voxel_size, mature.voxel_size, path, "mature map")
        if m.data.shape != mature.data.shape:
            raise InputError(f"{path} grid {m.data.shape} differs from the mature map grid "
                             f"{mature.data.shape}")
        maps.append(m.data)
    prefix = args.output or "maturity"
    stems = [os.path.splitext(os.path.basename(path))[0] for path in args.immature]
    names = [(f"{prefix}_{stem}_occupancy.mrc", f"{prefix}_{stem}_missing.mrc")
             for stem in stems]
    script = f"{prefix}_maturity.cxc"
    existing = [p for pair in names for p in pair if os.path.exists(p)]
    if args.chimerax and os.path.exists(script):
        existing.append(script)
    if existing and not args.force:
        raise InputError(f"{existing[0]} exists; choose another --output prefix or add --force")
    results = core.maturity_index(mask, maps, mature.voxel_size, args.min_res, args.max_res,
                                  args.occupied, args.quantile, args.bw,
                                  mature_map=mature.data, **_common(args))
    items, lines = [], []
    for stem, (occ_path, missing_path), r in zip(stems, names, results):
        items += [(occ_path, r.occupancy), (missing_path, r.missing)]
        lines.append((r.index, stem))
    core.write_maps(items, mature.voxel_size, mature.origin, mature.nstart)
    if args.chimerax:
        from . import chimerax as cx
        cx.maturity_script(script, args.mature, [m for _, m in names], **scene_grid(mature),
                           level=cx.suggest_level(mature.data, mask), names=stems,
                           indices=[r.index for r in results])
        print(f"ChimeraX scene: chimerax {script}")
    timeline = ", ".join(f"{name} {index:.3f}" for index, name in sorted(lines))
    print(f"maturity index (least to most mature): {timeline}")
    return [p for p, _ in items]


def run_fsc(args):
    h1 = core.read_map(args.half1, args.voxel_size)
    h2 = core.read_map(args.half2, args.voxel_size)
    _same_voxel(h1.voxel_size, h2.voxel_size, "half map 1", "half map 2")
    mask = None
    if args.mask:
        m = core.read_map(args.mask, args.voxel_size)
        _same_voxel(m.voxel_size, h1.voxel_size, "mask", "half map 1")
        mask = m.data > 0.5
    curve = core.fsc(h1.data, h2.data, h1.voxel_size, mask=mask, workers=args.threads)
    if args.curve:
        if os.path.exists(args.curve) and not args.force:
            raise InputError(f"{args.curve} exists; choose another path or add --force")
        np.savetxt(args.curve, np.column_stack([curve.frequency, curve.fsc]),
                   header="frequency_1/A fsc", fmt="%.6f")
    print(f"fsc: resolution at FSC {curve.threshold}: {curve.resolution:.2f} Å")
    return curve


def run_demo(args):
    from .demo import run_demo as demo
    return demo(args.output or "locspiral_demo", size=args.size, workers=args.threads,
                quiet=args.quiet, force=args.force)


# -- parser ---------------------------------------------------------------------------
def _add_io(p, minres, bw, threshold=True):
    p.add_argument("map", nargs="?", help="input map (MRC); unsharpened, unmasked")
    p.add_argument("--half1", help="half map 1 (with --half2: used instead of a map, averaged)")
    p.add_argument("--half2", help="half map 2")
    p.add_argument("--mask", help="binary mask (MRC, 1 = molecule) on the map's grid")
    p.add_argument("--mask-threshold", type=float, default=None,
                   help="make the mask by thresholding the map at this value and removing "
                        "objects under 25 voxels (default: 3 SD above the box-corner solvent)")
    p.add_argument("--min-res", type=float, default=minres,
                   help=f"lowest resolution of the sweep in Å (default {minres:g})")
    p.add_argument("--max-res", type=float, default=None,
                   help="highest resolution in Å (default: half-map FSC 0.143 resolution)")
    if threshold:
        p.add_argument("--noise-quantile", type=float, default=0.9,
                       help="noise quantile q of the amplitude over solvent voxels, 0.9-0.95 "
                            "typical (default 0.9)")
    p.add_argument("--bw", type=float, default=bw,
                   help=f"Gaussian band width in Fourier pixels (default {bw:g})")
    _add_run(p)


def _add_run(p):
    p.add_argument("--voxel-size", type=float, default=None,
                   help="voxel size in Å (default: from the map header)")
    p.add_argument("--spiral", choices=core.filterbank.SPIRAL_MODES, default="riesz",
                   help="riesz: exact isotropic transform (default); reference: the original "
                        "code's economy filter and grid, to reproduce published numbers")
    p.add_argument("-o", "--output", default=None,
                   help="output prefix; files are <prefix>_<name>.mrc "
                        "(default: the input file name without extension)")
    p.add_argument("--force", action="store_true", help="replace existing output files")
    p.add_argument("--chimerax", action="store_true",
                   help="also write a ChimeraX scene <prefix>_<method>.cxc (open it with "
                        "'chimerax FILE.cxc'); with half maps their average is written too")
    p.add_argument("--threads", type=int, default=None,
                   help="FFT threads (default: all cores)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="locspiral-em",
        description="Spiral-phase local methods for cryo-EM maps (Kaur et al., Nat Commun "
                    "12, 1240, 2021): local enhancement, local B-factor sharpening, local "
                    "B-factor and occupancy maps, maturity index.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("locspiral", help="local enhancement: enhanced map and quality map W")
    _add_io(p, 25.0, 4.5)
    p.add_argument("--no-snr-weight", action="store_true", help="do not weigh bands by SNR")
    p.set_defaults(func=run_locspiral)

    p = sub.add_parser("locbsharpen", help="local B-factor sharpening: sharpened map and W")
    _add_io(p, 25.0, 4.5)
    p.add_argument("--sharpen-res", type=float, default=15.0,
                   help="resolution (Å) whose local amplitude is imposed on finer bands "
                        "(default 15)")
    p.set_defaults(func=run_locbsharpen)

    p = sub.add_parser("locbfactor", help="local B-factor (Å^2, for sharpening) and "
                                          "amplitude maps")
    _add_io(p, 15.0, 4.8)
    p.add_argument("--num-points", type=int, default=10,
                   help="number of bands in the local Guinier fit (default 10)")
    p.add_argument("--filtered", action="store_true",
                   help="fit per voxel only the bands above the noise level")
    p.add_argument("--amplitude-at", choices=("intercept", "lowest"), default="intercept",
                   help="A map: log amplitude at 1/d^2 = 0 (intercept, as the original code) "
                        "or at the lowest swept frequency (as the paper describes)")
    p.set_defaults(func=run_locbfactor)

    p = sub.add_parser("lococcupancy", help="local occupancy map (0..1)")
    _add_io(p, 25.0, 5.0, threshold=False)
    p.add_argument("--quantile", type=float, default=0.25,
                   help="amplitude quantile inside the mask that counts as occupied "
                        "(default 0.25)")
    p.set_defaults(func=run_lococcupancy)

    p = sub.add_parser("maturity", help="maturity level index of immature maps against a "
                                        "mature map")
    p.add_argument("--mature", required=True, help="mature map (defines the mask)")
    p.add_argument("--immature", required=True, nargs="+", help="immature maps, same grid")
    p.add_argument("--mask", help="mask of the mature map (MRC)")
    p.add_argument("--mask-threshold", type=float, default=None,
                   help="threshold of the mature map for the mask (default: automatic)")
    p.add_argument("--min-res", type=float, default=25.0, help="Å (default 25)")
    p.add_argument("--max-res", type=float, default=10.0, help="Å (default 10)")
    p.add_argument("--quantile", type=float, default=0.25, help="occupancy quantile (0.25)")
    p.add_argument("--occupied", type=float, default=0.75,
                   help="occupancy above which a voxel counts as present (default 0.75)")
    p.add_argument("--bw", type=float, default=5.0, help="band width, Fourier pixels (5)")
    _add_run(p)
    p.set_defaults(func=run_maturity)

    p = sub.add_parser("fsc", help="half-map FSC and its 0.143 resolution")
    p.add_argument("half1")
    p.add_argument("half2")
    p.add_argument("--mask", help="optional mask applied to both half maps")
    p.add_argument("--curve", help="write the FSC curve to this text file")
    p.add_argument("--voxel-size", type=float, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=run_fsc)

    p = sub.add_parser("demo", help="run every method on the bundled example phantom")
    p.add_argument("-o", "--output", default=None,
                   help="output folder (default ./locspiral_demo)")
    p.add_argument("--size", type=int, default=128, help="box size of the phantom (128)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--force", action="store_true", help="reuse an existing output folder")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=run_demo)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except InputError as exc:
        print(f"locspiral-em {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"locspiral-em {args.command}: error: out of memory; use a smaller box or a "
              "machine with more memory", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("\ninterrupted; nothing was written", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
