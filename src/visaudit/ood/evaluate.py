"""From stored arrays to OOD metrics: fit data, every detector, every set, sanity checks.

Detectors that need in-distribution statistics are fitted either on a seeded split of the ID
set (the rest is scored) or, as OpenOOD's protocol does with the training set, on a separate
fit set (then every ID image is scored).

The probe runs the model once per dataset (:func:`collect_chunk`), keeping logits, penultimate
features and labels; everything after that (:func:`evaluate`) works on those arrays only.
ODIN is the exception: its scores are produced during the same pass by an extra
forward-backward-forward of the batch, one per class view (all classes, and the
in-distribution classes of a held-out-classes split).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from visaudit.metrics.ood import auroc, ood_metrics, score_histogram
from visaudit.ood.detectors import Arrays, FitData, score_all

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from visaudit.probes.base import Batch, ChunkResult

ID_KEY = "__id__"
HELDOUT_SET = "heldout-classes"


def fit_mask(index: np.ndarray, fit_fraction: float, seed: int) -> np.ndarray:
    """True for the ID samples (dataset positions ``index``) in the detectors' fit split.

    Membership is a seeded hash of each sample's position, so it is known inside a chunk
    (ODIN scores only the eval samples) and does not depend on chunking; the fit share is
    ``fit_fraction`` in expectation.
    """
    from visaudit.rng import splitmix64  # here: visaudit.rng imports torch, this module does not

    salt = splitmix64(np.array([seed], dtype=np.int64))[0]
    u = (splitmix64(np.asarray(index, dtype=np.int64)) ^ salt) >> np.uint64(11)
    return (u.astype(np.float64) / float(2**53)) < fit_fraction


def collect_chunk(
    model: "torch.nn.Module",
    batches: Iterator["Batch"],
    odin_views: dict[str, Sequence[int] | None] | None = None,
    odin_temperature: float = 1000.0,
    odin_eps: float = 0.0014,
    fit_split: tuple[float, int] | None = None,
) -> "ChunkResult":
    """One pass over ``batches``: stacks ``logits``, ``features``, ``labels``, ``index`` and,
    per ODIN view ``v``, ``odin:v`` scores (``odin_views``: view name -> class subset or None).

    ``fit_split=(fit_fraction, seed)`` marks the ID set: ODIN then skips its fit samples (NaN).
    """
    import torch

    from visaudit.ood.odin import penultimate_and_odin
    from visaudit.probes.base import ChunkResult

    views = dict(odin_views or {})
    parts: dict[str, list[np.ndarray]] = {"logits": [], "features": [], "labels": [], "index": []}
    for view in views:
        parts[f"odin:{view}"] = []
    n = 0
    for b in batches:
        rows = None
        if fit_split is not None and views:
            rows = torch.from_numpy(~fit_mask(b.index, *fit_split))
        feats, logits, odin = penultimate_and_odin(model, b.x, views, rows, odin_temperature, odin_eps)
        parts["logits"].append(logits.float().cpu().numpy())
        parts["features"].append(feats.float().cpu().numpy())
        parts["labels"].append(b.y.cpu().numpy().astype(np.int64))
        parts["index"].append(np.asarray(b.index, dtype=np.int64))
        for view, s in odin.items():
            parts[f"odin:{view}"].append(s.float().cpu().numpy())
        n += len(b.index)
    stacks = {k: np.concatenate(v, axis=0) for k, v in parts.items() if v}
    return ChunkResult(stacks=stacks, n=n)


@dataclass
class StoredSet:
    """Arrays of one dataset from :func:`collect_chunk`."""

    logits: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    index: np.ndarray
    odin: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def from_stacks(cls, stacks: dict[str, np.ndarray]) -> "StoredSet":
        odin = {k.split(":", 1)[1]: v for k, v in stacks.items() if k.startswith("odin:")}
        return cls(stacks["logits"], stacks["features"], stacks["labels"], stacks["index"], odin)

    def take(self, idx: np.ndarray, view: str = "all", classes: Sequence[int] | None = None) -> Arrays:
        """Detector input for positions ``idx``, logits restricted to ``classes`` if given."""
        logits = self.logits[idx] if classes is None else self.logits[idx][:, list(classes)]
        extra = {"odin": self.odin[view][idx]} if view in self.odin else {}
        return Arrays(logits, self.features[idx], extra)


@dataclass
class OODReport:
    """Everything the probe exports."""

    metrics: dict[str, float]
    table: list[dict[str, Any]]
    histograms: dict[str, dict[str, Any]]
    sanity: dict[str, float]
    info: dict[str, Any]
    scores: dict[str, dict[str, np.ndarray]]  # detector -> set -> scores (eval ID under ID_KEY)
    id_eval_index: np.ndarray


def _detector_params(names: Sequence[str], params: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    return {n: dict((params or {}).get(n, {})) for n in names}


def _metric_rows(
    scores: dict[str, dict[str, np.ndarray]], sets: Sequence[str], id_key: str, set_name=lambda s: s
) -> tuple[dict[str, float], list[dict[str, Any]], dict[str, Any]]:
    metrics: dict[str, float] = {}
    table: list[dict[str, Any]] = []
    hists: dict[str, Any] = {}
    for det, per_set in scores.items():
        for s in sets:
            name = set_name(s)
            m = ood_metrics(per_set[id_key], per_set[s])
            for k, v in m.items():
                metrics[f"{k}@{det}/{name}"] = v
            table.append({"detector": det, "ood_set": name, **m})
            hists[f"{det}/{name}"] = score_histogram(per_set[id_key], per_set[s])
    return metrics, table, hists


def evaluate(
    id_set: StoredSet,
    ood_sets: dict[str, StoredSet],
    detectors: Sequence[str],
    head_weight: np.ndarray | None,
    head_bias: np.ndarray | None,
    *,
    fit_labels: np.ndarray | None = None,
    fit_fraction: float = 0.5,
    seed: int = 0,
    heldout_classes: Sequence[int] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    fit_set: StoredSet | None = None,
    fit_set_labels: np.ndarray | None = None,
    fit_on: str = "",
) -> OODReport:
    """Fit every detector on ``fit_set`` (or a seeded split of the ID set), score the ID images
    not fitted on and every OOD set.

    Args:
        id_set: in-distribution arrays.
        ood_sets: OOD arrays by set name.
        detectors: registered detector names.
        head_weight, head_bias: the model's final linear layer.
        fit_labels: class labels (model's label space) of the ID samples for class-conditional
            fits; default the model's predictions.
        fit_fraction: share of the ID set used to fit detectors when no ``fit_set`` is given
            (the rest is evaluated); membership by :func:`fit_mask` of the dataset positions.
        seed: split seed.
        heldout_classes: if given, also a near-OOD split: ID = the other classes of the ID eval
            split, OOD = these classes; logits, head and fit restricted to the ID classes.
        params: per-detector keyword parameters.
        fit_set: arrays to fit on instead of a split of the ID set (e.g. a training set);
            every ID sample is then scored.
        fit_set_labels: class labels (model's label space) of ``fit_set``; default its
            predictions.
        fit_on: what the detectors were fitted on, for the record.
    """
    params = _detector_params(detectors, params)
    if fit_set is None:
        labels = fit_labels if fit_labels is not None else id_set.logits.argmax(1)
        in_fit = fit_mask(id_set.index, fit_fraction, seed)
        fit_idx, eval_idx = np.nonzero(in_fit)[0], np.nonzero(~in_fit)[0]
        if len(fit_idx) < 2 or len(eval_idx) < 2:
            raise ValueError(
                f"fit split of {len(in_fit)} ID samples left {len(fit_idx)} to fit, {len(eval_idx)} to evaluate"
            )
        src, src_rows, src_labels, src_true = id_set, fit_idx, labels, id_set.labels
        fit_on = fit_on or f"a seeded {fit_fraction:g} split of the ID images (the rest is scored)"
    else:
        if len(fit_set.logits) < 2 or len(id_set.logits) < 2:
            raise ValueError(f"{len(fit_set.logits)} fit samples and {len(id_set.logits)} ID samples: need 2 of each")
        eval_idx = np.arange(len(id_set.logits))
        src, src_rows = fit_set, np.arange(len(fit_set.logits))
        src_labels = fit_set_labels if fit_set_labels is not None else fit_set.logits.argmax(1)
        src_true = src_labels
        fit_on = fit_on or "a separate fit set"
    fit = FitData(src.logits[src_rows], src.features[src_rows], src_labels[src_rows], head_weight, head_bias)
    inputs = {ID_KEY: id_set.take(eval_idx)}
    all_idx = {s: np.arange(len(a.logits)) for s, a in ood_sets.items()}
    inputs.update({s: a.take(all_idx[s]) for s, a in ood_sets.items()})
    t0 = time.perf_counter()
    resolved: dict[str, dict[str, Any]] = {}
    scores = score_all(list(detectors), fit, inputs, params, resolved)
    scoring_s = time.perf_counter() - t0
    metrics, table, hists = _metric_rows(scores, list(ood_sets), ID_KEY)

    # sanity: ID eval split against itself (two random halves) should be at chance
    perm = np.random.default_rng([seed, 1]).permutation(len(eval_idx))
    half_a, half_b = perm[: len(perm) // 2], perm[len(perm) // 2 :]
    sanity = {det: auroc(s[ID_KEY][half_a], s[ID_KEY][half_b]) for det, s in scores.items()}

    info: dict[str, Any] = {
        "fit_on": fit_on,
        "n_fit": int(len(src_rows)),
        "n_id_eval": int(len(eval_idx)),
        "n_ood": {s: int(len(a.logits)) for s, a in ood_sets.items()},
        "scoring_seconds": scoring_s,
        "detector_params": params,
        "resolved_params": resolved,
    }
    if heldout_classes:
        h_metrics, h_table, h_hists, h_info, h_scores = _heldout(
            id_set, eval_idx, src, src_rows, src_true, detectors, head_weight, head_bias, heldout_classes, params
        )
        metrics.update(h_metrics)
        table += h_table
        hists.update(h_hists)
        info["heldout"] = h_info
        for det in scores:
            scores[det][HELDOUT_SET + ":id"] = h_scores[det][ID_KEY]
            scores[det][HELDOUT_SET] = h_scores[det][HELDOUT_SET]
    return OODReport(metrics, table, hists, sanity, info, scores, eval_idx)


def _heldout(
    id_set: StoredSet,
    eval_idx: np.ndarray,
    fit_src: StoredSet,
    fit_rows: np.ndarray,
    fit_true: np.ndarray,
    detectors: Sequence[str],
    head_weight,
    head_bias,
    heldout: Sequence[int],
    params,
):
    """Near-OOD split of the scored ID images; the fit rows of ``fit_src`` with labels ``fit_true``
    (model's label space) in the kept classes fit the detectors."""
    n_classes = id_set.logits.shape[1]
    held = sorted({int(c) for c in heldout})
    keep = [c for c in range(n_classes) if c not in held]
    if not keep or not held:
        raise ValueError("held-out classes must be a non-empty proper subset of the model's classes")
    remap = np.full(n_classes, -1)
    remap[keep] = np.arange(len(keep))
    true = id_set.labels
    fit_in = fit_rows[np.isin(fit_true[fit_rows], keep)]
    ev_in = eval_idx[np.isin(true[eval_idx], keep)]
    ev_out = eval_idx[np.isin(true[eval_idx], held)]
    w = None if head_weight is None else np.asarray(head_weight)[keep]
    b = None if head_bias is None else np.asarray(head_bias)[keep]
    # fit labels: true labels restricted to the kept classes
    fit = FitData(fit_src.logits[fit_in][:, keep], fit_src.features[fit_in], remap[fit_true[fit_in]], w, b)
    inputs = {
        ID_KEY: id_set.take(ev_in, view=HELDOUT_SET, classes=keep),
        HELDOUT_SET: id_set.take(ev_out, view=HELDOUT_SET, classes=keep),
    }
    scores = score_all(list(detectors), fit, inputs, params)
    metrics, table, hists = _metric_rows(scores, [HELDOUT_SET], ID_KEY)
    info = {
        "id_classes": keep,
        "ood_classes": held,
        "n_fit": int(len(fit_in)),
        "n_id_eval": int(len(ev_in)),
        "n_ood": int(len(ev_out)),
    }
    return metrics, table, hists, info, scores
