"""A study's tables, recomputed from the records its stored result names.

``<store>/studies/*.json`` (written by :func:`visaudit.studies.run.run_study`) says which
record holds each model's cell. From those records: the value of every bias and generalisation
metric per model, and for every (bias, generalisation) pair the rank correlation across the
models that have both (Spearman's rho and Kendall's tau with p-values and n; see
:mod:`visaudit.metrics.correlation`), with a warning where n is below the study's
``min_models``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visaudit.report.records import metrics_of


@dataclass
class StudyTable:
    """The numbers of one study result.

    Attributes:
        name, title, citation: from the definition.
        models: the models of the run.
        values: model -> metric label -> value (missing when the cell did not run).
        correlations: one row per (bias, generalisation) pair with both values for >= 1 model.
        cells: model -> cell -> status entry (``ok``, ``refused``, ``unavailable``, ``error``, with ``reason``).
        warnings: what makes the correlations weak or partial.
    """

    name: str
    title: str
    citation: str
    models: list[str]
    bias: list[str]
    generalisation: list[str]
    values: dict[str, dict[str, float]]
    correlations: list[dict[str, Any]]
    cells: dict[str, dict[str, dict[str, Any]]]
    warnings: list[str] = field(default_factory=list)


def load_manifests(store: str | Path) -> list[dict[str, Any]]:
    """Every study result of a store, newest first (unreadable files are skipped)."""
    out = []
    for p in sorted((Path(store) / "studies").glob("*.json")):
        try:
            m = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(m, dict) and m.get("schema") == 1:
            m["_path"] = str(p)
            out.append(m)
    return sorted(out, key=lambda m: str(m.get("created_at", "")), reverse=True)


def study_table(manifest: dict[str, Any], records_by_key: dict[str, dict[str, Any]]) -> StudyTable:
    """Values and correlations of one stored study result, from the records it names."""
    from visaudit.metrics.correlation import rank_correlation

    study = manifest["study"]
    models = list(manifest["models"])
    cells = manifest.get("cells", {})
    values: dict[str, dict[str, float]] = {m: {} for m in models}
    for m in models:
        for ref in study["bias"] + study["generalisation"]:
            entry = cells.get(m, {}).get(f"{ref['probe']}@{ref['dataset']}", {})
            rec = records_by_key.get(str(entry.get("key")))
            v = metrics_of(rec).get(ref["metric"]) if rec else None
            if v is not None and math.isfinite(v):
                values[m][ref["label"]] = float(v)
    bias = [r["label"] for r in study["bias"]]
    gen = [r["label"] for r in study["generalisation"]]
    rows = []
    min_n = int(study.get("min_models") or 10)
    for b in bias:
        for g in gen:
            have = [m for m in models if b in values[m] and g in values[m]]
            if not have:
                continue
            r = rank_correlation([values[m][b] for m in have], [values[m][g] for m in have])
            rows.append({"bias": b, "generalisation": g, **r, "models": have})
    warnings = []
    n_max = max((int(r["n"]) for r in rows), default=0)
    if rows and n_max < min_n:
        warnings.append(
            f"at most n={n_max} models have both values of a pair: rank correlations over fewer than {min_n} "
            "models say almost nothing (with n=3 the smallest possible two-sided Spearman p is 0.33)"
        )
    missing = sorted({label for m in models for label in bias + gen if label not in values[m]})
    if missing:
        warnings.append(
            f"metrics missing for some models (cells not run, refused or unavailable): {', '.join(missing)}"
        )
    return StudyTable(
        name=str(study["name"]),
        title=str(study.get("title", study["name"])),
        citation=str(study.get("citation", "")),
        models=models,
        bias=bias,
        generalisation=gen,
        values=values,
        correlations=rows,
        cells=cells,
        warnings=warnings,
    )


def not_run(table: StudyTable) -> list[tuple[str, str, str, list[str]]]:
    """``(cell, status, reason, models)`` for every cell that did not give a record, grouped by reason."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for model, cells in table.cells.items():
        for name, entry in cells.items():
            if entry.get("status") != "ok":
                why = str(entry.get("reason", "")).splitlines()[0] if entry.get("reason") else ""
                groups.setdefault((name, str(entry.get("status", "?")), why), []).append(model)
    return [(c, s, w, sorted(m)) for (c, s, w), m in sorted(groups.items())]


