"""Small JSON records in a store: written atomically and sealed, read as absent when damaged.

A record is a JSON object at a store-relative path (e.g. ``records/describe/<key>-AM.json``)
carrying its checksum as the last member (:func:`~vmt_dask.storage.integrity.seal`).

* Local stores: written to ``.tmp-<token>-<name>`` beside it, fsynced (unless
  ``durable=False``), renamed.
* Remote stores: one PUT (atomic on object stores).

Readers verify the checksum: a missing, empty, truncated, ``{}``, edited or pre-checksum
record reads as absent (``None``), so the task that writes it runs again.
"""
from __future__ import annotations

from typing import Any, Iterable

from .atomic import write_file_atomic
from .integrity import DamagedError, seal, unseal
from .location import resolve

__all__ = ["write_record", "read_record", "read_record_checked", "read_records", "list_records"]


def write_record(store, rel: str, obj: dict, *, durable: bool = True) -> None:
    """Write the sealed record ``obj`` at store-relative ``rel``, atomically.

    ``durable=False`` skips the two fsyncs (file and directory; 1-20 ms each on a busy disk)
    for records that can be recomputed, such as a study's task records: the rename is atomic,
    so a killed process never leaves a partial record, and after a power cut a record whose
    bytes did not reach the disk reads as damaged (the seal) or absent, never as a wrong
    value, and is recomputed.

    Raises
    ------
    TypeError
        ``obj`` is not a JSON-able dict.
    OSError
        The store cannot be written (e.g. ``ENOSPC``); the previous record, if any, is
        untouched.
    """
    loc = resolve(store)
    data = seal(obj)
    if loc.local:
        write_file_atomic(loc.path(rel), data, fsync=durable)
    else:
        parent = loc.path(rel).rsplit("/", 1)[0]
        loc.fs.makedirs(parent, exist_ok=True)
        loc.fs.pipe_file(loc.path(rel), data)


def read_record_checked(store, rel: str) -> tuple["dict | None", "str | None"]:
    """``(record, None)`` if intact, ``(None, None)`` if absent, ``(None, reason)`` if damaged."""
    loc = resolve(store)
    try:
        data = loc.fs.cat_file(loc.path(rel))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None, None
    try:
        return unseal(data, rel), None
    except DamagedError as exc:
        return None, str(exc)


def read_record(store, rel: str) -> "dict | None":
    """The intact record at ``rel``, or ``None`` if it is absent or damaged."""
    return read_record_checked(store, rel)[0]


def list_records(store, prefix: str = "records") -> set[str]:
    """Store-relative paths of the ``.json`` files under ``prefix`` (one listing, no reads).

    Hidden names (temporaries) are skipped.  Presence is not completeness: use
    :func:`read_records` to know which records are intact.
    """
    loc = resolve(store)
    base = loc.path(prefix)
    try:
        found = loc.fs.find(base)
    except FileNotFoundError:
        return set()
    out = set()
    for p in found:
        rel = loc.rel(p)
        name = rel.rsplit("/", 1)[-1]
        if name.endswith(".json") and not name.startswith("."):
            out.add(rel)
    return out


def read_records(store, rels: "Iterable[str] | None" = None, *, prefix: str = "records"
                 ) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Read and verify many records at once (batched reads).

    Parameters
    ----------
    rels : iterable of str, optional
        Store-relative paths; default: every record under ``prefix`` (:func:`list_records`).

    Returns
    -------
    intact : dict
        ``{rel: record}`` of the intact records.
    damaged : dict
        ``{rel: reason}`` of records present but damaged (empty, truncated, ``{}``, no or
        wrong checksum).  Absent paths appear in neither.
    """
    loc = resolve(store)
    rels = sorted(list_records(loc, prefix) if rels is None else set(rels))
    intact: dict[str, dict] = {}
    damaged: dict[str, str] = {}
    for i in range(0, len(rels), 512):
        batch = rels[i:i + 512]
        # cat_ranges: concurrent on async filesystems, and no glob expansion of the paths
        datas = loc.fs.cat_ranges([loc.path(r) for r in batch], None, None, on_error="return")
        for rel, data in zip(batch, datas):
            if isinstance(data, (FileNotFoundError, IsADirectoryError)):
                continue
            if isinstance(data, BaseException):
                damaged[rel] = f"{rel}: unreadable ({data})"
                continue
            try:
                intact[rel] = unseal(data, rel)
            except DamagedError as exc:
                damaged[rel] = str(exc)
    return intact, damaged
