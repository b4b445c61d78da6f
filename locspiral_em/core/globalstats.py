"""Global figures users compare the local maps with: half-map FSC and the Guinier B-factor."""
from typing import NamedTuple

import numpy as np
import scipy.fft as sfft

from .errors import InputError
from .filterbank import default_workers
from .validate import as_volume, as_voxel_size, check_same_grid

FSC_THRESHOLD = 0.143


def average_half_maps(half1, half2):
    """The full map as Relion/Scipion define it for these methods: (half1 + half2) / 2."""
    half1 = as_volume(half1, "half map 1")
    half2 = as_volume(half2, "half map 2")
    check_same_grid(half1, half2, "half map 1", "half map 2")
    return ((half1 + half2) * np.float32(0.5)).astype(np.float32)


def _shell_index(shape, voxel_size):
    """Integer shell of every half-grid coefficient, in Fourier pixels of the longest axis,
    and the matching spatial frequency (1/Å) of each shell."""
    n = max(shape)
    fz = sfft.fftfreq(shape[0]) * n
    fy = sfft.fftfreq(shape[1]) * n
    fx = sfft.rfftfreq(shape[2]) * n
    r = np.sqrt(fz[:, None, None] ** 2 + fy[None, :, None] ** 2 + fx[None, None, :] ** 2)
    shells = np.rint(r).astype(np.int64)
    # Count each half-grid coefficient as often as it appears in the full grid.
    weight = np.full(len(fx), 2.0)
    weight[0] = 1.0
    if shape[2] % 2 == 0:
        weight[-1] = 1.0
    nshell = n // 2 + 1
    freq = np.arange(nshell) / (voxel_size * n)
    return shells, np.broadcast_to(weight, shells.shape), nshell, freq


class FSC(NamedTuple):
    """``frequency`` (1/Å) and ``fsc`` per shell; ``resolution`` (Å) where FSC first drops
    below ``threshold`` (linear interpolation), or Nyquist if it never does."""
    frequency: np.ndarray
    fsc: np.ndarray
    resolution: float
    threshold: float


def fsc(half1, half2, voxel_size, mask=None, threshold=FSC_THRESHOLD, workers=None):
    """Fourier shell correlation between two half maps (optionally masked) and its
    ``threshold`` (0.143) resolution, used to default the methods' ``max_res``."""
    half1 = as_volume(half1, "half map 1")
    half2 = as_volume(half2, "half map 2")
    check_same_grid(half1, half2, "half map 1", "half map 2")
    voxel_size = as_voxel_size(voxel_size)
    if mask is not None:
        check_same_grid(half1, mask, "half map 1", "mask")
        half1 = half1 * mask
        half2 = half2 * mask
    workers = default_workers(workers)
    f1 = sfft.rfftn(half1, workers=workers)
    f2 = sfft.rfftn(half2, workers=workers)
    shells, weight, nshell, freq = _shell_index(half1.shape, float(voxel_size))
    keep = shells < nshell
    s = shells[keep]
    w = weight[keep]
    cross = np.bincount(s, (w * (f1 * np.conj(f2)).real[keep]), nshell)
    p1 = np.bincount(s, w * (np.abs(f1[keep]) ** 2), nshell)
    p2 = np.bincount(s, w * (np.abs(f2[keep]) ** 2), nshell)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = np.where(p1 * p2 > 0, cross / np.sqrt(p1 * p2), 0.0)
    curve[0] = 1.0
    below = np.nonzero(curve[1:] < threshold)[0]
    if below.size == 0:
        resolution = 2.0 * float(voxel_size)
    else:
        i = below[0] + 1
        # Interpolate the crossing between shells i-1 and i.
        f0, f1_ = freq[i - 1], freq[i]
        c0, c1 = curve[i - 1], curve[i]
        t = (c0 - threshold) / (c0 - c1) if c0 != c1 else 0.0
        crossing = f0 + t * (f1_ - f0)
        resolution = 1.0 / crossing if crossing > 0 else float("inf")
        resolution = max(resolution, 2.0 * float(voxel_size))
    return FSC(freq, curve, float(resolution), threshold)


class GuinierB(NamedTuple):
    """Global Guinier fit: ``bfactor`` for sharpening (Å^2, 4 x slope of log|F| vs 1/d^2),
    the intercept, and the fitted points."""
    bfactor: float
    intercept: float
    res_square: np.ndarray
    log_amplitude: np.ndarray


def global_bfactor(volume, voxel_size, min_res=10.0, max_res=None, mask=None, workers=None):
    """Rosenthal-Henderson global B: a line through the spherically averaged log amplitude
    ``log <|F|>`` against ``1/d^2`` between ``min_res`` and ``max_res`` (Å).

    Same sign convention as :func:`locbfactor`: negative for a decaying spectrum, so it can be
    compared with the mean local B inside the mask. (Rosenthal & Henderson, JMB 333, 2003.)
    """
    volume = as_volume(volume)
    p = as_voxel_size(voxel_size)
    if max_res is None:
        max_res = 2.0 * p
    if min_res <= max_res:
        raise InputError(f"min resolution {min_res:g} Å must be coarser than max resolution "
                         f"{max_res:g} Å for the Guinier fit")
    if mask is not None:
        check_same_grid(volume, mask, "map", "mask")
        volume = volume * mask
    spectrum = np.abs(sfft.rfftn(volume, workers=default_workers(workers)))
    shells, weight, nshell, freq = _shell_index(volume.shape, p)
    keep = shells < nshell
    total = np.bincount(shells[keep], weight[keep] * spectrum[keep], nshell)
    count = np.bincount(shells[keep], weight[keep], nshell)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_amp = total / count
    use = (freq >= 1.0 / min_res) & (freq <= 1.0 / max_res) & (mean_amp > 0)
    if use.sum() < 2:
        raise InputError(f"too few Fourier shells between {min_res:g} and {max_res:g} Å for "
                         "a Guinier fit; widen the range")
    x = freq[use] ** 2
    y = np.log(mean_amp[use])
    slope, intercept = np.polyfit(x, y, 1)
    return GuinierB(float(4.0 * slope), float(intercept), x, y)
