"""Reading label volumes given by users: a thin wrapper over :mod:`vmt_dask.io`.

Kept for existing callers; new code uses :func:`vmt_dask.io.open_input` and
:func:`vmt_dask.io.read_labels`, which read every supported format lazily and crop before
reading.
"""
from __future__ import annotations

import os

import numpy as np

__all__ = ["load_labels"]


def load_labels(path: "str | os.PathLike", *, key: str | None = None
                ) -> tuple[np.ndarray, "float | tuple[float, float, float] | None"]:
    """Load a 3D label volume indexed (x, y, z).

    Parameters
    ----------
    path : str or path-like
        Any input :func:`vmt_dask.io.open_input` accepts: a vmt store (directory or fsspec
        URL), a Zarr array or group, ``.npy``/``.npz``, a TIFF stack (pages are z slices,
        each page indexed (y, x)), a folder of 2-D slices, or ``file.h5:/dataset``.
    key : str, optional
        Volume key inside a container; may be omitted when it holds exactly one volume.

    Returns
    -------
    labels : numpy.ndarray of uint8, shape (nx, ny, nz)
    voxel_size : float, tuple of three floats, or None
        From the file's metadata (a float for cubic voxels, (dx, dy, dz) otherwise); None
        for files that do not record it.

    Raises
    ------
    vmt_dask.errors.InputError
        Missing or unreadable input, a volume that is not 3D, values that are not labels.
    """
    from .io import open_input, read_labels

    vol = open_input(path, key=key)
    labels = read_labels(vol)
    vs = vol.voxel_size
    if vs is not None and vs[0] == vs[1] == vs[2]:
        vs = vs[0]
    return labels, vs
