"""Figures of calibration and OOD detection: reliability diagram, score histograms, ROC, AUROC table."""

from __future__ import annotations

from typing import Any

from visaudit.report.figures.common import Figure, by_prefix, numbers
from visaudit.report.svg import Series, dot_rows, line_chart


def calibration(rec: dict[str, Any]) -> list[Figure]:
    """Reliability diagram from ``data["reliability"]`` and the held-out curves around temperature scaling.

    Layout :class:`~visaudit.probes.calibration.CalibrationData`: ``reliability = {"lower",
    "upper", "count", "confidence", "accuracy"}`` per bin (mean confidence and accuracy, None
    for empty bins); ``temperature_scaling["reliability_before" | "reliability_after"]`` of the
    same layout add the held-out part before and after scaling. Empty bins are not drawn.
    """
    data = rec.get("data")
    data = data if isinstance(data, dict) else {}
    ts = data.get("temperature_scaling")
    ts = ts if isinstance(ts, dict) else {}
    series = []
    for rel, label in (
        (data.get("reliability"), "all samples"),
        (ts.get("reliability_before"), "held-out, before TS"),
        (ts.get("reliability_after"), "held-out, after TS"),
    ):
        if not isinstance(rel, dict):
            continue
        conf, acc, counts = numbers(rel.get("confidence")), numbers(rel.get("accuracy")), numbers(rel.get("count"))
        if not conf or not acc or not counts or not len(conf) == len(acc) == len(counts):
            continue
        keep = [i for i, c in enumerate(counts) if c > 0]
        if not keep:
            continue
        series.append(Series(label, [conf[i] for i in keep], [acc[i] for i in keep], dashed="after" in label))
    if not series:
        return []
    svg = line_chart(series, xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), diagonal=True)
    return [Figure("Reliability diagram", svg, [rec])]


def ood(rec: dict[str, Any]) -> list[Figure]:
    """AUROC per detector and OOD set (from ``auroc@<detector>/<set>``), score histograms, ROC.

    ``data["histograms"]["<detector>/<set>"] = {"edges": [...], "id": [...], "ood": [...]}``
    (counts; higher score = more in-distribution; :class:`~visaudit.probes.ood.OODData`).
    """
    figs = []
    auroc = by_prefix(rec, "auroc")
    if auroc:
        table: dict[str, dict[str, float]] = {}
        for suffix, v in auroc.items():
            det, _, ood_set = suffix.partition("/")
            table.setdefault(ood_set or "-", {})[det] = v
        dets = sorted({d for t in table.values() for d in t})
        svg = dot_rows(dets, sorted(table.items()), xlabel="AUROC (OOD positive)", mean_lines=False)
        figs.append(Figure("AUROC per detector and OOD set", svg, [rec]))
    data = rec.get("data")
    hists = data.get("histograms") if isinstance(data, dict) else None
    if isinstance(hists, dict):
        for name, h in list(hists.items())[:6]:
            if not isinstance(h, dict):
                continue
            edges = numbers(h.get("edges"))
            if not edges:
                continue
            centres = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
            series = []
            for part, label in (("id", "in-distribution"), ("ood", "OOD")):
                c = numbers(h.get(part))
                if c and len(c) == len(centres):
                    total = sum(c) or 1.0
                    series.append(Series(label, centres, [v / total for v in c], step=True, markers=False))
            if series:
                svg = line_chart(series, xlabel=f"score ({name})", ylabel="share of samples", ylim=(0, None))
                figs.append(Figure(f"Score histogram: {name}", svg, [rec]))
    return figs
