"""The terminal summary table of records."""
from __future__ import annotations

from typing import Iterable

MAX_METRICS = 6


def _fmt(v: float) -> str:
    return f"{v:.4f}" if isinstance(v, float) and abs(v) < 1000 else f"{v}"


def summary_table(records: Iterable[dict]):
    """A rich Table: one row per record with its headline metrics."""
    from rich.table import Table

    from visaudit.probes import PROBES

    table = Table(title="visaudit results")
    for col in ("model", "probe", "dataset", "n", "metrics", "status"):
        table.add_column(col, overflow="fold")
    for r in records:
        metrics = r.get("metrics") or {}
        names = [m for m in metrics if "@" not in m][:MAX_METRICS]
        headline = None
        if r["probe"]["name"] in PROBES:
            try:
                headline = PROBES.get(r["probe"]["name"]).headline
            except Exception:  # a probe module that fails to import must not break the summary
                headline = None
        if headline in metrics and headline not in names:
            names.insert(0, headline)
        text = ", ".join(f"{m}={_fmt(metrics[m])}" for m in names)
        if len(metrics) > len(names):
            text += f" (+{len(metrics) - len(names)} more)"
        status = r.get("status", "?")
        if status == "ok" and r.get("cached"):
            status = "ok (cached)"
        elif status != "ok":
            status = f"[red]{status}[/]: {((r.get('error') or {}).get('message') or '')[:120]}"
        if r.get("n_failed_images"):
            status += f" [yellow]{r['n_failed_images']} unreadable"
        if r.get("nonfinite_outputs"):
            status += f" [yellow]{r['nonfinite_outputs']} NaN/Inf"
        table.add_row(r["model"]["name"], r["probe"]["name"], (r.get("dataset") or {}).get("name") or "-",
                      str(r.get("n_samples", "")), text, status)
    return table
