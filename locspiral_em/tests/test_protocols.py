"""The Scipion protocols, run through a real headless pyworkflow project.

Every protocol runs in its own subprocess (``pw_protocol_run``), which finds the plugin
through the ``pyworkflow.plugin`` entry point. Inputs are phantoms written in the test
(``scipion_helpers``), imported with pwem's import protocols. Each run is checked against
the core called directly on the same arrays (the protocol must reproduce it to ~1e-4),
against the phantom's truth where it is known, and for the output grid (sampling rate,
dimensions, origin, MRC header). Bad inputs must be refused by ``validate()`` before any run.

Plain ``unittest`` (pyworkflow ``BaseTest``), no pytest: a stock Scipion has no pytest, and
``scipion3 tests locspiral_em.tests.test_protocols`` loads this module with unittest. It also
runs under ``python -m pytest`` (the root conftest.py sets up a throw-away Scipion
environment) and under ``python -m unittest`` (``scipion_helpers`` then sets up the same
environment itself); see ``scipion_helpers`` for running pyworkflow's own test runner.
"""
import configparser
import importlib.util
import json
import os
import unittest

# Without Scipion (a core-only install) the whole module is skipped, not an error. Only
# looked up here, not imported: pyworkflow must not be imported before scipion_helpers.
if importlib.util.find_spec("pwem") is None:  # pragma: no cover - depends on the install
    raise unittest.SkipTest("Scipion (scipion-em) is not installed: pip install -e '.[scipion]'")

import numpy as np  # noqa: E402

# scipion_helpers first: outside pytest and Scipion it sets the environment pyworkflow
# reads when it is first imported.
from locspiral_em.tests import scipion_helpers as helpers  # noqa: E402
from locspiral_em.tests.scipion_helpers import (  # noqa: E402
    SCIPION_SHIFTS, SIZE, VOXEL, LocSpiralTestBase, output_path, phantom, processed_map,
    read_mrc)

import pwem  # noqa: E402
from pyworkflow import Config  # noqa: E402

from locspiral_em import core  # noqa: E402
from locspiral_em.constants import (  # noqa: E402
    ATTR_MATURITY_INDEX, ATTR_MATURITY_NORMALISED, ATTR_SOURCE_NAME, ATTR_SOURCE_POSITION,
    EXTRA_MASK,
    EXTRA_NOISE_CURVE, OUT_AMPLITUDE, OUT_BFACTOR, OUT_ENHANCED, OUT_MATURITY_MISSING,
    OUT_MATURITY_OCCUPANCY, OUT_OCCUPANCY, OUT_QUALITY, OUT_SHARPENED)
from locspiral_em.protocols import (  # noqa: E402
    LocSpiralProtBFactor, LocSpiralProtBSharpen, LocSpiralProtEnhance,
    LocSpiralProtMaturity, LocSpiralProtOccupancy)

WORKERS = 2
# float32 maps through different FFT thread counts: agreement to ~1e-6 relative is
# expected; 1e-4 leaves room for summation order and still catches any real difference.
RTOL = 1e-4


def automatic_mask(volume, **kwargs):
    """The protocols' default mask, as the core makes it (low-passed map, automatic
    threshold, connected objects, dilation: ``core.auto_mask``)."""
    return core.auto_mask(volume, VOXEL, workers=WORKERS, **kwargs)


def assert_close_maps(actual, expected, rtol=RTOL):
    scale = float(np.max(np.abs(expected))) or 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


