"""The Scipion viewers, on real protocol runs in a headless project (no Tk, no ChimeraX).

Every protocol runs once on a small phantom; then pyworkflow's viewer lookup must offer the
plugin's viewer for it, and each viewer's file-making methods must write, under the run's
extra/ folder, ChimeraX scripts that open the run's files on the map's grid with the
expected colour range, and readable PNG figures. The ``_show*`` methods must wrap them in
views: a message with the script's path when ChimeraX is not installed in Scipion.
"""
import os

import numpy as np
import pytest

pytest.importorskip("pwem")

import pyworkflow.viewer as pwviewer  # noqa: E402
from pwem import Domain  # noqa: E402

from locspiral_em import core  # noqa: E402
from locspiral_em.constants import (  # noqa: E402
    EXTRA_MASK, OUT_AMPLITUDE, OUT_BFACTOR, OUT_ENHANCED, OUT_MATURITY_MISSING,
    OUT_OCCUPANCY, OUT_QUALITY, OUT_SHARPENED)
from locspiral_em import chimerax as cx  # noqa: E402
from locspiral_em.protocols import (  # noqa: E402
    LocSpiralProtBFactor, LocSpiralProtBSharpen, LocSpiralProtEnhance,
    LocSpiralProtMaturity, LocSpiralProtOccupancy)
from locspiral_em.tests.scipion_helpers import (  # noqa: E402
    SCIPION_SHIFTS, VOXEL, LocSpiralTestBase)
from locspiral_em.tests.test_chimerax import (  # noqa: E402
    check_syntax, colour_commands, commands, grid_of, key_pairs, opened_files)
from locspiral_em.tests.test_figures import check_png  # noqa: E402
from locspiral_em.viewers import (  # noqa: E402
    ImageFileView, LocBFactorViewer, LocBSharpenViewer, LocOccupancyViewer, LocSpiralViewer,
    MaturityViewer)
from locspiral_em.viewers import viewer_base  # noqa: E402


