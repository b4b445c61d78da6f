"""MRC files beyond the plain float32 volume: axis orders other than MAPC, MAPR, MAPS =
1, 2, 3, the integer and half-float modes, and what read_map must refuse (complex and
unknown modes, image and volume stacks, invalid axis orders).

Permuted files are built here from the MRC2014 definitions, independently of read_map:
the file's columns, rows and sections run along the spatial axes MAPC, MAPR, MAPS; MX, MY,
MZ and CELLA count and measure along x, y, z whatever the order; ORIGIN is x, y, z;
NXSTART, NYSTART, NZSTART are the first column, row and section. Boxes are small and
non-cubic so that a wrong axis shows up as a wrong shape or value.
"""
import struct

import mrcfile
import numpy as np
from locspiral_em.tests.pytest_shim import pytest  # pytest, or a stand-in in a stock Scipion

from locspiral_em import core
from locspiral_em.core import InputError

VOXEL = 1.25
ORIGIN = (12.5, -7.0, 3.25)
NSTART_XYZ = (-10, 4, 7)           # distinct per axis, so a swap is visible
SHAPE = (20, 24, 28)               # (z, y, x), distinct per axis
ORDERS = [(3, 2, 1), (2, 1, 3), (2, 3, 1)]


def sample_map(shape=SHAPE, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def file_layout(data_zyx, order):
    """The (sections, rows, columns) array a file with axis order ``order`` stores.
    Spatial axis a (1 = x, 2 = y, 3 = z) is axis 3 - a of a (z, y, x) array."""
    mapc, mapr, maps = order
    return np.ascontiguousarray(data_zyx.transpose(3 - maps, 3 - mapr, 3 - mapc))


def write_permuted(path, data_zyx, order, voxel=(VOXEL,) * 3, origin=ORIGIN,
                   nstart_xyz=NSTART_XYZ):
    """Write (z, y, x) data as an MRC file with axis order ``order`` = (MAPC, MAPR, MAPS);
    ``voxel`` is the voxel size along x, y, z."""
    nz, ny, nx = data_zyx.shape
    with mrcfile.new(path) as mrc:
        mrc.set_data(file_layout(data_zyx, order))   # sets nx, ny, nz = columns, ...
        h = mrc.header
        h.mapc, h.mapr, h.maps = order
        h.mx, h.my, h.mz = nx, ny, nz                 # along x, y, z
        h.cella.x, h.cella.y, h.cella.z = nx * voxel[0], ny * voxel[1], nz * voxel[2]
        h.origin.x, h.origin.y, h.origin.z = origin
        h.nxstart, h.nystart, h.nzstart = (nstart_xyz[a - 1] for a in order)


def patch_int32(path, word, value):
    """Overwrite header word ``word`` (1-based, as MRC2014 numbers them) in place."""
    with open(path, "r+b") as f:
        f.seek(4 * (word - 1))
        f.write(struct.pack("<i", value))


# ======================================================================================
# Axis order
# ======================================================================================

def test_file_layout_is_what_the_standard_says():
    """Guard for the helper itself: with MAPC = 3 the columns (fastest on disk) run along
    z, so the first values after the 1024-byte header are data[0..2, 0, 0]."""
    data = sample_map()
    stored = file_layout(data, (3, 2, 1))
    assert stored.shape == (28, 24, 20)           # (sections = x, rows = y, columns = z)
    assert stored[1, 2, 3] == data[3, 2, 1]
    np.testing.assert_array_equal(stored.ravel()[:3], data[:3, 0, 0])
    stored = file_layout(data, (2, 3, 1))          # columns y, rows z, sections x
    assert stored.shape == (28, 20, 24)
    assert stored[1, 2, 3] == data[2, 3, 1]


@pytest.mark.parametrize("order", ORDERS, ids=lambda o: "".join(map(str, o)))
def test_permuted_file_reads_like_the_standard_file(tmp_path, order):
    data = sample_map()
    standard = tmp_path / "standard.mrc"
    core.write_map(standard, data, VOXEL, ORIGIN, NSTART_XYZ)
    permuted = tmp_path / "permuted.mrc"
    write_permuted(permuted, data, order)

    # The bytes on disk really are in the permuted order (first column of the file).
    with open(permuted, "rb") as f:
        f.seek(1024)
        first = np.frombuffer(f.read(4 * 3), "<f4")
    column_axis = 3 - order[0]
    index = [0, 0, 0]
    expected_first = []
    for i in range(3):
        index[column_axis] = i
        expected_first.append(data[tuple(index)])
    np.testing.assert_array_equal(first, expected_first)
    # ... and a reader that ignores the axis order gets another array.
    with mrcfile.open(permuted) as mrc:
        assert mrc.data.shape != data.shape

    a, b = core.read_map(standard), core.read_map(permuted)
    assert b.data.dtype == np.float32 and b.data.flags["C_CONTIGUOUS"]
    np.testing.assert_array_equal(b.data, data)
    np.testing.assert_array_equal(b.data, a.data)
    assert b.voxel_size == a.voxel_size == pytest.approx(VOXEL, abs=1e-6)
    assert b.origin == a.origin == ORIGIN
    assert b.nstart == a.nstart == NSTART_XYZ

    # Written back, it is a standard file that reads the same again.
    again = tmp_path / "again.mrc"
    core.write_map(again, b.data, b.voxel_size, b.origin, b.nstart)
    with mrcfile.open(again) as mrc:
        assert (int(mrc.header.mapc), int(mrc.header.mapr), int(mrc.header.maps)) == (1, 2, 3)
        assert int(mrc.header.ispg) == 1
        np.testing.assert_array_equal(mrc.data, data)
    assert core.read_map(again).nstart == NSTART_XYZ


def test_permuted_file_gives_the_same_method_results(tmp_path):
    """LocOccupancy and the FSC of maps read from 3,2,1 and 2,3,1 files equal those of the
    standard files exactly (same arrays in, same numbers out); the array as stored in the
    permuted file gives a different occupancy map, so the comparison can fail."""
    n, p = 48, 1.0
    ph = core.make_phantom((n,) * 3, p, noise=0.5, seed=4)
    results = {}
    for order in [(1, 2, 3), (3, 2, 1), (2, 3, 1)]:
        paths = []
        for name, volume in (("map", ph.map), ("half1", ph.half1), ("half2", ph.half2)):
            path = tmp_path / f"{name}_{''.join(map(str, order))}.mrc"
            write_permuted(path, volume, order, voxel=(p,) * 3)
            paths.append(path)
        volume, half1, half2 = (core.read_map(path) for path in paths)
        occupancy = core.lococcupancy(volume.data, ph.mask, volume.voxel_size, 25.0, 8.0,
                                      workers=1)
        curve = core.fsc(half1.data, half2.data, half1.voxel_size, workers=1)
        results[order] = (occupancy, curve)
    occupancy, curve = results[(1, 2, 3)]
    assert 0.3 < float(occupancy[ph.mask].mean()) < 1.0  # a real map, not all 0 or 1
    for order in [(3, 2, 1), (2, 3, 1)]:
        np.testing.assert_array_equal(results[order][0], occupancy)
        np.testing.assert_array_equal(results[order][1].fsc, curve.fsc)
        assert results[order][1].resolution == curve.resolution

    naive = file_layout(ph.map, (2, 3, 1))
    wrong = core.lococcupancy(naive, ph.mask, p, 25.0, 8.0, workers=1)
    assert np.abs(wrong - occupancy).max() > 0.5


def test_permuted_anisotropic_voxels_are_reported_along_x_y_z(tmp_path):
    path = tmp_path / "aniso.mrc"
    write_permuted(path, sample_map(), (3, 1, 2), voxel=(1.0, 1.0, 1.5))
    with pytest.raises(InputError) as info:
        core.read_map(path)
    assert str(info.value) == (f"{path} has anisotropic voxels (1.0, 1.0, 1.5) Å; "
                               "resample it to cubic voxels first")


def test_unset_axis_order_reads_as_standard(tmp_path):
    data = sample_map()
    path = tmp_path / "zeros.mrc"
    core.write_map(path, data, VOXEL, ORIGIN, NSTART_XYZ)
    for word in (17, 18, 19):  # MAPC, MAPR, MAPS
        patch_int32(path, word, 0)
    back = core.read_map(path)
    np.testing.assert_array_equal(back.data, data)
    assert back.nstart == NSTART_XYZ


def test_invalid_axis_order(tmp_path):
    path = tmp_path / "bad_axes.mrc"
    core.write_map(path, sample_map(), VOXEL)
    patch_int32(path, 18, 1)  # MAPR = 1 like MAPC
    with pytest.raises(InputError) as info:
        core.read_map(path)
    assert str(info.value) == (f"{path} has an invalid axis order MAPC, MAPR, MAPS = 1, 1, 3 "
                               "(must be a permutation of 1, 2, 3); fix the header "
                               "(standard: 1, 2, 3)")


# ======================================================================================
# Modes
# ======================================================================================

@pytest.mark.parametrize("mode, dtype", [(0, np.int8), (1, np.int16), (2, np.float32),
                                         (6, np.uint16), (12, np.float16)])
def test_supported_modes_read_as_float32(tmp_path, mode, dtype):
    # Small integers every dtype holds exactly, and the integer and float16 extremes
    # (float32's would overflow mrcfile's RMS in the header statistics).
    data = (np.arange(8 * 9 * 10) % 11 + (0 if mode == 6 else -5)).astype(dtype)
    data = data.reshape(8, 9, 10)
    big = {0: 127, 1: 32767, 2: 1e6, 6: 65535, 12: 65504}[mode]
    small = {0: -128, 1: -32768, 2: -1e6, 6: 0, 12: -65504}[mode]
    data[0, 0, 0], data[-1, -1, -1] = small, big
    path = tmp_path / f"mode{mode}.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = VOXEL
        assert int(mrc.header.mode) == mode
    back = core.read_map(path)
    assert back.data.dtype == np.float32
    np.testing.assert_array_equal(back.data, data.astype(np.float32))
    assert back.data[-1, -1, -1] == big and back.data[0, 0, 0] == small


def test_integer_mode_with_permuted_axes(tmp_path):
    data = (np.arange(np.prod(SHAPE)) % 200 - 100).astype(np.int16).reshape(SHAPE)
    path = tmp_path / "int16_321.mrc"
    write_permuted(path, data, (3, 2, 1))
    with mrcfile.open(path) as mrc:
        assert int(mrc.header.mode) == 1
    np.testing.assert_array_equal(core.read_map(path).data, data.astype(np.float32))


def test_complex_mode_4_is_refused(tmp_path):
    path = tmp_path / "fourier.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.ones((8, 8, 8), np.complex64))
        mrc.voxel_size = 1.0
    with pytest.raises(InputError) as info:
        core.read_map(path)
    assert str(info.value) == (f"{path} holds complex data (MRC mode 4, complex float32), "
                               "i.e. a Fourier transform, not a map; give the real-space map")


def test_complex_mode_3_is_refused(tmp_path):
    # Mode 3 (two int16 per voxel) has the size of mode 2, so only the mode word changes;
    # mrcfile itself cannot decode it.
    path = tmp_path / "fourier3.mrc"
    core.write_map(path, np.ones((8, 8, 8), np.float32), 1.0)
    patch_int32(path, 4, 3)
    with pytest.raises(InputError) as info:
        core.read_map(path)
    assert str(info.value) == (f"{path} holds complex data (MRC mode 3, complex int16), "
                               "i.e. a Fourier transform, not a map; give the real-space map")


@pytest.mark.parametrize("mode", [101, 5])
def test_unknown_modes_are_refused(tmp_path, mode):
    path = tmp_path / f"mode{mode}.mrc"
    core.write_map(path, np.ones((8, 8, 8), np.float32), 1.0)
    patch_int32(path, 4, mode)
    with pytest.raises(InputError) as info:
        core.read_map(path)
    assert str(info.value) == (f"{path} uses MRC mode {mode}, which is not supported (modes "
                               "0, 1, 2, 6, 12 are); convert it to mode 2 (float32), e.g. "
                               "with e2proc3d.py or relion_image_handler")


# ======================================================================================
# Stacks
# ======================================================================================

def test_image_stack_is_refused(tmp_path):
    path = tmp_path / "particles.mrcs"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((12, 16, 16), np.float32))
        mrc.set_image_stack()           # space group 0, mz 1
        mrc.voxel_size = 1.0
        assert mrc.is_image_stack()
    with pytest.raises(InputError) as info:
        core.read_map(path)
    assert str(info.value) == (f"{path} is a stack of 12 2-D images (MRC space group 0, mz 1), "
                               "not a 3-D map; give a volume (if it is one, set its header "
                               "to space group 1 and mz 12)")


