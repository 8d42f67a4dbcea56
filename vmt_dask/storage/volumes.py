"""Label volumes in a Zarr (v3) store: chunked, compressed uint8 arrays with provenance and digests.

Layout (store-relative)::

    volumes/<key>/zarr.json            Zarr array metadata; attributes = provenance
    volumes/<key>/c/<i>/<j>/<k>        compressed chunks (every chunk is written)
    volumes/<key>/vmt-manifest.json    sealed manifest, written LAST: size and SHA-256 of
                                       zarr.json and of every chunk

A volume is **complete** exactly when its manifest is intact and every file it lists has
its recorded size; a volume is **read** only through a store wrapper that checks each chunk's
bytes against the manifest as zarr fetches them, so a deleted, truncated or altered chunk
raises :class:`~vmt_dask.storage.integrity.DamagedError` (a ``KeyError``) and is never
decoded as zeros.  Reading never writes.

Writing (see :func:`write_volume`):

* **local** stores: the array is written into a hidden sibling ``volumes/.tmp-<token>-<key>``
  (streamed block by block for dask arrays), the manifest is written last inside it, and the
  directory is put into place (:func:`~vmt_dask.storage.atomic.replace_dir`): an
  overwritten volume is swapped out in one atomic ``renameat2(RENAME_EXCHANGE)`` on Linux
  and removed after; elsewhere it is moved aside first.  A reader sees the old volume or
  the new one (with the portable fallback also, for the instant between its two renames or
  after a writer was killed exactly there, no volume); never a mix.
* **remote** (fsspec) stores: the previous manifest, if any, is deleted first (the old volume
  becomes invisible), then the chunks are streamed directly to ``volumes/<key>`` block by block
  (no copy of the volume in memory or in the store) and the manifest is PUT last.
"""
from __future__ import annotations

import asyncio
import datetime as _dt
import functools
import json
import os
import re
import shutil
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from zarr.storage import WrapperStore

from ..errors import InputError
from .atomic import parse_temp_name, recover_dir, replace_dir, temp_name, write_file_atomic
from .integrity import DamagedError, digest, seal, unseal
from .location import Location, resolve

__all__ = [
    "VOLUMES", "MANIFEST", "write_volume", "read_volume", "open_volume", "list_volumes",
    "volume_exists", "check_volume", "complete_volumes", "delete_volume", "VolumeCheck",
    "check_key", "check_writable", "open_root",
]

VOLUMES = "volumes"
MANIFEST = "vmt-manifest.json"
_FORMAT = "vmt-volume/1"
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------
def check_key(key: str) -> str:
    """``key`` if it is a valid volume key (letters, digits, ``_-.``; no leading dot)."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise InputError(
            f"volume key {key!r} is not valid: use letters, digits, '_', '-', '.', "
            "starting with a letter or digit")
    return key


def check_writable(store) -> None:
    """Raise InputError unless a local store can be written.

    Creates the store directory if it is missing and writes and removes a probe file in it
    (permission bits alone do not tell, e.g. for root or read-only mounts).  Remote stores
    are not probed.
    """
    loc = resolve(store)
    if not loc.local:
        return
    try:
        os.makedirs(loc.root, exist_ok=True)
        probe = os.path.join(loc.root, temp_name("probe"))
        with open(probe, "xb"):
            pass
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"store {loc.display()!r} is not writable: {exc.strerror or exc}") from None


def open_root(store, *, mode: str = "a"):
    """The store's root Zarr group (created with ``mode="a"`` if missing; ``"r"`` reads)."""
    import zarr

    loc = resolve(store)
    if mode == "r":
        return zarr.open_group(loc.zarr_store(read_only=True), mode="r")
    return zarr.open_group(loc.zarr_store(), mode=mode)


def _vrel(key: str, *parts: str) -> str:
    return "/".join((VOLUMES, key) + parts)


