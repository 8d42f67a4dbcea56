import math

import pytest

from vmt_dask.model import CALIBRATED, PARAMETER_NAMES, Theta


def test_order_and_roundtrip():
    th = CALIBRATED["BM01"]
    assert th.to_array().tolist() == [0.07, 0.13, 0.02, 0.65, 0.92, 1.87, -0.26]
    assert Theta.from_sequence(th.to_array()) == th
    assert list(th.to_dict()) == list(PARAMETER_NAMES)


def test_table1_values():
    assert CALIBRATED["BM03"].alpha_yt == 3.29 and CALIBRATED["BM10"].a == 1.0
    assert CALIBRATED["BM10"].lambda_y == 0.04


@pytest.mark.parametrize("values, fragment", [
    ([1, 2, 3], "needs 7 values"),
    ([0, 1, 1, 1, 1, 1, 1], "alpha_xt must be > 0"),
    ([1, 1, 1, -1, 1, 1, 1], "alpha_y must be > 0"),
    ([1, 1, 1, 1, 0, 1, 1], "a must be > 0"),
    ([1, 1, 1, 1, 1, math.nan, 1], "lambda_x must be finite"),
    ([1, 1, 1, 1, 1, 1, math.inf], "lambda_y must be finite"),
])
def test_validation_names_the_value(values, fragment):
    with pytest.raises(ValueError, match=fragment):
        Theta.from_sequence(values)


def test_type_errors():
    with pytest.raises(TypeError):
        Theta.from_sequence("1234567")
    with pytest.raises(TypeError):
        Theta(1, 1, 1, 1, 1, 1, "x")


def test_frozen():
    with pytest.raises(Exception):
        CALIBRATED["BM01"].a = 2.0
