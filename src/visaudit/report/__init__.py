"""Reports built from stored records only: HTML report, comparisons, tables.

Example:
    >>> from visaudit.report import render_report, compare     # doctest: +SKIP
    >>> render_report("visaudit-results", "visaudit-report")    # doctest: +SKIP
    >>> print(compare("visaudit-results").render("md"))         # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

__all__ = ["render_report", "compare", "load_records", "ReportResult", "Comparison"]


def __getattr__(name: str) -> Any:  # lazy: importing visaudit.report stays cheap for the CLI
    if name in ("render_report", "ReportResult"):
        from visaudit.report import render

        return getattr(render, name)
    if name in ("compare", "Comparison"):
        from visaudit.report import comparison as _compare

        return getattr(_compare, name)
    if name == "load_records":
        from visaudit.report.records import load_records

        return load_records
    raise AttributeError(name)
