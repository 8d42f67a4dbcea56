"""Seeded train/test split of the structures (paper Section 2.6)."""
from __future__ import annotations

import math

import numpy as np

from ..errors import InputError

__all__ = ["DEFAULT_SEED", "default_train_size", "train_test_split"]

#: Seed used when none is given (the CLI's ``--seed`` default).
DEFAULT_SEED = 0

#: The paper's design: 495 structures, 331 for training, 164 for testing.
_PAPER_SIZES = {495: 331}


def default_train_size(n: int) -> int:
    """Number of training structures for *n* structures.

    331 for the paper's 495 structures; otherwise two thirds rounded up
    (``ceil(2 n / 3)``), which leaves one third (rounded down) for testing.

    Raises
    ------
    InputError
        If *n* < 3: fewer than three structures cannot be split into two
        non-empty parts of which the training part has at least two members.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 3:
        raise InputError(f"too few structures to split: n = {n} (need at least 3)")
    if n in _PAPER_SIZES:
        return _PAPER_SIZES[n]
    return min(math.ceil(2 * n / 3), n - 1)


def train_test_split(
    n: int, *, seed: int | np.random.SeedSequence | None = DEFAULT_SEED, n_train: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(n)`` at random into a training and a test set.

    Parameters
    ----------
    n : int
        Number of structures.
    seed : int or numpy.random.SeedSequence, default 0
        Seed of the permutation; the same seed gives the same split.
    n_train : int, optional
        Training-set size; default :func:`default_train_size` (331 of 495,
        two thirds otherwise).

    Returns
    -------
    train, test : ndarray of int
        Sorted, disjoint positions whose union is ``range(n)``.

    Raises
    ------
    InputError
        If *n* < 3 or *n_train* is not in ``[1, n - 1]``.
    """
    default = default_train_size(n)
    if n_train is None:
        n_train = default
    elif isinstance(n_train, bool) or not isinstance(n_train, (int, np.integer)):
        raise TypeError(f"n_train must be an int, got {type(n_train).__name__}")
    elif not 1 <= n_train <= n - 1:
        raise InputError(f"n_train must be in [1, {n - 1}] for n = {n}, got {n_train}")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    return np.sort(perm[:n_train]), np.sort(perm[n_train:])
