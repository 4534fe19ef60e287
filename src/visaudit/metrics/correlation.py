"""Rank correlations across models, with p-values that stay honest for a handful of models.

Spearman's rho and Kendall's tau of two paired samples. Kendall's p-value is scipy's (exact for
small samples without ties). Spearman's p from scipy's t-approximation is far too small for a
few models (n = 3 and rho = 1 give p = 0), so up to :data:`EXACT_SPEARMAN_MAX_N` models it is
the exact permutation p-value: the share of the n! pairings whose |rho| is at least the
observed one.

Example:
    >>> r = rank_correlation([1.0, 2.0, 3.0], [10.0, 20.0, 30.0])
    >>> r["n"], r["spearman_rho"], round(r["spearman_p"], 4), r["spearman_p_method"]
    (3, 1.0, 0.3333, 'exact permutation')
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

#: Up to this many models, Spearman's p-value is the exact permutation p (9! = 362 880 pairings).
EXACT_SPEARMAN_MAX_N = 9


def rank_correlation(x: Sequence[float], y: Sequence[float]) -> dict[str, float | int | str]:
    """Spearman and Kendall correlation of paired values (non-finite pairs dropped).

    Returns:
        ``n``, ``spearman_rho``, ``spearman_p``, ``spearman_p_method``, ``kendall_tau``,
        ``kendall_p``; NaN statistics when fewer than 3 pairs remain or one side is constant.
    """
    from scipy import stats

    pairs = [(float(a), float(b)) for a, b in zip(x, y) if math.isfinite(float(a)) and math.isfinite(float(b))]
    n = len(pairs)
    out: dict[str, float | int | str] = {
        "n": n,
        "spearman_rho": math.nan,
        "spearman_p": math.nan,
        "spearman_p_method": "",
        "kendall_tau": math.nan,
        "kendall_p": math.nan,
    }
    xs = np.array([p[0] for p in pairs])
    ys = np.array([p[1] for p in pairs])
    if n < 3 or np.ptp(xs) == 0 or np.ptp(ys) == 0:
        return out
    rho = float(stats.spearmanr(xs, ys).statistic)
    if n <= EXACT_SPEARMAN_MAX_N:
        p = float(_exact_spearman_p(xs, ys, rho))
        method = "exact permutation"
    else:
        p = float(stats.spearmanr(xs, ys).pvalue)
        method = "t approximation"
    k = stats.kendalltau(xs, ys)
    out.update(
        spearman_rho=rho,
        spearman_p=p,
        spearman_p_method=method,
        kendall_tau=float(k.statistic),
        kendall_p=float(k.pvalue),
    )
    return out


def _exact_spearman_p(x: np.ndarray, y: np.ndarray, rho: float) -> float:
    """Two-sided exact p: the share of all pairings of y with x whose |rho| >= |rho observed|."""
    from itertools import permutations

    from scipy.stats import rankdata

    rx = rankdata(x) - (len(x) + 1) / 2
    ry = rankdata(y) - (len(y) + 1) / 2
    scale = math.sqrt(float(rx @ rx) * float(ry @ ry))
    perms = np.array(list(permutations(range(len(y)))))
    rhos = (ry[perms] @ rx) / scale
    return float(np.mean(np.abs(rhos) >= abs(rho) - 1e-12))
