"""Chunked generation of a realization as a dask array (each chunk computed where it runs).

The Dask wrapper of the model kernel :func:`vmt_dask.model.realize`; it lives outside the
kernel package so that importing the kernels never imports Dask (docs/conventions.md, "Layers").
"""
from __future__ import annotations

from typing import Sequence

import dask.array as da
import numpy as np

from .model.covariance import DEFAULT_GENERATOR, check_generator
from .model.realize import DEFAULT_TILE, _check_inputs, realize_region, tile_edges
from .model.theta import Theta

__all__ = ["realize_dask", "default_chunks"]


def default_chunks(shape: tuple[int, int, int], tile: int = DEFAULT_TILE) -> tuple[tuple[int, ...], ...]:
    """Chunks equal to the generation tiles: each chunk then computes exactly one tile."""
    return tuple(tuple(np.diff(tile_edges(n, tile)).tolist()) for n in shape)


def realize_dask(theta: "Theta | Sequence[float]", shape, *, seed: int, chunks=None,
                 voxel_size: float = 0.2, chi2_dof: int = 2, tile: int = DEFAULT_TILE,
                 threads: int | None = 1, generator: str = DEFAULT_GENERATOR) -> da.Array:
    """The realization :func:`realize` would return, as a lazily computed dask array.

    Each chunk regenerates the white noise it needs from the seed and its position and
    computes the generation tiles it overlaps, so the result is bit-identical to
    :func:`realize` whatever ``chunks`` is.  Chunks aligned with the tiles (the default)
    compute every tile once; other chunkings recompute the tiles they share.  Volumes
    larger than one worker's memory can be stored straight into Zarr with
    ``arr.to_zarr(...)``; each task needs ~13 bytes per voxel of its tiles.  ``generator``
    is the discretisation, as in :func:`realize`.
    """
    theta, shape, seed, voxel_size, chi2_dof, tile = _check_inputs(
        theta, shape, seed, voxel_size, chi2_dof, tile)
    check_generator(generator)
    if chunks is None:
        chunks = default_chunks(shape, tile)
    template = da.empty(shape, dtype=np.uint8, chunks=chunks)

    def block(x, block_info=None):
        loc = block_info[None]["array-location"]
        lo = tuple(a for a, _ in loc)
        hi = tuple(b for _, b in loc)
        return realize_region(theta, shape, lo, hi, seed=seed, voxel_size=voxel_size,
                              chi2_dof=chi2_dof, tile=tile, threads=threads, generator=generator)

    token = da.core.tokenize(theta, shape, seed, voxel_size, chi2_dof, tile, generator, template.chunks)
    return da.map_blocks(block, template, dtype=np.uint8, name=f"realize-{token}")
