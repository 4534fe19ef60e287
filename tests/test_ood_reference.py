"""The OOD probe's defaults against the references, re-implemented here from their code:
OpenOOD v1.5 (Jingkang50/OpenOOD 3c35632: ``openood/evaluators/metrics.py``,
``openood/postprocessors/knn_postprocessor.py``, ``configs/postprocessors/knn.yml``: K = 50) and
pytorch-ood 0.4.0 (``pytorch_ood.detector.KNN``: k = 50, L2-normalised features, sklearn
``NearestNeighbors``).

The end-to-end test fits the detectors on a folder of real CIFAR-10 test JPEGs given as
``fit_set`` (OpenOOD's protocol: a separate fit set), scores CIFAR-10 test images against the
edge drawings, and recomputes KNN's AUROC and FPR from features the test extracts itself.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.neighbors import NearestNeighbors

import visaudit
from visaudit.metrics import ood
from visaudit.ood.detectors import Arrays, FitData, make_detector

DATA = Path(os.environ["VISAUDIT_DATA"])


def openood_fpr(id_scores: np.ndarray, ood_scores: np.ndarray, tpr_th: float = 0.95) -> float:
    """``auc_and_fpr_recall``'s FPR: OOD positive, ``roc_curve(ood_indicator, -conf)``."""
    conf = np.r_[id_scores, ood_scores]
    ood_indicator = np.r_[np.zeros(len(id_scores)), np.ones(len(ood_scores))]
    fpr_list, tpr_list, _ = roc_curve(ood_indicator, -conf)
    return float(fpr_list[np.argmax(tpr_list >= tpr_th)])


def openood_auroc(id_scores: np.ndarray, ood_scores: np.ndarray) -> float:
    conf = np.r_[id_scores, ood_scores]
    return float(roc_auc_score(np.r_[np.zeros(len(id_scores)), np.ones(len(ood_scores))], -conf))


def openood_knn(fit_feats: np.ndarray, feats: np.ndarray, k: int) -> np.ndarray:
    """KNNPostprocessor: ``x / ||x|| + 1e-10``, faiss IndexFlatL2 (squared L2), score ``-D[:, -1]``."""

    def norm(x):
        return x / np.linalg.norm(x, axis=-1, keepdims=True) + 1e-10

    bank, q = norm(fit_feats.astype(np.float64)), norm(feats.astype(np.float64))
    d2 = (q * q).sum(1)[:, None] + (bank * bank).sum(1)[None, :] - 2 * q @ bank.T
    return -np.sort(d2, axis=1)[:, k - 1]


def pytorch_ood_knn(fit_feats: np.ndarray, feats: np.ndarray, k: int) -> np.ndarray:
    """pytorch-ood KNN: normalised features, sklearn NearestNeighbors, outlier score = k-th distance
    (negated here: higher = in-distribution)."""

    def norm(x):
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)

    nn = NearestNeighbors().fit(norm(fit_feats))
    dist, _ = nn.kneighbors(norm(feats), n_neighbors=k)
    return -dist[:, -1]


# -- metrics (pure functions) -------------------------------------------------------------------


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fpr95_openood_is_openoods_formula(seed, ties):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(1.0, 1.0, 700), rng.normal(0.0, 1.5, 300 + 50 * seed)
    if ties:  # equal-step runs of tied scores are where sklearn's drop_intermediate matters
        a, b = np.round(a * 2) / 2, np.round(b * 2) / 2
    assert ood.fpr95_openood(a, b) == openood_fpr(a, b)
    assert ood.fpr_at_ood_recall(a, b, 0.8) == openood_fpr(a, b, 0.8)


def test_drop_intermediate_case():
    """Tie groups with identical ID/OOD counts: sklearn drops the middle ROC point."""
    ood_scores = np.array([0.0, 1.0, 2.0, 3.0] * 5 + [4.0] * 0)
    id_scores = np.array([1.0, 2.0, 3.0, 4.0] * 5)
    for th in (0.3, 0.5, 0.6, 0.95):
        assert ood.fpr_at_ood_recall(id_scores, ood_scores, th) == openood_fpr(id_scores, ood_scores, th), th


def test_both_fpr_conventions_are_reported_and_differ():
    a = np.linspace(0.0, 1.0, 101)  # ID
    b = np.r_[np.full(90, -5.0), np.linspace(0.5, 1.0, 10)]  # 90 % far OOD, a tail inside ID
    m = ood.ood_metrics(a, b)
    assert set(m) == {"auroc", "aupr_in", "aupr_out", "fpr95", "fpr95_openood"}
    assert m["fpr95"] == pytest.approx(0.1)  # the whole tail is accepted at 95 % ID kept
    assert m["fpr95_openood"] == pytest.approx(openood_fpr(a, b))
    assert m["fpr95_openood"] > 0.7  # catching 95 % of OOD rejects most of the ID


# -- KNN default k (synthetic features: a pure function) ----------------------------------------


