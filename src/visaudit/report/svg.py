"""A few small inline-SVG charts: line charts, dot rows, heatmaps.

Written here instead of calling matplotlib because a report holds hundreds of small
figures: matplotlib's figure set-up and SVG/PNG writer cost ~50 ms a figure on this
hardware, which alone would miss the 5 s goal for a 100-record report, while string
building costs well under 1 ms. The output is plain SVG 1.1 (no scripts, no external
fonts), with a ``<title>`` tooltip on every point.

Example:
    >>> svg = line_chart([Series("resnet20", [1, 2, 3], [0.9, 0.7, 0.4])],
    ...                  xlabel="severity", ylabel="top-1")
    >>> svg.startswith("<svg")
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Sequence

PALETTE = [
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
]


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


@dataclass
class Series:
    """One line of a chart. ``step`` draws a histogram-like staircase."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    color: str | None = None
    dashed: bool = False
    markers: bool = True
    step: bool = False
    extra: dict = field(default_factory=dict)


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick positions covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    start = math.floor(lo / step + 1e-9) * step
    ticks = []
    t = start
    while t <= hi + step * 1e-6 and len(ticks) < 50:
        if t >= lo - step * 1e-6:
            ticks.append(round(t, 12))
        t += step
    return ticks


def fmt(v: float) -> str:
    """Short number for ticks and tooltips."""
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e4 or a < 1e-3:
        return f"{v:.2e}"
    if a >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def _finite_pairs(s: Series, xlog: bool) -> list[tuple[float, float]]:
    out = []
    for x, y in zip(s.x, s.y):
        try:
            xf, yf = float(x), float(y)
        except (TypeError, ValueError):
            continue
        if math.isfinite(xf) and math.isfinite(yf) and (not xlog or xf > 0):
            out.append((xf, yf))
    return out


class _Frame:
    """Plot area and coordinate transforms shared by the charts."""

    def __init__(
        self, width: int, height: int, left: int = 56, right: int = 12, top: int = 10, bottom: int = 42
    ) -> None:
        self.w, self.h = width, height
        self.x0, self.x1 = left, width - right
        self.y0, self.y1 = top, height - bottom

    def sx(self, v: float, lo: float, hi: float, log: bool = False) -> float:
        if log:
            v, lo, hi = math.log10(v), math.log10(lo), math.log10(hi)
        return self.x0 + (v - lo) / ((hi - lo) or 1.0) * (self.x1 - self.x0)

    def sy(self, v: float, lo: float, hi: float) -> float:
        return self.y1 - (v - lo) / ((hi - lo) or 1.0) * (self.y1 - self.y0)


def _open(width: int, height: int, label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
    ]


def _legend(series_labels: list[tuple[str, str, bool]], x: int, y: int) -> list[str]:
    out = []
    for i, (label, col, dashed) in enumerate(series_labels):
        yy = y + 14 * i
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        out.append(
            f'<line x1="{x}" y1="{yy}" x2="{x + 16}" y2="{yy}" stroke="{col}" stroke-width="2"{dash}/>'
            f'<text x="{x + 20}" y="{yy + 4}" class="lg">{escape(label[:28])}</text>'
        )
    return out


