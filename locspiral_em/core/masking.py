"""Binary macromolecule masks.

:func:`threshold_mask` thresholds the raw map, as the reference code does. :func:`auto_mask`
is the default: it makes the mask the way users know from Relion's mask creation (low-pass,
threshold from the solvent noise, keep the molecule, dilate), which covers a whole molecule,
weak or partly occupied parts included, where a threshold on the raw, noisy map keeps only
its strongest voxels.
"""
from typing import NamedTuple

import numpy as np
import scipy.fft as sfft
from scipy import ndimage

from . import defaults as D
from .errors import InputError
from .filterbank import default_workers
from .noise import box_sphere
from .validate import as_volume, as_voxel_size

MIN_OBJECT_VOXELS = 25


def auto_threshold(volume, sigmas=3.0):
    """A threshold ``sigmas`` noise SDs above the solvent mean, the solvent taken as the
    box corners outside the inscribed sphere (where a centred particle has no density)."""
    volume = as_volume(volume)
    # float64: the squares of a map in large units (1e30) overflow float32
    corners = volume[~box_sphere(volume.shape)].astype(np.float64)
    return float(corners.mean() + sigmas * corners.std(ddof=1))


def threshold_mask(volume, threshold=None, min_voxels=MIN_OBJECT_VOXELS):
    """Macromolecule mask: voxels above ``threshold`` in connected objects (6-connectivity)
    of at least ``min_voxels`` voxels; smaller specks are noise.

    ``threshold=None`` uses :func:`auto_threshold` (3 SD above the box-corner solvent).
    """
    volume = as_volume(volume)
    if threshold is None:
        threshold = auto_threshold(volume)
    above = volume > float(threshold)
    labels, count = ndimage.label(above)  # default structure: 6-connectivity
    if count == 0:
        raise InputError(f"no voxel is above the mask threshold {threshold:g} (map range "
                         f"{volume.min():g} to {volume.max():g}); use a lower threshold")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    mask = (sizes >= int(min_voxels))[labels]
    if not mask.any():
        raise InputError(f"thresholding at {threshold:g} leaves only objects smaller than "
                         f"{min_voxels} voxels; use a lower threshold")
    return mask


DEFAULT_LOWPASS = D.MASK_LOWPASS  # Å, as users pass to relion_mask_create --lowpass
# Å: the "extend by a few pixels" of Relion masks, without the soft edge
DEFAULT_DILATION = D.MASK_DILATION
# The automatic threshold is the higher of two levels on the low-passed map:
# - NOISE_SIGMAS robust SDs above the solvent. After a 15 Å low-pass a 400^3 box at 1 Å
#   holds ~2e5 independent noise blobs; at 5 SD (one-sided p = 3e-7) fewer than one reaches
#   the threshold, so what passes it is density, not noise (this level rules noisy maps).
# - PEAK_FRACTION of the low-passed peak above the solvent, cryoSPARC's default dynamic mask
#   threshold (0.2). In a clean map the 5 SD level lies far out in the low-pass tails, and a
#   mask drawn there is mostly an empty shell; LocOccupancy's in-mask quantile then falls
#   into that shell and reads every molecule voxel, a half-occupied part included, as fully
#   occupied. At 0.2 of the peak, the surface of a uniform blob (where the low-pass puts
#   half its level) stays inside the mask down to about 40% occupancy; the dilation adds
#   the margin.
NOISE_SIGMAS = 5.0
PEAK_FRACTION = 0.2
# A piece of density kept beside the largest one must hold this fraction of its volume:
# small subunits and ligands pass, isolated noise blobs (a few voxels at 5 SD) do not.
MIN_PIECE_FRACTION = 0.01
SMALL_MASK = 0.005  # box fraction below which the mask is reported as too small
LOW_SOLVENT = 0.30  # box-sphere solvent fraction below which solvent is reported as scarce
TIGHT = 0.5  # an explicit threshold keeping less than this of the automatic one's voxels


