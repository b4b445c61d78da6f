"""PNG figures (figures.py): each file exists, has the expected pixel size and is not
blank; the local Guinier fits agree with LocBFactor's B map at the plotted voxels."""
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from locspiral_em import core, figures  # noqa: E402


def check_png(path, size):
    """Exists, is ``size`` = (width, height) pixels, and shows something (not one colour)."""
    import matplotlib.image as mpimg
    assert os.path.exists(path)
    image = mpimg.imread(path)
    height, width = image.shape[:2]
    assert (width, height) == size
    rgb = image[..., :3]
    assert rgb.std() > 0.02                       # not blank
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 20   # more than a few flat colours
    assert os.path.getsize(path) < 200_000
    return image


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


def test_maturity_bars(tmp_path):
    png = figures.maturity_bars(str(tmp_path / "sub" / "m.png"), ["a", "b", "c"],
                                [0.9, 0.2, 0.55])
    check_png(png, (640, 400))
    with pytest.raises(ValueError):
        figures.maturity_bars(str(tmp_path / "n.png"), ["a"], [0.1, 0.2])


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