def fileOf(volume):
    return os.path.abspath(volume.getFileName().split(":")[0])


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

    def checkScriptGrid(self, script, models):
        check_syntax(script)
        files = opened_files(script)
        self.assertEqual(sorted(files), list(range(1, models + 1)))
        for path in files.values():
            self.assertTrue(os.path.exists(path), path)
        for model in files:
            size, origin = grid_of(script, model)
            self.assertAlmostEqual(size, VOXEL, places=5)
            np.testing.assert_allclose(origin, SCIPION_SHIFTS, atol=1e-4)
        return files

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
        ours = set(expected.values())
        for protClass, viewerClass in expected.items():
            found = Domain.findViewers(self.runs[protClass], pwviewer.DESKTOP_TKINTER)
            names = [v.__name__ for v in found]
            self.assertIn(viewerClass.__name__, names, protClass.__name__)
            # Exactly one of ours (the maturity run is a LocOccupancy subclass).
            self.assertEqual([n for n in names if n in {c.__name__ for c in ours}],
                             [viewerClass.__name__], protClass.__name__)

    # ------------------------------------------------------------------ LocBFactor
    def test_bfactor_viewer(self):
        viewer, prot = self.viewer(LocBFactorViewer, LocSpiralProtBFactor)
        script = viewer.makeChimeraScript()
        self.assertEqual(script, self.extraFile(prot, "locbfactor_chimerax.cxc"))
        files = self.checkScriptGrid(script, 3)
        self.assertEqual(files, {1: fileOf(self.volume),
                                 2: fileOf(getattr(prot, OUT_BFACTOR)),
                                 3: fileOf(getattr(prot, OUT_AMPLITUDE))})
        self.assertIn("open bfactor.mrc", commands(script))  # relative to the script
        # Default range: 2nd-98th percentiles of B inside the run's mask.
        bfactor = core.read_map(files[2]).data
        mask = core.read_map(self.extraFile(prot, EXTRA_MASK)).data > 0.5
        expected = cx.robust_range(bfactor, mask, 2, 98)
        bScenes = [c for c in colour_commands(script) if c[1] == 2]
        self.assertEqual(len(bScenes), 2)
        for surface, _, _, valueRange in bScenes:
            self.assertEqual(surface, 1)
            np.testing.assert_allclose(valueRange, expected, rtol=1e-5)
        # Surface level: automatic, encloses as many voxels as the mask.
        level = [l for l in commands(script) if l.startswith("volume #1 style")][0]
        value = float(level.split(" level ")[1].split()[0])
        data = core.read_map(files[1]).data
        self.assertAlmostEqual(float(np.mean(data > value)), float(mask.mean()), delta=0.003)

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
        self.assertIn("volume #1 style surface step 1 level 0.123 color #b4b4b4",
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
        data = viewer.readInputMap()
        threshold = prot.maskThresholdUsed.get()
        np.testing.assert_array_equal(given, core.threshold_mask(data, threshold, 25))
        self.assertTrue(np.all(given[saved]))

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
            viewer, prot = self.viewer(viewerClass, protClass)
            script = viewer.makeChimeraScript()
            self.assertEqual(script, self.extraFile(prot, f"{prefix}_chimerax.cxc"))
            files = self.checkScriptGrid(script, 3)
            self.assertEqual(files, {1: fileOf(getattr(prot, output)),
                                     2: fileOf(self.volume),
                                     3: fileOf(getattr(prot, OUT_QUALITY))})
            quality = core.read_map(files[3]).data
            mask = core.read_map(self.extraFile(prot, EXTRA_MASK)).data > 0.5
            ((surface, values, _, valueRange),) = colour_commands(script)
            self.assertEqual((surface, values), (1, 3))
            np.testing.assert_allclose(valueRange, cx.robust_range(quality, mask), rtol=1e-5)
            self.checkMessageView(viewer._showChimera(), script)
            for make, show, name in (
                    (viewer.makeSlicesMap, viewer._showSlicesMap, f"{prefix}_slices.png"),
                    (viewer.makeSlicesQuality, viewer._showSlicesQuality,
                     f"{prefix}_quality_slices.png")):
                png = make()
                self.assertEqual(png, self.extraFile(prot, name))
                check_png(png, (1000, 360))
                self.checkImageViews(show(), png)

    # ------------------------------------------------------------------ LocOccupancy
    def test_occupancy_viewer(self):
        viewer, prot = self.viewer(LocOccupancyViewer, LocSpiralProtOccupancy)
        script = viewer.makeChimeraScript()
        files = self.checkScriptGrid(script, 2)
        self.assertEqual(files, {1: fileOf(self.volume), 2: fileOf(getattr(prot, OUT_OCCUPANCY))})
        ((surface, values, _, valueRange),) = colour_commands(script)
        self.assertEqual((surface, values, valueRange), (1, 2, (0.0, 1.0)))
        # An empty end takes the robust percentile inside the mask.
        viewer.colorLow.set(None)
        script = viewer.makeChimeraScript()
        occupancy = core.read_map(files[2]).data
        mask = core.read_map(self.extraFile(prot, EXTRA_MASK)).data > 0.5
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
        files = self.checkScriptGrid(script, 3)
        missing = [fileOf(item) for item in getattr(prot, OUT_MATURITY_MISSING)]
        self.assertEqual(files, {1: fileOf(self.mature), 2: missing[0], 3: missing[1]})
        lines = commands(script)
        for entry in entries:
            self.assertTrue(any(f"{entry['name']}: maturity {entry['index']:.2f}" in line
                                for line in lines), entry)
        self.checkMessageView(viewer._showChimera(), script)

        viewer.sliceMap.set(2)
        png = viewer.makeSlices()
        self.assertEqual(png, self.extraFile(prot, "maturity_occupancy_002.png"))
        check_png(png, (1000, 360))
        viewer.sliceMap.set(7)
        self.assertEqual(viewer._showSlices()[0]._msgType, pwviewer.MSG_ERROR)
