"""Human observers as subjects of the store, and the cross-subject consistency analysis, on real decisions."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import visaudit
from tests.helpers import run_cli
from visaudit.errors import VisauditError
from visaudit.importers.humans import dataset_of_file, import_humans
from visaudit.metrics.human_likeness import mean_rank_order
from visaudit.report.consistency import consistency_tables, human_likeness_ranking
from visaudit.report.records import RecordBook, load_records

DATA = Path(os.environ["VISAUDIT_DATA"])
EDGE = sorted((DATA / "human-decisions" / "edge").glob("*subject-*.csv"))
SILHOUETTE = sorted((DATA / "human-decisions" / "silhouette").glob("*subject-*.csv"))


def _kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa on correctness (Geirhos et al. 2020), from the definition."""
    c_obs = np.mean(a == b)
    p1, p2 = a.mean(), b.mean()
    c_exp = p1 * p2 + (1 - p1) * (1 - p2)
    return 1.0 if c_obs == 1 else float((c_obs - c_exp) / (1 - c_exp))


def _correct(csv: Path) -> pd.Series:
    t = pd.read_csv(csv)
    t.index = t["imagename"].str.split("_").str[-1]
    return t["object_response"] == t["category"]


def test_each_observer_becomes_a_subject_record_with_its_accuracy(tmp_path):
    records = import_humans(tmp_path, EDGE + SILHOUETTE)
    assert len(records) == 10
    assert {r["dataset"]["name"] for r in records} == {"edges", "silhouettes"}
    for r in records:
        csv = (EDGE if r["dataset"]["name"] == "edges" else SILHOUETTE)[int(r["model"]["name"][-2:]) - 1]
        assert r["model"]["source"] == "human" and r["probe"]["name"] == "human-decisions"
        assert r["metrics"]["top1_16class"] == pytest.approx(_correct(csv).mean(), abs=1e-12)
        table = pd.read_parquet(tmp_path / "samples" / f"{r['key']}.parquet")
        assert len(table) == 160 and table["sample_id"].str.startswith(tuple("abcdefghijklmnopqrstuvwxyz")).all()
    again = import_humans(tmp_path, EDGE[:1])
    assert again[0]["key"] == next(r["key"] for r in records if r["model"]["name"] == "subject-01"), "same input, key"


def test_edge_decisions_are_refused_on_the_silhouettes_whose_file_names_they_share(tmp_path):
    with pytest.raises(VisauditError, match="on edge .* not on silhouette"):
        import_humans(tmp_path, EDGE[:1], dataset="silhouettes")


def test_a_csv_whose_image_names_match_no_stimulus_is_refused(tmp_path):
    t = pd.read_csv(EDGE[0])
    t["imagename"] = t["imagename"].str.replace(".png", "x.png", regex=False)
    bad = tmp_path / "edge_subject-01_session_1.csv"
    t.to_csv(bad, index=False)
    with pytest.raises(VisauditError, match="no image name of subject 'subject-01' matches a stimulus of edges"):
        import_humans(tmp_path / "store", [bad])


def test_a_category_that_contradicts_the_stimulus_is_refused(tmp_path):
    t = pd.read_csv(EDGE[0])
    t.loc[0, "category"] = "knife" if t.loc[0, "category"] != "knife" else "oven"
    bad = tmp_path / "edge_subject-01_session_1.csv"
    t.to_csv(bad, index=False)
    with pytest.raises(VisauditError, match="category other than the stimulus"):
        import_humans(tmp_path / "store", [bad])


def test_file_names_name_their_dataset():
    assert dataset_of_file(EDGE[0]) == "edges" and dataset_of_file(SILHOUETTE[0]) == "silhouettes"
    assert dataset_of_file("decisions.csv") is None


def test_mean_rank_order_ranks_each_metric_and_averages_the_ranks():
    scores = {
        "a": {"ec": 0.30, "oc": 0.70, "ad": 0.02},  # ranks 1, 2, 2 -> 5/3
        "b": {"ec": 0.10, "oc": 0.80, "ad": 0.01},  # ranks 3, 1, 1 -> 5/3
        "c": {"ec": 0.20, "oc": 0.60, "ad": 0.03},  # ranks 2, 3, 3 -> 8/3
    }
    order = mean_rank_order(scores, {"ec": True, "oc": True, "ad": False})
    assert order == [("a", pytest.approx(5 / 3)), ("b", pytest.approx(5 / 3)), ("c", pytest.approx(8 / 3))]
    tied = mean_rank_order({"x": {"m": 1.0}, "y": {"m": 1.0}, "z": {"m": 0.0}}, {"m": True})
    assert tied == [("x", 1.5), ("y", 1.5), ("z", 3.0)]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("humans")
    import_humans(root, EDGE)
    res = visaudit.audit(["efficientnet_lite0", "efficientnet_lite1"], "human-likeness", "edges", store=root)
    assert all(r["status"] == "ok" for r in res.records)
    return root


