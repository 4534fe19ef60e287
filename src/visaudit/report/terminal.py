"""The terminal summary of records: one row per job, one headline metric, readable at 80 columns.

Rows are grouped under their model; names that do not fit are shortened with an ellipsis
(folder paths keep their end), never wrapped inside a token. Every metric of a record is in
``visaudit show --metrics`` and ``visaudit export``.
"""

from __future__ import annotations

from typing import Any, Iterable

from visaudit.report.records import headline_metric


def fmt_value(v: Any) -> str:
    """A metric value in at most 7 characters where possible."""
    if isinstance(v, float):
        if v != v:
            return "nan"
        return f"{v:.4f}" if abs(v) < 100 else f"{v:.4g}"
    return str(v)


def short_protocol(record: dict) -> str:
    """``full``, ``subset``, ``16-class`` (the label protocol of a record, in one word)."""
    lm = record.get("label_map") or {}
    kind = lm.get("kind")
    if kind == "identity":
        return "full"
    if kind == "subset":
        return f"sub{lm.get('n_classes') or ''}"
    if kind == "mean-prob":
        return f"{lm.get('n_classes') or 16}-cls"
    return "-"


def left_ellipsis(text: str, width: int) -> str:
    """Shorten from the left (keeps a path's last components)."""
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def status_text(r: dict) -> str:
    status = r.get("status", "?")
    if status == "ok":
        text = "cached" if r.get("cached") else "ok"
        if r.get("n_failed_images"):
            text += f" [yellow]{r['n_failed_images']} unreadable[/]"
        if r.get("nonfinite_outputs"):
            text += f" [yellow]{r['nonfinite_outputs']} NaN/Inf[/]"
        return text
    return f"[red]{status}[/]"


def summary_table(records: Iterable[dict]):
    """One rich table per model (the model name is its title), one headline metric per row.

    Laid out for an 80-column terminal: numbers (``n``, the value) and the status never shrink;
    names that do not fit end in an ellipsis (folder paths keep their end). Every metric of a
    record is in ``visaudit show --metrics``.
    """
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    by_model: dict[str, list[tuple[str, ...]]] = {}
    for r in records:
        name = headline_metric(r)
        metrics = r.get("metrics") or {}
        dataset = left_ellipsis((r.get("dataset") or {}).get("name") or "-", 22)
        by_model.setdefault(r["model"]["name"], []).append(
            (
                r["probe"]["name"],
                dataset,
                short_protocol(r),
                str(r.get("n_samples", "")),
                name if name in metrics else "-",
                fmt_value(metrics[name]) if name in metrics else "",
                status_text(r),
            )
        )
    from visaudit.report.records import PROBE_ORDER

    order = {p: i for i, p in enumerate(PROBE_ORDER)}
    tables = []
    for model, rows in by_model.items():
        rows.sort(key=lambda row: (order.get(row[0], len(order)), row[0], row[1]))

        def widest(i: int, floor: int, rows: list[tuple[str, ...]] = rows) -> int:
            return max([floor] + [Text.from_markup(row[i]).cell_len for row in rows])

        table = Table(
            title=Text(model, style="bold"),
            title_justify="left",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            show_edge=False,
            padding=(0, 1, 0, 0),
        )
        table.add_column("probe", no_wrap=True, overflow="ellipsis", max_width=24)
        table.add_column("dataset", no_wrap=True, overflow="ellipsis", max_width=22)
        table.add_column("labels", no_wrap=True, min_width=widest(2, 6))
        table.add_column("n", justify="right", no_wrap=True, min_width=widest(3, 1))
        table.add_column("metric", no_wrap=True, overflow="ellipsis", max_width=22)
        table.add_column("value", justify="right", no_wrap=True, min_width=widest(5, 5))
        table.add_column("status", no_wrap=True, min_width=min(widest(6, 6), 20), overflow="ellipsis")
        for row in rows:
            table.add_row(*row)
        tables.append(table)
    return Group(*tables)


def problem_lines(records: Iterable[dict]) -> list[str]:
    """One line per failed or refused job (printed below the table)."""
    out = []
    for r in records:
        if r.get("status") in ("error", "refused"):
            msg = ((r.get("error") or {}).get("message") or "").strip().splitlines()
            where = f"{r['model']['name']} · {r['probe']['name']} · {(r.get('dataset') or {}).get('name') or '-'}"
            out.append(f"[red]{r['status']}[/] {where}: {msg[0] if msg else ''}")
    return out


def record_details(r: dict, *, metrics: bool = False) -> str:
    """What keyed a record, in plain lines of at most 80 columns (``visaudit show --details``)."""
    keyed = r.get("keyed_by") or {}
    num = keyed.get("numerics") or {}
    ds = r.get("dataset") or {}
    run = r.get("run") or {}
    lines = [
        f"[bold]{r['key']}[/] (schema {r.get('schema', 1)})",
        f"  {r['model']['name']} · {r['probe']['name']} v{r['probe'].get('version')} · {ds.get('name') or '-'}",
        f"  labels: {r.get('label_protocol') or '-'}",
        f"  precision {num.get('precision', run.get('precision', '?'))}, channels_last "
        f"{num.get('channels_last', '?')}, random streams: {num.get('rng_device', 'none drawn')}",
        f"  seed {r.get('seed')}, max_images {r.get('max_images')}, n {r.get('n_samples')}",
    ]

    def digest(label: str, value: object) -> None:
        lines.append(f"  {label}:")
        lines.append(f"    {value}")

    digest("weights sha256", r["model"].get("weights_sha256") or "-")
    digest("dataset sha256", ds.get("fingerprint") or "-")
    for name, value in (keyed.get("inputs") or {}).items():
        if isinstance(value, dict):
            for sub, v in value.items():
                digest(f"{name} {sub}", v)
        else:
            digest(name, value)
    versions = keyed.get("versions") or {}
    if versions:
        lines.append("  protocol packages: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    for k, v in run.items():
        if v is not None:
            lines.append(f"  run {k}: {v}")
    if metrics:
        for name, value in (r.get("metrics") or {}).items():
            lines.append(f"  {name} = {fmt_value(value)}")
    return "\n".join(lines)
