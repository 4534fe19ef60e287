"""Figures of the robustness probes: corruptions, adversarial, solarization, nuisance sweeps,
confidence and perturbation anatomy. Each takes one record and returns a list of figures."""

from __future__ import annotations

from typing import Any

from visaudit.report.figures.common import (
    Figure,
    by_prefix,
    matrix,
    numbers,
    parse_attack,
    parse_condition,
    parse_number,
)
from visaudit.report.records import metrics_of
from visaudit.report.svg import Series, heatmap, line_chart


def _data(rec: dict[str, Any]) -> dict[str, Any]:
    """``record["data"]``, or an empty mapping when it is missing or not a mapping."""
    data = rec.get("data")
    return data if isinstance(data, dict) else {}


def _clean_top1(rec: dict[str, Any]) -> float | None:
    m = metrics_of(rec)
    return m.get("clean_top1", m.get("top1"))


def corruptions(rec: dict[str, Any]) -> list[Figure]:
    """Accuracy vs severity, one line per corruption, from ``top1@<corruption>/<severity>``.

    Without those metrics, from ``data["grid"] = {corruption: {severity: top1}}`` (layout
    :class:`~visaudit.probes.corruptions.CorruptionsData`).
    """
    curves: dict[str, dict[float, float]] = {}
    for suffix, v in by_prefix(rec, "top1").items():
        cond = parse_condition(suffix)
        if cond:
            curves.setdefault(cond[0], {})[cond[1]] = v
    grid = _data(rec).get("grid")
    if not curves and isinstance(grid, dict):
        for name, row in grid.items():
            if isinstance(row, dict):
                for sev, v in row.items():
                    x = parse_number(str(sev))
                    if x is not None and isinstance(v, (int, float)) and not isinstance(v, bool):
                        curves.setdefault(str(name), {})[x] = float(v)
    if not curves:
        return []
    clean = _clean_top1(rec)
    series = []
    for name, pts in curves.items():
        if clean is not None:
            pts = {0.0: clean, **pts}
        xs = sorted(pts)
        series.append(Series(name, xs, [pts[x] for x in xs]))
    figs = []
    # Split into charts of at most 8 corruptions so lines stay distinguishable.
    for i in range(0, len(series), 8):
        part = series[i : i + 8]
        svg = line_chart(part, xlabel="severity (0 = clean)", ylabel="top-1 accuracy", ylim=(0, 1))
        figs.append(Figure(f"Accuracy vs severity ({i // 8 + 1}/{(len(series) + 7) // 8})", svg, [rec]))
    return figs


def adversarial(rec: dict[str, Any]) -> list[Figure]:
    """Robust accuracy vs eps, one line per (attack, norm), from ``robust_top1@<attack>/<norm>=<eps>``."""
    curves: dict[tuple[str, str], dict[float, float]] = {}
    for suffix, v in by_prefix(rec, "robust_top1").items():
        parsed = parse_attack(suffix)
        if parsed:
            curves.setdefault(parsed[:2], {})[parsed[2]] = v
    clean = _clean_top1(rec)
    figs = []
    for norm in sorted({n for _, n in curves}):
        series = []
        for (attack, n), pts in sorted(curves.items()):
            if n != norm:
                continue
            if clean is not None:
                pts = {0.0: clean, **pts}
            xs = sorted(pts)
            series.append(Series(attack, xs, [pts[x] for x in xs]))
        xt = None
        if norm.lower() in ("linf", "l_inf", "inf"):
            xs_all = sorted({x for s in series for x in s.x})
            xt = {x: (f"{x * 255:.3g}/255" if x else "0") for x in xs_all}
        svg = line_chart(series, xlabel=f"eps ({norm})", ylabel="robust top-1", ylim=(0, 1), xtick_labels=xt)
        figs.append(Figure(f"Robust accuracy vs eps ({norm})", svg, [rec]))
    data = rec.get("data")
    curve = data.get("curve") if isinstance(data, dict) else None
    if isinstance(curve, dict):  # AdversarialData.curve: {"norm", "eps": [...], "top1": [...], "estimate"}
        eps, acc = numbers(curve.get("eps")), numbers(curve.get("top1"))
        if eps and acc and len(eps) == len(acc):
            svg = line_chart(
                [Series("robust top-1", eps, acc, markers=len(eps) <= 30)],
                xlabel=f"eps ({curve.get('norm', '?')})",
                ylabel="robust top-1",
                ylim=(0, 1),
            )
            figs.append(
                Figure("Robustness curve (per-sample minimal eps)", svg, [rec], note=str(curve.get("estimate", "")))
            )
    return figs