class AutoMask(NamedTuple):
    """Result of :func:`auto_mask`: the boolean ``mask`` on the map's grid, the ``threshold``
    applied to the low-passed map, the ``lowpass`` and ``dilation`` (Å) used, the mask's
    ``volume`` (Å^3), the ``box_fraction`` inside it, the ``solvent_fraction`` of the box's
    inscribed sphere left outside it (the voxels the local methods take noise from), and
    ``warnings``: one readable line per problem found."""
    mask: np.ndarray
    threshold: float
    lowpass: float
    dilation: float
    volume: float
    box_fraction: float
    solvent_fraction: float
    warnings: tuple


def lowpass_map(volume, voxel_size, resolution, workers=None):
    """``volume`` low-passed by a Gaussian whose amplitude is 1/2 at ``1/resolution``.

    Relion low-passes with a raised-cosine edge; a Gaussian has no ringing, which would
    otherwise put shells of density above a noise-level threshold around a strong map.
    """
    workers = default_workers(workers)
    p = float(voxel_size)
    # exp(-s^2 / (2 sigma^2)) = 1/2 at s = 1/resolution; separable, so three 1-D factors.
    rate = np.log(2.0) * float(resolution) ** 2
    spectrum = sfft.rfftn(volume, workers=workers)
    for axis, freqs in enumerate((sfft.fftfreq(volume.shape[0], d=p),
                                  sfft.fftfreq(volume.shape[1], d=p),
                                  sfft.rfftfreq(volume.shape[2], d=p))):
        shape = [1, 1, 1]
        shape[axis] = -1
        spectrum *= np.exp(-rate * freqs ** 2).astype(np.float32).reshape(shape)
    return sfft.irfftn(spectrum, s=volume.shape, workers=workers).astype(np.float32,
                                                                           copy=False)


def _robust_level(values, clip=3.0, rounds=20, max_samples=1 << 20):
    """Median and MAD-based SD of ``values`` after iterative ``clip``-SD clipping, so that
    density reaching into the solvent sample does not inflate the noise estimate. A noise
    level is as well known from 10^6 evenly spread voxels as from all of a large box."""
    values = np.asarray(values)
    if values.size > max_samples:
        values = values[np.linspace(0, values.size - 1, max_samples).astype(np.int64)]
    values = values.astype(np.float64)
    for _ in range(rounds):
        median = float(np.median(values))
        sd = 1.4826 * float(np.median(np.abs(values - median)))
        keep = np.abs(values - median) <= clip * sd
        if sd == 0 or keep.all() or keep.sum() < 100:
            break
        values = values[keep]
    return median, sd


def _solvent_sample(raw, low):
    """Low-passed values of the solvent voxels, and a warning when the map was masked.

    Solvent is the box corners outside the inscribed sphere (where a centred particle has
    no density). A map already masked by its depositor has exactly 0 there: zeros carry no
    noise, so only non-zero voxels count, from the whole box if the corners have too few.
    """
    corners = ~box_sphere(raw.shape)
    live = raw != 0
    warning = None
    zero = 1.0 - float(live.mean())
    if zero > 0.2:
        warning = (f"the map looks masked already ({100 * zero:.0f}% of its voxels are exactly "
                   "0): solvent noise is taken from its non-zero voxels; an unmasked map "
                   "gives a better mask")
    pick = corners & live
    if pick.sum() < max(1000, 0.1 * corners.sum()):
        pick = live
    return low[pick], warning


