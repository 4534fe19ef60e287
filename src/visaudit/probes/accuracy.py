"""``accuracy``: top-1, top-5, per-class accuracy, NLL and mean confidence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from visaudit.probes.base import MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.probes.base import ProbeContext


@dataclass
class AccuracyConfig(ProbeConfig):
    """Options of the accuracy probe.

    Attributes:
        store_top_k: how many top predictions to keep per sample in the per-sample table.
        store_probs: also keep every sample's whole probability vector over the dataset's label
            space (column ``probs``), so that the store alone can answer ``p_B(y_A)`` for model
            disagreement (:mod:`visaudit.report.disagreement`). Off by default: it is a vector per
            image (1000 floats on ImageNet).
    """

    store_top_k: int = 5
    store_probs: bool = False


class ClassAccuracy(TypedDict):
    """Accuracy of one class of the dataset's label space."""

    n: int  # images of the class in the measured subset
    top1: float | None  # None when the subset holds no image of the class


class RealLabels(TypedDict):
    """How ``real_top1`` was scored (ImageNet val only)."""

    n: int  # images with a non-empty ReaL label set (the others are left out)
    source: str


class _AccuracyRequired(TypedDict):
    per_class: dict[str, ClassAccuracy]  # every class of the label space, by name
    label_map: dict[str, Any]  # LabelMap.describe(): how model outputs became dataset labels
    n: int  # images scored


class AccuracyData(_AccuracyRequired, total=False):
    """``data`` of an accuracy record (``real`` only for ImageNet val files)."""

    real: RealLabels  # how real_top1 was scored


@register_probe
class AccuracyProbe(Probe):
    """Top-1/top-5 accuracy, per-class accuracy, NLL and mean max-softmax confidence.

    Scores are taken in the dataset's label space (``ctx.label_map``): for the 16-class stimuli the
    1000 -> 16 mean-probability rule decides. Auxiliary labels of the dataset (the texture of the
    cue-conflict images) get an agreement rate ``agreement@<name>``.
    """

    name = "accuracy"
    version = 2  # 2: scored from the run's shared clean pass; sums over per-image values in float64
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
        "real_top1": MetricSpec(True, "ReaL accuracy: top-1 in the image's ReaL label set (ImageNet val)"),
        "condition_top1": MetricSpec(True, "top-1 under one benchmark condition (model-vs-human's c30, ...)"),
    }

    def inputs(self, model: Any, dataset: Any) -> dict[str, Any]:
        """The ReaL label file, when the job scores ImageNet val images with it."""
        if _real_sets(dataset) is None:
            return {}
        from visaudit.data.fingerprint import file_digest
        from visaudit.data.labels import REAL_LABELS_FILE, _timm_info_file

        return {"real_labels": file_digest(_timm_info_file(REAL_LABELS_FILE))}

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        import pandas as pd
        import torch

        from visaudit.metrics.classification import safe_ratio

        n_cls = ctx.label_map.num_classes
        aux = ctx.dataset.aux_labels
        k = max(1, min(self.config.store_top_k, n_cls))

        cp = ctx.clean_logits()  # one pass, shared with other probes of the run on the same images
        n = len(cp.index)
        if n == 0:
            from visaudit.errors import VisauditError

            raise VisauditError(f"no image of {ctx.dataset.name} could be read")
        parts: dict[str, list[np.ndarray]] = {
            k_: [] for k_ in ("pred", "conf", "p_true", "c5", "topi", "topv", "probs")
        }
        for start in range(0, n, 4096):  # fixed blocks: the numbers do not depend on the batch size
            z = torch.from_numpy(cp.logits[start : start + 4096]).to(ctx.device)
            y = torch.from_numpy(cp.labels[start : start + 4096]).to(ctx.device)
            probs = ctx.scores(z)
            conf, pred = probs.max(dim=1)
            topv, topi = probs.topk(k, dim=1)
            parts["pred"].append(pred.cpu().numpy())
            parts["conf"].append(conf.cpu().numpy())
            parts["p_true"].append(probs.gather(1, y[:, None]).squeeze(1).cpu().numpy())
            parts["c5"].append((probs.topk(min(5, n_cls), dim=1).indices == y[:, None]).any(dim=1).cpu().numpy())
            parts["topi"].append(topi.cpu().numpy())
            parts["topv"].append(topv.cpu().numpy().astype(np.float32))
            if self.config.store_probs:
                parts["probs"].append(probs.cpu().numpy().astype(np.float32))
        pred, conf, p_true, c5 = (np.concatenate(parts[k_]) for k_ in ("pred", "conf", "p_true", "c5"))
        y = cp.labels
        c1 = pred == y
        nll = -np.log(np.clip(p_true.astype(np.float64), 1e-12, None))
        s = {
            "correct1": float(c1.sum()),
            "correct5": float(c5.sum()),
            "nll": float(nll.sum()),
            "conf": float(conf.astype(np.float64).sum()),
            "class_n": np.bincount(y, minlength=n_cls).astype(np.float64),
            "class_correct": np.bincount(y, weights=c1.astype(np.float64), minlength=n_cls),
        }
        for a, labels in aux.items():
            s[f"aux:{a}"] = float((pred == labels[cp.index]).sum())
        rows = pd.DataFrame(
            {
                "sample_id": cp.ids,
                "label": y,
                "pred": pred,
                "correct": c1,
                "confidence": conf,
                "p_true": p_true,
                "topk_index": list(np.concatenate(parts["topi"])),
                "topk_prob": list(np.concatenate(parts["topv"])),
            }
        )
        if self.config.store_probs:
            rows["probs"] = list(np.concatenate(parts["probs"]))
        metrics = {
            "top1": float(s["correct1"]) / n,
            "top5": float(s["correct5"]) / n,
            "nll": float(s["nll"]) / n,
            "mean_confidence": float(s["conf"]) / n,
        }
        per_class = safe_ratio(s["class_correct"], s["class_n"])
        classes = ctx.dataset.label_space.classes
        for i, c in enumerate(classes):
            if s["class_n"][i] > 0:
                metrics[f"class_top1@{c}"] = float(per_class[i])
        for a in aux:
            metrics[f"agreement@{a}"] = float(s[f"aux:{a}"]) / n
        if len(ctx.dataset.conditions):  # benchmarks whose files name their condition
            cond = np.asarray(ctx.dataset.conditions, dtype=object)[cp.index]
            for c in sorted(set(cond.tolist())):
                metrics[f"condition_top1@{c}"] = float(c1[cond == c].mean())
        data: AccuracyData = {
            "per_class": {
                c: {"n": int(s["class_n"][i]), "top1": None if np.isnan(per_class[i]) else float(per_class[i])}
                for i, c in enumerate(classes)
            },
            "label_map": ctx.label_map.describe(),
            "n": n,
        }
        sets = _real_sets(ctx.dataset) if ctx.label_map.kind == "identity" else None
        if sets is not None:
            from visaudit.metrics.classification import real_top1

            metrics["real_top1"], n_real = real_top1(pred, [sets[int(i)] for i in cp.index])
            data["real"] = {"n": n_real, "source": "ReaL labels (Beyer et al. 2020), timm's imagenet_real_labels.json"}
        return ProbeResult(metrics=metrics, data=data, samples=rows)


def _real_sets(dataset: Any) -> "list[list[int] | None] | None":
    """ReaL label sets per dataset position for ImageNet-1k val files, else None."""
    if getattr(getattr(dataset, "label_space", None), "name", None) != "imagenet1k":
        return None
    from visaudit.data.labels import real_label_sets

    return real_label_sets([str(i).rsplit("/", 1)[-1] for i in dataset.ids])
