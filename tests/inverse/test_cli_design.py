"""``vmt design``: a small real run around a preset, and bad input (exit 2 before any work)."""
from __future__ import annotations

import pytest

from vmt_dask.cli import main


def test_design_around_preset_verifies_candidates(tmp_path, capsys):
    from vmt_dask.storage import read_record

    store = tmp_path / "des.zarr"
    rc = main(["design", "--target", "m_factor_AM>=0.05", "--maximize", "m_factor_SE", "--around", "smoke",
               "--out", str(store), "--local", "--size", "16", "--pilot", "5", "--candidates", "2",
               "--realizations", "1"])
    out = read_record(str(store), "design/result.json")
    assert out is not None and len(out["candidates"]) == 2
    for c in out["candidates"]:
        # predicted and simulated side by side; verified means the simulation meets the target
        assert set(c["predicted"]) == set(c["simulated"]) == {"m_factor_AM", "m_factor_SE"}
        assert c["verified"] == (c["simulated"]["m_factor_AM"] >= 0.05)
    assert rc == (0 if any(c["verified"] for c in out["candidates"]) else 1)
    # region: the box of the smoke endpoints with alphas floored at 0.05
    assert out["region"]["alpha_x"][0] == pytest.approx(0.05)
    for name in ("pareto.png", "slices.png", "index.html", "candidates.csv"):
        assert (store / "design" / name).stat().st_size > 0
    assert out["cost"]["pilot_points"] == 5


@pytest.mark.parametrize("args, needle", [
    (["--target", "m_factor_SE=>0.2"], "--target"),
    (["--target", "m_factor_XY>=0.2"], "m_factor_XY"),
    (["--target", "m_factor_SE>=0.2", "--maximize", "speed"], "--maximize"),
    (["--target", "m_factor_SE>=0.2", "--region", "a=2:1"], "--region"),
    (["--target", "m_factor_SE>=0.2", "--candidates", "0"], "--candidates"),
])
def test_bad_input_exit_2(tmp_path, capsys, args, needle):
    store = tmp_path / "never.zarr"
    assert main(["design", *args, "--around", "smoke", "--out", str(store), "--local"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]
    assert not store.exists()


def test_unknown_around_exit_2(tmp_path, capsys):
    assert main(["design", "--target", "m_factor_SE>=0.2", "--around", str(tmp_path / "nope.zarr"),
                 "--out", str(tmp_path / "o.zarr")]) == 2
    assert "--around" in capsys.readouterr().err