class _OutputChecks:
    """Assertions shared by the test classes (mixed into LocSpiralTestBase)."""

    def checkGrid(self, output, source):
        """Same sampling, dimensions and origin as the input, in Scipion and in the file."""
        self.assertAlmostEqual(output.getSamplingRate(), source.getSamplingRate(), places=6)
        self.assertEqual(tuple(output.getDim()), (SIZE, SIZE, SIZE))
        np.testing.assert_allclose(output.getOrigin(force=True).getShifts(),
                                   source.getOrigin(force=True).getShifts(), atol=1e-6)
        np.testing.assert_allclose(output.getOrigin(force=True).getShifts(), SCIPION_SHIFTS,
                                   atol=1e-6)
        data, voxel, origin = read_mrc(output_path(output))
        _, _, sourceOrigin = read_mrc(output_path(source))
        self.assertEqual(data.shape, (SIZE, SIZE, SIZE))
        self.assertAlmostEqual(voxel, VOXEL, places=4)
        np.testing.assert_allclose(origin, sourceOrigin, atol=1e-4)
        return data

    def checkInfo(self, prot, *words):
        summary = "\n".join(prot.summary())
        methods = "\n".join(prot.methods())
        citations = "\n".join(prot.citations())
        self.assertNotIn("not ready", summary)
        self.assertIn("Kaur", methods)
        self.assertIn("Kaur", citations)
        for word in words:
            self.assertIn(word, summary + methods)
        return summary, methods

    def checkBandLog(self, prot, label):
        """One log line per band, the last one numbered numBands/numBands."""
        with open(prot.getStdoutLog()) as handle:
            log = handle.read()
        bands = prot.numBands.get()
        self.assertGreater(bands, 2)
        self.assertIn(f"{label} 1/{bands}", log)
        self.assertIn(f"{label} {bands}/{bands}", log)

    def extra(self, prot, name):
        return prot._getExtraPath(name)


