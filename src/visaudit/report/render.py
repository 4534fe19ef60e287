"""The static HTML report: leaderboard, figures across models, one card per model.

Built from stored records only. The page is one self-contained ``index.html`` (CSS, JS and
figures inline, a Content-Security-Policy that forbids any network load), so it opens from
disk with no server; each figure links to the record file it was drawn from.

Example:
    >>> result = render_report("visaudit-results", "visaudit-report")   # doctest: +SKIP
    >>> result.path                                                      # doctest: +SKIP
    PosixPath('visaudit-report/index.html')
"""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from visaudit.report.assets import CSS, JS
from visaudit.report.browser import BrowserResult, render_browser
from visaudit.report.figures import Figure, across, figures_for
from visaudit.report.figures.bias import shape_bias_subjects
from visaudit.report.records import (
    PROBE_ORDER,
    RecordBook,
    dataset_name,
    is_ok,
    load_store,
    metrics_of,
    model_name,
    n_of,
    probe_name,
    probe_version,
)
from visaudit.report.svg import fmt

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
MAX_DETAIL_METRICS = 400


@dataclass
class ReportResult:
    """What :func:`render_report` wrote."""

    path: Path
    n_records: int
    n_models: int
    figure_ids: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    browser: BrowserResult | None = None  # failures.html, the galleries (None if it could not be built)


class _Page:
    def __init__(self, book: RecordBook, out_dir: Path) -> None:
        self.book = book
        self.out_dir = out_dir
        self.figure_ids: list[str] = []
        self.notes: list[str] = []

    def link(self, rec: dict[str, Any]) -> str:
        target = self.book.record_path(rec).resolve()
        try:
            rel = os.path.relpath(target, self.out_dir.resolve())
        except ValueError:  # another drive on Windows
            return target.as_uri()
        return quote(Path(rel).as_posix())

    def figure(self, fig: Figure) -> str:
        if not fig.body:
            self.notes.append(f"{fig.title}: {fig.note}")
            return f'<p class="note">{escape(fig.title)}: {escape(fig.note)}</p>'
        fid = f"fig-{len(self.figure_ids) + 1}"
        self.figure_ids.append(fid)
        # One caption line per (probe, version, dataset, n); several records of one line are
        # linked by subject name.
        groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
        for rec in fig.records:
            n = n_of(rec)
            groups.setdefault(
                (probe_name(rec), probe_version(rec), dataset_name(rec), str(n) if n is not None else "?"), []
            ).append(rec)
        srcs = []
        for (probe, version, ds, n), recs in groups.items():
            if len(recs) == 1:
                links = f'<a href="{self.link(recs[0])}">record</a>'
            else:
                links = "records: " + ", ".join(f'<a href="{self.link(r)}">{escape(model_name(r))}</a>' for r in recs)
            srcs.append(f"{escape(probe)} v{escape(version)} · {escape(ds)} · n={n} · {links}")
        probe = escape(probe_name(fig.records[0])) if fig.records else ""
        note = f'<div class="meta">{escape(fig.note)}</div>' if fig.note else ""
        return (
            f'<figure class="fig" id="{fid}" data-probe="{probe}"><div class="t">{escape(fig.title)}</div>{note}'
            f"{fig.body}<figcaption>{'<br>'.join(srcs)}</figcaption></figure>"
        )


