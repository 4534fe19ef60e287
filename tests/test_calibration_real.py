"""The ``calibration`` probe end to end on a real CIFAR-10 ResNet, checked against torchmetrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.functional.classification import multiclass_calibration_error

import visaudit
from visaudit.metrics import calibration as cal

N = 1000


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    res = visaudit.audit(
        "cifar10_resnet20", "calibration", "cifar10-test", store=tmp_path_factory.mktemp("cal"), max_images=N
    )
    (rec,) = res.records
    assert rec["status"] == "ok", rec["error"]
    return rec


def test_exports_and_temperature_scaling_lowers_held_out_nll(record):
    m = record["metrics"]
    for k in ("ece", "ece_adaptive", "mce_calibration", "nll", "brier", "temperature", "ece_after_ts", "nll_after_ts"):
        assert np.isfinite(m[k]), k
    ts = record["data"]["temperature_scaling"]
    assert ts["n_fit"] + ts["n_held_out"] == N
    # CIFAR ResNets are over-confident (Guo et al. 2017): T > 1, and scaling helps on unseen images
    assert m["temperature"] > 1.2 and m["overconfidence"] > 0
    assert m["nll_after_ts"] < m["nll_before_ts"]
    assert m["ece_after_ts"] < m["ece_before_ts"]
    rel = record["data"]["reliability"]
    assert sum(rel["count"]) == N and len(rel["count"]) == 15


def test_ece_matches_torchmetrics_on_the_same_images(record, resnet20):
    from visaudit.data import open_dataset
    from visaudit.data.base import Preprocess, collate
    from visaudit.engine.subset import select_indices

    ds = open_dataset("cifar10-test").bind(Preprocess((3, 32, 32)))
    idx = select_indices(len(ds), N, 0)
    logits, labels = [], []
    with torch.no_grad():
        for s in range(0, N, 250):
            b = collate([ds[int(i)] for i in idx[s : s + 250]])
            logits.append(resnet20(b["x"].float() / 255).double().numpy())
            labels.append(b["y"].numpy())
    logits, labels = np.concatenate(logits), np.concatenate(labels)
    p = cal.softmax(logits)
    assert cal.ece(p, labels) == pytest.approx(record["metrics"]["ece"], abs=1e-4)
    assert cal.nll(p, labels) == pytest.approx(record["metrics"]["nll"], abs=1e-4)
    # torchmetrics bins a confidence of exactly 1.0 apart; keep them just below 1 for the comparison
    p = np.minimum(p, 1 - 1e-9)
    pt, yt = torch.tensor(p), torch.tensor(labels)
    for norm, ours in (("l1", cal.ece), ("max", cal.mce)):
        ref = multiclass_calibration_error(pt, yt, 10, n_bins=15, norm=norm).item()
        assert ours(p, labels) == pytest.approx(ref, abs=1e-6)


def test_mapped_label_space_uses_the_label_map_for_temperature_scaling(tmp_path):
    """ImageNet model on the 16-class silhouettes: probabilities via the 1000 -> 16 mean rule."""
    res = visaudit.audit("efficientnet_lite0", "calibration", "silhouettes", store=tmp_path, max_images=64)
    (rec,) = res.records
    assert rec["status"] == "ok", rec["error"]
    assert rec["data"]["label_map"]["kind"] == "mean-prob"
    m = rec["metrics"]
    assert all(np.isfinite(v) for v in m.values())
    assert 0.05 <= m["temperature"] <= 20 and 0 <= m["ece"] <= 1
    assert sum(rec["data"]["reliability"]["count"]) == 64
