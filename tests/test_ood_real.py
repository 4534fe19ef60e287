"""The ``ood`` probe end to end through ``visaudit.audit`` on real models and real data.

CIFAR-10 test (1000 images: 500 fit the detectors, 500 are scored) against Fashion-MNIST,
the silhouettes, the four synthetic sets, the held-out-classes split and, as a sanity check,
500 other CIFAR-10 test images passed as if they were OOD (AUROC must be 0.5 +- 0.05).
"""

from __future__ import annotations

import pytest
import torch

import visaudit
from visaudit.ood.odin import odin_scores, penultimate_and_odin

pytestmark = pytest.mark.slow  # real models over hundreds of images

POSTHOC = ["msp", "maxlogit", "energy", "mahalanobis", "vim", "knn", "react", "ash"]
FAR = ["uniform-noise", "gaussian-noise", "blobs", "solid-colours", "fashion-mnist", "silhouettes"]
MODELS = ["cifar10_resnet20", "cifar10_resnet56"]


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    res = visaudit.audit(
        MODELS,
        "ood",
        "cifar10-test",
        store=tmp_path_factory.mktemp("ood"),
        max_images=1000,
        probe_config={"ood": {"ood_sets": ["auto", "cifar10-test"], "detectors": POSTHOC, "max_ood_images": 500}},
    )
    assert not res.errors, res.errors
    return {r["model"]["name"]: r for r in res.records}


@pytest.mark.parametrize("model", MODELS)
def test_every_metric_is_exported(records, model):
    m = records[model]["metrics"]
    for det in POSTHOC:
        for s in FAR + ["heldout-classes", "cifar10-test"]:
            for k in ("auroc", "fpr95", "aupr_in", "aupr_out"):
                v = m[f"{k}@{det}/{s}"]
                assert 0.0 <= v <= 1.0
    split = records[model]["data"]["split"]
    assert split["n_fit"] + split["n_id_eval"] == 1000 and 400 < split["n_fit"] < 600
    assert split["n_ood"]["silhouettes"] == 160 and split["n_ood"]["fashion-mnist"] == 500
    assert records[model]["metric_info"]["fpr95@knn/blobs"]["higher_is_better"] is False


@pytest.mark.parametrize("model", MODELS)
def test_id_data_given_as_ood_scores_chance(records, model):
    m = records[model]["metrics"]
    for det in POSTHOC:
        assert abs(m[f"auroc@{det}/cifar10-test"] - 0.5) < 0.05, (det, m[f"auroc@{det}/cifar10-test"])
    for det, v in records[model]["data"]["sanity_id_vs_id_auroc"].items():
        assert abs(v - 0.5) < 0.08, (det, v)


@pytest.mark.parametrize("model", MODELS)
def test_far_ood_is_detected(records, model):
    m = records[model]["metrics"]
    for s in FAR:
        best = max(m[f"auroc@{d}/{s}"] for d in POSTHOC)
        assert best > 0.9, (s, best)
    # MSP is the weak baseline but far better than chance on real far-OOD data
    assert m["auroc@msp/fashion-mnist"] > 0.75
    # noise can drive logits up: feature-space detectors do better than logit-only ones there
    for s in ("uniform-noise", "gaussian-noise"):
        feat = max(m[f"auroc@{d}/{s}"] for d in ("mahalanobis", "vim", "knn"))
        logit = max(m[f"auroc@{d}/{s}"] for d in ("msp", "maxlogit", "energy"))
        assert feat > logit and feat > 0.99, (s, feat, logit)
    # near-OOD (held-out classes) is above chance and harder than far-OOD for MSP
    assert 0.6 < m["auroc@msp/heldout-classes"] < m["auroc@msp/solid-colours"] + 0.1


def test_odin_in_the_probe_improves_on_msp(tmp_path):
    res = visaudit.audit(
        "cifar10_resnet20",
        "ood",
        "cifar10-test",
        store=tmp_path,
        max_images=300,
        probe_config={
            "ood": {"ood_sets": ["blobs", "heldout-classes"], "detectors": ["msp", "odin"], "max_ood_images": 200}
        },
    )
    (rec,) = res.records
    assert rec["status"] == "ok", rec["error"]
    m = rec["metrics"]
    assert m["auroc@odin/blobs"] > m["auroc@msp/blobs"]  # Liang et al.: temperature + perturbation helps
    assert rec["data"]["split"]["heldout"]["ood_classes"] == [6, 7, 8, 9]
    assert any("odin re-runs the model" in w for w in rec["warnings"])


def test_shared_pass_odin_equals_the_plain_odin(resnet20):
    from visaudit.data import open_dataset
    from visaudit.data.base import Preprocess, collate

    ds = open_dataset("cifar10-test").bind(Preprocess((3, 32, 32)))
    x = collate([ds[i] for i in range(0, 10000, 625)])["x"].float() / 255
    rows = torch.tensor([i % 3 != 0 for i in range(len(x))])
    views = {"all": None, "sub": [0, 1, 2, 3, 4, 5]}
    feats, logits, scores = penultimate_and_odin(resnet20, x, views, rows)
    with torch.no_grad():
        f_ref, z_ref = resnet20.penultimate(x)
    assert torch.allclose(feats, f_ref, atol=1e-4) and torch.allclose(logits, z_ref, atol=1e-4)
    for view, classes in views.items():
        ref = odin_scores(resnet20, x[rows], classes=classes)
        assert torch.allclose(scores[view][rows], ref, atol=1e-6)
        assert torch.isnan(scores[view][~rows]).all()
