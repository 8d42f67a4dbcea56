"""Reading label volumes given by users: a vmt store, a ``.npy`` file or a TIFF stack."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import InputError

__all__ = ["load_labels"]


def _as_labels(arr: np.ndarray, source: str) -> np.ndarray:
    if arr.ndim != 3:
        raise InputError(f"{source}: expected a 3D label volume, got {arr.ndim}D shape {arr.shape}")
    if arr.dtype == bool:
        return arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise InputError(f"{source}: labels must be integers, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise InputError(f"{source}: labels must be in 0..255, got {arr.min()}..{arr.max()}")
    return arr.astype(np.uint8, copy=False)


def load_labels(path: "str | os.PathLike", *, key: str | None = None) -> tuple[np.ndarray, float | None]:
    """Load a 3D label volume indexed (x, y, z).

    Parameters
    ----------
    path : str or path-like
        A store written by ``vmt generate`` or a study (directory or fsspec URL), a ``.npy``
        file, or a multi-page TIFF stack.  TIFF pages are slices along z, each page indexed
        (y, x) as images are, so the stack is transposed to (x, y, z).
    key : str, optional
        Volume key inside a store; may be omitted when the store holds exactly one volume.

    Returns
    -------
    labels : numpy.ndarray of uint8
    voxel_size : float or None
        From the store's attributes; None for files that do not record it.
    """
    s = os.fspath(path)
    lower = s.lower()
    if lower.endswith(".npy"):
        if not Path(s).is_file():
            raise InputError(f"no such file: {s}")
        try:
            arr = np.load(s, allow_pickle=False)
        except ValueError as exc:
            raise InputError(f"{s}: not a readable .npy array ({exc})") from None
        return _as_labels(arr, s), None
    if lower.endswith((".tif", ".tiff")):
        import tifffile

        if not Path(s).is_file():
            raise InputError(f"no such file: {s}")
        try:
            arr = tifffile.imread(s)
        except Exception as exc:  # tifffile raises several types for bad files
            raise InputError(f"{s}: not a readable TIFF stack ({exc})") from None
        if arr.ndim == 3:
            arr = np.ascontiguousarray(arr.transpose(2, 1, 0))
        return _as_labels(arr, s), None
    from .store import is_local, list_volumes, local_path, read_volume

    if is_local(s) and not local_path(s).exists():
        raise InputError(f"no such store or file: {s}")
    volumes = list_volumes(s)
    if key is None:
        if len(volumes) != 1:
            names = ", ".join(volumes) or "none"
            raise InputError(f"{s}: give --key, the store holds {len(volumes)} volumes ({names})")
        key = next(iter(volumes))
    if key not in volumes:
        raise InputError(f"{s}: no complete volume {key!r} (volumes: {', '.join(volumes) or 'none'})")
    arr, attrs = read_volume(s, key)
    return _as_labels(arr, f"{s}[{key}]"), attrs.get("voxel_size")
