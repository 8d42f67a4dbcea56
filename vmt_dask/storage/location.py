"""Where a store lives: the one place that decides "local or remote".

A *store* is named by a local path (``str`` or :class:`os.PathLike`) or by an fsspec URL
(``file://``, ``memory://``, ``s3://``, ...).  :func:`resolve` turns either into a
:class:`Location`: the fsspec filesystem, the root path inside it and whether it is the local
filesystem.  Every storage function goes through it, so the rule is written once:

* a store is **local** when fsspec resolves it to its local filesystem (a plain path, a
  ``file://`` URL or ``local://``); local stores get POSIX guarantees (atomic ``rename``,
  ``link``, ``O_EXCL``) and the writer uses them;
* anything else is **remote** (an object store or an in-memory filesystem); the only
  atomic operation assumed there is a single-object PUT.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..redact import redact

__all__ = ["Location", "resolve", "is_local", "local_path"]


@dataclass(frozen=True)
class Location:
    """A resolved store.

    Attributes
    ----------
    url : str
        The store as the user named it (path or URL), for messages.
    fs : fsspec.AbstractFileSystem
        The filesystem holding the store.
    root : str
        The store's root inside ``fs`` (no trailing slash).
    local : bool
        True when ``fs`` is the local filesystem (see module docstring).
    """

    url: str
    fs: Any
    root: str
    local: bool

    def path(self, rel: str = "") -> str:
        """Filesystem path of a store-relative path (``""`` is the root)."""
        rel = rel.strip("/")
        return f"{self.root}/{rel}" if rel else self.root

    def rel(self, path: str) -> str:
        """Store-relative form of a filesystem path returned by ``fs`` (listings)."""
        path = path.rstrip("/")
        root = self.root
        if path == root:
            return ""
        if path.startswith(root + "/"):
            return path[len(root) + 1:]
        # some filesystems drop a leading "/" in listings (memory://)
        if path.lstrip("/").startswith(root.lstrip("/") + "/"):
            return path.lstrip("/")[len(root.lstrip("/")) + 1:]
        return path

    def zarr_store(self, *, read_only: bool = False):
        """A Zarr v3 store rooted at the store's root."""
        import zarr

        if self.local:
            return zarr.storage.LocalStore(self.root, read_only=read_only)
        return zarr.storage.FsspecStore.from_url(self.url, read_only=read_only)

    def display(self) -> str:
        """The store for messages and logs, with any ``user:password@`` removed."""
        return redact(self.url)


def resolve(store: "str | os.PathLike | Location") -> Location:
    """Resolve a store path or URL once (the only "local or remote" decision in vmt-dask).

    Raises
    ------
    TypeError
        ``store`` is not a string, path or Location.
    InputError
        An empty name, or a URL whose protocol fsspec does not know (or whose driver is
        not installed).
    """
    if isinstance(store, Location):
        return store
    if not isinstance(store, (str, os.PathLike)):
        raise TypeError(f"store must be a path or URL string, got {type(store).__name__}")
    url = os.fspath(store)
    if not isinstance(url, str):
        raise TypeError(f"store must be a path or URL string, got {type(url).__name__}")
    if not url.strip():
        raise InputError("store '' is empty: give a directory path or a URL")
    import fsspec

    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ValueError, ImportError) as exc:
        raise InputError(f"store {redact(url)!r}: {exc}") from None
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    local = "file" in protocols or "local" in protocols
    root = root.rstrip("/") or "/"
    if local:
        root = os.path.abspath(root)
    return Location(url=url, fs=fs, root=root, local=local)


def is_local(store: "str | os.PathLike | Location") -> bool:
    """True when ``store`` is on the local filesystem (see :func:`resolve`)."""
    return resolve(store).local


def local_path(store: "str | os.PathLike | Location") -> Path:
    """The local directory of a local store; :class:`InputError` for a remote one."""
    loc = resolve(store)
    if not loc.local:
        raise InputError(f"store {loc.display()!r} is not on the local filesystem")
    return Path(loc.root)
