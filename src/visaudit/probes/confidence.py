"""``confidence``: max-softmax confidence of correct, wrong and adversarial predictions.

Non-robust models are over-confident: their errors, and the adversarial examples that fool
them, often carry confidence near 1 (Grabinski et al. 2022). The probe stores histograms
(bounded state) of the confidence of clean correct predictions, clean errors and
successful adversarial examples, and summarises over-confidence as the mean confidence on
errors and the share of errors above a threshold (0.9).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, TypedDict

import numpy as np

from visaudit.attacks.setting import AttackSetting
from visaudit.probes.base import ChunkResult, MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.probes.base import Batch, ProbeContext

GROUPS = ("correct", "error", "adversarial")


@dataclass
class ConfidenceConfig(ProbeConfig):
    """Options of the confidence probe.

    Attributes:
        attack: attack producing the adversarial examples ("" for clean only); ``apgd-ce``
            with 100 iterations by default.
        norm: threat model of the attack.
        eps: radius as text.
        attack_options: keyword overrides for the attack (e.g. ``{"n_iter": 20}``).
        threshold: confidence above which an error counts as confident.
        bins: histogram bins on [0,1].
    """

    attack: str = "apgd-ce"
    norm: str = "linf"
    eps: str = "8/255"
    attack_options: dict | None = None
    threshold: float = 0.9
    bins: int = 20


class ConfidenceData(TypedDict):
    """``data`` of a confidence record."""

    bin_edges: list[float]  # bins + 1 edges on [0, 1], shared by every histogram
    threshold: float  # confidence above which a prediction counts as confident
    histograms: dict[str, list[float]]  # {"correct" | "error" | "adversarial": counts per bin}
    counts: dict[str, int]  # predictions per group
    attack: AttackSetting


def overconfidence(conf_errors_sum: float, n_errors: float, n_confident: float) -> tuple[float, float]:
    """(mean confidence on errors, share of errors above the threshold); NaN without errors."""
    if n_errors <= 0:
        return float("nan"), float("nan")
    return conf_errors_sum / n_errors, n_confident / n_errors


@register_probe
class ConfidenceProbe(Probe):
    """Confidence of correct, wrong and adversarial predictions; over-confidence summaries."""

    name = "confidence"
    version = 2  # attack restarts drawn per image
    random = True
    Config = ConfidenceConfig
    Data = ConfidenceData
    headline = "confident_error_rate"
    needs_grad = True
    metrics = {
        "mean_confidence_on_errors": MetricSpec(False, "mean max-softmax probability on misclassified clean images"),
        "confident_error_rate": MetricSpec(False, "share of clean errors with confidence above the threshold"),
        "mean_confidence_on_correct": MetricSpec(True, "mean max-softmax probability on correct clean images"),
        "mean_confidence_on_adversarial": MetricSpec(False, "mean confidence of successful adversarial examples"),
        "confident_adversarial_rate": MetricSpec(False, "share of successful adversarial examples above threshold"),
        "attack_success_rate": MetricSpec(False, "share of correct images the attack fooled"),
    }

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        import torch

        from visaudit.attacks.runs import oracle_for, run_attack
        from visaudit.attacks.threat import parse_eps

        cfg = self.config
        edges = np.linspace(0.0, 1.0, cfg.bins + 1)

        def hist(conf: "torch.Tensor") -> np.ndarray:
            return np.histogram(conf.detach().cpu().numpy(), bins=edges)[0].astype(np.float64)

        def chunk(batches: Iterator["Batch"]) -> ChunkResult:
            sums = {f"hist:{g}": np.zeros(cfg.bins) for g in GROUPS}
            sums.update({f"{k}:{g}": 0.0 for g in GROUPS for k in ("n", "conf", "confident")})
            sums["n_attacked"] = 0.0
            for b in batches:
                with torch.no_grad():
                    probs = ctx.scores(ctx.logits(b.x))
                conf, pred = probs.max(1)
                ok = pred == b.y
                for g, mask in (("correct", ok), ("error", ~ok)):
                    c = conf[mask]
                    sums[f"hist:{g}"] += hist(c)
                    sums[f"n:{g}"] += float(mask.sum())
                    sums[f"conf:{g}"] += float(c.sum())
                    sums[f"confident:{g}"] += float((c > cfg.threshold).sum())
                if cfg.attack:
                    oracle = oracle_for(ctx)
                    x_adv, robust, _ = run_attack(
                        cfg.attack,
                        oracle,
                        b.x.float(),
                        b.y,
                        norm=cfg.norm,
                        eps=parse_eps(cfg.eps),
                        options={cfg.attack: cfg.attack_options or {}},
                        generator=ctx.sample_rng("confidence", b.index),
                    )
                    fooled = ok & ~robust
                    sums["n_attacked"] += float(ok.sum())
                    if fooled.any():
                        with torch.no_grad():
                            ca = ctx.scores(ctx.logits(x_adv[fooled])).max(1).values
                        sums["hist:adversarial"] += hist(ca)
                        sums["n:adversarial"] += float(fooled.sum())
                        sums["conf:adversarial"] += float(ca.sum())
                        sums["confident:adversarial"] += float((ca > cfg.threshold).sum())
            return ChunkResult(sums={k: np.asarray(v) for k, v in sums.items()})

        s = ctx.map_chunks(chunk, tag="confidence").sums
        f = {k: (v if np.ndim(v) else float(v)) for k, v in s.items()}
        mean_err, rate_err = overconfidence(f["conf:error"], f["n:error"], f["confident:error"])
        mean_adv, rate_adv = overconfidence(f["conf:adversarial"], f["n:adversarial"], f["confident:adversarial"])
        metrics = {
            "mean_confidence_on_errors": mean_err,
            "confident_error_rate": rate_err,
            "mean_confidence_on_correct": f["conf:correct"] / f["n:correct"] if f["n:correct"] else float("nan"),
        }
        if cfg.attack:
            metrics["mean_confidence_on_adversarial"] = mean_adv
            metrics["confident_adversarial_rate"] = rate_adv
            metrics["attack_success_rate"] = (f["n:adversarial"] / f["n_attacked"]) if f["n_attacked"] else float("nan")
        data: ConfidenceData = {
            "bin_edges": edges.tolist(),
            "threshold": cfg.threshold,
            "histograms": {g: np.asarray(f[f"hist:{g}"]).tolist() for g in GROUPS},
            "counts": {g: int(f[f"n:{g}"]) for g in GROUPS},
            "attack": {"name": cfg.attack, "norm": cfg.norm, "eps": cfg.eps, "options": cfg.attack_options or {}},
        }
        return ProbeResult(metrics=metrics, data=data)
