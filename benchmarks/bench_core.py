"""Wall time and peak memory of each method on a synthetic map, against the FFT floor.

    python benchmarks/bench_core.py            # 256^3, 2 threads
    python benchmarks/bench_core.py --size 400 # the 400^3 case (EMD-21457-sized)
    python benchmarks/bench_core.py --size 128 --methods locspiral,locsharpen

Each method runs in a fresh subprocess so its peak resident memory (VmHWM) is its own;
memory is reported in volumes (4 N^3 bytes): the resident peak (interpreter and libraries
included; ``base``: the process before the call, i.e. interpreter, libraries, input map and
mask) and the peak of numpy arrays alone (input map included, from tracemalloc). The
FFT floor of a method is (number of FFTs it needs) x (time of one inverse real FFT of that
size): 4 per band (band map + 3 Riesz components) and one forward FFT; LocBFactor's debiased
estimator adds a forward and an inverse FFT per band (power smoothing) and one forward FFT
(solvent power); LocSharpen runs LocBFactor, then its own band sweep on the partition-divided
map (3 forward and 1 inverse FFT besides). The FFT is timed in the method's own process just
before and after it (the mean of the two medians of 5), so that on a shared machine the
floor sees the load the method saw. ``cpu ratio`` is the same ratio in CPU seconds (all
threads), which a machine shared with other processes disturbs less than wall time: a
method's CPU time counts only the cycles it got. Methods the installed core lacks are
skipped.
"""
import argparse
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def phantom_file(size, folder):
    """A pseudo-atom phantom of ``size``^3 at 1 Å/voxel with a mask, saved as .npy."""
    sys.path.insert(0, os.path.dirname(HERE))
    from locspiral_em import core
    from locspiral_em.core.phantom import Domain
    c, r = size / 2, size / 8
    domains = [Domain((c, c, c - 1.2 * r), r, 50.0), Domain((c, c, c + 1.2 * r), r, 120.0),
               Domain((c, c + 1.7 * r, c), r, 50.0, occupancy=0.5)]
    ph = core.make_phantom((size,) * 3, 1.0, domains, noise=0.5, seed=0)
    path = os.path.join(folder, "map.npy")
    np.save(path, ph.map)
    np.save(os.path.join(folder, "mask.npy"), ph.mask)
    return path


CALLS = {
    # method: (core call, FFTs needed given the band count K or the point count)
    "locspiral": "core.locspiral(v, mask, 1.0, 25.0, 3.5, workers=threads)",
    "locbsharpen": "core.locbsharpen(v, mask, 1.0, 25.0, 3.5, workers=threads)",
    "locbfactor": "core.locbfactor(v, mask, 1.0, 15.0, 3.5, num_points=10, workers=threads)",
    "locbfactor-20pts": "core.locbfactor(v, mask, 1.0, 15.0, 3.5, num_points=20, workers=threads)",
    "lococcupancy": "core.lococcupancy(v, mask, 1.0, 25.0, 10.0, workers=threads)",
    # LocSharpen (core/sharpen.py) fits LocBFactor (15-3.5 Å, 10 points) itself.
    "locsharpen": "core.locsharpen(v, mask, 1.0, 25.0, 3.5, workers=threads)",
}


def _core():
    sys.path.insert(0, os.path.dirname(HERE))
    from locspiral_em import core
    return core


def available(core):
    """The methods of CALLS that this core has (``locsharpen`` is newer than the others)."""
    return [m for m in CALLS if hasattr(core, CALLS[m].split("(")[0].split(".")[1])]


def bands(method, size, core=None):
    """Bands the method sweeps (its own sweep, for LocSharpen)."""
    kmin = lambda d: np.floor(size / d)  # noqa: E731  (voxel 1 Å)
    if method.startswith("locbfactor"):
        return 20 if method.endswith("20pts") else 10
    if method == "lococcupancy":
        return int(abs(kmin(10.0) - kmin(25.0)))
    if method == "locsharpen":
        centres = getattr(getattr(core, "sharpen", None), "band_centres", None)
        if centres is not None:
            return len(centres(kmin(25.0), kmin(3.5), 4.5))
    return int(abs(kmin(3.5) - kmin(25.0)))


def _debiased_bfactor(core):
    """Whether locbfactor's default call (as benchmarked) uses the debiased estimator, which
    smooths each band's power with one forward and one inverse FFT."""
    parameters = inspect.signature(core.locbfactor).parameters
    return "estimator" in parameters and "debiased" in getattr(core.bfactor, "ESTIMATORS", ())


def ffts(method, size, core):
    """FFTs the method needs, each counted as one inverse real FFT of the map's size."""
    if method.startswith("locbfactor") or method == "locsharpen":
        points = 20 if method.endswith("20pts") else 10
        count = 4 * points + 1
        if _debiased_bfactor(core):
            count += 2 * points + 1
        if method == "locsharpen":
            # the shells' bank (1 forward), the partition division (1 forward + 1 inverse),
            # the divided map's bank (1 forward) and 4 per band of its own sweep
            count += 4 + 4 * bands(method, size, core)
        return count
    return 4 * bands(method, size, core) + 1


