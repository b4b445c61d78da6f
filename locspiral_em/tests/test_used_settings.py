"""What a run used reaches what shows it: LocBFactor's spatial window reaches the local Guinier
plots (figures.py and the Scipion viewer), and LocSharpen's JSON parameters say which noise
source and which B fit the core used, not what the inputs suggested."""
import types

import numpy as np

from locspiral_em.tests.pytest_shim import pytest  # a stock Scipion has no pytest

pytest.importorskip("matplotlib")

from locspiral_em import core, figures  # noqa: E402
from locspiral_em.run import RunSpec, run  # noqa: E402

NON_DEFAULT_WINDOW = 8.0   # Å FWHM; the default is 12 Å (core.bfactor.DEFAULT_WINDOW)


@pytest.fixture(scope="module")
def demo40():
    return core.demo_phantom(40)


def test_a_non_default_window_reaches_the_guinier_figure(demo40, tmp_path):
    """The curves drawn are the ones fitted with the window given, and that window matters:
    the default window's curves at the same voxels are different."""
    ph = demo40
    assert NON_DEFAULT_WINDOW != core.bfactor.DEFAULT_WINDOW
    bf = core.locbfactor(ph.map, ph.mask, ph.voxel_size, 15.0, 3.0, workers=1,
                         window=NON_DEFAULT_WINDOW)
    assert bf.window == pytest.approx(NON_DEFAULT_WINDOW)
    _, profiles, fits = figures.local_guinier_figure(
        str(tmp_path / "g.png"), ph.map, ph.mask, ph.voxel_size, 15.0, 3.0,
        bfactor=bf.bfactor, pick_mask=bf.mask, workers=1, window=NON_DEFAULT_WINDOW)
    # Same tolerances as test_figures' match of the legend's B with the B map (float32 map
    # against float64 polyfit).
    np.testing.assert_allclose(fits[:, 1], bf.bfactor[tuple(profiles.voxels.T)],
                               rtol=1e-3, atol=0.05)
    default = core.guinier_profiles(ph.map, ph.mask, ph.voxel_size, 15.0, 3.0,
                                    profiles.voxels, workers=1)
    # A 12 Å against an 8 Å average of the band power: not a rounding difference.
    assert np.abs(default.log_amplitude - profiles.log_amplitude).max() > 1e-2


class _Value:
    def __init__(self, value):
        self.value = value

    def get(self):
        return self.value


def _stub_viewer(window, bw, window_used, calls):
    """A LocBFactorViewer stand-in with only what makeGuinierPlot reads, and a recording
    figures.local_guinier_figure (no Scipion project needed)."""
    prot = types.SimpleNamespace(
        window=_Value(window), bw=_Value(bw), minRes=_Value(15.0), numPoints=_Value(10),
        threshold=_Value(0.9), filteredFit=_Value(False), estimator=_Value(None),
        _spiral=lambda: "riesz", _workers=lambda: 1)
    from locspiral_em.constants import ATTR_MAX_RES
    setattr(prot, ATTR_MAX_RES, _Value(3.0))
    if window_used is not None:
        setattr(prot, "windowA", _Value(window_used))
    volume = np.zeros((8, 8, 8), np.float32)
    return types.SimpleNamespace(
        protocol=prot, readInputMap=lambda: volume, readInputMask=lambda data: volume > 0,
        _voxelSize=lambda: 1.0, _bfactor=lambda: volume, readMask=lambda: volume > 0,
        _percentiles=lambda: [10, 50, 90], extraPath=lambda name: name,
        _estimator=lambda: None)


@pytest.mark.parametrize("window, bw, window_used, expected", [
    (None, None, NON_DEFAULT_WINDOW, NON_DEFAULT_WINDOW),   # the window the run recorded
    (NON_DEFAULT_WINDOW, None, NON_DEFAULT_WINDOW, NON_DEFAULT_WINDOW),  # its request
    (None, 0.03, 14.1, None),   # a band width set the window: pass the band, not both
    (None, None, None, None),   # an old run that recorded no window: the core's default
])
def test_the_viewer_passes_the_runs_window(monkeypatch, window, bw, window_used, expected):
    pytest.importorskip("pyworkflow")
    from locspiral_em.viewers.viewer_locbfactor import LocBFactorViewer
    calls = []
    monkeypatch.setattr(figures, "local_guinier_figure",
                        lambda *a, **kw: calls.append(kw) or ("png", None, None))
    stub = _stub_viewer(window, bw, window_used, calls)
    stub._window = lambda: LocBFactorViewer._window(stub)
    assert LocBFactorViewer.makeGuinierPlot(stub) == "png"
    assert calls[0]["window"] == expected and calls[0]["bw"] == bw


@pytest.fixture(scope="module")
def two_balls():
    """48^3 at 1.2 Å: balls of B 60 and 150 Å^2 with noise, the map unmasked and the same
    map with its solvent set to one value (as a map masked upstream), where the core has no
    solvent noise."""
    from scipy import ndimage
    from locspiral_em.core.phantom import Domain
    n, c = 48, 24
    ph = core.make_phantom((n,) * 3, 1.2, [Domain((c, c, c - 6), 7, 60.0),
                                           Domain((c, c, c + 7), 7, 150.0)],
                           noise=0.5, seed=2)
    flat = np.where(ndimage.binary_dilation(ph.mask, iterations=3), ph.map, 0) + 5.0
    return ph, flat.astype(np.float32)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_locsharpen_parameters_say_what_the_core_used(two_balls, tmp_path):
    ph, flat = two_balls
    for name, volume, solvent in (("unmasked", ph.map, True), ("flat", flat, False)):
        result = run(RunSpec("locsharpen", map=core.MapData(volume, 1.2), mask=ph.mask,
                             max_res=3.0, prefix=str(tmp_path / name), workers=1))
        p, r = result.summary["parameters"], result.summary["results"]
        assert p["noise_from"] == r["noise_source"]
        if solvent:
            assert r["noise_source"] == "solvent" and p["filtered"] is True
        else:
            # Before, the parameters said "solvent" here (no half maps given).
            assert r["noise_source"] in ("beyond max_res", "none")
            assert p["filtered"] is False
            # ...and the plain fit is what the core ran: the same B map as asking for it.
            plain = core.locsharpen(volume, ph.mask, 1.2, 25.0, 3.0, filtered=False,
                                    workers=1)
            np.testing.assert_array_equal(result.arrays["locsharpen_bfactor"], plain.bfactor)
