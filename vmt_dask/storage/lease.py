"""One writer per store: a lease with owner, host, pid and heartbeat.

The lease is the sealed record ``vmt-lease.json`` at the store's root::

    {"owner": "vmt study run", "host": "node1", "pid": 4242, "pid_start": "123456",
     "boot_id": "...", "started": 1.7e9, "heartbeat": 1.7e9, "ttl_s": 60.0, "token": "9f..."}

A lease is **live** while its heartbeat is younger than its ``ttl_s``, and, when it was taken
on this host, while its process exists (same pid and process start time).  Otherwise it is
**stale** and the next writer takes it over.

Acquisition
-----------
* **Local stores**: the lease is written to a temporary file and hard-linked to its name
  (``link`` fails if the name exists, like ``O_EXCL``, and the file appears with its
  content).  A stale lease is removed only by the holder of a second link-created lock
  (``vmt-lease.json.takeover``), after checking it is still byte-for-byte the stale lease
  it read; then the taker creates its own lease with ``link`` like anyone else, so exactly
  one writer wins even when several take over at once.  Safe among processes on one host
  and on network filesystems with atomic ``link``.  (A taker killed inside those few lines
  leaves the takeover lock; it is removed once 30 s old.)
* **Object stores** (no conditional create): the writer checks the name is free, PUTs its
  lease, waits ``settle_s`` and reads it back; it holds the lease only if its own token is
  there.  **Remaining race**: two writers whose check-then-PUT sequences both complete
  within ``settle_s`` of each other are ordered by the read-back (the later PUT wins, the
  earlier writer sees a foreign token and refuses); but a writer whose PUT lands more than
  ``settle_s`` after its own free-check, while another writer's PUT + read-back happened in
  between, also sees its own token and both believe they hold it.  The heartbeat detects
  this at the next beat (it re-reads the lease and stops with :class:`LeaseLost` when the
  token is not its own), so the window is at most one heartbeat interval; stores with
  conditional writes (``If-None-Match``) would close it.

Heartbeat
---------
A daemon thread rewrites the lease every ``ttl_s / 4`` after checking the token is still its
own.  Clocks of the hosts involved are assumed to agree to well within ``ttl_s``.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import InputError
from .atomic import temp_name, write_file_atomic
from .integrity import DamagedError, seal, unseal
from .location import Location, resolve

__all__ = ["LEASE_FILE", "Lease", "LeaseInfo", "LeaseBusy", "LeaseLost", "acquire_lease", "read_lease"]

logger = logging.getLogger(__name__)

#: Store-relative name of the lease.
LEASE_FILE = "vmt-lease.json"


class LeaseBusy(InputError):
    """The store is held by another live writer (``holder`` says who)."""

    def __init__(self, message: str, holder: "LeaseInfo | None" = None):
        super().__init__(message)
        self.holder = holder


class LeaseLost(RuntimeError):
    """This process's lease was taken over (its heartbeat had gone stale) or removed."""


