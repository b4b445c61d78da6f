"""PNG figures (figures.py): each file exists, has the expected pixel size and is not
blank; the local Guinier fits agree with LocBFactor's B map at the plotted voxels."""
import os
import subprocess
import sys

import numpy as np
from locspiral_em.tests.pytest_shim import pytest  # pytest, or a stand-in in a stock Scipion

pytest.importorskip("matplotlib")

from locspiral_em import core, figures  # noqa: E402
from locspiral_em.tests.scene_checks import check_png  # noqa: E402,F401  (used by others too)


@pytest.fixture(scope="module")
def phantom():
    ph = core.demo_phantom(40)
    bf = core.locbfactor(ph.map, ph.mask, ph.voxel_size, 15.0, 3.0)
    return ph, bf


def test_fit_guinier_recovers_a_line():
    x = np.linspace(0.005, 0.1, 8)
    y = np.vstack([1.0 - 20.0 * x, 0.5 - 35.0 * x])
    fits = figures.fit_guinier(x, y)
    np.testing.assert_allclose(fits, [[1.0, -80.0], [0.5, -140.0]], atol=1e-9)
    noise = np.full(8, -1.0)
    y[1, 5:] = -5.0  # below noise: a filtered fit ignores them
    np.testing.assert_allclose(figures.fit_guinier(x, y, noise, filtered=True)[1],
                               [0.5, -140.0], atol=1e-9)
    assert np.isnan(figures.fit_guinier(x, np.full((1, 8), -9.0), noise, True)).all()


def test_guinier_plot(tmp_path):
    x = np.linspace(1 / 15 ** 2, 1 / 3 ** 2, 10)
    curves = np.vstack([-1 - 10 * x, -1.5 - 25 * x, -2 - 40 * x])
    png = figures.guinier_plot(str(tmp_path / "g.png"), x, curves, np.full(10, -5.0),
                               ["high", "medium", "low"])
    check_png(png, (640, 480))
    with pytest.raises(ValueError):
        figures.guinier_plot(str(tmp_path / "bad.png"), x[:5], curves)


def test_pick_guinier_voxels(phantom):
    _, bf = phantom
    voxels, values, targets = figures.pick_guinier_voxels(bf.bfactor, bf.mask)
    assert voxels.shape == (3, 3)
    assert bf.mask[tuple(voxels.T)].all()
    np.testing.assert_allclose(targets, np.percentile(bf.bfactor[bf.mask], [10, 50, 90]))
    assert values[0] < values[1] < values[2]
    spread = np.ptp(bf.bfactor[bf.mask])
    assert np.all(np.abs(values - targets) < 0.02 * spread)


@pytest.mark.parametrize("filtered", [False, True])
def test_local_guinier_figure_matches_the_b_map(phantom, tmp_path, filtered):
    ph, _ = phantom
    bf = core.locbfactor(ph.map, ph.mask, ph.voxel_size, 15.0, 3.0, filtered=filtered)
    png, profiles, fits = figures.local_guinier_figure(
        str(tmp_path / "guinier.png"), ph.map, ph.mask, ph.voxel_size, 15.0, 3.0,
        bfactor=bf.bfactor, filtered=filtered, pick_mask=bf.mask)
    check_png(png, (640, 480))
    assert profiles.log_amplitude.shape == (3, 10)
    # The plotted lines are LocBFactor's fits: B in the legend = B map at the voxel.
    np.testing.assert_allclose(fits[:, 1], bf.bfactor[tuple(profiles.voxels.T)],
                               rtol=1e-3, atol=0.05)
    np.testing.assert_allclose(fits[:, 0], bf.amplitude[tuple(profiles.voxels.T)],
                               rtol=1e-3, atol=1e-3)
    # Computing the B map inside gives the same picture.
    _, again, fits_again = figures.local_guinier_figure(
        str(tmp_path / "guinier2.png"), ph.map, ph.mask, ph.voxel_size, 15.0, 3.0,
        filtered=filtered)
    np.testing.assert_array_equal(again.voxels, profiles.voxels)
    np.testing.assert_allclose(fits_again, fits)


