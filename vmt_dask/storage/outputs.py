"""Atomic outputs on any store: files and Zarr groups that appear complete or not at all."""
from __future__ import annotations

import contextlib
import os
from typing import Iterator

from .atomic import atomic_path, write_file_atomic
from .location import resolve

__all__ = ["write_output", "atomic_group"]


def write_output(target: "str | os.PathLike", data: bytes) -> str:
    """Write ``data`` to the file ``target`` (local path or fsspec URL) atomically.

    Local: temporary sibling + fsync + rename (the old file stays until the new one is
    complete).  Remote: one PUT (atomic on object stores).  Returns ``target`` as a string.

    Raises
    ------
    OSError
        The file cannot be written; the old one is untouched.
    """
    loc = resolve(target)
    if loc.local:
        write_file_atomic(loc.root, data)
    else:
        parent = loc.root.rsplit("/", 1)[0]
        if parent:
            loc.fs.makedirs(parent, exist_ok=True)
        loc.fs.pipe_file(loc.root, data)
    return os.fspath(target)


@contextlib.contextmanager
def atomic_group(store: "str | os.PathLike", group: str) -> Iterator[str]:
    """Replace the Zarr group ``group`` of ``store`` with a complete new one.

    Yields the path (local stores: a hidden temporary sibling ``.tmp-<token>-<group>`` of the
    group's directory) to write the new group to as a standalone Zarr store, e.g.
    ``ds.to_zarr(target, mode="w")``.  On success it is renamed into place
    (:func:`~vmt_dask.storage.atomic.atomic_path`), replacing the old group only now; on an
    error or a kill the old group is untouched.

    On object stores there is no rename: the target is the group itself, rewritten in place
    (not atomic; readers should check the group is complete).
    """
    loc = resolve(store)
    if loc.local:
        with atomic_path(loc.path(group)) as tmp:
            yield str(tmp)
    else:
        yield f"{loc.url.rstrip('/')}/{group}"
