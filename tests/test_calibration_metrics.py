"""Calibration metric functions against torchmetrics and hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.functional.classification import multiclass_calibration_error

from visaudit.metrics import calibration as cal


def _random_predictions(n=3000, c=10, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, scale, (n, c))
    labels = np.where(rng.random(n) < 0.6, logits.argmax(1), rng.integers(0, c, n))
    return logits, labels


@pytest.mark.parametrize("n_bins", [5, 15, 30])
@pytest.mark.parametrize("seed", [0, 1])
def test_ece_and_mce_match_torchmetrics(n_bins, seed):
    logits, labels = _random_predictions(seed=seed)
    p = cal.softmax(logits)
    assert (p.max(1) < 1.0).all()  # torchmetrics bins a confidence of exactly 1.0 separately
    pt, yt = torch.tensor(p), torch.tensor(labels)
    ref_ece = multiclass_calibration_error(pt, yt, 10, n_bins=n_bins, norm="l1").item()
    ref_mce = multiclass_calibration_error(pt, yt, 10, n_bins=n_bins, norm="max").item()
    assert cal.ece(p, labels, n_bins) == pytest.approx(ref_ece, abs=1e-6)
    assert cal.mce(p, labels, n_bins) == pytest.approx(ref_mce, abs=1e-6)


def test_ece_hand_example_and_perfect_calibration():
    p = np.array([[0.85, 0.15], [0.62, 0.38], [0.25, 0.75]])
    assert cal.ece(p, np.array([0, 1, 1]), n_bins=10) == pytest.approx((0.15 + 0.62 + 0.25) / 3)
    # 70% confident, right 7 times out of 10 -> ECE 0
    p = np.tile([0.7, 0.3], (10, 1))
    y = np.array([0] * 7 + [1] * 3)
    assert cal.ece(p, y) == pytest.approx(0.0, abs=1e-12)
    assert cal.ece_adaptive(p, y, n_bins=1) == pytest.approx(0.0, abs=1e-12)


def test_adaptive_ece_uses_equal_mass_bins():
    conf = np.array([0.55, 0.6, 0.65, 0.9, 0.92, 0.95])
    p = np.stack([conf, 1 - conf], 1)
    y = np.array([0, 1, 1, 0, 0, 0])
    # two bins of three: |1/3 - 0.6| and |1 - 0.9233|
    want = (3 * abs(1 / 3 - 0.6) + 3 * abs(1 - np.mean([0.9, 0.92, 0.95]))) / 6
    assert cal.ece_adaptive(p, y, n_bins=2) == pytest.approx(want)


def test_classwise_ece_matches_per_class_binary_ece():
    logits, labels = _random_predictions(n=800, c=4, seed=3)
    p = cal.softmax(logits)
    per_class = []
    for k in range(4):
        conf = p[:, k]
        hit = (labels == k).astype(float)
        edges = np.linspace(0, 1, 16)
        total = 0.0
        for lo, hi in zip(edges[:-1], edges[1:]):
            m = (conf > lo) & (conf <= hi) if lo > 0 else (conf >= lo) & (conf <= hi)
            if m.any():
                total += m.sum() / len(conf) * abs(hit[m].mean() - conf[m].mean())
        per_class.append(total)
    assert cal.classwise_ece(p, labels) == pytest.approx(np.mean(per_class))


def test_nll_and_brier_match_torch():
    logits, labels = _random_predictions(n=500, seed=4)
    p = cal.softmax(logits)
    ref = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(labels)).item()
    assert cal.nll(p, labels) == pytest.approx(ref, rel=1e-9)
    assert cal.nll_from_logits(logits, labels) == pytest.approx(ref, rel=1e-9)
    onehot = np.eye(10)[labels]
    assert cal.brier(p, labels) == pytest.approx(np.mean(np.sum((p - onehot) ** 2, 1)))
    assert cal.brier(onehot, labels) == 0.0


def test_temperature_scaling_recovers_the_true_temperature():
    rng = np.random.default_rng(5)
    true_logits = rng.normal(0, 2, (20000, 10))
    # labels drawn from softmax(true_logits): calibrated at T = 1
    p = cal.softmax(true_logits)
    labels = (p.cumsum(1) > rng.random((len(p), 1))).argmax(1)
    over = true_logits * 2.5  # an over-confident model: its best temperature is 2.5
    fit, held = cal.held_out_split(len(labels), 0.5, seed=0)
    t = cal.fit_temperature(over[fit], labels[fit])
    assert t == pytest.approx(2.5, rel=0.05)
    assert cal.nll_from_logits(over[held], labels[held], t) < cal.nll_from_logits(over[held], labels[held])
    # a generic probability map gives the same answer as the softmax fast path
    t2 = cal.fit_temperature(over[fit], labels[fit], probs_fn=cal.softmax)
    assert t2 == pytest.approx(t, rel=1e-3)


def test_held_out_split_is_seeded_and_disjoint():
    a, b = cal.held_out_split(101, 0.5, seed=7)
    a2, b2 = cal.held_out_split(101, 0.5, seed=7)
    assert np.array_equal(a, a2) and np.array_equal(b, b2)
    assert len(np.intersect1d(a, b)) == 0 and len(a) + len(b) == 101
    assert not np.array_equal(a, cal.held_out_split(101, 0.5, seed=8)[0])


def test_reliability_bins_counts_and_confidence():
    logits, labels = _random_predictions(n=1000, seed=6)
    p = cal.softmax(logits)
    rb = cal.reliability_bins(p, labels, 15)
    assert sum(rb["count"]) == 1000 and len(rb["lower"]) == 15
    for lo, hi, n, c in zip(rb["lower"], rb["upper"], rb["count"], rb["confidence"]):
        assert (c is None) == (n == 0)
        if c is not None:
            assert lo < c <= hi + 1e-12


def test_bad_shapes_raise():
    with pytest.raises(ValueError):
        cal.ece(np.ones((3, 2)) / 2, np.array([0, 1]))
