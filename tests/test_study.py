"""Studies as data: the definition, the run over real models, the correlation table and its p-values."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy import stats

from tests.helpers import run_cli
from visaudit.errors import VisauditError
from visaudit.metrics.correlation import rank_correlation
from visaudit.report.study import load_manifests, study_table
from visaudit.studies import load_study, parse_study, study_names
from visaudit.studies.run import run_study


def _brute_force_spearman_p(x: list[float], y: list[float]) -> float:
    """Two-sided exact p from every pairing, each scored by scipy's own Spearman."""
    rho = stats.spearmanr(x, y).statistic
    perms = list(itertools.permutations(y))
    return sum(abs(stats.spearmanr(x, p).statistic) >= abs(rho) - 1e-12 for p in perms) / len(perms)


@pytest.mark.parametrize("n", [3, 4, 5, 6])
def test_small_samples_get_the_exact_permutation_p_value(n):
    rng = np.random.default_rng(n)
    x, y = rng.normal(size=n).tolist(), rng.normal(size=n).tolist()
    r = rank_correlation(x, y)
    assert r["n"] == n and r["spearman_p_method"] == "exact permutation"
    assert r["spearman_rho"] == pytest.approx(stats.spearmanr(x, y).statistic)
    assert r["spearman_p"] == pytest.approx(_brute_force_spearman_p(x, y))
    assert r["kendall_tau"] == pytest.approx(stats.kendalltau(x, y).statistic)
    assert r["kendall_p"] == pytest.approx(stats.kendalltau(x, y).pvalue)


def test_three_models_in_perfect_order_are_not_significant():
    r = rank_correlation([0.1, 0.2, 0.3], [5.0, 6.0, 7.0])
    assert r["spearman_rho"] == 1.0 and r["spearman_p"] == pytest.approx(1 / 3)
    assert stats.spearmanr([0.1, 0.2, 0.3], [5.0, 6.0, 7.0]).pvalue < 1e-6  # what the t-approximation claims


def test_larger_samples_use_scipy_and_non_finite_pairs_are_dropped():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=20), rng.normal(size=20)
    r = rank_correlation(list(x) + [float("nan")], list(y) + [1.0])
    assert r["n"] == 20 and r["spearman_p_method"] == "t approximation"
    assert r["spearman_p"] == pytest.approx(stats.spearmanr(x, y).pvalue)
    assert np.isnan(rank_correlation([1.0, 2.0], [1.0, 2.0])["spearman_rho"])


@pytest.mark.parametrize("name", study_names())
def test_every_shipped_study_parses_against_the_registries(name):
    study = load_study(name)
    assert study.cells and study.bias and study.generalisation
    assert {m.cell for m in study.bias + study.generalisation} <= {c.name for c in study.cells}


def test_bad_definitions_are_refused_with_the_reason():
    with pytest.raises(VisauditError, match="did you mean biases-vs-generalization"):
        load_study("biases-vs-generalisation")
    base = {"name": "s", "cells": [{"probe": "accuracy", "dataset": "edges"}]}
    with pytest.raises(VisauditError, match="accuray"):
        parse_study({**base, "cells": [{"probe": "accuray", "dataset": "edges"}], "bias": [1], "generalisation": [1]})
    ref = {"probe": "shape-bias", "dataset": "cue-conflict", "metric": "shape_bias"}
    with pytest.raises(VisauditError, match="reads cell shape-bias@cue-conflict, which is not run"):
        parse_study({**base, "bias": [ref], "generalisation": [ref]})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    store = tmp_path_factory.mktemp("study")
    models = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "cifar10_resnet20"]
    done = run_study(load_study("biases-vs-generalization"), models, store=store, max_images=32)
    return store, models, done


@pytest.mark.slow
def test_the_study_runs_what_is_available_refuses_the_cifar_model_and_correlates_from_the_records(run):
    store, models, done = run
    cells = done.manifest["cells"]
    assert all(
        e["status"] == "refused" and "label space cifar10" in e["reason"] for e in cells["cifar10_resnet20"].values()
    )
    lite = models[:3]
    for m in lite:
        assert cells[m]["shape-bias@cue-conflict"]["status"] == "ok"
        assert cells[m]["spectral-bias@imagenet-val"]["status"] == "unavailable"
    table = study_table(done.manifest, done.records)
    row = next(r for r in table.correlations if r["bias"] == "shape bias" and r["generalisation"].startswith("edge"))
    recs = {(r["model"]["name"], r["probe"]["name"], r["dataset"]["name"]): r for r in done.records.values()}
    x = [recs[(m, "shape-bias", "cue-conflict")]["metrics"]["shape_bias"] for m in lite]
    y = [recs[(m, "accuracy", "edges")]["metrics"]["top1"] for m in lite]
    assert row["n"] == 3 and row["models"] == lite
    assert row["spearman_rho"] == pytest.approx(stats.spearmanr(x, y).statistic)
    assert row["kendall_tau"] == pytest.approx(stats.kendalltau(x, y).statistic)
    assert any("n=3" in w for w in table.warnings)


@pytest.mark.slow
def test_a_repeated_study_is_answered_from_the_store_and_shown_in_the_report(run, tmp_path):
    store, models, first = run
    again = run_study(load_study("biases-vs-generalization"), models, store=store, max_images=32)
    ok = [e for m in again.manifest["cells"].values() for e in m.values() if e["status"] == "ok"]
    assert ok and all(e.get("cached") for e in ok)
    assert again.path == first.path and len(load_manifests(store)) == 1
    assert json.loads(again.path.read_text())["models"] == models
    rep = run_cli("report", str(store), "-o", str(tmp_path / "r"))
    assert rep.returncode == 0, rep.stderr
    html = (tmp_path / "r" / "index.html").read_text()
    assert 'id="studies"' in html and "Can biases in ImageNet models explain generalisation?" in html
    assert "label space cifar10" in html and "study-corr" in html and "study-scatter" in html
