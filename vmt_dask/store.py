"""Label volumes in a Zarr store: compatibility module.

The implementation lives in :mod:`vmt_dask.storage` (one backend for local and fsspec
stores, sealed manifests, leases, atomic outputs); this module re-exports the volume API
under its historical names so ``from vmt_dask.store import write_volume`` keeps working.
"""
from __future__ import annotations

import os  # noqa: F401  (tests patch ``store.os.replace``; the os module is shared)

from .storage.integrity import DamagedError
from .storage.location import is_local, local_path, resolve
from .storage.volumes import (
    MANIFEST,
    VOLUMES,
    VolumeCheck,
    check_key,
    check_volume,
    check_writable,
    complete_volumes,
    delete_volume,
    list_volumes,
    open_root,
    open_volume,
    read_volume,
    volume_exists,
    write_volume,
)

__all__ = [
    "write_volume", "read_volume", "open_volume", "list_volumes", "volume_exists",
    "is_local", "local_path", "open_root", "check_writable", "check_key", "VOLUMES", "MANIFEST",
    "check_volume", "complete_volumes", "delete_volume", "VolumeCheck", "DamagedError", "resolve",
]
