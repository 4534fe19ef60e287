"""Layer criticality probe: reset one layer at a time and measure how far the outputs move.

Definition in ``DESIGN.md`` (Gavrikov et al. 2024, "How Do Training Methods Influence the
Utilization of Vision Models?"); maths in :mod:`visaudit.mechanics.criticality`, prefix reuse
in :mod:`visaudit.mechanics.prefix_reuse`.

The defaults are the paper's, from its public code and table (github.com/paulgavrikov/
layer_criticality, ``code/main.py`` and ``raw-results/results.csv``): 10 000 images (20
batches of 500, a seeded shuffle), a fresh initialisation as the reset, conv and linear
modules only (the published table has no norm layers), selected by exact type as the code
does, and 3 trials (the table holds trials 0, 1, 2 for every model and layer).

Fast preset (:data:`FAST_PRESET`, ``LayerCriticalityConfig.fast()``): 1000 images and one
trial; the protocol is otherwise the same, the numbers noisier. Pass it as
``probe_config={"layer-criticality": FAST_PRESET}`` or the same mapping in a ``--config`` file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from visaudit.errors import VisauditError
from visaudit.probes.base import MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.probes.base import ProbeContext


def fixed_sample(ctx: "ProbeContext", n: int) -> np.ndarray:
    """Sorted dataset positions of a seeded sample of ``n`` images from the job's images.

    The job's images are its ``max_images`` subset when the runner has one, else the whole
    dataset; ``n`` <= 0 or larger than that keeps them all.
    """
    from visaudit.engine.subset import seeded_sample

    return seeded_sample(ctx.indices, n, ctx.seed)


#: fewer images and one trial; everything else as the paper (see the module docstring)
FAST_PRESET: dict[str, Any] = {"n_images": 1000, "trials": 1}


@dataclass
class LayerCriticalityConfig(ProbeConfig):
    """Options (defaults: the paper's protocol).

    Attributes:
        reset: ``"fresh"`` (a seeded fresh initialisation of the same architecture, one per
            trial) or ``"zeros"`` (parameters set to 0; one trial is enough).
        trials: fresh initialisations to average over (the published table: 3).
        n_images: size of the fixed, seeded sample (the paper: 10 000).
        kinds: module kinds to reset: ``conv``, ``linear``, ``norm`` (the published table:
            conv and linear).
        module_match: ``"exact"`` (the reference: the module's type is ``nn.Conv2d``,
            ``nn.Linear`` or ``nn.BatchNorm2d`` itself) or ``"subclass"`` (any subclass too,
            e.g. timm's ``Conv2dSame`` and ``BatchNormAct2d``, and LayerNorm / GroupNorm; a
            departure).
        include: only module names matching this regex ("" = all).
        exclude: drop module names matching this regex.
        reset_buffers: with ``fresh``, also reset running statistics of norm layers (the
            reference loads the fresh module's whole state, buffers included).
        prefix_reuse: reuse activations computed before the reset module (same result, faster).
    """

    reset: str = "fresh"
    trials: int = 3
    n_images: int = 10000
    kinds: list[str] = field(default_factory=lambda: ["conv", "linear"])
    module_match: str = "exact"
    include: str = ""
    exclude: str = ""
    reset_buffers: bool = True
    prefix_reuse: bool = True

    @classmethod
    def fast(cls, **overrides: Any) -> "LayerCriticalityConfig":
        """The fast preset (:data:`FAST_PRESET`), with any other option overridden."""
        return cls(**{**FAST_PRESET, **overrides})


class CriticalityLayer(TypedDict):
    """One reset module (``visaudit.mechanics.criticality.summarise``), in execution order."""

    module: str
    kind: str
    depth: int
    rel_depth: float
    criticality: float
    criticality_std: float
    top1: float
    top1_ratio: float
    kl: float


class LayerCriticalityData(TypedDict):
    """Per-module criticality and the protocol's settings."""

    layers: list[CriticalityLayer]
    clean_top1: float
    reset: str
    trials: int
    module_match: str
    kinds: list[str]
    n_images: int
    most_critical: list[str]


@register_probe
class LayerCriticalityProbe(Probe):
    """How much each layer's weights matter: reset it, measure the change of the softmax output."""

    name = "layer-criticality"
    version = 2
    Data = LayerCriticalityData
    Config = LayerCriticalityConfig
    metrics = {
        "criticality": MetricSpec(False, "(1 - mean cosine(softmax original, softmax reset)) x 100 for one module"),
        "mean_criticality": MetricSpec(False, "mean criticality over the reset modules"),
        "max_criticality": MetricSpec(False, "largest criticality over the reset modules"),
        "top1_reset": MetricSpec(True, "top-1 with one module reset (mean over trials)"),
        "clean_top1": MetricSpec(True, "top-1 of the unchanged model on the sample"),
    }
    headline = "mean_criticality"

    def check(self, model: Any, dataset: Any) -> None:
        cfg: LayerCriticalityConfig = self.config  # type: ignore[assignment]
        if cfg.reset not in ("fresh", "zeros"):
            raise VisauditError(f"layer-criticality: reset must be 'fresh' or 'zeros', got {cfg.reset!r}")
        if cfg.trials < 1:
            raise VisauditError("layer-criticality: trials must be >= 1")
        bad = set(cfg.kinds) - {"conv", "linear", "norm"}
        if bad:
            raise VisauditError(f"layer-criticality: unknown kinds {sorted(bad)}; use conv, linear, norm")
        if cfg.module_match not in ("exact", "subclass"):
            raise VisauditError(
                f"layer-criticality: module_match must be 'exact' or 'subclass', got {cfg.module_match!r}"
            )

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        import torch

        from visaudit.mechanics import criticality as C
        from visaudit.mechanics.prefix_reuse import ModuleSwapScanner

        cfg: LayerCriticalityConfig = ctx.config  # type: ignore[assignment]
        model = ctx.model
        net = getattr(model, "net", model)
        warnings: list[str] = []
        example = torch.zeros(1, *model.info.input_size, device=ctx.device)
        scanner = ModuleSwapScanner(model, net, example, prefix_reuse=cfg.prefix_reuse)
        names = scanner.order(
            C.select_modules(net, cfg.kinds, cfg.include or None, cfg.exclude or None, match=cfg.module_match)
        )
        if not names:
            raise VisauditError("layer-criticality: no module matches the kinds/include/exclude filters")
        mods = dict(net.named_modules())
        kinds = [C.module_kind(mods[n]) or "" for n in names]

        trials = cfg.trials
        if cfg.reset == "zeros":
            if trials > 1:
                warnings.append("reset='zeros' is deterministic: trials set to 1")
            trials = 1
            variants = {n: [(0, C.zero_state(mods[n]))] for n in names}
        else:
            variants = {n: [] for n in names}
            for k in range(trials):
                states, warn = C.fresh_states(model, names, seed=ctx.seed + k, buffers=cfg.reset_buffers)
                if warn and warn not in warnings:
                    warnings.append(warn)
                for n in names:
                    variants[n].append((k, {key: v.to(ctx.device) for key, v in states[n].items()}))

        sample = fixed_sample(ctx, cfg.n_images)
        chunk = C.scan_chunk_fn(ctx, scanner, variants, names, trials)

        passes = 1 + sum(len(v) for v in variants.values())  # the clean pass, then one per module and trial
        merged = ctx.map_chunks(chunk, tag=f"criticality-{cfg.reset}", indices=sample, passes=passes)
        rows = C.summarise(names, kinds, merged.sums, merged.n)
        metrics: dict[str, float] = {f"criticality@{r['module']}": r["criticality"] for r in rows}
        metrics.update({f"top1_reset@{r['module']}": r["top1"] for r in rows})
        crit = np.array([r["criticality"] for r in rows])
        metrics["mean_criticality"] = float(crit.mean())
        metrics["max_criticality"] = float(crit.max())
        clean_top1 = float(merged.sums["clean_correct"]) / merged.n
        metrics["clean_top1"] = clean_top1
        data: LayerCriticalityData = {
            "layers": rows,  # type: ignore[typeddict-item]  # summarise() builds exactly these keys
            "clean_top1": clean_top1,
            "reset": cfg.reset,
            "trials": trials,
            "module_match": cfg.module_match,
            "kinds": list(cfg.kinds),
            "n_images": int(merged.n),
            "most_critical": [r["module"] for r in sorted(rows, key=lambda r: -r["criticality"])[:5]],
        }
        return ProbeResult(metrics=metrics, data=data, warnings=warnings)