def _leaderboard(page: _Page) -> str:
    book = page.book
    cols = book.columns()
    head = [
        '<th class="l" data-type="text">model</th>',
        '<th class="l" data-type="text">source</th>',
        '<th data-type="num" data-hib="1">params (M)</th>',
    ]
    for c in cols:
        arrow = {True: "↑ better", False: "↓ better", None: ""}[c.higher_is_better]
        hib = "0" if c.higher_is_better is False else "1"
        head.append(
            f'<th data-type="num" data-hib="{hib}" title="{escape(c.probe)} on {escape(c.dataset)}: '
            f'{escape(c.metric)}">{escape(c.probe)}<br><span class="dir">{escape(c.metric)} · '
            f"{escape(c.dataset)} {arrow}</span></th>"
        )
    best: dict[int, float] = {}
    for j, c in enumerate(cols):
        vals = [v for m in book.models() for s, v in [book.value(m, c)] if v is not None]
        if vals and c.higher_is_better is not None:
            best[j] = max(vals) if c.higher_is_better else min(vals)
    rows = []
    for m in book.models():
        meta = book.model_meta(m)
        params = meta.get("n_params")
        p = f"{params / 1e6:.2f}" if isinstance(params, (int, float)) else ""
        cells = [
            f'<td class="l"><a href="#model-{escape(_slug(m))}">{escape(m)}</a></td>',
            f'<td class="l">{escape(str(meta.get("source") or ""))}</td>',
            f'<td data-v="{p}">{p}</td>',
        ]
        for j, c in enumerate(cols):
            state, v = book.value(m, c)
            if v is None:
                cls = "err" if state == "error" else "na"
                cells.append(f'<td class="{cls}" data-v="">{escape(state)}</td>')
            else:
                cls = ' class="best"' if best.get(j) == v and len(book.models()) > 1 else ""
                cells.append(f'<td{cls} data-v="{v!r}">{fmt(v)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<div class="wrap"><table id="leaderboard" class="sortable"><thead><tr>'
        + "".join(head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
        '<p class="meta">Click a header to sort (best first, again to reverse). '
        '"not run": no record of that probe for the model.</p>'
    )


def _across(page: _Page) -> str:
    parts = []
    figs = []
    for cell in page.book.cells("shape-bias"):  # one figure per measurement: runs are never mixed
        figs += shape_bias_subjects([r for r in cell if is_ok(r)], "Shape bias per category, every subject")
    for fn, probe in ((across.corruption_severity, "corruptions"), (across.robust_accuracy, "adversarial")):
        for cell in page.book.cells(probe):
            try:
                figs += fn(cell)
            except Exception as exc:  # noqa: BLE001 - an odd record must not break the report
                page.notes.append(f"{fn.__name__}: {exc}")
    try:
        from visaudit.report import consistency

        parts.append(consistency.ranking_html(page.book))
        figs += consistency.figures(page.book)
    except Exception as exc:  # noqa: BLE001 - an odd record must not break the report
        page.notes.append(f"consistency: {exc}")
    if figs:
        parts.append('<div class="figs">' + "".join(page.figure(f) for f in figs) + "</div>")
    try:
        from visaudit.report.comparison import BIAS_METRICS, correlation_rows

        # scipy loads only when there is a bias analysis to show; no pandas on this path
        has_bias = sum(any(b in metrics_of(r) for b in BIAS_METRICS) for r in page.book.latest.values()) >= 3
        bias_rows = correlation_rows(page.book, pairs="bias")[3] if has_bias else []
        if bias_rows:
            parts.append(_bias_matrix(bias_rows))
    except Exception as exc:  # noqa: BLE001 - the comparison is optional in the report
        page.notes.append(f"comparison: {exc}")
    parts = [p for p in parts if p]
    if not parts:
        return (
            '<p class="meta">Nothing to compare yet (shape-bias records of several subjects, or bias and '
            "generalisation metrics of at least 3 models, are needed).</p>"
        )
    return "".join(parts)


def _studies(page: _Page) -> str:
    """Every study result of the store, its tables recomputed from the records it names."""
    from visaudit.report.study import load_manifests, render_html, study_table

    by_key = {str(r.get("key")): r for r in page.book.records}
    parts = []
    for manifest in load_manifests(page.book.store_dir):
        try:
            parts.append(render_html(study_table(manifest, by_key)))
        except Exception as exc:  # noqa: BLE001 - an odd study file must not break the report
            page.notes.append(f"study {manifest.get('_path')}: {exc}")
    return "".join(parts)


def _bias_matrix(bias: list[dict[str, Any]]) -> str:
    """Spearman rho of every (generalisation target, bias) pair as a coloured matrix."""
    from visaudit.report.tables import cell, rho_colour

    biases = list(dict.fromkeys(r["bias"] for r in bias))
    targets = sorted({r["target"] for r in bias})
    cells = {(r["target"], r["bias"]): r for r in bias}
    direction = {r["target"]: r["target_higher_is_better"] for r in bias}
    head = '<th class="l">target \\ bias</th>' + "".join(f"<th>{escape(b)}</th>" for b in biases)
    rows = []
    for t in targets:
        tds = []
        for b in biases:
            r = cells.get((t, b))
            if r is None:
                tds.append('<td class="na">-</td>')
                continue
            tip = (
                f"n={int(r['n'])} models; Spearman rho={cell(r['spearman_rho'], 3)} (p={cell(r['spearman_p'], 3)}); "
                f"Kendall tau={cell(r['kendall_tau'], 3)} (p={cell(r['kendall_p'], 3)})"
            )
            star = "*" if r["spearman_p"] < 0.05 else ""
            tds.append(
                f'<td style="background:{rho_colour(r["spearman_rho"])}" title="{escape(tip)}">'
                f"{cell(r['spearman_rho'], 2)}{star}</td>"
            )
        hib = {True: " ↑", False: " ↓"}.get(direction[t], "")
        rows.append(f'<tr><td class="l">{escape(t)}{hib}</td>{"".join(tds)}</tr>')
    n = max(int(r["n"]) for r in bias)
    return (
        "<h3>Which bias predicts what</h3>"
        f'<p class="meta">Spearman rank correlation across models (up to n={n}; hover a cell for n, p and '
        "Kendall's tau; * p &lt; 0.05). ↑/↓: higher/lower target is better. All pairs: "
        "<code>visaudit compare --format md</code>.</p>"
        f'<div class="wrap"><table id="bias-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
        "</tbody></table></div>"
    )


def _metrics_block(rec: dict[str, Any]) -> str:
    metrics = metrics_of(rec)
    plain = {k: v for k, v in metrics.items() if "@" not in k}
    detail = {k: v for k, v in metrics.items() if "@" in k}
    out = []
    if plain:
        out.append(
            '<table class="metrics"><tbody>'
            + "".join(f'<tr><td class="l">{escape(k)}</td><td>{fmt(v)}</td></tr>' for k, v in plain.items())
            + "</tbody></table>"
        )
    if detail:
        shown = list(detail.items())[:MAX_DETAIL_METRICS]
        out.append(
            f"<details><summary>{len(detail)} detailed metrics (per class, condition, layer...)</summary><table><tbody>"
            + "".join(f'<tr><td class="l">{escape(k)}</td><td>{fmt(v)}</td></tr>' for k, v in shown)
            + "</tbody></table></details>"
        )
    return "".join(out)


def _probe_section(page: _Page, rec: dict[str, Any]) -> str:
    probe, ds = probe_name(rec), page.book.cell(rec)
    head = (
        f'<h3>{escape(probe)} <span class="dir">v{escape(probe_version(rec))} · {escape(ds)} · '
        f'n={n_of(rec) if n_of(rec) is not None else "?"} · <a href="{page.link(rec)}">record</a></span></h3>'
    )
    if not is_ok(rec):
        err = rec.get("error") or "no message"
        if isinstance(err, dict):
            err = err.get("message") or err
        return (
            f'<section class="probe" data-probe="{escape(probe)}">{head}'
            f'<div class="errbox">this job failed: {escape(str(err))[:2000]}</div></section>'
        )
    others = page.book.for_probe(probe) if probe == "shape-bias" else None
    figs = figures_for(rec, page.book.artifact_path, others)
    warn = "".join(f'<p class="note">warning: {escape(str(w))}</p>' for w in (rec.get("warnings") or [])[:10])
    body = "".join(page.figure(f) for f in figs)
    return (
        f'<section class="probe" data-probe="{escape(probe)}">{head}{warn}<div class="figs">'
        f"<div>{_metrics_block(rec)}</div>{body}</div></section>"
    )


def _card(page: _Page, model: str, all_probes: list[str]) -> str:
    meta = page.book.model_meta(model)
    pre = meta.get("preprocess") if isinstance(meta.get("preprocess"), dict) else {}
    facts = [
        ("source", meta.get("source")),
        ("arch", meta.get("arch")),
        ("params", f"{meta['n_params']:,}" if isinstance(meta.get("n_params"), int) else None),
        ("label space", meta.get("label_space")),
        ("input", pre.get("input_size")),
        ("weights sha256", str(meta.get("weights_sha256") or "")[:12] or None),
    ]
    meta_line = " · ".join(f"{k}: {escape(str(v))}" for k, v in facts if v not in (None, ""))
    recs = page.book.for_model(model)
    have = {probe_name(r) for r in recs}
    sections = "".join(_probe_section(page, r) for r in recs)
    missing = [p for p in all_probes if p not in have]
    notrun = (
        '<div class="notruns">'
        + "".join(f'<span class="notrun" data-probe="{escape(p)}">{escape(p)}: not run</span>' for p in missing)
        + "</div>"
        if missing
        else ""
    )
    return (
        f'<section class="card" id="model-{escape(_slug(model))}"><h2>{escape(model)}</h2>'
        f'<div class="meta">{meta_line}</div>{sections}{notrun}</section>'
    )


def _error_text(rec: dict[str, Any]) -> str:
    err = rec.get("error")
    text = err.get("message") if isinstance(err, dict) else err
    return str(text or "")[:300]


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)


