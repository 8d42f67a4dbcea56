"""``vmt conduct`` end to end on small volumes."""
from __future__ import annotations

import json

import numpy as np
import pytest

from vmt_dask.cli import main


@pytest.fixture()
def labels_file(tmp_path):
    labels = np.zeros((10, 12, 14), np.uint8)
    labels[:, :6, :] = 1          # SE: straight slab, M = 0.5 along any axis
    labels[:5, 6:, :] = 2         # AM: straight slab, M = 5 * 6 / 120 = 0.25 along z
    path = tmp_path / "labels.npy"
    np.save(path, labels)
    return path


def test_conduct_json_all_phases(labels_file, capsys):
    assert main(["conduct", str(labels_file), "--phase", "all", "--json", "--rtol", "1e-9"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["shape"] == [10, 12, 14] and out["axis"] == "z"
    assert out["phases"]["SE"]["m_factor"] == pytest.approx(0.5, rel=1e-7)
    assert out["phases"]["AM"]["m_factor"] == pytest.approx(0.25, rel=1e-7)
    assert out["phases"]["SE"]["tau_factor"] == pytest.approx(1.0, rel=1e-7)


def test_conduct_table_and_axis(labels_file, capsys):
    assert main(["conduct", str(labels_file), "--phase", "AM", "--axis", "y"]) == 0
    text = capsys.readouterr().out
    assert "transport along y" in text and "m_factor" in text
    # AM along y: occupies y >= 6 only, so it never reaches y = 0 -> M = 0
    line = next(l for l in text.splitlines() if l.startswith("m_factor"))
    assert float(line.split()[1]) == 0.0


@pytest.mark.parametrize("extra,word", [
    (["--phase", "solid"], "--phase"),
    (["--phase", "SE", "--axis", "w"], "--axis"),
    (["--phase", "SE", "--rtol", "abc"], "--rtol"),
    (["--phase", "SE", "--rtol", "2"], "--rtol"),
])
def test_conduct_bad_arguments_exit_2(labels_file, capsys, extra, word):
    assert main(["conduct", str(labels_file), *extra]) == 2
    assert word in capsys.readouterr().err


def test_conduct_missing_file(tmp_path, capsys):
    assert main(["conduct", str(tmp_path / "nope.npy"), "--phase", "SE"]) == 2
    assert "nope.npy" in capsys.readouterr().err
