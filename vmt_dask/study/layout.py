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

A task is complete exactly when its record exists; records are tiny JSON files, so a
rerun lists them once and submits only what is missing.
"""
from __future__ import annotations

import json
import os
import tempfile
import uuid
from typing import Any

import fsspec

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
    """Small-file access to a study store (local path or fsspec URL).

    JSON writes are atomic: a local file is written under a temporary name and renamed;
    on object stores a single PUT is atomic.  Readers therefore see a record either
    complete or not at all.
    """

    def __init__(self, store: str | os.PathLike):
        self.url = os.fspath(store)
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self.root = self.root.rstrip("/")
        self.local = "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,))

    def path(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def exists(self, rel: str = "") -> bool:
        return self.fs.exists(self.path(rel) if rel else self.root)

    def is_empty(self) -> bool:
        """True when the store does not exist or has no entries."""
        if not self.fs.exists(self.root):
            return True
        return len(self.fs.ls(self.root, detail=False)) == 0

    def write_json(self, rel: str, obj: Any) -> None:
        """Write ``obj`` as JSON at ``rel``, atomically (complete or absent)."""
        data = json.dumps(obj, indent=1, sort_keys=True, allow_nan=True).encode()
        target = self.path(rel)
        if self.local:
            d = os.path.dirname(target)
            os.makedirs(d, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=d)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, target)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        else:
            self.fs.pipe_file(target, data)

    def read_json(self, rel: str) -> Any:
        with self.fs.open(self.path(rel), "rb") as fh:
            return json.loads(fh.read())

    def list_records(self) -> set[str]:
        """Store-relative paths of all complete records (one listing of the store)."""
        base = self.path(RECORDS)
        if not self.fs.exists(base):
            return set()
        out = set()
        n = len(self.root) + 1
        for p in self.fs.find(base):
            rel = p[n:] if p.startswith(self.root) else p
            if rel.endswith(".json") and not os.path.basename(rel).startswith(".tmp-"):
                out.add(rel)
        return out

    def remove_all(self) -> None:
        """Delete the whole store (used only for ``--new`` on a store that is a study)."""
        if self.fs.exists(self.root):
            self.fs.rm(self.root, recursive=True)

    @staticmethod
    def new_token() -> str:
        return uuid.uuid4().hex[:8]
