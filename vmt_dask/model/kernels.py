"""One-dimensional filter kernels whose self-convolution is the Gaussian covariance.

A stationary Gaussian random field with covariance exp(-(alpha h)^2) (paper Eq. 3) is
white noise convolved with a kernel g satisfying (g * g)(h) = rho(h).  The covariance is
separable, rho(h) = prod_d exp(-(alpha_d h_d)^2), so g is a product of 1D kernels.
On the voxel lattice we take g_d = IDFT(sqrt(DFT(rho_d))) of the sampled covariance, which
makes the lattice covariance exact (a sampled continuous Gaussian kernel is only
approximately right when alpha is not small), and truncate it where the discarded energy
is below ``tol``.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.fft

__all__ = ["lattice_kernel", "axis_alphas", "REFERENCE_VOXEL_SIZE"]

#: Voxel size (micrometre) in whose units the covariance distances are measured (docs/conventions.md).
REFERENCE_VOXEL_SIZE = 0.2


def axis_alphas(alpha: float, anisotropy: float, voxel_size: float) -> tuple[float, float, float]:
    """Covariance parameter per axis in 1/voxel.

    ``h`` in Eq. (3) is a distance in units of 0.2 micrometre, so a voxel of size ``v`` is
    ``v / 0.2`` of those units; along z the field is compressed by ``a`` (it is the isotropic
    field at z / a), which divides alpha_z by ``a``.
    """
    s = alpha * voxel_size / REFERENCE_VOXEL_SIZE
    return (s, s, s / anisotropy)


@lru_cache(maxsize=256)
def lattice_kernel(alpha: float, tol: float = 1e-9) -> np.ndarray:
    """Symmetric kernel g (float64, odd length 2H+1) with sum_i g_i g_{i+h} = exp(-(alpha h)^2).

    Parameters
    ----------
    alpha : float
        Covariance parameter in 1/voxel, > 0.
    tol : float
        Largest fraction of the kernel energy sum g^2 that may be cut off; the kept part is
        rescaled to unit energy so the field variance is exactly 1.

    Notes
    -----
    The sampled covariance is periodised on a grid long enough that it has decayed below
    1e-17 before wrapping; its DFT is the (aliased) spectral density, non-negative up to
    rounding, which is clipped at 0 before the square root.
    """
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha!r}")
    reach = math.sqrt(-math.log(1e-17)) / alpha  # rho(reach) = 1e-17
    half = int(math.ceil(2 * reach)) + 8
    n = scipy.fft.next_fast_len(2 * half, real=True)
    h = np.arange(n, dtype=np.float64)
    h = np.minimum(h, n - h)
    rho = np.exp(-((alpha * h) ** 2))
    spectrum = np.clip(scipy.fft.rfft(rho).real, 0.0, None)
    g = scipy.fft.irfft(np.sqrt(spectrum), n=n)
    g = np.concatenate([g[n // 2 + 1:], g[: n // 2 + 1]])  # centre index n//2 - 1 ... shift below
    centre = n - (n // 2 + 1)
    energy = g * g
    total = energy.sum()
    # smallest H whose cut-off tails carry <= tol of the energy
    H = 0
    while H < centre and total - energy[centre - H: centre + H + 1].sum() > tol * total:
        H += 1
    kernel = g[centre - H: centre + H + 1].copy()
    kernel /= math.sqrt((kernel * kernel).sum())
    kernel = 0.5 * (kernel + kernel[::-1])  # exact symmetry
    kernel /= math.sqrt((kernel * kernel).sum())
    kernel.setflags(write=False)
    return kernel
