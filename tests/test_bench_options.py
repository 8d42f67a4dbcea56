"""Benchmark options: a bad value is a one-line usage error (exit 2) naming it, before any work."""
import pytest

from vmt_dask.bench.__main__ import main


@pytest.mark.parametrize("argv, named", [
    (["memory", "--sizes", "64,x"], "'x'"),
    (["memory", "--kernels", "foo"], "'foo'"),
    (["calibrate", "--size", "0"], "0 is not positive"),
    (["calibrate", "--voxel-size", "-1"], "-1"),
    (["calibrate", "--cases", "BM01,T9"], "'T9'"),
    (["store", "--repeat", "-1"], "-1 is not positive"),
    (["store", "--preset", "BM99"], "'BM99'"),
    (["store", "--dir", "/nonexistent/vmt-x"], "/nonexistent/vmt-x"),
])
def test_bad_bench_option_is_a_usage_error(argv, named, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("python -m vmt_dask.bench") and named in err
