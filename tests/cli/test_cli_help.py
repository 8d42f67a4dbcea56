"""Every subcommand's --help renders (argparse formats help strings lazily)."""
import pytest

from vmt_dask.cli import build_parser, main


def _commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)


@pytest.mark.parametrize("command", _commands())
def test_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert command in capsys.readouterr().out


def test_rev_is_a_command():
    assert {"describe", "conduct", "rev", "info", "generate"} <= set(_commands())