CHILD = r"""
import json, resource, sys, time, tracemalloc

def peak_kib():
    # VmHWM: this process's own peak. ru_maxrss would also carry the parent's peak, which
    # Linux keeps across fork and exec.
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

def reset_peak():
    # Linux: writing 5 to clear_refs sets VmHWM back to the current resident size, so the
    # peak below is the method's, not that of the FFT timing run before it.
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass

import numpy as np
import scipy.fft as sfft
sys.path.insert(0, {root!r})
from locspiral_em import core
threads, TRACED = {threads}, {traced}
v = np.load({map!r}); mask = np.load({mask!r})

def irfft_time():
    # One inverse real FFT of the map's size, timed in this process just before and after
    # the method, so that the floor sees the same machine load as the method.
    f = sfft.rfftn(np.random.default_rng(0).random(v.shape, np.float32), workers=threads)
    sfft.irfftn(f, s=v.shape, workers=threads)
    times, cpu = [], []
    for _ in range(5):
        t, c = time.perf_counter(), time.process_time()
        sfft.irfftn(f, s=v.shape, workers=threads)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return float(np.median(times)), float(np.median(cpu))

fft_before, cpu_before = (0.0, 0.0) if TRACED else irfft_time()
reset_peak()
base = peak_kib()
if TRACED:
    tracemalloc.start()   # numpy reports its buffers to tracemalloc
t, c = time.perf_counter(), time.process_time()
result = {call}
wall, cpu = time.perf_counter() - t, time.process_time() - c
traced = tracemalloc.get_traced_memory()[1] if TRACED else 0
peak = peak_kib()
result = None
fft_after, cpu_after = (0.0, 0.0) if TRACED else irfft_time()
print(json.dumps(dict(wall=wall, cpu=cpu, peak_kib=peak, base_kib=base, traced=traced,
                      fft=0.5 * (fft_before + fft_after), fft_cpu=0.5 * (cpu_before + cpu_after))))
"""

FFT_CHILD = r"""
import json, time, numpy as np, scipy.fft as sfft
n, threads = {size}, {threads}
x = np.random.default_rng(0).normal(size=(n, n, n)).astype(np.float32)
f = sfft.rfftn(x, workers=threads)
sfft.irfftn(f, s=x.shape, workers=threads)
times = []
for _ in range(5):
    t = time.perf_counter(); sfft.irfftn(f, s=x.shape, workers=threads)
    times.append(time.perf_counter() - t)
print(json.dumps(dict(irfft=float(np.median(times)))))
"""


def run_child(code):
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def parse_methods(values, parser):
    """``--methods a b,c`` -> [a, b, c], each a known method."""
    methods = [m.strip() for value in values for m in value.split(",") if m.strip()]
    unknown = [m for m in methods if m not in CALLS]
    if unknown:
        parser.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(CALLS)}")
    return methods


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="box size (default 256)")
    parser.add_argument("--threads", type=int, default=2, help="FFT threads (default 2)")
    parser.add_argument("--methods", nargs="+", default=None, metavar="METHOD",
                        help="methods to bench, separated by spaces or commas, from: "
                        f"{', '.join(CALLS)} (default: every method the installed core has)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    n, threads = args.size, args.threads
    core = _core()
    have = available(core)
    methods = have if args.methods is None else parse_methods(args.methods, parser)
    for method in [m for m in methods if m not in have]:
        print(f"skipping {method}: this core has no {CALLS[method].split('(')[0]}")
    methods = [m for m in methods if m in have]
    volume_mib = 4 * n ** 3 / 2 ** 20
    print(f"map {n}^3 ({volume_mib:.0f} MiB per float32 volume), {threads} FFT threads, "
          f"{os.cpu_count()} cores on this machine")
    fft = run_child(FFT_CHILD.format(size=n, threads=threads))["irfft"]
    print(f"one inverse real FFT: {fft:.3f} s (here; each method's floor uses its own timing)")
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        t = time.perf_counter()
        map_path = phantom_file(n, folder)
        print(f"phantom made in {time.perf_counter() - t:.1f} s")
        root = os.path.dirname(HERE)
        print(f"{'method':18s} {'bands':>5s} {'wall s':>8s} {'floor s':>8s} {'ratio':>6s} "
              f"{'cpu ratio':>9s} "
              f"{'RSS MiB':>9s} {'volumes':>8s} {'base':>5s} {'arrays MiB':>10s} {'volumes':>8s}")
        for method in methods:
            code = dict(root=root, threads=threads, map=map_path, call=CALLS[method],
                        mask=os.path.join(folder, "mask.npy"))
            r = run_child(CHILD.format(traced=False, **code))
            # A second run under tracemalloc counts the arrays themselves (input included),
            # without the interpreter and libraries that the resident size also holds.
            r["traced"] = run_child(CHILD.format(traced=True, **code))["traced"]
            k = bands(method, n, core)
            count = ffts(method, n, core)
            floor = count * r["fft"]
            peak_mib = r["peak_kib"] / 1024
            arrays = (r["traced"] + 4 * n ** 3) / 2 ** 20   # + the input map, loaded before
            row = dict(method=method, size=n, threads=threads, bands=k, ffts=count,
                       wall_s=r["wall"],
                       fft_floor_s=floor, ratio=r["wall"] / floor,
                       cpu_s=r["cpu"], cpu_ratio=r["cpu"] / (count * r["fft_cpu"]),
                       peak_rss_mib=peak_mib,
                       peak_rss_volumes=peak_mib / volume_mib,
                       base_rss_volumes=r["base_kib"] / 1024 / volume_mib, arrays_mib=arrays,
                       arrays_volumes=arrays / volume_mib, one_irfft_s=r["fft"])
            rows.append(row)
            print(f"{method:18s} {k:5d} {r['wall']:8.1f} {floor:8.1f} {row['ratio']:6.2f} "
                  f"{row['cpu_ratio']:9.2f} "
                  f"{peak_mib:9.0f} {row['peak_rss_volumes']:8.1f} {row['base_rss_volumes']:5.1f} "
                  f"{arrays:10.0f} "
                  f"{row['arrays_volumes']:8.1f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return rows


if __name__ == "__main__":
    main()
