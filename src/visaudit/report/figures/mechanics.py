"""Figures of the inner-mechanics probes: criticality over depth, filter statistics, quantization."""

from __future__ import annotations

from typing import Any

from visaudit.report.figures.common import Figure, by_prefix, short_module
from visaudit.report.svg import Series, line_chart


def _depth_ticks(names: list[str]) -> dict[float, str]:
    step = max(1, len(names) // 8)
    return {float(i): short_module(n) for i, n in enumerate(names) if i % step == 0}


def layer_criticality(rec: dict[str, Any]) -> list[Figure]:
    """Criticality over depth from ``criticality@<module>`` (metric order = depth order).

    ``data["layers"]`` (:class:`~visaudit.probes.layer_criticality.LayerCriticalityData`) takes
    precedence when present.
    """
    data = rec.get("data")
    layers = data.get("layers") if isinstance(data, dict) else None
    pts: dict[str, float] = {}
    if isinstance(layers, list):
        for row in layers:
            if isinstance(row, dict) and isinstance(row.get("criticality"), (int, float)) and row.get("module"):
                pts[str(row["module"])] = float(row["criticality"])
    if not pts:
        pts = by_prefix(rec, "criticality")
    if not pts:
        return []
    names = list(pts)
    svg = line_chart(
        [Series("criticality", list(range(len(names))), list(pts.values()))],
        xlabel="layer (input → output)",
        ylabel="criticality (0-100)",
        ylim=(0, None),
        xtick_labels=_depth_ticks(names),
        width=560,
    )
    return [Figure("Layer criticality over depth", svg, [rec])]


def filters(rec: dict[str, Any]) -> list[Figure]:
    """Sparsity, variance entropy and orthogonality per 3x3 conv layer over depth (from metric names).

    The probe's ``data`` (:class:`~visaudit.probes.filters.FilterStatsData`) holds the same
    numbers per layer plus the filter histograms; the metric names suffice for the plot.
    """
    # the normalised entropy (in [0, 1]) shares the axis with the others; raw entropy only if alone
    entropy = "variance_entropy_norm" if by_prefix(rec, "variance_entropy_norm") else "variance_entropy"
    stats = {k: by_prefix(rec, k) for k in ("sparsity", entropy, "orthogonality")}
    names = list(dict.fromkeys(n for s in stats.values() for n in s))
    if not names:
        return []
    series = []
    for key, vals in stats.items():
        xs = [i for i, n in enumerate(names) if n in vals]
        if xs:
            series.append(Series(key, xs, [vals[names[i]] for i in xs]))
    svg = line_chart(
        series,
        xlabel="3x3 conv layer (depth)",
        ylabel="statistic",
        ylim=(0, 1) if entropy == "variance_entropy_norm" else (0, None),
        xtick_labels=_depth_ticks(names),
        width=560,
    )
    return [Figure("Filter statistics per depth", svg, [rec])]


def quantization(rec: dict[str, Any]) -> list[Figure]:
    """Top-1 drop per layer and bit width from ``delta_top1@<module>/<bits>bit``.

    Metric names only; the allocation, sizes and Hessian ranking in ``data``
    (:class:`~visaudit.probes.quantization.QuantizationSensitivityData`) are not drawn.
    """
    curves: dict[str, dict[str, float]] = {}
    for suffix, v in by_prefix(rec, "delta_top1").items():
        module, _, bits = suffix.rpartition("/")
        if module:
            curves.setdefault(bits, {})[module] = v
    names = list(dict.fromkeys(m for c in curves.values() for m in c))
    if not names:
        return []
    series = []
    for bits, c in sorted(curves.items()):
        xs = [i for i, n in enumerate(names) if n in c]
        series.append(Series(bits, xs, [c[names[i]] for i in xs]))
    svg = line_chart(
        series,
        xlabel="layer (depth)",
        ylabel="Δ top-1 when quantized alone",
        xtick_labels=_depth_ticks(names),
        width=560,
    )
    return [Figure("Per-layer quantization sensitivity", svg, [rec])]


def per_class(rec: dict[str, Any]) -> list[Figure]:
    """Per-class accuracy from ``class_top1@<class>``, else from ``data["per_class"][class]["top1"]``.

    Layout :class:`~visaudit.probes.accuracy.AccuracyData`; classes without images (``top1``
    None) are left out.
    """
    pc = by_prefix(rec, "class_top1")
    data = rec.get("data")
    if not pc and isinstance(data, dict) and isinstance(data.get("per_class"), dict):
        pc = {
            str(k): float(v["top1"])
            for k, v in data["per_class"].items()
            if isinstance(v, dict) and isinstance(v.get("top1"), (int, float)) and not isinstance(v["top1"], bool)
        }
    if not pc or len(pc) > 100:
        return []
    from visaudit.report.svg import dot_rows

    svg = dot_rows(list(pc), [("top-1", pc)], xlabel="top-1 accuracy per class", mean_lines=True)
    return [Figure("Per-class accuracy", svg, [rec])]
