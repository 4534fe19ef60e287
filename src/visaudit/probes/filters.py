"""3x3 convolution filter statistics (CNN Filter DB): weight-only, no data needed.

Maths in :mod:`visaudit.mechanics.filter_stats`. Each layer's filter distribution is stored
as per-DCT-coefficient histograms (``data["layers"][i]["hist"]``) so two models' records can be
compared per depth with :func:`visaudit.mechanics.filter_stats.depth_divergence`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from visaudit.probes.base import MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.probes.base import ProbeContext


@dataclass
class FilterStatsConfig(ProbeConfig):
    """Options.

    Attributes:
        sparsity_eps: a 2D filter is sparse when all ``|w|`` < eps x the layer's max ``|w|``.
        hist_bins: bins over [-1, 1] of the per-coefficient filter histograms.
        include_depthwise: also measure depthwise 3x3 convs (one input channel per group).
    """

    sparsity_eps: float = 0.01
    hist_bins: int = 21
    include_depthwise: bool = True


class FilterLayer(TypedDict):
    """Statistics of one 3x3 convolution (``mechanics.filter_stats.filter_stats`` plus its place)."""

    module: str
    depth: int  # index among the measured convs, input to output
    rel_depth: float  # depth / (number of measured convs - 1), 0 for a single conv
    shape: list[int]  # weight shape (out, in / groups, 3, 3)
    depthwise: bool
    n_filters: float  # 2D filters in the layer
    sparsity: float
    variance_entropy: float
    variance_entropy_norm: float
    variance_entropy_clean: float  # over the non-sparse filters only
    variance_entropy_clean_norm: float
    orthogonality: float
    hist: list[list[float]]  # 9 DCT coefficients x hist_bins, normalised per coefficient


class FilterStatsData(TypedDict):
    """``data`` of a filters record."""

    layers: list[FilterLayer]  # in module order (empty for a model without 3x3 convs)
    hist_bins: int
    basis: str  # basis the filter coefficients are expressed in


@register_probe
class FilterStatsProbe(Probe):
    """Sparsity, variance entropy and orthogonality of every 3x3 convolution."""

    name = "filters"
    version = 1
    Config = FilterStatsConfig
    Data = FilterStatsData
    needs_data = False
    metrics = {
        "sparsity": MetricSpec(False, "share of 2D filters with all |w| < 1% of the layer max"),
        "variance_entropy": MetricSpec(True, "entropy (log10) of the explained-variance spectrum of the 3x3 filters"),
        "variance_entropy_norm": MetricSpec(True, "variance entropy / the level random filters reach"),
        "orthogonality": MetricSpec(True, "1 - mean |cos| between distinct output filters"),
        "mean_sparsity": MetricSpec(False, "mean sparsity over the 3x3 conv layers"),
        "mean_variance_entropy_norm": MetricSpec(True, "mean normalised variance entropy over 3x3 conv layers"),
        "mean_orthogonality": MetricSpec(True, "mean orthogonality over the 3x3 conv layers"),
    }
    headline = "mean_variance_entropy_norm"

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        import numpy as np
        from torch import nn

        from visaudit.mechanics.filter_stats import filter_histograms, filter_stats

        cfg: FilterStatsConfig = ctx.config  # type: ignore[assignment]
        net = getattr(ctx.model, "net", ctx.model)
        convs = [
            (name, m)
            for name, m in net.named_modules()
            if isinstance(m, nn.Conv2d)
            and tuple(m.kernel_size) == (3, 3)
            and (cfg.include_depthwise or m.weight.shape[1] > 1)
        ]
        if not convs:
            empty: FilterStatsData = {"layers": [], "hist_bins": cfg.hist_bins, "basis": "dct3"}
            return ProbeResult(metrics={}, data=empty, warnings=["model has no 3x3 convolution"])
        rows: list[FilterLayer] = []
        metrics: dict[str, float] = {}
        for i, (name, m) in enumerate(convs):
            w = m.weight.detach().float().cpu()
            st = filter_stats(w, cfg.sparsity_eps)
            row: FilterLayer = {
                "module": name,
                "depth": i,
                "rel_depth": i / (len(convs) - 1) if len(convs) > 1 else 0.0,
                "shape": list(w.shape),
                "depthwise": bool(m.groups > 1 and m.groups == m.in_channels),
                "n_filters": st["n_filters"],
                "sparsity": st["sparsity"],
                "variance_entropy": st["variance_entropy"],
                "variance_entropy_norm": st["variance_entropy_norm"],
                "variance_entropy_clean": st["variance_entropy_clean"],
                "variance_entropy_clean_norm": st["variance_entropy_clean_norm"],
                "orthogonality": st["orthogonality"],
                "hist": filter_histograms(w, cfg.hist_bins, cfg.sparsity_eps).round(6).tolist(),
            }
            rows.append(row)
            for key in ("sparsity", "variance_entropy", "variance_entropy_norm", "orthogonality"):
                metrics[f"{key}@{name}"] = st[key]
        metrics["mean_sparsity"] = float(np.mean([r["sparsity"] for r in rows]))
        metrics["mean_variance_entropy_norm"] = float(np.mean([r["variance_entropy_norm"] for r in rows]))
        metrics["mean_orthogonality"] = float(np.mean([r["orthogonality"] for r in rows]))
        data: FilterStatsData = {"layers": rows, "hist_bins": cfg.hist_bins, "basis": "dct3"}
        return ProbeResult(metrics=metrics, data=data)
