"""argparse's own errors are one line naming the value and the subcommand (exit 2, no usage
block), and a reader that leaves the pipe early gets no error message (exit 141)."""
import subprocess
import sys

import pytest

from vmt_dask.cli import main


@pytest.mark.parametrize("argv, prog, needle", [
    (["generate", "--preset", "BM01", "--size", "8", "--seed", "1", "--out", "x.zarr", "--generator", "simdx"],
     "vmt generate", "'simdx'"),
    (["generate", "--preset", "BM01", "--size", "8", "--seed", "1"], "vmt generate", "--out"),
    (["info", "x.zarr", "--frobnicate"], "vmt info", "--frobnicate"),
    (["study", "status", "x.zarr", "--bogus"], "vmt study status", "--bogus"),
    (["nosuch"], "vmt", "'nosuch'"),
    (["--bogus", "info", "x.zarr"], "vmt", "--bogus"),  # before the subcommand: the top level's
    (["report", "x.zarr"], "vmt report", "--out"),
])
def test_argparse_errors_are_one_line(argv, prog, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own exit
        code = exc.code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2 and captured.out == ""
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{prog}: error: ") and needle in lines[0]
    assert lines[0].endswith(f"(see {prog} --help)")
    assert not list(tmp_path.iterdir())  # nothing was written


def test_closed_pipe_is_not_an_error(tmp_path):
    store = tmp_path / "s.zarr"
    assert main(["generate", "--preset", "BM01", "--size", "8", "--seed", "1", "--out", str(store)]) == 0
    # the reader closes its end before the command writes: the write raises BrokenPipeError
    p = subprocess.Popen([sys.executable, "-m", "vmt_dask.cli", "info", str(store)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait() == 141
    assert err == b""
