"""Command line: ``locspiral-em {locspiral,locbsharpen,locsharpen,locbfactor,lococcupancy,maturity,
fsc,demo}``.

Every method goes through the run layer (:mod:`locspiral_em.run`), as the Scipion protocols
and the Pipeliner jobs do: ``locspiral-em METHOD ... -o PREFIX --json FILE [--chimerax]``
writes the maps, the mask used, the scene and a JSON summary whose "outputs" {name: path},
"scene" and "results" a pipeline reads.

Bad input exits with status 2, one line on stderr, and writes nothing; outputs are written
only after the computation succeeded, all together, and existing files are not replaced
unless ``--force`` is given (:mod:`locspiral_em.outputs`: output paths checked before
computing, one run per prefix, the set committed together or not at all). A failed write
(disk full...) exits with status 1, one line, nothing written; Ctrl-C exits 130 with a line
saying whether the outputs were written; a closed or broken stdout/stderr is not fatal.
Stdout: the mask line, the scene, the result line; stderr:
progress, the FSC resolution when it sets the max resolution, and ``warning:`` lines.
"""
import argparse
import os
import sys
import time

import numpy as np

from . import __version__
from . import core
from .core import InputError
from .core import defaults as D
from .run import (SCHEMA_VERSION, RunSpec, check_independent_halves, check_same_origin,
                  check_same_voxel, mask_text, result_text, run, voxel_override_warning,
                  write_json, write_text)
from .run import MapSource

METHODS = D.METHODS
from .demo import SIZE as DEMO_SIZE  # noqa: E402  (the demo's box, for --size)


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


# -- commands -------------------------------------------------------------------------
def spec_from_args(args, method):
    """The run layer's spec from the parsed arguments (one run layer for the command
    line, the Scipion protocols and the Pipeliner jobs)."""
    kwargs = dict(
        method=method, mask=args.mask, mask_threshold=args.mask_threshold,
        mask_binarise=getattr(args, "mask_binarise", None),
        mask_lowpass=args.mask_lowpass, mask_dilation=args.mask_dilation,
        min_res=args.min_res, max_res=args.max_res, voxel_size=args.voxel_size,
        bw=args.bw, spiral=args.spiral, workers=args.threads, prefix=args.output,
        chimerax=args.chimerax, json_path=args.json, force=args.force)
    if method == "maturity":
        kwargs.update(map=args.mature, immature=args.immature)
    else:
        kwargs.update(map=args.map, half1=args.half1, half2=args.half2)
    for name in ("noise_quantile", "sharpen_res", "num_points", "filtered", "amplitude_at",
                 "quantile", "occupied", "estimator", "bw_units", "target_b", "smooth",
                 "bfactor_min_res", "window"):
        if getattr(args, name, None) is not None:
            kwargs[name] = getattr(args, name)
    if getattr(args, "no_snr_weight", False):
        kwargs["snr_weight"] = False
    return RunSpec(**kwargs)


def run_method(args, method):
    """Run ``method`` through the run layer; prints the mask line, the scene and the
    result line on stdout, warnings and the FSC line on stderr. Returns the summary."""
    log = lambda line: print(line, file=sys.stderr)  # noqa: E731
    result = run(spec_from_args(args, method), progress=ProgressBar(args.quiet), log=log)
    summary = result.summary
    for line in summary["warnings"]:
        print(f"warning: {line}", file=sys.stderr)
    print(mask_text(summary["mask"]))
    if summary["scene"]:
        print(f"ChimeraX scene: chimerax {summary['scene']}")
    if args.json:
        print(f"summary: {args.json}")
    print(result_text(summary))  # last: the line scripts and tests read
    return summary


def run_locspiral(args):
    return run_method(args, "locspiral")


def run_locbsharpen(args):
    return run_method(args, "locbsharpen")


def run_locsharpen(args):
    return run_method(args, "locsharpen")


def run_locbfactor(args):
    return run_method(args, "locbfactor")


