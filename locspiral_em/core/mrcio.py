"""MRC input/output that keeps voxel size and origin, and never leaves a half-written file.

Maps are returned in the standard layout whatever the file's axis order: a float32 array
(z, y, x) = (sections, rows, columns) with x fastest, as a file with MAPC, MAPR, MAPS =
1, 2, 3 stores it. Files are always written in that layout.
"""
import os
import tempfile
import warnings
from typing import NamedTuple, Sequence, Tuple

import mrcfile
import numpy as np

from .errors import InputError


class _MapFields(NamedTuple):
    data: np.ndarray
    voxel_size: float
    origin: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    nstart: Tuple[int, int, int] = (0, 0, 0)


class MapData(_MapFields):
    """A map as read from disk: ``data`` float32 (z, y, x); ``voxel_size`` Å;
    ``origin`` (x, y, z) Å from the header; ``nstart`` (nxstart, nystart, nzstart), the
    index of the first voxel along x, y and z.

    Made by hand (``MapData(array, 1.06)``), ``data`` may be any numeric array-like (a
    nested list too): it is stored as a float32 array; what cannot be one is refused with
    an :class:`InputError`, as is a voxel size that is not a positive number."""
    __slots__ = ()

    def __new__(cls, data, voxel_size, origin=(0.0, 0.0, 0.0), nstart=(0, 0, 0)):
        if not (isinstance(data, np.ndarray) and data.dtype == np.float32):
            try:
                data = np.asarray(data, dtype=np.float32)
            except (TypeError, ValueError):
                raise InputError(f"MapData: the data must be a numeric 3-D array, got "
                                 f"{type(data).__name__}") from None
        try:
            voxel_size = float(voxel_size)
        except (TypeError, ValueError):
            voxel_size = float("nan")
        if not (np.isfinite(voxel_size) and voxel_size > 0):
            raise InputError("MapData: the voxel size must be a positive number of Å")
        try:
            origin = tuple(float(o) for o in origin)
            nstart = tuple(int(n) for n in nstart)
        except (TypeError, ValueError):
            origin = nstart = ()
        if len(origin) != 3 or len(nstart) != 3:
            raise InputError("MapData: origin (Å) and nstart (voxels) are 3 numbers each, "
                             "x, y, z")
        return super().__new__(cls, data, voxel_size, origin, nstart)


# MRC2014 modes read here; all are returned as float32.
REAL_MODES = {0: "int8", 1: "int16", 2: "float32", 6: "uint16", 12: "float16"}
COMPLEX_MODES = {3: "complex int16", 4: "complex float32"}
IMAGE_STACK_SPACEGROUP = 0
VOLUME_STACK_SPACEGROUPS = range(401, 631)


def _axis_order(header, path):
    """(mapc, mapr, maps): which of x, y, z (1, 2, 3) the columns, rows and sections run
    along. All zero is a header that never set them (some writers): standard order."""
    order = (int(header.mapc), int(header.mapr), int(header.maps))
    if order == (0, 0, 0):
        return (1, 2, 3)
    if sorted(order) != [1, 2, 3]:
        raise InputError(f"{path} has an invalid axis order MAPC, MAPR, MAPS = "
                         f"{order[0]}, {order[1]}, {order[2]} (must be a permutation of "
                         "1, 2, 3); fix the header (standard: 1, 2, 3)")
    return order


def _check_kind(header, path):
    """Refuse what is not one real-valued volume, before its data are used."""
    mode = int(header.mode)
    if mode in COMPLEX_MODES:
        raise InputError(f"{path} holds complex data (MRC mode {mode}, "
                         f"{COMPLEX_MODES[mode]}), i.e. a Fourier transform, not a map; "
                         "give the real-space map")
    if mode not in REAL_MODES:
        raise InputError(f"{path} uses MRC mode {mode}, which is not supported (modes "
                         "0, 1, 2, 6, 12 are); convert it to mode 2 (float32), e.g. with "
                         "e2proc3d.py or relion_image_handler")
    ispg, nz, mz = int(header.ispg), int(header.nz), int(header.mz)
    if ispg in VOLUME_STACK_SPACEGROUPS and mz > 0 and nz > mz:
        raise InputError(f"{path} is a stack of {nz // mz} volumes (MRC space group "
                         f"{ispg}), not a single map; extract the volume you want into "
                         "its own file")
    # Space group 0 with nz > 1 is an image stack by MRC2014, but many 3-D maps in the
    # wild carry space group 0 too; mz = 1 (no sampling along z) is what marks a stack
    # of 2-D images, as Relion's .mrcs and mrcfile's set_image_stack() write it.
    if ispg == IMAGE_STACK_SPACEGROUP and nz > 1 and mz == 1:
        raise InputError(f"{path} is a stack of {nz} 2-D images (MRC space group 0, "
                         "mz 1), not a 3-D map; give a volume (if it is one, set its "
                         f"header to space group 1 and mz {nz})")


