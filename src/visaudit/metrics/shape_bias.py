"""Shape-vs-texture bias from cue-conflict decision tables.

The tables follow the published human psychophysics schema of the texture-vs-shape
experiments (Geirhos et al. 2019; model-vs-human): one row per trial with the columns
``subj`` (or ``subject``), ``session``, ``trial``, ``rt``, ``object_response`` (the
16-class decision), ``category`` (the shape label), ``condition`` and ``imagename``.
The texture label is read from the image name: the last ``_``-separated part, e.g.
``0001_cl_s01_..._airplane1-bicycle2.png`` or ``airplane1-bicycle2.png`` -> ``bicycle``.

Models and human observers go through the same function, so both are "subjects".

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"subj": ["a", "a"], "object_response": ["cat", "dog"],
    ...                    "category": ["cat", "cat"], "imagename": ["cat1-dog2.png"] * 2})
    >>> shape_bias_from_decisions(df)["shape_bias"]
    0.5
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: Columns of the published psychophysics CSV files, in their order.
DECISION_COLUMNS = ["subj", "session", "trial", "rt", "object_response", "category", "condition", "imagename"]

_DIGITS = re.compile(r"\d+")


def texture_from_imagename(imagename: str) -> str:
    """Texture category encoded in a cue-conflict image name.

    Args:
        imagename: e.g. ``"airplane1-bicycle2.png"``, ``"airplane/airplane1-bicycle2.png"`` or a
            psychophysics name ``"0001_cl_s01_cue-conflict_0_airplane_0_airplane1-bicycle2.png"``.

    Returns:
        The class word after the last ``-`` with digits and extension removed (``"bicycle"``).
    """
    base = str(imagename).replace("\\", "/").rsplit("/", 1)[-1]
    base = base.rsplit("_", 1)[-1]
    stem = base.rsplit(".", 1)[0]
    return _DIGITS.sub("", stem.rsplit("-", 1)[-1])


def shape_from_imagename(imagename: str) -> str:
    """Shape category encoded in a cue-conflict image name (the word before the ``-``)."""
    base = str(imagename).replace("\\", "/").rsplit("/", 1)[-1]
    base = base.rsplit("_", 1)[-1]
    return _DIGITS.sub("", base.rsplit("-", 1)[0])


def normalise_decisions(df: "pd.DataFrame") -> "pd.DataFrame":
    """Return a copy with a ``subj`` column (``subject`` accepted) and a ``texture`` column.

    Raises:
        ValueError: if a required column is missing.
    """
    out = df.copy()
    if "subj" not in out.columns and "subject" in out.columns:
        out = out.rename(columns={"subject": "subj"})
    missing = [c for c in ("subj", "object_response", "category", "imagename") if c not in out.columns]
    if missing:
        raise ValueError(f"decision table lacks column(s) {missing}; expected {DECISION_COLUMNS}")
    for col in ("object_response", "category"):
        out[col] = out[col].astype(str).str.strip()
    out["texture"] = out["imagename"].map(texture_from_imagename)
    return out


def shape_bias_from_decisions(df: "pd.DataFrame", per_category: bool = True) -> dict[str, Any]:
    """Shape bias and the shape / texture match fractions of one subject's decisions.

    Rows whose shape label equals their texture label are dropped first (80 of the 1280
    stimuli). Over the remaining ``n`` rows: ``shape_match`` = #(decision == shape) / n,
    ``texture_match`` = #(decision == texture) / n and
    ``shape_bias`` = #shape / (#shape + #texture) (NaN when neither ever matches).

    Args:
        df: decisions of one subject (or a pooled set) in the psychophysics schema.
        per_category: also return ``shape_bias@<category>`` for each shape category.

    Returns:
        ``{"shape_bias", "shape_match", "texture_match", "n_conflict", "n_shape", "n_texture",
        "shape_bias@<cat>"...}``.
    """
    d = normalise_decisions(df)
    d = d[d["category"] != d["texture"]]
    out: dict[str, Any] = _counts_to_metrics(d)
    if per_category:
        for cat, g in d.groupby("category", sort=True):
            out[f"shape_bias@{cat}"] = _counts_to_metrics(g)["shape_bias"]
    return out


def _counts_to_metrics(d: "pd.DataFrame") -> dict[str, Any]:
    n = int(len(d))
    n_shape = int((d["object_response"] == d["category"]).sum())
    n_texture = int((d["object_response"] == d["texture"]).sum())
    denom = n_shape + n_texture
    return {
        "shape_bias": n_shape / denom if denom else math.nan,
        "shape_match": n_shape / n if n else math.nan,
        "texture_match": n_texture / n if n else math.nan,
        "n_conflict": n,
        "n_shape": n_shape,
        "n_texture": n_texture,
    }


def shape_bias_by_subject(df: "pd.DataFrame", per_category: bool = True) -> dict[str, dict[str, Any]]:
    """:func:`shape_bias_from_decisions` for each distinct ``subj`` of a table."""
    d = normalise_decisions(df)
    return {
        str(s): shape_bias_from_decisions(g.drop(columns=["texture"]), per_category)
        for s, g in d.groupby("subj", sort=True)
    }


def read_decision_csvs(files: list[str]) -> "pd.DataFrame":
    """Read and concatenate psychophysics decision CSV files (``subject`` renamed to ``subj``)."""
    import pandas as pd

    frames = []
    for f in files:
        try:
            t = pd.read_csv(f)
        except (OSError, ValueError, UnicodeDecodeError) as err:
            raise ValueError(f"{f}: not a readable CSV file ({type(err).__name__}: {err})") from err
        if "subj" not in t.columns and "subject" in t.columns:
            t = t.rename(columns={"subject": "subj"})
        t["source_file"] = str(f)
        frames.append(t)
    if not frames:
        raise ValueError("no decision files given")
    return pd.concat(frames, ignore_index=True)
