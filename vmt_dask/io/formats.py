"""Readers of users' label volumes: every format opens lazily as an (x, y, z) dask array.

Axis conventions (z is the transport direction):

* **Image formats** (TIFF stacks, folders of 2-D slices): a stack of images; the page or
  slice index is z, and each image is indexed (row, column) = (y, x).  The stack is
  transposed to (x, y, z).
* **Array formats** (``.npy``, ``.npz``, HDF5, Zarr, vmt stores): the array is taken as
  stored, axis 0 = x, axis 1 = y, axis 2 = z (NumPy / PoreSpy / vmt order), unless the file
  names its axes (Zarr v3 ``dimension_names``, HDF5 dimension scales' labels, an ``axes``
  attribute of x/y/z names) or the user gives ``axes="zyx"``.
* **Raw binary**: ``raw_shape = (nx, ny, nz)`` with x varying fastest (slice by slice, row by
  row: the layout ImageJ, Avizo and Dragonfly write), i.e. a C-ordered (nz, ny, nx) array.
"""
from __future__ import annotations

import dataclasses
import os
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..storage.location import resolve
from .voxel import from_attrs, unit_factor

__all__ = ["Volume", "open_input", "ACCEPTED", "natural_key"]

#: One line naming every accepted input (used in "unrecognised input" messages).
ACCEPTED = ("accepted inputs: TIFF stack (.tif/.tiff), folder of 2-D TIFF/PNG slices, .npy, .npz, "
            "raw binary (with --raw-shape), HDF5 (file.h5:/dataset), Zarr array or group (v2/v3), "
            "vmt store")

_IMAGE_SUFFIXES = (".tif", ".tiff", ".png")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


@dataclasses.dataclass
class Volume:
    """A lazily opened label volume.

    Attributes
    ----------
    data : dask.array.Array, shape (nx, ny, nz)
        The stored values, indexed (x, y, z); nothing is read until computed.
    source : str
        The input as the user gave it (with the key / dataset, if any).
    format : str
        "tiff", "slices", "npy", "npz", "raw", "hdf5", "zarr" or "vmt".
    voxel_size : tuple of three floats or None
        (dx, dy, dz) in micrometres from the file's metadata, None if it records none.
    voxel_size_origin : str or None
        Where ``voxel_size`` came from ("ImageJ metadata", "attribute 'spacing'", ...).
    labels : dict or None
        The file's own label map (a vmt store records {"pore": 0, "SE": 1, "AM": 2}).
    attrs : dict
        Other metadata (vmt provenance attributes for stores).
    """

    data: Any
    source: str
    format: str
    voxel_size: tuple[float, float, float] | None = None
    voxel_size_origin: str | None = None
    labels: dict[str, int] | None = None
    attrs: dict = dataclasses.field(default_factory=dict)
    _keep: Any = None  # open file handles that the lazy array reads from

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype


def natural_key(name: str):
    """Sort key that orders ``slice2`` before ``slice10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


# --------------------------------------------------------------------------- axes
def _axis_order(names, ndim: int) -> tuple[int, int, int] | None:
    """Permutation taking stored axes named ``names`` to (x, y, z); None if not x/y/z names."""
    if names is None or ndim != 3:
        return None
    try:
        lower = [str(n).strip().lower() for n in names]
    except TypeError:
        return None
    if sorted(lower) != ["x", "y", "z"]:
        return None
    return tuple(lower.index(a) for a in "xyz")


def parse_axes(text: str | None) -> tuple[int, int, int] | None:
    """``axes="zyx"``: the stored order of the axes -> permutation to (x, y, z)."""
    if text is None:
        return None
    perm = _axis_order(list(str(text).strip()), 3)
    if perm is None:
        raise InputError(f"--axes {text!r}: expected the stored axis order as a permutation of "
                         "x, y, z (e.g. zyx)")
    return perm


def _finish(vol: Volume, stored_axes, axes_override) -> Volume:
    """Put the stored axes into (x, y, z) order; the voxel size follows its axes."""
    data = vol.data
    if data.ndim != 3:
        raise InputError(f"{vol.source}: expected a 3D label volume (x, y, z), got "
                         f"{data.ndim}-D shape {tuple(data.shape)}")
    perm = axes_override if axes_override is not None else stored_axes
    if perm is not None and tuple(perm) != (0, 1, 2):
        vol.data = data.transpose(perm)
        if vol.voxel_size is not None:
            vol.voxel_size = tuple(vol.voxel_size[i] for i in perm)
    return vol


class _Sliced:
    """An array seen only through slicing, so dask neither hashes nor touches all of it.

    ``dask.array.from_array`` handles NumPy arrays (memory maps included) eagerly: it reads
    the whole array when building the graph (measured: +670 MB of resident memory for a
    343 MB memory-mapped .npy).  Behind this wrapper only the chunks computed are read.
    """

    def __init__(self, arr):
        self._arr = arr
        self.shape, self.dtype, self.ndim = arr.shape, arr.dtype, arr.ndim

    def __getitem__(self, index):
        return np.array(self._arr[index])


def _dask(arr, chunks="auto"):
    import dask.array as da

    # name=False: a random key instead of hashing the whole array
    return da.from_array(_Sliced(arr), chunks=chunks, lock=False, asarray=False, name=False)


# --------------------------------------------------------------------------- sniffing
def _magic(path: Path, n: int = 8) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def _local(s: str) -> bool:
    """True when *s* names the local filesystem (the rule of :func:`vmt_dask.storage.resolve`)."""
    return resolve(s).local


def _split_inner(s: str) -> tuple[str, str | None]:
    """``"file.h5:/group/data"`` -> ("file.h5", "/group/data") when the left part exists."""
    if not _local(s):
        m = re.match(r"^(.*\.zarr/?):(/?[^:]*)$", s)
        return (m.group(1), m.group(2)) if m else (s, None)
    if os.path.exists(s):
        return s, None
    idx = s.rfind(":")
    while idx > 0:
        left, right = s[:idx], s[idx + 1:]
        if os.path.exists(left) and ("/" in right or right):
            return left, right
        idx = s.rfind(":", 0, idx)
    return s, None


def open_input(path: "str | os.PathLike", *, key: str | None = None,
               raw_shape: "tuple[int, int, int] | None" = None, raw_dtype: str = "uint8",
               byte_order: str = "little", raw_offset: int = 0,
               axes: str | None = None) -> Volume:
    """Open a label volume lazily, whatever its format.

    Parameters
    ----------
    path : str or path-like
        A TIFF stack, a folder of 2-D slices, ``.npy``/``.npz``, a raw binary file, an HDF5
        file (``file.h5:/dataset`` or with ``key``), a Zarr array or group (local path or URL,
        v2 or v3) or a vmt store.
    key : str, optional
        Array inside a container: the ``.npz`` member, the HDF5 dataset, the Zarr array path
        or the volume key of a vmt store; the series index of a multi-series TIFF.  May be
        omitted when the container holds exactly one 3-D array.
    raw_shape : (nx, ny, nz), optional
        Shape of a raw binary volume (x varying fastest in the file); required for raw input.
    raw_dtype : str
        NumPy dtype name of the raw voxels (default uint8).
    byte_order : {"little", "big"}
        Byte order of multi-byte raw voxels.
    raw_offset : int
        Bytes to skip at the start of a raw file (a header).
    axes : str, optional
        Stored axis order (e.g. "zyx") overriding the format's default and its metadata.

    Returns
    -------
    Volume
        With ``data`` a dask array indexed (x, y, z); see the module docstring for how each
        format's axes map.

    Raises
    ------
    InputError
        Missing path, unrecognised format (the message lists the accepted ones), a file that
        cannot be parsed, colour or multi-channel images, a volume that is not 3-D, an
        ambiguous container without ``key``.
    """
    s = os.fspath(path)
    if not s.strip():
        raise InputError("INPUT is empty; " + ACCEPTED)
    perm = parse_axes(axes)
    s, inner = _split_inner(s)
    if inner is not None and key is not None and inner.strip("/") != key.strip("/"):
        raise InputError(f"{s}: give the array either as {s}:{inner} or with --key, not both")
    key = inner if inner is not None else key
    loc = resolve(s)
    if not loc.local:
        return _open_zarr(s, key, perm)
    p = Path(loc.root)
    if raw_shape is not None:
        if not p.is_file():
            raise InputError(f"no such file: {s}" if not p.exists() else f"{s}: raw input must be a file")
        return _open_raw(p, s, raw_shape, raw_dtype, byte_order, raw_offset, perm)
    if not p.exists():
        raise InputError(f"no such file or directory: {s}")
    is_zarr = p.is_dir() and any((p / m).is_file() for m in ("zarr.json", ".zarray", ".zgroup"))
    if perm is not None and not is_zarr and (p.is_dir() or _magic(p)[:4] in _TIFF_MAGICS):
        raise InputError(f"--axes {axes!r}: applies to array formats (.npy, .npz, raw, HDF5, Zarr); "
                         "image stacks are always z pages of (y, x) images")
    if p.is_dir():
        if is_zarr:
            return _open_zarr(s, key, perm)
        images = [c for c in p.iterdir()
                  if c.is_file() and not c.name.startswith(".") and c.suffix.lower() in _IMAGE_SUFFIXES]
        if images:
            return _open_slices(p, s, images, perm)
        raise InputError(f"{s}: a folder with neither Zarr metadata nor TIFF/PNG slices; {ACCEPTED}")
    head = _magic(p)
    lower = p.name.lower()
    if head[:4] in _TIFF_MAGICS:
        return _open_tiff(p, s, key, perm)
    if head.startswith(b"\x93NUMPY"):
        return _open_npy(p, s, perm)
    if head.startswith(b"PK") and lower.endswith(".npz"):
        return _open_npz(p, s, key, perm)
    if head.startswith(_HDF5_MAGIC) or lower.endswith((".h5", ".hdf5", ".hdf", ".he5")):
        return _open_hdf5(p, s, key, perm)
    if head.startswith(b"\x89PNG"):
        raise InputError(f"{s}: a single 2-D PNG image, not a 3D volume; give the folder of "
                         "slices (one image per z)")
    if lower.endswith((".raw", ".bin", ".dat", ".vol")):
        raise InputError(f"{s}: raw binary input needs --raw-shape NX,NY,NZ (and --raw-dtype, "
                         "--byte-order if not uint8)")
    raise InputError(f"{s}: unrecognised input; {ACCEPTED}")


# --------------------------------------------------------------------------- numpy
def _open_npy(p: Path, s: str, perm) -> Volume:
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise InputError(f"{s}: not a readable .npy array ({exc})") from None
    return _finish(Volume(_dask(arr), s, "npy", _keep=arr), None, perm)


def _open_npz(p: Path, s: str, key, perm) -> Volume:
    import zipfile

    try:
        npz = np.load(p, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{s}: not a readable .npz archive ({exc})") from None
    names = list(npz.files)
    if key is None:
        if len(names) != 1:
            raise InputError(f"{s}: holds {len(names)} arrays ({', '.join(names) or 'none'}); "
                             "pick one with --key NAME")
        key = names[0]
    if key not in names:
        raise InputError(f"{s}: no array {key!r} (arrays: {', '.join(names) or 'none'})")
    try:
        arr = npz[key]
    except ValueError as exc:
        raise InputError(f"{s}[{key}]: not a readable array ({exc})") from None
    return _finish(Volume(_dask(arr), f"{s}[{key}]", "npz"), None, perm)


# --------------------------------------------------------------------------- raw
def _open_raw(p: Path, s: str, raw_shape, raw_dtype, byte_order, raw_offset, perm) -> Volume:
    try:
        dtype = np.dtype(raw_dtype)
    except TypeError:
        raise InputError(f"--raw-dtype {raw_dtype!r}: not a NumPy dtype name (e.g. uint8, uint16, "
                         "int32, float32)") from None
    if dtype.kind not in "biuf":
        raise InputError(f"--raw-dtype {raw_dtype!r}: expected an integer, boolean or float type")
    if byte_order not in ("little", "big"):
        raise InputError(f"--byte-order {byte_order!r}: expected little or big")
    dtype = dtype.newbyteorder("<" if byte_order == "little" else ">")
    nx, ny, nz = (int(v) for v in raw_shape)
    order = "zyx" if perm is None else "".join("xyz"[i] for i in _inverse(perm))
    shape = {"x": nx, "y": ny, "z": nz}
    need = nx * ny * nz * dtype.itemsize
    size = p.stat().st_size
    if raw_offset < 0 or size - raw_offset != need:
        raise InputError(f"{s}: {size} bytes, but --raw-shape {nx},{ny},{nz} of {dtype.name} "
                         f"after an offset of {raw_offset} needs {need + raw_offset}")
    arr = np.memmap(p, dtype=dtype, mode="r", offset=raw_offset,
                    shape=tuple(shape[c] for c in order))
    return _finish(Volume(_dask(arr), s, "raw", _keep=arr), _axis_order(list(order), 3), None)


def _inverse(perm) -> tuple[int, int, int]:
    """Stored axis order letters from a permutation stored -> (x, y, z)."""
    inv = [0, 0, 0]
    for out_axis, stored_axis in enumerate(perm):
        inv[stored_axis] = out_axis
    return tuple(inv)


# --------------------------------------------------------------------------- TIFF
def _tiff_voxel_size(tf, page) -> tuple[tuple[float, float, float] | None, str | None]:
    """(dx, dy, dz) in micrometres from ImageJ metadata or the resolution tags."""
    import tifffile

    ij = tf.imagej_metadata or {}
    try:
        rx, ry = (float(v) for v in page.resolution)
    except (TypeError, ValueError):
        rx = ry = 0.0
    if ij and unit_factor(ij.get("unit")) is not None:
        f = unit_factor(ij.get("unit"))
        if rx > 0 and ry > 0:
            dx, dy = f / rx, f / ry
            dz = float(ij["spacing"]) * f if ij.get("spacing") else None
            if dz is None:
                return (dx, dy, dx), "ImageJ metadata (x, y; z assumed equal to x)"
            return (dx, dy, dz), "ImageJ metadata"
    unit = page.resolutionunit
    per = {tifffile.RESUNIT.CENTIMETER: 1e4, tifffile.RESUNIT.MILLIMETER: 1e3,
           tifffile.RESUNIT.MICROMETER: 1.0}.get(unit)
    if per is not None and rx > 0 and ry > 0:
        dx, dy = per / rx, per / ry
        return (dx, dy, dx), "TIFF resolution tags (x, y; z assumed equal to x)"
    return None, None


def _open_tiff(p: Path, s: str, key, perm) -> Volume:
    import dask
    import dask.array as da
    import tifffile
    import zarr

    try:
        tf = tifffile.TiffFile(p)
        series = list(tf.series)
    except Exception as exc:  # tifffile raises several types for damaged files
        raise InputError(f"{s}: not a readable TIFF file ({exc})") from None
    if not series:
        raise InputError(f"{s}: not a readable TIFF file (no images found)")

    def colour_check(ser, where=""):
        axes, shape = ser.axes, ser.shape
        for a, n in zip(axes, shape):
            if a in "SC" and n > 1:
                kind = "colour (RGB)" if a == "S" else "multi-channel"
                raise InputError(f"{s}{where}: a {kind} image (axes {axes}, shape {shape}); a label "
                                 "volume must have one value per voxel: save the segmentation as a "
                                 "single-channel (grayscale) stack")

    if key is not None:
        try:
            index = int(key)
            ser = series[index]
        except (ValueError, IndexError):
            raise InputError(f"{s}: --key {key!r} is not a series index 0..{len(series) - 1}") from None
        series = [ser]
    for i, ser in enumerate(series):
        colour_check(ser, f" (series {i})" if len(series) > 1 else "")
    first = series[0]
    vs, origin = _tiff_voxel_size(tf, first.pages[0] if first.pages else tf.pages[0])
    if len(series) > 1:
        shapes = {(tuple(x.shape), x.dtype.str) for x in series}
        if all(len(x.shape) == 2 for x in series) and len(shapes) == 1:
            # a stack written page by page (one write() per slice): one series per page
            ny, nx = first.shape

            lock = threading.Lock()  # one file handle: reads must not interleave

            def page(i):
                with lock:
                    return tf.series[i].asarray()

            parts = [da.from_delayed(dask.delayed(page)(i), (ny, nx), first.dtype)
                     for i in range(len(series))]
            data = da.stack(parts, axis=0).transpose(2, 1, 0)
            vol = Volume(data, s, "tiff", voxel_size=vs, voxel_size_origin=origin, _keep=tf)
            return _finish(vol, None, None)
        listing = "; ".join(f"{i}: {x.axes} {tuple(x.shape)}" for i, x in enumerate(series[:6]))
        raise InputError(f"{s}: holds {len(series)} image series of different shapes ({listing}); "
                         "pick one with --key INDEX")
    ser = first
    axes, shape = ser.axes, tuple(ser.shape)
    try:
        store = ser.aszarr(level=0) if getattr(ser, "levels", None) and len(ser.levels) > 1 else ser.aszarr()
        arr = da.from_zarr(zarr.open_array(store, mode="r"))
    except Exception:  # fall back to reading the series whole
        arr = da.from_delayed(dask.delayed(ser.asarray)(), shape, ser.dtype)
    # drop length-1 axes, keep the z-like axis, Y and X
    index, kept = [], []
    for a, n in zip(axes, shape):
        if n == 1 and a not in "YX":
            index.append(0)
        else:
            index.append(slice(None))
            kept.append((a, n))
    arr = arr[tuple(index)]
    letters = "".join(a for a, _ in kept)
    if letters == "YX":
        raise InputError(f"{s}: a single 2-D image (shape {shape}), not a 3D volume; give a "
                         "multi-page stack or a folder of slices")
    if len(kept) != 3 or letters[1:] != "YX":
        raise InputError(f"{s}: image axes {axes} with shape {shape}; expected one stack of 2-D "
                         "pages (Z, Y, X), e.g. no time axis")
    vol = Volume(arr.transpose(2, 1, 0), s, "tiff", voxel_size=vs, voxel_size_origin=origin, _keep=tf)
    return _finish(vol, None, None)


# --------------------------------------------------------------------------- slices
def _read_slice(path: Path, shape, dtype) -> np.ndarray:
    """One 2-D slice (y, x); checked against the first slice's shape and dtype."""
    if path.suffix.lower() == ".png":
        img = _png(path)
    else:
        import tifffile

        try:
            img = tifffile.imread(path)
        except Exception as exc:
            raise InputError(f"{path}: not a readable TIFF image ({exc})") from None
        if img.ndim == 3 and img.shape[-1] in (3, 4):
            raise InputError(f"{path}: a colour (RGB) image, shape {img.shape}; a label slice must "
                             "be single-channel (grayscale)")
    if img.ndim != 2:
        raise InputError(f"{path}: expected a 2-D slice, got shape {img.shape}")
    if shape is not None and (img.shape != shape or img.dtype != dtype):
        raise InputError(f"{path}: slice of shape {img.shape} {img.dtype}, but the first slice is "
                         f"{shape} {dtype}; all slices must match")
    return img


