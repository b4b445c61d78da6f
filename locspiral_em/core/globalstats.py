"""Global figures users compare the local maps with: half-map FSC and the Guinier B-factor."""
from typing import NamedTuple, Optional

import numpy as np
import scipy.fft as sfft

from .errors import InputError
from .filterbank import default_workers
from .scale import log_fields, scale_free
from .validate import as_volume, as_voxel_size, check_same_grid

FSC_THRESHOLD = 0.143


def average_half_maps(half1, half2):
    """The full map as Relion/Scipion define it for these methods: (half1 + half2) / 2."""
    half1 = as_volume(half1, "half map 1")
    half2 = as_volume(half2, "half map 2")
    check_same_grid(half1, half2, "half map 1", "half map 2")
    # Halve first: the same float32 values (halving is exact), and no overflow to inf for
    # maps near float32's limit.
    return (half1 * np.float32(0.5) + half2 * np.float32(0.5)).astype(np.float32)


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


RANDOMISE_AT_FSC = 0.8  # Relion postprocess's --randomize_at_fsc default
RANDOM_SEED = 0  # phase randomisation is seeded, so a masked FSC is reproducible


class FSC(NamedTuple):
    """``frequency`` (1/Å) and ``fsc`` per shell; ``resolution`` (Å) where FSC first drops
    below ``threshold`` (linear interpolation), or Nyquist if it never does.

    With a mask, ``fsc`` is the curve corrected for the mask (``corrected`` True; Chen et
    al. 2013), ``fsc_masked`` the masked curve before correction, ``fsc_unmasked`` the curve
    without the mask, ``fsc_randomised`` the masked curve of the phase-randomised half maps
    and ``randomise_from`` (Å) the resolution beyond which their phases were randomised.
    Without a mask (or when no correction was made) the extra curves are ``None`` or as
    computed, ``randomise_from`` is ``None`` and ``corrected`` False."""
    frequency: np.ndarray
    fsc: np.ndarray
    resolution: float
    threshold: float
    fsc_unmasked: Optional[np.ndarray] = None
    fsc_masked: Optional[np.ndarray] = None
    fsc_randomised: Optional[np.ndarray] = None
    randomise_from: Optional[float] = None
    corrected: bool = False

    @property
    def beyond_nyquist(self):
        """True when ``fsc`` never drops below ``threshold``: ``resolution`` is then
        Nyquist, a bound (the true resolution is finer), not a measurement."""
        return not bool(np.any(np.asarray(self.fsc)[1:] < self.threshold))

    @property
    def at_nyquist(self):
        """The curve's value in its last shell (Nyquist)."""
        return float(np.asarray(self.fsc)[-1])


def _curve(f1, f2, s, w, nshell):
    """FSC per shell of two half-grid transforms (``s``, ``w``: kept shells and weights)."""
    cross = np.bincount(s, (w * (f1 * np.conj(f2)).real.ravel()), nshell)
    p1 = np.bincount(s, w * (np.abs(f1.ravel()) ** 2), nshell)
    p2 = np.bincount(s, w * (np.abs(f2.ravel()) ** 2), nshell)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = np.where(p1 * p2 > 0, cross / np.sqrt(p1 * p2), 0.0)
    curve[0] = 1.0
    return curve


def _resolution(curve, freq, threshold, voxel_size):
    """Where ``curve`` first drops below ``threshold`` (Å, linear interpolation between
    shells), Nyquist if it never does."""
    below = np.nonzero(curve[1:] < threshold)[0]
    if below.size == 0:
        return 2.0 * float(voxel_size)
    i = below[0] + 1
    f0, f1 = freq[i - 1], freq[i]
    c0, c1 = curve[i - 1], curve[i]
    t = (c0 - threshold) / (c0 - c1) if c0 != c1 else 0.0
    crossing = f0 + t * (f1 - f0)
    resolution = 1.0 / crossing if crossing > 0 else float("inf")
    return max(resolution, 2.0 * float(voxel_size))


def _randomise_phases(spectrum, shape, beyond, rng, workers):
    """Give the coefficients selected by ``beyond`` uniform random phases, keeping their
    amplitudes (in place).

    The phases are those of the transform of real white noise: uniform, and Hermitian on
    the planes a real transform stores twice, so the randomised map is a proper real map.
    """
    noise = sfft.rfftn(rng.standard_normal(shape, dtype=np.float32), workers=workers)[beyond]
    spectrum[beyond] = np.abs(spectrum[beyond]) * (noise / np.maximum(np.abs(noise), 1e-30))
    return spectrum


