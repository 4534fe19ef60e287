"""Shared pieces of the figure functions: the Figure type and metric-name parsing."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from visaudit.report.records import metrics_of


@dataclass
class Figure:
    """One rendered figure: an inline SVG (or ``<img>``) plus the records it was drawn from."""

    title: str
    body: str
    records: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


def by_prefix(rec: dict[str, Any], prefix: str) -> dict[str, float]:
    """``{suffix: value}`` for every metric named ``<prefix>@<suffix>``, in stored order."""
    head = prefix + "@"
    return {k[len(head) :]: v for k, v in metrics_of(rec).items() if k.startswith(head)}


def parse_number(text: str) -> float | None:
    """``"8/255"`` -> 0.0314, ``"0.5"`` -> 0.5, anything else -> None."""
    text = text.strip()
    try:
        return float(Fraction(text)) if "/" in text else float(text)
    except (ValueError, ZeroDivisionError):
        return None


_EPS = re.compile(r"^(?P<attack>[^/]+)/(?P<norm>[^=]+)=(?P<eps>.+)$")


def parse_attack(suffix: str) -> tuple[str, str, float] | None:
    """``"autoattack/linf=8/255"`` -> ``("autoattack", "linf", 0.0314)``."""
    m = _EPS.match(suffix)
    if not m:
        return None
    eps = parse_number(m["eps"])
    return (m["attack"], m["norm"], eps) if eps is not None else None


def parse_condition(suffix: str) -> tuple[str, float] | None:
    """``"gaussian_noise/3"`` -> ``("gaussian_noise", 3.0)``."""
    name, _, level = suffix.rpartition("/")
    v = parse_number(level)
    return (name, v) if name and v is not None else None


def numbers(values: Any) -> list[float] | None:
    """A list of finite-or-nan floats, or None if ``values`` is not a flat numeric list."""
    if not isinstance(values, (list, tuple)) or not values:
        return None
    out = []
    for v in values:
        if v is None:
            out.append(math.nan)
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return None
        out.append(float(v))
    return out


def matrix(values: Any) -> list[list[float]] | None:
    """A rectangular numeric 2-D list, or None."""
    if not isinstance(values, (list, tuple)) or not values:
        return None
    rows = [numbers(r) for r in values]
    if any(r is None for r in rows) or len({len(r) for r in rows}) != 1:
        return None
    return rows  # type: ignore[return-value]


def first(d: dict[str, Any], *keys: str) -> Any:
    """The value of the first key present in ``d``."""
    for k in keys:
        if k in d:
            return d[k]
    return None


def short_module(name: str, keep: int = 2) -> str:
    """``"layer3.2.conv1"`` stays; longer dotted names keep their last ``keep`` parts."""
    parts = name.split(".")
    return name if len(parts) <= keep + 1 else "…" + ".".join(parts[-keep:])
