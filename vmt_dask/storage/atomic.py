"""Atomic replacement of files and directories (outputs and store entries).

Every writer in vmt-dask writes to a temporary sibling named ``.tmp-<token>-<name>`` and
renames it into place when complete, so a reader sees either the old output or the new one,
never a half-written one, and the old output survives until the new one is complete.

* **Files** are replaced with one ``os.replace`` (atomic on POSIX).
* **Directories** (Zarr groups and arrays) are swapped with the old one in one atomic step
  where Linux ``renameat2(RENAME_EXCHANGE)`` is available.  Elsewhere a directory cannot be
  replaced by one rename when the target exists, so the old one is first moved aside to ``.old-<token>-<name>`` and the new one
  renamed into place.  A failure between the two renames restores the old directory; a
  process killed between them leaves the old one under ``.old-`` and the target absent (never
  half-written) until a *writer* calls :func:`recover_dir` (readers never write).  The
  token has a fixed length (8 hex digits) and comes first, so names are parsed exactly (the
  leftover of ``a`` is never mistaken for that of ``a-b``) and keep their suffix (tools that
  infer a format from the extension still work on the temporary).
* On stores that are not on the local filesystem there is no rename; callers there write the
  object that makes an entry visible last (a sealed manifest or record, see
  :mod:`vmt_dask.storage.integrity`).
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Iterator

__all__ = ["atomic_path", "write_file_atomic", "replace_dir", "recover_dir", "temp_name",
           "parse_temp_name", "TMP_PREFIX", "OLD_PREFIX"]

TMP_PREFIX = ".tmp-"
OLD_PREFIX = ".old-"
_TEMP = re.compile(r"^\.(tmp|old)-(?P<token>[0-9a-f]{8})-(?P<name>.+)$")


def _token() -> str:
    return uuid.uuid4().hex[:8]


def temp_name(name: str, kind: str = "tmp") -> str:
    """A fresh hidden sibling name ``.tmp-<8 hex>-<name>`` (``kind="old"``: ``.old-...``)."""
    if kind not in ("tmp", "old"):
        raise ValueError(f"kind must be 'tmp' or 'old', got {kind!r}")
    return f".{kind}-{_token()}-{name}"


def parse_temp_name(entry: str) -> "tuple[str, str] | None":
    """``(kind, name)`` of a name made by :func:`temp_name`, else None (exact match)."""
    m = _TEMP.match(entry)
    return (m.group(1), m.group("name")) if m else None


def _fsync_dir(path: "str | os.PathLike") -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_file_atomic(path: "str | os.PathLike", data: bytes, *, fsync: bool = True) -> None:
    """Write ``data`` to the local file ``path`` atomically (temporary sibling + rename).

    Creates missing parent directories.  On any error the temporary file is removed and the
    previous content of ``path`` (if any) is untouched.

    Raises
    ------
    OSError
        The directory cannot be created or written (e.g. ``ENOSPC``, ``EROFS``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / temp_name(path.name)
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if fsync:
        _fsync_dir(path.parent)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: "str | os.PathLike", b: "str | os.PathLike") -> bool:
    """Swap two paths atomically with Linux ``renameat2(RENAME_EXCHANGE)``.

    Returns False where the call or the flag is not available (other systems, filesystems
    without support), so the caller falls back to two renames.
    """
    global _renameat2
    if _renameat2 is None:
        return False
    if _renameat2 == 0:
        import ctypes

        try:
            _renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
        except (AttributeError, OSError):
            _renameat2 = None
            return False
    import ctypes

    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), os.fspath(a))


_renameat2 = 0  # 0: not looked up yet; None: unavailable


def replace_dir(src: "str | os.PathLike", dst: "str | os.PathLike") -> None:
    """Move the complete directory ``src`` to ``dst``, replacing ``dst`` if it exists.

    Where Linux ``renameat2(RENAME_EXCHANGE)`` is available the two directories are swapped
    in one atomic step (a reader sees the old or the new one, never neither) and the old one
    is then removed from ``src``'s name; elsewhere the two-rename protocol of the module
    docstring is used.  ``src`` and ``dst`` must be on the same filesystem (siblings).

    Raises
    ------
    OSError
        A rename failed; ``dst`` then holds the old directory again (if the restore itself
        fails, the old directory is left as ``.old-<token>-<name>`` beside it).
    """
    src, dst = Path(src), Path(dst)
    if not dst.exists():
        os.replace(src, dst)
        return
    if _exchange(src, dst):
        shutil.rmtree(src, ignore_errors=True)  # the old directory, now under the temporary name
        return
    old = dst.parent / temp_name(dst.name, "old")
    os.replace(dst, old)
    try:
        os.replace(src, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            if not dst.exists():
                os.replace(old, dst)
        raise
    shutil.rmtree(old, ignore_errors=True)


def recover_dir(dst: "str | os.PathLike") -> bool:
    """Writer-side recovery: put back ``dst`` moved aside by a replacement that died.

    When ``dst`` is absent and exactly-named leftovers ``.old-<token>-<name>`` exist beside it,
    the newest is renamed back; when ``dst`` exists, leftovers of ``dst`` are deleted.  Only
    for writers (the caller holds the store's lease or owns the output); readers never call
    it.  Returns True when something was restored.
    """
    dst = Path(dst)
    parent = dst.parent
    if not parent.is_dir():
        return False
    # os.scandir and a suffix test first: a study's volumes/ holds ~1000 entries and every
    # volume write calls this (pathlib's iterdir cost ~10 us per entry, ~10 ms per write at the end)
    suffix = "-" + dst.name
    with os.scandir(parent) as it:
        olds = [Path(e.path) for e in it if e.name.startswith(OLD_PREFIX) and e.name.endswith(suffix)
                and parse_temp_name(e.name) == ("old", dst.name)]
    if not olds:
        return False
    olds.sort(key=lambda p: p.stat().st_mtime)
    restored = False
    if not dst.exists():
        os.replace(olds.pop(), dst)
        restored = True
    for p in olds:
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    return restored


@contextlib.contextmanager
def atomic_path(path: "str | os.PathLike") -> Iterator[Path]:
    """Write an output file or directory atomically.

    Yields a temporary sibling path (``.tmp-<token>-<name>``, not yet existing) to write the
    new output to, as a file or as a directory (e.g. a Zarr group).  When the block ends
    normally the temporary is renamed to ``path`` (a file with one ``os.replace``, a directory
    with :func:`replace_dir`), replacing the old output only now; if nothing was written
    there, ``path`` is left as it is.  If the block raises, the temporary is deleted and the
    old output is untouched.  A process killed inside the block leaves only the hidden
    temporary.

    Example::

        with atomic_path("study-regression.csv") as tmp:
            tmp.write_text(table.to_csv())

    Raises
    ------
    OSError
        From the final rename (the old output is then still in place).
    """
    path = Path(path)
    recover_dir(path)
    tmp = path.parent / temp_name(path.name)
    try:
        yield tmp
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise
    if tmp.is_dir():
        try:
            replace_dir(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _fsync_dir(path.parent)
    elif tmp.exists():
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