class _RecordingStore(WrapperStore):
    """Records ``(size, digest)`` of every value written under ``prefix``."""

    def __init__(self, store, prefix: str = "", written: dict | None = None):
        super().__init__(store)
        self._prefix = prefix.rstrip("/") + "/"
        self.written = {} if written is None else written

    def _with_store(self, store):
        return type(self)(store, self._prefix, self.written)

    async def set(self, key, value):
        await self._store.set(key, value)
        if key.startswith(self._prefix):
            data = value.to_bytes()
            self.written[key[len(self._prefix):]] = [len(data), digest(data)]


class _VerifyingStore(WrapperStore):
    """Checks every read under ``prefix`` against a volume manifest (module level: picklable,
    so ``dask.array.from_zarr(open_volume(...))`` works on distributed workers too)."""

    def __init__(self, store, prefix: str = "", files: dict | None = None, label: str = ""):
        super().__init__(store)
        self._prefix = prefix.rstrip("/") + "/"
        self._files = files or {}
        self._label = label

    def _with_store(self, store):
        return type(self)(store, self._prefix, self._files, self._label)

    async def get(self, key, prototype, byte_range=None):
        rel = key[len(self._prefix):] if key.startswith(self._prefix) else None
        expected = self._files.get(rel) if rel is not None else None
        if expected is None:
            return await self._store.get(key, prototype, byte_range)
        buf = await self._store.get(key, prototype, None)
        if buf is None:
            raise DamagedError(f"{self._label}: {rel} is missing")
        data = buf.as_numpy_array()  # a view of the bytes read (no copy on CPU buffers)
        if data.nbytes != expected[0]:
            raise DamagedError(f"{self._label}: {rel} has {data.nbytes} bytes, expected {expected[0]}")
        # hashlib releases the GIL: hash in a worker thread so chunk reads keep overlapping
        if await asyncio.to_thread(digest, data) != expected[1]:
            raise DamagedError(f"{self._label}: {rel} fails its checksum")
        if byte_range is not None:
            return await self._store.get(key, prototype, byte_range)
        return buf

    async def get_partial_values(self, prototype, key_ranges):
        return [await self.get(k, prototype, r) for k, r in key_ranges]


# --------------------------------------------------------------------------------------
# manifest and checks
# --------------------------------------------------------------------------------------
@dataclass
class VolumeCheck:
    """Outcome of :func:`check_volume`.

    ``state`` is ``"ok"`` (complete and intact as far as checked), ``"absent"`` (nothing
    there), ``"incomplete"`` (data without a manifest: a write in progress or killed, or a
    volume from before manifests) or ``"damaged"`` (a listed piece is missing, has the wrong
    size or fails its checksum; ``problems`` says which).  Only ``"ok"`` counts as stored.
    """

    key: str
    state: str
    problems: list[str] = field(default_factory=list)
    attrs: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.state == "ok"


def _read_manifest(loc: Location, key: str) -> dict:
    """The intact manifest of ``key`` (KeyError if absent, DamagedError if damaged)."""
    path = loc.path(_vrel(key, MANIFEST))
    try:
        data = loc.fs.cat_file(path)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise KeyError(f"no volume {key!r} in {loc.display()!r}") from None
    man = unseal(data, f"volume {key!r} manifest")
    if man.get("format") != _FORMAT or not isinstance(man.get("files"), dict) or man.get("key") != key:
        raise DamagedError(f"volume {key!r} manifest: unexpected content")
    return man


def _metadata(loc: Location, key: str, man: dict) -> dict:
    """The verified zarr.json document of ``key``."""
    label = f"volume {key!r} in {loc.display()!r}"
    try:
        data = loc.fs.cat_file(loc.path(_vrel(key, "zarr.json")))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise DamagedError(f"{label}: zarr.json is missing") from None
    size, dig = man["files"].get("zarr.json", (None, None))
    if len(data) != size or digest(data) != dig:
        raise DamagedError(f"{label}: zarr.json fails its checksum")
    return json.loads(data)