def render_markdown(table: StudyTable) -> str:
    """The values, the correlations and the cell statuses as Markdown."""
    from visaudit.report.tables import cell

    labels = [x for x in table.bias + table.generalisation if any(x in table.values[m] for m in table.models)]
    out = [f"## {table.title}", "", f"{table.citation}", ""]
    out += ["| model | " + " | ".join(labels) + " |", "|:--|" + "--:|" * len(labels)]
    for m in table.models:
        out.append(f"| {m} | " + " | ".join(cell(table.values[m].get(x, math.nan), 4) for x in labels) + " |")
    out += ["", "| bias | generalisation | n | Spearman rho | p | Kendall tau | p |", "|:--|:--|--:|--:|--:|--:|--:|"]
    for r in table.correlations:
        out.append(
            f"| {r['bias']} | {r['generalisation']} | {r['n']} | {cell(r['spearman_rho'], 3)} | "
            f"{cell(r['spearman_p'], 3)} | {cell(r['kendall_tau'], 3)} | {cell(r['kendall_p'], 3)} |"
        )
    if not table.correlations:
        out.append("| - | - | 0 | - | - | - | - |")
    notes = [f"- {c} ({', '.join(models)}): {s}: {why}" for c, s, why, models in not_run(table)]
    if notes:
        out += ["", "Cells that did not run:", *notes]
    if table.warnings:
        out += ["", *[f"warning: {w}" for w in table.warnings]]
    return "\n".join(out) + "\n"


def render_html(table: StudyTable) -> str:
    """The study as a report section: a correlation matrix (rho, hover for n, p, tau), values, statuses."""
    from html import escape

    from visaudit.report.tables import cell, rho_colour

    corr = {(r["generalisation"], r["bias"]): r for r in table.correlations}
    biases = [b for b in table.bias if any(k[1] == b for k in corr)]
    gens = [g for g in table.generalisation if any(k[0] == g for k in corr)]
    parts = [f"<h3>{escape(table.title)}</h3><p class=meta>{escape(table.citation)}</p>"]
    if corr:
        head = '<th class="l">generalisation \\ bias</th>' + "".join(f"<th>{escape(b)}</th>" for b in biases)
        body = []
        for g in gens:
            tds = []
            for b in biases:
                r = corr.get((g, b))
                if r is None or not math.isfinite(float(r["spearman_rho"])):
                    n = int(r["n"]) if r else 0
                    tds.append(f'<td class="na" title="n={n}">-</td>')
                    continue
                tip = (
                    f"n={r['n']}; Spearman rho={cell(r['spearman_rho'], 3)} (p={cell(r['spearman_p'], 3)}, "
                    f"{r['spearman_p_method']}); Kendall tau={cell(r['kendall_tau'], 3)} (p={cell(r['kendall_p'], 3)})"
                )
                rho = float(r["spearman_rho"])
                colour = rho_colour(rho)
                star = "*" if float(r["spearman_p"]) < 0.05 else ""
                tds.append(
                    f'<td style="background:{colour}" title="{escape(tip)}">{cell(rho, 2)}{star} (n={r["n"]})</td>'
                )
            body.append(f'<tr><td class="l">{escape(g)}</td>{"".join(tds)}</tr>')
        parts.append(
            "<p class=meta>Spearman rank correlation across models (hover: n, p-values, Kendall tau; * p &lt; 0.05).</p>"
            f'<div class="wrap"><table class="study-corr"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>"
        )
    parts.append(_scatters(table))
    labels = [x for x in table.bias + table.generalisation if any(x in table.values[m] for m in table.models)]
    if labels:
        rows = "".join(
            f'<tr><td class="l">{escape(m)}</td>'
            + "".join(f"<td>{cell(table.values[m].get(x, math.nan), 4)}</td>" for x in labels)
            + "</tr>"
            for m in table.models
        )
        parts.append(
            '<div class="wrap"><table class="study-values"><thead><tr><th class="l">model</th>'
            + "".join(f"<th>{escape(x)}</th>" for x in labels)
            + f"</tr></thead><tbody>{rows}</tbody></table></div>"
        )
    items = [
        f"<li>{escape(c)} ({escape(', '.join(models))}): {escape(s)}: {escape(w)}</li>"
        for c, s, w, models in not_run(table)
    ]
    if items:
        parts.append("<details><summary>Cells that did not run</summary><ul>" + "".join(items) + "</ul></details>")
    parts += [f'<p class="note">warning: {escape(w)}</p>' for w in table.warnings]
    return "".join(parts)


def _scatters(table: StudyTable, most: int = 6) -> str:
    """One scatter per (bias, generalisation) pair with at least 3 models, strongest |rho| first."""
    from html import escape

    from visaudit.report.svg import Series, color, line_chart
    from visaudit.report.tables import cell

    rows = [r for r in table.correlations if int(r["n"]) >= 3 and math.isfinite(float(r["spearman_rho"]))]
    rows.sort(key=lambda r: -abs(float(r["spearman_rho"])))
    figs = []
    for r in rows[:most]:
        series = [
            Series(m, [table.values[m][r["bias"]]], [table.values[m][r["generalisation"]]], color=color(i))
            for i, m in enumerate(table.models)
            if m in r["models"]
        ]
        svg = line_chart(series, xlabel=str(r["bias"]), ylabel=str(r["generalisation"]), width=340, height=240)
        caption = f"{r['generalisation']} against {r['bias']}: rho={cell(r['spearman_rho'], 2)}, n={r['n']}"
        figs.append(f'<figure class="study-scatter">{svg}<figcaption>{escape(caption)}</figcaption></figure>')
    return f'<div class="figs">{"".join(figs)}</div>' if figs else ""
