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


def real_top1(pred: np.ndarray, label_sets: "list[list[int] | None]") -> tuple[float, int]:
    """ReaL accuracy (Beyer et al. 2020): the share of images whose top-1 is in their ReaL label set.

    Images without a set (``None``) or with an empty one (no label the raters agreed on) are left
    out, as in the paper. Returns ``(accuracy, images counted)``; NaN when none counts.

    Example:
        >>> real_top1(np.array([3, 5, 7, 1]), [[3, 4], [6], [], None])
        (0.5, 2)
    """
    hits = [int(p) in set(s) for p, s in zip(pred, label_sets) if s]
    return (float(np.mean(hits)) if hits else float("nan")), len(hits)
