import numpy as np
import pytest
from scipy import integrate
from scipy.stats import chi2, norm

from vmt_dask.chunked import realize_dask
from vmt_dask.errors import InputError
from vmt_dask.model import AM, CALIBRATED, PORE, SE, realize


def exact_fractions(theta, n=2):
    """P(X' + X'' >= lambda) for X' ~ chi2(n), X'' ~ N(0, 1), by quadrature (docs/conventions.md)."""
    def p(lam):
        return integrate.quad(lambda x: chi2.sf(lam - x, n) * norm.pdf(x), -12, 12, epsabs=1e-12)[0]
    se = p(theta.lambda_x)
    am = (1 - se) * p(theta.lambda_y)
    return se, am


def test_design_card_fractions():
    se, am = exact_fractions(CALIBRATED["BM01"])
    assert se == pytest.approx(0.438, abs=5e-4) and am == pytest.approx(0.501, abs=5e-4)


@pytest.mark.parametrize("generator", ["lattice", "fast", "simd", "simd2"])  # simd2: the default
@pytest.mark.parametrize("name", ["BM01", "BM03", "BM10"])
def test_volume_fractions_match_n2_values(name, generator):
    """Mean phase fractions over K seeds agree with the exact values within 5 standard errors,
    for every point-sampling generator with its own random numbers (the same law).

    The realizations use 1 um voxels (the same material imaged 5x coarser) so that a 40^3
    window holds many correlation lengths and the standard error is small.
    """
    theta = CALIBRATED[name]
    K = 8
    fr = np.array([[np.mean(realize(theta, 40, seed=s, voxel_size=1.0, generator=generator) == lab)
                    for lab in (SE, AM)] for s in range(K)])
    mean, se = fr.mean(0), fr.std(0, ddof=1) / np.sqrt(K)
    exact = np.array(exact_fractions(theta))
    assert np.all(se < 0.03), se
    assert np.all(np.abs(mean - exact) <= 5 * se), (name, mean, exact, se)


def test_labels_and_determinism():
    th = CALIBRATED["BM03"]
    a = realize(th, (20, 24, 28), seed=11, voxel_size=0.5)
    b = realize(th, (20, 24, 28), seed=11, voxel_size=0.5)
    c = realize(th, (20, 24, 28), seed=12, voxel_size=0.5)
    assert a.dtype == np.uint8 and a.shape == (20, 24, 28)
    assert set(np.unique(a)) <= {PORE, SE, AM}
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("chunks", [(13, 17, 11), (7, 30, 5)])
def test_chunk_invariance_multi_tile(chunks):
    """Several generation tiles (tile=16) and chunks that cut across them."""
    th = CALIBRATED["BM01"]
    shape = (30, 37, 45)
    ref = realize(th, shape, seed=5, voxel_size=1.0, tile=16)
    d = realize_dask(th, shape, seed=5, voxel_size=1.0, tile=16, chunks=chunks)
    assert np.array_equal(d.compute(scheduler="threads"), ref)


def test_dask_default_chunks_equal_realize():
    th = CALIBRATED["BM10"]
    ref = realize(th, (33, 20, 26), seed=2, voxel_size=0.8)
    d = realize_dask(th, (33, 20, 26), seed=2, voxel_size=0.8, chunks=(10, 20, 9))
    assert np.array_equal(d.compute(), ref)


@pytest.mark.parametrize("q", [1, 4, 5, 6])
def test_common_random_numbers_give_close_structures(q):
    """Same seed, theta perturbed by delta = 0.05 (the study's finite difference): few voxels
    change, far fewer than between two seeds.  This is what makes the gradients low-noise."""
    th = CALIBRATED["BM01"]
    a = realize(th, 32, seed=4, voxel_size=0.8)
    step = np.zeros(7)
    step[q] = 0.05
    b = realize(th.from_sequence(th.to_array() + step), 32, seed=4, voxel_size=0.8)
    other = realize(th, 32, seed=5, voxel_size=0.8)
    assert 0 < np.mean(a != b) < 0.1 < 0.4 < np.mean(a != other)


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(shape=(0, 4, 4)), "shape"),
    (dict(shape=(4, 4)), "shape"),
    (dict(seed=-1), "seed"),
    (dict(voxel_size=0.0), "voxel_size"),
    (dict(chi2_dof=0), "chi2_dof"),
])
def test_bad_input(kwargs, fragment):
    args = dict(shape=(4, 4, 4), seed=1)
    args.update(kwargs)
    shape = args.pop("shape")
    with pytest.raises(ValueError, match=fragment):
        realize(CALIBRATED["BM01"], shape, **args)


def test_field_cache_returns_the_same_bits():
    """Realizations that share a summed field (same seed, a threshold or the other field's
    alphas perturbed, as in the study's finite differences) are the same with and without the
    per-process field cache."""
    import importlib

    realize_mod = importlib.import_module("vmt_dask.model.realize")  # the module, not the function

    th = CALIBRATED["BM01"].to_array()
    variants = [th.copy() for _ in range(4)]
    variants[1][5] += 0.05  # lambda_X: both sums reused
    variants[2][3] += 0.05  # alpha_Y'': X reused
    variants[3][0] += 0.05  # alpha_Xtilde: Y reused
    realize_mod.clear_field_cache()
    warm = [realize(v, 20, seed=9, voxel_size=0.6) for v in variants]
    hits = realize_mod._cache_stats["hits"]
    assert hits >= 4
    cold = []
    for v in variants:
        realize_mod.clear_field_cache()
        cold.append(realize(v, 20, seed=9, voxel_size=0.6))
    for a, b in zip(warm, cold):
        assert np.array_equal(a, b)
    assert not np.array_equal(warm[0], warm[1])


@pytest.mark.parametrize("kwargs, error", [
    (dict(seed="a"), TypeError),
    (dict(seed=1.5), TypeError),
    (dict(shape=(4.0, 4, 4)), TypeError),
    (dict(shape=(4.0, 4)), TypeError),
    (dict(shape=4.0), TypeError),
    (dict(voxel_size="0.2"), TypeError),
    (dict(seed=-1), InputError),
    (dict(shape=(-4, 4, 4)), InputError),
    (dict(voxel_size=float("nan")), InputError),
])
def test_bad_type_is_type_error_and_bad_value_is_input_error(kwargs, error):
    args = dict(shape=(4, 4, 4), seed=1)
    args.update(kwargs)
    shape = args.pop("shape")
    with pytest.raises(error) as info:
        realize(CALIBRATED["BM01"], shape, **args)
    assert type(info.value) is error  # InputError is a ValueError; not the other way round
    assert (list(kwargs) == ["shape"] and "shape" in str(info.value)) or list(kwargs)[0] in str(info.value)