def _listing(loc: Location, prefix: str) -> dict[str, int]:
    """Sizes of all files under ``prefix`` (store-relative), keyed by store-relative path."""
    base = loc.path(prefix)
    try:
        found = loc.fs.find(base, detail=True)
    except FileNotFoundError:
        return {}
    return {loc.rel(p): int(info.get("size") or 0) for p, info in found.items()
            if info.get("type", "file") == "file"}


def _check_from(loc: Location, key: str, sizes: dict[str, int], deep: bool) -> VolumeCheck:
    prefix = _vrel(key) + "/"
    own = {p[len(prefix):]: s for p, s in sizes.items() if p.startswith(prefix)}
    if MANIFEST not in own:
        return VolumeCheck(key, "incomplete" if own else "absent",
                           ["no manifest (write not finished)"] if own else [])
    try:
        man = _read_manifest(loc, key)
        meta = _metadata(loc, key, man)
    except DamagedError as exc:
        return VolumeCheck(key, "damaged", [str(exc)])
    except KeyError:
        return VolumeCheck(key, "absent")
    problems = []
    for rel, (size, _) in sorted(man["files"].items()):
        if rel not in own:
            problems.append(f"{rel} is missing")
        elif own[rel] != size:
            problems.append(f"{rel} has {own[rel]} bytes, expected {size}")
    if deep and not problems:
        rels = [r for r in sorted(man["files"]) if r != "zarr.json"]
        for i in range(0, len(rels), 256):
            batch = rels[i:i + 256]
            # cat_ranges: concurrent on async filesystems, and no glob expansion of the paths
            datas = loc.fs.cat_ranges([loc.path(_vrel(key, r)) for r in batch], None, None,
                                      on_error="return")
            for r, data in zip(batch, datas):
                if not isinstance(data, (bytes, bytearray)):
                    problems.append(f"{r} is unreadable")
                elif digest(data) != man["files"][r][1]:
                    problems.append(f"{r} fails its checksum")
    if problems:
        return VolumeCheck(key, "damaged", problems)
    return VolumeCheck(key, "ok", [], dict(meta.get("attributes", {})))


def check_volume(store, key: str, *, deep: bool = False) -> VolumeCheck:
    """Check one stored volume without reading its data (``deep=True``: hash every chunk too).

    The shallow check reads the manifest and zarr.json (both verified) and lists the volume's
    files with their sizes: it finds missing and truncated chunks.  ``deep`` also detects
    chunks whose bytes were altered in place (same size), at the cost of reading the
    compressed volume once (SHA-256, ~1 GB/s).
    """
    loc = resolve(store)
    check_key(key)
    return _check_from(loc, key, _listing(loc, _vrel(key)), deep)


def volume_exists(store, key: str, *, deep: bool = False) -> bool:
    """True if volume ``key`` is complete and intact (:func:`check_volume`, shallow by default)."""
    return check_volume(store, key, deep=deep).ok


def _volume_names(loc: Location, sizes: dict[str, int]) -> list[str]:
    names = set()
    for p in sizes:
        parts = p.split("/")
        if len(parts) >= 3 and parts[0] == VOLUMES and not parts[1].startswith("."):
            names.add(parts[1])
    return sorted(names)


def complete_volumes(store, *, deep: bool = False) -> dict[str, VolumeCheck]:
    """Check every volume of ``store`` (one listing plus two small reads per volume).

    Returns ``{key: VolumeCheck}`` for every non-hidden entry under ``volumes/``, in key
    order; use ``{k for k, c in ... if c.ok}`` for the complete ones.
    """
    loc = resolve(store)
    sizes = _listing(loc, VOLUMES)
    return {k: _check_from(loc, k, sizes, deep) for k in _volume_names(loc, sizes)}


def list_volumes(store) -> dict[str, dict[str, Any]]:
    """Complete, intact volumes of ``store`` with their attributes, sorted by key."""
    return {k: c.attrs for k, c in complete_volumes(store).items() if c.ok}