class TestLocSpiralProtocols(LocSpiralTestBase, _OutputChecks):
    """LocSpiral, LocBSharpen, LocBFactor and LocOccupancy on the 'partial' phantom
    (three isolated domains: A sharp, B blurred, C sharp and half occupied)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.volume = cls.importPhantom("partial")
        cls.maskObj = cls.importMask(cls.files_of("partial")["mask"])
        ph = phantom("partial")
        cls.ph = ph
        cls.avg = processed_map(ph)
        cls.fscRes = core.fsc(ph.half1, ph.half2, VOXEL).resolution

    def test_import_keeps_phantom(self):
        """The import protocol (which rewrites the files to set the origin) keeps the
        data, so the core can be run on the phantom's own arrays below."""
        self.assertTrue(self.volume.hasHalfMaps())
        half1, _, _ = read_mrc(self.volume.getHalfMaps(asList=True)[0])
        np.testing.assert_array_equal(half1, self.ph.half1)

    def test_locspiral_automatic_mask_and_max_res_from_fsc(self):
        prot = self.runProtocol(LocSpiralProtEnhance, inputVolume=self.volume)
        auto = automatic_mask(self.avg)
        mask = auto.mask
        # The published defaults: noise quantile 0.9, band width 4.5 Fourier pixels.
        expected = core.locspiral(self.avg, mask, VOXEL, 25.0, self.fscRes, threshold=0.9,
                                  bw=4.5, workers=WORKERS)
        self.assertAlmostEqual(prot.maxResUsed.get(), self.fscRes, places=6)
        self.assertAlmostEqual(prot.fscResolution.get(), self.fscRes, places=6)
        self.assertAlmostEqual(prot.maskThresholdUsed.get(), auto.threshold, places=6)
        self.assertEqual(prot.maskVoxels.get(), int(mask.sum()))
        kmin = np.floor(VOXEL * SIZE / 25.0)
        kmax = np.floor(VOXEL * SIZE / self.fscRes)
        self.assertEqual(prot.numBands.get(), int(kmax - kmin))

        # The mask first: a different mask would change every number below.
        saved, _, _ = read_mrc(self.extra(prot, EXTRA_MASK))
        np.testing.assert_array_equal(saved > 0.5, mask)
        enhanced = self.checkGrid(getattr(prot, OUT_ENHANCED), self.volume)
        quality = self.checkGrid(getattr(prot, OUT_QUALITY), self.volume)
        assert_close_maps(enhanced, expected.map)
        assert_close_maps(quality, expected.quality)
        # The enhanced map is positive and concentrated on the molecule.
        self.assertGreaterEqual(enhanced.min(), 0.0)
        inside = enhanced[self.ph.mask].mean()
        self.assertGreater(inside, 3 * enhanced[~self.ph.mask].mean())
        self.checkBandLog(prot, "LocSpiral band")
        self.checkInfo(prot, "LocSpiral", "half-map FSC")

    def test_locbsharpen_with_imported_mask(self):
        prot = self.runProtocol(LocSpiralProtBSharpen, inputVolume=self.volume,
                                useMaskVolume=True, inputMask=self.maskObj, maxRes=3.0)
        expected = core.locbsharpen(self.avg, self.ph.mask, VOXEL, 25.0, 3.0, threshold=0.9,
                                    bw=4.5, workers=WORKERS)
        sharpened = self.checkGrid(getattr(prot, OUT_SHARPENED), self.volume)
        quality = self.checkGrid(getattr(prot, OUT_QUALITY), self.volume)
        assert_close_maps(sharpened, expected.map)
        assert_close_maps(quality, expected.quality)
        self.assertEqual(prot.maxResUsed.get(), 3.0)
        self.assertEqual(prot.maskVoxels.get(), int(self.ph.mask.sum()))
        self.checkBandLog(prot, "LocBSharpen band")
        self.checkInfo(prot, "LocBSharpen", "mask volume")

    def test_locbfactor_with_imported_mask(self):
        prot = self.runProtocol(LocSpiralProtBFactor, inputVolume=self.volume,
                                useMaskVolume=True, inputMask=self.maskObj, maxRes=3.0)
        # Defaults: 10 bands, noise quantile 0.9, the core's default amplitude estimator
        # and band width (bw None).
        expected = core.locbfactor(self.avg, self.ph.mask, VOXEL, 15.0, 3.0, num_points=10,
                                   threshold=0.9, workers=WORKERS)
        bfactor = self.checkGrid(getattr(prot, OUT_BFACTOR), self.volume)
        amplitude = self.checkGrid(getattr(prot, OUT_AMPLITUDE), self.volume)
        assert_close_maps(bfactor, expected.bfactor)
        assert_close_maps(amplitude, expected.amplitude)

        # Stored numbers: the same statistics of the core's map, to 1e-4.
        inside = expected.bfactor[expected.mask].astype(np.float64)
        self.assertAlmostEqual(prot.meanB.get(), inside.mean(), delta=RTOL * abs(inside.mean()))
        self.assertAlmostEqual(prot.sdB.get(), inside.std(ddof=1),
                               delta=RTOL * inside.std(ddof=1))
        # The global Guinier B over the local fit's own range, inside the mask.
        globalB = core.global_bfactor(self.avg, VOXEL, 15.0, 3.0, mask=self.ph.mask).bfactor
        self.assertAlmostEqual(prot.globalB.get(), globalB, delta=RTOL * abs(globalB))
        self.assertEqual((prot.globalBMinRes.get(), prot.globalBMaxRes.get()), (15.0, 3.0))

        # Extra files for the viewers: the noise curve and the mask used.
        curve = np.loadtxt(self.extra(prot, EXTRA_NOISE_CURVE))
        self.assertEqual(curve.shape, (10, 2))
        np.testing.assert_allclose(curve[:, 0], expected.res_square, rtol=1e-6)
        np.testing.assert_allclose(curve[:, 1], expected.noise, rtol=1e-6)
        saved, voxel, _ = read_mrc(self.extra(prot, EXTRA_MASK))
        self.assertAlmostEqual(voxel, VOXEL, places=4)
        np.testing.assert_array_equal(saved > 0.5, expected.mask)

        # Against the phantom's truth, loosely: the domains are small (radius 8 voxels)
        # and the Gaussian bands mix neighbouring frequencies, so local B is biased by a few
        # tens of Å^2 (ALGORITHM.md: about +-15 Å^2 on larger phantoms). The blurred domain
        # B (truth -150) must be clearly below the sharp ones (truth -50), with about the
        # right gap, and the mean in the mask near the volume-weighted truth.
        domainA, domainB, domainC = self.ph.domains
        meanA, meanB = bfactor[domainA].mean(), bfactor[domainB].mean()
        self.assertTrue(-110 < meanA < -25, meanA)
        self.assertTrue(-250 < meanB < -100, meanB)
        self.assertTrue(30 < meanA - meanB < 150, (meanA, meanB))
        truth = np.zeros(bfactor.shape)
        for ball, b in zip(self.ph.domains, helpers.DOMAIN_B):
            truth[ball] = -b
        inBalls = self.ph.mask & (domainA | domainB | domainC)
        self.assertLess(abs(bfactor[inBalls].mean() - truth[inBalls].mean()), 35)
        summary, methods = self.checkInfo(prot, "mean", "Global Guinier B")
        self.assertIn(f"{prot.meanB.get():.2f}", summary)
        self.assertIn(f"{prot.meanB.get():.1f}", methods)

    def test_locspiral_expert_options_reach_the_core(self):
        """Reference spiral mode, no SNR weight, other threshold and band width, and a
        mask made with another threshold, low-pass and dilation."""
        # A threshold below the automatic one (it applies to the low-passed map).
        maskThreshold = round(0.8 * automatic_mask(self.avg).threshold, 6)
        prot = self.runProtocol(LocSpiralProtEnhance, inputVolume=self.volume, spiral=1,
                                snrWeight=False, threshold=0.95, bw=4.0, minRes=20.0,
                                maxRes=3.5, maskThreshold=maskThreshold, maskLowpass=10.0,
                                maskDilation=2.0)
        mask = automatic_mask(self.avg, threshold=maskThreshold, lowpass=10.0,
                              dilation=2.0).mask
        self.assertNotEqual(int(mask.sum()), int(automatic_mask(self.avg).mask.sum()))
        expected = core.locspiral(self.avg, mask, VOXEL, 20.0, 3.5, threshold=0.95, bw=4.0,
                                  snr_weight=False, spiral="reference", workers=WORKERS)
        assert_close_maps(self.checkGrid(getattr(prot, OUT_ENHANCED), self.volume),
                          expected.map)
        self.assertAlmostEqual(prot.maskThresholdUsed.get(), maskThreshold, places=9)
        self.assertEqual(prot.maskVoxels.get(), int(mask.sum()))
        self.assertIn("reference implementation", "\n".join(prot.methods()))

    def test_lococcupancy_half_occupied_domain_is_lower(self):
        prot = self.runProtocol(LocSpiralProtOccupancy, inputVolume=self.volume)
        mask = automatic_mask(self.avg).mask
        expected = core.lococcupancy(self.avg, mask, VOXEL, 25.0, 10.0, quantile=0.25, bw=5.0,
                                     workers=WORKERS)
        occupancy = self.checkGrid(getattr(prot, OUT_OCCUPANCY), self.volume)
        assert_close_maps(occupancy, expected)
        self.assertEqual(prot.maxResUsed.get(), 10.0)  # LocOccupancy default, not the FSC
        self.assertTrue(0.0 <= occupancy.min() and occupancy.max() <= 1.0)
        domainA, domainB, domainC = self.ph.domains
        full = min(occupancy[domainA & mask].mean(), occupancy[domainB & mask].mean())
        half = occupancy[domainC & mask].mean()
        self.assertGreater(full, 0.8)
        # How far the half-occupied domain drops depends on the mask, since the occupancy
        # level is the 0.25 amplitude quantile inside it: on this phantom the true mask
        # itself reads domain C as ~0.9. What the default must give is the true mask's
        # answer: C below both full domains, and within 0.1 of C with the true mask.
        truth = core.lococcupancy(self.avg, self.ph.mask, VOXEL, 25.0, 10.0, quantile=0.25,
                                  bw=5.0, workers=WORKERS)
        self.assertLess(half, full)
        self.assertLess(abs(half - truth[domainC & self.ph.mask].mean()), 0.1)
        self.checkBandLog(prot, "LocOccupancy band")
        self.checkInfo(prot, "occupancy")


