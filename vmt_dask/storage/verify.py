"""What a store holds, checked: :func:`verify_store`; and :func:`clean_store` for leftovers."""
from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from .atomic import parse_temp_name, recover_dir
from .lease import Lease, LeaseInfo, read_lease
from .location import resolve
from .records import read_records
from .volumes import VOLUMES, complete_volumes

logger = logging.getLogger(__name__)

__all__ = ["StoreReport", "verify_store", "clean_store", "find_leftovers"]


@dataclass
class StoreReport:
    """Result of :func:`verify_store` (all paths store-relative).

    Attributes
    ----------
    store : str
        The store, credentials removed.
    records_ok : list of str
        Intact records.
    records_damaged : dict
        ``{path: reason}``: present but empty, truncated, ``{}``, unsealed or mismatching;
        they read as absent.
    volumes_ok : list of str
        Complete, intact volume keys.
    volumes_damaged : dict
        ``{key: [problems]}``: a chunk or the metadata missing, truncated or (deep check)
        altered; they read as absent.
    volumes_incomplete : list of str
        Data without a manifest (a write not finished); they read as absent.
    leftovers : list of str
        ``.tmp-``/``.old-`` entries of killed writers (:func:`clean_store` removes them).
    lease : LeaseInfo or None
        The current lease, if any.
    deep : bool
        Whether every chunk was hashed.
    """

    store: str
    records_ok: list[str] = field(default_factory=list)
    records_damaged: dict[str, str] = field(default_factory=dict)
    volumes_ok: list[str] = field(default_factory=list)
    volumes_damaged: dict[str, list[str]] = field(default_factory=dict)
    volumes_incomplete: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    lease: "LeaseInfo | None" = None
    deep: bool = True

    @property
    def ok(self) -> bool:
        """True when nothing is damaged or incomplete (leftovers and the lease do not count)."""
        return not (self.records_damaged or self.volumes_damaged or self.volumes_incomplete)

    @property
    def absent(self) -> set[str]:
        """Record paths and volume keys that read as absent although something is there."""
        return set(self.records_damaged) | set(self.volumes_damaged) | set(self.volumes_incomplete)

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.store, "ok": self.ok, "deep": self.deep,
            "records": {"ok": len(self.records_ok), "damaged": dict(self.records_damaged)},
            "volumes": {"ok": len(self.volumes_ok), "damaged": dict(self.volumes_damaged),
                        "incomplete": list(self.volumes_incomplete)},
            "leftovers": list(self.leftovers),
            "lease": None if self.lease is None else {**self.lease.to_dict(), "stale": self.lease.stale()},
        }

    def lines(self) -> list[str]:
        """Human-readable summary, one finding per line."""
        out = [f"{self.store}: {len(self.records_ok)} records intact, {len(self.volumes_ok)} volumes intact"
               + (" (every chunk hashed)" if self.deep else " (sizes checked)")]
        out += [f"damaged record {p}: {r}" for p, r in sorted(self.records_damaged.items())]
        out += [f"damaged volume {k}: {'; '.join(ps)}" for k, ps in sorted(self.volumes_damaged.items())]
        out += [f"incomplete volume {k}" for k in self.volumes_incomplete]
        out += [f"leftover {p}" for p in self.leftovers]
        if self.lease is not None:
            out.append(f"lease: {self.lease.describe()}{' (stale)' if self.lease.stale() else ''}")
        return out


def find_leftovers(store) -> list[str]:
    """Store-relative paths of ``.tmp-``/``.old-`` entries left by killed writers."""
    loc = resolve(store)
    out = []
    try:
        found = loc.fs.find(loc.root, withdirs=True, detail=False)
    except FileNotFoundError:
        return []
    for p in found:
        rel = loc.rel(p)
        parts = rel.split("/")
        # report the outermost temporary only (not the files inside a .tmp- directory)
        for i, part in enumerate(parts):
            if parse_temp_name(part):
                top = "/".join(parts[:i + 1])
                if top not in out:
                    out.append(top)
                break
    return sorted(out)


