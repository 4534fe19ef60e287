"""Human-likeness (model-vs-human's metrics) on the real observers' decisions, against independent code."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

import visaudit
from visaudit.errors import VisauditError
from visaudit.metrics.human_likeness import error_consistency

DATA = Path(os.environ["VISAUDIT_DATA"])
HUMANS = DATA / "human-decisions"
FOLDER = {"edges": "edge", "silhouettes": "silhouette"}


def _observers(dataset: str) -> dict[str, pd.DataFrame]:
    out = {}
    for f in sorted((HUMANS / FOLDER[dataset]).glob("*subject-*.csv")):
        t = pd.read_csv(f)
        t["stimulus"] = t["imagename"].str.split("_").str[-1]  # ..._oven10.png -> oven10.png
        out[str(t["subj"].iloc[0])] = t.set_index("stimulus")
    return out


def _kappa_by_definition(a: np.ndarray, b: np.ndarray) -> float:
    """Geirhos et al. 2020, eq. 1-3, written out again."""
    c_obs = np.mean(a == b)
    p1, p2 = a.mean(), b.mean()
    c_exp = p1 * p2 + (1 - p1) * (1 - p2)
    return 1.0 if c_obs == 1 else (c_obs - c_exp) / (1 - c_exp)


@pytest.fixture(scope="module")
def lite0(tmp_path_factory):
    store = tmp_path_factory.mktemp("hl")
    res = visaudit.audit("efficientnet_lite0", ["human-likeness", "shape-bias"], ["edges", "silhouettes"], store=store)
    recs = {(r["probe"]["name"], r["dataset"]["name"]): r for r in res.records}
    assert all(r["status"] == "ok" for r in recs.values()), [r.get("error") for r in recs.values()]
    samples = {d: pd.read_parquet(store / "samples" / f"{recs[('shape-bias', d)]['key']}.parquet") for d in FOLDER}
    return recs, samples


@pytest.mark.slow
@pytest.mark.parametrize("dataset", list(FOLDER))
def test_error_consistency_of_lite0_with_each_observer_equals_an_independent_computation(lite0, dataset):
    recs, samples = lite0
    rec = recs[("human-likeness", dataset)]
    model = samples[dataset].assign(stimulus=samples[dataset]["imagename"]).set_index("stimulus")
    model_correct = model["object_response"] == model["category"]
    observers = _observers(dataset)
    assert len(observers) == 5
    kappas, accs = [], []
    for subject, t in observers.items():
        human_correct = (t["object_response"] == t["category"]).loc[model_correct.index]
        a, b = model_correct.to_numpy(), human_correct.to_numpy()
        expected = _kappa_by_definition(a, b)
        assert expected == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)  # two independent references
        assert rec["metrics"][f"error_consistency@{subject}"] == pytest.approx(expected, abs=1e-12)
        assert rec["metrics"][f"observed_consistency@{subject}"] == pytest.approx(np.mean(a == b), abs=1e-12)
        kappas.append(expected)
        accs.append(b.mean())
    assert rec["metrics"]["error_consistency"] == pytest.approx(np.mean(kappas), abs=1e-12)
    top1 = recs[("shape-bias", dataset)]["metrics"]["top1_16class"]
    assert rec["metrics"]["top1_16class"] == top1
    assert rec["metrics"]["accuracy_difference"] == pytest.approx(np.mean((top1 - np.array(accs)) ** 2), abs=1e-12)
    assert (
        rec["data"]["human_pairs"] and rec["metrics"]["human_error_consistency"] > rec["metrics"]["error_consistency"]
    )


def test_an_observer_against_itself_is_one_and_against_random_decisions_about_zero():
    t = _observers("silhouettes")["subject-01"]
    correct = (t["object_response"] == t["category"]).to_numpy()
    assert error_consistency(correct, correct)["kappa"] == 1.0
    rng = np.random.default_rng(0)
    classes = sorted(t["category"].unique())
    kappas = []
    for _ in range(200):
        guess = rng.choice(classes, size=len(t)) == t["category"].to_numpy()
        kappas.append(error_consistency(correct, guess)["kappa"])
    assert abs(np.mean(kappas)) < 0.02 and np.std(kappas) < 0.15


def _lite0_on_edges_against(folder: Path) -> dict:
    """The lite0 record on edges against the decision files in ``folder`` (store beside them)."""
    res = visaudit.audit(
        "efficientnet_lite0",
        "human-likeness",
        "edges",
        store=folder / "s",
        probe_config={"human-likeness": {"humans": [str(folder)]}},
    )
    return res.records[0]


@pytest.mark.slow
def test_a_random_decision_file_has_about_zero_error_consistency_in_the_probe(tmp_path):
    rng = np.random.default_rng(1)
    t = pd.read_csv(HUMANS / "edge" / "edge_subject-01_session_1.csv")
    t["subj"] = "subject-random"
    t["object_response"] = rng.choice(sorted(t["category"].unique()), size=len(t))
    t.to_csv(tmp_path / "edge_subject-random_session_1.csv", index=False)
    rec = _lite0_on_edges_against(tmp_path)
    assert rec["status"] == "ok", rec.get("error")
    assert abs(rec["metrics"]["error_consistency@subject-random"]) < 0.15
    assert rec["keyed_by"]["inputs"]["humans"] != {}


@pytest.mark.slow
def test_decisions_on_other_stimuli_are_refused_naming_the_observer(tmp_path):
    t = pd.read_csv(HUMANS / "edge" / "edge_subject-01_session_1.csv")
    t["imagename"] = "0001_x_s01_0_cat_00_nosuchimage.png"
    t.to_csv(tmp_path / "x_subject-01_session_1.csv", index=False)
    rec = _lite0_on_edges_against(tmp_path)
    assert rec["status"] == "error" and "subject-01" in rec["error"]["message"]
    assert "nosuchimage.png" in rec["error"]["message"]


def test_a_dataset_without_observers_or_labels_of_16_classes_is_refused_before_compute(tmp_path):
    with pytest.raises(VisauditError, match="16-class stimuli"):
        visaudit.audit("cifar10_resnet20", "human-likeness", "cifar10-test", store=tmp_path, max_images=4)
    with pytest.raises(VisauditError, match="cue-conflict"):
        visaudit.audit("efficientnet_lite0", "human-likeness", "cue-conflict", store=tmp_path, max_images=4)
