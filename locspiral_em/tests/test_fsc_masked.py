"""Masked FSC corrected by phase randomisation (Chen et al. 2013, as Relion postprocess).

Two phantoms with a known answer:
- the demo phantom (128^3): its signal lies wholly inside the mask and its white noise fills
  the box, so masking removes ~94% of the noise power and nothing else. The right masked FSC
  is then S / (S + N_masked), computable from the known clean map and noise; it is far above
  the unmasked FSC (0.143 reached only beyond Nyquist, against 2.79 Å unmasked). The
  correction must leave it there: the masked resolution is finer than the unmasked one for
  a real reason, not because of the mask edge.
- a band-limited phantom (no signal at all beyond 6 Å) with a mask that cuts into the
  density: beyond 6 Å all correlation of the masked maps comes from the mask edge, so the
  corrected FSC must be ~0 there while the raw masked FSC stays high to Nyquist.
"""
import numpy as np
from locspiral_em.tests.pytest_shim import pytest  # pytest, or a stand-in in a stock Scipion
from scipy import ndimage

from locspiral_em import core
from locspiral_em.core.globalstats import _shell_index


@pytest.fixture(scope="module")
def demo():
    return core.demo_phantom(128, seed=0)


def shell_power(volume, p=1.0):
    shells, weight, nshell, _ = _shell_index(volume.shape, p)
    f = np.fft.rfftn(volume)
    return np.bincount(shells.ravel(), (weight * np.abs(f) ** 2).ravel(),
                       minlength=nshell)[:nshell]


def first_below(curve, level):
    return int(np.nonzero(curve[1:] < level)[0][0]) + 1


@pytest.mark.parametrize("which", ["true", "auto"])
def test_demo_masked_fsc_is_the_known_masked_snr(demo, which):
    """Measured (true mask / auto mask): unmasked 2.79 Å; masked, raw and corrected, at
    Nyquist (2.00 Å), FSC 0.21/0.19 at Nyquist; randomisation from 10.67 Å (the unmasked
    FSC's 0.8 crossing); |corrected - expected| <= 0.03 over all shells; the randomised
    masked FSC beyond the correction shells averages 0.01 (the mask adds no correlation).
    Tolerance 0.06 per shell: the FSC's sampling SD in the noisiest shells here, ~0.025 for
    ~1300 independent masked coefficients at FSC 0.3, times 2.5."""
    ph = demo
    mask = ph.mask if which == "true" else core.auto_mask(ph.map, 1.0, workers=1).mask
    unmasked = core.fsc(ph.half1, ph.half2, 1.0, workers=1)
    c = core.fsc(ph.half1, ph.half2, 1.0, mask=mask, workers=1)
    assert c.corrected
    np.testing.assert_array_equal(c.fsc_unmasked, unmasked.fsc)
    k = first_below(unmasked.fsc, 0.8)
    assert c.randomise_from == pytest.approx(128.0 / k)

    # Known answer: the clean map is unchanged by the mask, the noise is masked.
    noise_power = shell_power((ph.half1 - ph.clean) * mask)
    signal_power = shell_power(ph.clean)
    expected = signal_power / (signal_power + noise_power)
    expected[0] = 1.0
    assert np.max(np.abs(c.fsc - expected)) < 0.06
    assert abs(np.mean(c.fsc_randomised[k + 2:])) < 0.03

    # The resolution is that of the expected curve (Nyquist: it never falls to 0.143),
    # finer than the unmasked 2.79 Å. (The issue's expectation, "within 10% of the
    # unmasked resolution", does not hold here, and should not: the gain is real.)
    assert expected[-1] > 0.143
    assert c.resolution == pytest.approx(2.0)
    assert unmasked.resolution > 2.6


def test_correction_equals_the_raw_masked_fsc_below_the_randomisation(demo):
    ph = demo
    c = core.fsc(ph.half1, ph.half2, 1.0, mask=ph.mask, workers=1)
    raw = core.fsc(ph.half1, ph.half2, 1.0, mask=ph.mask, correct=False, workers=1)
    assert not raw.corrected and raw.fsc_randomised is None
    np.testing.assert_array_equal(raw.fsc, c.fsc_masked)
    k = first_below(c.fsc_unmasked, 0.8)
    # Below the randomisation shell k, and at k and k+1 as Relion keeps them, exactly raw.
    np.testing.assert_array_equal(c.fsc[:k + 2], raw.fsc[:k + 2])
    # Beyond, the formula.
    t, n = raw.fsc[k + 2:], c.fsc_randomised[k + 2:]
    np.testing.assert_allclose(c.fsc[k + 2:], (t - n) / (1 - n), rtol=1e-12)
    assert not np.allclose(c.fsc[k + 2:], t)  # a correction was made