def line_chart(
    series: Sequence[Series],
    *,
    xlabel: str,
    ylabel: str,
    xlog: bool = False,
    xlim: tuple[float, float] | None = None,
    ylim: tuple[float | None, float | None] | None = None,
    width: int = 460,
    height: int = 280,
    diagonal: bool = False,
    xtick_labels: dict[float, str] | None = None,
) -> str:
    """Lines (with point markers and tooltips) in one axes; legend on the right."""
    pts = [(s, _finite_pairs(s, xlog)) for s in series]
    pts = [(s, p) for s, p in pts if p]
    legend_w = 150 if len(pts) > 1 or (pts and pts[0][0].label) else 0
    rotate = bool(xtick_labels) and max((len(v) for v in xtick_labels.values()), default=0) > 6
    bottom = 42 + (min(max(len(v) for v in xtick_labels.values()), 18) * 4 if rotate and xtick_labels else 0)
    fr = _Frame(width + legend_w, height + bottom - 42, left=72 if rotate else 56, right=12 + legend_w, bottom=bottom)
    xs = [x for _, p in pts for x, _ in p] or [0.0, 1.0]
    ys = [y for _, p in pts for _, y in p] or [0.0, 1.0]
    xlo, xhi = xlim or (min(xs), max(xs))
    ylo, yhi = ylim or (None, None)
    ylo = min(ys) if ylo is None else ylo
    yhi = max(ys) if yhi is None else yhi
    if yhi <= ylo:
        ylo, yhi = ylo - 0.5, yhi + 0.5
    if xhi <= xlo:
        xlo, xhi = (xlo / 2, xhi * 2) if xlog else (xlo - 0.5, xhi + 0.5)
    out = _open(fr.w, fr.h, f"{ylabel} vs {xlabel}")
    out.append(f'<rect x="{fr.x0}" y="{fr.y0}" width="{fr.x1 - fr.x0}" height="{fr.y1 - fr.y0}" class="pa"/>')
    # y grid and ticks
    for t in nice_ticks(ylo, yhi):
        y = fr.sy(t, ylo, yhi)
        out.append(
            f'<line x1="{fr.x0}" x2="{fr.x1}" y1="{y:.1f}" y2="{y:.1f}" class="gr"/>'
            f'<text x="{fr.x0 - 4}" y="{y + 3:.1f}" class="tk" text-anchor="end">{fmt(t)}</text>'
        )
    if xtick_labels:
        xt = sorted(xtick_labels.items())
    elif xlog:
        lo_e, hi_e = math.floor(math.log10(xlo)), math.ceil(math.log10(xhi))
        xt = [(10.0**e, fmt(10.0**e)) for e in range(lo_e, hi_e + 1) if xlo <= 10.0**e <= xhi]
        xt = xt or [(xlo, fmt(xlo)), (xhi, fmt(xhi))]
    else:
        xt = [(t, fmt(t)) for t in nice_ticks(xlo, xhi, 6)]
    for t, lab in xt:
        x = fr.sx(t, xlo, xhi, xlog)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{fr.y1}" y2="{fr.y1 + 4}" class="ax"/>')
        if rotate:
            out.append(
                f'<text transform="translate({x + 3:.1f},{fr.y1 + 10}) rotate(-35)" class="tk" '
                f'text-anchor="end">{escape(lab[-18:])}</text>'
            )
        else:
            out.append(f'<text x="{x:.1f}" y="{fr.y1 + 15}" class="tk" text-anchor="middle">{escape(lab)}</text>')
    if diagonal:
        out.append(
            f'<line x1="{fr.sx(xlo, xlo, xhi):.1f}" y1="{fr.sy(ylo, ylo, yhi):.1f}" '
            f'x2="{fr.sx(xhi, xlo, xhi):.1f}" y2="{fr.sy(yhi, ylo, yhi):.1f}" class="dg"/>'
        )
    out.append(
        f'<text x="{(fr.x0 + fr.x1) / 2:.0f}" y="{fr.h - 6}" class="al" text-anchor="middle">{escape(xlabel)}</text>'
        f'<text transform="translate(13,{(fr.y0 + fr.y1) / 2:.0f}) rotate(-90)" class="al" '
        f'text-anchor="middle">{escape(ylabel)}</text>'
    )
    legend = []
    for i, (s, p) in enumerate(pts):
        col = s.color or color(i)
        xy = [(fr.sx(x, xlo, xhi, xlog), fr.sy(y, ylo, yhi)) for x, y in p]
        if s.step and len(xy) > 1:
            d = [f"M{xy[0][0]:.1f},{xy[0][1]:.1f}"]
            for (xa, _ya), (xb, yb) in zip(xy, xy[1:]):
                d.append(f"H{(xa + xb) / 2:.1f}V{yb:.1f}")
            d.append(f"H{xy[-1][0]:.1f}")
            path = "".join(d)
        else:
            path = "M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        out.append(f'<path d="{path}" fill="none" stroke="{col}" stroke-width="1.8"{dash}/>')
        if s.markers and len(xy) <= 60:
            for (x, y), (vx, vy) in zip(xy, p):
                out.append(
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.6" fill="{col}"><title>'
                    f"{escape(s.label)}: {fmt(vx)}, {fmt(vy)}</title></circle>"
                )
        legend.append((s.label, col, s.dashed))
    if legend_w:
        out += _legend(legend, fr.x1 + 12, fr.y0 + 8)
    if not pts:
        out.append(
            f'<text x="{(fr.x0 + fr.x1) / 2:.0f}" y="{(fr.y0 + fr.y1) / 2:.0f}" class="al" '
            'text-anchor="middle">no finite values</text>'
        )
    out.append("</svg>")
    return "".join(out)