def run_lococcupancy(args):
    return run_method(args, "lococcupancy")


def run_maturity(args):
    return run_method(args, "maturity")


def run_fsc(args):
    """Half-map FSC through the core (masked when --mask is given: the core applies its
    correction for the mask, Chen et al. 2013, when it has one, and says so)."""
    check_independent_halves(None, None, same_file=_same_path(args.half1, args.half2))
    h1 = core.read_map(args.half1, args.voxel_size)
    h2 = core.read_map(args.half2, args.voxel_size)
    check_same_voxel(h1.voxel_size, h2.voxel_size, "half map 1", "half map 2")
    check_same_origin(h1, h2, "half map 1", "half map 2", strict=True)
    check_independent_halves(h1.data, h2.data)
    warnings = []
    mask = None
    if args.mask:
        m = core.read_map(args.mask, args.voxel_size)
        check_same_voxel(m.voxel_size, h1.voxel_size, "mask", "half map 1")
        if m.data.shape == h1.data.shape:
            check_same_origin(m, h1, "the mask", "half map 1")
        mask = m.data  # as read: a soft mask stays soft; the core checks its grid
    line = voxel_override_warning(args.voxel_size, [
        (name, MapSource(path)) for name, path in
        (("half map 1", args.half1), ("half map 2", args.half2), ("mask", args.mask)) if path])
    if line:
        warnings.append(line)
    from . import outputs
    planned = {k: v for k, v in (("curve", args.curve), ("json", args.json)) if v}
    # before computing: not an input, writable
    outputs.check_outputs(planned, {"half map 1": args.half1, "half map 2": args.half2,
                                    "mask": args.mask})
    with outputs.run_scope(lambda line: print(line, file=sys.stderr)):
        if planned:  # one run on these files at a time; then they are one output set
            outputs.hold(next(iter(planned.values())))
        for path in planned.values():
            if os.path.exists(path) and not args.force:
                raise InputError(f"{path} exists; choose another path or add --force")
        curve = core.fsc(h1.data, h2.data, h1.voxel_size, mask=mask, workers=args.threads)
        text, how = _fsc_text(curve, mask)
        if planned:
            anchor = outputs.current_anchor()
            with outputs.OutputSet(anchor, planned) as staged, staged.active():
                _write_fsc(args, curve, h1.voxel_size, mask, warnings)
                staged.commit()
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    print(f"fsc: resolution at FSC {curve.threshold}: {text}{how}")
    return curve


def _fsc_text(curve, mask):
    """The resolution, said truthfully, and how it was measured."""
    corrected = getattr(curve, "corrected", None)
    how = ""
    if mask is not None:
        how = " (masked" + ("; corrected for the mask, Chen et al. 2013" if corrected else
                            "; not corrected for the mask" if corrected is not None else "")
        how += ")"
    if curve.beyond_nyquist:
        # Nyquist is a bound here, not a measurement: say so rather than print "2.00 Å".
        text = (f"better than Nyquist ({curve.resolution:.2f} Å): the FSC is still "
                f"{curve.at_nyquist:.2f} there")
    else:
        text = f"{curve.resolution:.2f} Å"
    return text, how


def _write_fsc(args, curve, voxel_size, mask, warnings):
    """The curve and the JSON summary (into the active output set)."""
    corrected = getattr(curve, "corrected", None)
    if args.curve:
        table = np.column_stack([curve.frequency, curve.fsc])
        write_text(args.curve, lambda h: np.savetxt(h, table, header="frequency_1/A fsc",
                                                     fmt="%.6f"))
    if args.json:
        write_json(args.json, {
            "method": "fsc", "version": __version__, "schema": SCHEMA_VERSION,
            "inputs": {"half1": args.half1, "half2": args.half2, "mask": args.mask},
            "parameters": {"voxel_size_A": voxel_size, "threshold": curve.threshold},
            "resolution": {"fsc_res_A": curve.resolution,
                           "fsc_beyond_nyquist": bool(curve.beyond_nyquist),
                           "fsc_at_nyquist": float(curve.at_nyquist)},
            "outputs": {"curve": args.curve} if args.curve else {}, "scene": None,
            "results": {"fsc_res_A": curve.resolution, "masked": mask is not None,
                        "corrected": corrected},
            "warnings": warnings})


