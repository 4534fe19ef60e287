"""The seeded subset of a dataset that a job scores."""

from __future__ import annotations

import numpy as np


def select_indices(n: int, max_images: int | None, seed: int) -> np.ndarray:
    """All positions, or a seeded random subset of ``max_images`` in ascending order.

    Example:
        >>> select_indices(5, None, 0).tolist()
        [0, 1, 2, 3, 4]
        >>> len(select_indices(1000, 10, 0))
        10
    """
    if max_images is None or max_images >= n:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=max_images, replace=False)).astype(np.int64)


def seeded_sample(indices: np.ndarray, n: int, seed: int) -> np.ndarray:
    """A fixed, seeded sample of ``n`` of the job's positions (sorted); ``n <= 0`` or more keeps all.

    Example:
        >>> seeded_sample(np.arange(10), 3, 0).tolist() == seeded_sample(np.arange(10), 3, 0).tolist()
        True
    """
    base = np.asarray(indices)
    if n <= 0 or n >= len(base):
        return base
    rng = np.random.default_rng([seed, 0x5EED])
    return np.sort(rng.choice(base, size=n, replace=False))
