"""Study-level faults: concurrent runs, damaged records and volumes, killed clients, bad input.

A tiny study (one point, one realization per evaluation, two structures on 16^3 voxels: 35
tasks) runs on an in-process cluster shared by the module; each test copies the finished
baseline store, damages it, and checks status, verify, a repairing rerun and the results.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from vmt_dask.cli import main as cli_main
from vmt_dask.errors import InputError
from vmt_dask.storage import LeaseBusy, acquire_lease, read_lease
from vmt_dask.study import load_spec, open_results, run_study, study_status, verify_study
from vmt_dask.study.layout import RECORDS, record_path, structure_volume

pytestmark = pytest.mark.timeout(300)

TINY = load_spec("smoke").replace(name="tiny", shape=[16, 16, 16], chunks=8, realizations=1,
                                  steps={"volume_fraction_AM": [0.1]})


def _tree(store) -> dict[str, int]:
    """{relative path: mtime_ns} of every file in a store."""
    root = Path(store)
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def baseline(tiny_study):
    """The session's tiny study (tests/conftest.py: TINY on an in-process cluster); copied
    before any test changes it (``copy``)."""
    assert tiny_study.spec.identity() == TINY.identity()
    assert sum(tiny_study.run.totals.values()) == TINY.n_tasks == 35
    return tiny_study.store, tiny_study.results


@pytest.fixture()
def copy(baseline, tmp_path):
    store = str(tmp_path / "copy.zarr")
    shutil.copytree(baseline[0], store)
    return store


def test_baseline_verifies_clean(baseline, capsys):
    store, ds = baseline
    assert study_status(store)["state"] == "finished"
    assert cli_main(["study", "verify", store]) == 0
    assert "no damage found" in capsys.readouterr().out
    assert ds.attrs["complete"] == 1 and ds.sizes["structure"] == 2


def test_second_run_and_new_refused_while_a_live_run_holds_the_store(copy, capsys):
    before = _tree(copy)
    with acquire_lease(copy, owner="vmt study run", ttl_s=30) as lease:
        with pytest.raises(LeaseBusy, match="in use by 'vmt study run'"):
            run_study(TINY.replace(seed=99), copy, new=True, workers=1)
        assert cli_main(["study", "run", "--preset", "smoke", "--store", copy, "--new"]) == 2
        err = capsys.readouterr().err
        assert "in use by" in err and f"pid {os.getpid()}" in err and "\n" not in err.strip()
        assert study_status(copy)["state"] == "finished"  # complete records stay finished
        assert read_lease(copy).token == lease.token
    after = _tree(copy)
    after.pop("vmt-lease.json", None)
    before.pop("vmt-lease.json", None)
    assert after == before  # --new touched nothing


def test_deleted_record_makes_status_not_finished(copy, client):
    rel = record_path("conduct", f"{structure_volume(1)}-SE")
    os.unlink(Path(copy) / rel)
    st = study_status(copy)
    assert st["state"] == "interrupted" and not st["complete"] and st["missing"] == 1
    assert st["stages"]["conduct"] == {"done": 3, "total": 4}
    run = run_study(TINY, copy, client=client)
    assert run.ok and sum(run.submitted.values()) == 1
    assert study_status(copy)["state"] == "finished"


def test_running_only_with_a_live_lease_and_interrupted_after_its_ttl(copy):
    os.unlink(Path(copy) / record_path("gradient", "p00"))
    lease = acquire_lease(copy, owner="vmt study run", ttl_s=0.5, heartbeat=False)  # a hung client
    try:
        assert study_status(copy)["state"] == "running"
        time.sleep(0.8)
        st = study_status(copy)
        assert st["state"] == "interrupted" and st["lease"]["live"] is False
    finally:
        lease.release()


def test_killed_client_leaves_a_lease_that_reads_interrupted(copy):
    os.unlink(Path(copy) / record_path("gradient", "p00"))
    code = textwrap.dedent(f"""
        import sys, time
        from vmt_dask.storage import acquire_lease
        acquire_lease({copy!r}, owner="vmt study run", ttl_s=600)
        print("held", flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == b"held"
        assert study_status(copy)["state"] == "running"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    st = study_status(copy)  # the holder's process is gone: stale at once on this host
    assert st["state"] == "interrupted" and st["lease"] is not None and not st["lease"]["live"]


def _chunks(store, key):
    return sorted(p for p in (Path(store) / "volumes" / key).rglob("c/*/*/*") if p.is_file())


def test_damaged_volumes_are_reported_and_regenerated_from_their_seeds(baseline, copy, client, capsys):
    _, ds = baseline
    deleted = _chunks(copy, structure_volume(0))[0]
    deleted.unlink()
    altered = _chunks(copy, structure_volume(1))[1]
    data = bytearray(altered.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only the deep check (chunk hashes) sees it
    altered.write_bytes(bytes(data))
    truncated = _chunks(copy, "eval-p00-e3-r0")[0]
    truncated.write_bytes(truncated.read_bytes()[:5])
    assert cli_main(["study", "verify", copy]) == 1
    out = capsys.readouterr().out
    assert "damaged volume structure-s0000" in out and "damaged volume structure-s0001" in out
    assert "damaged volume eval-p00-e3-r0" in out and "damage found" in out
    assert cli_main(["study", "verify", copy, "--quick"]) == 1  # sizes: finds the deleted and truncated
    capsys.readouterr()
    run = run_study(TINY, copy, client=client)
    assert run.ok, run.errors
    assert {structure_volume(0), "eval-p00-e3-r0"} <= set(run.repaired)
    assert cli_main(["study", "verify", copy]) == 0
    xr.testing.assert_identical(open_results(copy), ds)
    # the regenerated volume equals the original bit for bit (from its seed, not from a neighbour)
    from vmt_dask.storage import read_volume
    a, _ = read_volume(copy, structure_volume(0))
    b, _ = read_volume(baseline[0], structure_volume(0))
    np.testing.assert_array_equal(a, b)


def test_altered_volume_found_only_on_read_is_regenerated_by_the_reading_task(baseline, copy, client):
    _, ds = baseline
    altered = _chunks(copy, structure_volume(1))[0]
    data = bytearray(altered.read_bytes())
    data[-1] ^= 0x01
    altered.write_bytes(bytes(data))
    os.unlink(Path(copy) / record_path("conduct", f"{structure_volume(1)}-AM"))  # forces a read
    run = run_study(TINY, copy, client=client)
    assert run.ok, run.errors
    xr.testing.assert_identical(open_results(copy), ds)
    assert verify_study(copy)["ok"]


@pytest.mark.parametrize("content", [b"", b"{}", b'{"phase": "AM"', b"\x00\x01garbage"])
def test_empty_and_garbage_records_are_recomputed(baseline, copy, client, content):
    _, ds = baseline
    rels = [record_path("describe-structure", f"{structure_volume(0)}-AM"), record_path("gradient", "p00"),
            record_path("realize", "eval-p00-e1-r0")]
    for rel in rels:
        (Path(copy) / rel).write_bytes(content)
    st = study_status(copy)
    assert st["state"] == "interrupted" and set(rels) <= set(st["damaged"])
    partial = open_results(copy)  # never crashes: damaged records read as absent
    assert np.isnan(partial["volume_fraction_AM"].values[0]) and partial.attrs["complete"] == 0
    run = run_study(TINY, copy, client=client)
    assert run.ok and set(rels) <= set(run.repaired)
    xr.testing.assert_identical(open_results(copy), ds)
    sealed = json.loads((Path(copy) / rels[1]).read_text())
    assert "_checksum" in sealed


def test_results_never_crash(copy, tmp_path, capsys):
    for p in list((Path(copy) / RECORDS).rglob("*.json"))[::3]:
        p.write_bytes(b"{}")
    ds = open_results(copy)
    assert ds.attrs["complete"] == 0
    out = tmp_path / "r.csv"
    assert cli_main(["study", "results", copy, "--csv", str(out)]) == 0
    assert out.read_text().count("\n") == 3  # header + 2 structures
    capsys.readouterr()
    assert cli_main(["study", "results", copy, "--csv", "-"]) == 0  # "-": standard output
    printed = capsys.readouterr()
    assert printed.out == out.read_text() and "2 structures to standard output" in printed.err
    assert not (Path.cwd() / "-").exists()
    (Path(copy) / "vmt-study.json").write_bytes(b'{"identity": "x"')
    assert cli_main(["study", "results", copy, "--csv", str(out)]) == 2
    assert cli_main(["study", "status", copy]) == 2
    err = capsys.readouterr().err
    assert "damaged" in err and "Traceback" not in err
    assert cli_main(["study", "verify", copy]) == 1


def test_points_are_recorded_and_restrict_status_and_results(client, tmp_path):
    spec = TINY.replace(t=["1/3", "2/3"])
    store = str(tmp_path / "points.zarr")
    run = run_study(spec, store, client=client, points=[1])
    assert run.ok and run.points == (1,) and run.totals["gradient"] == 1
    st = study_status(store)
    assert st["points"] == (1,) and st["state"] == "finished"
    ds = open_results(store)
    assert ds.attrs["points"] == "1" and list(ds["point"].values) == [1, 1]
    assert list(ds["structure"].values) == [2, 3] and ds.sizes["gradient_point"] == 1
    with pytest.raises(InputError, match="outside 0..1"):
        run_study(spec, store, client=client, points="2")


# --- messages: one line, exit 2, nothing created -----------------------------------------------
def test_bad_stores_and_specs_give_one_line(tmp_path, capsys):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    binary = tmp_path / "spec.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    cases = [
        (["study", "run", "--preset", "smoke", "--store", ""], "empty"),
        (["study", "run", "--preset", "smoke", "--store", str(blocker / "s.zarr")], "store"),
        (["study", "run", str(binary), "--store", str(tmp_path / "a.zarr")], "binary content"),
        (["study", "run", "--preset", "smoke", "--store", str(tmp_path / "b.zarr"), "--points", "99"], "points"),
        (["study", "status", str(tmp_path / "missing.zarr")], "no such store"),
        (["study", "verify", str(tmp_path / "missing.zarr")], "no such store"),
        (["study", "results", str(tmp_path / "missing.zarr"), "--csv", str(tmp_path / "x.csv")], "no such store"),
    ]
    for argv, needle in cases:
        assert cli_main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert needle in err and "\n" not in err and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "a.zarr").exists() and not (tmp_path / "b.zarr").exists()


