import numpy as np
import pytest


@pytest.fixture(scope="session")
def bm01_labels():
    """A small BM01 realization (x, y, z) at 0.2 micrometre (the first release's "lattice"
    generator, named: the tests below were written against this volume)."""
    from vmt_dask.model import CALIBRATED, realize

    return realize(CALIBRATED["BM01"], (48, 48, 48), seed=1, generator="lattice")


def ball(shape, centre, radius):
    grids = np.ogrid[tuple(slice(0, s) for s in shape)]
    d2 = sum((g - c) ** 2 for g, c in zip(grids, centre))
    return d2 < radius * radius
