"""White noise on the infinite voxel lattice, reproducible from (seed, field, position).

The lattice is cut into fixed cubic blocks of ``NOISE_BLOCK`` voxels; the standard normal
values of a block come from their own ``numpy.random.SeedSequence`` whose spawn key is
(field, block position).  Any region of any field can therefore be regenerated
independently of how a volume is chunked, which makes chunked generation identical to
in-memory generation.
"""
from __future__ import annotations

import numpy as np

__all__ = ["NOISE_BLOCK", "noise_region"]

NOISE_BLOCK = 32
_OFFSET = 1 << 24  # spawn keys must be non-negative; block indices may be negative


def _block(seed: int, field: int, index: tuple[int, int, int]) -> np.ndarray:
    key = (int(field),) + tuple(int(i) + _OFFSET for i in index)
    ss = np.random.SeedSequence(entropy=int(seed), spawn_key=key)
    return np.random.Generator(np.random.PCG64(ss)).standard_normal(
        (NOISE_BLOCK,) * 3, dtype=np.float32
    )


def noise_region(seed: int, field: int, lo: tuple[int, int, int], hi: tuple[int, int, int],
                 out: np.ndarray | None = None) -> np.ndarray:
    """Standard normal float32 noise of ``field`` on the lattice box [lo, hi) (3 axes).

    ``lo`` may be negative.  Values depend only on (seed, field, lattice position).
    """
    shape = tuple(h - l for l, h in zip(lo, hi))
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    B = NOISE_BLOCK
    ranges = [range(l // B, -(-h // B)) for l, h in zip(lo, hi)]
    for bx in ranges[0]:
        for by in ranges[1]:
            for bz in ranges[2]:
                blk = _block(seed, field, (bx, by, bz))
                src, dst = [], []
                for b, l, h in zip((bx, by, bz), lo, hi):
                    a0, a1 = max(b * B, l), min((b + 1) * B, h)
                    src.append(slice(a0 - b * B, a1 - b * B))
                    dst.append(slice(a0 - l, a1 - l))
                out[tuple(dst)] = blk[tuple(src)]
    return out