def _png(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.mode in ("RGB", "RGBA", "LA", "CMYK", "YCbCr", "HSV", "RGBX"):
                raise InputError(f"{path}: a colour ({im.mode}) image; a label slice must be "
                                 "single-channel (grayscale or palette indices)")
            return np.asarray(im)
    except (OSError, UnidentifiedImageError) as exc:
        raise InputError(f"{path}: not a readable PNG image ({exc})") from None


def _open_slices(p: Path, s: str, images, perm) -> Volume:
    import dask
    import dask.array as da

    images = sorted(images, key=lambda c: natural_key(c.name))
    kinds = {c.suffix.lower().replace(".tiff", ".tif") for c in images}
    if len(kinds) > 1:
        raise InputError(f"{s}: a folder mixing {' and '.join(sorted(kinds))} slices; keep one kind")
    first = _read_slice(images[0], None, None)
    shape, dtype = first.shape, first.dtype
    if len(images) < 2:
        raise InputError(f"{s}: a folder with one 2-D slice ({images[0].name}), not a 3D volume")
    parts = [da.from_array(first, chunks=first.shape)]
    parts += [da.from_delayed(dask.delayed(_read_slice)(c, shape, dtype), shape, dtype)
              for c in images[1:]]
    data = da.stack(parts, axis=0).transpose(2, 1, 0)
    vol = Volume(data, s, "slices", attrs={"slices": [c.name for c in images]})
    return _finish(vol, None, None)


# --------------------------------------------------------------------------- HDF5
def _h5_axes(dset):
    try:
        labels = [d.label for d in dset.dims]
    except Exception:
        return None
    return _axis_order(labels, dset.ndim) if all(labels) else None


def _open_hdf5(p: Path, s: str, key, perm) -> Volume:
    import dask.array as da
    import h5py

    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise InputError(f"{s}: not a readable HDF5 file ({exc})") from None
    if key is None or key.strip("/") == "":
        found = []
        f.visititems(lambda name, obj: found.append(name)
                     if isinstance(obj, h5py.Dataset) and obj.ndim == 3 else None)
        if len(found) != 1:
            listing = ", ".join("/" + n for n in found[:8]) or "none"
            raise InputError(f"{s}: holds {len(found)} 3-D datasets ({listing}); name one as "
                             f"{s}:/DATASET")
        key = found[0]
    try:
        dset = f[key]
    except KeyError:
        raise InputError(f"{s}: no dataset {key!r}") from None
    if not isinstance(dset, h5py.Dataset):
        raise InputError(f"{s}:{key} is a group, not a dataset; name a dataset inside it")
    source = f"{s}:/{key.lstrip('/')}"
    if dset.dtype.kind not in "biuf":
        raise InputError(f"{source}: dtype {dset.dtype} cannot hold labels")
    data = da.from_array(dset, chunks=dset.chunks or "auto", lock=True)
    vol = Volume(data, source, "hdf5", _keep=f)
    attrs = dict(dset.attrs)
    found = from_attrs(attrs, dset.ndim) or from_attrs(dict(dset.parent.attrs), dset.ndim)
    if found is not None:
        vol.voxel_size, k = found
        vol.voxel_size_origin = f"HDF5 attribute {k!r}"
    stored = _h5_axes(dset) or _axis_order(_attr_list(attrs.get("axes")), dset.ndim)
    return _finish(vol, stored, perm)


def _attr_list(value):
    if value is None or isinstance(value, (str, bytes)):
        return None
    try:
        return [v.decode() if isinstance(v, bytes) else v for v in value]
    except TypeError:
        return None


# --------------------------------------------------------------------------- Zarr / vmt
def _open_zarr(s: str, key, perm) -> Volume:
    import dask.array as da
    import zarr

    from ..storage.location import resolve
    from ..storage.volumes import VOLUMES, complete_volumes, open_volume

    loc = resolve(s)
    shown = loc.display()
    try:
        node = zarr.open(loc.zarr_store(read_only=True), mode="r")
    except Exception as exc:  # zarr raises many kinds for foreign or damaged metadata
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{shown}: not a readable Zarr array or group ({first}); {ACCEPTED}") from None
    if isinstance(node, zarr.Group) and VOLUMES in node and isinstance(node[VOLUMES], zarr.Group):
        checks = complete_volumes(s)
        volumes = [k for k, c in checks.items() if c.ok]
        if key is None:
            if len(volumes) != 1:
                names = ", ".join(volumes) or "none"
                raise InputError(f"{shown}: give --key, the store holds {len(volumes)} volumes ({names})")
            key = volumes[0]
        key = key.strip("/")
        if key.startswith(VOLUMES + "/"):
            key = key[len(VOLUMES) + 1:]
        if key in checks and not checks[key].ok:
            why = "; ".join(checks[key].problems[:2]) or checks[key].state
            raise InputError(f"{shown}: volume {key!r} is {checks[key].state} ({why})")
        if key not in volumes:
            raise InputError(f"{shown}: no complete volume {key!r} (volumes: {', '.join(volumes) or 'none'})")
        s = shown
        arr = open_volume(s, key)
        attrs = dict(arr.attrs)
        vol = Volume(da.from_zarr(arr), f"{s}[{key}]", "vmt", attrs=attrs, _keep=arr)
        v = attrs.get("voxel_size")
        found = from_attrs({"voxel_size": v}) if v is not None else None
        if found is not None:
            vol.voxel_size, vol.voxel_size_origin = found[0], "store attributes"
        labels = attrs.get("labels")
        if isinstance(labels, dict):
            vol.labels = {str(k): int(v) for k, v in labels.items()}
        return _finish(vol, _axis_order(attrs.get("axes"), 3), perm)
    if isinstance(node, zarr.Group):
        if key is None:
            arrays = [(name, a) for name, a in node.members(max_depth=None)
                      if isinstance(a, zarr.Array) and a.ndim == 3]
            ome = _ome_first(node)
            if ome is not None:
                arrays = [(ome, node[ome])]
            if len(arrays) != 1:
                listing = ", ".join(n for n, _ in arrays[:8]) or "none"
                raise InputError(f"{s}: a Zarr group with {len(arrays)} 3-D arrays ({listing}); "
                                 "pick one with --key PATH")
            key, arr = arrays[0]
        else:
            try:
                arr = node[key.strip("/")]
            except KeyError:
                raise InputError(f"{s}: no array {key!r} in this Zarr group") from None
            if not isinstance(arr, zarr.Array):
                raise InputError(f"{s}: {key!r} is a group, not an array")
        source = f"{s}[{key}]"
        parent_attrs = dict(node.attrs)
    else:
        if key is not None:
            raise InputError(f"{s}: a single Zarr array; drop --key {key!r}")
        arr, source, parent_attrs = node, s, {}
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{source}: dtype {arr.dtype} cannot hold labels")
    vol = Volume(da.from_zarr(arr), source, "zarr", attrs=dict(arr.attrs), _keep=arr)
    attrs = dict(arr.attrs)
    found = from_attrs(attrs, arr.ndim) or from_attrs(parent_attrs, arr.ndim)
    if found is not None:
        vol.voxel_size, k = found
        vol.voxel_size_origin = f"Zarr attribute {k!r}"
    names = getattr(arr.metadata, "dimension_names", None)
    ome = _ome_axes_scale(parent_attrs, key)
    if ome is not None and vol.voxel_size is None:
        names_ome, scale = ome
        names = names or names_ome
        if scale is not None:
            vol.voxel_size, vol.voxel_size_origin = scale, "OME-Zarr scale"
    stored = _axis_order(names, arr.ndim) or _axis_order(_attr_list(attrs.get("axes")), arr.ndim)
    return _finish(vol, stored, perm)


def _ome_first(group) -> str | None:
    ms = group.attrs.get("multiscales") or (group.attrs.get("ome") or {}).get("multiscales")
    try:
        return ms[0]["datasets"][0]["path"]
    except (TypeError, KeyError, IndexError):
        return None


def _ome_axes_scale(attrs, key):
    """(axis names, voxel size in micrometres or None) of OME-Zarr level ``key``."""
    ms = attrs.get("multiscales") or (attrs.get("ome") or {}).get("multiscales")
    try:
        m = ms[0]
        axes = m["axes"]
        names = [a["name"] if isinstance(a, dict) else a for a in axes]
        units = [a.get("unit") if isinstance(a, dict) else None for a in axes]
        scale = None
        for d in m["datasets"]:
            if d["path"] == key:
                for t in d.get("coordinateTransformations", []):
                    if t.get("type") == "scale":
                        scale = t["scale"]
        if scale is not None and len(scale) == 3 and all(unit_factor(u) for u in units):
            scale = tuple(float(v) * unit_factor(u) for v, u in zip(scale, units))
        else:
            scale = None
        return names, scale
    except (TypeError, KeyError, IndexError, AttributeError):
        return None