def dot_rows(
    rows: Sequence[str],
    series: Sequence[tuple[str, dict[str, float]]],
    *,
    xlabel: str,
    xlim: tuple[float, float] = (0.0, 1.0),
    width: int = 520,
    mean_lines: bool = True,
    top_label: str | None = None,
) -> str:
    """One row per category, one marker per subject (model-vs-human style), mean as a vertical line."""
    row_h = 18
    legend_w = 170
    left = 90
    fr = _Frame(
        width + legend_w, 30 + row_h * len(rows) + 42, left=left, right=12 + legend_w, top=30 if top_label else 12
    )
    fr.y1 = fr.y0 + row_h * len(rows)
    lo, hi = xlim
    out = _open(fr.w, fr.y1 + 42, xlabel)
    out.append(f'<rect x="{fr.x0}" y="{fr.y0}" width="{fr.x1 - fr.x0}" height="{fr.y1 - fr.y0}" class="pa"/>')
    for t in nice_ticks(lo, hi, 5):
        x = fr.sx(t, lo, hi)
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{fr.y0}" y2="{fr.y1}" class="gr"/>'
            f'<text x="{x:.1f}" y="{fr.y1 + 14}" class="tk" text-anchor="middle">{fmt(t)}</text>'
        )
        if top_label:
            out.append(f'<text x="{x:.1f}" y="{fr.y0 - 4}" class="tk" text-anchor="middle">{fmt(hi - t + lo)}</text>')
    for j, r in enumerate(rows):
        y = fr.y0 + row_h * (j + 0.5)
        out.append(f'<text x="{fr.x0 - 6}" y="{y + 4:.1f}" class="tk" text-anchor="end">{escape(r)}</text>')
    legend = []
    for i, (label, values) in enumerate(series):
        col = color(i)
        shape = i % 3
        vals = []
        for j, r in enumerate(rows):
            v = values.get(r)
            if v is None or not math.isfinite(v):
                continue
            vals.append(v)
            x, y = fr.sx(min(max(v, lo), hi), lo, hi), fr.y0 + row_h * (j + 0.5)
            tip = f"<title>{escape(label)} · {escape(r)}: {fmt(v)}</title>"
            out.append(_marker(shape, x, y, col, tip))
        if mean_lines and vals:
            m = sum(vals) / len(vals)
            x = fr.sx(min(max(m, lo), hi), lo, hi)
            out.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{fr.y0}" y2="{fr.y1}" stroke="{col}" '
                f'stroke-dasharray="4 3"><title>{escape(label)} mean {fmt(m)}</title></line>'
            )
        legend.append((label, col, False))
    out.append(
        f'<text x="{(fr.x0 + fr.x1) / 2:.0f}" y="{fr.y1 + 32}" class="al" text-anchor="middle">{escape(xlabel)}</text>'
    )
    if top_label:
        out.append(
            f'<text x="{(fr.x0 + fr.x1) / 2:.0f}" y="10" class="al" text-anchor="middle">{escape(top_label)}</text>'
        )
    for i, (label, col, _) in enumerate(legend):
        x, y = fr.x1 + 18, fr.y0 + 8 + 14 * i
        out.append(_marker(i % 3, x, y, col, ""))
        out.append(f'<text x="{x + 10}" y="{y + 4}" class="lg">{escape(label[:28])}</text>')
    out.append("</svg>")
    return "".join(out)


