"""``calibration``: ECE (equal-width and adaptive), MCE, class-wise ECE, NLL, Brier, reliability
diagram and temperature scaling.

One pass stores the model's logits. Probabilities are taken in the dataset's label space
(``ctx.label_map``). All metrics without a suffix use every image. Temperature scaling
(Guo et al. 2017) fits one T on a seeded ``ts_fit_fraction`` of the images and reports the
metrics on the other, held-out part before (``*_before_ts``) and after (``*_after_ts``)
scaling, so the comparison is on the same images and T never saw them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from visaudit.errors import VisauditError
from visaudit.probes.base import MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.probes.base import ProbeContext

_BASE = {
    "ece": MetricSpec(False, "expected calibration error, equal-width bins"),
    "ece_adaptive": MetricSpec(False, "expected calibration error, equal-mass bins"),
    "mce_calibration": MetricSpec(False, "maximum calibration error over equal-width bins"),
    "ece_classwise": MetricSpec(False, "class-wise ECE (mean over classes)"),
    "nll": MetricSpec(False, "mean negative log-likelihood of the true class"),
    "brier": MetricSpec(False, "multi-class Brier score (0..2)"),
    "accuracy": MetricSpec(True, "top-1 accuracy"),
    "confidence_mean": MetricSpec(True, "mean max-probability"),
    "confidence_correct": MetricSpec(True, "mean max-probability of correct predictions"),
    "confidence_wrong": MetricSpec(False, "mean max-probability of wrong predictions"),
    "overconfidence": MetricSpec(False, "mean confidence minus accuracy (positive: over-confident)"),
}
_TS_KEYS = ("ece", "ece_adaptive", "mce_calibration", "ece_classwise", "nll", "brier", "overconfidence")


@dataclass
class CalibrationConfig(ProbeConfig):
    """Options of the calibration probe.

    Attributes:
        n_bins: bins of ECE, MCE, class-wise ECE and the reliability diagram.
        ts_fit_fraction: share of the images used to fit the temperature.
    """

    n_bins: int = 15
    ts_fit_fraction: float = 0.5


class ReliabilityBins(TypedDict):
    """Reliability-diagram data, one entry per equal-width bin (``metrics.calibration.reliability_bins``)."""

    lower: list[float]
    upper: list[float]
    count: list[int]
    confidence: list[float | None]  # mean confidence; None for an empty bin
    accuracy: list[float | None]  # accuracy; None for an empty bin


class TemperatureScaling(TypedDict):
    """The temperature fit and the held-out part before and after scaling."""

    temperature: float
    n_fit: int
    n_held_out: int
    seed: int  # seeds the fit / held-out split
    before: dict[str, float]  # every scalar of ``calibration_metrics`` on the held-out part, T = 1
    after: dict[str, float]  # the same with the fitted T
    reliability_before: ReliabilityBins
    reliability_after: ReliabilityBins


class CalibrationData(TypedDict):
    """``data`` of a calibration record."""

    n: int
    n_bins: int
    binning: str
    reliability: ReliabilityBins  # every image
    temperature_scaling: TemperatureScaling
    label_map: dict[str, Any] | None  # LabelMap.describe(); None for a label map without one


def _reliability(probs: np.ndarray, labels: np.ndarray, n_bins: int) -> ReliabilityBins:
    """Reliability bins with exactly the declared keys (the metric function may return more)."""
    from visaudit.metrics.calibration import reliability_bins

    b = reliability_bins(probs, labels, n_bins)
    return {
        "lower": b["lower"],
        "upper": b["upper"],
        "count": b["count"],
        "confidence": b["confidence"],
        "accuracy": b["accuracy"],
    }


def _metric_specs() -> dict[str, MetricSpec]:
    specs = dict(_BASE)
    specs["temperature"] = MetricSpec(False, "fitted temperature T (not a quality: 1 = no change)")
    for k in _TS_KEYS:
        specs[f"{k}_before_ts"] = MetricSpec(_BASE[k].higher_is_better, f"{k} on the held-out part, T = 1")
        specs[f"{k}_after_ts"] = MetricSpec(_BASE[k].higher_is_better, f"{k} on the held-out part, fitted T")
    return specs


@register_probe
class CalibrationProbe(Probe):
    """Calibration of the model's probabilities, before and after temperature scaling."""

    name = "calibration"
    version = 1
    Config = CalibrationConfig
    Data = CalibrationData
    headline = "ece"
    metrics = _metric_specs()

    def check(self, model, dataset) -> None:
        if self.config.n_bins < 1:
            raise VisauditError("calibration: n_bins must be at least 1")
        if not 0.0 < self.config.ts_fit_fraction < 1.0:
            raise VisauditError("calibration: ts_fit_fraction must be in (0, 1)")

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        import pandas as pd
        import torch

        from visaudit.metrics import calibration as cal

        cfg = self.config

        clean = ctx.clean_logits()  # shared with accuracy and shape-bias on the same images
        n = len(clean.labels)
        if n < 4:
            raise VisauditError(f"calibration: only {n} images of {ctx.dataset.name} could be read")
        logits, labels = clean.logits.astype(np.float64), clean.labels
        identity = ctx.label_map.kind == "identity"

        def probs_fn(z: np.ndarray) -> np.ndarray:
            if identity:
                return cal.softmax(z)
            with torch.no_grad():
                return ctx.label_map.probs(torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))).double().numpy()

        probs = probs_fn(logits)
        metrics = cal.calibration_metrics(probs, labels, cfg.n_bins)

        fit, held = cal.held_out_split(len(labels), cfg.ts_fit_fraction, ctx.seed)
        t = cal.fit_temperature(logits[fit], labels[fit], None if identity else probs_fn)
        before = cal.calibration_metrics(probs[held], labels[held], cfg.n_bins)
        probs_t = probs_fn(logits[held] / t)
        after = cal.calibration_metrics(probs_t, labels[held], cfg.n_bins)
        metrics["temperature"] = t
        for k in _TS_KEYS:
            metrics[f"{k}_before_ts"] = before[k]
            metrics[f"{k}_after_ts"] = after[k]

        conf, pred = probs.max(1), probs.argmax(1)
        in_fit = np.zeros(len(labels), dtype=bool)
        in_fit[fit] = True
        samples = pd.DataFrame(
            {
                "sample_id": clean.ids,
                "label": labels,
                "pred": pred,
                "correct": pred == labels,
                "confidence": conf.astype(np.float32),
                "p_true": probs[np.arange(len(labels)), labels].astype(np.float32),
                "ts_fit": in_fit,
            }
        )
        data: CalibrationData = {
            "n": n,
            "n_bins": cfg.n_bins,
            "binning": "equal-width, (lo, hi]",
            "reliability": _reliability(probs, labels, cfg.n_bins),
            "temperature_scaling": {
                "temperature": t,
                "n_fit": int(len(fit)),
                "n_held_out": int(len(held)),
                "seed": ctx.seed,
                "before": before,
                "after": after,
                "reliability_before": _reliability(probs[held], labels[held], cfg.n_bins),
                "reliability_after": _reliability(probs_t, labels[held], cfg.n_bins),
            },
            "label_map": ctx.label_map.describe() if hasattr(ctx.label_map, "describe") else None,
        }
        return ProbeResult(metrics=metrics, data=data, samples=samples)
