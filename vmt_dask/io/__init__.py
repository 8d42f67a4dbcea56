"""The input layer: users' label volumes in any common format, as (x, y, z) uint8 arrays.

Every command and the Python API read volumes through this package:

>>> from vmt_dask.io import open_input, read_labels
>>> vol = open_input("stack.tif")            # lazy: nothing read yet
>>> labels = read_labels(vol, crop="0:100,0:100,:")   # reads only the crop

Formats (see :mod:`vmt_dask.io.formats` for how each one's axes map to (x, y, z), z being the
transport direction): TIFF stacks (multi-page, multi-series, page-wise written, ImageJ
hyperstacks), folders of 2-D TIFF/PNG slices (natural sort), ``.npy`` (memory-mapped),
``.npz``, raw binary, HDF5 (``file.h5:/dataset``), Zarr arrays and groups (v2 and v3, local or
URL) and vmt stores.  Label maps (:mod:`vmt_dask.io.labels`) name the phases of a file;
voxel sizes (:mod:`vmt_dask.io.voxel`) come from metadata or the user.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from .formats import ACCEPTED, Volume, natural_key, open_input, parse_axes
from .labels import (DEFAULT_LABELS, MAX_LABEL, Phase, format_present, parse_label_map, phase_values_present,
                     resolve_phase)
from .voxel import format_voxel_size, from_attrs, is_isotropic, parse_voxel_size

__all__ = [
    "Volume", "open_input", "read_labels", "read_label_codes", "MAX_LABEL", "parse_crop", "crop_slices", "ACCEPTED",
    "parse_label_map", "resolve_phase", "phase_values_present", "format_present", "Phase",
    "DEFAULT_LABELS", "parse_voxel_size", "format_voxel_size", "is_isotropic", "from_attrs",
    "parse_axes", "natural_key",
]


def parse_crop(text: str | None, shape) -> tuple[slice, slice, slice] | None:
    """``"x0:x1,y0:y1,z0:z1"`` -> three slices within ``shape`` (None for no crop).

    Each part is ``a:b`` (voxel indices, end exclusive, either end may be left out for the
    volume's edge) or empty for the whole axis.

    Raises
    ------
    InputError
        Malformed text, or bounds outside the volume or empty.
    """
    if text is None:
        return None
    parts = [p.strip() for p in str(text).split(",")]
    hint = "expected x0:x1,y0:y1,z0:z1 (voxel indices, end exclusive; a:, :b or empty allowed)"
    if len(parts) != 3:
        raise InputError(f"--crop {text!r}: {hint}")
    out = []
    for axis, (part, n) in enumerate(zip(parts, shape)):
        if part in ("", ":"):
            out.append(slice(0, n))
            continue
        if part.count(":") != 1:
            raise InputError(f"--crop {text!r}: {hint}")
        lo, hi = (x.strip() for x in part.split(":"))
        try:
            a = int(lo) if lo else 0
            b = int(hi) if hi else n
        except ValueError:
            raise InputError(f"--crop {text!r}: {hint}") from None
        if not 0 <= a < b <= n:
            raise InputError(f"--crop {text!r}: {'xyz'[axis]} range {a}:{b} is empty or outside "
                             f"the volume's 0:{n}")
        out.append(slice(a, b))
    return tuple(out)


def crop_slices(crop, shape) -> tuple[slice, slice, slice]:
    """``crop`` as slices: text (see :func:`parse_crop`), slices, or None for the whole volume."""
    if crop is None:
        return tuple(slice(0, n) for n in shape)
    if isinstance(crop, str):
        return parse_crop(crop, shape)
    return tuple(crop)


def _read(volume: Volume, crop) -> np.ndarray:
    sl = crop_slices(crop, volume.shape)
    data = volume.data[sl]
    if data.dtype.kind not in "biuf":
        raise InputError(f"{volume.source}: dtype {data.dtype} cannot hold labels")
    try:
        arr = np.asarray(data.compute(scheduler="threads"))
    except InputError:
        raise
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        # damaged or missing chunks (storage.DamagedError is a KeyError), truncated files
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{volume.source}: cannot read the volume ({text})") from None
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise InputError(f"{volume.source}: labels must be integers, got non-integral values "
                             f"of dtype {arr.dtype} (a grey-value image needs segmenting first)")
    return arr


def read_labels(volume: Volume, *, crop=None) -> np.ndarray:
    """Read ``volume`` (or its crop) into memory as a C-contiguous uint8 label array.

    Parameters
    ----------
    volume : Volume
        From :func:`open_input`.
    crop : str or tuple of slices, optional
        ``"x0:x1,y0:y1,z0:z1"`` or three slices; only that part is read.

    Returns
    -------
    numpy.ndarray of uint8, shape (nx, ny, nz)

    Raises
    ------
    InputError
        Values that are not labels: a dtype other than bool/integer/float, non-integral or
        non-finite floats, or values outside 0..255 (see :func:`read_label_codes` for wider
        label images).
    """
    arr = _read(volume, crop)
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.size:
        lo, hi = arr.min(), arr.max()
        if lo < 0 or hi > 255:
            raise InputError(f"{volume.source}: labels must be in 0..255, got {lo:g}..{hi:g}")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def read_label_codes(volume: Volume, *, crop=None) -> tuple[np.ndarray, "np.ndarray | None"]:
    """Like :func:`read_labels`, for label images of any integer range with <= 256 labels.

    Returns
    -------
    codes : numpy.ndarray of uint8, shape (nx, ny, nz)
        The labels themselves when they lie in 0..255; otherwise code ``i`` stands for the
        ``i``-th smallest label present.
    values : numpy.ndarray of int64 or None
        ``values[code]`` is the original label (None when codes are the labels).

    Raises
    ------
    InputError
        As :func:`read_labels`; more than 256 distinct labels, or labels outside
        0..MAX_LABEL.
    """
    arr = _read(volume, crop)
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr), None
    if arr.size == 0:
        return np.ascontiguousarray(arr, dtype=np.uint8), None
    lo, hi = arr.min(), arr.max()
    if 0 <= lo and hi <= 255:
        return np.ascontiguousarray(arr, dtype=np.uint8), None
    if lo < 0 or hi > MAX_LABEL:
        raise InputError(f"{volume.source}: labels must be in 0..{MAX_LABEL}, got {lo:g}..{hi:g}")
    values, codes = np.unique(arr, return_inverse=True)
    if values.size > 256:
        raise InputError(f"{volume.source}: {values.size} distinct labels in {lo:g}..{hi:g}; a "
                         "label volume may hold at most 256 (is it a grey-value image?)")
    return np.ascontiguousarray(codes.reshape(arr.shape), dtype=np.uint8), values.astype(np.int64)