def solarization(rec: dict[str, Any]) -> list[Figure]:
    """Top-1 vs threshold from ``data["sweep"]`` and RandSol rounds from ``data["randsol"]``.

    Layout :class:`~visaudit.probes.solarization.SolarizationData`: ``sweep = {"threshold",
    "top1"}``, ``randsol = {"iteration", "robust_top1"}``; ``sweep_worst_threshold`` marks the worst t.
    """
    data = _data(rec)
    sweep = data.get("sweep")
    if not isinstance(sweep, dict):
        return []
    t, acc = numbers(sweep.get("threshold")), numbers(sweep.get("top1"))
    if not t or not acc or len(t) != len(acc):
        return []
    series = [Series("top-1", t, acc, markers=False)]
    worst = metrics_of(rec).get("sweep_worst_threshold")
    if worst is not None:
        series.append(Series(f"worst t={worst:.2f}", [worst, worst], [0, 1], color="#999", dashed=True, markers=False))
    svg = line_chart(series, xlabel="solarization threshold t", ylabel="top-1 accuracy", ylim=(0, 1), xlim=(0, 1))
    figs = [Figure("Solarization sweep", svg, [rec])]
    rs = data.get("randsol")
    if isinstance(rs, dict):
        it, acc = numbers(rs.get("iteration")), numbers(rs.get("robust_top1"))
        if it and acc and len(it) == len(acc):
            svg = line_chart(
                [Series("RandSol", it, acc)], xlabel="RandSol iteration", ylabel="robust top-1", ylim=(0, 1)
            )
            figs.append(Figure("RandSol attack", svg, [rec]))
    return figs


def nuisance_sweeps(rec: dict[str, Any]) -> list[Figure]:
    """Accuracy vs nuisance strength, one chart per knob, from ``data["curves"]``.

    Layout :class:`~visaudit.probes.nuisance_sweeps.NuisanceSweepsData`: ``curves[knob] =
    {"value", "top1", "unit", "neutral"}``.
    """
    curves = _data(rec).get("curves")
    if not isinstance(curves, dict):
        return []
    figs = []
    for knob, c in curves.items():
        if not isinstance(c, dict):
            continue
        x, y = numbers(c.get("value")), numbers(c.get("top1"))
        if not x or not y or len(x) != len(y):
            continue
        unit = c.get("unit")
        xlabel = f"{knob} ({unit})" if isinstance(unit, str) and unit else str(knob)
        svg = line_chart([Series("top-1", x, y)], xlabel=xlabel, ylabel="accuracy", ylim=(0, 1))
        figs.append(Figure(f"Nuisance sweep: {knob}", svg, [rec]))
    return figs


def confidence(rec: dict[str, Any]) -> list[Figure]:
    """Confidence histograms per group from ``data["histograms"]`` over ``data["bin_edges"]``.

    Layout :class:`~visaudit.probes.confidence.ConfidenceData`: ``bin_edges`` (bins + 1 edges)
    shared by ``histograms[group]`` (counts per bin). A group without any sample (no attack
    ran, or it never succeeded) draws no line: its shares are undefined, not zero.
    """
    data = _data(rec)
    hists, edges = data.get("histograms"), numbers(data.get("bin_edges"))
    if not isinstance(hists, dict) or not edges:
        return []
    centres = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
    series = []
    for group, h in hists.items():
        counts = numbers(h)
        if not counts or len(counts) != len(centres):
            continue
        total = sum(counts)
        if not total > 0:
            continue
        series.append(Series(str(group), centres, [c / total for c in counts], step=True, markers=False))
    if not series:
        return []
    svg = line_chart(series, xlabel="confidence", ylabel="share of samples", xlim=(0, 1), ylim=(0, None))
    return [Figure("Confidence of correct, wrong and adversarial predictions", svg, [rec])]


def perturbation_anatomy(rec: dict[str, Any]) -> list[Figure]:
    """Mean perturbation energy map from ``data["energy_map"]`` (2-D list, rows = image rows).

    Layout :class:`~visaudit.probes.perturbation_anatomy.PerturbationAnatomyData`.
    """
    m = matrix(_data(rec).get("energy_map"))
    if not m:
        return []
    step_r, step_c = max(1, len(m) // 16), max(1, len(m[0]) // 16)
    small = [row[::step_c] for row in m[::step_r]]
    svg = heatmap(
        small,
        [str(i * step_r) for i in range(len(small))],
        [str(j * step_c) for j in range(len(small[0]))],
        xlabel="column",
        ylabel="row",
        cell=18,
        annotate=False,
    )
    return [Figure("Where the adversarial perturbation energy sits", svg, [rec])]
