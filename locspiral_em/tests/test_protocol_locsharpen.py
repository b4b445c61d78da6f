"""The LocSharpen protocol and its viewer, run through a real headless pyworkflow project.

One run on the 'partial' phantom (three domains, one blurred; imported with its half maps and
its true mask): the outputs must be the core's ``locsharpen`` on the same arrays (the half
maps' average, their difference as the Wiener noise) to 1e-4, on the input's grid (sampling
rate, dimensions, origin, MRC header); the stored numbers must be the run's; bad parameters
are refused by ``validate()``. The viewer must be found for the run and write a ChimeraX
scene (the sharpened map over the input, in LocSharpen's group) and the slice figures.

Plain ``unittest`` (pyworkflow ``BaseTest``), no pytest: a stock Scipion has no pytest, and
``scipion3 tests locspiral_em.tests.test_protocol_locsharpen`` loads this module with
unittest. It also runs under ``python -m pytest`` (the root conftest.py sets up a throw-away
Scipion environment) and ``python -m unittest`` (``scipion_helpers`` then sets it up).
"""
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
from locspiral_em.tests.scipion_helpers import (  # noqa: E402
    SCIPION_SHIFTS, SIZE, VOXEL, LocSpiralTestBase, output_path, phantom, processed_map,
    read_mrc)

import pyworkflow.viewer as pwviewer  # noqa: E402
from pwem import Domain  # noqa: E402

from locspiral_em import chimerax as cx  # noqa: E402
from locspiral_em import core  # noqa: E402
from locspiral_em.constants import (  # noqa: E402
    EXTRA_MASK, EXTRA_SUMMARY, OUT_LOCSHARPEN, OUT_LOCSHARPEN_BFACTOR)
from locspiral_em.core import defaults as D  # noqa: E402
from locspiral_em.protocols import LocSpiralProtLocSharpen  # noqa: E402
from locspiral_em.tests.scene_checks import (  # noqa: E402
    check_png, check_syntax, commands, grid_of, opened_files, scene_group)
from locspiral_em.viewers import ImageFileView, LocSharpenViewer  # noqa: E402

WORKERS = 2
RTOL = 1e-4
MAX_RES = 3.0


def assert_close_maps(actual, expected, rtol=RTOL):
    scale = float(np.max(np.abs(expected))) or 1.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale)


