"""Calibration metrics: ECE (equal-width and adaptive), MCE, class-wise ECE, NLL, Brier,
reliability-diagram data and temperature scaling.

All functions take probabilities ``probs`` (N, C) whose rows sum to 1 and integer labels
``labels`` (N,), and return plain floats / dicts. The top-label confidence of a sample is
``probs.max(1)``, its prediction ``probs.argmax(1)``.

Binning convention (Guo et al. 2017): ``n_bins`` equal-width bins over [0, 1], each bin
``(lo, hi]`` closed on the right, so a confidence of exactly 1.0 falls into the last bin
(torchmetrics 1.x puts it into an extra bin of its own; the two agree whenever no
confidence is exactly 1.0, which is what the tests check).

Example:
    >>> import numpy as np
    >>> p = np.array([[0.85, 0.15], [0.62, 0.38], [0.25, 0.75]])
    >>> round(ece(p, np.array([0, 1, 1]), n_bins=10), 4)  # (0.15 + 0.62 + 0.25) / 3
    0.34
"""

from __future__ import annotations

from typing import Callable

import numpy as np

DEFAULT_BINS = 15


def _check(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if probs.ndim != 2 or labels.shape != (probs.shape[0],):
        raise ValueError(f"probs must be (N, C) and labels (N,); got {probs.shape} and {labels.shape}")
    if len(labels) == 0:
        raise ValueError("no samples")
    return probs, labels


def bin_index(values: np.ndarray, n_bins: int = DEFAULT_BINS) -> np.ndarray:
    """Index 0..n_bins-1 of the equal-width bin ``(lo, hi]`` holding each value in [0, 1]."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.searchsorted(edges, np.asarray(values, dtype=np.float64), side="left") - 1
    return np.clip(idx, 0, n_bins - 1)


def _binned_gaps(conf: np.ndarray, hit: np.ndarray, bins: np.ndarray, n_bins: int) -> tuple[np.ndarray, ...]:
    count = np.bincount(bins, minlength=n_bins).astype(np.float64)
    conf_sum = np.bincount(bins, weights=conf, minlength=n_bins)
    hit_sum = np.bincount(bins, weights=hit.astype(np.float64), minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = conf_sum / count
        mean_hit = hit_sum / count
    return count, mean_conf, mean_hit


def reliability_bins(probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_BINS) -> dict[str, list]:
    """Reliability-diagram data per equal-width bin.

    Returns:
        ``{"lower", "upper", "count", "confidence", "accuracy"}`` lists of length ``n_bins``;
        ``confidence``/``accuracy`` are None for empty bins.
    """
    probs, labels = _check(probs, labels)
    conf, pred = probs.max(1), probs.argmax(1)
    count, mc, ma = _binned_gaps(conf, pred == labels, bin_index(conf, n_bins), n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)

    def nan_to_none(a: np.ndarray) -> list:
        return [None if not np.isfinite(v) else float(v) for v in a]

    return {
        "lower": edges[:-1].tolist(),
        "upper": edges[1:].tolist(),
        "count": count.astype(int).tolist(),
        "confidence": nan_to_none(mc),
        "accuracy": nan_to_none(ma),
    }


def ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_BINS) -> float:
    """Expected calibration error: sum over bins of (n_b / N) * |accuracy_b - confidence_b|."""
    probs, labels = _check(probs, labels)
    conf, pred = probs.max(1), probs.argmax(1)
    count, mc, ma = _binned_gaps(conf, pred == labels, bin_index(conf, n_bins), n_bins)
    keep = count > 0
    return float(np.sum(count[keep] / len(labels) * np.abs(ma[keep] - mc[keep])))


def mce(probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_BINS) -> float:
    """Maximum calibration error: the largest |accuracy_b - confidence_b| over non-empty bins."""
    probs, labels = _check(probs, labels)
    conf, pred = probs.max(1), probs.argmax(1)
    count, mc, ma = _binned_gaps(conf, pred == labels, bin_index(conf, n_bins), n_bins)
    keep = count > 0
    return float(np.max(np.abs(ma[keep] - mc[keep])))


def ece_adaptive(probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_BINS) -> float:
    """Adaptive ECE: like :func:`ece` but with equal-mass bins (sorted confidences split into
    ``n_bins`` groups of as-equal-as-possible size; Nixon et al. 2019)."""
    probs, labels = _check(probs, labels)
    conf, pred = probs.max(1), probs.argmax(1)
    order = np.argsort(conf, kind="stable")
    hit = (pred == labels).astype(np.float64)[order]
    conf = conf[order]
    total = 0.0
    for part in np.array_split(np.arange(len(conf)), min(n_bins, len(conf))):
        total += len(part) * abs(hit[part].mean() - conf[part].mean())
    return float(total / len(conf))


def classwise_ece(probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_BINS) -> float:
    """Class-wise ECE (Kull et al. 2019): per class k, bin p_k over all samples against the
    frequency of label k, then average the per-class ECEs over classes."""
    probs, labels = _check(probs, labels)
    n, c = probs.shape
    per_class = []
    for k in range(c):
        pk = probs[:, k]
        count, mc, ma = _binned_gaps(pk, labels == k, bin_index(pk, n_bins), n_bins)
        keep = count > 0
        per_class.append(np.sum(count[keep] / n * np.abs(ma[keep] - mc[keep])))
    return float(np.mean(per_class))


def nll(probs: np.ndarray, labels: np.ndarray, eps: float = 1e-12) -> float:
    """Mean negative log-likelihood of the true label (probabilities clipped at ``eps``)."""
    probs, labels = _check(probs, labels)
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(labels)), labels], eps, None))))


def brier(probs: np.ndarray, labels: np.ndarray) -> float:
    """Multi-class Brier score: mean over samples of sum_k (p_k - onehot_k)^2 (range 0..2)."""
    probs, labels = _check(probs, labels)
    target = np.zeros_like(probs)
    target[np.arange(len(labels)), labels] = 1.0
    return float(np.mean(np.sum((probs - target) ** 2, axis=1)))


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Numerically stable softmax of ``logits / temperature`` in float64."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def nll_from_logits(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """NLL of ``softmax(logits / T)`` computed with log-sum-exp (no clipping needed)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    m = z.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    labels = np.asarray(labels, dtype=np.int64)
    return float(np.mean(lse - z[np.arange(len(labels)), labels]))


def fit_temperature(
    logits: np.ndarray,
    labels: np.ndarray,
    probs_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    bounds: tuple[float, float] = (0.05, 20.0),
) -> float:
    """Temperature T minimising the NLL of ``probs_fn(logits / T)`` (Guo et al. 2017).

    Args:
        logits: (N, C) model logits of the fitting split.
        labels: (N,) labels in the space ``probs_fn`` maps to.
        probs_fn: maps scaled logits to probabilities; default softmax (then NLL is convex in
            1/T, so the bounded 1-D search over log T finds the global minimum).
        bounds: search range for T.
    """
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)

    def loss(log_t: float) -> float:
        t = float(np.exp(log_t))
        if probs_fn is None:
            return nll_from_logits(logits, labels, t)
        return nll(probs_fn(logits / t), labels)

    res = minimize_scalar(
        loss, bounds=(np.log(bounds[0]), np.log(bounds[1])), method="bounded", options={"xatol": 1e-5}
    )
    return float(np.exp(res.x))


