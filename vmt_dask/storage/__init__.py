"""Storage backend of vmt-dask: one interface for local directories and fsspec stores.

Layer: imports only :mod:`vmt_dask.domain`, :mod:`vmt_dask.errors` and the model (for
provenance); orchestration (study, cli, report, dashboard) imports it.

* :mod:`~vmt_dask.storage.location` -- :func:`resolve`: the one "local or remote" decision.
* :mod:`~vmt_dask.storage.integrity` -- sealed JSON records and content digests;
  :class:`DamagedError`.
* :mod:`~vmt_dask.storage.records` -- small JSON records: written atomically and sealed,
  read as absent when damaged.
* :mod:`~vmt_dask.storage.volumes` -- Zarr label volumes with a manifest written last and
  per-chunk verification on read; streamed writes of dask arrays.
* :mod:`~vmt_dask.storage.lease` -- one writer per store (lease with heartbeat).
* :mod:`~vmt_dask.storage.atomic` -- :func:`atomic_path` for outputs;
  :mod:`~vmt_dask.storage.outputs` -- :func:`write_output`, :func:`atomic_group` on any store.
* :mod:`~vmt_dask.storage.verify` -- :func:`verify_store` report; :func:`clean_store`.
"""
from .atomic import atomic_path, write_file_atomic
from .integrity import DamagedError
from .lease import Lease, LeaseBusy, LeaseInfo, LeaseLost, acquire_lease, read_lease
from .location import Location, is_local, local_path, redact, resolve
from .outputs import atomic_group, write_output
from .records import list_records, read_record, read_record_checked, read_records, write_record
from .verify import StoreReport, clean_store, verify_store
from .volumes import (
    VolumeCheck,
    check_volume,
    complete_volumes,
    delete_volume,
    list_volumes,
    open_volume,
    read_volume,
    volume_exists,
    write_volume,
)

__all__ = [
    "Location", "resolve", "is_local", "local_path", "redact",
    "DamagedError",
    "write_record", "read_record", "read_record_checked", "read_records", "list_records",
    "write_volume", "read_volume", "open_volume", "list_volumes", "volume_exists", "check_volume",
    "complete_volumes", "delete_volume", "VolumeCheck",
    "acquire_lease", "read_lease", "Lease", "LeaseInfo", "LeaseBusy", "LeaseLost",
    "atomic_path", "write_file_atomic", "write_output", "atomic_group",
    "verify_store", "clean_store", "StoreReport",
]