class TestLocSharpenProtocol(LocSpiralTestBase):
    """One LocSharpen run (half maps, imported mask, max res 3 Å, target B -10 Å^2)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ph = phantom("partial")
        cls.volume = cls.importPhantom("partial")
        cls.maskObj = cls.importMask(cls.files_of("partial")["mask"])
        cls.prot = cls.runProtocol(LocSpiralProtLocSharpen, inputVolume=cls.volume,
                                   useMaskVolume=True, inputMask=cls.maskObj,
                                   maxRes=MAX_RES, targetB=-10.0,
                                   numberOfThreads=WORKERS)
        cls.expected = core.locsharpen(processed_map(cls.ph), cls.ph.mask, VOXEL, 25.0,
                                       MAX_RES, target_b=-10.0,
                                       half_maps=(cls.ph.half1, cls.ph.half2),
                                       workers=WORKERS)

    def checkGrid(self, output):
        """Same sampling, dimensions and origin as the input, in Scipion and in the file."""
        self.assertAlmostEqual(output.getSamplingRate(), VOXEL, places=6)
        self.assertEqual(tuple(output.getDim()), (SIZE, SIZE, SIZE))
        np.testing.assert_allclose(output.getOrigin(force=True).getShifts(), SCIPION_SHIFTS,
                                   atol=1e-6)
        data, voxel, origin = read_mrc(output_path(output))
        _, _, sourceOrigin = read_mrc(output_path(self.volume))
        self.assertEqual(data.shape, (SIZE, SIZE, SIZE))
        self.assertAlmostEqual(voxel, VOXEL, places=4)
        np.testing.assert_allclose(origin, sourceOrigin, atol=1e-4)
        return data

    # ------------------------------------------------------------------ protocol
    def test_outputs_are_the_core_on_the_input_grid(self):
        prot = self.prot
        self.assertTrue(prot.isFinished())
        self.assertEqual(set(LocSpiralProtLocSharpen._possibleOutputs),
                         {OUT_LOCSHARPEN, OUT_LOCSHARPEN_BFACTOR})
        sharpened = self.checkGrid(getattr(prot, OUT_LOCSHARPEN))
        bfactor = self.checkGrid(getattr(prot, OUT_LOCSHARPEN_BFACTOR))
        assert_close_maps(sharpened, self.expected.map)
        assert_close_maps(bfactor, self.expected.bfactor)
        saved, _, _ = read_mrc(prot._getExtraPath(EXTRA_MASK))
        np.testing.assert_array_equal(saved > 0.5, self.ph.mask)
        # The stored numbers are the run's: the mean local B used inside the mask, the
        # global Guinier B over the local fit's range (15 Å to max res) inside the mask.
        inside = self.expected.bfactor[self.ph.mask].astype(np.float64)
        self.assertAlmostEqual(prot.meanB.get(), inside.mean(), delta=1e-3)
        self.assertAlmostEqual(prot.sdB.get(), inside.std(ddof=1), delta=1e-3)
        self.assertLess(prot.meanB.get(), -20.0)  # a blurred phantom: B < 0
        glob = core.global_bfactor(processed_map(self.ph), VOXEL, D.BFACTOR_MIN_RES, MAX_RES,
                                   mask=self.ph.mask).bfactor
        self.assertAlmostEqual(prot.globalB.get(), glob, delta=1e-3)
        self.assertEqual((prot.globalBMinRes.get(), prot.globalBMaxRes.get()),
                         (D.BFACTOR_MIN_RES, MAX_RES))
        self.assertEqual(prot.maxResUsed.get(), MAX_RES)
        with open(prot._getExtraPath(EXTRA_SUMMARY)) as handle:
            summary = json.load(handle)
        self.assertEqual(summary["method"], "locsharpen")
        self.assertEqual(summary["parameters"]["noise_from"], "half maps")
        self.assertEqual(summary["parameters"]["target_b_A2"], -10.0)
        self.assertEqual(summary["warnings"], [])
        # One log line per sharpening band.
        with open(prot.getStdoutLog()) as handle:
            log = handle.read()
        bands = prot.numBands.get()
        self.assertGreater(bands, 5)
        self.assertIn(f"LocSharpen band {bands}/{bands}", log)

    def test_summary_methods_and_citations(self):
        prot = self.prot
        summary = "\n".join(prot.summary())
        methods = "\n".join(prot.methods())
        self.assertNotIn("not ready", summary)
        self.assertIn(f"mean {prot.meanB.get():.2f} Å^2", summary)
        self.assertIn("target B -10 Å^2", summary)
        self.assertIn("came from the half-map difference", summary)
        self.assertIn(OUT_LOCSHARPEN_BFACTOR, summary)
        self.assertIn("LocSharpen", methods)
        self.assertIn("target B-factor of -10 Å^2", methods)
        self.assertIn(f"{prot.globalB.get():.1f} Å^2", methods)
        self.assertIn("Kaur", methods)
        self.assertEqual(prot._citations(), ["Kaur2021"])
        self.assertIn("Kaur", "\n".join(prot.citations()))

    def test_form_defaults_and_validation(self):
        prot = self.newProtocol(LocSpiralProtLocSharpen, inputVolume=self.volume)
        self.assertEqual((prot.minRes.get(), prot.maxRes.get(), prot.bw.get(),
                          prot.threshold.get()), (25.0, None, 4.5, 0.9))
        self.assertEqual((prot.targetB.get(), prot.smooth.get(), prot.bfactorMinRes.get(),
                          prot.numPoints.get()), (0.0, 3.0, 15.0, 10))
        self.assertEqual(prot.validate(), [])

        def errors(**kwargs):
            kwargs.setdefault("inputVolume", self.volume)
            return "\n".join(self.newProtocol(LocSpiralProtLocSharpen, **kwargs).validate())

        self.assertIn("riesz", errors(spiral=1))
        self.assertIn("smoothing of the B map", errors(smooth=-1.0))
        self.assertIn("at least 2 bands", errors(numPoints=1))
        self.assertIn("must be coarser", errors(bfactorMinRes=3.0, maxRes=3.0))
        self.assertIn("positive", errors(bfactorMinRes=0.0))

    # ------------------------------------------------------------------ viewer
    def test_viewer(self):
        prot = self.prot
        found = [v.__name__ for v in Domain.findViewers(prot, pwviewer.DESKTOP_TKINTER)]
        self.assertIn("LocSharpenViewer", found)
        viewer = LocSharpenViewer(project=prot.getProject(), protocol=prot)
        viewer.setProtocol(prot)
        self.assertEqual(viewer.validate(), [])
        self.assertEqual(set(viewer._getVisualizeDict()),
                         {name for name, _ in viewer._definition.iterAllParams()
                          if name.startswith("display")})

        script = viewer.makeChimeraScript()
        self.assertEqual(script, os.path.abspath(prot._getExtraPath("locsharpen_chimerax.cxc")))
        check_syntax(script)
        self.assertEqual(scene_group(script), cx.SCENE_MODEL_IDS["locsharpen"])
        files = opened_files(script)
        self.assertEqual(files, {1: os.path.abspath(output_path(getattr(prot, OUT_LOCSHARPEN))),
                                 2: os.path.abspath(output_path(self.volume))})
        for model in files:
            size, origin = grid_of(script, model)
            self.assertAlmostEqual(size, VOXEL, places=5)
            np.testing.assert_allclose(origin, SCIPION_SHIFTS, atol=1e-4)
        # Automatic level of the sharpened surface: suggest_level in the run's mask.
        mask = core.read_map(prot._getExtraPath(EXTRA_MASK)).data > 0.5
        line = [c for c in commands(script) if c.startswith("volume #106.1 style")][0]
        level = float(line.split(" level ")[1].split()[0])
        self.assertAlmostEqual(level, cx.suggest_level(self.expected.map, mask),
                               delta=1e-3 * abs(level))
        views = viewer._showChimera()  # no ChimeraX here: a message with the script's path
        self.assertIsInstance(views[0], pwviewer.MessageView)
        self.assertIn(script, views[0].getMessage())

        for make, show, name in (
                (viewer.makeSlicesMap, viewer._showSlicesMap, "locsharpen_slices.png"),
                (viewer.makeSlicesInput, viewer._showSlicesInput,
                 "locsharpen_input_slices.png"),
                (viewer.makeSlicesB, viewer._showSlicesB, "locsharpen_bfactor_slices.png")):
            with self.subTest(figure=name):
                png = make()
                self.assertEqual(png, os.path.abspath(prot._getExtraPath(name)))
                check_png(png, (1000, 360))
                views = show()
                self.assertIsInstance(views[0], ImageFileView)
                self.assertEqual(views[0].getImagePath(), png)


if __name__ == "__main__":
    unittest.main()
