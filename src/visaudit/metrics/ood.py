"""Out-of-distribution detection metrics: AUROC, AUPR-In, AUPR-Out, FPR at 95 % TPR.

Sign convention (one for the whole project, as OpenOOD): a detector's **score is higher for
in-distribution (ID)** samples; **OOD is the positive class** for AUROC and AUPR-Out.

- ``auroc``: probability that a random OOD sample scores lower than a random ID sample
  (ties count one half). 0.5 = chance, 1.0 = perfect separation.
- ``aupr_out``: average precision with OOD as positive and ``-score`` as the ranking.
- ``aupr_in``: average precision with ID as positive and ``score`` as the ranking.
- ``fpr95``: the share of OOD samples still accepted as ID when the threshold keeps 95 % of
  the ID samples (ID positive, TPR measured on ID; Liang et al. 2018 / Hendrycks & Gimpel).
  Lower is better.
- ``fpr95_openood``: the mirror quantity that OpenOOD v1.5 (``openood/evaluators/metrics.py``)
  reports: OOD positive, the share of ID samples rejected as OOD at the first point of
  scikit-learn's ROC curve (``roc_curve(is_ood, -score)``, default ``drop_intermediate``) whose
  OOD recall reaches 95 %. Lower is better. pytorch-ood's ``fpr_at_tpr`` is the same quantity on
  the undropped curve; the two can differ only where tied scores form runs of equal steps. The two differ when
  the score distributions' tails differ (e.g. a detector that rejects 95 % of OOD cheaply but
  accepts a long tail of it).

Average precision follows the step-wise definition sum_n (R_n - R_{n-1}) P_n over distinct
thresholds, as ``sklearn.metrics.average_precision_score``.

Example:
    >>> import numpy as np
    >>> auroc(np.array([3.0, 2.0, 1.5]), np.array([1.0, 2.5]))  # 4 of 6 pairs ordered
    0.6666666666666666
"""

from __future__ import annotations

import numpy as np


def _as_scores(id_scores: np.ndarray, ood_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(id_scores, dtype=np.float64).ravel()
    b = np.asarray(ood_scores, dtype=np.float64).ravel()
    if len(a) == 0 or len(b) == 0:
        raise ValueError("need at least one in-distribution and one OOD score")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("scores contain NaN or Inf")
    return a, b


def auroc(id_scores: np.ndarray, ood_scores: np.ndarray) -> float:
    """Area under the ROC curve, OOD positive (Mann-Whitney U with average ranks for ties)."""
    from scipy.stats import rankdata

    a, b = _as_scores(id_scores, ood_scores)
    # rank by "OOD-ness" = -score; U statistic of the OOD group
    ranks = rankdata(-np.concatenate([a, b]))
    u = ranks[len(a) :].sum() - len(b) * (len(b) + 1) / 2.0
    return float(u / (len(a) * len(b)))


def average_precision(pos_scores: np.ndarray, neg_scores: np.ndarray) -> float:
    """Average precision of ranking positives above negatives (higher score = more positive)."""
    pos = np.asarray(pos_scores, dtype=np.float64).ravel()
    neg = np.asarray(neg_scores, dtype=np.float64).ravel()
    scores = np.concatenate([pos, neg])
    is_pos = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    order = np.argsort(-scores, kind="mergesort")
    scores, is_pos = scores[order], is_pos[order]
    # last position of each run of equal scores = one threshold
    last = np.r_[np.nonzero(np.diff(scores))[0], len(scores) - 1]
    tp = np.cumsum(is_pos)[last]
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / len(pos)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def aupr_in(id_scores: np.ndarray, ood_scores: np.ndarray) -> float:
    """Area under the precision-recall curve with ID as positive."""
    a, b = _as_scores(id_scores, ood_scores)
    return average_precision(a, b)


def aupr_out(id_scores: np.ndarray, ood_scores: np.ndarray) -> float:
    """Area under the precision-recall curve with OOD as positive (ranking by -score)."""
    a, b = _as_scores(id_scores, ood_scores)
    return average_precision(-b, -a)


def fpr_at_tpr(id_scores: np.ndarray, ood_scores: np.ndarray, tpr: float = 0.95) -> float:
    """Share of OOD samples with score >= t, where t is the largest threshold that keeps at
    least ``tpr`` of the ID samples (score >= t)."""
    a, b = _as_scores(id_scores, ood_scores)
    k = int(np.ceil(tpr * len(a) - 1e-9))
    k = min(max(k, 1), len(a))
    t = np.sort(a)[::-1][k - 1]
    return float(np.mean(b >= t))


def fpr95(id_scores: np.ndarray, ood_scores: np.ndarray) -> float:
    """FPR at 95 % TPR (see :func:`fpr_at_tpr`)."""
    return fpr_at_tpr(id_scores, ood_scores, 0.95)


def fpr_at_ood_recall(id_scores: np.ndarray, ood_scores: np.ndarray, recall: float = 0.95) -> float:
    """OpenOOD v1.5's FPR: share of ID samples ranked as OOD (by ``-score``) at the first ROC point
    with OOD recall >= ``recall``.

    The ROC points are those of ``sklearn.metrics.roc_curve`` with its default
    ``drop_intermediate=True``: one point per distinct score, dropping a point whose step in
    both counts equals the step before it (a point inside a straight run of equal steps).
    """
    a, b = _as_scores(id_scores, ood_scores)
    oodness = np.concatenate([-b, -a])
    is_ood = np.concatenate([np.ones(len(b)), np.zeros(len(a))])
    order = np.argsort(-oodness, kind="mergesort")
    oodness, is_ood = oodness[order], is_ood[order]
    last = np.r_[np.nonzero(np.diff(oodness))[0], len(oodness) - 1]
    tps = np.cumsum(is_ood)[last]
    fps = (last + 1) - tps
    if len(tps) > 2:
        keep = np.r_[True, np.logical_or(np.diff(fps, 2) != 0, np.diff(tps, 2) != 0), True]
        tps, fps = tps[keep], fps[keep]
    tpr = np.r_[0.0, tps] / len(b)
    fpr = np.r_[0.0, fps] / len(a)
    return float(fpr[np.argmax(tpr >= recall)])


def fpr95_openood(id_scores: np.ndarray, ood_scores: np.ndarray) -> float:
    """FPR at 95 % OOD recall, OpenOOD v1.5's convention (see :func:`fpr_at_ood_recall`)."""
    return fpr_at_ood_recall(id_scores, ood_scores, 0.95)


def ood_metrics(id_scores: np.ndarray, ood_scores: np.ndarray) -> dict[str, float]:
    """``{"auroc", "aupr_in", "aupr_out", "fpr95", "fpr95_openood"}`` for one detector and one OOD set."""
    return {
        "auroc": auroc(id_scores, ood_scores),
        "aupr_in": aupr_in(id_scores, ood_scores),
        "aupr_out": aupr_out(id_scores, ood_scores),
        "fpr95": fpr95(id_scores, ood_scores),
        "fpr95_openood": fpr95_openood(id_scores, ood_scores),
    }


def score_histogram(id_scores: np.ndarray, ood_scores: np.ndarray, bins: int = 30) -> dict[str, list]:
    """Shared-edge histograms of ID and OOD scores (report data)."""
    a, b = _as_scores(id_scores, ood_scores)
    lo, hi = float(min(a.min(), b.min())), float(max(a.max(), b.max()))
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    return {
        "edges": edges.tolist(),
        "id": np.histogram(a, edges)[0].tolist(),
        "ood": np.histogram(b, edges)[0].tolist(),
    }
