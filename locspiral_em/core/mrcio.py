"""MRC input/output that keeps voxel size and origin, and never leaves a half-written file."""
import os
import tempfile
import warnings
from typing import NamedTuple, Sequence, Tuple

import mrcfile
import numpy as np

from .errors import InputError


class MapData(NamedTuple):
    """A map as read from disk: ``data`` float32 (z, y, x); ``voxel_size`` Å;
    ``origin`` (x, y, z) Å from the header; ``nstart`` (nxstart, nystart, nzstart)."""
    data: np.ndarray
    voxel_size: float
    origin: Tuple[float, float, float] = (0.0, 0.0, 0.0)
    nstart: Tuple[int, int, int] = (0, 0, 0)


def read_map(path, voxel_size=None) -> MapData:
    """Read an MRC/CCP4 map as float32.

    ``voxel_size`` overrides the header (needed when the header has none). Raises
    :class:`InputError` for missing, unreadable or non-3-D files and anisotropic voxels.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"map file not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # mrcfile warns on minor header issues
            with mrcfile.open(path, mode="r", permissive=True) as mrc:
                if mrc.data is None:
                    raise InputError(f"{path} is not a readable MRC map (no data block)")
                data = np.array(mrc.data, dtype=np.float32)
                size = mrc.voxel_size
                sizes = (float(size.x), float(size.y), float(size.z))
                origin = (float(mrc.header.origin.x), float(mrc.header.origin.y),
                          float(mrc.header.origin.z))
                nstart = (int(mrc.header.nxstart), int(mrc.header.nystart),
                          int(mrc.header.nzstart))
    except InputError:
        raise
    except Exception as exc:  # mrcfile raises ValueError/OSError with terse texts
        raise InputError(f"cannot read {path} as an MRC map: {exc}") from None
    if data.ndim != 3 or min(data.shape) < 2:
        raise InputError(f"{path} holds a {data.ndim}-D array {data.shape}, not a 3-D volume")
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


def write_map(path, data, voxel_size, origin=(0.0, 0.0, 0.0), nstart=(0, 0, 0)):
    """Write ``data`` as float32 MRC with the given voxel size and origin, atomically:
    the file appears complete or not at all, and an existing file is only replaced once the
    new one is fully written."""
    write_maps([(path, data)], voxel_size, origin, nstart)


def write_maps(items: Sequence, voxel_size, origin=(0.0, 0.0, 0.0), nstart=(0, 0, 0)):
    """Write several maps all-or-nothing: every file goes to a temporary name first and is
    renamed into place only after all of them were written."""
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
            with mrcfile.new(tmp, overwrite=True) as mrc:
                mrc.set_data(np.ascontiguousarray(data, dtype=np.float32))
                mrc.voxel_size = float(voxel_size)
                mrc.header.origin.x, mrc.header.origin.y, mrc.header.origin.z = origin
                mrc.header.nxstart, mrc.header.nystart, mrc.header.nzstart = nstart
                mrc.update_header_stats()
            os.chmod(tmp, mode)  # mkstemp makes owner-only files; maps are shared data
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.remove(tmp)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
