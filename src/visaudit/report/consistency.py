"""Trial-by-trial agreement across the store: error-consistency matrices and the human-likeness ranking.

Read from stored records only:

- models: the per-stimulus decisions of ``human-likeness`` records (their samples table:
  ``stimulus``, ``correct``);
- humans: the subjects imported with ``visaudit import --kind humans`` (probe
  ``human-decisions``; samples ``stimulus``, ``correct``).

For each dataset cell, :func:`consistency_tables` gives Cohen's kappa on correctness (error
consistency, Geirhos et al. 2020) for every pair of subjects, models and humans alike, on the
stimuli both decided. :func:`human_likeness_ranking` orders the models as model-vs-human's
benchmark does: per model, each of accuracy difference (lower is better), observed consistency
and error consistency to the humans is averaged over the datasets; the models are ranked on each
of the three; the mean of the three ranks orders them.

A job's numbers never depend on what else the store holds, so these cross-subject analyses
live here, beside ``compare``, and not in a probe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from visaudit.report.records import RecordBook, dataset_name, is_ok, metrics_of, model_name

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

MODEL_PROBE = "human-likeness"
HUMAN_PROBE = "human-decisions"
RANK_METRICS = {"accuracy_difference": False, "observed_consistency": True, "error_consistency": True}


@dataclass
class ConsistencyTable:
    """Error consistency of every pair of subjects on one dataset cell.

    Attributes:
        dataset: the cell (dataset name, qualified by the run variant when several exist).
        subjects: models first, then humans, each sorted by name.
        kinds: subject -> ``model`` or ``human``.
        kappa: ``kappa[i][j]`` for subjects i, j (NaN when they share no stimulus).
        n: stimuli both decided.
        records: the records read.
    """

    dataset: str
    subjects: list[str]
    kinds: dict[str, str]
    kappa: list[list[float]]
    n: list[list[int]]
    records: list[dict[str, Any]] = field(default_factory=list)

    def value(self, a: str, b: str) -> float:
        return self.kappa[self.subjects.index(a)][self.subjects.index(b)]

    def to_frame(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame(self.kappa, index=self.subjects, columns=self.subjects)


def _correctness(book: RecordBook, rec: dict[str, Any]) -> "pd.Series | None":
    from visaudit.engine.store import Store

    table = Store(book.store_dir).samples(str(rec.get("key")))
    if table is None or "stimulus" not in table.columns or "correct" not in table.columns:
        return None
    return table.set_index("stimulus")["correct"].astype(bool)


def consistency_tables(book: RecordBook) -> list[ConsistencyTable]:
    """One table per dataset cell of ``human-likeness`` records (with the humans of that dataset)."""
    from visaudit.metrics.human_likeness import error_consistency

    humans: dict[str, list[dict[str, Any]]] = {}
    for rec in book.for_probe(HUMAN_PROBE):
        if is_ok(rec):
            humans.setdefault(dataset_name(rec), []).append(rec)
    out = []
    for cell in book.cells(MODEL_PROBE):
        models = [r for r in cell if is_ok(r)]
        if not models:
            continue
        people = humans.get(dataset_name(models[0]), [])
        subjects: dict[str, tuple[str, pd.Series, dict[str, Any]]] = {}
        for kind, recs in (("model", models), ("human", people)):
            for rec in sorted(recs, key=model_name):
                correct = _correctness(book, rec)
                if correct is not None:
                    subjects.setdefault(model_name(rec), (kind, correct, rec))
        names = [s for s in subjects if subjects[s][0] == "model"] + [s for s in subjects if subjects[s][0] == "human"]
        kappa = [[math.nan] * len(names) for _ in names]
        n = [[0] * len(names) for _ in names]
        for i, a in enumerate(names):
            for j, b in enumerate(names[i:], start=i):
                ca, cb = subjects[a][1], subjects[b][1]
                both = ca.index.intersection(cb.index)
                if len(both):
                    k = error_consistency(ca.loc[both], cb.loc[both])["kappa"]
                    kappa[i][j] = kappa[j][i] = k
                    n[i][j] = n[j][i] = len(both)
        out.append(
            ConsistencyTable(
                dataset=book.cell(models[0]),
                subjects=names,
                kinds={s: subjects[s][0] for s in names},
                kappa=kappa,
                n=n,
                records=[subjects[s][2] for s in names],
            )
        )
    return out


def human_likeness_ranking(book: RecordBook) -> list[dict[str, Any]]:
    """Models ordered by model-vs-human's mean rank over the three human-likeness metrics.

    Returns:
        rows ``{"rank", "model", "mean_rank", "accuracy_difference", "observed_consistency",
        "error_consistency", "datasets"}``, best first (ties share the mean rank's order by name).
    """
    from visaudit.metrics.human_likeness import mean_rank_order

    per_model: dict[str, dict[str, list[float]]] = {}
    datasets: dict[str, list[str]] = {}
    for rec in book.for_probe(MODEL_PROBE):
        if not is_ok(rec):
            continue
        m = metrics_of(rec)
        scores = per_model.setdefault(model_name(rec), {k: [] for k in RANK_METRICS})
        for k in RANK_METRICS:
            if k in m and math.isfinite(m[k]):
                scores[k].append(m[k])
        datasets.setdefault(model_name(rec), []).append(book.cell(rec))
    means = {
        model: {k: sum(v) / len(v) for k, v in scores.items() if v} for model, scores in per_model.items() if scores
    }
    rows = []
    for rank, (model, mean_rank) in enumerate(mean_rank_order(means, RANK_METRICS), start=1):
        rows.append(
            {
                "rank": rank,
                "model": model,
                "mean_rank": mean_rank,
                **{k: means[model].get(k, math.nan) for k in RANK_METRICS},
                "datasets": sorted(datasets[model]),
            }
        )
    return rows


def figures(book: RecordBook) -> list[Any]:
    """One error-consistency heatmap per dataset cell (models and humans), for the report."""
    from visaudit.report.figures.common import Figure
    from visaudit.report.svg import heatmap

    out = []
    for t in consistency_tables(book):
        if len(t.subjects) < 2:
            continue
        labels = [s if t.kinds[s] == "model" else f"{s} (human)" for s in t.subjects]
        svg = heatmap(t.kappa, labels, labels, xlabel="subject", ylabel="subject", vmin=0.0, vmax=1.0, cell=40)
        out.append(Figure(f"Error consistency, every pair of subjects ({t.dataset})", svg, t.records))
    return out


def ranking_html(book: RecordBook) -> str:
    """The model-vs-human ranking as an HTML table ('' when the store has no human-likeness record)."""
    from html import escape

    from visaudit.report.tables import cell

    rows = human_likeness_ranking(book)
    if not rows:
        return ""
    body = "".join(
        f"<tr><td>{r['rank']}</td><td class=l>{escape(r['model'])}</td><td>{cell(r['mean_rank'], 2)}</td>"
        f"<td>{cell(r['accuracy_difference'], 3)}</td><td>{cell(r['observed_consistency'], 3)}</td>"
        f"<td>{cell(r['error_consistency'], 3)}</td><td class=l>{escape(', '.join(r['datasets']))}</td></tr>"
        for r in rows
    )
    return (
        "<h3>Most human-like</h3><p class=meta>model-vs-human's ranking: each metric averaged over the datasets, "
        "the models ranked on each (accuracy difference: lower is better), ordered by the mean of the three ranks."
        '</p><div class="wrap"><table id="human-ranking"><thead><tr><th>rank</th><th class=l>model</th>'
        "<th>mean rank</th><th>accuracy difference ↓</th><th>observed consistency ↑</th>"
        "<th>error consistency ↑</th><th class=l>datasets</th></tr></thead><tbody>"
        f"{body}</tbody></table></div>"
    )
