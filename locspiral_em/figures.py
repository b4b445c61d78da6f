"""Figures of the local methods' results, saved as PNG (matplotlib, no Scipion).

* :func:`guinier_plot` - local Guinier plots (log amplitude against 1/d^2 at a few voxels,
  with their fitted lines and the noise curve), as Fig. 3B of Kaur et al. 2021;
  :func:`local_guinier_figure` picks voxels of high, medium and low B inside the mask and
  computes their curves with :func:`locspiral_em.core.guinier_profiles`.
* :func:`bfactor_histogram` - histogram of the local B inside the mask, mean and SD marked.
* :func:`central_slices` - x, y and z slices through the molecule's centre (the mask's or
  the density's centre of mass, :func:`slice_center`), with a colour bar;
  :func:`slices_montage` - the same cuts of several maps, one row and colour bar each (the
  Pipeliner jobs' montage). The scenes' rules hold in both: slices through the molecule,
  never through an empty box centre, and voxels outside the mask of a local map (B, A,
  occupancy, W: 0 there, which a colour scale would paint as data) drawn neutral grey
  (:data:`NO_VALUE_GREY`), not as a value.
* :func:`maturity_bars` - maturity indices as a sorted bar chart (a maturation timeline).

Figures are drawn with matplotlib's object API on an Agg canvas (``Figure`` +
``FigureCanvasAgg``), never through pyplot: this works without a display and does not
switch the backend of a process that already shows plots (Scipion's GUI). matplotlib is
imported only when a figure is made. Every function returns the PNG's path; the image is
``figsize * dpi`` pixels.
"""
import os

import numpy as np

from .core.errors import InputError

__all__ = ["guinier_plot", "pick_guinier_voxels", "fit_guinier", "local_guinier_figure",
           "bfactor_histogram", "slice_center", "slice_planes", "central_slices",
           "slices_montage", "maturity_bars", "DPI", "NO_VALUE_GREY"]

DPI = 100
NO_VALUE_GREY = "#d9d9d9"   # slices: voxels outside the mask of a local map (no value)
# A plane through the mask's centre of mass is used unless it cuts fewer than this fraction
# of the mask voxels the fullest plane cuts (separate domains: the centre lies between).
FULL_PLANE_FRACTION = 0.5
# Tick resolutions (Å) for the top axis of a Guinier plot.
_RESOLUTION_TICKS = (50, 30, 20, 15, 12, 10, 8, 7, 6, 5, 4.5, 4, 3.5, 3, 2.8, 2.6, 2.5, 2.4,
                     2.2, 2, 1.8, 1.6, 1.5)
_CURVE_COLORS = ("#d62728", "#2ca02c", "#1f77b4", "#9467bd", "#ff7f0e", "#8c564b")