def render_report(
    store_dir: str | Path,
    out_dir: str | Path,
    records: list[dict[str, Any]] | None = None,
    title: str = "visaudit report",
    skipped: list[str] | None = None,
) -> ReportResult:
    """Write ``<out_dir>/index.html`` from the records of ``store_dir``.

    Args:
        store_dir: the store (its ``records/*.json`` are read; figures link to them).
        out_dir: created if missing.
        records: use these instead of loading the store (they must still live in ``store_dir``
            for the record links to resolve).
        title: page title.

    Returns:
        the written path, counts and the ids of every figure on the page.
    """
    store_dir, out_dir = Path(store_dir), Path(out_dir)
    skipped = list(skipped or [])
    if records is None:
        records, skipped = load_store(store_dir)
    book = RecordBook(records, store_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    page = _Page(book, out_dir)
    page.notes.extend(f"skipped: {s}" for s in skipped)
    skipped_html = (
        ("<h2 id=skipped>Skipped records</h2><ul>" + "".join(f"<li>{escape(s)}</li>" for s in skipped) + "</ul>")
        if skipped
        else ""
    )
    models = book.models()
    all_probes = list(dict.fromkeys(PROBE_ORDER + book.probes()))
    leaderboard = _leaderboard(page)
    across = _across(page)
    studies = _studies(page)
    cards = "".join(_card(page, m, all_probes) for m in models)
    now = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    studies_nav = '<a href="#studies">studies</a>' if studies else ""
    nav = "".join(f'<a href="#model-{escape(_slug(m))}">{escape(m)}</a>' for m in models)
    n_ok = sum(is_ok(r) for r in book.records)
    failed = book.failed()
    failed_html = (
        (
            "<h2 id=failed>Failed and refused jobs</h2><ul>"
            + "".join(
                f"<li>{escape(model_name(r))} · {escape(probe_name(r))} · {escape(book.cell(r))}: "
                f"{escape(str(r.get('status', '?')))}: {escape(_error_text(r))}</li>"
                for r in failed
            )
            + "</ul>"
        )
        if failed
        else ""
    )
    doc = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><p>store {escape(str(store_dir))} · {len(models)} subjects · "
        f"{len(book.records)} records ({n_ok} ok, {len(failed)} failed) · generated {now} from stored records only"
        f"</p></header>"
        f'<nav><a href="#leaderboard-h">leaderboard</a><a href="#across">across models</a>{studies_nav}'
        f'<a href="failures.html">failure browser</a>{nav}</nav><main>'
        f'<h2 id="leaderboard-h">Leaderboard</h2>{leaderboard}'
        f'<h2 id="across">Across models</h2>{across}'
        + (f'<h2 id="studies">Studies</h2>{studies}' if studies else "")
        + f"<h2>Model cards</h2>{cards or '<p class=meta>The store holds no records.</p>'}"
        f"{failed_html}{skipped_html}</main><script>{JS}</script></body></html>"
    )
    path = out_dir / "index.html"
    path.write_text(doc, encoding="utf-8")
    browser: BrowserResult | None = None
    try:
        browser = render_browser(book, out_dir, title=f"{title}: failure browser")
        page.notes.extend(browser.notes)
    except Exception as exc:  # noqa: BLE001 - the galleries must not cost the main report
        page.notes.append(f"failure browser not written: {type(exc).__name__}: {exc}")
    return ReportResult(path, len(book.records), len(models), page.figure_ids, page.notes, browser)
