"""The counted work of a realization (vmt_dask.model.cost) against hand counts and realize's paths."""
import math

import pytest

from vmt_dask.model import CALIBRATED, Theta
from vmt_dask.model.cost import GENERATOR_FACTOR, estimate_cpu_seconds, generation_work
from vmt_dask.model.covariance import generator_kernel
from vmt_dask.model.kernels import axis_alphas


def _halves(alpha, theta, voxel_size=0.2, generator="fast"):
    return [len(generator_kernel(a, generator)) // 2 for a in axis_alphas(alpha, theta.a, voxel_size)]


def test_direct_fields_hand_count():
    # every field direct (all alphas above the spectral threshold): noise = halo box volume,
    # tap pairs = (Hz+1) per z-pass output on the (x,y)-halo rows, (Hy+1) per y-pass output
    # on the x-halo planes, (Hx+1) per x-pass output
    theta = Theta(0.3, 0.4, 0.25, 0.5, 0.9, 1.5, 0.0)
    shape = (20, 22, 24)
    w = generation_work(theta, shape, chi2_dof=2)
    noise = pairs = 0
    for alpha in [theta.alpha_xt] * 2 + [theta.alpha_x] + [theta.alpha_yt] * 2 + [theta.alpha_y]:
        hx, hy, hz = _halves(alpha, theta)
        lx, ly, lz = 20 + 2 * hx, 22 + 2 * hy, 24 + 2 * hz
        noise += lx * ly * lz
        pairs += lx * ly * 24 * (hz + 1) + lx * 22 * 24 * (hy + 1) + 20 * 22 * 24 * (hx + 1)
    assert (w.noise_values, w.tap_pairs, w.mode_voxels) == (noise, pairs, 0)
    assert (w.direct_fields, w.spectral_fields, w.voxels) == (6, 0, math.prod(shape))


def test_paths_follow_realize():
    # BM01: X'' (alpha_x = 0.02 per voxel) is spectral for every generator but lattice
    th = CALIBRATED["BM01"]
    fast = generation_work(th, (32, 32, 32))
    lattice = generation_work(th, (32, 32, 32), generator="lattice")
    assert (fast.direct_fields, fast.spectral_fields) == (5, 1) and fast.mode_voxels > 0
    assert (lattice.direct_fields, lattice.spectral_fields) == (6, 0) and lattice.mode_voxels == 0
    assert lattice.noise_values > fast.noise_values  # the smooth field's large halo
    # chi2_dof adds fields
    assert generation_work(th, (32, 32, 32), chi2_dof=3).direct_fields == 7


@pytest.mark.parametrize("name", ["BM01", "BM03", "BM10"])
def test_counts_match_the_calls_realize_makes(monkeypatch, name):
    import importlib

    rmod = importlib.import_module("vmt_dask.model.realize")

    calls = {"direct": 0, "spectral": 0}

    def direct(*a, out, **k):
        calls["direct"] += 1
        return out

    def spectral(*a, out, **k):
        calls["spectral"] += 1
        return out

    monkeypatch.setattr(rmod, "fast_field", direct)
    monkeypatch.setattr(rmod, "simd_field", direct)  # the default generator's direct fields
    monkeypatch.setattr(rmod, "spectral_field", spectral)
    rmod.clear_field_cache()
    rmod.realize(CALIBRATED[name], (12, 13, 14), seed=3)
    rmod.clear_field_cache()
    w = generation_work(CALIBRATED[name], (12, 13, 14))
    assert (w.direct_fields, w.spectral_fields) == (calls["direct"], calls["spectral"])


def test_tiles_pay_their_own_halo():
    theta = Theta(0.3, 0.4, 0.25, 0.5, 1.0, 1.5, 0.0)
    one = generation_work(theta, (40, 40, 40), tile=512)
    eight = generation_work(theta, (40, 40, 40), tile=20)  # 2 x 2 x 2 tiles of 20^3
    assert eight.voxels == one.voxels
    assert eight.noise_values > one.noise_values and eight.tap_pairs > one.tap_pairs
    # the x pass (no halo) is the same; the difference is exactly the extra halos
    h = _halves(theta.alpha_y, theta)
    per_tile = (20 + 2 * h[0]) * (20 + 2 * h[1]) * (20 + 2 * h[2])
    single = (40 + 2 * h[0]) * (40 + 2 * h[1]) * (40 + 2 * h[2])
    one_y = generation_work(Theta(1e3, 1e3, 1e3, theta.alpha_y, 1.0, 1.5, 0.0), (40, 40, 40), chi2_dof=1)
    eight_y = generation_work(Theta(1e3, 1e3, 1e3, theta.alpha_y, 1.0, 1.5, 0.0), (40, 40, 40), chi2_dof=1, tile=20)
    assert eight_y.noise_values - one_y.noise_values == 8 * per_tile - single


def test_estimate_scales_and_prices_generators():
    th = CALIBRATED["BM10"]
    small, big = (estimate_cpu_seconds(th, (n, n, n)) for n in (64, 128))
    assert 4 < big / small < 16  # 8x the voxels, smaller relative halo
    fast = estimate_cpu_seconds(th, (64, 64, 64), generator="fast")
    assert estimate_cpu_seconds(th, (64, 64, 64), generator="point") > fast
    w = generation_work(th, (64, 64, 64), generator="lattice")
    assert w.cpu_seconds("lattice") == pytest.approx(GENERATOR_FACTOR["lattice"] * w.cpu_seconds("fast"))
    with pytest.raises(ValueError, match="nope"):
        generation_work(th, (8, 8, 8), generator="nope")
