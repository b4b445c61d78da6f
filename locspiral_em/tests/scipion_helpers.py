"""Helpers for the Scipion protocol tests: phantom maps written to disk (no downloads),
import protocols, and reading results back.

The phantoms are pseudo-atom domains blurred by known B-factors (``core.make_phantom``),
in a small box so that a full protocol run takes a few seconds.

Plain unittest (pyworkflow's ``BaseTest``), no pytest: the test modules built on it must
also run in a stock Scipion (``scipion3 tests ...``), which has no pytest.
"""
import os
import sys
import warnings

import mrcfile
import numpy as np

from locspiral_em.tests.scipion_env import setup_test_environment

# Outside pytest (conftest.py) and outside Scipion (`scipion3 tests` sets the real
# environment), e.g. `python -m unittest locspiral_em.tests.test_protocols`: set up the
# throw-away environment before pyworkflow is imported below, which reads it once.
if "pyworkflow" not in sys.modules and not os.environ.get("SCIPION_DOMAIN"):
    setup_test_environment()

from pyworkflow.tests import BaseTest, setupTestProject  # noqa: E402
import pwem.protocols as emprot  # noqa: E402

from locspiral_em import core  # noqa: E402
from locspiral_em.core import Domain  # noqa: E402

SIZE = 56          # box (voxels)
VOXEL = 1.2        # Å: not 1, so a voxel-size mix-up shows
SEED = 3
NOISE = 0.5
# Origin given at import (Å). Scipion stores the shifts with the opposite sign and writes
# them into the MRC header of the imported files.
IMPORT_OFFSET = (10.2, -3.6, 7.2)
SCIPION_SHIFTS = tuple(-v for v in IMPORT_OFFSET)

# Blur of each domain (Å^2): the B-factor for sharpening the methods should find is -B.
DOMAIN_B = (50.0, 150.0, 50.0)


def domains(occupancies):
    """Three isolated balls of pseudo-atoms: A sharp, B blurred, C sharp; occupancies given."""
    c = SIZE / 2
    r = SIZE / 7
    centres = [(c, c - 1.2 * r, c - 1.2 * r), (c, c - 1.2 * r, c + 1.2 * r),
               (c, c + 1.2 * r, c)]
    return [Domain(centre, r, b, occ)
            for centre, b, occ in zip(centres, DOMAIN_B, occupancies)]


_CACHE = {}

# name -> occupancies of domains A, B, C
PHANTOMS = {
    "partial": (1.0, 1.0, 0.5),   # C half occupied: LocOccupancy must see it lower
    "mature": (1.0, 1.0, 1.0),
    "immatureAB": (1.0, 1.0, 0.0),
    "immatureA": (1.0, 0.0, 0.0),
}


def phantom(name):
    """The named phantom (same seed: the atoms sit in the same places in all of them)."""
    if name not in _CACHE:
        _CACHE[name] = core.make_phantom((SIZE,) * 3, VOXEL, domains(PHANTOMS[name]),
                                         noise=NOISE, seed=SEED)
    return _CACHE[name]


def processed_map(ph):
    """The array the protocols analyse for a volume imported with its half maps."""
    return core.average_half_maps(ph.half1, ph.half2)


def write_phantom(folder, name):
    """Write map, half maps and true mask of a phantom; returns their paths."""
    ph = phantom(name)
    paths = {}
    for key, data in (("map", ph.map), ("half1", ph.half1), ("half2", ph.half2),
                      ("mask", ph.mask.astype(np.float32))):
        paths[key] = os.path.join(folder, f"{name}_{key}.mrc")
        core.write_map(paths[key], data, VOXEL)
    return paths


def write_array(folder, fileName, data, voxel=VOXEL):
    path = os.path.join(folder, fileName)
    core.write_map(path, np.asarray(data, np.float32), voxel)
    return path


def read_mrc(path):
    """(data, voxel size, header origin (x, y, z)) of an MRC file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mrcfile.open(path, permissive=True) as mrc:
            origin = (float(mrc.header.origin.x), float(mrc.header.origin.y),
                      float(mrc.header.origin.z))
            return np.array(mrc.data, np.float32), float(mrc.voxel_size.x), origin


def output_path(volume):
    """Readable path of an output Volume's file (relative to the project = cwd)."""
    return volume.getFileName().split(":")[0]


class LocSpiralTestBase(BaseTest):
    """A headless project with the phantoms written into it."""

    @classmethod
    def setUpClass(cls):
        # setupTestProject moves into the project (Scipion file names are relative to it);
        # come back afterwards so that later test modules see the directory they started in.
        cls._startDir = os.getcwd()
        setupTestProject(cls)
        cls.dataDir = os.path.join(cls.proj.getPath(), "phantoms")
        os.makedirs(cls.dataDir, exist_ok=True)
        cls.files = {}

    @classmethod
    def tearDownClass(cls):
        os.chdir(cls._startDir)
        super().tearDownClass()

    @classmethod
    def files_of(cls, name):
        if name not in cls.files:
            cls.files[name] = write_phantom(cls.dataDir, name)
        return cls.files[name]

    @classmethod
    def importVolume(cls, path, halves=None, origin=None, sampling=VOXEL, label=None):
        kwargs = dict(filesPath=path, samplingRate=sampling)
        if halves:
            kwargs.update(setHalfMaps=True, half1map=halves[0], half2map=halves[1])
        if origin is not None:
            kwargs.update(setOrigCoord=True, x=origin[0], y=origin[1], z=origin[2])
        prot = cls.newProtocol(emprot.ProtImportVolumes, **kwargs)
        if label:
            prot.setObjLabel(label)
        cls.launchProtocol(prot)
        return prot.outputVolume

    @classmethod
    def importPhantom(cls, name, withHalves=True, origin=IMPORT_OFFSET):
        files = cls.files_of(name)
        halves = (files["half1"], files["half2"]) if withHalves else None
        return cls.importVolume(files["map"], halves, origin, label=f"import {name}")

    @classmethod
    def importMask(cls, path, sampling=VOXEL):
        prot = cls.newProtocol(emprot.ProtImportMask, maskPath=path, samplingRate=sampling)
        cls.launchProtocol(prot)
        return prot.outputMask

    @classmethod
    def runProtocol(cls, protClass, **kwargs):
        kwargs.setdefault("numberOfThreads", 2)
        prot = cls.newProtocol(protClass, **kwargs)
        cls.launchProtocol(prot)
        return prot