def _voxel_sizes(header):
    """Voxel size along x, y, z: CELLA / (MX, MY, MZ), which MRC2014 defines along x, y, z
    whatever the axis order; 0 where the header has none (zero or unset cell or grid)."""
    cell = (float(header.cella.x), float(header.cella.y), float(header.cella.z))
    grid = (int(header.mx), int(header.my), int(header.mz))
    return tuple(c / m if (m > 0 and np.isfinite(c) and c > 0) else 0.0
                 for c, m in zip(cell, grid))


def read_map(path, voxel_size=None) -> MapData:
    """Read an MRC/CCP4 map as float32 (z, y, x), whatever the file's axis order.

    ``voxel_size`` overrides the header (needed when the header has none). Raises
    :class:`InputError` for missing, unreadable or non-3-D files, stacks, complex or
    unsupported modes, and anisotropic voxels.
    """
    try:
        path = os.fsdecode(os.fspath(path))  # str, bytes or os.PathLike
    except TypeError:
        raise InputError(f"a map path must be a file name (str, bytes or os.PathLike), got "
                         f"{type(path).__name__}") from None
    if os.path.isdir(path):
        raise InputError(f"map file not found: {path} is a folder; give the map's file "
                         "name")
    if not os.path.isfile(path):
        raise InputError(f"map file not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # mrcfile warns on minor header issues
            with mrcfile.open(path, mode="r", permissive=True) as mrc:
                header = mrc.header
                if mrc.data is None:
                    # mrcfile reads no data block for modes it does not know (3, 101): say
                    # so rather than "not an MRC file" when the header is an MRC header.
                    if bytes(header.map)[:3] == b"MAP":
                        _check_kind(header, path)
                    raise InputError(f"{path} is not a readable MRC map (no valid header, "
                                     "or a data block shorter than the header says)")
                _check_kind(header, path)
                data = mrc.data
                if data.ndim == 4 and data.shape[0] == 1:
                    data = data[0]  # a volume stack of one volume is that volume
                order = _axis_order(header, path) if data.ndim == 3 else (1, 2, 3)
                sizes = _voxel_sizes(header)
                origin = (float(header.origin.x), float(header.origin.y),
                          float(header.origin.z))
                crs_start = (int(header.nxstart), int(header.nystart), int(header.nzstart))
                data = _to_standard_order(data, order)
    except InputError:
        raise
    except Exception as exc:  # mrcfile raises ValueError/OSError with terse texts
        raise InputError(f"cannot read {path} as an MRC map: {exc}") from None
    if data.ndim != 3:
        raise InputError(f"{path} holds a {data.ndim}-D array {data.shape}, not a 3-D volume")
    if min(data.shape) < 2:
        # (1, 32, 32) is a 3-D array but one section thick: an image, not a volume.
        shape = " x ".join(str(n) for n in data.shape[::-1])
        raise InputError(f"{path} is {shape} voxels (x, y, z), one voxel thick: an image, "
                         "not a 3-D volume; give a 3-D map")
    # NXSTART, NYSTART, NZSTART are the first column, row and section: put each on the
    # axis (x, y or z) its file axis runs along. Origin and cell are already x, y, z.
    nstart = [0, 0, 0]
    for start, axis in zip(crs_start, order):
        nstart[axis - 1] = start
    nstart = tuple(nstart)
    if voxel_size is not None:
        try:
            voxel_size = float(voxel_size)
        except (TypeError, ValueError):
            voxel_size = float("nan")
        if not (np.isfinite(voxel_size) and voxel_size > 0):
            raise InputError(f"voxel size must be positive (Å); {voxel_size} was given for "
                             f"{path}")
    if voxel_size is None:
        if min(sizes) <= 0:
            raise InputError(f"{path} has no voxel size in its header; give it explicitly "
                             "(e.g. --voxel-size 1.06)")
        if max(sizes) - min(sizes) > 1e-3 * max(sizes):
            raise InputError(f"{path} has anisotropic voxels {sizes} Å; resample it to "
                             "cubic voxels first")
        voxel_size = sizes[0]
    return MapData(data, float(voxel_size), origin, nstart)


def _to_standard_order(data, order):
    """The file's (sections, rows, columns) array as float32 (z, y, x), C-contiguous.

    ``order`` = (mapc, mapr, maps); array axis 2 holds columns, 1 rows, 0 sections, so
    the array axis that runs along spatial axis a (1 = x) is 2 - (position of a in order).
    """
    if data.ndim != 3:
        return np.array(data, dtype=np.float32)
    along = {axis: 2 - i for i, axis in enumerate(order)}
    permutation = (along[3], along[2], along[1])  # z, y, x
    # np.array copies (the file's memory is not kept) and makes the layout C-contiguous.
    return np.array(np.transpose(data, permutation), dtype=np.float32, order="C")


def write_map(path, data, voxel_size, origin=(0.0, 0.0, 0.0), nstart=(0, 0, 0)):
    """Write ``data`` as float32 MRC with the given voxel size and origin, atomically:
    the file appears complete or not at all, and an existing file is only replaced once the
    new one is fully written."""
    write_maps([(path, data)], voxel_size, origin, nstart)


def write_maps(items: Sequence, voxel_size, origin=(0.0, 0.0, 0.0), nstart=(0, 0, 0)):
    """Write several maps all-or-nothing: every file goes to a temporary name first and is
    renamed into place only after all of them were written.

    ``data`` is (z, y, x); files get the standard axis order MAPC, MAPR, MAPS = 1, 2, 3
    and space group 1 (a single volume)."""
    items = [(os.fspath(path), np.asarray(data)) for path, data in items]
    for path, data in items:
        if data.ndim != 3:
            raise InputError(f"cannot write {path}: a map must be 3-D, got shape {data.shape}")
        if os.path.isdir(path):
            raise InputError(f"cannot write {path}: it is a folder")
    mode = 0o666 & ~_umask()
    staged = []
    try:
        for path, data in items:
            folder = os.path.dirname(os.path.abspath(path))
            os.makedirs(folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(suffix=".mrc", prefix=".tmp-", dir=folder)
            os.close(fd)
            staged.append((tmp, path))
            write_mrc(tmp, data, voxel_size, origin, nstart)
            os.chmod(tmp, mode)  # mkstemp makes owner-only files; maps are shared data
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.remove(tmp)


def write_mrc(path, data, voxel_size, origin=(0.0, 0.0, 0.0), nstart=(0, 0, 0)):
    """Write one map straight to ``path`` (no temporary: for callers that stage files
    themselves, as :mod:`locspiral_em.outputs` does). Standard axis order, space group 1."""
    with mrcfile.new(os.fspath(path), overwrite=True) as mrc:
        mrc.set_data(np.ascontiguousarray(data, dtype=np.float32))
        mrc.header.mapc, mrc.header.mapr, mrc.header.maps = 1, 2, 3
        mrc.header.ispg = 1
        mrc.voxel_size = float(voxel_size)
        mrc.header.origin.x, mrc.header.origin.y, mrc.header.origin.z = origin
        mrc.header.nxstart, mrc.header.nystart, mrc.header.nzstart = nstart
        mrc.update_header_stats()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def header_voxel_size(path):
    """The voxel size (Å, along x) a map file's header gives, or None when it gives none or
    the file cannot be read: to tell the user when ``--voxel-size`` overrides headers that
    disagree."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with mrcfile.open(os.fsdecode(os.fspath(path)), mode="r", permissive=True,
                              header_only=True) as mrc:
                size = _voxel_sizes(mrc.header)[0]
    except Exception:
        return None
    return size if size > 0 else None
