"""Input checks of the Scipion protocols, before any run: a binary map (a mask imported as
a Volume) is refused by ``validate()``; a masked or already sharpened input, or a max
resolution finer than the half-map FSC, gives ``warnings()``, which pyworkflow shows before
running (the user may go on). Also: the form defaults are the shared ones
(``core.defaults``).

Plain ``unittest`` (pyworkflow ``BaseTest``), no pytest, as ``test_protocols``: runs with
``scipion3 tests locspiral_em.tests.test_protocol_checks``, ``python -m unittest`` and
``python -m pytest``. Only import protocols run (a few seconds); no method runs.
"""
import importlib.util
import unittest

if importlib.util.find_spec("pwem") is None:  # pragma: no cover - depends on the install
    raise unittest.SkipTest("Scipion (scipion-em) is not installed: pip install -e '.[scipion]'")

import numpy as np  # noqa: E402
import scipy.fft as sfft  # noqa: E402

# scipion_helpers first: outside pytest and Scipion it sets the environment pyworkflow
# reads when it is first imported.
from locspiral_em.tests import scipion_helpers as helpers  # noqa: E402
from locspiral_em.tests.scipion_helpers import VOXEL, LocSpiralTestBase, phantom  # noqa: E402

from locspiral_em import core  # noqa: E402
from locspiral_em.core import defaults as D  # noqa: E402
from locspiral_em.core.phantom import debye_waller  # noqa: E402
from locspiral_em.protocols import (  # noqa: E402
    LocSpiralProtBFactor, LocSpiralProtBSharpen, LocSpiralProtEnhance,
    LocSpiralProtLocSharpen, LocSpiralProtMaturity, LocSpiralProtOccupancy)

PROTOCOLS = (LocSpiralProtEnhance, LocSpiralProtBSharpen, LocSpiralProtLocSharpen,
             LocSpiralProtBFactor, LocSpiralProtOccupancy, LocSpiralProtMaturity)


def sharpened(volume, b):
    """``volume`` sharpened by ``b`` Å^2 (amplitudes times exp(b s^2 / 4))."""
    spectrum = sfft.rfftn(volume) * debye_waller(volume.shape, VOXEL, -b)
    return sfft.irfftn(spectrum, s=volume.shape).astype(np.float32)


class TestProtocolInputChecks(LocSpiralTestBase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        ph = phantom("partial")
        files = cls.files_of("partial")
        folder = cls.dataDir
        cls.fscRes = core.fsc(ph.half1, ph.half2, VOXEL).resolution
        cls.volume = cls.importPhantom("partial")
        # A mask imported as a Volume (a common mix-up) and a map masked by its depositor.
        cls.binary = cls.importVolume(files["mask"])
        cls.masked = cls.importVolume(helpers.write_array(
            folder, "masked_map.mrc", helpers.processed_map(ph) * ph.mask))
        cls.sharp = cls.importVolume(helpers.write_array(
            folder, "sharpened_map.mrc", sharpened(helpers.processed_map(ph), 100.0)))

    def check(self, protClass=LocSpiralProtBFactor, **kwargs):
        """(validate() errors, warnings()) of a new protocol, each joined into one text."""
        kwargs.setdefault("inputVolume", self.volume)
        if protClass is LocSpiralProtMaturity:
            kwargs.setdefault("inputImmatureVolumes", [self.volume])
        prot = self.newProtocol(protClass, **kwargs)
        return "\n".join(prot.validate()), "\n".join(prot.warnings())

    def test_good_input_no_errors_no_warnings(self):
        for protClass in PROTOCOLS:
            self.assertEqual(self.check(protClass), ("", ""), protClass.__name__)

    def test_binary_map_is_refused(self):
        for protClass in PROTOCOLS:
            errors, _ = self.check(protClass, inputVolume=self.binary, maxRes=3.0)
            self.assertIn("only 2 distinct values (0 and 1): it is a mask, not a density map",
                          errors, protClass.__name__)
            self.assertNotIn("Traceback", errors)
        # As an immature map of the maturity index too.
        errors, _ = self.check(LocSpiralProtMaturity,
                               inputImmatureVolumes=[self.volume, self.binary])
        self.assertIn("immature map 2 has only 2 distinct values", errors)

    def test_masked_input_warns(self):
        for protClass in (LocSpiralProtEnhance, LocSpiralProtLocSharpen):
            errors, warnings = self.check(protClass, inputVolume=self.masked, maxRes=3.0)
            self.assertEqual(errors, "", protClass.__name__)
            self.assertIn("The map looks masked", warnings, protClass.__name__)

    def test_sharpened_input_warns(self):
        errors, warnings = self.check(LocSpiralProtBFactor, inputVolume=self.sharp,
                                      maxRes=3.0)
        self.assertEqual(errors, "")
        self.assertIn("The map looks already sharpened", warnings)
        self.assertIn("global Guinier B over 15-3.00 Å", warnings)

    def test_max_res_finer_than_the_fsc_warns(self):
        self.assertLess(2.6, self.fscRes)
        _, warnings = self.check(LocSpiralProtEnhance, maxRes=2.6)
        self.assertIn(f"Max resolution 2.60 Å is finer than the half-map FSC 0.143 "
                      f"resolution {self.fscRes:.2f} Å", warnings)
        # At the FSC resolution (the default) or coarser: no warning.
        self.assertEqual(self.check(LocSpiralProtEnhance, maxRes=4.0)[1], "")

    def test_form_defaults_are_the_shared_ones(self):
        for protClass in PROTOCOLS:
            prot = self.newProtocol(protClass)
            d = D.defaults(protClass.METHOD)
            self.assertEqual(prot.minRes.get(), d.min_res, protClass.__name__)
            self.assertEqual(prot.maxRes.get(), d.max_res, protClass.__name__)
            self.assertEqual(prot.bw.get(), d.bw, protClass.__name__)
        # LocOccupancy and the maturity index stop at 10 Å, whatever the FSC.
        self.assertEqual(self.newProtocol(LocSpiralProtOccupancy).maxRes.get(), 10.0)


if __name__ == "__main__":
    unittest.main()
