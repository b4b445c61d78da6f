"""How local LocBFactor's B map is (issue 14): the contrast it recovers between adjacent
domains of known B, the spatial window option, and the window the run layer reports.

Phantom (the small version of benchmarks/locality.py): a ball of pseudo-atoms of radius
30 Å in a 64^3 box at 1.2 Å/voxel, cut into slabs of thickness L across x that alternate
between B 40 and 160 Å^2 (a boundary through the centre), noise 0.5 x the clean SD in
each half map. Truth per kind of slab: the global Guinier B of that kind alone (the other
slabs' atoms removed), over the fit's range. Contrast recovered: the difference of the two
kinds' median local B over the truth's difference, in the slabs that lie whole inside the
ball. Fit 15-5 Å, where the B 160 slabs still have signal above the noise.
"""
import json

import numpy as np
from locspiral_em.tests.pytest_shim import pytest  # pytest, or a stand-in in a stock Scipion
import scipy.fft as sfft

from locspiral_em import core, run
from locspiral_em.core import InputError
from locspiral_em.core import defaults as D
from locspiral_em.core.bfactor import fit_band
from locspiral_em.core.phantom import ball, debye_waller

VOXEL = 1.2
BOX = 64
RADIUS_A = 30.0
BLUR = (40.0, 160.0)
RANGE = (15.0, 5.0)


def slab_phantom(thickness_a, seed=0, noise=0.5):
    """(map, mask, [measured voxels of each kind], [clean map of each kind alone])."""
    shape = (BOX,) * 3
    rng = np.random.default_rng(seed)
    centre = [n / 2 for n in shape]
    particle = ball(shape, centre, RADIUS_A / VOXEL)
    sites = np.flatnonzero(particle)
    atoms = np.zeros(particle.size)
    atoms[rng.choice(sites, size=int(round(0.05 * sites.size)), replace=False)] = 1.0
    atoms = atoms.reshape(shape)
    x = (np.arange(BOX) - BOX / 2) * VOXEL
    index = np.floor(x / thickness_a).astype(int)
    whole = (index * thickness_a >= -RADIUS_A) & ((index + 1) * thickness_a <= RADIUS_A)
    kind = np.broadcast_to((index % 2)[None, None, :], shape)
    whole = np.broadcast_to(whole[None, None, :], shape)
    alone, measured = [], []
    for j, b in enumerate(BLUR):
        spectrum = sfft.rfftn(atoms * (particle & (kind == j)))
        spectrum *= debye_waller(shape, VOXEL, b)
        alone.append(sfft.irfftn(spectrum, s=shape))
        measured.append(particle & whole & (kind == j))
    clean = alone[0] + alone[1]
    mask = ball(shape, centre, RADIUS_A / VOXEL + 3)
    sd = clean[mask].std()
    halves = [clean + rng.normal(0.0, noise * sd, shape) for _ in range(2)]
    return ((halves[0] + halves[1]) / 2).astype(np.float32), mask, measured, alone


def contrast(thickness_a, seed, **options):
    volume, mask, measured, alone = slab_phantom(thickness_a, seed)
    truth = [core.global_bfactor(a, VOXEL, *RANGE).bfactor for a in alone]
    res = core.locbfactor(volume, mask, VOXEL, *RANGE, workers=1, **options)
    local = [np.median(res.bfactor[m & res.mask]) for m in measured]
    return (local[1] - local[0]) / (truth[1] - truth[0]), res.window


OLD_BAND = dict(bw=0.02, bw_units="inverse_angstrom")   # issue 10's default: a 21 Å window


@pytest.mark.parametrize("seed", [0, 1])
def test_default_recovers_half_the_step_between_17_A_domains(seed):
    """Issue 14's goal at 17 Å: >= 50 % of the true B contrast with the default window.
    Measured here 0.59 and 0.61 (seeds 0, 1); the 21 Å window of the 0.02 Å^-1 band 0.37
    and 0.48: the default must beat it by 0.05 at least (measured +0.13, +0.22; the seed
    spread of a contrast is about 0.1, so a smaller margin could be chance)."""
    got, window = contrast(17.0, seed)
    assert window == pytest.approx(D.BFACTOR_WINDOW)
    old, old_window = contrast(17.0, seed, **OLD_BAND)
    assert old_window == pytest.approx(21.0, abs=0.1)
    assert got >= 0.5
    assert got >= old + 0.05


def test_contrast_grows_with_domain_size_and_narrower_window():
    """A point-spread-like behaviour: the same window recovers more of a wider step, and a
    narrower window more of the same step. Measured (seed 0): 12 Å window 0.59 at 17 Å,
    0.76 at 30 Å (seed 1: 0.61, 0.79; the benchmark's 112^3 figure at 30 Å is 0.80), so
    30 Å: >= 0.7. At 17 Å the 9 Å window gives 0.67 and the 21 Å one 0.37; 9 against 12 Å
    is within the seed spread (seed 1: 0.61 and 0.61), so the narrow window is compared
    with the wide one."""
    at17, _ = contrast(17.0, 0)
    at30, _ = contrast(30.0, 0)
    narrow, window = contrast(17.0, 0, window=9.0)
    wide, _ = contrast(17.0, 0, window=21.0)
    assert window == pytest.approx(9.0)
    assert at30 > at17 + 0.05
    assert at30 >= 0.7
    assert narrow > wide + 0.1


