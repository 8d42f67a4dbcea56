"""`vmt info` names the generator of a model realization; `vmt generate` prints an honest
time estimate for tiny grids."""
import json

import numpy as np
import pytest

from vmt_dask.cli import main
from vmt_dask.cli.generate import _about, _duration
from vmt_dask.model import CALIBRATED
from vmt_dask.store import write_volume


def test_info_shows_the_generator_of_generated_volumes(tmp_path, capsys):
    s = tmp_path / "s.zarr"
    assert main(["generate", "--preset", "BM01", "--size", "8", "--seed", "3", "--out", str(s),
                 "--generator", "simd"]) == 0
    err = capsys.readouterr().err
    # 8^3 voxels of work take milliseconds: the estimate is a bound, not "~0.0 s"
    assert "time estimate < 0.1 s" in err and "~0.0" not in err
    # a volume of the same kind written without the attribute (as before it was recorded)
    write_volume(s, "old", np.zeros((4, 4, 4), np.uint8), theta=CALIBRATED["BM01"], seed=1, voxel_size=0.2)
    assert main(["info", str(s)]) == 0
    lines = capsys.readouterr().out.splitlines()
    new = next(line for line in lines if "BM01-8-s3:" in line)
    old = next(line for line in lines if "old:" in line)
    assert "generator simd" in new
    assert "generator not recorded" in old and "generator simd" not in old
    assert main(["info", str(s), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["BM01-8-s3"]["generator"] == "simd" and "generator" not in out["old"]


@pytest.mark.parametrize("seconds, text", [(0.0, "< 0.1 s"), (0.04, "< 0.1 s"), (0.1, "0.1 s"), (2.345, "2.3 s"),
                                           (45, "45 s"), (600, "10 min"), (7200, "2.0 h")])
def test_duration_text(seconds, text):
    assert _duration(seconds) == text
    assert _about(seconds) == (text if seconds < 0.1 else "~" + text)


def test_info_with_key_names_the_generator(tmp_path, capsys):
    s = tmp_path / "s.zarr"
    assert main(["generate", "--preset", "BM01", "--size", "8", "--seed", "5", "--out", str(s),
                 "--generator", "lattice"]) == 0
    write_volume(s, "old", np.zeros((4, 4, 4), np.uint8), theta=CALIBRATED["BM01"], seed=2, voxel_size=0.2)
    capsys.readouterr()
    assert main(["info", str(s), "--key", "BM01-8-s5"]) == 0
    assert "generator: lattice, seed 5" in capsys.readouterr().out
    assert main(["info", str(s), "--key", "old"]) == 0
    assert "generator: not recorded, seed 2" in capsys.readouterr().out
    assert main(["info", str(s), "--key", "BM01-8-s5", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["generator"] == "lattice"