@scale_free(arrays=("half1", "half2"))  # one factor for both: their ratio is kept
def fsc(half1, half2, voxel_size, mask=None, threshold=FSC_THRESHOLD, workers=None,
        correct=True, seed=RANDOM_SEED):
    """Fourier shell correlation between two half maps and its ``threshold`` (0.143)
    resolution, used to default the methods' ``max_res``.

    With a ``mask`` (binary or soft, on the maps' grid) the masked FSC is corrected for the
    correlation the mask itself adds, as Relion postprocess does (Chen et al., Ultramicroscopy
    135:24, 2013): the phases of both half maps are randomised beyond the first shell where
    the unmasked FSC falls below 0.8, the randomised maps are masked, and beyond that shell
    ``FSC_true = (FSC_t - FSC_n) / (1 - FSC_n)``, with ``FSC_t`` the masked FSC and ``FSC_n``
    that of the randomised maps. Like Relion, the first two shells from the randomisation
    keep ``FSC_t`` (the randomised curve steps there), so the corrected resolution is never
    coarser than those shells.

    A mask edge that cuts through density is the same in both half maps and correlates them
    at every frequency beyond the map's true resolution; the correction removes that. A mask
    that only takes solvent away rightly raises the FSC (it removes noise, not signal), and
    there the correction changes nothing: on the demo phantom, whose noise fills the box, the
    masked resolution is finer than the unmasked one, corrected or not. ``seed`` fixes the
    random phases (reproducible results); ``correct=False`` gives the masked FSC as it is.
    """
    half1 = as_volume(half1, "half map 1")
    half2 = as_volume(half2, "half map 2")
    check_same_grid(half1, half2, "half map 1", "half map 2")
    voxel_size = as_voxel_size(voxel_size)
    if mask is not None:
        check_same_grid(half1, mask, "half map 1", "mask")
        mask = np.asarray(mask)
        mask = mask if mask.dtype == bool else as_volume(mask, "mask")
    workers = default_workers(workers)
    shape = half1.shape
    shells, weight, nshell, freq = _shell_index(shape, float(voxel_size))
    keep = (shells < nshell).ravel()
    s = shells.ravel()[keep]
    w = np.ascontiguousarray(weight).ravel()[keep]

    def curve_of(a, b):
        return _curve(a.ravel()[keep], b.ravel()[keep], s, w, nshell)

    def transform(volume):
        return sfft.rfftn(volume, workers=workers)

    if mask is None:
        curve = curve_of(transform(half1), transform(half2))
        return FSC(freq, curve, float(_resolution(curve, freq, threshold, voxel_size)),
                   threshold)

    masked = curve_of(transform(half1 * mask), transform(half2 * mask))
    if not correct:
        return FSC(freq, masked, float(_resolution(masked, freq, threshold, voxel_size)),
                   threshold, fsc_masked=masked)
    f1, f2 = transform(half1), transform(half2)
    unmasked = curve_of(f1, f2)
    drop = np.nonzero(unmasked[1:] < RANDOMISE_AT_FSC)[0]
    if drop.size == 0:
        # The FSC stays above 0.8 to Nyquist: nothing to randomise, nor to correct.
        return FSC(freq, masked, float(_resolution(masked, freq, threshold, voxel_size)),
                   threshold, unmasked, masked)
    k = int(drop[0]) + 1
    n = max(shape)
    # Relion randomises every coefficient at radius >= k (Fourier pixels of the longest
    # axis, as the shells), each half map with its own phases.
    # Squares per axis in float64, summed in float32 (half the temporary; cubic boxes give
    # integers, exact in float32).
    axes = [((f * n) ** 2).astype(np.float32) for f in
            (sfft.fftfreq(shape[0]), sfft.fftfreq(shape[1]), sfft.rfftfreq(shape[2]))]
    beyond = (axes[0][:, None, None] + axes[1][None, :, None] + axes[2][None, None, :]
              >= np.float32(k * k))
    rng = np.random.default_rng(seed)
    randomised = []
    for f in (f1, f2):
        f = _randomise_phases(f, shape, beyond, rng, workers)
        volume = sfft.irfftn(f, s=shape, workers=workers).astype(np.float32, copy=False)
        randomised.append(transform(volume * mask))
    del f1, f2
    noise = curve_of(*randomised)
    corrected = masked.copy()
    beyond = np.arange(nshell) >= k + 2
    with np.errstate(invalid="ignore", divide="ignore"):
        corrected[beyond] = np.where(noise[beyond] < 1.0,
                                     (masked[beyond] - noise[beyond]) / (1.0 - noise[beyond]),
                                     0.0)
    resolution = float(_resolution(corrected, freq, threshold, voxel_size))
    return FSC(freq, corrected, resolution, threshold, unmasked, masked, noise,
               float(voxel_size) * n / k, True)


class GuinierB(NamedTuple):
    """Global Guinier fit: ``bfactor`` for sharpening (Å^2, 4 x slope of log|F| vs 1/d^2),
    the intercept, and the fitted points."""
    bfactor: float
    intercept: float
    res_square: np.ndarray
    log_amplitude: np.ndarray


@scale_free(restore=log_fields("intercept", "log_amplitude", where=None))
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
