"""Accuracy-style metrics from streamed sums."""

from __future__ import annotations

import numpy as np


def safe_ratio(num: np.ndarray | float, den: np.ndarray | float) -> np.ndarray | float:
    """num / den with NaN where den == 0."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    return out if out.ndim else float(out)


def nll(probs_of_true: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Negative log-likelihood per sample from the probability of the true class."""
    out: np.ndarray = -np.log(np.clip(probs_of_true, eps, 1.0))
    return out