class TestLocSpiralChain(LocSpiralTestBase, _OutputChecks):
    """import -> LocBFactor -> LocOccupancy -> maturity index, in one project.

    The mature map has three full domains; immature maps lack domain C ('AB') or B and C
    ('A'); the mature map itself is also given as an 'immature' map, so the maturity run
    must reproduce the LocOccupancy run of the chain on it exactly.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.mature = cls.importPhantom("mature")
        cls.immature = [cls.importPhantom("immatureAB"), cls.importPhantom("immatureA"),
                        cls.mature]

    def test_chain(self):
        ph = phantom("mature")
        avg = processed_map(ph)
        mask = automatic_mask(avg).mask
        fscRes = core.fsc(ph.half1, ph.half2, VOXEL).resolution

        # 1. LocBFactor, automatic mask and max resolution, fit over bands above noise.
        bprot = self.runProtocol(LocSpiralProtBFactor, inputVolume=self.mature,
                                 filteredFit=True, numPoints=8, amplitudeAt=1)
        expected = core.locbfactor(avg, mask, VOXEL, 15.0, fscRes, num_points=8,
                                   filtered=True, amplitude_at="lowest", workers=WORKERS)
        assert_close_maps(self.checkGrid(getattr(bprot, OUT_AMPLITUDE), self.mature),
                          expected.amplitude)
        bfactor = self.checkGrid(getattr(bprot, OUT_BFACTOR), self.mature)
        assert_close_maps(bfactor, expected.bfactor)
        inside = expected.bfactor[expected.mask].astype(np.float64)
        self.assertAlmostEqual(bprot.meanB.get(), inside.mean(),
                               delta=RTOL * abs(inside.mean()))
        saved, _, _ = read_mrc(self.extra(bprot, EXTRA_MASK))
        np.testing.assert_array_equal(saved > 0.5, expected.mask)  # less unfitted voxels

        # 2. LocOccupancy on the same map.
        oprot = self.runProtocol(LocSpiralProtOccupancy, inputVolume=self.mature)
        occupancy = self.checkGrid(getattr(oprot, OUT_OCCUPANCY), self.mature)
        assert_close_maps(occupancy, core.lococcupancy(avg, mask, VOXEL, 25.0, 10.0,
                                                       workers=WORKERS))
        # Its summary: the share of the mask below 0.5, not the mean (fixed at 0.75).
        osummary = "\n".join(oprot.summary())
        low = 100 * float(np.mean(occupancy[mask] < 0.5))
        self.assertIn(f"{low:.1f}% of the mask has occupancy below 0.5", osummary)
        self.assertIn("0.25-quantile", osummary)

        # 3. Maturity index of the immature maps against the mature one.
        mprot = self.runProtocol(LocSpiralProtMaturity, inputVolume=self.mature,
                                 inputImmatureVolumes=self.immature)
        maps = [processed_map(phantom(n)) for n in ("immatureAB", "immatureA", "mature")]
        expected = core.maturity_index(mask, maps, VOXEL, 25.0, 10.0, mature_map=avg,
                                       workers=WORKERS)
        occupancySet = getattr(mprot, OUT_MATURITY_OCCUPANCY)
        missingSet = getattr(mprot, OUT_MATURITY_MISSING)
        self.assertEqual(occupancySet.getSize(), 3)
        self.assertEqual(missingSet.getSize(), 3)
        self.assertAlmostEqual(occupancySet.getSamplingRate(), VOXEL)
        names = ["import_mature" if n == "mature" else f"import_{n}"
                 for n in ("immatureAB", "immatureA", "mature")]
        for outputSet, kind in ((occupancySet, "occupancy"), (missingSet, "missing")):
            items = sorted((v.clone() for v in outputSet),
                           key=lambda v: getattr(v, ATTR_SOURCE_POSITION).get())
            for position, item in enumerate(items, 1):
                result = expected[position - 1]
                self.assertEqual(getattr(item, ATTR_SOURCE_POSITION).get(), position)
                self.assertAlmostEqual(getattr(item, ATTR_MATURITY_INDEX).get(), result.index,
                                       places=9)
                self.assertAlmostEqual(getattr(item, ATTR_MATURITY_NORMALISED).get(),
                                       result.normalised, places=9)
                self.assertIn(names[position - 1].split("_")[1],
                              getattr(item, ATTR_SOURCE_NAME).get())
                data = self.checkGrid(item, self.mature)
                assert_close_maps(data, result.occupancy if kind == "occupancy"
                                  else result.missing)
        indices = [r.index for r in expected]
        # Maturity ordering: A only < A+B < complete.
        self.assertLess(indices[1] + 0.1, indices[0])
        self.assertLess(indices[0] + 0.1, indices[2])
        # The density missing from 'A' includes domain B; 'A+B' has it.
        domainB = ph.domains[1]
        self.assertGreater(np.abs(expected[1].missing[domainB]).sum(),
                           3 * np.abs(expected[0].missing[domainB]).sum())
        # The chain is consistent: the maturity run's occupancy of the mature map is
        # LocOccupancy's.
        items = {getattr(v, ATTR_SOURCE_POSITION).get(): output_path(v)
                 for v in occupancySet}
        same, _, _ = read_mrc(items[3])
        assert_close_maps(same, occupancy)

        summary, methods = self.checkInfo(mprot, "timeline")
        order = [summary.index(f"maturity index {indices[i]:.3f}") for i in (1, 0, 2)]
        self.assertEqual(order, sorted(order), summary)  # least to most mature
        # The mature map given as an immature one: published index < 1, normalised 1.
        self.assertLess(indices[2], 0.9)
        self.assertIn(f"maturity index {indices[2]:.3f}, normalised 1.000", summary)
        self.assertIn(f"The mature map itself has a published index of {indices[2]:.3f}",
                      summary)
        self.assertIn("immatureA", summary)
        with open(self.extra(mprot, "results.json")) as handle:
            self.assertEqual(len(json.load(handle)["maturity"]), 3)


class TestLocSpiralValidation(LocSpiralTestBase):
    """Bad inputs are refused by validate() with a readable message, before any run."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        files = cls.files_of("partial")
        ph = phantom("partial")
        cls.volume = cls.importPhantom("partial")
        cls.noHalves = cls.importPhantom("partial", withHalves=False)
        folder = cls.dataDir
        cls.goodMask = cls.importMask(files["mask"])
        cls.smallMask = cls.importMask(helpers.write_array(
            folder, "small_mask.mrc", ph.mask[4:-4, 4:-4, 4:-4]))
        cls.coarseMask = cls.importMask(files["mask"], sampling=1.5)
        cls.emptyMask = cls.importMask(helpers.write_array(
            folder, "empty_mask.mrc", np.zeros(ph.mask.shape)))
        cls.fullMask = cls.importMask(helpers.write_array(
            folder, "full_mask.mrc", np.ones(ph.mask.shape)))
        cls.smallVolume = cls.importVolume(helpers.write_array(
            folder, "small_map.mrc", ph.map[4:-4, 4:-4, 4:-4]))
        cls.badHalves = cls.importVolume(files["map"], halves=(
            helpers.write_array(folder, "small_half1.mrc", ph.half1[4:-4, 4:-4, 4:-4]),
            helpers.write_array(folder, "small_half2.mrc", ph.half2[4:-4, 4:-4, 4:-4])))

    PROTOCOLS = (LocSpiralProtEnhance, LocSpiralProtBSharpen, LocSpiralProtBFactor,
                 LocSpiralProtOccupancy)

    def errors(self, protClass=LocSpiralProtBFactor, **kwargs):
        kwargs.setdefault("inputVolume", self.volume)
        if protClass is LocSpiralProtMaturity:
            kwargs.setdefault("inputImmatureVolumes", [self.volume])
        prot = self.newProtocol(protClass, **kwargs)
        return "\n".join(prot.validate())

    def assertRefused(self, errors, *words):
        self.assertTrue(errors, "validate() accepted a bad input")
        self.assertNotIn("Traceback", errors)
        for word in words:
            self.assertIn(word, errors)

    def test_good_inputs_pass(self):
        for protClass in self.PROTOCOLS + (LocSpiralProtMaturity,):
            self.assertEqual(self.errors(protClass), "", protClass.__name__)
            self.assertEqual(self.errors(protClass, useMaskVolume=True,
                                         inputMask=self.goodMask, maxRes=3.0), "")

    def test_mask_grid_differs(self):
        for protClass in self.PROTOCOLS + (LocSpiralProtMaturity,):
            errors = self.errors(protClass, useMaskVolume=True, inputMask=self.smallMask)
            self.assertRefused(errors, "mask grid (48 x 48 x 48 voxels) differs",
                               "56 x 56 x 56")

    def test_voxel_sizes_differ(self):
        errors = self.errors(useMaskVolume=True, inputMask=self.coarseMask)
        self.assertRefused(errors, "mask voxel size (1.5 Å) differs", "1.2 Å")

    def test_empty_and_full_masks(self):
        self.assertRefused(self.errors(useMaskVolume=True, inputMask=self.emptyMask),
                           "mask is empty")
        self.assertRefused(self.errors(useMaskVolume=True, inputMask=self.fullMask),
                           "covers the whole box", "solvent")

    def test_mask_volume_missing(self):
        self.assertRefused(self.errors(useMaskVolume=True), "cannot be EMPTY")

    def test_max_res_beyond_nyquist(self):
        for protClass in self.PROTOCOLS:
            self.assertRefused(self.errors(protClass, maxRes=2.0),
                               "max resolution 2 Å is beyond Nyquist (2.4 Å")

    def test_min_res_not_coarser_than_max(self):
        self.assertRefused(self.errors(minRes=5.0, maxRes=8.0),
                           "min resolution 5 Å must be coarser", "max resolution 8 Å")
        self.assertRefused(self.errors(minRes=5.0, maxRes=5.0), "must be coarser")

    def test_range_below_one_fourier_pixel(self):
        self.assertRefused(self.errors(minRes=3.0, maxRes=2.95),
                           "less than one Fourier pixel")

    def test_max_res_needed_without_half_maps(self):
        errors = self.errors(inputVolume=self.noHalves)
        self.assertRefused(errors, "max resolution is empty", "no half maps")
        self.assertEqual(self.errors(inputVolume=self.noHalves, maxRes=3.0), "")
        self.assertRefused(self.errors(inputVolume=self.noHalves, maxRes=-1),
                           "no half maps")

    def test_method_parameters(self):
        self.assertRefused(self.errors(threshold=1.5), "noise threshold is a quantile")
        self.assertRefused(self.errors(bw=0.0), "band width must be positive")
        self.assertRefused(self.errors(numPoints=1), "at least 2 bands")
        self.assertRefused(self.errors(LocSpiralProtOccupancy, occupancyQuantile=0.0),
                           "occupancy quantile")
        self.assertRefused(self.errors(LocSpiralProtMaturity, occupiedLevel=1.5),
                           "highly occupied level")

    def test_immature_map_grid_differs(self):
        errors = self.errors(LocSpiralProtMaturity,
                             inputImmatureVolumes=[self.volume, self.smallVolume])
        self.assertRefused(errors, "immature map 2 grid (48 x 48 x 48 voxels) differs from "
                                   "the mature map grid")


    def test_half_map_grid_differs(self):
        self.assertRefused(self.errors(inputVolume=self.badHalves),
                           "grid (48 x 48 x 48 voxels) differs from the input map grid")

    def test_reads_maps_in_other_formats(self):
        """Spider (or any format pwem reads) goes through pwem's ImageHandler."""
        from pwem.emlib.image import ImageHandler
        path = os.path.join(self.dataDir, "partial_map.vol")
        ImageHandler().convert(self.files_of("partial")["map"], path)
        prot = self.newProtocol(LocSpiralProtEnhance)
        read = prot._readMap(path, VOXEL)
        self.assertAlmostEqual(read.voxel_size, VOXEL)
        np.testing.assert_array_equal(read.data, phantom("partial").map)