def test_knn_default_k_is_the_references():
    rng = np.random.default_rng(0)
    fit = rng.normal(size=(400, 16)).clip(0)
    q = rng.normal(size=(30, 16)).clip(0) + 0.01
    det = make_detector("knn").fit(FitData(np.zeros((400, 3)), fit, np.zeros(400, int)))
    assert det.k == 50 and det.resolved()["k"] == 50 and det.resolved()["n_fit"] == 400
    s = det.score(Arrays(np.zeros((30, 3)), q))
    assert np.allclose(s, pytorch_ood_knn(fit, q, 50), atol=1e-5)
    # OpenOOD scores with the squared distance: the same order
    assert (np.argsort(s, kind="stable") == np.argsort(openood_knn(fit, q, 50), kind="stable")).mean() > 0.95
    old = make_detector("knn", {"k": 0}).fit(FitData(np.zeros((400, 3)), fit, np.zeros(400, int)))
    assert old.k == 1  # the departure on request: round(400 / 1000), at least 1
    small = make_detector("knn").fit(FitData(np.zeros((20, 3)), fit[:20], np.zeros(20, int)))
    assert small.k == 20  # capped at the fit set


# -- end to end: the probe's KNN AUROC on the same split, real model and data ---------------------


@pytest.fixture(scope="module")
def fit_folder(tmp_path_factory) -> Path:
    """1000 real CIFAR-10 test JPEGs (the first 100 of each class) as a folder dataset."""
    root = tmp_path_factory.mktemp("fit") / "cifar-fit"
    for cls in sorted(p.name for p in (DATA / "cifar10-test").iterdir() if p.is_dir()):
        (root / cls).mkdir(parents=True)
        for f in sorted((DATA / "cifar10-test" / cls).glob("*.jpg"))[:100]:
            shutil.copy(f, root / cls / f.name)
    return root


def _features(model, ds, positions) -> np.ndarray:
    import torch

    from visaudit.data.base import collate

    out = []
    for s in range(0, len(positions), 100):
        batch = collate([ds[int(i)] for i in positions[s : s + 100]])
        with torch.no_grad():
            f, _ = model.penultimate(batch["x"].float() / 255)
        out.append(f.numpy())
    return np.concatenate(out)


def test_probe_knn_default_reproduces_the_reference_auroc(tmp_path, fit_folder, resnet20):
    from visaudit.data import open_dataset
    from visaudit.data.base import Preprocess

    edges = str(DATA / "edges")
    res = visaudit.audit(
        "cifar10_resnet20",
        "ood",
        "cifar10-test",
        store=tmp_path,
        max_images=300,
        workers=0,
        device="cpu",
        probe_config={
            "ood": {"ood_sets": [edges], "detectors": ["knn", "msp"], "fit_set": str(fit_folder), "max_ood_images": 500}
        },
    )
    (rec,) = res.records
    assert rec["status"] == "ok", rec.get("error")
    fit = rec["data"]["fit"]
    assert fit["n_fit"] == 1000 and rec["data"]["split"]["n_fit"] == 1000 and fit["knn"]["k"] == 50
    assert fit["fit_set"] == str(fit_folder) and "fit set" in fit["on"]
    assert rec["data"]["split"]["n_id_eval"] == 300  # every ID image is scored when a fit set is given
    assert not any(w.startswith("knn:") for w in rec["warnings"])

    info = resnet20.info
    pre = Preprocess(tuple(info.input_size), info.interpolation, info.crop_pct)
    samples = pd.read_parquet(tmp_path / rec["samples_file"])
    sets = {}
    for name, key in (("cifar10-test", "id"), (edges, "edges")):
        ds = open_dataset(name).bind(pre)
        pos_of = {sid: i for i, sid in enumerate(ds.ids)}
        sets[key] = np.array([pos_of[s] for s in samples.loc[samples["set"] == key, "sample_id"]])
        sets[key + "_ds"] = ds
    fit_ds = open_dataset(str(fit_folder)).bind(pre)
    model = resnet20.eval()
    f_fit = _features(model, fit_ds, np.arange(len(fit_ds)))
    f_id = _features(model, sets["id_ds"], sets["id"])
    f_ood = _features(model, sets["edges_ds"], sets["edges"])
    for ref in (pytorch_ood_knn, openood_knn):
        s_id, s_ood = ref(f_fit, f_id, 50), ref(f_fit, f_ood, 50)
        assert rec["metrics"]["auroc@knn/edges"] == pytest.approx(openood_auroc(s_id, s_ood), abs=1e-4), ref
        assert rec["metrics"]["fpr95_openood@knn/edges"] == pytest.approx(openood_fpr(s_id, s_ood), abs=1e-9)
    # the old default (k = round(1000 / 1000) = 1) is a different detector on this split
    k1 = openood_auroc(pytorch_ood_knn(f_fit, f_id, 1), pytorch_ood_knn(f_fit, f_ood, 1))
    assert abs(k1 - rec["metrics"]["auroc@knn/edges"]) > 1e-3


def test_fit_set_that_is_the_id_dataset_leaves_the_scored_images_out(tmp_path):
    res = visaudit.audit(
        "cifar10_resnet20",
        "ood",
        "cifar10-test",
        store=tmp_path,
        max_images=200,
        workers=0,
        device="cpu",
        probe_config={
            "ood": {
                "ood_sets": ["blobs"],
                "detectors": ["knn"],
                "fit_set": "cifar10-test",
                "max_fit_images": 400,
                "max_ood_images": 100,
            }
        },
    )
    (rec,) = res.records
    assert rec["status"] == "ok", rec.get("error")
    fit = rec["data"]["fit"]
    assert fit["n_fit"] == 400 and fit["left_out_id_images"] == 200 and fit["fit_set_labels"] == "true labels"
    assert rec["data"]["split"]["n_id_eval"] == 200
    assert any("is the ID dataset" in w for w in rec["warnings"])