def test_correction_removes_the_correlation_a_tight_mask_adds():
    """No signal beyond 6 Å (hard low-pass of the demo phantom), noise 0.2 of the demo's so
    the unmasked FSC stays above 0.8 up to 6 Å, and the true mask eroded by 2 voxels: its
    edge cuts through density. Measured: unmasked 5.86 Å; raw masked at Nyquist (2.00 Å,
    mean FSC 0.48 beyond 6 Å); corrected 5.37 Å (Relion's rule keeps the two shells after
    the randomisation raw, so it cannot fall coarser than 128/24 = 5.33 Å), mean corrected
    FSC beyond those shells 0.00. Tolerances: that mean below 0.05 (~5 sampling SDs of a
    mean over 40 shells) and the corrected resolution within 10% of the unmasked one."""
    ph = core.demo_phantom(128, seed=0)
    n = 128
    q = np.sqrt((np.fft.fftfreq(n) * n)[:, None, None] ** 2
                + (np.fft.fftfreq(n) * n)[None, :, None] ** 2
                + (np.fft.rfftfreq(n) * n)[None, None, :] ** 2)
    spectrum = np.fft.rfftn(ph.clean)
    spectrum[q > n / 6.0] = 0
    clean = np.fft.irfftn(spectrum, s=ph.clean.shape).astype(np.float32)
    half1 = clean + 0.2 * (ph.half1 - ph.clean)
    half2 = clean + 0.2 * (ph.half2 - ph.clean)
    mask = ndimage.binary_erosion(ph.mask, iterations=2)

    unmasked = core.fsc(half1, half2, 1.0, workers=1)
    c = core.fsc(half1, half2, 1.0, mask=mask, workers=1)
    k = first_below(c.fsc_unmasked, 0.8)
    assert abs(c.randomise_from - 6.0) < 0.5  # randomised from where the signal ends
    assert 5.3 < unmasked.resolution < 6.1
    assert np.mean(c.fsc_masked[k + 2:]) > 0.3       # the mask edge's correlation
    assert c.fsc_masked[-1] > 0.143
    assert abs(np.mean(c.fsc[k + 2:])) < 0.05        # removed
    raw_resolution = core.fsc(half1, half2, 1.0, mask=mask, correct=False).resolution
    assert raw_resolution == pytest.approx(2.0)
    assert abs(raw_resolution - unmasked.resolution) > 0.1 * unmasked.resolution
    assert abs(c.resolution - unmasked.resolution) < 0.1 * unmasked.resolution


def test_seeded_soft_mask_and_no_correction_cases():
    ph = core.demo_phantom(48, seed=0)
    a = core.fsc(ph.half1, ph.half2, 1.0, mask=ph.mask, workers=1)
    b = core.fsc(ph.half1, ph.half2, 1.0, mask=ph.mask, workers=1)
    np.testing.assert_array_equal(a.fsc, b.fsc)  # fixed seed: reproducible
    other = core.fsc(ph.half1, ph.half2, 1.0, mask=ph.mask, seed=7, workers=1)
    assert not np.array_equal(other.fsc_randomised, a.fsc_randomised)
    # A 0/1 float mask (as read from a file) is the boolean one.
    soft = core.fsc(ph.half1, ph.half2, 1.0, mask=ph.mask.astype(np.float32), workers=1)
    np.testing.assert_array_equal(soft.fsc, a.fsc)
    # Without a mask: no extra curves.
    plain = core.fsc(ph.half1, ph.half2, 1.0, workers=1)
    assert not plain.corrected and plain.fsc_masked is None and plain.randomise_from is None
    # Identical halves: the FSC never drops below 0.8, nothing to randomise or correct.
    same = core.fsc(ph.half1, ph.half1, 1.0, mask=ph.mask, workers=1)
    assert not same.corrected and same.randomise_from is None
    np.testing.assert_array_equal(same.fsc, same.fsc_masked)
    assert same.resolution == pytest.approx(2.0)