def _same_path(a, b):
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def run_demo(args):
    from .demo import run_demo as demo
    return demo(args.output or "locspiral_demo", size=args.size, workers=args.threads,
                quiet=args.quiet, force=args.force)


# -- parser ---------------------------------------------------------------------------
MASK_HELP = ("mask (MRC) on the map's grid: binary, or soft with values in [0, 1] (taken "
             "above 0.5; see --mask-binarise for other maps); default: an automatic mask "
             "(see --mask-threshold)")
MASK_THRESHOLD_HELP = (
    "threshold of the automatic mask. The automatic mask (used when no --mask is given) "
    "low-passes the map to 15 Å, thresholds it (default: automatic), keeps the connected "
    "objects that are not noise specks and dilates them, as Relion's mask creation; the "
    "threshold given here applies to the low-passed map. Its volume, box fraction and "
    "any warning are printed")


def _add_mask(p):
    p.add_argument("--mask", help=MASK_HELP)
    p.add_argument("--mask-threshold", type=float, default=None, help=MASK_THRESHOLD_HELP)
    p.add_argument("--mask-binarise", type=float, default=None, metavar="T",
                   help="--mask file: use the voxels above T as the mask, whatever its values "
                        "(default: the mask must be binary or soft, values in [0, 1], and is "
                        "taken above 0.5; a density map given as --mask is refused)")
    p.add_argument("--mask-lowpass", type=float, default=D.MASK_LOWPASS,
                   help="automatic mask: low-pass resolution in Å before thresholding "
                        f"(default {D.MASK_LOWPASS:g})")
    p.add_argument("--mask-dilation", type=float, default=None,
                   help="automatic mask: dilation in Å after thresholding "
                        f"(default {D.MASK_DILATION:g})")


def _add_io(p, method, threshold=True, noise_help=None, bw_help=None):
    d = D.defaults(method)
    p.add_argument("map", nargs="?", help="input map (MRC); unsharpened, unmasked")
    p.add_argument("--half1", help="half map 1 (with --half2: used instead of a map, averaged)")
    p.add_argument("--half2", help="half map 2")
    _add_mask(p)
    _add_range(p, method)
    if threshold:
        p.add_argument("--noise-quantile", type=float, default=D.NOISE_QUANTILE,
                       help=(noise_help or "noise quantile q of the amplitude over solvent "
                             "voxels, 0.9-0.95 typical")
                       + f" (default {D.NOISE_QUANTILE:g})")
    p.add_argument("--bw", type=float, default=d.bw,
                   help=(bw_help or "Gaussian band width") + f" (default {D.bw_text(method)})")
    _add_run(p)


def _add_range(p, method):
    d = D.defaults(method)
    p.add_argument("--min-res", type=float, default=d.min_res,
                   help=f"lowest resolution of the sweep in Å (default {d.min_res:g})")
    p.add_argument("--max-res", type=float, default=None,
                   help=f"highest resolution in Å (default: {D.max_res_text(method)})")


def _add_voxel(p):
    p.add_argument("--voxel-size", "--angpix", dest="voxel_size", type=float, default=None,
                   help="voxel size in Å (default: from the map header)")


