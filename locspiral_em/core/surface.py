"""Surface levels and colour ranges of a map: the statistics a scene or a figure needs to show
the molecule (numpy only; used by :mod:`locspiral_em.chimerax`, the viewers and the figures).

* :func:`suggest_level` - the surface threshold that shows the molecule, from the density
  inside the mask (its mass) and the solvent noise outside it, nearly independent of how
  loose the mask is.
* :func:`robust_range` - the colour range of a local map: percentiles inside the mask.
"""
import numpy as np

from .errors import InputError

__all__ = ["robust_range", "suggest_level", "MASS_FRACTION", "NOISE_SIGMAS", "MIN_ENCLOSED"]


def robust_range(values, mask=None, low=2.0, high=98.0):
    """Default colour range: the ``low`` and ``high`` percentiles of ``values`` inside ``mask``
    (all finite values when ``mask`` is None). Returns ``(vmin, vmax)`` floats with
    ``vmin < vmax`` (widened by 1 around a constant field).

    >>> robust_range(bfactor_map, mask)   # e.g. (-142.3, -48.7) Å^2
    """
    values = np.asarray(values)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != values.shape:
            raise InputError(f"mask shape {mask.shape} differs from values shape {values.shape}: "
                             "give a mask on the map's grid")
        values = values[mask]
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise InputError("no finite values inside the mask to take a colour range from: "
                         "check that the mask covers the molecule")
    vmin, vmax = (float(v) for v in np.percentile(values, [float(low), float(high)]))
    if not vmax > vmin:
        vmin, vmax = vmin - 0.5, vmax + 0.5
    return vmin, vmax


MASS_FRACTION = 0.8   # the surface encloses the voxels holding this fraction of the density
NOISE_SIGMAS = 3.0    # and lies at least this many solvent noise SDs above the solvent
MIN_ENCLOSED = 0.01   # yet encloses at least this fraction of the mask (very noisy maps)
_SAMPLE = 1 << 23     # voxels; larger sets are sampled regularly for the statistics


def _sample(values):
    values = np.ravel(values)
    if values.size > _SAMPLE:  # a regular sample of ~8 M voxels is plenty for quantiles
        values = values[:: values.size // _SAMPLE + 1]
    return values


def _solvent_stats(volume, mask):
    """Robust (centre, SD) of the solvent: the voxels outside ``mask`` (the box corners
    outside the inscribed sphere when the mask leaves fewer than 1000), median and
    1.4826 x median absolute deviation, so that density tails just outside a tight mask
    do not inflate them."""
    solvent = volume[~mask]
    if solvent.size < 1000:
        from .noise import box_sphere
        solvent = volume[~box_sphere(volume.shape)]
    solvent = _sample(solvent).astype(np.float64)
    centre = float(np.median(solvent))
    sd = 1.4826 * float(np.median(np.abs(solvent - centre)))
    if not sd > 0:  # more than half the solvent exactly constant (a masked map)
        sd = float(solvent.std())
    return centre, sd


def suggest_level(volume, mask=None, mass_fraction=MASS_FRACTION, sigmas=NOISE_SIGMAS):
    """A surface threshold for ``volume`` that shows the molecule, whatever the mask's size.

    Without a ``mask``: 3 noise SDs above the solvent in the box corners
    (:func:`locspiral_em.core.masking.auto_threshold`).

    With a mask the level comes from the density itself, not from the mask's volume (a
    level enclosing as many voxels as a loose mask sits in the solvent noise):

    1. the solvent's centre and noise SD, robustly from the voxels outside the mask;
    2. the *mass level*: inside the mask, the density above the solvent centre is summed
       from the highest voxel down; the level is where that sum reaches ``mass_fraction``
       (0.8) of the mask's total density. Solvent noise inside a loose mask averages to
       zero in the total, so the level hardly depends on how loose the mask is;
    3. the level is at least ``sigmas`` (3) noise SDs above the solvent, so that noise
       specks stay rare (``surface dust`` hides the rest), and at most the level that still
       encloses 1% of the mask (a map drowned in noise still shows its strongest density).

    >>> suggest_level(volume, mask)   # the same level for a tight and a loose mask
    """
    volume = np.asarray(volume, dtype=np.float32)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != volume.shape:
            raise InputError(f"mask shape {mask.shape} differs from volume {volume.shape}: "
                             "give a mask on the map's grid")
        if mask.any() and not mask.all():
            return _mass_level(volume, mask, float(mass_fraction), float(sigmas))
    from .masking import auto_threshold
    return auto_threshold(volume)


def _mass_level(volume, mask, mass_fraction, sigmas):
    centre, sd = _solvent_stats(volume, mask)
    inside = _sample(volume[mask]).astype(np.float64)
    excess = np.sort(inside - centre)[::-1]
    total = float(excess.sum())
    level = centre + sigmas * sd  # the noise floor
    positive = int(np.count_nonzero(excess > 0))
    if total > 0 and positive:
        mass = np.cumsum(excess[:positive])  # increasing: the positive part, high to low
        k = min(int(np.searchsorted(mass, mass_fraction * total)), positive - 1)
        level = max(level, centre + float(excess[k]))
    ceiling = float(np.quantile(inside, 1.0 - MIN_ENCLOSED))
    return float(min(level, ceiling))
