"""Disagreement scores between classifiers, per sample, from their probability vectors.

Scores (higher = the models disagree more):

- ``pair`` (ordered, two models A, B): ``p_A(y_A) - p_B(y_A)`` with ``y_A = argmax p_A``: how much
  of A's confidence in its own decision B withholds. In [-1, 1]; >= 0 whenever A's top class is
  at least as likely under A as under B.
- ``mean_pair`` (symmetric, any number of models): the mean of ``pair`` over all ordered pairs.
- ``js`` (symmetric): the generalised Jensen-Shannon divergence
  ``H(mean_m p_m) - mean_m H(p_m)`` in nats; 0 when all models give the same distribution,
  at most ``log(number of models)``.

Example:
    >>> import numpy as np
    >>> a, b = np.array([[0.9, 0.1]]), np.array([[0.2, 0.8]])
    >>> float(pair_score(a, b)[0])
    0.7
"""

from __future__ import annotations

import numpy as np

SCORES = ("pair", "mean_pair", "js")


def _check(probs: list[np.ndarray]) -> list[np.ndarray]:
    ps = [np.asarray(p, dtype=np.float64) for p in probs]
    if len(ps) < 2:
        raise ValueError("disagreement needs at least two models")
    if any(p.ndim != 2 or p.shape != ps[0].shape for p in ps):
        raise ValueError(f"probability arrays must share one (n, classes) shape, got {[p.shape for p in ps]}")
    return ps


def pair_score(pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    """``p_A(y_A) - p_B(y_A)`` per sample, ``y_A`` A's top class (first index on ties)."""
    a, b = _check([pa, pb])
    ya = a.argmax(1)
    rows = np.arange(len(a))
    return np.asarray(a[rows, ya] - b[rows, ya], dtype=np.float64)


def mean_pair_score(probs: list[np.ndarray]) -> np.ndarray:
    """Mean of :func:`pair_score` over every ordered pair of distinct models."""
    ps = _check(probs)
    pairs = [pair_score(ps[i], ps[j]) for i in range(len(ps)) for j in range(len(ps)) if i != j]
    return np.asarray(np.mean(pairs, axis=0), dtype=np.float64)


def _entropy(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(q > 0, q * np.log(q), 0.0)
    return np.asarray(-terms.sum(1), dtype=np.float64)


def js_score(probs: list[np.ndarray]) -> np.ndarray:
    """Generalised Jensen-Shannon divergence (equal weights, nats) per sample."""
    ps = _check(probs)
    mixed = _entropy(np.mean(ps, axis=0))
    return np.asarray(mixed - np.mean([_entropy(p) for p in ps], axis=0), dtype=np.float64)


def score(kind: str, probs: list[np.ndarray]) -> np.ndarray:
    """The score ``kind`` (one of :data:`SCORES`); ``pair`` uses the first two models, in order."""
    if kind == "pair":
        if len(probs) != 2:
            raise ValueError(f"the 'pair' score compares exactly two models, got {len(probs)}")
        return pair_score(probs[0], probs[1])
    if kind == "mean_pair":
        return mean_pair_score(probs)
    if kind == "js":
        return js_score(probs)
    raise ValueError(f"unknown disagreement score {kind!r}; known: {SCORES}")


def ranking(scores: np.ndarray, ids: list[str]) -> list[int]:
    """Row order by decreasing score; equal scores in sample-id order (deterministic)."""
    s = np.asarray(scores, dtype=np.float64)
    return sorted(range(len(s)), key=lambda i: (-s[i], ids[i]))
