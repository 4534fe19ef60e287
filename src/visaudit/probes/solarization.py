"""``solarization``: universal threshold sweep and the RandSol black-box attack (Gavrikov et al.).

Sweep: accuracy when every image is solarized at the same threshold t = 0, 0.01, ..., 1; the
worst t is reported. RandSol: every image gets a random threshold t ~ U(0, 1); images that are
still classified correctly get a new threshold, for ``randsol_iterations`` rounds; robust
accuracy is the share of images that every one of their thresholds left correct.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, TypedDict

import numpy as np

from visaudit.errors import VisauditError
from visaudit.probes.base import ChunkResult, MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.probes.base import Batch, ProbeContext


@dataclass
class SolarizationConfig(ProbeConfig):
    """Options of the solarization probe.

    Attributes:
        step: threshold step of the universal sweep (0.01 in the paper).
        randsol_iterations: rounds of RandSol (10 in the paper).
        examples: images in the example sheet (0 = none).
    """

    step: float = 0.01
    randsol_iterations: int = 10
    examples: int = 2


class SolarizationSweep(TypedDict):
    """Top-1 at each universal threshold (same length lists)."""

    threshold: list[float]  # t = 0, step, ..., 1
    top1: list[float]


class RandSolCurve(TypedDict):
    """Robust top-1 after each RandSol round (same length lists)."""

    iteration: list[int]  # 1 .. randsol_iterations
    robust_top1: list[float]  # non-increasing; the last is ``randsol_top1``


class SolarizationData(TypedDict):
    """``data`` of a solarization record."""

    sweep: SolarizationSweep
    randsol: RandSolCurve
    rule: str  # which pixels are inverted
    n: float  # images measured (summed as a float)


@register_probe
class SolarizationProbe(Probe):
    """Accuracy under solarization: threshold sweep (worst case) and RandSol robust accuracy."""

    name = "solarization"
    version = 2  # 2: RandSol thresholds drawn per image (seeded by its dataset position)
    random = True
    Config = SolarizationConfig
    Data = SolarizationData
    headline = "randsol_top1"
    metrics = {
        "sweep_worst_top1": MetricSpec(True, "lowest top-1 over the universal threshold sweep"),
        "sweep_worst_threshold": MetricSpec(True, "threshold of the lowest top-1 (informative, not better/worse)"),
        "sweep_mean_top1": MetricSpec(True, "mean top-1 over the sweep"),
        "randsol_top1": MetricSpec(True, "robust top-1 under RandSol (per-image random thresholds)"),
        "clean_top1": MetricSpec(True, "top-1 on the clean images"),
    }

    def check(self, model, dataset) -> None:
        cfg = self.config
        if not (0 < cfg.step <= 0.5):
            raise VisauditError(f"step must be in (0, 0.5], got {cfg.step}")
        if cfg.randsol_iterations < 1:
            raise VisauditError(f"randsol_iterations must be at least 1, got {cfg.randsol_iterations}")

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        import torch

        from visaudit.perturb.solarize import solarize, sweep_thresholds
        from visaudit.rng import rand

        cfg = self.config
        ts = sweep_thresholds(cfg.step)

        def predict(x: "torch.Tensor") -> "torch.Tensor":
            return ctx.scores(ctx.logits(x)).argmax(1)

        def chunk(batches: Iterator["Batch"]) -> ChunkResult:
            sweep = np.zeros(len(ts))
            robust_curve = np.zeros(cfg.randsol_iterations)
            clean = 0.0
            n = 0
            for b in batches:
                clean += float((predict(b.x) == b.y).sum())
                for i, t in enumerate(ts):
                    sweep[i] += float((predict(solarize(b.x, t)) == b.y).sum())
                g = ctx.sample_rng("randsol", b.index)
                alive = torch.ones(len(b.y), dtype=torch.bool, device=b.x.device)
                for it in range(cfg.randsol_iterations):
                    t = rand(g, (len(b.y),), device=b.x.device)
                    idx = alive.nonzero().flatten()
                    if idx.numel():
                        ok = predict(solarize(b.x[idx], t[idx])) == b.y[idx]
                        alive[idx[~ok]] = False
                    robust_curve[it] += float(alive.sum())
                n += len(b.y)
            return ChunkResult(
                sums={"sweep": sweep, "robust": robust_curve, "clean": np.asarray(clean), "n": np.asarray(float(n))},
                n=n,
            )

        merged = ctx.map_chunks(chunk, tag="solarization")
        n = float(merged.sums.get("n", 0))
        if n == 0:
            raise VisauditError(f"no image of {ctx.dataset.name} could be read")
        sweep = merged.sums["sweep"] / n
        robust = merged.sums["robust"] / n
        worst = int(np.argmin(sweep))
        metrics = {
            "sweep_worst_top1": float(sweep[worst]),
            "sweep_worst_threshold": float(ts[worst]),
            "sweep_mean_top1": float(sweep.mean()),
            "randsol_top1": float(robust[-1]),
            "clean_top1": float(merged.sums["clean"]) / n,
        }
        data: SolarizationData = {
            "sweep": {"threshold": ts, "top1": [float(v) for v in sweep]},
            "randsol": {
                "iteration": list(range(1, cfg.randsol_iterations + 1)),
                "robust_top1": [float(v) for v in robust],
            },
            "rule": "pixels >= t are inverted (PIL ImageOps.solarize)",
            "n": n,
        }
        artifacts = {}
        if cfg.examples:
            artifacts["solarization_examples.png"] = self._examples(ctx, [0.0, 0.25, 0.5, 0.75, ts[worst]])
        return ProbeResult(metrics=metrics, data=data, artifacts=artifacts)

    def _examples(self, ctx: "ProbeContext", thresholds: list[float]) -> bytes:
        from visaudit.perturb.solarize import solarize
        from visaudit.probes.example_images import grid_png, to_hwc

        idx = np.arange(min(int(self.config.examples), len(ctx.dataset)))
        batch = next(iter(ctx.batches(indices=idx)))
        rows = [
            [to_hwc(batch.x[j])] + [to_hwc(solarize(batch.x[j : j + 1], t)[0]) for t in thresholds]
            for j in range(len(batch.y))
        ]
        return grid_png(rows, scale=max(1, 96 // batch.x.shape[-1]))
