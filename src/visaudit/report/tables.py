"""Render small DataFrames as Markdown, CSV or LaTeX (booktabs) text.

Written here rather than ``DataFrame.to_markdown`` (needs ``tabulate``) and ``to_latex``
(needs jinja2 and escapes inconsistently across pandas versions) to keep the output stable.

Example:
    >>> import pandas as pd
    >>> print(to_markdown(pd.DataFrame({"model": ["a"], "top1": [0.5]})))
    | model | top1 |
    |:--|--:|
    | a | 0.5 |
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

FORMATS = ("md", "csv", "latex")


def cell(v: Any, digits: int = 4) -> str:
    """Format one value: floats with ``digits`` significant digits, NaN/None as empty."""
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:.{digits}g}"
    return str(v)


def rho_colour(rho: float) -> str:
    """Background of a correlation cell: white at 0, blue towards +1, red towards -1."""
    t = max(-1.0, min(1.0, float(rho)))
    if t >= 0:
        return f"rgb({int(255 - 155 * t)},{int(255 - 95 * t)},255)"
    return f"rgb(255,{int(255 + 95 * t)},{int(255 + 155 * t)})"


def _is_num(series: "pd.Series") -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def to_markdown(df: "pd.DataFrame", digits: int = 4) -> str:
    """A GitHub pipe table; numeric columns right-aligned."""
    cols = [str(c) for c in df.columns]
    align = ["--:" if _is_num(df[c]) else ":--" for c in df.columns]
    lines = ["| " + " | ".join(c.replace("|", "\\|") for c in cols) + " |", "|" + "|".join(align) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v, digits).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def to_csv(df: "pd.DataFrame") -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().rstrip("\n")


_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def tex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in text)


def to_latex(df: "pd.DataFrame", caption: str | None = None, digits: int = 4) -> str:
    """A ``tabular`` with booktabs rules (``\\usepackage{booktabs}``)."""
    spec = "".join("r" if _is_num(df[c]) else "l" for c in df.columns)
    lines = []
    if caption:
        lines.append(f"% {caption}")
    lines += [
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        " & ".join(tex_escape(str(c)) for c in df.columns) + " \\\\",
        "\\midrule",
    ]
    for row in df.itertuples(index=False):
        lines.append(" & ".join(tex_escape(cell(v, digits)) for v in row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines)


def render(df: "pd.DataFrame", fmt: str, title: str | None = None) -> str:
    """Render in one of :data:`FORMATS`; ``title`` becomes a heading/comment."""
    if fmt == "md":
        return (f"### {title}\n\n" if title else "") + to_markdown(df)
    if fmt == "csv":
        return to_csv(df)
    if fmt == "latex":
        return to_latex(df, caption=title)
    raise ValueError(f"unknown table format {fmt!r}; choose one of {', '.join(FORMATS)}")