def _figure(figsize, dpi=DPI):
    """A matplotlib Figure on an Agg canvas, independent of pyplot's state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, png):
    png = os.fspath(png)
    folder = os.path.dirname(os.path.abspath(png))
    os.makedirs(folder, exist_ok=True)
    figure.savefig(png, dpi=figure.dpi, format="png")
    return png


# -- local Guinier plots ------------------------------------------------------------------
def fit_guinier(res_square, log_amplitude, noise=None, filtered=False):
    """Least-squares lines ``y = A + slope * x`` through each row of ``log_amplitude``,
    as :func:`locspiral_em.core.locbfactor` fits them (``filtered``: only points above the
    ``noise`` curve, at least 2). Returns an array of ``(A, B)`` rows with ``B = 4 slope``
    (Å^2, B for sharpening); NaN where no line can be fitted."""
    x = np.asarray(res_square, dtype=float)
    curves = np.atleast_2d(np.asarray(log_amplitude, dtype=float))
    fits = np.full((len(curves), 2), np.nan)
    for v, y in enumerate(curves):
        use = np.isfinite(y)
        if filtered:
            if noise is None:
                raise ValueError("a filtered fit needs the noise curve")
            use &= y > np.asarray(noise, dtype=float)
        if use.sum() < 2 or np.ptp(x[use]) == 0:
            continue
        slope, intercept = np.polyfit(x[use], y[use], 1)
        fits[v] = (intercept, 4.0 * slope)
    return fits


def guinier_plot(png, res_square, log_amplitude, noise=None, labels=None, fits=None,
                 title="Local Guinier plots", figsize=(6.4, 4.8), dpi=DPI):
    """Local Guinier plots: log amplitude against 1/d^2 (Å^-2), one curve per voxel.

    Parameters
    ----------
    png : output file.
    res_square : (n,) the bands' 1/d^2 (``GuinierProfiles.res_square``).
    log_amplitude : (v, n) one row per voxel (``GuinierProfiles.log_amplitude``).
    noise : (n,) per-band noise level in the same log units, drawn as a black dotted line.
    labels : v legend labels (default "voxel 1", ...); the fitted B is appended.
    fits : (v, 2) rows ``(A, B)`` of the fitted lines ``y = A + (B/4) x`` (B in Å^2, as
        the B map); None fits them here (:func:`fit_guinier`); False draws no lines.
    Returns ``png``.
    """
    x = np.asarray(res_square, dtype=float)
    curves = np.atleast_2d(np.asarray(log_amplitude, dtype=float))
    if curves.shape[1] != x.size:
        raise ValueError(f"log_amplitude has {curves.shape[1]} columns for {x.size} bands")
    if labels is None:
        labels = [f"voxel {i + 1}" for i in range(len(curves))]
    if fits is None:
        fits = fit_guinier(x, curves)
    figure = _figure(figsize, dpi)
    ax = figure.add_subplot()
    xs = np.linspace(0.0, x.max() * 1.02, 100) if x.size else np.array([0.0, 1.0])
    for i, (y, label) in enumerate(zip(curves, labels)):
        colour = _CURVE_COLORS[i % len(_CURVE_COLORS)]
        text = str(label)
        if fits is not False and np.all(np.isfinite(fits[i])):
            a, b = fits[i]
            text += f": B = {b:.0f} Å²"
            lo = max(0.0, x.min() - 0.1 * np.ptp(x))
            line_x = xs[xs >= lo]
            ax.plot(line_x, a + b / 4.0 * line_x, "--", color=colour, lw=1.2)
        ax.plot(x, y, "o-", color=colour, ms=4, lw=1.0, label=text)
    if noise is not None:
        ax.plot(x, np.asarray(noise, dtype=float), "k:", lw=1.5, label="noise level")
    ax.set_xlabel("1/d² (Å⁻²)")
    ax.set_ylabel("log local amplitude")
    ax.set_xlim(left=max(0.0, x.min() - 0.1 * np.ptp(x)) if x.size else 0.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    # Top axis: resolution in Å at the same positions.
    left, right = ax.get_xlim()
    top = ax.twiny()
    top.set_xlim(left, right)
    ticks, last = [], None
    for d in _RESOLUTION_TICKS:  # coarse to fine; keep ticks at least 1/9 of the axis apart
        position = 1.0 / d ** 2
        if left < position <= right and (last is None or position - last >= (right - left) / 9):
            ticks.append(d)
            last = position
    top.set_xticks([1.0 / d ** 2 for d in ticks])
    top.set_xticklabels([f"{d:g}" for d in ticks])
    top.set_xlabel("resolution d (Å)")
    if title:
        ax.set_title(title, fontsize=11)
    return _save(figure, png)


def pick_guinier_voxels(bfactor, mask, percentiles=(10, 50, 90), erode=2):
    """Voxels ``(z, y, x)`` inside ``mask`` whose B is nearest the given percentiles of the
    B values inside the mask (default 10/50/90: strongly decaying, median, sharp).

    The mask is first eroded by ``erode`` voxels when that leaves enough voxels, so the
    picks are not on the mask edge. Returns ``(voxels (k, 3) int array, values (k,) B at
    them, targets (k,) percentile values)``.
    """
    bfactor = np.asarray(bfactor)
    mask = np.asarray(mask, dtype=bool) & np.isfinite(bfactor)
    if not mask.any():
        raise ValueError("the mask is empty: no voxel to pick")
    region = mask
    if erode:
        from scipy import ndimage
        inner = ndimage.binary_erosion(mask, iterations=int(erode))
        if inner.sum() >= max(10, len(percentiles)):
            region = inner
    targets = np.percentile(bfactor[mask], percentiles)
    coords = np.argwhere(region)
    values = bfactor[region]
    voxels = []
    for t in targets:
        voxels.append(coords[int(np.argmin(np.abs(values - t)))])
    voxels = np.array(voxels, dtype=int)
    return voxels, bfactor[tuple(voxels.T)], np.asarray(targets, dtype=float)


def local_guinier_figure(png, volume, mask, voxel_size, min_res, max_res, bfactor=None,
                         percentiles=(10, 50, 90), num_points=10, threshold=0.9, bw=None,
                         filtered=False, spiral="riesz", workers=None, title=None,
                         pick_mask=None, figsize=(6.4, 4.8), dpi=DPI, estimator=None,
                         bw_units=None, window=None):
    """Local Guinier plots at voxels of low, medium and high B (Fig. 3B of the paper).

    ``volume``, ``mask`` and the LocBFactor settings (``min_res``, ``max_res``,
    ``num_points``, ``threshold``, ``bw``, ``filtered``, ``spiral``, ``estimator``,
    ``bw_units``, ``window``; None: the core's defaults) exactly as given to
    :func:`locspiral_em.core.locbfactor`; ``bfactor``: its B map (computed here when None).
    Voxels are picked with :func:`pick_guinier_voxels`, their curves computed with
    :func:`locspiral_em.core.guinier_profiles`, and lines fitted as LocBFactor fits them
    (so the B in the legend is the B map's value there).

    ``mask`` is the mask LocBFactor was given (it defines the noise voxels); voxels are
    picked inside ``pick_mask`` (default: the mask LocBFactor returned when it is computed
    here, else ``mask``). With ``filtered`` fits, pass LocBFactor's returned mask as
    ``pick_mask``: voxels it could not fit have no B.
    Returns ``(png, profiles, fits)``.
    """
    from . import core
    mask = np.asarray(mask, dtype=bool)
    if bfactor is None:
        result = core.locbfactor(volume, mask, voxel_size, min_res, max_res, num_points,
                                 threshold, bw, filtered=filtered, spiral=spiral,
                                 workers=workers, estimator=estimator, bw_units=bw_units,
                                 window=window)
        bfactor = result.bfactor
        if pick_mask is None:
            pick_mask = result.mask
    pick_mask = mask if pick_mask is None else np.asarray(pick_mask, dtype=bool) & mask
    voxels, _, targets = pick_guinier_voxels(bfactor, pick_mask, percentiles)
    profiles = core.guinier_profiles(volume, mask, voxel_size, min_res, max_res, voxels,
                                     num_points=num_points, threshold=threshold, bw=bw,
                                     spiral=spiral, workers=workers, estimator=estimator,
                                     bw_units=bw_units, window=window)
    fits = fit_guinier(profiles.res_square, profiles.log_amplitude, profiles.noise, filtered)
    labels = [f"{p:g}th percentile of B, voxel ({z},{y},{x})"
              for p, (z, y, x) in zip(percentiles, voxels)]
    if title is None:
        title = f"Local Guinier plots ({min_res:g}-{max_res:.2f} Å)"
    guinier_plot(png, profiles.res_square, profiles.log_amplitude, profiles.noise, labels,
                 fits, title=title, figsize=figsize, dpi=dpi)
    return png, profiles, fits


# -- B histogram --------------------------------------------------------------------------
def bfactor_histogram(png, bfactor, mask=None, global_b=None, bins=60,
                      title="Local B-factor inside the mask", figsize=(6.4, 4.8), dpi=DPI):
    """Histogram of the local B (Å^2) inside ``mask`` (all finite voxels when None), with
    the mean (solid line) and mean +/- SD (dashed) marked, and ``global_b`` (the map's
    global Guinier B, dotted) when given. Returns ``png``."""
    values = np.asarray(bfactor, dtype=float)
    if mask is not None:
        values = values[np.asarray(mask, dtype=bool)]
    values = values[np.isfinite(values)].ravel()
    if values.size == 0:
        raise ValueError("no B values inside the mask")
    mean = float(values.mean())
    sd = float(values.std(ddof=1)) if values.size > 1 else 0.0
    figure = _figure(figsize, dpi)
    ax = figure.add_subplot()
    ax.hist(values, bins=bins, color="#7aa6c2", edgecolor="#4a6f87", linewidth=0.5)
    ax.axvline(mean, color="k", lw=1.8, label=f"mean {mean:.1f} Å²")
    ax.axvline(mean - sd, color="k", lw=1.2, ls="--", label=f"± SD {sd:.1f} Å²")
    ax.axvline(mean + sd, color="k", lw=1.2, ls="--")
    if global_b is not None and np.isfinite(global_b):
        ax.axvline(float(global_b), color="#d62728", lw=1.8, ls=":",
                   label=f"global Guinier B {float(global_b):.1f} Å²")
    ax.set_xlabel("B-factor for sharpening (Å²)")
    ax.set_ylabel("voxels")
    ax.legend(fontsize=9, loc="best")
    if title:
        ax.set_title(f"{title} ({values.size} voxels)", fontsize=11)
    return _save(figure, png)


# -- central slices -----------------------------------------------------------------------
def slice_center(volume, mask=None, center=None):
    """Voxel ``(z, y, x)`` where :func:`central_slices` cuts: the molecule's centre, not the
    box's (a particle is rarely centred in its box, and slices through an empty centre show
    nothing).

    ``center``: three indices (used as given), or a boolean array whose centre of mass is
    taken (e.g. the run's mask); else the centre of mass of ``mask``; else of the voxels
    above the density threshold (:func:`locspiral_em.core.auto_threshold`, 3 SD above the
    box-corner solvent); the box centre when there is none. Indices are rounded and kept
    inside the box. Along each axis the plane through the centre of mass is replaced by the
    plane cutting the most voxels of that region when it cuts fewer than
    :data:`FULL_PLANE_FRACTION` of them (two domains apart: their centre is in solvent).
    """
    volume = np.asarray(volume)
    shape = volume.shape
    region = None
    if center is not None:
        if np.ndim(center) == 1 and len(center) == 3:
            point = [float(c) for c in center]
            return tuple(int(min(max(round(c), 0), n - 1)) for c, n in zip(point, shape))
        region = np.asarray(center, dtype=bool)
    elif mask is not None:
        region = np.asarray(mask, dtype=bool)
    else:
        finite = np.where(np.isfinite(volume), volume, np.nan)
        if np.isfinite(finite).any():
            from .core.masking import auto_threshold
            filled = np.nan_to_num(finite, nan=float(np.nanmin(finite)))
            try:
                region = filled > auto_threshold(filled)
            except Exception:  # e.g. a constant map: no threshold
                region = None
    if region is not None and region.shape != shape:
        raise ValueError(f"centre mask shape {region.shape} differs from volume {shape}")
    if region is None or not region.any():
        return tuple(n // 2 for n in shape)
    from scipy import ndimage
    point = ndimage.center_of_mass(region)
    indices = []
    for axis, (c, n) in enumerate(zip(point, shape)):
        index = int(min(max(round(c), 0), n - 1))
        counts = region.sum(axis=tuple(a for a in range(3) if a != axis))
        if counts[index] < FULL_PLANE_FRACTION * counts.max():
            index = int(np.argmax(counts))
        indices.append(index)
    return tuple(indices)


def slice_planes(volume, mask=None, center=None):
    """``[(axis, index, plane, xlabel, ylabel)]``: the z (xy), y (xz) and x (yz) planes of
    ``volume`` through :func:`slice_center` (of ``center``, else of ``mask``), as float
    arrays with NaN outside ``mask`` (when given: the voxels with no value) and at
    non-finite voxels. Only the three planes are copied (a memory-mapped map stays on
    disk)."""
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise InputError(f"slices need a 3-D volume, got shape {volume.shape}: give a map")
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != volume.shape:
            raise InputError(f"mask shape {mask.shape} differs from volume {volume.shape}: "
                             "give the mask on the map's grid")
    iz, iy, ix = slice_center(volume, mask, center)
    planes = []
    for axis, index, cut, xlabel, ylabel in (("z", iz, np.s_[iz], "x", "y"),
                                             ("y", iy, np.s_[:, iy, :], "x", "z"),
                                             ("x", ix, np.s_[:, :, ix], "y", "z")):
        plane = np.array(volume[cut], dtype=float)
        plane[~np.isfinite(plane)] = np.nan
        if mask is not None:
            plane[~mask[cut]] = np.nan
        planes.append((axis, index, plane, xlabel, ylabel))
    return planes


def _value_range(planes, vmin, vmax):
    """``vmin``/``vmax``, their missing ends the 1st/99th percentiles of the planes."""
    values = np.concatenate([p[2][np.isfinite(p[2])].ravel() for p in planes])
    if vmin is None or vmax is None:
        lo, hi = (np.percentile(values, [1, 99]) if values.size else (0.0, 1.0))
        vmin = float(lo) if vmin is None else vmin
        vmax = float(hi) if vmax is None else vmax
        if not vmax > vmin:
            vmin, vmax = vmin - 0.5, vmax + 0.5
    return vmin, vmax


def _colour_map(cmap):
    from matplotlib import colormaps
    colour_map = colormaps[cmap] if isinstance(cmap, str) else cmap
    return colour_map.with_extremes(bad=NO_VALUE_GREY)


def central_slices(png, volume, title="", cmap="viridis", vmin=None, vmax=None,
                   label=None, mask=None, figsize=(10.0, 3.6), dpi=DPI, center=None):
    """The z (xy plane), y (xz) and x (yz) slices of ``volume`` (z, y, x order) through the
    molecule's centre (:func:`slice_center` of ``mask`` or ``center``; each panel's title
    gives its index), side by side with one colour bar (``label``: its title, e.g. units).
    With a ``mask``, voxels outside it are drawn light grey (use it for B, A and occupancy
    maps, which are 0 outside their mask). ``vmin``/``vmax`` default to the 1st/99th
    percentiles of the shown values. Returns ``png``."""
    slices = slice_planes(volume, mask, center)
    vmin, vmax = _value_range(slices, vmin, vmax)
    colour_map = _colour_map(cmap)
    figure = _figure(figsize, dpi)
    axes = figure.subplots(1, 3)
    image = None
    for ax, (axis, index, plane, xlabel, ylabel) in zip(axes, slices):
        image = ax.imshow(plane, origin="lower", cmap=colour_map, vmin=vmin, vmax=vmax,
                          interpolation="nearest")
        ax.set_title(f"{axis} = {index}", fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.tick_params(labelsize=7)
    bar = figure.colorbar(image, ax=list(axes), shrink=0.85)
    if label:
        bar.set_label(label)
    if title:
        figure.suptitle(title, fontsize=12)
    return _save(figure, png)


class Panel:
    """One row of :func:`slices_montage`: a map, its label, colour map, colour bar title,
    range (None: 1st/99th percentiles) and mask (a local map's: grey outside; None: all
    voxels shown, as for a density map)."""

    def __init__(self, volume, label, cmap="gray", unit="", vmin=None, vmax=None, mask=None):
        self.volume, self.label, self.cmap, self.unit = volume, label, cmap, unit
        self.vmin, self.vmax, self.mask = vmin, vmax, mask


def slices_montage(png, panels, title="", center=None, row_height=2.6, dpi=DPI):
    """The z, y and x slices of each :class:`Panel` in a row, all cut at one voxel: the
    molecule's (:func:`slice_center` of ``center``: a mask or three indices; default the
    first panel's mask). Each row has its own colour bar; local maps are grey outside their
    mask. Returns ``(png, (iz, iy, ix))``."""
    panels = list(panels)
    if not panels:
        raise InputError("slices_montage needs at least one map: give one Panel or more")
    shape = np.shape(panels[0].volume)
    if center is None:
        center = next((p.mask for p in panels if p.mask is not None), None)
    point = slice_center(np.asarray(panels[0].volume), None, center)
    figure = _figure((10.0, row_height * len(panels) + (0.4 if title else 0.0)), dpi)
    axes = figure.subplots(len(panels), 3, squeeze=False)
    for row, panel in zip(axes, panels):
        if np.shape(panel.volume) != shape:
            raise InputError(f"{panel.label}: shape {np.shape(panel.volume)} differs from "
                             f"{shape}; give maps on one grid")
        planes = slice_planes(panel.volume, panel.mask, point)
        vmin, vmax = _value_range(planes, panel.vmin, panel.vmax)
        image = None
        for ax, (axis, index, plane, xlabel, ylabel) in zip(row, planes):
            image = ax.imshow(plane, origin="lower", cmap=_colour_map(panel.cmap), vmin=vmin,
                              vmax=vmax, interpolation="nearest")
            ax.set_title(f"{panel.label}: {axis} = {index}", fontsize=9)
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel(ylabel, fontsize=8)
            ax.tick_params(labelsize=6)
        bar = figure.colorbar(image, ax=list(row), shrink=0.9)
        if panel.unit:
            bar.set_label(panel.unit, fontsize=8)
    if title:
        figure.suptitle(title, fontsize=11)
    return _save(figure, png), tuple(point)


# -- maturity -----------------------------------------------------------------------------
def maturity_bars(png, names, indices, title="Maturity level index", figsize=(6.4, 4.0),
                  dpi=DPI, normalised=None):
    """Bar chart of maturity indices (0..1), sorted from least to most mature (a maturation
    timeline), each bar labelled with its value and, given ``normalised`` (the index over
    the mature map's own: mature map 1, nothing 0), that value beside it, so the published
    index of a complete map (about 0.7) is not read as a third missing. Returns ``png``."""
    names = [str(n) for n in names]
    indices = np.asarray(indices, dtype=float)
    if len(names) != indices.size:
        raise ValueError(f"{len(names)} names for {indices.size} indices")
    if normalised is not None and len(normalised) != indices.size:
        raise ValueError(f"{len(normalised)} normalised indices for {indices.size} indices")
    order = np.argsort(indices, kind="stable")
    figure = _figure(figsize, dpi)
    ax = figure.add_subplot()
    positions = np.arange(indices.size)
    from matplotlib import colormaps
    colours = colormaps["viridis"](0.15 + 0.7 * indices[order])
    bars = ax.bar(positions, indices[order], color=colours, edgecolor="k", linewidth=0.6)
    for bar, i in zip(bars, order):
        label = f"{indices[i]:.2f}"
        if normalised is not None and normalised[i] is not None:
            label += f"\n(normalised {normalised[i]:.2f})"
        ax.text(bar.get_x() + bar.get_width() / 2, indices[i] + 0.02, label,
                ha="center", va="bottom", fontsize=9)
    ax.set_xticks(positions)
    ax.set_xticklabels([names[i] for i in order], rotation=30 if len(names) > 4 else 0,
                       ha="right" if len(names) > 4 else "center")
    ax.set_ylim(0, 1.2 if normalised is not None else 1.1)
    ax.set_ylabel("maturity index (published)")
    ax.set_xlabel("map (sorted: least to most mature)")
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=11)
    return _save(figure, png)
