"""Spectral bias: accuracy on low-/high-pass filtered images and a Fourier sensitivity map.

Protocol (Gavrikov & Keuper 2024, "Can Biases in ImageNet Models Explain Generalization?",
public code github.com/paulgavrikov/biases_vs_generalization: ``code/eval_spectral.py`` for
the filters, ``code/plots.ipynb`` for LPP/HPP): each image is filtered in the Fourier domain
with the reference's centred square mask (:mod:`visaudit.perturb.spectral`) at cutoff
c in {0.1, ..., 0.5} and clipped to [0,1]; the low-pass keeps the lowest fraction c of the
frequencies, the high-pass the highest fraction c. LPP / HPP = mean over the cutoffs of the
low-pass / high-pass accuracy; spectral bias = HPP / (LPP + HPP).

The published LPP / HPP (``metric/bandpass/LFC|HFC/<c>`` in the paper's benchmark table,
plotted as "Ratio of Clean Accuracy") are accuracies divided by the clean accuracy: the
record carries both, ``lpp`` / ``hpp`` (fractions of images) and ``lpp_relative`` /
``hpp_relative`` (ratios to ``top1_clean``); spectral bias is the same for both, since the
ratio cancels.

The Fourier sensitivity map (Yin et al. 2019) is the error rate when a single Fourier
basis image of L2 norm ``fourier_eps`` (random sign per image and channel) is added, on a
grid of frequencies; it is stored as a .npy array and a PNG.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from visaudit.probes.base import ChunkResult, MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from visaudit.probes.base import ProbeContext


@dataclass
class SpectralBiasConfig(ProbeConfig):
    """Options of the spectral-bias probe.

    Attributes:
        cutoffs: filter cutoffs as fractions of the half size.
        fourier_map: also compute the Fourier sensitivity map.
        fourier_images: images used for the map (the first ones of the job's images).
        fourier_steps: frequencies per axis half (0..size/2 in this many steps); the map
            covers f_y in [-size/2, size/2] and f_x in [0, size/2] and is mirrored.
        fourier_eps: L2 norm of the added basis image per channel (Yin et al. use 4).
    """

    cutoffs: list[float] = field(default_factory=lambda: [0.1, 0.2, 0.3, 0.4, 0.5])
    fourier_map: bool = True
    fourier_images: int = 32
    fourier_steps: int = 5
    fourier_eps: float = 4.0


def spectral_bias_from_curves(
    low: "list[float] | np.ndarray", high: "list[float] | np.ndarray", clean: float | None = None
) -> dict[str, float]:
    """LPP, HPP (mean accuracies over cutoffs), spectral bias = HPP / (LPP + HPP) and, given the
    clean accuracy, LPP / HPP relative to it (the published form).

    Example:
        >>> spectral_bias_from_curves([0.2, 0.4], [0.1, 0.1])["spectral_bias"]
        0.25
        >>> round(spectral_bias_from_curves([0.2, 0.4], [0.1, 0.1], clean=0.5)["lpp_relative"], 6)
        0.6
    """
    lpp = float(sum(low) / len(low))
    hpp = float(sum(high) / len(high))
    total = lpp + hpp
    out = {"lpp": lpp, "hpp": hpp, "spectral_bias": hpp / total if total > 0 else float("nan")}
    if clean is not None:
        nan = float("nan")
        out["lpp_relative"] = lpp / clean if clean > 0 else nan
        out["hpp_relative"] = hpp / clean if clean > 0 else nan
    return out


class FourierMap(TypedDict):
    """Error rate under an additive Fourier basis image per (f_y, f_x)."""

    f_y: list[int]
    f_x: list[int]
    error: list[list[float]]
    eps: float
    n_images: int


class _SpectralBiasRequired(TypedDict):
    cutoffs: list[float]
    lowpass_top1: list[float]
    highpass_top1: list[float]
    n_images: int
    lpp_hpp: dict[str, str]  # what LPP / HPP and their relative forms mean
    filters: str  # the filter definition in words


class SpectralBiasData(_SpectralBiasRequired, total=False):
    """The low-/high-pass curves; ``fourier_map`` when the map was made (``fourier_map`` option)."""

    fourier_map: FourierMap


@register_probe
class SpectralBiasProbe(Probe):
    """Low-/high-pass accuracy, LPP, HPP, spectral bias and the Fourier sensitivity map."""

    name = "spectral-bias"
    version = 2
    random = True  # the Fourier map's random signs
    Data = SpectralBiasData
    Config = SpectralBiasConfig
    headline = "spectral_bias"
    metrics = {
        "lpp": MetricSpec(True, "mean accuracy (fraction of images) over low-pass cutoffs 0.1..0.5"),
        "hpp": MetricSpec(True, "mean accuracy (fraction of images) over high-pass cutoffs 0.1..0.5"),
        "lpp_relative": MetricSpec(True, "LPP / clean accuracy, the form the paper publishes"),
        "hpp_relative": MetricSpec(True, "HPP / clean accuracy, the form the paper publishes"),
        "spectral_bias": MetricSpec(True, "HPP / (LPP + HPP): share of high-frequency reliance"),
        "top1_clean": MetricSpec(True, "accuracy on the unfiltered images"),
        "top1_lowpass": MetricSpec(True, "accuracy on low-pass images at a cutoff"),
        "top1_highpass": MetricSpec(True, "accuracy on high-pass images at a cutoff"),
        "fourier_error_mean": MetricSpec(False, "mean error rate over the Fourier sensitivity map"),
    }

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        import numpy as np

        from visaudit.perturb.spectral import highpass, lowpass

        cfg: SpectralBiasConfig = ctx.config  # type: ignore[assignment]
        cutoffs = [float(c) for c in cfg.cutoffs]

        def correct(x: Any, y: Any) -> int:
            return int((ctx.scores(ctx.logits(x)).argmax(dim=1) == y).sum())

        def fn(batches: Any) -> ChunkResult:
            low = np.zeros(len(cutoffs))
            high = np.zeros(len(cutoffs))
            clean = 0
            n = 0
            for b in batches:
                clean += correct(b.x, b.y)
                for i, c in enumerate(cutoffs):
                    low[i] += correct(lowpass(b.x, c), b.y)
                    high[i] += correct(highpass(b.x, c), b.y)
                n += len(b.y)
            return ChunkResult(sums={"low": low, "high": high, "clean": np.array([clean])}, n=n)

        merged = ctx.map_chunks(fn, tag="filters", passes=1 + 2 * len(cutoffs))
        n = max(merged.n, 1)
        low_acc = (merged.sums["low"] / n).tolist()
        high_acc = (merged.sums["high"] / n).tolist()
        clean_acc = float(merged.sums["clean"][0] / n)
        metrics = spectral_bias_from_curves(low_acc, high_acc, clean_acc)
        metrics["top1_clean"] = clean_acc
        for c, lo, hi in zip(cutoffs, low_acc, high_acc):
            metrics[f"top1_lowpass@{c:g}"] = float(lo)
            metrics[f"top1_highpass@{c:g}"] = float(hi)
        data: SpectralBiasData = {
            "cutoffs": cutoffs,
            "lowpass_top1": low_acc,
            "highpass_top1": high_acc,
            "n_images": int(merged.n),
            "lpp_hpp": {
                "lpp, hpp": "mean accuracy over the cutoffs, fraction of images",
                "lpp_relative, hpp_relative": "the same divided by top1_clean (as published)",
            },
            "filters": "reference square mask: low-pass keeps frequencies -r..r-1, r = int(c * size//2); "
            "high-pass removes the low-pass square at 1 - c",
        }
        artifacts: dict[str, bytes] = {}
        if cfg.fourier_map and cfg.fourier_images > 0:
            fmap, fy, fx, n_map = self._fourier_map(ctx, cfg)
            metrics["fourier_error_mean"] = float(fmap.mean())
            data["fourier_map"] = {
                "f_y": fy,
                "f_x": fx,
                "error": fmap.round(5).tolist(),
                "eps": cfg.fourier_eps,
                "n_images": n_map,
            }
            import io

            buf = io.BytesIO()
            np.save(buf, fmap)
            artifacts["fourier_map.npy"] = buf.getvalue()  # the report draws the map from data["fourier_map"]
        return ProbeResult(metrics=metrics, data=data, artifacts=artifacts)

    def _fourier_map(
        self, ctx: "ProbeContext", cfg: SpectralBiasConfig
    ) -> tuple["np.ndarray", list[int], list[int], int]:
        import numpy as np
        import torch

        from visaudit.perturb.spectral import add_fourier_basis, fourier_basis, fourier_grid_frequencies

        h, w = (int(v) for v in ctx.model.info.input_size[-2:])
        pos = fourier_grid_frequencies(min(h, w), cfg.fourier_steps)
        fy = [-v for v in reversed(pos[1:])] + pos
        fx = pos
        indices = np.asarray(ctx.indices)[: cfg.fourier_images]  # the first images of the job's subset

        def fn(batches: Any) -> ChunkResult:
            errors = np.zeros((len(fy), len(fx)))
            n = 0
            for b in batches:
                for i, f1 in enumerate(fy):
                    for j, f2 in enumerate(fx):
                        if f1 < 0 and f2 == 0:
                            continue  # mirror of (-f1, 0), filled below
                        u = fourier_basis(h, w, f1, f2, device=b.x.device)
                        gen = ctx.sample_rng(f"fourier/{f1}/{f2}", b.index)  # signs per image, any batching
                        pred = ctx.scores(ctx.logits(add_fourier_basis(b.x, u, cfg.fourier_eps, gen))).argmax(dim=1)
                        errors[i, j] += float((pred != b.y).sum())
                n += len(b.y)
            return ChunkResult(sums={"errors": errors}, n=n)

        with torch.no_grad():
            cells = sum(1 for f1 in fy for f2 in fx if not (f1 < 0 and f2 == 0))
            merged = ctx.map_chunks(fn, tag="fourier", indices=indices, passes=cells)
        fmap = merged.sums["errors"] / max(merged.n, 1)
        for i, f1 in enumerate(fy):
            if f1 < 0:
                fmap[i, 0] = fmap[fy.index(-f1), 0]
        return fmap, fy, fx, int(merged.n)