def _pid_start(pid: int) -> "str | None":
    """Start time of process ``pid`` in clock ticks since boot (Linux), else None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode(errors="replace")
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _boot_id() -> "str | None":
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return None


def _pid_alive(pid: int, start: "str | None") -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if start is not None:
        now = _pid_start(pid)
        if now is not None and now != start:
            return False  # pid reused by another process
    return True


@dataclass(frozen=True)
class LeaseInfo:
    """The content of a lease (all times are Unix seconds)."""

    owner: str
    host: str
    pid: int
    started: float
    heartbeat: float
    ttl_s: float
    token: str
    pid_start: "str | None" = None
    boot_id: "str | None" = None

    def age_s(self, now: "float | None" = None) -> float:
        """Seconds since the last heartbeat."""
        return (time.time() if now is None else now) - self.heartbeat

    def same_host(self) -> bool:
        return self.host == socket.gethostname() and (self.boot_id is None or self.boot_id == _boot_id())

    def process_alive(self) -> "bool | None":
        """Whether the holder's process exists (None when it runs on another host)."""
        if not self.same_host():
            return None
        return _pid_alive(self.pid, self.pid_start)

    def stale(self, now: "float | None" = None) -> bool:
        """True when the heartbeat is older than ``ttl_s`` or the holder process is gone."""
        if self.age_s(now) > self.ttl_s:
            return True
        return self.process_alive() is False

    def describe(self) -> str:
        """One line for messages: who holds it, since when, last heartbeat."""
        since = _dt.datetime.fromtimestamp(self.started, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        return (f"{self.owner!r} (host {self.host}, pid {self.pid}) since {since}, "
                f"last heartbeat {max(0.0, self.age_s()):.0f} s ago")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LeaseInfo":
        try:
            return cls(owner=str(d["owner"]), host=str(d["host"]), pid=int(d["pid"]),
                       started=float(d["started"]), heartbeat=float(d["heartbeat"]),
                       ttl_s=float(d["ttl_s"]), token=str(d["token"]), pid_start=d.get("pid_start"),
                       boot_id=d.get("boot_id"))
        except (KeyError, TypeError, ValueError) as exc:
            raise DamagedError(f"lease: bad field ({exc})") from None


def _read_raw(loc: Location) -> "bytes | None":
    try:
        return loc.fs.cat_file(loc.path(LEASE_FILE))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _parse(raw: "bytes | None") -> "LeaseInfo | None":
    """LeaseInfo, None when absent; DamagedError when present but unreadable."""
    if raw is None:
        return None
    return LeaseInfo.from_dict(unseal(raw, "lease"))


def read_lease(store) -> "LeaseInfo | None":
    """The store's current lease (live or stale), or None when there is none.

    A damaged lease file (which a heartbeat never produces: its writes are atomic) is
    reported as a stale lease of owner ``"<damaged lease>"``.
    """
    loc = resolve(store)
    raw = _read_raw(loc)
    try:
        return _parse(raw)
    except DamagedError:
        return LeaseInfo(owner="<damaged lease>", host="?", pid=-1, started=0.0, heartbeat=0.0,
                         ttl_s=0.0, token="")


class Lease:
    """A held lease (returned by :func:`acquire_lease`); a context manager that releases it.

    Attributes
    ----------
    info : LeaseInfo
        As last written.
    lost : bool
        True once the heartbeat found the lease taken over.
    """

    def __init__(self, loc: Location, info: LeaseInfo, *, heartbeat: bool = True):
        self.loc = loc
        self.info = info
        self.lost = False
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = None
        if heartbeat:
            self._thread = threading.Thread(target=self._run, name=f"vmt-lease-{info.token}", daemon=True)
            self._thread.start()

    @property
    def store(self) -> str:
        return self.loc.url

    @property
    def token(self) -> str:
        return self.info.token

    def _run(self) -> None:
        interval = max(0.05, self.info.ttl_s / 4)
        while not self._stop.wait(interval):
            try:
                self.beat()
            except LeaseLost as exc:
                logger.error("%s", exc)
                return
            except Exception as exc:  # keep beating: a transient store error must not end the lease
                logger.warning("lease heartbeat on %s failed: %s", self.loc.display(), exc)

    def beat(self) -> None:
        """Refresh the heartbeat now (the thread does this every ``ttl_s / 4``).

        Raises
        ------
        LeaseLost
            The lease file no longer carries this lease's token.
        """
        with self._lock:
            if self.lost:
                raise LeaseLost(f"lease on {self.loc.display()} was lost")
            try:
                current = _parse(_read_raw(self.loc))
            except DamagedError:
                current = None
            if current is None or current.token != self.info.token:
                self.lost = True
                who = current.describe() if current else "nobody"
                raise LeaseLost(f"lease on {self.loc.display()} was taken over (now held by {who})")
            info = LeaseInfo(**{**self.info.to_dict(), "heartbeat": time.time()})
            _write(self.loc, info)
            self.info = info

    def check(self) -> None:
        """Raise :class:`LeaseLost` if the lease was lost (cheap; no store access)."""
        if self.lost:
            raise LeaseLost(f"lease on {self.loc.display()} was lost")

    def stop_heartbeat(self) -> None:
        """Stop the heartbeat thread (the lease goes stale after ``ttl_s``)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def release(self) -> None:
        """Stop the heartbeat and remove the lease if it is still this one (idempotent)."""
        self.stop_heartbeat()
        with self._lock:
            if self.lost:
                return
            try:
                current = _parse(_read_raw(self.loc))
            except DamagedError:
                current = None
            if current is not None and current.token == self.info.token:
                try:
                    self.loc.fs.rm_file(self.loc.path(LEASE_FILE))
                except FileNotFoundError:
                    pass
            self.lost = True  # no longer held

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Lease({self.loc.display()!r}, {self.info.describe()})"


def _write(loc: Location, info: LeaseInfo) -> None:
    data = seal(info.to_dict())
    if loc.local:
        write_file_atomic(loc.path(LEASE_FILE), data)
    else:
        loc.fs.pipe_file(loc.path(LEASE_FILE), data)


def _create_local(loc: Location, info: LeaseInfo) -> bool:
    """Create the lease file if absent (hard link of a complete temporary)."""
    os.makedirs(loc.root, exist_ok=True)
    tmp = os.path.join(loc.root, temp_name(LEASE_FILE))
    with open(tmp, "xb") as fh:
        fh.write(seal(info.to_dict()))
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, loc.path(LEASE_FILE))
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


_TAKEOVER = LEASE_FILE + ".takeover"
_TAKEOVER_STALE_S = 30.0


def _takeover_local(loc: Location, stale_raw: bytes) -> None:
    """Remove the lease file if it still holds exactly ``stale_raw``.

    Serialised by a second lock file created with ``link`` (``vmt-lease.json.takeover``):
    only its holder compares and removes the stale lease, so a fresh lease is never moved.
    A takeover lock older than 30 s (a taker killed in these few lines) is removed first.
    """
    lock = loc.path(_TAKEOVER)
    tmp = os.path.join(loc.root, temp_name(_TAKEOVER))
    with open(tmp, "xb") as fh:
        fh.write(uuid.uuid4().hex.encode())
    try:
        try:
            os.link(tmp, lock)
        except FileExistsError:
            try:
                if time.time() - os.stat(lock).st_mtime > _TAKEOVER_STALE_S:
                    os.unlink(lock)  # left by a killed taker; the loop retries
            except FileNotFoundError:
                pass
            return
        try:
            try:
                with open(loc.path(LEASE_FILE), "rb") as fh:
                    current = fh.read()
            except FileNotFoundError:
                return
            if current == stale_raw:
                os.unlink(loc.path(LEASE_FILE))
        finally:
            os.unlink(lock)
    finally:
        os.unlink(tmp)


def _create_remote(loc: Location, info: LeaseInfo, settle_s: float) -> bool:
    path = loc.path(LEASE_FILE)
    if loc.fs.exists(path):
        return False
    loc.fs.makedirs(loc.root, exist_ok=True)
    loc.fs.pipe_file(path, seal(info.to_dict()))
    time.sleep(settle_s)
    try:
        back = _parse(_read_raw(loc))
    except DamagedError:
        return False
    return back is not None and back.token == info.token


def _takeover_remote(loc: Location, stale_raw: bytes) -> None:
    if _read_raw(loc) == stale_raw:  # read-check-delete: see the module docstring
        try:
            loc.fs.rm_file(loc.path(LEASE_FILE))
        except FileNotFoundError:
            pass


def acquire_lease(store, *, owner: str, ttl_s: float = 60.0, wait_s: float = 0.0,
                  heartbeat: bool = True, settle_s: float = 0.5, poll_s: float = 0.5) -> Lease:
    """Become the one writer of ``store``.

    Parameters
    ----------
    store : str, os.PathLike or Location
        The store (created if missing).
    owner : str
        Who is writing, for messages (e.g. ``"vmt study run"``).
    ttl_s : float
        The lease is stale once its heartbeat is older than this (seconds, > 0).
    wait_s : float
        How long to wait for a busy store (0: refuse at once).
    heartbeat : bool
        Start the heartbeat thread (beats every ``ttl_s / 4``).
    settle_s : float
        Object stores only: wait between PUT and read-back (see module docstring).

    Returns
    -------
    Lease
        Use as a context manager or call :meth:`Lease.release`.

    Raises
    ------
    LeaseBusy
        (an :class:`InputError`) Another live writer holds the store after ``wait_s``; the
        message names it.
    InputError
        Bad ``owner``/``ttl_s``/``wait_s``.
    OSError
        The store cannot be written.
    """
    if not isinstance(owner, str) or not owner:
        raise InputError(f"owner must be a non-empty string, got {owner!r}")
    for name, v in (("ttl_s", ttl_s), ("wait_s", wait_s)):
        if not isinstance(v, (int, float)) or v != v or v < 0 or (name == "ttl_s" and v <= 0):
            raise InputError(f"{name} must be a {'positive' if name == 'ttl_s' else 'non-negative'} "
                             f"number of seconds, got {v!r}")
    loc = resolve(store)
    deadline = time.monotonic() + float(wait_s)
    pid = os.getpid()
    while True:
        now = time.time()
        info = LeaseInfo(owner=owner, host=socket.gethostname(), pid=pid, started=now, heartbeat=now,
                         ttl_s=float(ttl_s), token=uuid.uuid4().hex, pid_start=_pid_start(pid),
                         boot_id=_boot_id())
        raw = _read_raw(loc)
        try:
            holder = _parse(raw)
        except DamagedError:
            holder = None
            stale = True
        else:
            stale = holder is not None and holder.stale()
        if raw is None:
            ok = _create_local(loc, info) if loc.local else _create_remote(loc, info, settle_s)
            if ok:
                logger.info("lease on %s acquired by %s", loc.display(), owner)
                return Lease(loc, info, heartbeat=heartbeat)
            continue_busy = True
        elif stale:
            logger.warning("taking over the stale lease on %s: %s", loc.display(),
                           holder.describe() if holder else "damaged lease file")
            (_takeover_local if loc.local else _takeover_remote)(loc, raw)
            continue
        else:
            continue_busy = True
        if continue_busy and time.monotonic() >= deadline:
            try:
                holder = _parse(_read_raw(loc))
            except DamagedError:
                holder = None
            who = holder.describe() if holder else "another writer"
            raise LeaseBusy(f"store {loc.display()!r} is in use by {who}; wait for it to finish or stop it "
                            f"(its lease goes stale {holder.ttl_s if holder else ttl_s:g} s after its last "
                            "heartbeat)", holder)
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())) or 0.01)
