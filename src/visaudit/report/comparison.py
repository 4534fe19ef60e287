"""Cross-model comparison: a metric table, rank correlations, "which bias predicts what".

The bias analysis follows Gavrikov & Keuper, "Can biases in ImageNet models explain
generalization?": across the models of a store, rank-correlate each bias measure (shape,
spectral, critical band) with each generalisation measure (clean, corruption, adversarial,
OOD, domain shift). With few models these correlations are weak evidence: every row
reports its number of models ``n`` and both p-values.

Example:
    >>> c = compare("visaudit-results")              # doctest: +SKIP
    >>> print(c.render("md"))                         # doctest: +SKIP
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from visaudit.report import tables
from visaudit.report.records import RecordBook, higher_is_better, is_ok, load_records, metrics_of

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

# Metrics with "@" kept in comparisons (summaries per detector/attack/knob, not per condition).
SUMMARY_PREFIXES = ("robust_top1", "auroc", "fpr95", "auc")
BIAS_METRICS = (
    "shape_bias",
    "spectral_bias",
    "lpp",
    "hpp",
    "cb_center_frequency",
    "cb_bandwidth",
    "cb_peak_noise_sensitivity",
)
TARGET_PROBES = (
    "accuracy",
    "corruptions",
    "adversarial",
    "ood",
    "solarization",
    "nuisance-sweeps",
    "calibration",
    "shape-bias",
)
TARGET_EXCLUDE = set(BIAS_METRICS) | {"shape_match", "texture_match"}


def _keep(metric: str) -> bool:
    return "@" not in metric or metric.split("@", 1)[0] in SUMMARY_PREFIXES


@dataclass
class MetricColumn:
    name: str
    probe: str
    dataset: str
    higher_is_better: bool | None


@dataclass
class Comparison:
    """Result of :func:`compare`.

    Attributes:
        table: one row per model, one column per metric (column label = metric name, with the
            dataset in brackets where the same metric comes from several datasets).
        columns: label -> where the column comes from.
        correlations: every pair of metrics with >= 3 models: ``metric_a``, ``metric_b``, ``n``,
            ``spearman_rho``, ``spearman_p``, ``kendall_tau``, ``kendall_p``.
        bias: the subset with a bias measure as ``bias`` and a generalisation measure as
            ``target`` (plus ``target_higher_is_better`` to read the sign).
    """

    table: "pd.DataFrame"
    columns: dict[str, MetricColumn]
    correlations: "pd.DataFrame"
    bias: "pd.DataFrame"

    def render(self, fmt: str = "md", which: str = "all") -> str:
        """Tables as Markdown, CSV or LaTeX; ``which`` in ``models|correlations|bias|all``."""
        parts = {
            "models": (self.table.reset_index(), "Metrics per model"),
            "bias": (self.bias, "Which bias predicts what (rank correlations across models)"),
            "correlations": (self.correlations, "Rank correlations between metrics across models"),
        }
        if which != "all" and which not in parts:
            raise ValueError(f"unknown table {which!r}; choose models, correlations, bias or all")
        chosen = list(parts) if which == "all" else [which]
        out = []
        for k in chosen:
            df, title = parts[k]
            text = tables.render(df, fmt, title)
            if fmt == "csv" and which == "all":
                text = f"# {title}\n{text}"
            out.append(text)
        return "\n\n".join(out) + "\n"


def _collect(
    book: RecordBook, models: Iterable[str] | None
) -> tuple[dict[str, dict[str, float]], dict[str, MetricColumn]]:
    wanted = set(models) if models else None
    cells: dict[tuple[str, str, str], dict[str, float]] = {}
    meta: dict[tuple[str, str, str], MetricColumn] = {}
    for (m, p, d), rec in book.latest.items():
        if (wanted and m not in wanted) or not is_ok(rec):
            continue
        for name, v in metrics_of(rec).items():
            if _keep(name):
                cells.setdefault((name, p, d), {})[m] = v
                meta[(name, p, d)] = MetricColumn(name, p, d, higher_is_better(rec, name))
    sources: dict[str, list[tuple[str, str]]] = {}
    for name, p, d in cells:
        sources.setdefault(name, []).append((p, d))
    values: dict[str, dict[str, float]] = {}
    columns: dict[str, MetricColumn] = {}
    for key in sorted(cells, key=lambda k: (k[1], k[0], k[2])):
        label = _label(key, sources[key[0]])
        values[label] = cells[key]
        columns[label] = meta[key]
    return values, columns


def _label(key: tuple[str, str, str], sources: list[tuple[str, str]]) -> str:
    """The metric name, qualified by probe and/or dataset only where the name is ambiguous."""
    name, probe, dataset = key
    if len(sources) == 1:
        return name
    if len({p for p, _ in sources}) == 1:
        return f"{name} [{dataset}]"
    if len({d for _, d in sources}) == 1:
        return f"{name} [{probe}]"
    return f"{name} [{probe}, {dataset}]"


def rank_correlation(x: list[float], y: list[float]) -> dict[str, float]:
    """Spearman and Kendall (tau-b) with two-sided p-values; NaN when undefined (n < 3 or constant)."""
    from scipy import stats

    n = len(x)
    nan = {"n": n, "spearman_rho": math.nan, "spearman_p": math.nan, "kendall_tau": math.nan, "kendall_p": math.nan}
    if n < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = stats.spearmanr(x, y)
        k = stats.kendalltau(x, y)
    return {
        "n": n,
        "spearman_rho": float(s.statistic),
        "spearman_p": float(s.pvalue),
        "kendall_tau": float(k.statistic),
        "kendall_p": float(k.pvalue),
    }


def _ranks(x: list[float]) -> tuple[int, ...]:
    """Dense ranks (ties share a rank): the pattern a rank correlation depends on."""
    order = {v: i for i, v in enumerate(sorted(set(x)))}
    return tuple(order[v] for v in x)


def _is_bias_pair(a: MetricColumn, b: MetricColumn) -> bool:
    return a.name in BIAS_METRICS and b.probe in TARGET_PROBES and b.name not in TARGET_EXCLUDE


def _spearman_groups(
    values: dict[str, dict[str, float]], pairs: list[tuple[str, str, tuple[str, ...]]]
) -> dict[tuple[str, str], tuple[float, float]]:
    """Spearman rho and p for many pairs: one matrix call per distinct set of common models."""
    import numpy as np
    from scipy import stats

    groups: dict[tuple[str, ...], set[str]] = {}
    for a, b, common in pairs:
        groups.setdefault(common, set()).update((a, b))
    out = {}
    for common, labels in groups.items():
        cols = sorted(labels)
        x = np.array([[values[c][m] for c in cols] for m in common], dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.spearmanr(x) if len(cols) > 2 else None
        rho = np.atleast_2d(res.statistic) if res is not None else None
        p = np.atleast_2d(res.pvalue) if res is not None else None
        idx = {c: i for i, c in enumerate(cols)}
        for a, b, cm in pairs:
            if cm != common:
                continue
            if rho is None:
                r = rank_correlation(x[:, idx[a]].tolist(), x[:, idx[b]].tolist())
                out[(a, b)] = (r["spearman_rho"], r["spearman_p"])
            else:
                out[(a, b)] = (float(rho[idx[a], idx[b]]), float(p[idx[a], idx[b]]))
    return out


CORR_COLUMNS = ["metric_a", "metric_b", "n", "spearman_rho", "spearman_p", "kendall_tau", "kendall_p"]
BIAS_COLUMNS = ["bias", "target", "target_higher_is_better"] + CORR_COLUMNS[2:]


def correlation_rows(
    book: RecordBook, models: Iterable[str] | None = None, min_models: int = 3, pairs: str = "all"
) -> tuple[dict[str, dict[str, float]], dict[str, MetricColumn], list[dict[str, Any]], list[dict[str, Any]]]:
    """The comparison as plain rows (no pandas): values, columns, correlation rows, bias rows.

    Args:
        book: the records.
        models: restrict to these subjects (default: all).
        min_models: pairs with fewer models holding both metrics are left out.
        pairs: ``"all"`` correlates every pair of metrics; ``"bias"`` only bias x generalisation
            pairs (what the HTML report shows; much faster on stores with many metrics).
    """
    from scipy import stats

    values, columns = _collect(book, models)
    subjects = sorted({m for v in values.values() for m in v})
    todo = []
    labels = list(values)
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            ca, cb = columns[a], columns[b]
            if pairs == "bias" and not (_is_bias_pair(ca, cb) or _is_bias_pair(cb, ca)):
                continue
            common = tuple(m for m in subjects if m in values[a] and m in values[b])
            if len(common) < min_models:
                continue
            xa, xb = [values[a][m] for m in common], [values[b][m] for m in common]
            if len(set(xa)) < 2 or len(set(xb)) < 2:
                continue
            todo.append((a, b, common))
    spear = _spearman_groups(values, todo)
    rows = []
    kendall_memo: dict[tuple[tuple[int, ...], tuple[int, ...]], tuple[float, float]] = {}
    for a, b, common in todo:
        rho, p = spear[(a, b)]
        if math.isnan(rho):
            continue
        xa, xb = [values[a][m] for m in common], [values[b][m] for m in common]
        # Kendall's tau-b and its p-value depend on the ranks only; metrics of one store often
        # share rank patterns, so memoising on them saves most of scipy's per-call overhead.
        key = (_ranks(xa), _ranks(xb))
        if key not in kendall_memo:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                k = stats.kendalltau(xa, xb)
            kendall_memo[key] = (float(k.statistic), float(k.pvalue))
        tau, tau_p = kendall_memo[key]
        rows.append(
            {
                "metric_a": a,
                "metric_b": b,
                "n": len(common),
                "spearman_rho": rho,
                "spearman_p": p,
                "kendall_tau": tau,
                "kendall_p": tau_p,
            }
        )
    bias_rows = []
    for r in rows:
        for bias_label, target_label in ((r["metric_a"], r["metric_b"]), (r["metric_b"], r["metric_a"])):
            bc, tc = columns[bias_label], columns[target_label]
            if _is_bias_pair(bc, tc):
                bias_rows.append(
                    {
                        "bias": bias_label,
                        "target": target_label,
                        "target_higher_is_better": tc.higher_is_better,
                        **{k: r[k] for k in CORR_COLUMNS[2:]},
                    }
                )
    bias_rows.sort(key=lambda r: (r["bias"], r["spearman_p"]))
    return values, columns, rows, bias_rows


def compare(
    store_dir: str | Path,
    models: Iterable[str] | None = None,
    min_models: int = 3,
    records: list[dict[str, Any]] | None = None,
    pairs: str = "all",
    metrics: Iterable[str] | None = None,
) -> Comparison:
    """Compare models of a store: metric table, pairwise rank correlations, bias analysis.

    Args:
        store_dir: the store folder.
        models: restrict to these subjects (default: all).
        min_models: pairs with fewer models holding both metrics are left out.
        records: use these records instead of loading the store (for tests).
        pairs: ``"all"`` or ``"bias"`` (see :func:`correlation_rows`).
        metrics: metric names shown in the per-model table besides each probe's headline
            (``["all"]``: every compared metric). The correlations always use every metric.
    """
    import pandas as pd

    book = RecordBook(records if records is not None else load_records(store_dir), store_dir)
    values, columns, rows, bias_rows = correlation_rows(book, models, min_models, pairs)
    subjects = sorted({m for v in values.values() for m in v})
    shown = _shown_columns(book, columns, list(metrics or []))
    table = pd.DataFrame(
        {label: [values[label].get(m, math.nan) for m in subjects] for label in shown},
        index=pd.Index(subjects, name="model"),
    )
    return Comparison(
        table=table,
        columns=columns,
        correlations=pd.DataFrame(rows, columns=CORR_COLUMNS),
        bias=pd.DataFrame(bias_rows, columns=BIAS_COLUMNS),
    )


def _shown_columns(book: RecordBook, columns: dict[str, MetricColumn], wanted: list[str]) -> list[str]:
    """Column labels of the per-model table: each (probe, dataset)'s headline plus ``wanted``."""
    from visaudit.report.records import headline_metric

    if "all" in wanted:
        return list(columns)
    heads = {(probe, ds): headline_metric(rec) for (_, probe, ds), rec in book.latest.items() if is_ok(rec)}
    return [
        label for label, col in columns.items() if col.name in wanted or heads.get((col.probe, col.dataset)) == col.name
    ]


__all__ = ["compare", "correlation_rows", "Comparison", "rank_correlation"]
