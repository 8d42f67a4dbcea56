"""Label volumes in a Zarr (v3) store: chunked, compressed uint8 arrays with provenance.

Layout: volumes live under ``volumes/<key>`` of the store's root group.  A volume becomes
visible only when it is complete:

* local stores write into a hidden sibling directory and rename it into place (an atomic
  ``rename``); an overwritten volume is moved aside first and restored if the process dies
  between the two renames, so nothing already stored is lost;
* remote (fsspec) stores write the array, then set ``complete = true`` in its metadata as the
  last, single-object write; readers ignore arrays without it.
"""
from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from .errors import InputError

__all__ = [
    "write_volume", "read_volume", "open_volume", "list_volumes", "volume_exists",
    "is_local", "local_path", "open_root", "check_writable", "VOLUMES",
]

VOLUMES = "volumes"
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def is_local(store: "str | os.PathLike") -> bool:
    """True for a filesystem path or a ``file://`` URL."""
    s = os.fspath(store)
    return "://" not in s or s.startswith("file://")


def local_path(store: "str | os.PathLike") -> Path:
    s = os.fspath(store)
    return Path(s[len("file://"):] if s.startswith("file://") else s)


def _zarr_store(store, *, read_only: bool = False):
    if is_local(store):
        return zarr.storage.LocalStore(local_path(store), read_only=read_only)
    return zarr.storage.FsspecStore.from_url(os.fspath(store), read_only=read_only)


def open_root(store, *, mode: str = "a") -> zarr.Group:
    """The store's root group (created with ``mode="a"`` if missing)."""
    if mode == "r":
        return zarr.open_group(_zarr_store(store, read_only=True), mode="r")
    return zarr.open_group(_zarr_store(store), mode=mode)


def check_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.match(key):
        raise InputError(
            f"volume key {key!r} is not valid: use letters, digits, '_', '-', '.', "
            "starting with a letter or digit")
    return key


def check_writable(store) -> None:
    """Raise InputError unless a local store can be written.

    Creates the store directory if it is missing and writes and removes a probe file in it
    (permission bits alone do not tell, e.g. for root or read-only mounts).
    """
    if not is_local(store):
        return
    p = local_path(store)
    try:
        p.mkdir(parents=True, exist_ok=True)
        probe = p / f".probe-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"store {os.fspath(store)!r} is not writable: {exc.strerror or exc}") from None


def _recover(store, key: str) -> None:
    """Put back a volume moved aside by an overwrite that did not finish."""
    base = local_path(store) / VOLUMES
    final = base / key
    if final.exists() or not base.exists():
        return
    for old in sorted(base.glob(f".old-{key}-*")):
        os.replace(old, final)
        return


def volume_exists(store, key: str) -> bool:
    """True if a complete volume ``key`` is in ``store`` (reads that volume's metadata only)."""
    try:
        open_volume(store, key)
    except KeyError:
        return False
    return True