@pytest.mark.parametrize("blur", BLUR)
def test_isolated_domain_level_with_the_default_window(blur):
    """A narrower window must not cost the level: the whole ball at one B reads within 15 %
    of its own global Guinier B (issue 14's bound). Measured: -58.9 against -54.6 (8 %) for
    B 40, -171.5 against -174.3 (2 %) for B 160; benchmark at 112^3: 1 % and 5 %."""
    shape = (BOX,) * 3
    rng = np.random.default_rng(3)
    particle = ball(shape, [n / 2 for n in shape], RADIUS_A / VOXEL)
    sites = np.flatnonzero(particle)
    atoms = np.zeros(particle.size)
    atoms[rng.choice(sites, size=int(round(0.05 * sites.size)), replace=False)] = 1.0
    spectrum = sfft.rfftn(atoms.reshape(shape)) * debye_waller(shape, VOXEL, blur)
    clean = sfft.irfftn(spectrum, s=shape)
    mask = ball(shape, [n / 2 for n in shape], RADIUS_A / VOXEL + 3)
    sd = clean[mask].std()
    volume = (clean + rng.normal(0, 0.5 * sd / np.sqrt(2), shape)).astype(np.float32)
    truth = core.global_bfactor(clean, VOXEL, *RANGE).bfactor
    res = core.locbfactor(volume, mask, VOXEL, *RANGE, workers=1)
    local = float(np.median(res.bfactor[particle & res.mask]))
    assert abs(local - truth) <= 0.15 * abs(truth)


def test_window_sets_band_or_smoothing():
    """FWHM = 2.355 sqrt(envelope_sd^2 + smooth_sd^2), envelope SD 1 / (2 pi bw): without a
    band the window sets it (the envelope keeping its default share, 1/sqrt(1.25)); with
    one it sets the smoothing; the published estimator has no smoothing."""
    band = fit_band(VOXEL, BOX, window=12.0)
    fwhm = 2.0 * np.sqrt(2.0 * np.log(2.0))
    assert band.bw == pytest.approx(np.sqrt(1.25) * fwhm / (2 * np.pi * 12.0))
    assert band.smooth_sd == pytest.approx(0.5 * band.envelope_sd)
    split = fit_band(VOXEL, BOX, bw=0.04, bw_units="inverse_angstrom", window=12.0)
    assert split.envelope_sd == pytest.approx(1 / (2 * np.pi * 0.04))
    assert fwhm * np.hypot(split.envelope_sd, split.smooth_sd) == pytest.approx(12.0)
    published = fit_band(VOXEL, BOX, estimator="published")
    assert published.smooth_sd == 0.0
    assert published.window == pytest.approx(fwhm * VOXEL * BOX / (2 * np.pi * 4.8))
    # Explicit bands without a window keep their issue-10 meaning (smoothing half the
    # envelope), whatever the default window.
    old = fit_band(VOXEL, BOX, **OLD_BAND)
    assert old.smooth_sd == pytest.approx(0.5 * old.envelope_sd)


@pytest.mark.parametrize("options, words", [
    (dict(window=0.0), "positive"),
    (dict(window=1.0), "too narrow"),
    (dict(window=8.0, bw=0.03, bw_units="inverse_angstrom"), "narrower than the band"),
    (dict(window=12.0, bw=4.8, estimator="published"), "give only one"),
])
def test_window_refusals(options, words):
    with pytest.raises(InputError, match=words):
        fit_band(VOXEL, BOX, **options)


def test_json_window_is_the_cores(tmp_path):
    """parameters.window_A (and the run's result) is the window the core used, for the
    default, an explicit window and the published estimator's box-dependent band."""
    volume, mask, _, _ = slab_phantom(17.0, 0)
    paths = {"map": str(tmp_path / "map.mrc"), "mask": str(tmp_path / "mask.mrc")}
    core.write_maps([(paths["map"], volume), (paths["mask"], mask.astype(np.float32))],
                    VOXEL)
    for i, options in enumerate([dict(), dict(window=9.0), dict(estimator="published")]):
        prefix = str(tmp_path / f"b{i}")
        result = run.run(run.RunSpec("locbfactor", map=paths["map"], mask=paths["mask"],
                                     min_res=RANGE[0], max_res=RANGE[1], workers=1,
                                     prefix=prefix, json_path=prefix + ".json", **options))
        # The voxel size the run read from the header (float32: not exactly 1.2).
        voxel = result.summary["parameters"]["voxel_size_A"]
        reference = core.locbfactor(volume, mask, voxel, *RANGE, workers=1, **options)
        with open(prefix + ".json") as f:
            stored = json.load(f)["parameters"]["window_A"]
        assert stored == pytest.approx(reference.window, rel=1e-12)
        assert result.summary["parameters"]["window_A"] == stored
        np.testing.assert_array_equal(result.arrays["bfactor"], reference.bfactor)


def test_window_is_a_locbfactor_option():
    with pytest.raises(InputError, match="LocBFactor option"):
        run.check_parameters(run.RunSpec("locspiral", map=np.zeros((8, 8, 8), np.float32),
                                         voxel_size=1.0, window=12.0))


def test_cli_window_reaches_the_spec():
    from locspiral_em import cli
    args = cli.build_parser().parse_args(["locbfactor", "map.mrc", "--window", "9"])
    assert cli.spec_from_args(args, "locbfactor").window == 9.0
    args = cli.build_parser().parse_args(["locbfactor", "map.mrc"])
    assert cli.spec_from_args(args, "locbfactor").window is None