class TestLocSpiralPlugin(unittest.TestCase):
    """What Scipion sees of the plugin without running anything."""

    def test_plugin_registration_and_menu(self):
        """The plugin is found through its entry point, cites the paper, and protocols.conf
        places each protocol in the intended 3D group."""
        domain = Config.getDomain()
        plugins = domain.getPlugins()
        self.assertIn("locspiral_em", plugins)
        module = plugins["locspiral_em"]
        self.assertIn("Kaur2021", module._bibtex)
        # The instance pyworkflow made of the lazily imported Plugin class (installp and
        # the plugin manager call its _defineVariables/defineBinaries).
        instance = module._pluginInstance
        self.assertIsInstance(instance, pwem.Plugin)
        self.assertEqual(instance.getName(), "locspiral_em")
        self.assertEqual(instance.getUrl(), "https://github.com/scipion-em/scipion-em-locspiral")
        self.assertEqual(instance.validateInstallation(), [])
        self.assertEqual(os.path.realpath(instance.getPath()),
                         os.path.realpath(os.path.dirname(module.__file__)))
        protocols = domain.getProtocols()
        conf = configparser.ConfigParser()
        conf.optionxform = str
        path = os.path.join(os.path.dirname(module.__file__), "protocols.conf")
        self.assertTrue(conf.read(path), path)
        tree = json.loads(conf.get("PROTOCOLS", "Protocols SPA"))
        placed = {}
        for section in tree:
            for group in section["children"]:
                for item in group["children"]:
                    placed[item["value"]] = (section["text"], group["text"])
        self.assertEqual(placed, {
            "LocSpiralProtEnhance": ("3D", "Postprocess"),
            "LocSpiralProtBSharpen": ("3D", "Postprocess"),
            "LocSpiralProtLocSharpen": ("3D", "Postprocess"),
            "LocSpiralProtBFactor": ("3D", "Analysis"),
            "LocSpiralProtOccupancy": ("3D", "Analysis"),
            "LocSpiralProtMaturity": ("3D", "Analysis"),
        })
        for name in placed:
            self.assertIn(name, protocols)
            self.assertFalse(protocols[name].isBase(), name)
            # Each protocol points users to this plugin (its form's help link).
            self.assertEqual(protocols[name].getUrl(), instance.getUrl())
        self.assertTrue(protocols["LocSpiralProtBase"].isBase())