def list_volumes(store) -> dict[str, dict[str, Any]]:
    """Complete volumes of ``store`` with their attributes, sorted by key.

    Hidden entries (names starting with '.') are volumes being written or moved aside.
    """
    if is_local(store):
        base = local_path(store) / VOLUMES
        if not base.exists():
            return {}
        for old in base.glob(".old-*"):
            _recover(store, old.name[len(".old-"):].rsplit("-", 1)[0])
        names = [p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")]
    else:
        try:
            group = open_root(store, mode="r")[VOLUMES]
        except (FileNotFoundError, KeyError, zarr.errors.NodeNotFoundError):
            return {}
        names = [name for name, _ in group.arrays() if not name.startswith(".")]
    out = {}
    for name in sorted(names):
        try:
            out[name] = dict(open_volume(store, name).attrs)
        except KeyError:  # incomplete
            continue
    return out


def _attrs(labels_shape, theta, seed, voxel_size, chi2_dof, tile, extra) -> dict[str, Any]:
    from . import __version__
    from .model import Theta

    th = theta if isinstance(theta, Theta) else Theta.from_sequence(theta)
    attrs = {
        "theta": th.to_array().tolist(),
        "theta_names": list(th.to_dict()),
        "seed": int(seed),
        "shape": [int(s) for s in labels_shape],
        "voxel_size": float(voxel_size),
        "voxel_size_unit": "micrometre",
        "chi2_dof": int(chi2_dof),
        "tile": int(tile),
        "labels": {"pore": 0, "SE": 1, "AM": 2},
        "axes": ["x", "y", "z"],
        "software": f"vmt-dask {__version__}",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    attrs.update(extra or {})
    return attrs


def write_volume(store, key: str, labels, *, theta, seed: int, voxel_size: float,
                 chi2_dof: int = 2, tile: int | None = None, overwrite: bool = False,
                 chunks: "tuple[int, int, int] | None" = None, extra_attrs: dict | None = None,
                 progress: bool = False) -> dict[str, Any]:
    """Store a label volume (numpy or dask array) as ``volumes/<key>``; returns its attributes.

    The volume becomes visible only once completely written (see module docstring).  Without
    ``overwrite`` an existing complete volume raises :class:`InputError` before anything is
    written.  Phase fractions are computed while writing and stored as ``phase_fractions``.
    """
    import dask.array as da
    from .model import DEFAULT_TILE

    check_key(key)
    if labels.ndim != 3:
        raise InputError(f"labels must be a 3D array, got shape {labels.shape}")
    if not overwrite and volume_exists(store, key):
        raise InputError(f"volume {key!r} already exists in {os.fspath(store)!r} (use --overwrite)")
    check_writable(store)
    if chunks is None:
        chunks = tuple(min(128, s) for s in labels.shape)
    attrs = _attrs(labels.shape, theta, seed, voxel_size, chi2_dof,
                   DEFAULT_TILE if tile is None else tile, extra_attrs)
    compressors = zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")
    root = open_root(store, mode="a")
    root.require_group(VOLUMES)
    tmp_name = f".tmp-{key}-{uuid.uuid4().hex[:8]}"
    arr = root.create_array(f"{VOLUMES}/{tmp_name}", shape=labels.shape, chunks=chunks,
                            dtype=np.uint8, compressors=compressors, overwrite=True,
                            attributes={**attrs, "complete": False})
    if isinstance(labels, da.Array):
        counts = _store_dask(labels.astype(np.uint8), arr, progress)
    else:
        labels = np.asarray(labels)
        arr[...] = labels.astype(np.uint8, copy=False)
        counts = np.bincount(labels.ravel(), minlength=3)
    total = int(counts.sum())
    attrs["phase_fractions"] = {name: float(counts[v]) / total
                                for name, v in (("pore", 0), ("SE", 1), ("AM", 2))}
    if is_local(store):
        arr.attrs.update({**attrs, "complete": True})
        base = local_path(store) / VOLUMES
        final, tmp = base / key, base / tmp_name
        old = None
        if final.exists():
            old = base / f".old-{key}-{uuid.uuid4().hex[:8]}"
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    else:
        # remote: copy to the final name, then mark complete as the last write
        dst = root.create_array(f"{VOLUMES}/{key}", shape=labels.shape, chunks=chunks,
                                dtype=np.uint8, compressors=compressors, overwrite=True,
                                attributes={**attrs, "complete": False})
        dst[...] = arr[...]
        dst.attrs.update({**attrs, "complete": True})
        del root[f"{VOLUMES}/{tmp_name}"]
    return {**attrs, "complete": True}


def _store_dask(labels, arr, progress: bool) -> np.ndarray:
    import dask
    import dask.array as da

    if labels.chunks != da.core.normalize_chunks(arr.chunks, labels.shape):
        labels = labels.rechunk(arr.chunks)  # one writer per zarr chunk: no write races

    def write_block(block, block_info=None):
        loc = block_info[0]["array-location"]
        arr[tuple(slice(a, b) for a, b in loc)] = block
        return np.bincount(block.ravel(), minlength=3)[None, None, None, :3].astype(np.int64)

    counts = labels.map_blocks(write_block, dtype=np.int64, chunks=(1, 1, 1, 3), new_axis=3,
                               name="store-volume")
    total = counts.sum(axis=(0, 1, 2))
    if progress:
        from dask.diagnostics import ProgressBar

        with ProgressBar(dt=1.0, out=sys.stderr):
            return np.asarray(dask.compute(total)[0])
    return np.asarray(dask.compute(total)[0])


def open_volume(store, key: str) -> zarr.Array:
    """The stored volume as a (lazy) zarr array; ``KeyError`` if absent or incomplete."""
    if is_local(store):
        _recover(store, key)
    try:
        arr = zarr.open_array(_zarr_store(store, read_only=True), path=f"{VOLUMES}/{key}", mode="r")
    except (FileNotFoundError, KeyError, zarr.errors.NodeNotFoundError):
        raise KeyError(f"no volume {key!r} in {os.fspath(store)!r}") from None
    if not arr.attrs.get("complete"):
        raise KeyError(f"volume {key!r} in {os.fspath(store)!r} is incomplete")
    return arr


def read_volume(store, key: str) -> tuple[np.ndarray, dict[str, Any]]:
    """The stored volume as a numpy array, with its attributes."""
    arr = open_volume(store, key)
    return arr[...], dict(arr.attrs)
