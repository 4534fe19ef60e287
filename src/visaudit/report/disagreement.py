"""Images on which models disagree most, ranked from the store alone (no model is loaded).

Why a store reader and not a probe: a probe is a job of one model on one dataset, keyed by that
model's weights, and the runner loads the model before the probe runs. Ranking disagreement is
a view over records that are already keyed (each accuracy record carries its model's weights,
the dataset's content fingerprint, the subset and the label protocol): nothing new is measured,
so nothing new needs a key, and the ranking can be recomputed at any time from the records it
names (``DisagreementRanking.records``). Like the rest of :mod:`visaudit.report` it reads
records and never runs a model.

The records it reads are ``accuracy`` records run with ``{"store_probs": true}`` (the whole
probability vector per image, in the dataset's label space). Scores: :mod:`visaudit.metrics.disagreement`.

Example:
    >>> r = rank_disagreement("visaudit-results", ["cifar10_resnet20", "cifar10_resnet56"],
    ...                       dataset="cifar10-test", score="pair")   # doctest: +SKIP
    >>> r.table.head()                                                  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from visaudit.errors import VisauditError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


@dataclass
class DisagreementRanking:
    """A ranking of one dataset cell's samples by a disagreement score.

    Attributes:
        table: one row per sample, most disagreed first: ``rank``, ``sample_id``, ``label``,
            ``score``, then ``pred@<model>`` and ``p_pred@<model>`` (the model's confidence).
        score: the score's name.
        models: the models, in the order given (``pair`` compares the first with the second).
        cell: what the records share: dataset name and fingerprint, label space, protocol, subset, seed.
        records: the keys of the accuracy records read, by model.
    """

    table: "pd.DataFrame"
    score: str
    models: list[str]
    cell: dict[str, Any]
    records: dict[str, str]


def _cell(rec: dict[str, Any]) -> tuple[Any, ...]:
    ds = rec.get("dataset") or {}
    return (
        ds.get("name"),
        ds.get("fingerprint"),
        ds.get("label_space"),
        (rec.get("label_map") or {}).get("kind"),
        rec.get("max_images"),
        rec.get("seed"),
    )


def _describe(cell: tuple[Any, ...]) -> str:
    name, fp, space, kind, max_images, seed = cell
    subset = "all images" if max_images is None else f"{max_images} images (seed {seed})"
    return f"{name} [{str(fp)[:12]}, {space}, {kind}], {subset}"


def rank_disagreement(
    store_dir: str | Path,
    models: list[str],
    *,
    dataset: str | None = None,
    score: str = "mean_pair",
    max_images: int | None | str = "any",
) -> DisagreementRanking:
    """Rank the samples that ``models`` were all audited on by how much they disagree.

    Args:
        store_dir: the results store.
        models: at least two model names as recorded (``pair``: exactly two, A then B).
        dataset: the dataset name; None: the one cell every model shares (an error if several).
        score: ``pair``, ``mean_pair`` or ``js`` (:mod:`visaudit.metrics.disagreement`).
        max_images: the subset size to use (None: the whole dataset); ``"any"``: whichever is shared.

    Raises:
        VisauditError: fewer than two models, a model without an accuracy record with
            ``store_probs``, or models audited on different datasets or subsets (the message
            lists every model's cells and what they share).
    """
    from visaudit.engine.store import Store
    from visaudit.metrics import disagreement as dis

    if score not in dis.SCORES:
        raise VisauditError(f"unknown disagreement score {score!r}; known: {list(dis.SCORES)}")
    models = list(dict.fromkeys(models))
    if len(models) < 2:
        raise VisauditError(f"disagreement needs at least two models, got {models}")
    if score == "pair" and len(models) != 2:
        raise VisauditError(f"the 'pair' score compares exactly two models (A, B), got {models}")
    store = Store(store_dir)
    found: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {m: {} for m in models}
    plain: dict[str, int] = {m: 0 for m in models}
    for rec in store.records(include_errors=False):
        m = (rec.get("model") or {}).get("name")
        if m not in found or (rec.get("probe") or {}).get("name") != "accuracy":
            continue
        if dataset is not None and (rec.get("dataset") or {}).get("name") != dataset:
            continue
        if max_images != "any" and rec.get("max_images") != max_images:
            continue
        if not ((rec.get("probe") or {}).get("config") or {}).get("store_probs"):
            plain[m] += 1
            continue
        found[m][_cell(rec)] = rec
    missing = [m for m in models if not found[m]]
    if missing:
        hint = [m for m in missing if plain[m]]
        raise VisauditError(
            f"no accuracy record with per-sample probabilities for {missing}"
            + (f" on {dataset}" if dataset else "")
            + f" in {store_dir}; run them with --config '{{accuracy: {{store_probs: true}}}}'"
            + (f" ({hint} have accuracy records without store_probs)" if hint else "")
        )
    shared = set.intersection(*(set(f) for f in found.values()))
    if len(shared) != 1:
        lines = [f"  {m}: " + "; ".join(_describe(c) for c in sorted(found[m], key=str)) for m in models]
        what = "share no dataset cell" if not shared else "share several cells; pass dataset= / max_images="
        raise VisauditError(
            f"models {models} {what}. Audited on:\n"
            + "\n".join(lines)
            + "\n  shared: "
            + ("; ".join(_describe(c) for c in sorted(shared, key=str)) or "nothing")
        )
    (cell,) = shared
    tables = []
    for m in models:
        rec = found[m][cell]
        t = store.samples(rec["key"])
        if t is None or "probs" not in t:
            raise VisauditError(f"the accuracy record {rec['key']} of {m} has no per-sample probabilities")
        tables.append(t.set_index("sample_id"))
    ids0 = set(tables[0].index)
    if any(set(t.index) != ids0 for t in tables[1:]):
        common = set.intersection(*(set(t.index) for t in tables))
        counts = {m: len(t) for m, t in zip(models, tables)}
        raise VisauditError(
            f"models {models} scored different images of {_describe(cell)} (unreadable images?): "
            f"{counts}, {len(common)} shared"
        )
    ids = sorted(ids0)
    probs = [np.stack(t.loc[ids, "probs"].to_numpy()).astype(np.float64) for t in tables]
    values = dis.score(score, probs)
    order = dis.ranking(values, ids)
    import pandas as pd

    out: dict[str, Any] = {
        "rank": np.arange(1, len(ids) + 1),
        "sample_id": [ids[i] for i in order],
        "label": tables[0].loc[ids, "label"].to_numpy()[order],
        "score": values[order],
    }
    for m, p in zip(models, probs):
        out[f"pred@{m}"] = p.argmax(1)[order]
        out[f"p_pred@{m}"] = p.max(1)[order]
    name, fp, space, kind, n_sub, seed = cell
    return DisagreementRanking(
        table=pd.DataFrame(out),
        score=score,
        models=models,
        cell={
            "dataset": name,
            "fingerprint": fp,
            "label_space": space,
            "label_map": kind,
            "max_images": n_sub,
            "seed": seed,
        },
        records={m: found[m][cell]["key"] for m in models},
    )
