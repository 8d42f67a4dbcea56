"""What one realization costs: counted work and a CPU-time estimate from measured rates.

The estimate counts the work of each Gaussian field as :func:`~vmt_dask.model.realize` does it
(the same tiles, halos, kernels and paths) and prices it with per-operation CPU times measured
on the project's 2-core reference machine (``python -m vmt_dask.bench generate`` prints the
estimate beside the measured time).  It is meant to tell "seconds" from "hours" before a long
run is started (``vmt generate`` refuses long runs unless asked), not to time a run to the
second: on a loaded or a different machine the truth can differ by a factor of ~2.

"fast" (:mod:`.fast`)
    direct fields: noise values of the halo box, and symmetric tap pairs of the three
    separable passes (z over the halo box's rows, y over the x-halo, x over the tile);
    smooth fields (:func:`~vmt_dask.model.spectral.uses_spectral`): the folded spectral synthesis, ~(M_x + 1)
    multiply-adds per voxel plus the y pass.
"lattice", "point", "cell", "band", "simd"
    the same counted work priced with the CPU ratio to "fast" measured at 401^3 (BM01,
    session 3: lattice 2.9x, point 2.3x; cell and band take point's FFT convolution path;
    session 6, after simd's vector kernels: simd 0.69x one thread and 0.71x two threads at
    401^3 (bench generate, same run, load 3-5: 7.32 vs 10.57 and 7.39 vs 10.38 CPU s), 0.71x in
    the one-thread profile (6.63 vs 9.35 s), 0.66-0.74x at 200^3 (6 same-process pairs));
    session 7: simd2 0.87x simd for BM01 (0.67x for BM03, two spectral fields) at 200^3, one
    thread, 5 alternated pairs in one process (load ~4.7): 0.70 * 0.87 = 0.61; at 401^3 (bench
    generate, same run, load 1.3-1.9) simd2 5.55 vs fast 9.26 CPU s one thread = 0.60.  The
    re-pinned simd2 (one more multiply per noise word, module simd): 1.034x the first version's
    CPU for BM01 and 1.016x for BM03 at 200^3 (one thread, 5 alternated pairs in one process,
    load 1.05), 0.92x simd for BM01 and 0.75x for BM03 (same conditions); at 401^3 (bench
    generate, same run, load 1.04) 5.66 vs fast 9.41 CPU s = 0.60 (second calls 5.00 vs 8.70 =
    0.57), so the factor stays 0.61.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from .covariance import DEFAULT_GENERATOR, DIRECT_GENERATORS, check_generator, generator_kernel
from .kernels import axis_alphas
from .spectral import spectral_modes, uses_spectral

__all__ = ["GenerationWork", "generation_work", "estimate_cpu_seconds", "NS_PER_PAIR", "NS_PER_NOISE",
           "NS_PER_MODE", "NS_PER_VOXEL"]

#: CPU nanoseconds per symmetric tap pair of "fast"'s direct convolution (one add, one multiply,
#: its share of the accumulation; AVX2 float32), measured at 128^3-200^3 on the 2-core machine.
NS_PER_PAIR = 0.25
#: CPU nanoseconds per noise value of "fast" (SplitMix64 finaliser per pair + ziggurat).
NS_PER_NOISE = 6.5
#: CPU nanoseconds per voxel and retained x wave number of the spectral synthesis.
NS_PER_MODE = 0.6
#: CPU nanoseconds per voxel for the rest (thresholds, labels, zeroing the sums).
NS_PER_VOXEL = 4.0
#: CPU time of each generator relative to "fast" on the same counted work (401^3 BM01 medians).
GENERATOR_FACTOR = {"fast": 1.0, "lattice": 2.9, "point": 2.3, "cell": 2.3, "band": 2.3, "simd": 0.70,
                    "simd2": 0.61}


@dataclass(frozen=True)
class GenerationWork:
    """Counted work of one realization (all tiles, all fields)."""

    voxels: int
    noise_values: int  # white noise of the direct fields' halo boxes
    tap_pairs: int  # symmetric tap pairs of the direct separable passes
    mode_voxels: int  # voxels x retained x wave numbers of the spectral fields (+ their y pass)
    direct_fields: int
    spectral_fields: int

    def cpu_seconds(self, generator: str = DEFAULT_GENERATOR) -> float:
        """CPU seconds at the measured rates (``NS_PER_*``, ``GENERATOR_FACTOR``)."""
        ns = (self.tap_pairs * NS_PER_PAIR + self.noise_values * NS_PER_NOISE
              + self.mode_voxels * NS_PER_MODE + self.voxels * NS_PER_VOXEL)
        return ns * 1e-9 * GENERATOR_FACTOR[check_generator(generator)]


def _tiles(n: int, tile: int) -> list[int]:
    k = -(-n // tile)
    edges = [(i * n) // k for i in range(k + 1)]
    return [edges[i + 1] - edges[i] for i in range(k)]


def generation_work(theta, shape, *, voxel_size: float = 0.2, chi2_dof: int = 2, tile: int = 512,
                    generator: str = DEFAULT_GENERATOR) -> GenerationWork:
    """Count the work of ``realize(theta, shape, ...)`` (see the module docstring).

    ``theta``: a :class:`~vmt_dask.model.Theta`; ``shape``: three positive ints (voxels).
    Raises ValueError (InputError) for an unknown generator.
    """
    generator = check_generator(generator)
    shape = tuple(int(s) for s in shape)
    tiles = [_tiles(n, tile) for n in shape]
    voxels = math.prod(shape)
    fields = ([theta.alpha_xt] * chi2_dof + [theta.alpha_x] + [theta.alpha_yt] * chi2_dof + [theta.alpha_y])
    noise = pairs = modes = 0
    direct = spectral = 0
    for alpha in fields:
        alphas = axis_alphas(alpha, theta.a, voxel_size)
        if uses_spectral(generator, alphas):
            spectral += 1
            (_, mx, _), (_, my, _) = [spectral_modes(float(a), n, generator) for a, n in zip(alphas[:2], shape[:2])]
            kx = mx + 1 if generator in DIRECT_GENERATORS else 2 * mx + 1
            # x pass: kx per voxel; y pass: kx (2 my + 1) complex multiply-adds per (y, z) column
            for tx in tiles[0]:
                for ty in tiles[1]:
                    for tz in tiles[2]:
                        modes += kx * tx * ty * tz + 4 * kx * (2 * my + 1) * ty * tz
            continue
        direct += 1
        hx, hy, hz = (len(generator_kernel(a, generator)) // 2 for a in alphas)
        for tx in tiles[0]:
            for ty in tiles[1]:
                for tz in tiles[2]:
                    lx, ly, lz = tx + 2 * hx, ty + 2 * hy, tz + 2 * hz
                    noise += lx * ly * lz
                    pairs += lx * ly * tz * (hz + 1) + lx * ty * tz * (hy + 1) + tx * ty * tz * (hx + 1)
    return GenerationWork(voxels, noise, pairs, modes, direct, spectral)


def estimate_cpu_seconds(theta, shape, *, voxel_size: float = 0.2, chi2_dof: int = 2, tile: int = 512,
                         generator: str = DEFAULT_GENERATOR) -> float:
    """Estimated CPU seconds of one realization (all threads together; wall ~ this / threads
    on an idle machine).  See :func:`generation_work`."""
    return generation_work(theta, shape, voxel_size=voxel_size, chi2_dof=chi2_dof, tile=tile,
                           generator=generator).cpu_seconds(generator)
