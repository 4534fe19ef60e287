"""``nuisance-sweeps``: accuracy as a function of brightness, contrast, saturation, hue, blur,
noise, JPEG quality, rotation and translation, with the normalised area under each curve,
plus prediction consistency under 1-pixel shifts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, TypedDict

import numpy as np

from visaudit.errors import VisauditError
from visaudit.probes.base import ChunkResult, MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.probes.base import Batch, ProbeContext

KNOB_NAMES = ("brightness", "contrast", "saturation", "hue", "blur", "noise", "jpeg", "rotation", "translation")


@dataclass
class NuisanceSweepsConfig(ProbeConfig):
    """Options of the nuisance-sweeps probe.

    Attributes:
        knobs: which nuisances to sweep.
        steps: points per sweep (the default grids are in ``visaudit.perturb.nuisance.default_grid``).
        grids: optional explicit grids ``{knob: [values]}`` replacing the defaults.
        shift_window: shifts of up to this many pixels in x and y (excluding 0, 0) for consistency.
        examples: images in the example sheet (0 = none).
    """

    knobs: list[str] = field(default_factory=lambda: list(KNOB_NAMES))
    steps: int = 9
    grids: dict[str, list[float]] = field(default_factory=dict)
    shift_window: int = 1
    examples: int = 1


class NuisanceCurve(TypedDict):
    """Top-1 over one knob's grid (same length lists)."""

    value: list[float]  # nuisance strength, in ``unit``
    top1: list[float]
    unit: str
    neutral: float  # the value that leaves the image unchanged


class NuisanceSweepsData(TypedDict):
    """``data`` of a nuisance-sweeps record."""

    curves: dict[str, NuisanceCurve]  # {knob: curve}, the configured knobs in order
    shift_window: int
    shifts: list[list[int]]  # every (dy, dx) of the consistency check
    shift_border: str  # how shifted-in pixels are filled
    n: float  # images measured (summed as a float)


@register_probe
class NuisanceSweepsProbe(Probe):
    """Accuracy curves over continuous nuisances, their normalised AUC, and shift consistency."""

    name = "nuisance-sweeps"
    version = 2  # 2: the noise knob draws per image (seeded by its dataset position)
    random = True
    Config = NuisanceSweepsConfig
    Data = NuisanceSweepsData
    headline = "shift_consistency"
    metrics = {
        "auc": MetricSpec(True, "normalised area under accuracy vs nuisance strength (mean top-1 over the range)"),
        "shift_consistency": MetricSpec(True, "share of images whose top-1 is the same for every shift in the window"),
        "shift_flip_rate": MetricSpec(False, "share of images whose top-1 changes for some shift in the window"),
        "clean_top1": MetricSpec(True, "top-1 on the clean images"),
    }

    def check(self, model, dataset) -> None:
        cfg = self.config
        bad = [k for k in list(cfg.knobs) + list(cfg.grids) if k not in KNOB_NAMES]
        if bad:
            import difflib

            hints = [
                f"{k!r}"
                + (
                    f" (did you mean {difflib.get_close_matches(k, KNOB_NAMES, 1)[0]!r}?)"
                    if difflib.get_close_matches(k, KNOB_NAMES, 1)
                    else ""
                )
                for k in bad
            ]
            raise VisauditError(f"unknown nuisance knob(s) {', '.join(hints)}; known: {', '.join(KNOB_NAMES)}")
        if cfg.steps < 2:
            raise VisauditError("steps must be at least 2")
        if cfg.shift_window < 1:
            raise VisauditError("shift_window must be at least 1")

    def _grids(self, side: int) -> dict[str, list[float]]:
        from visaudit.perturb.nuisance import default_grid

        return {
            k: [float(v) for v in self.config.grids.get(k, default_grid(k, side, self.config.steps))]
            for k in self.config.knobs
        }

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        import torch

        from visaudit.perturb.nuisance import KNOBS, normalised_auc, shift_replicate

        side = int(min(ctx.model.info.input_size[1:]))
        grids = self._grids(side)
        win = int(self.config.shift_window)
        shifts = [(dy, dx) for dy in range(-win, win + 1) for dx in range(-win, win + 1) if (dy, dx) != (0, 0)]

        def predict(x: "torch.Tensor") -> "torch.Tensor":
            return ctx.scores(ctx.logits(x)).argmax(1)

        def chunk(batches: Iterator["Batch"]) -> ChunkResult:
            sums = {k: np.zeros(len(v)) for k, v in grids.items()}
            consistent, clean, n = 0.0, 0.0, 0
            for b in batches:
                base = predict(b.x)
                clean += float((base == b.y).sum())
                for k, values in grids.items():
                    g = ctx.sample_rng(f"nuisance/{k}", b.index)
                    for i, v in enumerate(values):
                        sums[k][i] += float((predict(KNOBS[k].fn(b.x, v, g)) == b.y).sum())
                same = torch.ones_like(base, dtype=torch.bool)
                for dy, dx in shifts:
                    same &= predict(shift_replicate(b.x, dy, dx)) == base
                consistent += float(same.sum())
                n += len(b.y)
            out = {f"knob:{k}": v for k, v in sums.items()}
            out.update(consistent=np.asarray(consistent), clean=np.asarray(clean), n=np.asarray(float(n)))
            return ChunkResult(sums=out, n=n)

        merged = ctx.map_chunks(chunk, tag="nuisance")
        n = float(merged.sums.get("n", 0))
        if n == 0:
            raise VisauditError(f"no image of {ctx.dataset.name} could be read")
        metrics: dict[str, float] = {"clean_top1": float(merged.sums["clean"]) / n}
        curves: dict[str, NuisanceCurve] = {}
        for k, values in grids.items():
            acc = merged.sums[f"knob:{k}"] / n
            metrics[f"auc@{k}"] = normalised_auc(values, list(acc))
            curves[k] = {
                "value": values,
                "top1": [float(a) for a in acc],
                "unit": KNOBS[k].unit,
                "neutral": KNOBS[k].neutral,
            }
        metrics["shift_consistency"] = float(merged.sums["consistent"]) / n
        metrics["shift_flip_rate"] = 1.0 - metrics["shift_consistency"]
        data: NuisanceSweepsData = {
            "curves": curves,
            "shift_window": win,
            "shifts": [list(s) for s in shifts],
            "shift_border": "edge pixels repeated",
            "n": n,
        }
        artifacts = {}
        if self.config.examples:
            artifacts["nuisance_examples.png"] = self._examples(ctx, grids)
        return ProbeResult(metrics=metrics, data=data, artifacts=artifacts)

    def _examples(self, ctx: "ProbeContext", grids: dict[str, list[float]]) -> bytes:
        from visaudit.perturb.nuisance import KNOBS
        from visaudit.probes.example_images import grid_png, to_hwc

        idx = np.arange(min(int(self.config.examples), len(ctx.dataset)))
        batch = next(iter(ctx.batches(indices=idx)))
        rows = []
        for k, values in grids.items():
            g = ctx.generator(f"examples/{k}")
            picks = [
                values[0],
                values[len(values) // 4],
                values[len(values) // 2],
                values[3 * len(values) // 4],
                values[-1],
            ]
            for j in range(len(batch.y)):
                rows.append([to_hwc(KNOBS[k].fn(batch.x[j : j + 1], v, g)[0]) for v in picks])
        return grid_png(rows, scale=max(1, 96 // batch.x.shape[-1]))
