"""`vmt study` / `vmt report` on bad command lines: argparse's own errors (a missing argument, a
value of the wrong type, an unknown action) give one line naming the problem, exit 2, no usage block."""
from __future__ import annotations

import pytest

from vmt_dask.cli import main as cli_main


@pytest.mark.parametrize("argv, needle", [
    (["study", "run", "--preset", "smoke", "--store", "x.zarr", "--workers", "abc"], "invalid int value: 'abc'"),
    (["study", "run", "--preset", "smoke"], "required: --store"),
    (["study", "frob"], "invalid choice: 'frob'"),
    (["study"], "required: ACTION"),
    (["study", "results", "s.zarr"], "required: --csv"),
    (["report", "s.zarr", "--out", "d", "--seed", "q"], "invalid int value: 'q'"),
    (["report"], "required: STORE, --out"),
])
def test_argparse_errors_are_one_line(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        cli_main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "usage:" not in err, err
    assert lines[0].startswith(f"vmt {argv[0]}") and "--help" in lines[0]
    assert not list(tmp_path.iterdir())  # nothing created


def test_help_still_prints_the_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main(["study", "run", "--help"])
    assert exc.value.code == 0 and "usage: vmt study run" in capsys.readouterr().out
