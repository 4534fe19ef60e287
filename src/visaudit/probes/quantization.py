"""Per-layer quantization sensitivity and a greedy mixed-precision allocation.

One layer at a time, its weights are fake-quantised (symmetric, per output channel) at each
bit width and the change of top-1 and KL(float || quantised) on a fixed sample is recorded
(with prefix reuse: the layers before it are not recomputed). Layers are ranked by that
sensitivity; under a size budget (the size of the uniform model at ``budget_bits``) bits
are allocated greedily, and the mixed-precision model is evaluated against the uniform one
of the same size. Optionally the Hutchinson Hessian trace per layer gives a second ranking
(HAWQ-V2: ``tr(H)/n * ||Q(w) - w||^2``) whose rank correlation with the measured one is
reported. Maths in :mod:`visaudit.mechanics.quantize` and :mod:`visaudit.mechanics.hessian`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, TypedDict

import numpy as np

from visaudit.errors import VisauditError
from visaudit.probes.base import ChunkResult, MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.probes.base import Batch, ProbeContext


@dataclass
class QuantizationConfig(ProbeConfig):
    """Options.

    Attributes:
        bits: bit widths to try per layer (each >= 2).
        n_images: size of the fixed, seeded sample.
        include / exclude: regexes on module names (conv and linear layers are quantised).
        budget_bits: the size budget is the size of the uniform model at this width, which
            is evaluated too (it may lie outside ``bits``; then the mixed model cannot use it).
        sensitivity: what the greedy allocation minimises, ``"kl"`` (smooth on small
            samples) or ``"top1"`` (the accuracy drop).
        hessian_iters: Rademacher probes for the Hutchinson trace (0 = skip the Hessian).
        hessian_images: images used for the Hessian (the first of the sample).
        prefix_reuse: do not recompute layers before the quantised one.
    """

    # 3 is in the default widths so the mixed model can use the uniform model's width: with
    # only 8/6/4/2 a 3-bit budget forces half the weights to 2 bits, which measured far worse
    # (resnet20, 200 images: mixed 0.465 vs uniform 3-bit 0.670).
    bits: list[int] = field(default_factory=lambda: [8, 6, 4, 3, 2])
    n_images: int = 1000
    include: str = ""
    exclude: str = ""
    budget_bits: int = 3
    sensitivity: str = "kl"
    hessian_iters: int = 8
    hessian_images: int = 64
    prefix_reuse: bool = True


class QuantizationHessian(TypedDict):
    """Hutchinson Hessian traces per layer and the HAWQ-V2 ranking they give."""

    trace: dict[str, float]  # {module: tr(H)}
    hawq_score: dict[str, float]  # {module: tr(H)/n * ||Q(w) - w||^2 at ranking_bits}
    rank_corr_hawq: float  # Spearman, HAWQ-V2 score vs measured sensitivity
    rank_corr_trace_per_param: float  # Spearman, tr(H)/n vs measured sensitivity
    iters: int
    n_images: int


class _QuantizationSensitivityRequired(TypedDict):
    """The keys of every quantization-sensitivity record."""

    # one row per layer in depth order: "module", "numel", "depth", then per width b
    # "delta_top1_<b>bit" and "kl_<b>bit", and "hessian_trace" / "hawq_score" with the Hessian;
    # the per-width keys depend on the config, so a TypedDict cannot declare the row
    layers: list[dict[str, Any]]
    bits: list[int]  # widths tried per layer, highest first
    float_top1: float
    ranking: list[str]  # modules, most sensitive first (at ranking_bits)
    allocation: dict[str, int]  # {module: bits} of the greedy mixed-precision model
    budget_bits: int
    ranking_bits: int
    size_mb: dict[str, float]  # {"mixed" | "uniform_<b>bit": size}
    float_size_mb: float
    whole_model_top1: dict[str, float]  # same keys as size_mb
    whole_model_kl: dict[str, float]  # same keys as size_mb
    n_images: int


class QuantizationSensitivityData(_QuantizationSensitivityRequired, total=False):
    """``data`` of a quantization-sensitivity record."""

    hessian: QuantizationHessian  # present when hessian_iters > 0


@register_probe
class QuantizationSensitivityProbe(Probe):
    """Which layers tolerate low-bit weights; mixed precision versus uniform at equal size."""

    name = "quantization-sensitivity"
    version = 2  # 2: the Hessian trace is of one loss over the whole Hessian sample
    Config = QuantizationConfig
    Data = QuantizationSensitivityData
    needs_grad = True  # only for the optional Hessian trace
    metrics = {
        "delta_top1": MetricSpec(True, "top-1 change (fraction) when only this layer is quantised at this width"),
        "kl": MetricSpec(False, "KL(float || quantised) in nats, one layer quantised at this width"),
        "float_top1": MetricSpec(True, "top-1 of the float model on the sample"),
        "mixed_precision_top1": MetricSpec(True, "top-1 of the greedy mixed-precision model"),
        "uniform_top1": MetricSpec(
            True, "top-1 of the uniform model of the same size (budget_bits); uniform_top1@<b>bit: all layers at b bits"
        ),
        "mixed_minus_uniform_top1": MetricSpec(True, "mixed-precision minus uniform top-1 at equal size"),
        "hessian_rank_corr": MetricSpec(True, "Spearman correlation, HAWQ-V2 score vs measured sensitivity"),
    }
    random = True  # Rademacher probes of the Hessian trace
    headline = "mixed_precision_top1"

    def check(self, model: Any, dataset: Any) -> None:
        cfg: QuantizationConfig = self.config  # type: ignore[assignment]
        if not cfg.bits or min(cfg.bits) < 2:
            raise VisauditError("quantization-sensitivity: bits must be a non-empty list of widths >= 2")
        if not min(cfg.bits) <= cfg.budget_bits <= max(cfg.bits):
            raise VisauditError(
                f"quantization-sensitivity: budget_bits {cfg.budget_bits} is outside the widths {cfg.bits}"
            )
        if cfg.sensitivity not in ("kl", "top1"):
            raise VisauditError("quantization-sensitivity: sensitivity must be 'kl' or 'top1'")

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        import torch

        from visaudit.mechanics import criticality as C
        from visaudit.mechanics.hessian import hutchinson_traces, spearman
        from visaudit.mechanics.prefix_reuse import ModuleSwapScanner
        from visaudit.mechanics.quantize import fake_quantize, greedy_allocation, model_size_bits

        cfg: QuantizationConfig = ctx.config  # type: ignore[assignment]
        self.config = cfg
        self.check(None, None)
        model = ctx.model
        net = getattr(model, "net", model)
        example = torch.zeros(1, *model.info.input_size, device=ctx.device)
        scanner = ModuleSwapScanner(model, net, example, prefix_reuse=cfg.prefix_reuse)
        names = scanner.order(C.select_modules(net, ("conv", "linear"), cfg.include or None, cfg.exclude or None))
        if not names:
            raise VisauditError("quantization-sensitivity: no conv/linear layer matches the filters")
        mods = dict(net.named_modules())
        weights = {n: mods[n].weight.detach() for n in names}
        numels = {n: int(w.numel()) for n, w in weights.items()}
        bits = sorted(set(cfg.bits), reverse=True)
        uniform_bits = sorted(set(bits) | {cfg.budget_bits}, reverse=True)
        qw = {(n, b): fake_quantize(weights[n], b) for n in names for b in uniform_bits}
        variants = {n: [(j, {"weight": qw[(n, b)]}) for j, b in enumerate(bits)] for n in names}
        index = {n: i for i, n in enumerate(names)}
        from visaudit.engine.subset import seeded_sample

        sample = seeded_sample(ctx.indices, cfg.n_images, ctx.seed)

        def predict(logits: "torch.Tensor") -> "torch.Tensor":
            return ctx.scores(logits).argmax(dim=1)

        per_layer = C.scan_chunk_fn(ctx, scanner, variants, names, len(bits))

        with torch.no_grad():
            pl = ctx.map_chunks(per_layer, tag="per-layer", indices=sample, passes=1 + len(names) * len(bits))
        n = pl.n
        float_top1 = float(pl.sums["clean_correct"]) / n
        top1 = pl.sums["correct"] / n
        kl = pl.sums["kl"] / n
        metrics: dict[str, float] = {"float_top1": float_top1}
        rows = []
        for i, name in enumerate(names):
            row: dict[str, Any] = {"module": name, "numel": numels[name], "depth": i}
            for j, b in enumerate(bits):
                metrics[f"delta_top1@{name}/{b}bit"] = float(top1[i, j] - float_top1)
                metrics[f"kl@{name}/{b}bit"] = float(kl[i, j])
                row[f"delta_top1_{b}bit"] = float(top1[i, j] - float_top1)
                row[f"kl_{b}bit"] = float(kl[i, j])
            rows.append(row)

        # sensitivity per (layer, width), >= 0, for ranking and allocation
        sens = kl if cfg.sensitivity == "kl" else np.clip(float_top1 - top1, 0, None)
        sens_map = {n: {b: float(sens[i, j]) for j, b in enumerate(bits)} for i, n in enumerate(names)}
        # rank at the allocated width closest to the budget (the budget itself when it is one)
        jb = int(np.argmin([abs(b - cfg.budget_bits) for b in bits]))
        ranking = [names[i] for i in np.argsort(-sens[:, jb], kind="stable")]
        budget = model_size_bits(numels, {n: cfg.budget_bits for n in names})
        alloc = greedy_allocation(sens_map, numels, budget, tuple(bits))

        configs = {"mixed": alloc.bits, **{f"uniform_{b}bit": {n: b for n in names} for b in uniform_bits}}
        cfg_names = list(configs)

        def whole_model(batches: "Iterator[Batch]") -> ChunkResult:
            correct, kls = np.zeros(len(cfg_names)), np.zeros(len(cfg_names))
            n_seen = 0
            for b in batches:
                clean = ctx.logits(b.x)
                for k, cname in enumerate(cfg_names):
                    with contextlib.ExitStack() as stack:
                        for name, w in configs[cname].items():
                            stack.enter_context(scanner.swapped(name, {"weight": qw[(name, w)]}))
                        out = ctx.logits(b.x)
                    correct[k] += float((predict(out) == b.y).sum())
                    kls[k] += float(C.softmax_agreement(clean, out)[1].sum())
                n_seen += len(b.y)
            return ChunkResult(sums={"correct": correct, "kl": kls}, n=n_seen)

        with torch.no_grad():
            wm = ctx.map_chunks(
                whole_model,
                tag=f"whole-model-{cfg.sensitivity}-{cfg.budget_bits}",
                indices=sample,
                passes=1 + len(cfg_names),
            )
        whole = {c: float(wm.sums["correct"][k]) / wm.n for k, c in enumerate(cfg_names)}
        whole_kl = {c: float(wm.sums["kl"][k]) / wm.n for k, c in enumerate(cfg_names)}
        sizes_mb = {c: model_size_bits(numels, configs[c]) / 8 / 2**20 for c in cfg_names}
        metrics["mixed_precision_top1"] = whole["mixed"]
        metrics["uniform_top1"] = whole[f"uniform_{cfg.budget_bits}bit"]
        metrics["mixed_minus_uniform_top1"] = whole["mixed"] - whole[f"uniform_{cfg.budget_bits}bit"]
        for b in uniform_bits:
            metrics[f"uniform_top1@{b}bit"] = whole[f"uniform_{b}bit"]

        data: QuantizationSensitivityData = {
            "layers": rows,
            "bits": bits,
            "float_top1": float_top1,
            "ranking": ranking,
            "allocation": alloc.bits,
            "budget_bits": cfg.budget_bits,
            "ranking_bits": bits[jb],
            "size_mb": sizes_mb,
            "float_size_mb": sum(numels.values()) * 32 / 8 / 2**20,
            "whole_model_top1": whole,
            "whole_model_kl": whole_kl,
            "n_images": int(n),
        }

        if cfg.hessian_iters > 0:
            hidx = sample[: max(1, cfg.hessian_images)]
            params = {nm: mods[nm].weight for nm in names}
            # one loss over the whole Hessian sample, so the trace does not depend on the batch size
            parts = [(b.x.clone(), b.y.clone()) for b in ctx.batches(indices=hidx)]  # out of inference mode
            x = torch.cat([p[0] for p in parts])
            y = torch.cat([p[1] for p in parts])

            def loss_fn() -> "torch.Tensor":
                p = ctx.scores(ctx.logits(x)).clamp_min(1e-12)
                return torch.nn.functional.nll_loss(p.log(), y)

            traces = hutchinson_traces(loss_fn, params, cfg.hessian_iters, ctx.generator("hutchinson"))
            hawq = {
                nm: traces[nm] / numels[nm] * float(((qw[(nm, bits[jb])] - weights[nm]) ** 2).sum()) for nm in names
            }
            corr = spearman([hawq[nm] for nm in names], [float(sens[index[nm], jb]) for nm in names])
            corr_trace = spearman(
                [traces[nm] / numels[nm] for nm in names], [float(sens[index[nm], jb]) for nm in names]
            )
            metrics["hessian_rank_corr"] = corr
            data["hessian"] = {
                "trace": traces,
                "hawq_score": hawq,
                "rank_corr_hawq": corr,
                "rank_corr_trace_per_param": corr_trace,
                "iters": cfg.hessian_iters,
                "n_images": int(len(hidx)),
            }
            for r in rows:
                r["hessian_trace"] = traces[r["module"]]
                r["hawq_score"] = hawq[r["module"]]

        return ProbeResult(metrics=metrics, data=data)