def open_volume(store, key: str):
    """The stored volume as a lazy, verifying ``zarr.Array``.

    Every chunk read through it is checked against the manifest.

    Raises
    ------
    KeyError
        No complete volume ``key`` (absent, or a write not finished).
    DamagedError
        (a KeyError) The manifest or metadata is damaged, or, on reading, a chunk is
        missing, truncated or fails its checksum.
    """
    import zarr

    loc = resolve(store)
    check_key(key)
    man = _read_manifest(loc, key)
    _metadata(loc, key, man)
    wrapped = _VerifyingStore(loc.zarr_store(read_only=True), _vrel(key),
                        {k: tuple(v) for k, v in man["files"].items()},
                        f"volume {key!r} in {loc.display()!r}")
    return zarr.open_array(wrapped, path=_vrel(key), mode="r")


def read_volume(store, key: str) -> tuple[np.ndarray, dict[str, Any]]:
    """The stored volume as a numpy array (every chunk verified), with its attributes.

    Raises KeyError / DamagedError as :func:`open_volume`.
    """
    arr = open_volume(store, key)
    return arr[...], dict(arr.attrs)


def delete_volume(store, key: str) -> None:
    """Remove volume ``key`` (the manifest first, so it is never seen half-deleted).

    For writers only (hold the store's lease).  Missing volumes are ignored.
    """
    loc = resolve(store)
    check_key(key)
    with _suppress_missing():
        loc.fs.rm_file(loc.path(_vrel(key, MANIFEST)))
    if loc.local:
        path = loc.path(_vrel(key))
        if os.path.isdir(path):
            aside = os.path.join(os.path.dirname(path), temp_name(key, "old"))
            os.replace(path, aside)
            shutil.rmtree(aside, ignore_errors=True)
    else:
        with _suppress_missing():
            loc.fs.rm(loc.path(_vrel(key)), recursive=True)


class _suppress_missing:
    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        return typ is not None and issubclass(typ, (FileNotFoundError, KeyError))