def test_bfactor_histogram(phantom, tmp_path):
    _, bf = phantom
    png = figures.bfactor_histogram(str(tmp_path / "h.png"), bf.bfactor, bf.mask,
                                    global_b=-75.0)
    check_png(png, (640, 480))
    with pytest.raises(ValueError):
        figures.bfactor_histogram(str(tmp_path / "e.png"), bf.bfactor,
                                  np.zeros(bf.mask.shape, bool))


def test_central_slices(phantom, tmp_path):
    ph, bf = phantom
    png = figures.central_slices(str(tmp_path / "s.png"), ph.map, "map", "gray")
    check_png(png, (1000, 360))
    masked = figures.central_slices(str(tmp_path / "sb.png"), bf.bfactor, "B", "viridis",
                                    label="Å²", mask=bf.mask, figsize=(8, 3), dpi=80)
    image = check_png(masked, (640, 240))
    # Outside the mask: light grey (#d9d9d9) pixels are there.
    grey = np.all(np.abs(image[..., :3] - 0xd9 / 255) < 0.01, axis=-1)
    assert grey.mean() > 0.05
    with pytest.raises(ValueError):
        figures.central_slices(str(tmp_path / "x.png"), np.zeros((4, 4)))


def off_centre_phantom():
    """A ball of density in one corner of a 40^3 box: slices through the box centre miss it."""
    zz, yy, xx = np.ogrid[:40, :40, :40]
    centre = (9.0, 12.0, 28.0)
    ball = (zz - centre[0]) ** 2 + (yy - centre[1]) ** 2 + (xx - centre[2]) ** 2 <= 6 ** 2
    rng = np.random.default_rng(4)
    volume = np.where(ball, 1.0, 0.0) + rng.normal(0, 0.05, ball.shape)
    return volume.astype(np.float32), ball, centre


def test_slice_center_is_the_molecule_centre():
    volume, ball, centre = off_centre_phantom()
    assert figures.slice_center(volume, ball) == tuple(int(c) for c in centre)
    # From the density alone (no mask): the voxels above the solvent threshold.
    assert figures.slice_center(volume) == tuple(int(c) for c in centre)
    # Explicit indices are kept (clipped to the box); a boolean centre array is a mask.
    assert figures.slice_center(volume, center=(3, 50, -2)) == (3, 39, 0)
    assert figures.slice_center(volume, ball, center=np.roll(ball, 5, axis=0)) == (14, 12, 28)
    # Nothing to centre on: the box centre.
    assert figures.slice_center(np.zeros((6, 8, 10))) == (3, 4, 5)


def colourful(image):
    """Fraction of pixels with a saturated colour (viridis data, not grey, white or text)."""
    rgb = image[..., :3]
    return float(np.mean(rgb.max(axis=-1) - rgb.min(axis=-1) > 0.25))


def test_central_slices_cut_through_the_molecule(tmp_path):
    volume, ball, centre = off_centre_phantom()
    values = np.where(ball, np.linspace(-120, -40, ball.size).reshape(ball.shape), 0)
    png = figures.central_slices(str(tmp_path / "c.png"), values, "B", mask=ball)
    boxed = figures.central_slices(str(tmp_path / "b.png"), values, "B", mask=ball,
                                   center=(20, 20, 20))
    # Through the box centre only the colour bar is coloured (all slices outside the
    # mask); through the molecule's centre the three panels show data.
    image, old = check_png(png, (1000, 360)), check_png(boxed, (1000, 360))
    assert colourful(image) > colourful(old) + 0.03


def two_domain_mask():
    """Two balls at opposite corners of a 40^3 box: their joint centre of mass (the middle of
    the box) is solvent, so planes through it along z and x cut neither ball."""
    zz, yy, xx = np.ogrid[:40, :40, :40]
    first = (zz - 8) ** 2 + (yy - 20) ** 2 + (xx - 8) ** 2 <= 5 ** 2
    second = (zz - 31) ** 2 + (yy - 20) ** 2 + (xx - 31) ** 2 <= 4 ** 2
    return first | second