def _marker(shape: int, x: float, y: float, col: str, tip: str) -> str:
    if shape == 0:
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{col}" fill-opacity=".8">{tip}</circle>'
    if shape == 1:
        return (
            f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="{col}" '
            f'fill-opacity=".8">{tip}</rect>'
        )
    return (
        f'<path d="M{x:.1f},{y - 4.5:.1f}L{x + 4.5:.1f},{y + 3.5:.1f}L{x - 4.5:.1f},{y + 3.5:.1f}Z" '
        f'fill="{col}" fill-opacity=".8">{tip}</path>'
    )


def heatmap(
    matrix: Sequence[Sequence[float]],
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    xlabel: str,
    ylabel: str,
    vmin: float | None = None,
    vmax: float | None = None,
    cell: int = 34,
    annotate: bool = True,
) -> str:
    """A grid of cells coloured white -> blue by value, with the value written in each cell."""
    flat = [float(v) for row in matrix for v in row if v is not None and math.isfinite(float(v))]
    lo = vmin if vmin is not None else (min(flat) if flat else 0.0)
    hi = vmax if vmax is not None else (max(flat) if flat else 1.0)
    left, top = 64, 10
    w = left + cell * len(col_labels) + 12
    h = top + cell * len(row_labels) + 44
    out = _open(w, h, f"{ylabel} by {xlabel}")
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            x, y = left + j * cell, top + i * cell
            try:
                f = float(v)
            except (TypeError, ValueError):
                f = float("nan")
            if not math.isfinite(f):
                out.append(f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="#eee"/>')
                continue
            t = (f - lo) / ((hi - lo) or 1.0)
            t = min(max(t, 0.0), 1.0)
            rgb = (int(247 - t * (247 - 8)), int(251 - t * (251 - 69)), int(255 - t * (255 - 148)))
            ink = "#fff" if t > 0.55 else "#222"
            out.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="rgb{rgb}">'
                f"<title>{escape(str(row_labels[i]))}, {escape(str(col_labels[j]))}: {fmt(f)}</title></rect>"
            )
            if annotate:
                out.append(
                    f'<text x="{x + cell / 2:.0f}" y="{y + cell / 2 + 3:.0f}" class="tk" style="fill:{ink}" '
                    f'text-anchor="middle">{fmt(f)}</text>'
                )
    for i, lab in enumerate(row_labels):
        out.append(
            f'<text x="{left - 4}" y="{top + i * cell + cell / 2 + 3:.0f}" class="tk" text-anchor="end">{escape(str(lab))}</text>'
        )
    for j, lab in enumerate(col_labels):
        out.append(
            f'<text x="{left + j * cell + cell / 2:.0f}" y="{top + len(row_labels) * cell + 13}" class="tk" '
            f'text-anchor="middle">{escape(str(lab))}</text>'
        )
    out.append(
        f'<text x="{left + cell * len(col_labels) / 2:.0f}" y="{h - 8}" class="al" text-anchor="middle">{escape(xlabel)}</text>'
        f'<text transform="translate(12,{top + cell * len(row_labels) / 2:.0f}) rotate(-90)" class="al" '
        f'text-anchor="middle">{escape(ylabel)}</text>'
    )
    out.append("</svg>")
    return "".join(out)
