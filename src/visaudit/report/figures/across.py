"""Figures that put every model in one plot (the overview section of the report)."""

from __future__ import annotations

from typing import Any

from visaudit.report.figures.common import Figure, by_prefix, parse_attack, parse_condition
from visaudit.report.records import dataset_name, is_ok, metrics_of, model_name
from visaudit.report.svg import Series, line_chart

MAX_MODELS = 14


def corruption_severity(records: list[dict[str, Any]]) -> list[Figure]:
    """Mean top-1 over corruptions vs severity, one line per model (from ``top1@<c>/<s>``)."""
    by_ds: dict[str, list[Series]] = {}
    used: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        if not is_ok(rec):
            continue
        per_sev: dict[float, list[float]] = {}
        for suffix, v in by_prefix(rec, "top1").items():
            cond = parse_condition(suffix)
            if cond:
                per_sev.setdefault(cond[1], []).append(v)
        if not per_sev:
            continue
        xs = sorted(per_sev)
        ys = [sum(per_sev[x]) / len(per_sev[x]) for x in xs]
        clean = metrics_of(rec).get("top1", metrics_of(rec).get("clean_top1"))
        if clean is not None:
            xs, ys = [0.0] + xs, [clean] + ys
        ds = dataset_name(rec)
        by_ds.setdefault(ds, []).append(Series(model_name(rec), xs, ys))
        used.setdefault(ds, []).append(rec)
    figs = []
    for ds, series in sorted(by_ds.items()):
        svg = line_chart(
            series[:MAX_MODELS], xlabel="severity (0 = clean)", ylabel="top-1, mean over corruptions", ylim=(0, 1)
        )
        figs.append(Figure(f"Corruption robustness, every model ({ds})", svg, used[ds][:MAX_MODELS]))
    return figs


def robust_accuracy(records: list[dict[str, Any]]) -> list[Figure]:
    """Robust top-1 vs eps, one line per model, for the strongest attack family present per norm."""
    curves: dict[tuple[str, str, str], dict[str, dict[float, float]]] = {}
    recs: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for rec in records:
        if not is_ok(rec):
            continue
        clean = metrics_of(rec).get("clean_top1")
        for suffix, v in by_prefix(rec, "robust_top1").items():
            parsed = parse_attack(suffix)
            if not parsed:
                continue
            key = (dataset_name(rec), parsed[1], parsed[0])
            pts = curves.setdefault(key, {}).setdefault(model_name(rec), {})
            pts[parsed[2]] = v
            if clean is not None:
                pts.setdefault(0.0, clean)
            if rec not in recs.setdefault(key, []):
                recs[key].append(rec)
    figs = []
    chosen: dict[tuple[str, str], str] = {}
    for ds, norm, attack in curves:  # prefer AutoAttack, else the attack with most models
        cur = chosen.get((ds, norm))
        if (
            cur is None
            or attack == "autoattack"
            or (cur != "autoattack" and len(curves[(ds, norm, attack)]) > len(curves[(ds, norm, cur)]))
        ):
            chosen[(ds, norm)] = attack
    for (ds, norm), attack in sorted(chosen.items()):
        models = curves[(ds, norm, attack)]
        series = [Series(m, sorted(p), [p[x] for x in sorted(p)]) for m, p in sorted(models.items())][:MAX_MODELS]
        xt = None
        if norm.lower() in ("linf", "inf"):
            xt = {x: (f"{x * 255:.3g}/255" if x else "0") for x in sorted({x for s in series for x in s.x})}
        svg = line_chart(
            series, xlabel=f"eps ({norm})", ylabel=f"robust top-1 ({attack})", ylim=(0, 1), xtick_labels=xt
        )
        figs.append(
            Figure(
                f"Robust accuracy vs eps, every model ({attack}, {norm}, {ds})",
                svg,
                recs[(ds, norm, attack)][:MAX_MODELS],
            )
        )
    return figs