def _dilate(mask, radius_voxels, workers):
    """Binary dilation by a ball of ``radius_voxels``: a convolution by FFT over the mask's
    bounding box, padded so that nothing wraps around. Its cost does not grow with the
    radius, unlike ndimage.binary_dilation's, which grows with the ball's volume."""
    r = int(np.floor(radius_voxels + 1e-6))
    if r < 1:
        return mask
    axes = [np.nonzero(mask.any(axis=tuple(j for j in range(3) if j != i)))[0]
            for i in range(3)]
    lo = [int(a[0]) for a in axes]
    hi = [int(a[-1]) + 1 for a in axes]
    # The padded box: the bounding box grown by r on every side (it may reach beyond the map).
    size = [sfft.next_fast_len(h - l + 2 * r, real=True) for l, h in zip(lo, hi)]
    work = np.zeros(size, np.float32)
    work[r:r + hi[0] - lo[0], r:r + hi[1] - lo[1], r:r + hi[2] - lo[2]] = \
        mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
    g = np.arange(-r, r + 1)
    ball = (g[:, None, None] ** 2 + g[None, :, None] ** 2 + g[None, None, :] ** 2
            <= radius_voxels ** 2 + 1e-6)
    kernel = np.zeros(size, np.float32)
    kernel[:2 * r + 1, :2 * r + 1, :2 * r + 1] = ball
    # Centre the ball on the origin so the convolution does not shift the mask.
    kernel = np.roll(kernel, (-r, -r, -r), axis=(0, 1, 2))
    grown = sfft.irfftn(sfft.rfftn(work, workers=workers) * sfft.rfftn(kernel, workers=workers),
                        s=size, workers=workers)
    # Counts of mask voxels under the ball: integers, so 0.5 separates 0 from >= 1 exactly.
    grown = grown > 0.5
    out = np.zeros_like(mask)
    # Back into the map's box: padded positions r - (lo - a) for map index a.
    src = [slice(r - min(l, r), r - min(l, r) + min(h + r, n) - max(l - r, 0))
           for l, h, n in zip(lo, hi, mask.shape)]
    dst = [slice(max(l - r, 0), min(h + r, n)) for l, h, n in zip(lo, hi, mask.shape)]
    out[tuple(dst)] = grown[tuple(src)]
    return out | mask


def _pieces(low, threshold):
    """(voxels above ``threshold``, the kept pieces or None when only specks, number of
    pieces): connected pieces (6-connectivity) of at least ``MIN_PIECE_FRACTION`` of the
    largest one (and ``MIN_OBJECT_VOXELS``)."""
    above = low > np.float32(threshold)
    labels, count = ndimage.label(above)  # default structure: 6-connectivity
    if count == 0:
        return above, None, 0
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    keep = sizes >= max(MIN_OBJECT_VOXELS, MIN_PIECE_FRACTION * sizes.max())
    keep[0] = False
    mask = keep[labels]
    del labels
    return above, (mask if mask.any() else None), count