def held_out_split(n: int, fit_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded random split of positions 0..n-1 into (fit, held-out), each sorted."""
    if not 0.0 < fit_fraction < 1.0:
        raise ValueError("fit_fraction must be in (0, 1)")
    perm = np.random.default_rng(seed).permutation(n)
    k = int(round(n * fit_fraction))
    if k == 0 or k == n:
        raise ValueError(f"cannot split {n} samples with fit_fraction={fit_fraction}")
    return np.sort(perm[:k]), np.sort(perm[k:])


def confidence_summary(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Over-confidence summaries: accuracy, mean confidence (all / correct / wrong) and
    ``overconfidence`` = mean confidence - accuracy (positive: over-confident)."""
    probs, labels = _check(probs, labels)
    conf, hit = probs.max(1), probs.argmax(1) == labels
    acc = float(hit.mean())
    return {
        "accuracy": acc,
        "confidence_mean": float(conf.mean()),
        "confidence_correct": float(conf[hit].mean()) if hit.any() else float("nan"),
        "confidence_wrong": float(conf[~hit].mean()) if (~hit).any() else float("nan"),
        "overconfidence": float(conf.mean()) - acc,
    }


def calibration_metrics(probs: np.ndarray, labels: np.ndarray, n_bins: int = DEFAULT_BINS) -> dict[str, float]:
    """Every scalar calibration metric of one set of predictions."""
    out = {
        "ece": ece(probs, labels, n_bins),
        "ece_adaptive": ece_adaptive(probs, labels, n_bins),
        "mce_calibration": mce(probs, labels, n_bins),
        "ece_classwise": classwise_ece(probs, labels, n_bins),
        "nll": nll(probs, labels),
        "brier": brier(probs, labels),
    }
    out.update(confidence_summary(probs, labels))
    return out