def _add_run(p):
    _add_voxel(p)
    p.add_argument("--spiral", choices=core.filterbank.SPIRAL_MODES, default=D.SPIRAL,
                   help="riesz: exact isotropic transform (default); reference: the original "
                        "code's economy filter and grid, to reproduce published numbers")
    p.add_argument("-o", "--output", default=None,
                   help="output prefix; files are <prefix>_<name>.mrc, a map extension on "
                        "the prefix is dropped; one ending in / is a folder, the files go "
                        "into it with the default prefix (default: the input file name "
                        "without extension)")
    p.add_argument("--json", default=None, metavar="FILE",
                   help="also write a JSON summary: inputs, parameters, mask, resolution, "
                        "outputs {name: path}, scene and results, with units in the key "
                        "names")
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
                    "12, 1240, 2021): local enhancement, local B-factor sharpening "
                    "(LocBSharpen, and LocSharpen's Wiener-weighted local deblurring), local "
                    "B-factor and occupancy maps, maturity index. Every method writes its "
                    "maps and the mask used (<prefix>_mask.mrc).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("locspiral", help="local enhancement: enhanced map and quality map W")
    _add_io(p, "locspiral")
    p.add_argument("--no-snr-weight", action="store_true", help="do not weigh bands by SNR")
    p.set_defaults(func=run_locspiral)

    p = sub.add_parser("locbsharpen", help="local B-factor sharpening: sharpened map and W")
    _add_io(p, "locbsharpen")
    p.add_argument("--sharpen-res", type=float, default=D.SHARPEN_RES,
                   help="resolution (Å) whose local amplitude is imposed on finer bands "
                        f"(default {D.SHARPEN_RES:g})")
    p.set_defaults(func=run_locbsharpen)

    p = sub.add_parser(
        "locsharpen",
        help="local sharpening driven by the local B and amplitude maps, Wiener-weighted so "
             "noise is not amplified: sharpened map and the local B map used",
        description="LocSharpen: local sharpening driven by the local B-factor and amplitude "
                    "maps (LocBFactor's filtered fit from --bfactor-min-res to the max "
                    "resolution). Each frequency band is deblurred per voxel by its own "
                    "smoothed local B toward --target-b and multiplied by a local Wiener "
                    "weight S^2/(S^2 + P) (S: the fitted signal, P: the band's noise power, "
                    "from the solvent or, with --half1/--half2, from the half-map "
                    "difference), so bands where the signal sinks below the noise are not "
                    "amplified. The output stays on the input's intensity scale; it is "
                    "low-passed at the max resolution. Give the unsharpened, unmasked map "
                    "(or the half maps): on a solvent-masked map the noise is "
                    "underestimated, which is warned about. Writes <prefix>_locsharpen.mrc "
                    "and <prefix>_locsharpen_bfactor.mrc (the smoothed local B map, Å^2, "
                    "sharpening sign). Only the riesz spiral.")
    _add_io(p, "locsharpen",
            noise_help="noise quantile q of the solvent amplitude that sets the noise levels "
                       "of the local B fit (which bands it keeps per voxel); the Wiener "
                       "weight uses the mean noise power, not a quantile",
            bw_help="Gaussian band width (SD) of the sharpening bands, which are bw/2 apart")
    p.add_argument("--target-b", type=float, default=D.TARGET_B,
                   help="B-factor (Å^2, sharpening sign: negative = blurred) the local "
                        "Guinier curves are brought to; 0 flattens them "
                        f"(default {D.TARGET_B:g})")
    p.add_argument("--smooth", type=float, default=D.SHARPEN_SMOOTH,
                   help="SD in Å of the Gaussian average of the local B and signal-power maps "
                        "over the mask before use (the per-voxel fit is noisy and the gain "
                        f"steep in B); 0: as fitted (default {D.SHARPEN_SMOOTH:g})")
    p.add_argument("--bfactor-min-res", type=float, default=D.BFACTOR_MIN_RES,
                   help="low-resolution end (Å) of the local B-factor fit, where the Guinier "
                        f"regime starts (default {D.BFACTOR_MIN_RES:g})")
    p.add_argument("--num-points", type=int, default=D.NUM_POINTS,
                   help=f"number of bands in the local Guinier fit (default {D.NUM_POINTS})")
    p.set_defaults(func=run_locsharpen)

    p = sub.add_parser("locbfactor", help="local B-factor (Å^2, for sharpening) and "
                                          "amplitude maps")
    _add_io(p, "locbfactor")
    p.add_argument("--num-points", type=int, default=D.NUM_POINTS,
                   help=f"number of bands in the local Guinier fit (default {D.NUM_POINTS})")
    p.add_argument("--filtered", action="store_true",
                   help="fit per voxel only the bands above the noise level")
    p.add_argument("--amplitude-at", choices=core.bfactor.AMPLITUDE_AT,
                   default=D.AMPLITUDE_AT,
                   help="A map: log amplitude at 1/d^2 = 0 (intercept, as the original code) "
                        "or at the lowest swept frequency (as the paper describes)")
    p.add_argument("--estimator", choices=core.bfactor.ESTIMATORS, default=None,
                   help="local amplitude estimator: debiased (default with the riesz "
                        "spiral) or published (the paper's, default with reference)")
    p.add_argument("--bw-units", choices=core.bfactor.BW_UNITS, default=None,
                   help="unit of --bw: pixels (Fourier pixels) or inverse_angstrom "
                        "(default: the core's choice for the estimator)")
    p.add_argument("--window", type=float, default=None, metavar="FWHM_A",
                   help="FWHM (Å) of the spatial window each voxel's fit averages over "
                        f"(default {D.BFACTOR_WINDOW:g} Å for the debiased estimator; "
                        "smaller: sharper steps between domains, noisier values); sets the "
                        "band width, or with --bw the power smoothing")
    p.set_defaults(func=run_locbfactor)

    p = sub.add_parser("lococcupancy", help="local occupancy map (0..1)")
    _add_io(p, "lococcupancy", threshold=False)
    p.add_argument("--quantile", type=float, default=D.OCCUPANCY_QUANTILE,
                   help="amplitude quantile inside the mask that counts as occupied "
                        f"(default {D.OCCUPANCY_QUANTILE:g})")
    p.set_defaults(func=run_lococcupancy)

    p = sub.add_parser("maturity", help="maturity level index of immature maps against a "
                                        "mature map")
    p.add_argument("--mature", required=True, help="mature map (defines the mask)")
    p.add_argument("--immature", required=True, nargs="+", help="immature maps, same grid")
    _add_mask(p)
    _add_range(p, "maturity")
    p.add_argument("--quantile", type=float, default=D.OCCUPANCY_QUANTILE,
                   help=f"occupancy quantile (default {D.OCCUPANCY_QUANTILE:g})")
    p.add_argument("--occupied", type=float, default=D.OCCUPIED_LEVEL,
                   help="occupancy above which a voxel counts as present (default "
                        f"{D.OCCUPIED_LEVEL:g})")
    bw = D.defaults("maturity").bw
    p.add_argument("--bw", type=float, default=bw,
                   help=f"band width, Fourier pixels (default {bw:g})")
    _add_run(p)
    p.set_defaults(func=run_maturity)

    p = sub.add_parser("fsc", help="half-map FSC and its 0.143 resolution")
    p.add_argument("half1", help="first unfiltered half map (MRC)")
    p.add_argument("half2", help="second unfiltered half map, on the same grid")
    p.add_argument("--mask", help="optional mask applied to both half maps (the core "
                                  "corrects the masked FSC when it can and says so)")
    p.add_argument("--curve", help="write the FSC curve to this text file")
    p.add_argument("--json", default=None, metavar="FILE", help="also write a JSON summary")
    _add_voxel(p)
    p.add_argument("--threads", type=int, default=None,
                   help="FFT threads (default: all cores)")
    p.add_argument("--force", action="store_true",
                   help="replace existing --curve and --json files")
    p.set_defaults(func=run_fsc)

    p = sub.add_parser("demo", help="run every method (LocSpiral, LocBSharpen, LocSharpen, "
                                    "LocBFactor, LocOccupancy, maturity index) on the "
                                    "bundled example phantom")
    p.add_argument("-o", "--output", default=None,
                   help="output folder (default ./locspiral_demo)")
    p.add_argument("--size", type=int, default=DEMO_SIZE,
                   help=f"box size of the phantom in voxels ({DEMO_SIZE}; at least 32)")
    p.add_argument("--threads", type=int, default=None,
                   help="FFT threads (default: all cores)")
    p.add_argument("--force", action="store_true", help="reuse an existing output folder")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=run_demo)
    return parser