def test_volume_with_space_group_0_is_read(tmp_path):
    """Space group 0 with mz = nz (a volume header apart from the space group), as many
    older maps have: read as the volume it is. mrcfile calls it an image stack."""
    data = sample_map((8, 9, 10))
    path = tmp_path / "legacy.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(data)
        mrc.voxel_size = VOXEL
        mrc.header.ispg = 0
        assert mrc.is_image_stack() and int(mrc.header.mz) == 8
    back = core.read_map(path)
    np.testing.assert_array_equal(back.data, data)
    assert back.voxel_size == pytest.approx(VOXEL, abs=1e-6)


def test_volume_stack_is_refused(tmp_path):
    path = tmp_path / "volumes.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(np.zeros((3, 8, 8, 8), np.float32))
        mrc.voxel_size = 1.0
        assert mrc.is_volume_stack() and int(mrc.header.ispg) == 401
    with pytest.raises(InputError) as info:
        core.read_map(path)
    assert str(info.value) == (f"{path} is a stack of 3 volumes (MRC space group 401), not a "
                               "single map; extract the volume you want into its own file")


def test_volume_stack_of_one_volume_is_that_volume(tmp_path):
    data = sample_map((8, 9, 10))
    path = tmp_path / "one.mrc"
    with mrcfile.new(path) as mrc:
        mrc.set_data(data[None])
        mrc.voxel_size = VOXEL
        assert mrc.is_volume_stack()
    back = core.read_map(path)
    np.testing.assert_array_equal(back.data, data)
    assert back.voxel_size == pytest.approx(VOXEL, abs=1e-6)


def test_zero_grid_count_means_no_voxel_size(tmp_path):
    """MZ = 0 makes CELLA.z / MZ undefined (NaN or inf): no voxel size, not a NaN one."""
    path = tmp_path / "mz0.mrc"
    core.write_map(path, np.ones((8, 8, 8), np.float32), 1.0)
    patch_int32(path, 10, 0)  # MZ
    with pytest.raises(InputError, match="has no voxel size in its header"):
        core.read_map(path)
    assert core.read_map(path, voxel_size=1.1).voxel_size == 1.1
