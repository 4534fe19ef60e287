"""``accuracy``: top-1, top-5, per-class accuracy, NLL and mean confidence."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, TypedDict

import numpy as np

from visaudit.probes.base import ChunkResult, MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.probes.base import Batch, ProbeContext


@dataclass
class AccuracyConfig(ProbeConfig):
    """Options of the accuracy probe.

    Attributes:
        store_top_k: how many top predictions to keep per sample in the per-sample table.
    """

    store_top_k: int = 5


class ClassAccuracy(TypedDict):
    """Accuracy of one class of the dataset's label space."""

    n: int  # images of the class in the measured subset
    top1: float | None  # None when the subset holds no image of the class


class AccuracyData(TypedDict):
    """``data`` of an accuracy record."""

    per_class: dict[str, ClassAccuracy]  # every class of the label space, by name
    label_map: dict[str, Any]  # LabelMap.describe(): how model outputs became dataset labels
    n: int  # images scored


@register_probe
class AccuracyProbe(Probe):
    """Top-1/top-5 accuracy, per-class accuracy, NLL and mean max-softmax confidence.

    Scores are taken in the dataset's label space (``ctx.label_map``): for the 16-class stimuli the
    1000 -> 16 mean-probability rule decides. Auxiliary labels of the dataset (the texture of the
    cue-conflict images) get an agreement rate ``agreement@<name>``.
    """

    name = "accuracy"
    version = 1
    Config = AccuracyConfig
    Data = AccuracyData
    headline = "top1"
    metrics = {
        "top1": MetricSpec(True, "top-1 accuracy"),
        "top5": MetricSpec(True, "top-5 accuracy"),
        "nll": MetricSpec(False, "mean negative log-likelihood of the true class"),
        "mean_confidence": MetricSpec(True, "mean max-softmax probability"),
        "class_top1": MetricSpec(True, "top-1 accuracy of one class"),
        "agreement": MetricSpec(True, "share of decisions equal to an auxiliary label (e.g. texture)"),
    }

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        import pandas as pd
        import torch

        from visaudit.metrics.classification import safe_ratio

        n_cls = ctx.label_map.num_classes
        aux = ctx.dataset.aux_labels
        k = max(1, min(self.config.store_top_k, n_cls))

        def chunk(batches: Iterator["Batch"]) -> ChunkResult:
            sums = {"correct1": 0.0, "correct5": 0.0, "nll": 0.0, "conf": 0.0,
                    "class_n": np.zeros(n_cls), "class_correct": np.zeros(n_cls)}
            sums.update({f"aux:{a}": 0.0 for a in aux})
            frames = []
            for b in batches:
                probs = ctx.scores(ctx.logits(b.x))
                conf, pred = probs.max(dim=1)
                topk = probs.topk(min(5, n_cls), dim=1).indices
                c1 = pred == b.y
                c5 = (topk == b.y[:, None]).any(dim=1)
                p_true = probs.gather(1, b.y[:, None]).squeeze(1)
                nll = -torch.log(p_true.clamp_min(1e-12))
                y = b.y.cpu().numpy()
                sums["correct1"] += float(c1.sum())
                sums["correct5"] += float(c5.sum())
                sums["nll"] += float(nll.sum())
                sums["conf"] += float(conf.sum())
                sums["class_n"] += np.bincount(y, minlength=n_cls)
                sums["class_correct"] += np.bincount(y, weights=c1.cpu().numpy().astype(float), minlength=n_cls)
                pred_np = pred.cpu().numpy()
                for a, labels in aux.items():
                    sums[f"aux:{a}"] += float((pred_np == labels[b.index]).sum())
                topv, topi = probs.topk(k, dim=1)
                frames.append(pd.DataFrame({
                    "sample_id": b.ids, "label": y, "pred": pred_np, "correct": c1.cpu().numpy(),
                    "confidence": conf.cpu().numpy(), "p_true": p_true.cpu().numpy(),
                    "topk_index": list(topi.cpu().numpy()), "topk_prob": list(topv.cpu().numpy().astype(np.float32)),
                }))
            rows = pd.concat(frames, ignore_index=True) if frames else None
            return ChunkResult(sums={k_: np.asarray(v) for k_, v in sums.items()}, rows=rows,
                               n=0 if rows is None else len(rows))

        merged = ctx.map_chunks(chunk)
        n = merged.n
        s = merged.sums
        if n == 0:
            from visaudit.errors import VisauditError

            raise VisauditError(f"no image of {ctx.dataset.name} could be read")
        metrics = {
            "top1": float(s["correct1"]) / n, "top5": float(s["correct5"]) / n,
            "nll": float(s["nll"]) / n, "mean_confidence": float(s["conf"]) / n,
        }
        per_class = safe_ratio(s["class_correct"], s["class_n"])
        classes = ctx.dataset.label_space.classes
        for i, c in enumerate(classes):
            if s["class_n"][i] > 0:
                metrics[f"class_top1@{c}"] = float(per_class[i])
        for a in aux:
            metrics[f"agreement@{a}"] = float(s[f"aux:{a}"]) / n
        data: AccuracyData = {
            "per_class": {c: {"n": int(s["class_n"][i]), "top1": None if np.isnan(per_class[i]) else float(per_class[i])}
                          for i, c in enumerate(classes)},
            "label_map": ctx.label_map.describe(), "n": n,
        }
        return ProbeResult(metrics=metrics, data=data, samples=merged.rows)