def test_slice_center_moves_off_an_empty_centre_of_mass():
    mask = two_domain_mask()
    iz, iy, ix = figures.slice_center(np.zeros(mask.shape), mask)
    # The centre of mass is z, x ~ 18-19 (no mask voxel there): the fullest planes are the
    # larger ball's centre planes, z = 8 and x = 8; along y both balls share y = 20.
    assert mask[iz].any() and mask[:, iy].any() and mask[:, :, ix].any()
    assert (iz, iy, ix) == (8, 20, 8)


def test_slice_planes_are_nan_outside_the_mask():
    volume, ball, centre = off_centre_phantom()
    values = np.where(ball, -80.0, 0.0)
    for axis, index, plane, _, _ in figures.slice_planes(values, ball):
        inside = {"z": ball[index], "y": ball[:, index], "x": ball[:, :, index]}[axis]
        assert inside.any()                        # the cut hits the molecule
        assert np.isnan(plane[~inside]).all()      # B = 0 outside: no value, not "sharp"
        assert np.all(plane[inside] == -80.0)


def test_slices_montage_cuts_every_row_through_the_molecule(tmp_path):
    """The Pipeliner montage: an off-centre molecule, its map and its B map (0 outside the
    mask) in rows cut at the molecule's centre; the B row is grey outside the mask."""
    volume, ball, centre = off_centre_phantom()
    bfactor = np.where(ball, np.linspace(-120, -40, ball.size).reshape(ball.shape), 0)
    png, point = figures.slices_montage(
        str(tmp_path / "m.png"),
        [figures.Panel(volume, "map", "gray", "density"),
         figures.Panel(bfactor, "B", "viridis", "B (Å²)", mask=ball)], title="LocBFactor")
    assert point == tuple(int(c) for c in centre)   # not the box centre (20, 20, 20)
    image = check_png(png, (1000, int(round(100 * (2.6 * 2 + 0.4)))))
    grey = np.all(np.abs(image[..., :3] - 0xd9 / 255) < 0.01, axis=-1)
    # Grey only in the B row (lower half): the map row shows all its voxels.
    half = image.shape[0] // 2
    assert grey[half:].mean() > 0.05 and grey[:half].mean() < 0.01
    with pytest.raises(ValueError):
        figures.slices_montage(str(tmp_path / "x.png"),
                               [figures.Panel(volume, "a"), figures.Panel(volume[1:], "b")])


def test_maturity_bars(tmp_path):
    png = figures.maturity_bars(str(tmp_path / "sub" / "m.png"), ["a", "b", "c"],
                                [0.9, 0.2, 0.55])
    check_png(png, (640, 400))
    with pytest.raises(ValueError):
        figures.maturity_bars(str(tmp_path / "n.png"), ["a"], [0.1, 0.2])


def test_maturity_bars_label_the_normalised_index(tmp_path, monkeypatch):
    """With the normalised index each bar carries both numbers, matched to its own map
    after sorting (the published index of the mature map is not 1, the normalised is)."""
    texts = []
    from matplotlib.axes import Axes
    original = Axes.text
    monkeypatch.setattr(Axes, "text", lambda self, x, y, s, **kw: texts.append(s) or
                        original(self, x, y, s, **kw))
    figures.maturity_bars(str(tmp_path / "m.png"), ["mature", "half"], [0.67, 0.29],
                          normalised=[1.0, 0.44])
    assert texts == ["0.29\n(normalised 0.44)", "0.67\n(normalised 1.00)"]
    with pytest.raises(ValueError):
        figures.maturity_bars(str(tmp_path / "n.png"), ["a"], [0.1], normalised=[1.0, 0.5])


def test_no_pyplot_and_no_backend_switch(tmp_path):
    """Figures must not import pyplot nor change the process's backend (Scipion's GUI)."""
    code = ("import matplotlib, sys\n"
            "before = matplotlib.get_backend()\n"
            "from locspiral_em import figures\n"
            f"figures.maturity_bars({str(tmp_path / 'm.png')!r}, ['a'], [0.5])\n"
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
            "assert matplotlib.get_backend() == before\n")
    env = dict(os.environ, MPLBACKEND="TkAgg")
    env.pop("DISPLAY", None)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env)
    assert result.returncode == 0, result.stderr
