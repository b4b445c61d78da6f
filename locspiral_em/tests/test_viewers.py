"""The Scipion viewers, on real protocol runs in a headless project (no Tk, no ChimeraX).

Every protocol runs once on a small phantom; then pyworkflow's viewer lookup must offer the
plugin's viewer for it, and each viewer's file-making methods must write, under the run's
extra/ folder, ChimeraX scripts that open the run's files on the map's grid (into the
scene's own group model, closing nothing else) with the expected colour range, grey where
the local map has no value, a surface level that shows the molecule, and readable PNG
figures. The ``_show*`` methods must wrap them in views: a message with the script's path
when ChimeraX is not installed in Scipion.

Plain ``unittest`` (pyworkflow ``BaseTest``), no pytest: a stock Scipion has no pytest, and
``scipion3 tests locspiral_em.tests.test_viewers`` loads this module with unittest. It also
runs under ``python -m pytest locspiral_em/tests/test_viewers.py`` (the root conftest.py
sets up a throw-away Scipion environment) and ``python -m unittest`` (``scipion_helpers``
then sets it up itself).
"""
import importlib.util
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
    SCIPION_SHIFTS, VOXEL, LocSpiralTestBase, phantom)

import pyworkflow.viewer as pwviewer  # noqa: E402
from pwem import Domain  # noqa: E402

from locspiral_em import core  # noqa: E402
from locspiral_em import chimerax as cx  # noqa: E402
from locspiral_em.constants import (  # noqa: E402
    EXTRA_MASK, OUT_AMPLITUDE, OUT_BFACTOR, OUT_ENHANCED, OUT_MATURITY_MISSING,
    OUT_OCCUPANCY, OUT_QUALITY, OUT_SHARPENED)
from locspiral_em.protocols import (  # noqa: E402
    LocSpiralProtBFactor, LocSpiralProtBSharpen, LocSpiralProtEnhance,
    LocSpiralProtMaturity, LocSpiralProtOccupancy)
from locspiral_em.tests.scene_checks import (  # noqa: E402
    Session, check_png, check_syntax, colour_commands, commands, grid_of, key_pairs,
    opened_files, palette_colour, scene_group)
from locspiral_em.viewers import (  # noqa: E402
    ImageFileView, LocBFactorViewer, LocBSharpenViewer, LocOccupancyViewer, LocSpiralViewer,
    MaturityViewer)
from locspiral_em.viewers import viewer_base  # noqa: E402

GREY = tuple(int(cx.NO_VALUE_COLOR[i:i + 2], 16) / 255 for i in (1, 3, 5))


def fileOf(volume):
    return os.path.abspath(volume.getFileName().split(":")[0])


def levelOf(script, model=1):
    """The surface level a script sets for submodel ``model``."""
    line = [l for l in commands(script)
            if l.startswith(f"volume #{scene_group(script)}.{model} style")][0]
    return float(line.split(" level ")[1].split()[0])