def test_results_output_errors(baseline, tmp_path, capsys):
    store, _ = baseline
    for out, needle in (("", "empty"), (str(tmp_path), "directory"), (str(tmp_path / "no" / "r.csv"), "--csv")):
        assert cli_main(["study", "results", store, "--csv", out]) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and "\n" not in err, err


def test_memory_store_is_refused_with_worker_processes(capsys):
    assert cli_main(["study", "run", "--preset", "smoke", "--store", "memory://study", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "memory" in err and "nothing would be kept" in err


def test_memory_store_with_in_process_workers_is_kept(client):
    store = "memory://vmt-faults/tiny"
    run = run_study(TINY, store, client=client)
    assert run.ok
    assert study_status(store)["state"] == "finished"


def test_task_too_large_for_the_workers_is_refused_before_the_store_exists(client, tmp_path):
    store = tmp_path / "big.zarr"
    with pytest.raises(InputError, match="shape.*needs about .*memory"):
        run_study(TINY.replace(shape=[2048, 2048, 1024]), str(store), client=client)
    assert not store.exists()


def test_task_of_a_replaced_study_writes_nothing(copy):
    """A run that lost its lease to a --new run must not mix its records into the new study."""
    from vmt_dask.study.tasks import StoreChanged, conduct_task

    rel = record_path("conduct", f"{structure_volume(1)}-SE")
    os.unlink(Path(copy) / rel)
    with pytest.raises(StoreChanged, match="no longer holds"):
        conduct_task(copy, structure_volume(1), "SE", axis=2, identity="0" * 16)
    assert not (Path(copy) / rel).exists()
    conduct_task(copy, structure_volume(1), "SE", axis=2, identity=TINY.identity())
    assert (Path(copy) / rel).exists()