def verify_store(store, *, deep: bool = True, records_prefix: str = "records") -> StoreReport:
    """Check every record and volume of ``store`` against its checksum; read-only.

    Parameters
    ----------
    deep : bool
        Hash every chunk of every volume (reads the compressed volumes once; ~1 GB/s).
        ``False`` checks manifests, metadata and chunk sizes only (finds deleted and
        truncated chunks, not bytes altered in place).

    Raises
    ------
    InputError
        The store does not exist.
    """
    loc = resolve(store)
    if not loc.fs.exists(loc.root):
        raise InputError(f"no such store: {loc.display()}")
    rep = StoreReport(store=loc.display(), deep=deep)
    intact, damaged = read_records(loc, prefix=records_prefix)
    rep.records_ok = sorted(intact)
    rep.records_damaged = damaged
    for key, chk in complete_volumes(loc, deep=deep).items():
        if chk.state == "ok":
            rep.volumes_ok.append(key)
        elif chk.state == "damaged":
            rep.volumes_damaged[key] = chk.problems
        elif chk.state == "incomplete":
            rep.volumes_incomplete.append(key)
    rep.leftovers = find_leftovers(loc)
    rep.lease = read_lease(loc)
    return rep


#: Seconds of slack below the lease's start time when :func:`clean_store` decides what may belong
#: to this run: Linux stamps files from a coarse kernel clock (up to one scheduler tick, ~4-10 ms,
#: behind ``time.time()``) and object stores to the second, so a temporary this run made just after
#: taking the lease can look older than the lease (seen once in the suite).  A killed writer's
#: leftover that young is kept and removed by the next clean.
MTIME_SLACK_S = 2.0


def clean_store(store, lease: Lease, *, older_than: "float | None" = None) -> list[str]:
    """Remove leftovers of killed writers (``.tmp-`` entries) and settle ``.old-`` ones.

    Only the lease holder may clean: ``lease`` must be a held lease on this store.  Call it
    right after acquiring the lease, before submitting work: temporaries younger than
    ``older_than`` (Unix time; default: when the lease was acquired, less
    :data:`MTIME_SLACK_S`) are kept, since they may belong to this run.  On stores without
    modification times every temporary is removed.
    An ``.old-<token>-<key>`` volume whose ``<key>`` is absent is put back (a writer killed
    between its two renames); otherwise it is deleted.

    Returns the store-relative paths removed or restored.

    Raises
    ------
    InputError
        ``lease`` is not a held lease on ``store``.
    """
    loc = resolve(store)
    if not isinstance(lease, Lease) or lease.loc.root != loc.root or lease.lost:
        raise InputError(f"clean_store needs the held lease of {loc.display()!r}")
    lease.check()
    # the default cutoff keeps MTIME_SLACK_S more: a temporary made right after the lease was
    # taken can carry an mtime *before* lease.info.started (the file system's coarse clock)
    cutoff = lease.info.started - MTIME_SLACK_S if older_than is None else float(older_than)
    done = []
    for rel in find_leftovers(loc):
        kind, name = parse_temp_name(rel.rsplit("/", 1)[-1])
        path = loc.path(rel)
        if kind == "old" and loc.local and rel.startswith(VOLUMES + "/"):
            final = os.path.join(os.path.dirname(path), name)
            if recover_dir(final):
                done.append(f"restored {rel}")
                continue
            if not os.path.exists(path):
                done.append(f"removed {rel}")
                continue
        try:
            info = loc.fs.info(path)
        except FileNotFoundError:
            continue
        mtime = _mtime(info)
        if mtime is not None and mtime >= cutoff:
            continue
        try:
            if loc.local:
                shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)
            else:
                loc.fs.rm(path, recursive=True)
        except FileNotFoundError:
            continue
        except OSError as exc:
            # still being written (a task of an interrupted run that is still running on a worker
            # of a shared cluster): cleaning is best effort, the next run takes it
            logger.info("leftover %s not removed now: %s", rel, exc)
            continue
        done.append(f"removed {rel}")
    return done


def _mtime(info: dict) -> "float | None":
    for k in ("mtime", "LastModified", "last_modified", "created"):
        v = info.get(k)
        if v is None:
            continue
        if hasattr(v, "timestamp"):
            return float(v.timestamp())
        try:
            return float(v)
        except (TypeError, ValueError):
            continue
    return None if info.get("type") else time.time()
