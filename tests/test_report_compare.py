"""Comparison tables and rank correlations of the report (pure functions, synthetic records)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from visaudit.report.comparison import compare, rank_correlation
from visaudit.report.synthetic import synthetic_records, write_store
from visaudit.report.tables import render, to_latex, to_markdown


def _spearman_by_hand(x, y):
    """Pearson correlation of average ranks (independent of scipy)."""

    def ranks(v):
        v = np.asarray(v, float)
        order = v.argsort()
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=float)
        for val in np.unique(v):  # average ties
            r[v == val] = r[v == val].mean()
        return r

    return float(np.corrcoef(ranks(x), ranks(y))[0, 1])


def _kendall_by_hand(x, y):
    """Tau-a by counting pairs (equals tau-b without ties)."""
    s = sum(np.sign(x[i] - x[j]) * np.sign(y[i] - y[j]) for i, j in itertools.combinations(range(len(x)), 2))
    return s / (len(x) * (len(x) - 1) / 2)


def test_rank_correlation_matches_hand_computation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=9).tolist()
    y = (np.asarray(x) * 0.5 + rng.normal(size=9)).tolist()
    r = rank_correlation(x, y)
    assert r["n"] == 9
    assert r["spearman_rho"] == pytest.approx(_spearman_by_hand(x, y), abs=1e-12)
    assert r["kendall_tau"] == pytest.approx(_kendall_by_hand(x, y), abs=1e-12)
    assert 0 < r["spearman_p"] < 1 and 0 < r["kendall_p"] < 1


def test_rank_correlation_undefined_cases_are_nan():
    assert math.isnan(rank_correlation([1, 2], [2, 1])["spearman_rho"])  # n < 3
    assert math.isnan(rank_correlation([1, 1, 1], [1, 2, 3])["kendall_tau"])  # constant
    perfect = rank_correlation([1, 2, 3, 4, 5], [10, 20, 30, 40, 50])
    assert perfect["spearman_rho"] == pytest.approx(1.0) and perfect["kendall_tau"] == pytest.approx(1.0)


@pytest.fixture(scope="module")
def synth_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth-compare")
    write_store(synthetic_records(n_models=6, seed=3), root)
    return root


def test_compare_table_and_every_pair_agrees_with_hand_computation(synth_store):
    comp = compare(synth_store, metrics=["all"])
    assert comp.table.shape[0] == 6
    assert {
        "top1 [accuracy]",
        "top1 [corruptions]",
        "mce",
        "shape_bias",
        "ece",
        "spectral_bias",
        "cb_bandwidth",
    } <= set(comp.table.columns)
    # Per-condition metrics are not compared; summaries with "@" are.
    assert not any(c.startswith("top1@") or c.startswith("shape_bias@") for c in comp.table.columns)
    assert any(c.startswith("robust_top1@autoattack/") for c in comp.table.columns)
    assert len(comp.correlations) > 100
    for _, row in comp.correlations.sample(25, random_state=0).iterrows():
        x, y = comp.table[row.metric_a], comp.table[row.metric_b]
        keep = x.notna() & y.notna()
        assert row.n == keep.sum() == 6
        assert row.spearman_rho == pytest.approx(_spearman_by_hand(x[keep].values, y[keep].values), abs=1e-9)
        if len(set(x[keep])) == keep.sum() and len(set(y[keep])) == keep.sum():
            assert row.kendall_tau == pytest.approx(_kendall_by_hand(x[keep].values, y[keep].values), abs=1e-9)


def test_bias_analysis_pairs_biases_with_generalisation(synth_store):
    comp = compare(synth_store)
    assert set(comp.bias["bias"]) <= {
        "shape_bias",
        "spectral_bias",
        "lpp",
        "hpp",
        "cb_center_frequency",
        "cb_bandwidth",
        "cb_peak_noise_sensitivity",
    }
    assert {"shape_bias", "spectral_bias", "cb_center_frequency"} <= set(comp.bias["bias"])
    targets = set(comp.bias["target"])
    assert "mce" in targets and "top1 [accuracy]" in targets and any(t.startswith("auroc@") for t in targets)
    assert any(t.startswith("robust_top1@") for t in targets)
    assert (comp.bias["n"] == 6).all()
    mce = comp.bias[comp.bias.target == "mce"]
    assert not mce["target_higher_is_better"].any()
    fast = compare(synth_store, pairs="bias")
    assert len(fast.bias) == len(comp.bias)
    merged = fast.bias.merge(comp.bias, on=["bias", "target"])
    assert np.allclose(merged.spearman_rho_x, merged.spearman_rho_y)
    assert np.allclose(merged.kendall_p_x, merged.kendall_p_y)


def test_compare_respects_model_selection_and_min_models(synth_store):
    names = sorted(compare(synth_store).table.index)[:3]
    comp = compare(synth_store, models=names)
    assert sorted(comp.table.index) == names
    assert (comp.correlations["n"] == 3).all()
    assert len(compare(synth_store, models=names, min_models=4).correlations) == 0


def test_table_formats():
    import pandas as pd

    df = pd.DataFrame({"model": ["a_1", "b"], "top1": [0.91234567, float("nan")]})
    assert to_markdown(df) == "| model | top1 |\n|:--|--:|\n| a_1 | 0.9123 |\n| b |  |"
    tex = to_latex(df)
    assert "\\begin{tabular}{lr}" in tex and "a\\_1 & 0.9123 \\\\" in tex and "\\bottomrule" in tex
    assert render(df, "csv").splitlines()[0] == "model,top1"
    with pytest.raises(ValueError, match="md, csv, latex"):
        render(df, "html")


def test_comparison_renders_all_formats(synth_store):
    comp = compare(synth_store, pairs="bias")
    md = comp.render("md")
    assert "### Which bias predicts what" in md and "| model |" in md
    csv = comp.render("csv", "bias")
    assert csv.splitlines()[0] == "bias,target,target_higher_is_better,n,spearman_rho,spearman_p,kendall_tau,kendall_p"
    assert comp.render("latex", "models").count("\\begin{tabular}") == 1


def test_compare_shows_headline_metrics_unless_more_are_named(synth_store):
    comp = compare(synth_store)
    cols = set(comp.table.columns)
    assert {"mce", "shape_bias", "ece", "top1"} <= {c.split(" [")[0] for c in cols}
    assert "top1 [corruptions]" not in cols and not any(c.startswith("class_top1") for c in cols)
    wider = compare(synth_store, metrics=["top5"])
    assert set(wider.table.columns) == cols | {"top5"}
    text = comp.render("md", "models")
    assert max(len(line) for line in text.splitlines()) < len(
        compare(synth_store, metrics=["all"]).render("md", "models").splitlines()[2]
    )