class TestViewers(LocSpiralTestBase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.volume = cls.importPhantom("partial")
        cls.runs = {
            LocSpiralProtEnhance: cls.runProtocol(LocSpiralProtEnhance,
                                                  inputVolume=cls.volume),
            LocSpiralProtBSharpen: cls.runProtocol(LocSpiralProtBSharpen,
                                                   inputVolume=cls.volume),
            LocSpiralProtBFactor: cls.runProtocol(LocSpiralProtBFactor,
                                                  inputVolume=cls.volume, minRes=15.0,
                                                  filteredFit=True),
            LocSpiralProtOccupancy: cls.runProtocol(LocSpiralProtOccupancy,
                                                    inputVolume=cls.volume),
        }
        cls.mature = cls.volume  # domain C half occupied; immature maps lack C, or B and C
        immature = [cls.importPhantom("immatureAB"), cls.importPhantom("immatureA")]
        cls.runs[LocSpiralProtMaturity] = cls.runProtocol(
            LocSpiralProtMaturity, inputVolume=cls.mature, inputImmatureVolumes=immature)

    def viewer(self, viewerClass, protClass):
        prot = self.runs[protClass]
        self.assertTrue(prot.isFinished(), f"{protClass.__name__} did not finish")
        viewer = viewerClass(project=prot.getProject(), protocol=prot)
        viewer.setProtocol(prot)
        self.assertEqual(viewer.validate(), [])  # the form's defaults are valid
        self.assertEqual(set(viewer._getVisualizeDict()),
                         {name for name, _ in viewer._definition.iterAllParams()
                          if name.startswith("display")})
        return viewer, prot

    def extraFile(self, prot, name):
        return os.path.abspath(prot._getExtraPath(name))

    def runMask(self, prot):
        return core.read_map(self.extraFile(prot, EXTRA_MASK)).data > 0.5

    def checkScriptGrid(self, script, models, group):
        check_syntax(script)  # also: no 'close session', one close of the scene's group
        self.assertEqual(scene_group(script), group)
        files = opened_files(script)
        self.assertEqual(sorted(files), list(range(1, models + 1)))
        for path in files.values():
            self.assertTrue(os.path.exists(path), path)
        for model in files:
            size, origin = grid_of(script, model)
            self.assertAlmostEqual(size, VOXEL, places=5)
            np.testing.assert_allclose(origin, SCIPION_SHIFTS, atol=1e-4)
        return files

    def checkDisplayCopy(self, copyPath, valuesPath, mask, palette):
        """The display copy holds the values inside the mask and, outside, a sentinel the
        palette paints grey (B = 0 or occupancy 0 there would read as data)."""
        copy = core.read_map(copyPath).data
        values = core.read_map(valuesPath).data
        np.testing.assert_array_equal(copy[mask], values[mask])
        outside = np.unique(copy[~mask])
        self.assertEqual(len(outside), 1)
        self.assertLess(float(outside[0]), float(values[mask].min()))
        np.testing.assert_allclose(palette_colour(palette, float(outside[0])), GREY)

    def checkLevelShowsTheMolecule(self, script, data, mask):
        """The automatic level is suggest_level's, and the voxels above it are mostly the
        phantom's molecule (its domain balls), not solvent."""
        level = levelOf(script)
        self.assertAlmostEqual(level, cx.suggest_level(data, mask), delta=1e-4 * abs(level))
        molecule = np.zeros(mask.shape, bool)
        for domain in phantom("partial").domains:
            molecule |= domain
        self.assertGreater(float(molecule[data > level].mean()), 0.7)

    def checkMessageView(self, views, script):
        self.assertEqual(len(views), 1)
        self.assertIsInstance(views[0], pwviewer.MessageView)
        self.assertIn(script, views[0].getMessage())
        self.assertIn("chimerax " + script, views[0].getMessage())

    def checkImageViews(self, views, png):
        self.assertEqual(len(views), 1)
        self.assertIsInstance(views[0], ImageFileView)
        self.assertEqual(views[0].getImagePath(), png)

    # ------------------------------------------------------------------ lookup
    def test_viewers_are_found_for_each_protocol(self):
        expected = {LocSpiralProtEnhance: LocSpiralViewer,
                    LocSpiralProtBSharpen: LocBSharpenViewer,
                    LocSpiralProtBFactor: LocBFactorViewer,
                    LocSpiralProtOccupancy: LocOccupancyViewer,
                    LocSpiralProtMaturity: MaturityViewer}
        ours = {c.__name__ for c in expected.values()}
        for protClass, viewerClass in expected.items():
            with self.subTest(protocol=protClass.__name__):
                found = Domain.findViewers(self.runs[protClass], pwviewer.DESKTOP_TKINTER)
                names = [v.__name__ for v in found]
                self.assertIn(viewerClass.__name__, names)
                # Exactly one of ours (the maturity run is a LocOccupancy subclass).
                self.assertEqual([n for n in names if n in ours], [viewerClass.__name__])

    # ------------------------------------------------------------------ LocBFactor
    def test_bfactor_viewer(self):
        viewer, prot = self.viewer(LocBFactorViewer, LocSpiralProtBFactor)
        script = viewer.makeChimeraScript()
        self.assertEqual(script, self.extraFile(prot, "locbfactor_chimerax.cxc"))
        files = self.checkScriptGrid(script, 3, cx.SCENE_MODEL_IDS["locbfactor"])
        bPath, aPath = fileOf(getattr(prot, OUT_BFACTOR)), fileOf(getattr(prot, OUT_AMPLITUDE))
        # B and A are shown from display copies next to the script (grey outside the mask).
        self.assertEqual(files, {1: fileOf(self.volume), 2: cx.display_path(script, bPath),
                                 3: cx.display_path(script, aPath)})
        self.assertIn("open bfactor_display.mrc name locspiral_em_103_2", commands(script))
        # Default range: 2nd-98th percentiles of B inside the run's mask.
        bfactor = core.read_map(bPath).data
        mask = self.runMask(prot)
        expected = cx.robust_range(bfactor, mask, 2, 98)
        bScenes = [c for c in colour_commands(script) if c[1] == 2]
        self.assertEqual(len(bScenes), 2)
        for surface, _, palette, valueRange in bScenes:
            self.assertEqual(surface, 1)
            np.testing.assert_allclose(valueRange, expected, rtol=1e-5)
        self.checkDisplayCopy(files[2], bPath, mask, bScenes[0][2])
        # Surface level: automatic, from the map's density in the mask; specks hidden.
        self.checkLevelShowsTheMolecule(script, core.read_map(files[1]).data, mask)
        self.assertIn(f"surface dust #103.1 size {cx.dust_size(VOXEL):g}", commands(script))

        # Form options change the script.
        viewer.palette.set("bluered")
        viewer.colorLow.set(-250.0)
        viewer.colorHigh.set(-20.0)
        viewer.surfaceLevel.set(0.123)
        script = viewer.makeChimeraScript()
        bScenes = [c for c in colour_commands(script) if c[1] == 2]
        self.assertEqual(bScenes[0][3], (-250.0, -20.0))
        key = [l for l in commands(script) if l.startswith("key ")][0]
        self.assertEqual([c for c, _ in key_pairs(key)], cx.palette_colors("bluered"))
        self.assertIn("volume #103.1 style surface step 1 level 0.123 color #b4b4b4",
                      commands(script))

        # Views: no ChimeraX in this environment -> a message with the script's path.
        self.checkMessageView(viewer._showChimera(), script)

        for make, show, name, size in (
                (viewer.makeHistogram, viewer._showHistogram, "bfactor_histogram.png",
                 (640, 480)),
                (viewer.makeGuinierPlot, viewer._showGuinier, "local_guinier.png",
                 (640, 480)),
                (viewer.makeSlicesB, viewer._showSlicesB, "bfactor_slices.png", (1000, 360)),
                (viewer.makeSlicesA, viewer._showSlicesA, "amplitude_slices.png",
                 (1000, 360))):
            with self.subTest(figure=name):
                png = make()
                self.assertEqual(png, self.extraFile(prot, name))
                check_png(png, size)
                self.checkImageViews(show(), png)

        # A bad form value gives an error message view, not a traceback.
        viewer.guinierPercentiles.set("10 abc")
        views = viewer._showGuinier()
        self.assertIsInstance(views[0], pwviewer.MessageView)
        self.assertEqual(views[0]._msgType, pwviewer.MSG_ERROR)

    def test_bfactor_viewer_input_mask_is_the_runs(self):
        """The Guinier plot's noise uses the mask the run was given (the saved mask of a
        filtered fit lacks the unfittable voxels)."""
        viewer, prot = self.viewer(LocBFactorViewer, LocSpiralProtBFactor)
        given = viewer.readInputMask()
        saved = viewer.readMask()
        self.assertTrue(np.all(given[saved]))
        self.assertGreaterEqual(int(given.sum()), int(saved.sum()))
        # Where the run kept every voxel (LocOccupancy), the rebuilt mask is the saved one.
        viewer, prot = self.viewer(LocOccupancyViewer, LocSpiralProtOccupancy)
        np.testing.assert_array_equal(viewer.readInputMask(), self.runMask(prot))

    def test_chimerax_launched_when_scipion_has_it(self):
        viewer, _ = self.viewer(LocOccupancyViewer, LocSpiralProtOccupancy)
        original = viewer_base.chimeraProgram
        viewer_base.chimeraProgram = lambda: "/opt/chimerax/bin/ChimeraX"
        try:
            views = viewer._showChimera()
        finally:
            viewer_base.chimeraProgram = original
        from pwem.viewers.viewer_chimera import ChimeraView
        self.assertIsInstance(views[0], ChimeraView)
        self.assertIn("lococcupancy_chimerax.cxc", views[0]._cmd)

    # ------------------------------------------------------------------ LocSpiral/BSharpen
    def test_enhanced_map_viewers(self):
        for viewerClass, protClass, output, prefix in (
                (LocSpiralViewer, LocSpiralProtEnhance, OUT_ENHANCED, "locspiral"),
                (LocBSharpenViewer, LocSpiralProtBSharpen, OUT_SHARPENED, "locbsharpen")):
            with self.subTest(viewer=viewerClass.__name__):
                viewer, prot = self.viewer(viewerClass, protClass)
                script = viewer.makeChimeraScript()
                self.assertEqual(script, self.extraFile(prot, f"{prefix}_chimerax.cxc"))
                files = self.checkScriptGrid(script, 3, cx.SCENE_MODEL_IDS[prefix])
                qPath = fileOf(getattr(prot, OUT_QUALITY))
                self.assertEqual(files, {1: fileOf(getattr(prot, output)),
                                         2: fileOf(self.volume),
                                         3: cx.display_path(script, qPath)})
                quality = core.read_map(qPath).data
                mask = self.runMask(prot)
                ((surface, values, palette, valueRange),) = colour_commands(script)
                self.assertEqual((surface, values), (1, 3))
                np.testing.assert_allclose(valueRange, cx.robust_range(quality, mask),
                                           rtol=1e-5)
                self.checkDisplayCopy(files[3], qPath, mask, palette)
                self.checkMessageView(viewer._showChimera(), script)
                for make, show, name in (
                        (viewer.makeSlicesMap, viewer._showSlicesMap, f"{prefix}_slices.png"),
                        (viewer.makeSlicesQuality, viewer._showSlicesQuality,
                         f"{prefix}_quality_slices.png")):
                    png = make()
                    self.assertEqual(png, self.extraFile(prot, name))
                    image = check_png(png, (1000, 360))
                    self.checkImageViews(show(), png)
                    # W, like the scene, is grey outside the mask (no value); the map is not.
                    grey = np.all(np.abs(image[..., :3] - 0xd9 / 255) < 0.01, axis=-1)
                    if "quality" in name:
                        self.assertGreater(grey.mean(), 0.02)
                    else:
                        self.assertLess(grey.mean(), 0.005)
                # The scene opens twice in one ChimeraX session (simulated) without error.
                session = Session()
                session.run_script(script)
                session.run_script(script)
                self.assertIn(f"{prefix}_showquality", session.aliases)

    # ------------------------------------------------------------------ LocOccupancy
    def test_occupancy_viewer(self):
        viewer, prot = self.viewer(LocOccupancyViewer, LocSpiralProtOccupancy)
        script = viewer.makeChimeraScript()
        files = self.checkScriptGrid(script, 2, cx.SCENE_MODEL_IDS["lococcupancy"])
        oPath = fileOf(getattr(prot, OUT_OCCUPANCY))
        self.assertEqual(files, {1: fileOf(self.volume), 2: cx.display_path(script, oPath)})
        ((surface, values, palette, valueRange),) = colour_commands(script)
        self.assertEqual((surface, values, valueRange), (1, 2, (0.0, 1.0)))
        mask = self.runMask(prot)
        self.checkDisplayCopy(files[2], oPath, mask, palette)
        self.checkLevelShowsTheMolecule(script, core.read_map(files[1]).data, mask)
        # An empty end takes the robust percentile inside the mask.
        viewer.colorLow.set(None)
        script = viewer.makeChimeraScript()
        occupancy = core.read_map(oPath).data
        ((_, _, _, valueRange),) = colour_commands(script)
        self.assertAlmostEqual(valueRange[0], cx.robust_range(occupancy, mask)[0], places=5)
        self.assertEqual(valueRange[1], 1.0)
        png = viewer.makeSlices()
        check_png(png, (1000, 360))
        self.checkImageViews(viewer._showSlices(), png)

    # ------------------------------------------------------------------ maturity
    def test_maturity_viewer(self):
        viewer, prot = self.viewer(MaturityViewer, LocSpiralProtMaturity)
        entries = viewer.entries()
        self.assertEqual([e["position"] for e in entries], [1, 2])
        self.assertGreater(entries[0]["index"], entries[1]["index"])  # A+B more mature
        png = viewer.makeBars()
        self.assertEqual(png, self.extraFile(prot, "maturity_index.png"))
        check_png(png, (640, 400))
        self.checkImageViews(viewer._showBars(), png)

        script = viewer.makeChimeraScript()
        files = self.checkScriptGrid(script, 3, cx.SCENE_MODEL_IDS["maturity"])
        missing = [fileOf(item) for item in getattr(prot, OUT_MATURITY_MISSING)]
        self.assertEqual(files, {1: fileOf(self.mature), 2: missing[0], 3: missing[1]})
        lines = commands(script)
        for entry in entries:
            self.assertTrue(any(f"{entry['name']}: maturity {entry['index']:.2f}" in line
                                for line in lines), entry)
        self.assertEqual(len([l for l in lines if l.startswith("surface dust")]), 3)
        self.checkMessageView(viewer._showChimera(), script)

        viewer.sliceMap.set(2)
        png = viewer.makeSlices()
        self.assertEqual(png, self.extraFile(prot, "maturity_occupancy_002.png"))
        check_png(png, (1000, 360))
        viewer.sliceMap.set(7)
        self.assertEqual(viewer._showSlices()[0]._msgType, pwviewer.MSG_ERROR)


if __name__ == "__main__":
    unittest.main()
