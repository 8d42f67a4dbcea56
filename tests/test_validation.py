"""The shared input checks (vmt_dask.validation) and the exception contract (vmt_dask.errors)."""
import math

import numpy as np
import pytest

from vmt_dask.errors import DTypeError, InputError
from vmt_dask.validation import as_labels, as_mask, check_axis, check_positive, check_spacing
from vmt_dask.descriptors._validate import check_voxel_size


def test_hierarchy():
    assert issubclass(InputError, ValueError) and not issubclass(InputError, TypeError)
    assert issubclass(DTypeError, InputError) and issubclass(DTypeError, TypeError)


# --------------------------------------------------------------------------- as_mask
def test_as_mask_returns_bool_without_copy_and_converts_01_integers():
    m = np.zeros((2, 3, 4), bool)
    assert as_mask(m) is m
    i = np.array([0, 1] * 12, np.int16).reshape(2, 3, 4)
    out = as_mask(i)
    assert out.dtype == bool and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, i == 1)


@pytest.mark.parametrize("bad,exc,fragment", [
    ([[[True]]], TypeError, "mask must be a numpy array, got list"),
    (np.ones((4, 4), bool), InputError, r"mask must be 3-D .* got shape \(4, 4\)"),
    (np.ones((4, 0, 4), bool), InputError, r"must not be empty, got shape \(4, 0, 4\)"),
    (np.ones((4, 4, 4)), DTypeError, "dtype float64"),
    (np.full((4, 4, 4), 2, np.uint8), InputError, r"only 0 and 1, got values in \[2, 2\]"),
    (np.full((4, 4, 4), -1, np.int8), InputError, r"\[-1, -1\]"),
])
def test_as_mask_errors(bad, exc, fragment):
    with pytest.raises(exc, match=fragment) as info:
        as_mask(bad)
    # a plain wrong Python type is not an InputError (the CLI never produces one)
    assert isinstance(info.value, InputError) == (exc is not TypeError)


def test_as_mask_names_the_parameter():
    with pytest.raises(InputError, match="^pores must be 3-D"):
        as_mask(np.ones(3, bool), name="pores")


# --------------------------------------------------------------------------- as_labels
def test_as_labels():
    u = np.zeros((2, 2, 2), np.uint8)
    assert as_labels(u) is u
    b = as_labels(np.ones((2, 2, 2), bool))
    assert b.dtype == np.uint8 and b.max() == 1
    w = as_labels(np.full((2, 2, 2), 255, np.int64))
    assert w.dtype == np.uint8 and int(w.max()) == 255


@pytest.mark.parametrize("bad,exc,fragment", [
    (None, TypeError, "labels must be a numpy array, got NoneType"),
    (np.zeros((3, 3), np.uint8), InputError, "3-D"),
    (np.zeros((0, 3, 3), np.uint8), InputError, "empty"),
    (np.zeros((3, 3, 3), np.float32), DTypeError, "integer labels .* dtype float32"),
    (np.full((3, 3, 3), 256, np.uint16), InputError, r"0\.\.255, got values in \[256, 256\]"),
    (np.full((3, 3, 3), -2, np.int32), InputError, r"\[-2, -2\]"),
])
def test_as_labels_errors(bad, exc, fragment):
    with pytest.raises(exc, match=fragment):
        as_labels(bad)


# --------------------------------------------------------------------------- check_axis
@pytest.mark.parametrize("axis,index", [
    (0, 0), (1, 1), (2, 2), (-1, 2), (-3, 0), (np.int64(1), 1),
    ("x", 0), ("Y", 1), (" z ", 2),
])
def test_check_axis(axis, index):
    assert check_axis(axis) == index


@pytest.mark.parametrize("axis,exc", [
    (3, InputError), (-4, InputError), ("w", InputError), ("", InputError),
    (True, TypeError), (1.0, TypeError), (None, TypeError), ([2], TypeError),
])
def test_check_axis_errors(axis, exc):
    with pytest.raises(exc, match=f"^direction must .*got {axis!r}$".replace("[", r"\[").replace("]", r"\]")):
        check_axis(axis, name="direction")


# --------------------------------------------------------------------------- check_positive
def test_check_positive():
    assert check_positive(2, "rtol") == 2.0 and isinstance(check_positive(2, "rtol"), float)
    assert check_positive(np.float32(0.5), "rtol") == 0.5
    assert check_positive(np.array(3.0), "rtol") == 3.0


@pytest.mark.parametrize("value,exc", [
    (0, InputError), (-1.5, InputError), (math.inf, InputError), (math.nan, InputError),
    ("1", TypeError), (True, TypeError), (None, TypeError), (1j, TypeError), (np.bool_(True), TypeError),
])
def test_check_positive_errors(value, exc):
    with pytest.raises(exc, match="^tolerance must be .*got"):
        check_positive(value, "tolerance")


# --------------------------------------------------------------------------- check_spacing
@pytest.mark.parametrize("value,expected", [
    (0.2, (0.2, 0.2, 0.2)),
    (1, (1.0, 1.0, 1.0)),
    (np.float32(0.5), (0.5, 0.5, 0.5)),
    (np.array(0.25), (0.25, 0.25, 0.25)),
    ((0.1, 0.1, 0.3), (0.1, 0.1, 0.3)),
    ([1, 2, 3], (1.0, 2.0, 3.0)),
    (np.array([0.5, 0.5, 2.0]), (0.5, 0.5, 2.0)),
])
def test_check_spacing(value, expected):
    out = check_spacing(value)
    assert out == pytest.approx(expected, rel=1e-7)
    assert isinstance(out, tuple) and all(type(v) is float for v in out)


@pytest.mark.parametrize("value,exc,fragment", [
    (-0.2, InputError, "positive finite number of micrometres, got -0.2"),
    (0, InputError, "got 0"),
    (math.nan, InputError, "got nan"),
    ((0.1, 0.2), InputError, r"three entries .* got \(0.1, 0.2\)"),
    ((0.1, 0.2, 0.3, 0.4), InputError, "three entries"),
    ((0.1, -0.2, 0.3), InputError, r"got \(0.1, -0.2, 0.3\)"),
    ((0.1, math.inf, 0.3), InputError, "positive finite"),
    ("0.2", TypeError, "got '0.2'"),
    (None, TypeError, "got None"),
    (True, TypeError, "got True"),
    ((0.1, "a", 0.3), TypeError, "real number"),
    ({"dx": 1}, InputError, "three entries"),
    (object(), TypeError, "voxel_size must be a number"),
])
def test_check_spacing_errors(value, exc, fragment):
    with pytest.raises(exc, match=fragment) as info:
        check_spacing(value)
    assert str(info.value).startswith("voxel_size ")


# --------------------------------------------------------------------------- descriptors re-export
def test_check_voxel_size_is_cubic_spacing():
    assert check_voxel_size(0.2) == 0.2
    assert check_voxel_size((0.5, 0.5, 0.5)) == 0.5
    with pytest.raises(InputError, match="cubic"):
        check_voxel_size((0.5, 0.5, 1.0))
    with pytest.raises(ValueError, match="voxel_size"):
        check_voxel_size(-1)
    with pytest.raises(TypeError, match="voxel_size"):
        check_voxel_size("1")


@pytest.mark.parametrize("bad", [1e300, 1e-300, (0.2, 0.2, 1e7), (1e-7, 0.2, 0.2)])
def test_check_spacing_refuses_voxel_sizes_outside_the_physical_range(bad):
    with pytest.raises(InputError, match="between"):
        check_spacing(bad)