@pytest.mark.slow
def test_the_matrix_holds_every_pair_of_models_and_humans_computed_from_the_decisions(store):
    book = RecordBook(load_records(store), store)
    (table,) = consistency_tables(book)
    assert table.subjects == ["efficientnet_lite0", "efficientnet_lite1"] + [f"subject-0{i}" for i in range(1, 6)]
    humans = {f"subject-0{i}": _correct(EDGE[i - 1]) for i in range(1, 6)}
    models = {}
    for rec in book.for_probe("human-likeness"):
        s = pd.read_parquet(store / "samples" / f"{rec['key']}.parquet").set_index("stimulus")
        models[rec["model"]["name"]] = s["correct"]
        for h in humans:  # the matrix agrees with the probe's own per-observer metric
            assert table.value(rec["model"]["name"], h) == pytest.approx(rec["metrics"][f"error_consistency@{h}"])
    every = {**models, **humans}
    for a in every:
        for b in every:
            both = every[a].index.intersection(every[b].index)
            want = _kappa(every[a].loc[both].to_numpy(), every[b].loc[both].to_numpy())
            assert table.value(a, b) == pytest.approx(want, abs=1e-12), (a, b)
    assert table.value("subject-03", "subject-03") == 1.0
    assert 0.5 < table.value("efficientnet_lite0", "efficientnet_lite1") < 1.0  # two models agree far more


@pytest.mark.slow
def test_ranking_and_report_show_the_most_human_like_model(store, tmp_path):
    book = RecordBook(load_records(store), store)
    rows = human_likeness_ranking(book)
    assert [r["rank"] for r in rows] == [1, 2]
    by_model = {r["model"]: r for r in rows}
    recs = {r["model"]["name"]: r["metrics"] for r in book.for_probe("human-likeness")}
    for model, m in recs.items():
        for k in ("accuracy_difference", "observed_consistency", "error_consistency"):
            assert by_model[model][k] == pytest.approx(m[k])
    better = sum(
        (recs[rows[0]["model"]][k] > recs[rows[1]["model"]][k]) == hib
        for k, hib in (("accuracy_difference", False), ("observed_consistency", True), ("error_consistency", True))
    )
    assert better >= 2 and not math.isnan(rows[0]["mean_rank"])
    out = run_cli("consistency", "--store", str(store), "--format", "md")
    assert out.returncode == 0, out.stderr
    assert "Most human-like" in out.stdout and f"| 1 | {rows[0]['model']} |" in out.stdout
    rep = run_cli("report", str(store), "-o", str(tmp_path / "r"))
    assert rep.returncode == 0, rep.stderr
    html = (tmp_path / "r" / "index.html").read_text()
    assert 'id="human-ranking"' in html and "Error consistency, every pair of subjects (edges)" in html


@pytest.mark.slow
def test_human_likeness_on_model_vs_humans_release_copy_of_the_edges_equals_the_built_in_edges(
    store, tmp_path, monkeypatch
):
    import shutil

    base = tmp_path / "model-vs-human" / "edge"
    shutil.copytree(DATA / "edges", base)
    monkeypatch.setenv("VISAUDIT_DATA", f"{tmp_path}{os.pathsep}{DATA}")
    res = visaudit.audit("efficientnet_lite0", "human-likeness", "mvh-edge", store=store)
    (rec,) = res.records
    assert rec["status"] == "ok", rec.get("error")
    built_in = next(
        r
        for r in load_records(store)
        if r["probe"]["name"] == "human-likeness"
        and r["dataset"]["name"] == "edges"
        and r["model"]["name"] == "efficientnet_lite0"
    )
    for i in range(1, 6):
        k = f"error_consistency@subject-0{i}"
        assert rec["metrics"][k] == pytest.approx(built_in["metrics"][k], abs=1e-12)
    with pytest.raises(VisauditError, match="on silhouette .* not on edge"):
        import_humans(tmp_path / "s2", SILHOUETTE[:1], dataset="mvh-edge")
