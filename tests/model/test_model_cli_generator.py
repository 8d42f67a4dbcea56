"""`vmt generate --generator`: the stored volume is the realization of that generator."""
import numpy as np
import pytest

from vmt_dask.cli import main
from vmt_dask.model import CALIBRATED, realize
from vmt_dask.store import read_volume


@pytest.mark.parametrize("generator", ["point", "cell", "fast"])
def test_generate_with_generator(tmp_path, generator):
    s = tmp_path / "s.zarr"
    assert main(["generate", "--preset", "BM10", "--size", "18,16,20", "--seed", "3", "--out", str(s),
                 "--generator", generator, "--name", "v"]) == 0
    arr, attrs = read_volume(s, "v")
    assert attrs["generator"] == generator
    assert np.array_equal(np.asarray(arr), realize(CALIBRATED["BM10"], (18, 16, 20), seed=3, generator=generator))


def test_generate_rejects_unknown_generator(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--preset", "BM10", "--size", "8", "--seed", "3", "--out", str(tmp_path / "s.zarr"),
              "--generator", "nearest"])
    assert exc.value.code == 2
    assert "--generator" in capsys.readouterr().err
    assert not (tmp_path / "s.zarr").exists()


def test_cli_generator_choices_are_the_models():
    """The CLI lists the generators literally (no model import at start-up); they must be the
    model's, with the model's default."""
    import argparse

    from vmt_dask.cli import generate as cli_generate
    from vmt_dask.model.covariance import DEFAULT_GENERATOR, GENERATORS

    sub = argparse.ArgumentParser().add_subparsers()
    cli_generate.register(sub)
    action = next(a for a in sub.choices["generate"]._actions if a.dest == "generator")
    assert tuple(action.choices) == GENERATORS and action.default == DEFAULT_GENERATOR