def auto_mask(volume, voxel_size, threshold=None, lowpass=DEFAULT_LOWPASS,
              dilation=DEFAULT_DILATION, workers=None) -> AutoMask:
    """Binary macromolecule mask made as with Relion's mask creation.

    1. Low-pass the map to ``lowpass`` Å (:func:`lowpass_map`), so noise averages out and
       weak or partly occupied density stands as clearly above the solvent as the rest.
    2. Threshold it: ``threshold`` applies to the low-passed map. ``None`` (automatic) takes
       the higher of 5 robust noise SDs above the median of the low-passed solvent (box
       corners outside the inscribed sphere, clipped of any density reaching in; the
       non-zero voxels if the map was masked already) and 0.2 of the low-passed peak above
       that median (see ``NOISE_SIGMAS`` and ``PEAK_FRACTION``).
    3. Keep the molecule: connected pieces (6-connectivity) holding at least
       ``MIN_PIECE_FRACTION`` of the largest one's volume; isolated specks are dropped.
    4. Dilate by ``dilation`` Å (a ball; binary, no soft edge: the methods need a binary
       mask and take their noise from outside it).

    ``voxel_size`` is in Å. The ``warnings`` of the result flag a mask that is very small,
    touches the box edge, leaves little solvent inside the box sphere, comes from an
    explicit threshold keeping less than half of what the automatic one keeps, or was made
    from a map that was masked already.
    """
    raw = as_volume(volume)
    p = as_voxel_size(voxel_size)
    try:
        lowpass = float(lowpass)
        dilation = float(dilation)
    except (TypeError, ValueError):
        raise InputError(f"the mask low-pass and dilation must be numbers in Å, got "
                         f"{lowpass!r} and {dilation!r}") from None
    if not np.isfinite(lowpass) or lowpass < 2.0 * p:
        raise InputError(f"mask low-pass {lowpass:g} Å is beyond Nyquist ({2 * p:g} Å at "
                         f"{p:g} Å/voxel); use a coarser value such as 15 Å")
    if not np.isfinite(dilation) or dilation < 0:
        raise InputError(f"mask dilation must be 0 or more Å, got {dilation:g}")
    workers = default_workers(workers)
    low = lowpass_map(raw, p, lowpass, workers)
    warnings = []

    solvent, masked_warning = _solvent_sample(raw, low)
    if masked_warning:
        warnings.append(masked_warning)
    median, sd = _robust_level(solvent)
    peak = float(low.max())
    automatic = max(median + NOISE_SIGMAS * sd, median + PEAK_FRACTION * (peak - median))
    given = threshold is not None
    if threshold is None:
        threshold = automatic
    else:
        try:
            threshold = float(threshold)
        except (TypeError, ValueError):
            raise InputError(f"the mask threshold must be a number, got {threshold!r}") \
                from None
        if not np.isfinite(threshold):
            raise InputError(f"the mask threshold must be finite, got {threshold!r}")

    above, mask, count = _pieces(low, threshold)
    if mask is None and not given and masked_warning:
        # A map thresholded upstream (solvent set to exactly 0, as a segment cut out in
        # Chimera): its non-zero voxels are all density, so their spread is no noise level
        # and 5 of it lie above the density. Its zeroed solvent, low-passed, is the
        # background instead: 0.2 of the peak above that, as for a clean map.
        background = float(np.median(low[raw == 0]))
        fallback = background + PEAK_FRACTION * (peak - background)
        retry = _pieces(low, fallback)
        if retry[1] is not None:
            warnings.append(
                f"the automatic threshold {automatic:.4g} keeps nothing of this masked map "
                "(its non-zero voxels are all density, no solvent noise to measure); used "
                f"{fallback:.4g}, 0.2 of the low-passed peak above the zeroed solvent: "
                "check the mask, or give one (--mask)")
            threshold = automatic = fallback
            above, mask, count = retry
    if count == 0:
        raise InputError(f"no voxel of the {lowpass:g} Å low-passed map is above the mask "
                         f"threshold {threshold:g} (its range is {float(low.min()):g} to "
                         f"{peak:g}); use a lower threshold"
                         + ("" if threshold == automatic else " or the automatic one"))
    if mask is None:
        raise InputError(f"the {lowpass:g} Å low-passed map has only specks of fewer than "
                         f"{MIN_OBJECT_VOXELS} voxels above the mask threshold "
                         f"{threshold:.4g}; use a lower threshold")
    if threshold > automatic:
        # How much of what the automatic threshold would keep this one keeps.
        wanted = int(np.count_nonzero(low > np.float32(automatic)))
        kept = int(np.count_nonzero(above))
        if wanted and kept < TIGHT * wanted:
            warnings.append(
                f"the mask may be too tight: threshold {threshold:.4g} keeps "
                f"{100 * kept / wanted:.0f}% of the voxels the automatic threshold "
                f"{automatic:.4g} keeps; lower it or use the automatic threshold")
    del above, low
    mask = _dilate(mask, dilation / p, workers)

    count = int(mask.sum())
    sphere = box_sphere(mask.shape)
    box_fraction = count / mask.size
    solvent_fraction = float(np.count_nonzero(sphere & ~mask)) / float(sphere.sum())
    if count == mask.size:
        raise InputError(f"the mask covers the whole box (threshold {threshold:.4g}); "
                         "use a higher threshold")
    if box_fraction < SMALL_MASK:
        warnings.append(f"the mask is very small: {100 * box_fraction:.2f}% of the box "
                        f"({count} voxels, threshold {threshold:.4g}); check the threshold "
                        "and that the map holds the molecule")
    edge = (mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any()
            or mask[:, :, 0].any() or mask[:, :, -1].any())
    if edge:
        warnings.append("the mask touches the box edge: the molecule may not fit the box, "
                        "or the threshold is too low; check the mask")
    if solvent_fraction < LOW_SOLVENT:
        warnings.append(f"the mask leaves only {100 * solvent_fraction:.0f}% of the box's "
                        "inscribed sphere as solvent, where the local methods measure the "
                        "noise; use a higher threshold, less dilation or a larger box")
    return AutoMask(mask, float(threshold), lowpass, dilation, count * p ** 3,
                    float(box_fraction), solvent_fraction, tuple(warnings))
