"""Synthetic maps with a known answer: pseudo-atom domains, each blurred by its own B-factor.

Each domain is a ball of randomly placed point atoms on the voxel grid. Its density is the
atoms convolved (in Fourier space, exactly) with the Debye-Waller envelope
``exp(-B s^2 / 4)``, so its amplitudes decay with a Guinier slope of ``-B/4`` and the
B-factor *for sharpening* that the local methods should report is ``-B``. Occupancy scales
the domain's density. Two half maps get independent white noise.

Used by the tests, the benchmark and ``locspiral-em demo``.
"""
from typing import List, NamedTuple, Sequence, Tuple

import numpy as np
import scipy.fft as sfft


class Domain(NamedTuple):
    """A ball of pseudo-atoms: centre (z, y, x) and radius in voxels, blur ``bfactor`` (Å^2,
    positive = blurred), ``occupancy`` 0..1, atom ``density`` (atoms per voxel)."""
    center: Tuple[float, float, float]
    radius: float
    bfactor: float
    occupancy: float = 1.0
    density: float = 0.05


class Phantom(NamedTuple):
    """``clean``: noise-free map; ``half1``/``half2``: noisy half maps; ``map``: their average;
    ``mask``: union of the domain balls grown by ``margin`` voxels; ``domains``: one boolean
    ball per domain; ``voxel_size`` Å; ``spec``: the ``Domain`` list."""
    clean: np.ndarray
    half1: np.ndarray
    half2: np.ndarray
    map: np.ndarray
    mask: np.ndarray
    domains: List[np.ndarray]
    voxel_size: float
    spec: List[Domain]


def ball(shape, center, radius):
    """Boolean ball of ``radius`` voxels around ``center`` (z, y, x)."""
    zz, yy, xx = np.ogrid[:shape[0], :shape[1], :shape[2]]
    cz, cy, cx = center
    return (zz - cz) ** 2 + (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2


def debye_waller(shape, voxel_size, bfactor):
    """``exp(-B s^2 / 4)`` on the real-FFT half grid, s in 1/Å (per-axis spacing)."""
    p = float(voxel_size)
    sz = sfft.fftfreq(shape[0], d=p)[:, None, None]
    sy = sfft.fftfreq(shape[1], d=p)[None, :, None]
    sx = sfft.rfftfreq(shape[2], d=p)[None, None, :]
    s2 = sz ** 2 + sy ** 2 + sx ** 2
    return np.exp(-float(bfactor) * s2 / 4.0)


def make_phantom(shape: Sequence[int] = (64, 64, 64), voxel_size: float = 1.0,
                 domains: Sequence[Domain] = None, noise: float = 0.5, margin: float = 3.0,
                 seed: int = 0) -> Phantom:
    """Build a phantom.

    ``noise`` is the SD of the white noise in each half map, relative to the SD of the clean
    map inside the mask.
    """
    shape = tuple(int(n) for n in shape)
    if domains is None:
        c = [n / 2 for n in shape]
        r = min(shape) / 6
        domains = [Domain((c[0], c[1], c[2] - 1.1 * r), r, 50.0),
                   Domain((c[0], c[1], c[2] + 1.1 * r), r, 150.0)]
    rng = np.random.default_rng(seed)
    clean = np.zeros(shape, np.float64)
    balls = []
    for d in domains:
        region = ball(shape, d.center, d.radius)
        balls.append(region)
        sites = np.flatnonzero(region)
        count = max(1, int(round(d.density * sites.size)))
        atoms = np.zeros(int(np.prod(shape)))
        atoms[rng.choice(sites, size=count, replace=False)] = d.occupancy
        spectrum = sfft.rfftn(atoms.reshape(shape))
        spectrum *= debye_waller(shape, voxel_size, d.bfactor)
        clean += sfft.irfftn(spectrum, s=shape)
    mask = np.zeros(shape, bool)
    for d in domains:
        mask |= ball(shape, d.center, d.radius + margin)
    sd = clean[mask].std() if mask.any() else clean.std()
    half1 = clean + rng.normal(0.0, noise * sd, shape)
    half2 = clean + rng.normal(0.0, noise * sd, shape)
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    return Phantom(f32(clean), f32(half1), f32(half2), f32((half1 + half2) / 2), mask,
                   balls, float(voxel_size), list(domains))


def demo_phantom(size: int = 64, seed: int = 0) -> Phantom:
    """The example shipped with the package: three domains in a ``size``^3 box at 1 Å/voxel:
    sharp (B 40 Å^2), blurred (B 120 Å^2) and a half-occupied one (B 40 Å^2)."""
    c = size / 2
    r = size / 7
    domains = [Domain((c, c - 1.2 * r, c - 1.2 * r), r, 40.0),
               Domain((c, c - 1.2 * r, c + 1.2 * r), r, 120.0),
               Domain((c, c + 1.2 * r, c), r, 40.0, occupancy=0.5)]
    return make_phantom((size,) * 3, 1.0, domains, noise=0.5, seed=seed)


def isolated_domains(shape, voxel_size, domains, seed=0):
    """The noise-free map of each domain alone, with the same atoms as ``make_phantom`` with
    the same arguments places (the other domains at occupancy 0 draw the same random atoms):
    the reference for a domain's global Guinier B."""
    maps = []
    for j in range(len(domains)):
        alone = [d if i == j else d._replace(occupancy=0.0) for i, d in enumerate(domains)]
        maps.append(make_phantom(shape, voxel_size, alone, noise=0.0, seed=seed).clean)
    return maps


def centre_in_box(volume, shape):
    """``volume`` zero-padded (centred) into a larger box of ``shape``: the same particle
    boxed with more solvent, as when the same map is extracted at a larger box size."""
    shape = tuple(int(n) for n in shape)
    if any(n < m for n, m in zip(shape, volume.shape)):
        raise ValueError(f"box {shape} is smaller than the volume {volume.shape}")
    out = np.zeros(shape, volume.dtype)
    corner = [(n - m) // 2 for n, m in zip(shape, volume.shape)]
    out[tuple(slice(c, c + m) for c, m in zip(corner, volume.shape))] = volume
    return out


def reboxed_phantom(phantom: Phantom, shape: Sequence[int], noise: float = 0.5,
                    seed: int = 0) -> Phantom:
    """The same particle (clean map, mask and domain balls of ``phantom``) centred in a
    larger box, with new white noise of SD ``noise`` times the SD of the clean map inside the
    mask (the same per-voxel noise as ``make_phantom`` would add to this particle)."""
    clean = centre_in_box(phantom.clean, shape).astype(np.float64)
    mask = centre_in_box(phantom.mask, shape)
    balls = [centre_in_box(d, shape) for d in phantom.domains]
    rng = np.random.default_rng(seed)
    sd = clean[mask].std()
    half1 = clean + rng.normal(0.0, noise * sd, clean.shape)
    half2 = clean + rng.normal(0.0, noise * sd, clean.shape)
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    return Phantom(f32(clean), f32(half1), f32(half2), f32((half1 + half2) / 2), mask, balls,
                   phantom.voxel_size, list(phantom.spec))
