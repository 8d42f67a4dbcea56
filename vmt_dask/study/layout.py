"""Where a study keeps things in its store, and small atomic JSON records.

One store (a local directory or an fsspec URL) per study::

    vmt-study.json                     study identity: spec (YAML), spec hash, version
    vmt-run.json                       the latest run: scheduler address, dashboard link, state
    <volumes>                          Zarr v3 label volumes written by vmt_dask.store
        eval-p03-e2-r1                 point 3, evaluation 2 (0 = base, q+1 = theta + delta e_q), realization 1
        structure-s0123                database structure 123
    records/realize/<volume>.json      one record per completed task, written once, atomically
    records/describe/<volume>-<PHASE>.json
    records/gradient/p03.json
    records/conduct/<volume>-<PHASE>.json
    vmt-lease.json                     the lease of the one writer (vmt_dask.storage.lease)

A task is complete exactly when its record is intact (sealed with a checksum, written last
and atomically, see vmt_dask.storage.records); records are tiny JSON files, so a rerun reads
them once and submits only what is missing or damaged.
"""
from __future__ import annotations

import os
import uuid

from ..storage.integrity import DamagedError
from ..storage.lease import LEASE_FILE
from ..storage.location import Location, resolve
from ..storage.records import list_records, read_record, read_record_checked, read_records, write_record

__all__ = [
    "STUDY_FILE",
    "RUN_FILE",
    "RECORDS",
    "eval_volume",
    "structure_volume",
    "record_path",
    "StoreFS",
]

STUDY_FILE = "vmt-study.json"
RUN_FILE = "vmt-run.json"
RECORDS = "records"


def eval_volume(point: int, evaluation: int, realization: int) -> str:
    """Volume key of a realization of a gradient evaluation."""
    return f"eval-p{point:02d}-e{evaluation}-r{realization}"


def structure_volume(index: int) -> str:
    """Volume key of a database structure."""
    return f"structure-s{index:04d}"


def record_path(stage: str, name: str) -> str:
    """Store-relative path of a task record, e.g. ``records/describe/eval-p00-e0-r0-AM.json``."""
    return f"{RECORDS}/{stage}/{name}.json"


class StoreFS:
    """Small-file access to a study store (local path or fsspec URL), on :mod:`vmt_dask.storage`.

    Records are sealed (checksum written last) and written atomically (local: temporary +
    rename; object stores: one PUT).  Readers verify them: a missing, empty, truncated,
    ``{}`` or mismatching record reads as absent (:meth:`read_record` returns None), so the
    task that writes it runs again.  "Local or remote" is decided once, by
    :func:`vmt_dask.storage.resolve`.
    """

    def __init__(self, store: "str | os.PathLike | Location"):
        self.loc = resolve(store)
        self.url = self.loc.url
        self.fs = self.loc.fs
        self.root = self.loc.root
        self.local = self.loc.local

    def path(self, rel: str) -> str:
        return self.loc.path(rel)

    def exists(self, rel: str = "") -> bool:
        return self.fs.exists(self.path(rel) if rel else self.root)

    def is_empty(self) -> bool:
        """True when the store does not exist or holds nothing but a lease and temporaries."""
        if not self.fs.exists(self.root):
            return True
        for p in self.fs.ls(self.root, detail=False):
            name = p.rstrip("/").rsplit("/", 1)[-1]
            if name != LEASE_FILE and not name.startswith("."):
                return False
        return True

    def write_json(self, rel: str, obj: dict) -> None:
        """Write ``obj`` as a sealed JSON record at ``rel``, atomically (complete or absent)."""
        write_record(self.loc, rel, obj)

    def read_record(self, rel: str) -> "dict | None":
        """The intact record at ``rel``; None when absent or damaged."""
        return read_record(self.loc, rel)

    def read_json(self, rel: str) -> dict:
        """The intact record at ``rel``.

        Raises
        ------
        FileNotFoundError
            No record at ``rel``.
        DamagedError
            (a KeyError) The record is empty, truncated, ``{}`` or fails its checksum.
        """
        rec, problem = read_record_checked(self.loc, rel)
        if rec is not None:
            return rec
        if problem is None:
            raise FileNotFoundError(f"no record {rel} in {self.loc.display()}")
        raise DamagedError(problem)

    def list_records(self) -> set[str]:
        """Store-relative paths of the record files present (one listing; not verified).

        Presence is not completeness: :meth:`read_records` says which are intact.
        """
        return list_records(self.loc, RECORDS)

    def read_records(self, rels=None) -> tuple[dict[str, dict], dict[str, str]]:
        """``(intact, damaged)``: verified records ``{rel: record}`` and ``{rel: reason}``.

        Reads every record under ``records/`` (or ``rels``) in batches; a damaged record is
        one to recompute.
        """
        return read_records(self.loc, rels, prefix=RECORDS)

    def remove_all(self) -> None:
        """Delete the whole store (used only for ``--new`` on a store that is a study).

        The caller must hold the store's lease; the lease file itself is kept.
        """
        if not self.fs.exists(self.root):
            return
        for p in self.fs.ls(self.root, detail=False):
            if p.rstrip("/").rsplit("/", 1)[-1] == LEASE_FILE:
                continue
            self.fs.rm(p, recursive=True)

    @staticmethod
    def new_token() -> str:
        return uuid.uuid4().hex[:8]