class _SafeStream:
    """stdout/stderr that a closed or broken pipe (``| head -0``, ``>&-``) cannot stop: the
    first failed write turns it silent (its file descriptor then points to /dev/null, so
    Python's final flush is quiet too); the run and its outputs go on."""

    def __init__(self, stream):
        self._stream, self.broken = stream, stream is None

    def write(self, text):
        if not self.broken:
            try:
                return self._stream.write(text)
            except (OSError, ValueError):  # BrokenPipeError, EBADF, closed file
                self._silence()
        return len(text)

    def flush(self):
        if not self.broken:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._silence()

    def isatty(self):
        try:
            return not self.broken and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def _silence(self):
        self.broken = True
        try:
            fd = self._stream.fileno()
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
        except (OSError, ValueError, AttributeError):
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _standard_fds():
    """Closed fds 0-2 (``>&-``) get /dev/null: otherwise the next file opened (a lock, a
    map being staged) would take fd 1 and anything printed would go into it."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


# Control characters in a message (a file name with a newline in it) are shown escaped, as
# ls does: the error is always one line.
_CONTROL = {c: f"\\x{c:02x}" for c in range(32)}
_CONTROL.update({ord("\n"): "\\n", ord("\t"): "\\t", ord("\r"): "\\r", 127: "\\x7f"})


def _one_line(message):
    return str(message).translate(_CONTROL)


def _interrupted_line():
    """The truth about the outputs when Ctrl-C stopped the run."""
    from . import outputs
    written = outputs.committed()
    if written:
        return (f"interrupted after the outputs were complete: all {len(written)} files "
                "were written")
    return "interrupted; nothing was written (existing outputs are unchanged)"


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a scheduler's cancel, a closed terminal): the run stops as on
    Ctrl-C, so a staged output set is removed and the truth is said."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def _stop(signum, frame):
    raise Stopped(signum)


def _stop_signals():
    """Turn SIGTERM and SIGHUP into :class:`Stopped` where they would kill the process
    outright (their default; a parent's choice, e.g. nohup ignoring SIGHUP, is kept).
    Returns the handlers to put back."""
    import signal
    import threading
    old = {}
    if threading.current_thread() is not threading.main_thread():
        return old
    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) == signal.SIG_DFL:
            old[sig] = signal.signal(sig, _stop)
    return old


def main(argv=None):
    import signal
    _standard_fds()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _SafeStream(sys.stdout), _SafeStream(sys.stderr)
    handlers = _stop_signals()
    try:
        return _main(argv)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        sys.stdout, sys.stderr = saved


def _main(argv):
    from .outputs import OutputError, forget_committed
    parser = build_parser()
    args = parser.parse_args(argv)
    forget_committed()
    try:
        args.func(args)
    except OutputError as exc:  # the disk failed, not the input: nothing was written
        print(f"locspiral-em {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except InputError as exc:
        print(f"locspiral-em {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"locspiral-em {args.command}: error: out of memory; use a smaller box or a "
              "machine with more memory", file=sys.stderr)
        return 3
    except KeyboardInterrupt as exc:
        print(f"\n{_interrupted_line()}", file=sys.stderr)
        return 128 + getattr(exc, "signum", 2)  # 130 for Ctrl-C, 143 for SIGTERM
    except OSError as exc:  # reading or writing outside the output set (demo, fsc)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"locspiral-em {args.command}: error: {_one_line(where)}{exc.strerror or exc}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