# --------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------
def _attrs(labels_shape, theta, seed, voxel_size, chi2_dof, tile, extra) -> dict[str, Any]:
    from .. import __version__
    from ..domain import PHASES
    from ..model import Theta

    th = theta if isinstance(theta, Theta) else Theta.from_sequence(theta)
    if np.ndim(voxel_size) == 0:
        vs: Any = float(voxel_size)
    else:
        vs = [float(v) for v in voxel_size]
    attrs = {
        "theta": th.to_array().tolist(),
        "theta_names": list(th.to_dict()),
        "seed": int(seed),
        "shape": [int(s) for s in labels_shape],
        "voxel_size": vs,
        "voxel_size_unit": "micrometre",
        "chi2_dof": int(chi2_dof),
        "tile": int(tile),
        "labels": dict(PHASES),
        "axes": ["x", "y", "z"],
        "software": f"vmt-dask {__version__}",
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    attrs.update(extra or {})
    return attrs


def _write_region(url: str, path: str, region, block) -> tuple[np.ndarray, dict]:
    """Write one block into the array at ``path``; its phase counts and chunk digests."""
    import zarr

    loc = resolve(url)
    rec = _RecordingStore(loc.zarr_store(), path)
    block = np.asarray(block, dtype=np.uint8)
    with zarr.config.set({"array.write_empty_chunks": True}):  # every chunk is a file the manifest lists
        arr = zarr.open_array(rec, path=path, mode="r+")
        arr[region] = block
    # count_nonzero of a bool mask: bincount would first cast the block to int64 (8x its size)
    n1, n2 = np.count_nonzero(block == 1), np.count_nonzero(block == 2)
    counts = np.array([block.size - n1 - n2, n1, n2], dtype=np.int64)
    return counts, rec.written


def _write_numpy(url: str, path: str, labels: np.ndarray, chunks) -> tuple[np.ndarray, dict]:
    """Write an in-memory volume chunk by chunk, in order (:func:`_write_region` per chunk, as the
    dask path's blocks); its phase counts and chunk digests."""
    import itertools

    counts = np.zeros(3, np.int64)
    files: dict = {}
    starts = [range(0, n, c) for n, c in zip(labels.shape, chunks)]
    for corner in itertools.product(*starts):
        region = tuple(slice(a, min(a + c, n)) for a, c, n in zip(corner, chunks, labels.shape))
        c, w = _write_region(url, path, region, labels[region])
        counts += c
        files.update(w)
    return counts, files


#: The volumes' compressor (zarr v3 ``blosc`` codec configuration; uint8, so typesize 1).
_BLOSC = {"typesize": 1, "cname": "zstd", "clevel": 3, "shuffle": "bitshuffle", "blocksize": 0}


def _compressor():
    import zarr

    return zarr.codecs.BloscCodec(cname=_BLOSC["cname"], clevel=_BLOSC["clevel"], shuffle=_BLOSC["shuffle"])


@functools.lru_cache(maxsize=16)
def _array_document(shape: tuple, chunks: tuple) -> "str | None":
    """The zarr.json document zarr itself writes for a volume of this shape and chunking
    (attributes empty), as JSON text; None when its codecs are not the ``bytes`` + ``blosc``
    pair :func:`_write_local_direct` encodes (another zarr version): the caller then writes
    through zarr."""
    import zarr
    from zarr.storage import MemoryStore

    found: dict = {}
    zarr.create_array(MemoryStore(found), shape=shape, chunks=chunks, dtype=np.uint8, compressors=_compressor(),
                      fill_value=0)
    doc = json.loads(found["zarr.json"].to_bytes())
    codecs = doc.get("codecs")
    if (doc.get("chunk_key_encoding") != {"name": "default", "configuration": {"separator": "/"}}
            or doc.get("fill_value") != 0 or not isinstance(codecs, list) or len(codecs) != 2
            or codecs[0].get("name") != "bytes" or codecs[1] != {"name": "blosc", "configuration": _BLOSC}):
        return None
    return json.dumps(doc)


def _write_local_direct(root: str, labels: np.ndarray, chunks: tuple, attrs: dict,
                        doc: str) -> tuple[np.ndarray, dict, bytes]:
    """Write an in-memory volume into the (new, empty) local directory ``root`` as the files zarr
    writes (``zarr.json`` and ``c/i/j/k`` chunks, edge chunks padded with the fill value 0, each
    compressed by the same blosc codec), without zarr's async store round trips: ~7 per volume,
    most of a small volume's write time.  ``tests/store`` checks that zarr reads it back equal
    and that the chunk files are byte-identical to zarr's own.

    Returns (phase counts, {relative path: [size, digest]} of the chunks, zarr.json bytes).
    """
    import itertools

    from numcodecs import Blosc

    codec = Blosc(cname=_BLOSC["cname"], clevel=_BLOSC["clevel"], shuffle=Blosc.BITSHUFFLE,
                  blocksize=_BLOSC["blocksize"])
    labels = np.ascontiguousarray(labels, dtype=np.uint8)
    shape = labels.shape
    files: dict = {}
    made: set = set()
    pad = np.zeros(chunks, np.uint8)
    for idx in itertools.product(*(range(-(-n // c)) for n, c in zip(shape, chunks))):
        region = tuple(slice(i * c, min((i + 1) * c, n)) for i, c, n in zip(idx, chunks, shape))
        block = labels[region]
        if block.shape != chunks:  # an edge chunk: zarr stores the full chunk, padded with the fill value
            pad[...] = 0
            pad[tuple(slice(0, b) for b in block.shape)] = block
            block = pad
        data = codec.encode(np.ascontiguousarray(block))
        parent = os.path.join(root, "c", *map(str, idx[:-1]))
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        with open(os.path.join(parent, str(idx[-1])), "wb") as fh:
            fh.write(data)
        files["c/" + "/".join(map(str, idx))] = [len(data), digest(data)]
    # count_nonzero of a bool mask: bincount would first cast the volume to int64 (8x its size)
    n1, n2 = np.count_nonzero(labels == 1), np.count_nonzero(labels == 2)
    counts = np.array([labels.size - n1 - n2, n1, n2], dtype=np.int64)
    total = int(counts.sum())
    attrs["phase_fractions"] = {name_: float(counts[v]) / total for name_, v in (("pore", 0), ("SE", 1), ("AM", 2))}
    attrs["complete"] = True
    document = json.loads(doc)
    document["attributes"] = attrs
    meta = json.dumps(document, indent=2).encode()
    with open(os.path.join(root, "zarr.json"), "wb") as fh:
        fh.write(meta)
    return counts, files, meta


def _line_progress_class():
    from dask.callbacks import Callback

    class LineProgress(Callback):
        """Progress of a local dask computation as plain lines (no ``\\r``), for logs and pipes:
        one line at most every ``dt`` seconds (default 10), and one at the end, each with the
        share done, the blocks, the elapsed time and an ETA from the rate so far."""

        def __init__(self, out, dt: float = 10.0, label: str = "writing volume"):
            super().__init__()
            self._out, self._dt, self._label = out, float(dt), label

        def _start(self, dsk):
            self._t0 = self._last = time.monotonic()

        def _posttask(self, key, result, dsk, state, worker_id):
            now = time.monotonic()
            done = len(state["finished"])
            total = done + sum(len(state[k]) for k in ("ready", "waiting", "running"))
            if now - self._last >= self._dt and 0 < done < total:
                self._last = now
                el = now - self._t0
                eta = el * (total - done) / done
                print(f"{self._label}: {100 * done / total:.0f} % ({done}/{total} tasks), {el:.0f} s elapsed, "
                      f"ETA {eta:.0f} s", file=self._out, flush=True)

        def _finish(self, dsk, state, errored):
            if not errored:
                print(f"{self._label}: done in {time.monotonic() - self._t0:.0f} s", file=self._out, flush=True)

    return LineProgress


def _LineProgress(out, dt: float = 10.0, label: str = "writing volume"):
    """A dask callback printing plain progress lines (see ``LineProgress`` above)."""
    return _line_progress_class()(out, dt=dt, label=label)


def _write_dask(url: str, path: str, labels, progress: bool, scheduler=None) -> tuple[np.ndarray, dict]:
    """Write a dask array block by block (blocks aligned with the storage chunks).

    One task per block writes it and returns its phase counts and chunk digests; a block is
    released as soon as it is written, so memory is bounded by the blocks in flight.
    """
    import dask

    def one(block, block_info=None):
        region = tuple(slice(a, b) for a, b in block_info[0]["array-location"])
        out = np.empty((1, 1, 1), dtype=object)
        out[0, 0, 0] = _write_region(url, path, region, block)
        return out

    results = labels.map_blocks(one, dtype=object, chunks=(1, 1, 1), name="vmt-store-volume")
    if progress:
        # a terminal gets dask's bar (redrawn in place with \r); a log file or pipe gets plain lines
        stream = sys.stderr
        if getattr(stream, "isatty", lambda: False)():
            from dask.diagnostics import ProgressBar

            bar = ProgressBar(dt=1.0, out=stream)
        else:
            bar = _LineProgress(stream)
        with bar:
            (res,) = dask.compute(results, scheduler=scheduler)
    else:
        (res,) = dask.compute(results, scheduler=scheduler)
    counts = np.zeros(3, np.int64)
    files: dict = {}
    for c, w in res.ravel():
        counts += c
        files.update(w)
    return counts, files


def write_volume(store, key: str, labels, *, theta, seed: int, voxel_size,
                 chi2_dof: int = 2, tile: int | None = None, overwrite: bool = False,
                 chunks: "tuple[int, int, int] | None" = None, extra_attrs: dict | None = None,
                 progress: bool = False, durable: bool = True) -> dict[str, Any]:
    """Store a label volume as ``volumes/<key>``; returns its attributes.

    Parameters
    ----------
    store : str or os.PathLike
        Local directory or fsspec URL (see :func:`vmt_dask.storage.resolve`).
    key : str
        Volume key (:func:`check_key`).
    labels : numpy.ndarray or dask.array.Array, shape (nx, ny, nz), integer
        Label volume, 0 = pore, 1 = SE, 2 = AM (stored as uint8).  A dask array is streamed
        block by block (rechunked to the storage chunks), so memory stays bounded by a few
        blocks on any store.
    theta, seed, voxel_size, chi2_dof, tile
        Provenance (model parameters, seed, voxel size in micrometres: a scalar or
        ``(dx, dy, dz)``).
    overwrite : bool
        Replace an existing complete volume.  Without it an intact volume ``key`` raises
        :class:`InputError` before anything is written; a damaged or incomplete one (deep
        check: every chunk hashed) is replaced (repair).
    chunks : tuple of 3 int, optional
        Storage chunk shape (default: 128 per axis, clipped to the shape).
    durable : bool
        fsync the manifest before the volume is put into place (default).  ``False`` for
        volumes that can be regenerated (a study's realizations): a killed process still
        never leaves a visible partial volume (the rename), and after a power cut chunks that
        did not reach the disk fail the manifest's sizes or digests, so the volume reads as
        damaged and is regenerated, never as wrong data.

    The volume becomes visible only once completely written, with its manifest written last
    (module docstring).  Phase fractions are computed while writing (``phase_fractions``).

    Raises
    ------
    InputError
        Bad key, not a 3-D array, existing volume without ``overwrite``, unwritable store.
    OSError
        The store failed during the write (e.g. ``ENOSPC``); nothing visible has changed and
        the temporary is removed (local stores).
    """
    import dask.array as da
    import zarr

    from ..model import DEFAULT_TILE

    check_key(key)
    if getattr(labels, "ndim", None) != 3:
        raise InputError(f"labels must be a 3D array, got shape {getattr(labels, 'shape', None)}")
    loc = resolve(store)
    if not overwrite and volume_exists(loc, key, deep=True):
        raise InputError(f"volume {key!r} already exists in {loc.display()!r} (use --overwrite)")
    check_writable(loc)
    shape = tuple(int(s) for s in labels.shape)
    if chunks is None:
        chunks = tuple(min(128, s) for s in shape)
    chunks = tuple(int(c) for c in chunks)
    attrs = _attrs(shape, theta, seed, voxel_size, chi2_dof, DEFAULT_TILE if tile is None else tile,
                   extra_attrs)
    # an in-memory volume on a local store: its files written directly (zarr's own format, checked
    # by tests/store), ~10x faster than through zarr for the study's many small volumes
    doc = None if (not loc.local or isinstance(labels, da.Array)) else _array_document(shape, chunks)
    if doc is not None and os.path.isfile(loc.path(f"{VOLUMES}/zarr.json")):
        root = None
    else:
        root = _require_volumes_group(loc)
    if loc.local:
        recover_dir(loc.path(_vrel(key)))
        name = temp_name(key)
    else:
        delete_volume(loc, key)  # manifest first: the old volume is invisible from here on
        name = key
    path = _vrel(name)
    if doc is not None:
        try:
            os.makedirs(loc.path(path))
            counts, chunk_files, meta = _write_local_direct(loc.path(path), np.asarray(labels), chunks, attrs, doc)
            manifest = {"format": _FORMAT, "key": key, "shape": list(shape), "chunks": list(chunks),
                        "files": {**chunk_files, "zarr.json": [len(meta), digest(meta)]}}
            write_file_atomic(loc.path(_vrel(name, MANIFEST)), seal(manifest), fsync=durable)
            replace_dir(loc.path(path), loc.path(_vrel(key)))
        except BaseException:
            _remove_settled(loc.path(path))
            raise
        return attrs
    compressors = _compressor()
    if root is None:
        root = _require_volumes_group(loc)
    try:
        root.create_array(path, shape=shape, chunks=chunks, dtype=np.uint8, compressors=compressors,
                          overwrite=True, attributes={**attrs, "complete": False},
                          config={"write_empty_chunks": True})
        if isinstance(labels, da.Array):
            labels = labels.astype(np.uint8)
            if labels.chunks != da.core.normalize_chunks(chunks, shape):
                labels = labels.rechunk(chunks)  # one writer per zarr chunk: no write races
            counts, files = _write_dask(loc.url, path, labels, progress)
        else:
            # one chunk per call, in order: a failure (ENOSPC) leaves no write still in flight;
            # a plain loop (no dask graph: ~20 ms per volume saved, which matters for the many
            # small volumes of a study)
            counts, files = _write_numpy(loc.url, path, np.asarray(labels), chunks)
        n_chunks = int(np.prod([-(-s // c) for s, c in zip(shape, chunks)]))
        chunk_files = {k: v for k, v in files.items() if k.startswith("c/")}
        if len(chunk_files) != n_chunks:
            raise OSError(f"volume {key!r}: {len(chunk_files)} of {n_chunks} chunks written")
        total = int(counts.sum())
        attrs["phase_fractions"] = {name_: float(counts[v]) / total
                                    for name_, v in (("pore", 0), ("SE", 1), ("AM", 2))}
        attrs["complete"] = True
        rec = _RecordingStore(loc.zarr_store(), path)
        arr = zarr.open_array(rec, path=path, mode="r+")
        arr.update_attributes(attrs)  # one zarr.json write (attrs.update writes it once per key)
        meta = loc.fs.cat_file(loc.path(_vrel(name, "zarr.json")))
        manifest = {"format": _FORMAT, "key": key, "shape": list(shape), "chunks": list(chunks),
                    "files": {**chunk_files, "zarr.json": [len(meta), digest(meta)]}}
        data = seal(manifest)
        if loc.local:
            write_file_atomic(loc.path(_vrel(name, MANIFEST)), data, fsync=durable)
            replace_dir(loc.path(path), loc.path(_vrel(key)))
        else:
            loc.fs.pipe_file(loc.path(_vrel(key, MANIFEST)), data)
    except BaseException:
        if loc.local:
            _remove_settled(loc.path(path))
        raise
    return attrs


def _require_volumes_group(loc: Location):
    """Create the root and ``volumes`` groups if missing; concurrent first writers (several
    workers writing their first volume at once) may race to create them: the loser sees
    ContainsGroupError and finds the group there on its retry."""
    import time

    import zarr

    for attempt in range(5):
        try:
            root = open_root(loc, mode="a")
            root.require_group(VOLUMES)
            return root
        except (zarr.errors.ContainsGroupError, zarr.errors.ContainsArrayError, FileExistsError):
            if attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))


def _remove_settled(path: str) -> None:
    """Remove a temporary directory, again if writes still in flight (other dask threads)
    recreate it; what survives is a ``.tmp-`` leftover for :func:`clean_store`."""
    import time

    for _ in range(20):
        shutil.rmtree(path, ignore_errors=True)
        time.sleep(0.05)
        if not os.path.exists(path):
            return


def scan_leftovers(store) -> list[str]:
    """Store-relative paths of hidden leftovers under ``volumes/`` (``.tmp-``/``.old-``)."""
    loc = resolve(store)
    try:
        entries = loc.fs.ls(loc.path(VOLUMES), detail=False)
    except FileNotFoundError:
        return []
    out = []
    for p in entries:
        name = p.rstrip("/").rsplit("/", 1)[-1]
        if parse_temp_name(name):
            out.append(f"{VOLUMES}/{name}")
    return sorted(out)
