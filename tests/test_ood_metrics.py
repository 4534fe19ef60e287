"""OOD metrics against scikit-learn (OOD positive, score higher = in-distribution)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from visaudit.metrics import ood


def _scores(seed, ties=False, n_id=700, n_ood=400):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(1.0, 1.0, n_id), rng.normal(0.0, 1.5, n_ood)
    if ties:
        a, b = np.round(a), np.round(b)
    return a, b


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_metrics_match_sklearn(seed, ties):
    a, b = _scores(seed, ties)
    y_ood = np.r_[np.zeros(len(a)), np.ones(len(b))]
    s = np.r_[a, b]
    assert ood.auroc(a, b) == pytest.approx(roc_auc_score(y_ood, -s), abs=1e-12)
    assert ood.aupr_out(a, b) == pytest.approx(average_precision_score(y_ood, -s), abs=1e-12)
    assert ood.aupr_in(a, b) == pytest.approx(average_precision_score(1 - y_ood, s), abs=1e-12)
    fpr, tpr, _ = roc_curve(1 - y_ood, s, drop_intermediate=False)  # ID positive: TPR on ID
    assert ood.fpr95(a, b) == pytest.approx(fpr[np.argmax(tpr >= 0.95)], abs=1e-12)


def test_sign_convention_and_extremes():
    a = np.array([5.0, 6.0, 7.0])
    b = np.array([1.0, 2.0])
    assert ood.auroc(a, b) == 1.0 and ood.fpr95(a, b) == 0.0
    assert ood.aupr_in(a, b) == 1.0 and ood.aupr_out(a, b) == 1.0
    assert ood.auroc(b, a) == 0.0 and ood.fpr95(b, a) == 1.0  # flipped sign: worst possible
    assert ood.auroc(np.ones(10), np.ones(7)) == 0.5


def test_fpr95_threshold_keeps_95_percent_of_id():
    a = np.arange(100, dtype=float)  # threshold keeps 95 of 100 ID: score >= 5
    b = np.array([4.5, 5.0, 50.0, -1.0])
    assert ood.fpr95(a, b) == pytest.approx(0.5)


def test_nan_scores_are_refused():
    with pytest.raises(ValueError):
        ood.auroc(np.array([1.0, np.nan]), np.array([0.0]))
