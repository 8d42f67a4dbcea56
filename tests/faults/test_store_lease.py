"""One writer per store: lease exclusivity across processes, stale takeover, heartbeat."""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from vmt_dask import storage as S
from vmt_dask.storage.verify import MTIME_SLACK_S
from vmt_dask.errors import InputError
from vmt_dask.storage.integrity import seal
from vmt_dask.storage.lease import LEASE_FILE

HOLDER = textwrap.dedent("""
    import sys, time
    from vmt_dask import storage as S
    lease = S.acquire_lease(sys.argv[1], owner="holder", ttl_s=float(sys.argv[2]))
    print("held", flush=True)
    sys.stdin.readline()          # hold until told (or killed)
    lease.release()
    print("released", flush=True)
""")


def _holder(store, ttl=30.0):
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(store), str(ttl)], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held", p.stderr.read()
    return p


def test_second_process_refused_with_holder_named(tmp_path):
    s = tmp_path / "store"
    p = _holder(s)
    try:
        with pytest.raises(S.LeaseBusy, match=rf"'holder' \(host {socket.gethostname()}, pid {p.pid}\)") as ei:
            S.acquire_lease(s, owner="second")
        assert isinstance(ei.value, InputError) and ei.value.holder.pid == p.pid
        assert "\n" not in str(ei.value)
        info = S.read_lease(s)
        assert info.owner == "holder" and not info.stale() and info.process_alive()
        p.stdin.write("\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "released"
        with S.acquire_lease(s, owner="second", wait_s=5) as lease:
            assert S.read_lease(s).token == lease.token
        assert S.read_lease(s) is None
    finally:
        p.kill()
        p.wait()


def test_wait_for_release(tmp_path):
    """``wait_s`` waits for a live holder: the holder releases after ~1 s, the waiter gets it."""
    import threading

    s = tmp_path / "store"
    p = _holder(s)
    try:
        def release_later():
            time.sleep(1.0)
            p.stdin.write("\n")
            p.stdin.flush()

        threading.Thread(target=release_later, daemon=True).start()
        t0 = time.monotonic()
        with S.acquire_lease(s, owner="waiter", wait_s=60, poll_s=0.05):
            assert time.monotonic() - t0 >= 0.9          # it did wait for the holder
            assert p.wait(timeout=30) == 0
    finally:
        p.kill()
        p.wait()


_RACER = textwrap.dedent("""
    import sys
    from vmt_dask import storage as S
    print("ready", flush=True)
    sys.stdin.readline()                      # all racers are released together
    try:
        lease = S.acquire_lease(sys.argv[1], owner=sys.argv[2], heartbeat=False, settle_s=0.3)
    except S.LeaseBusy:
        print("busy")
    else:
        print("won")
        sys.stdin.readline()                  # hold until every racer has answered
""")


@pytest.mark.parametrize("stale_first", [False, True])
def test_racing_processes_exactly_one_wins(tmp_path, stale_first):
    """Four processes start acquiring at the same instant (on a free store, or on one whose
    holder died): exactly one gets the lease."""
    s = tmp_path / "store"
    if stale_first:
        p = _holder(s)
        p.kill()
        p.wait()
        assert S.read_lease(s).stale()
    procs = [subprocess.Popen([sys.executable, "-c", _RACER, str(s), f"r{i}"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    for pr in procs:                          # imports done everywhere before anyone starts
        assert pr.stdout.readline().strip() == "ready", pr.stderr.read()
    for pr in procs:
        pr.stdin.write("\n")
        pr.stdin.flush()
    answers = sorted(pr.stdout.readline().strip() for pr in procs)
    outs = [pr.communicate("\n", timeout=120) for pr in procs]
    assert answers == ["busy"] * 3 + ["won"], [e[-500:] for _, e in outs]


def test_dead_holder_is_taken_over_at_once(tmp_path):
    s = tmp_path / "store"
    p = _holder(s, ttl=3600)          # a long TTL: only the dead pid makes it stale
    p.send_signal(signal.SIGKILL)
    p.wait()
    info = S.read_lease(s)
    assert info.pid == p.pid and info.process_alive() is False and info.stale()
    with S.acquire_lease(s, owner="next") as lease:
        assert S.read_lease(s).owner == "next" and lease.info.pid == os.getpid()


def _foreign(s, *, age_s, ttl_s=10.0):
    """A lease written by a process on another host, last heartbeat ``age_s`` ago."""
    now = time.time()
    rec = {"owner": "elsewhere", "host": "other-host", "pid": 1, "started": now - age_s - 5,
           "heartbeat": now - age_s, "ttl_s": ttl_s, "token": "f" * 32, "pid_start": None, "boot_id": None}
    os.makedirs(s, exist_ok=True)
    (s / LEASE_FILE).write_bytes(seal(rec))


def test_ttl_decides_for_other_hosts(tmp_path):
    s = tmp_path / "store"
    _foreign(s, age_s=1.0)
    assert S.read_lease(s).process_alive() is None and not S.read_lease(s).stale()
    with pytest.raises(S.LeaseBusy, match="elsewhere"):
        S.acquire_lease(s, owner="me")
    _foreign(s, age_s=11.0)
    with S.acquire_lease(s, owner="me"):
        assert S.read_lease(s).owner == "me"


@pytest.mark.parametrize("content", [b"", b"{}", b"garbage"])
def test_damaged_lease_file_is_stale(tmp_path, content):
    s = tmp_path / "store"
    s.mkdir()
    (s / LEASE_FILE).write_bytes(content)
    assert S.read_lease(s).stale()
    with S.acquire_lease(s, owner="me"):
        assert S.read_lease(s).owner == "me"


def test_heartbeat_keeps_a_short_lease_live_and_detects_takeover(tmp_path):
    s = tmp_path / "store"
    lease = S.acquire_lease(s, owner="beater", ttl_s=0.4)
    try:
        first = S.read_lease(s).heartbeat
        time.sleep(1.2)                              # three TTLs
        info = S.read_lease(s)
        assert info.heartbeat > first and not info.stale()
        with pytest.raises(S.LeaseBusy):
            S.acquire_lease(s, owner="intruder")
        lease.stop_heartbeat()                       # a frozen writer
        time.sleep(0.6)
        assert S.read_lease(s).stale()
        with S.acquire_lease(s, owner="intruder", heartbeat=False):
            with pytest.raises(S.LeaseLost, match="intruder"):
                lease.beat()
            assert lease.lost
            lease.release()                          # must not remove the intruder's lease
            assert S.read_lease(s).owner == "intruder"
    finally:
        lease.release()


def test_lease_on_memory_store():
    s = "memory://lease-test"
    with S.acquire_lease(s, owner="a", settle_s=0.05) as lease:
        with pytest.raises(S.LeaseBusy):
            S.acquire_lease(s, owner="b", settle_s=0.05)
        lease.beat()
    with S.acquire_lease(s, owner="b", settle_s=0.05):
        assert S.read_lease(s).owner == "b"


@pytest.mark.parametrize("kw", [{"owner": ""}, {"owner": "x", "ttl_s": 0}, {"owner": "x", "wait_s": -1}])
def test_bad_arguments(tmp_path, kw):
    with pytest.raises(InputError):
        S.acquire_lease(tmp_path, **kw)


def test_clean_store_needs_lease_and_spares_this_runs_temporaries(tmp_path):
    s = tmp_path / "store"
    (s / "volumes" / ".tmp-0123abcd-v" / "c").mkdir(parents=True)
    (s / "records" / "describe").mkdir(parents=True)
    (s / "records" / "describe" / ".tmp-89abcdef-x.json").write_bytes(b"{")
    old = time.time() - 100
    for p in (s / "volumes" / ".tmp-0123abcd-v", s / "records" / "describe" / ".tmp-89abcdef-x.json"):
        os.utime(p, (old, old))
    other = S.acquire_lease(tmp_path / "elsewhere", owner="x", heartbeat=False)
    with pytest.raises(InputError, match="held lease"):
        S.clean_store(s, other)
    other.release()
    with S.acquire_lease(s, owner="cleaner", heartbeat=False) as lease:
        (s / "volumes" / ".tmp-00000000-w").mkdir()          # this run's: kept
        # this run's too, stamped by a coarse file-system clock just *before* the lease's start
        # time (Linux stamps from a clock up to one tick behind time.time(); this failed once)
        early = lease.info.started - MTIME_SLACK_S / 2
        (s / "volumes" / ".tmp-11111111-w").mkdir()
        os.utime(s / "volumes" / ".tmp-11111111-w", (early, early))
        done = S.clean_store(s, lease)
        assert (s / "volumes" / ".tmp-11111111-w").exists()
        (s / "volumes" / ".tmp-11111111-w").rmdir()
        assert sorted(done) == ["removed records/describe/.tmp-89abcdef-x.json", "removed volumes/.tmp-0123abcd-v"]
        assert (s / "volumes" / ".tmp-00000000-w").exists()
    assert json.loads(json.dumps(S.verify_store(s).to_dict()))["leftovers"] == ["volumes/.tmp-00000000-w"]
