"""``disagreement`` (mode 2): optimise real images so that two models disagree most.

Starting from each real image, maximise ``p_A(k) - p_B(k)`` inside an Lp ball
(:func:`visaudit.attacks.disagreement.maximise_disagreement`), where A is the job's model, B the
model named by ``other`` and k the image's true class (``target="label"``) or A's clean top-1
(``"pred"``). A large optimised gap at a small radius exposes a systematic difference: a
direction along which A keeps recognising the class and B loses it.

Mode 1 (ranking the dataset's real images by a disagreement score, from the store alone, no
model loaded) is not a job: :func:`visaudit.report.disagreement.rank_disagreement`.

Model B is loaded by the probe (the runner gives a job one model); its identity and weights
fingerprint are part of the job's key (:meth:`DisagreementProbe.inputs`), and it runs in the
job's precision (``ctx.autocast``) but outside the context's NaN/Inf and pass counting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from visaudit.errors import VisauditError
from visaudit.probes.base import MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe
from visaudit.probes.thumbnails import GalleryItem

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.probes.base import ProbeContext

# ``other="auto"``: a second zoo model of the same label space
AUTO_OTHER = {
    "cifar10": ("cifar10_resnet56", "cifar10_resnet20"),
    "imagenet1k": ("efficientnet_lite1", "efficientnet_lite0"),
}


@dataclass
class DisagreementConfig(ProbeConfig):
    """Options.

    Attributes:
        other: model B's spec; ``auto``: another zoo model of A's label space (CIFAR-10:
            ``cifar10_resnet56``, or ``cifar10_resnet20`` when A is it; ImageNet: EfficientNet-Lite1 / 0).
        target: class k per image: ``label`` (true class) or ``pred`` (A's clean top-1).
        norm: ``l2`` or ``linf``.
        eps: the ball's radius in [0, 1] pixel units.
        n_iter: optimisation steps.
        gallery: images with the largest optimised gap stored as artifacts.
    """

    other: str = "auto"
    target: str = "label"
    norm: str = "l2"
    eps: float = 0.5
    n_iter: int = 20
    gallery: int = 8


class DisagreementData(TypedDict):
    """``data`` of a disagreement record."""

    other: str  # model B's name
    target: str
    norm: str
    eps: float
    n_iter: int
    score: str  # the objective, in words
    n: int
    gallery: list[GalleryItem]  # original, optimised image, difference


@register_probe
class DisagreementProbe(Probe):
    """Maximise ``p_A(k) - p_B(k)`` in an Lp ball around real images (A: this model, B: ``other``)."""

    name = "disagreement"
    version = 1
    Config = DisagreementConfig
    Data = DisagreementData
    needs_grad = True
    chunk_size = 256
    headline = "optimised_gap"
    metrics = {
        "clean_gap": MetricSpec(True, "mean p_A(k) - p_B(k) on the real images"),
        "optimised_gap": MetricSpec(True, "mean p_A(k) - p_B(k) after optimisation in the ball"),
        "split_rate": MetricSpec(True, "share of optimised images A classifies as k and B does not"),
    }

    def _other(self, model: Any) -> str:
        cfg: DisagreementConfig = self.config  # type: ignore[assignment]
        if cfg.other != "auto":
            return cfg.other
        pair = AUTO_OTHER.get(getattr(model, "label_space", ""))
        if pair is None:
            raise VisauditError(
                f"disagreement: no default second model for label space {getattr(model, 'label_space', '?')!r}; "
                "name one with the option 'other'"
            )
        return pair[1] if getattr(model, "name", "") == pair[0] else pair[0]

    def check(self, model: Any, dataset: Any) -> None:
        cfg: DisagreementConfig = self.config  # type: ignore[assignment]
        if cfg.eps <= 0:
            raise VisauditError(f"disagreement: the radius eps must be > 0, got {cfg.eps}")
        if cfg.norm not in ("l2", "linf"):
            raise VisauditError(f"disagreement: norm must be 'l2' or 'linf', not {cfg.norm!r}")
        if cfg.target not in ("label", "pred"):
            raise VisauditError(f"disagreement: target must be 'label' or 'pred', not {cfg.target!r}")
        if cfg.n_iter < 1 or cfg.gallery < 0:
            raise VisauditError("disagreement: n_iter >= 1 and gallery >= 0")
        self._other(model)

    def inputs(self, model: Any, dataset: Any) -> dict[str, Any]:
        """Model B's identity and weights fingerprint: another B is another job."""
        from visaudit.models import resolve_model, weights_fingerprint

        source = resolve_model(self._other(model))
        info = source.info()
        info.weights_sha256 = weights_fingerprint(source)
        return {"other": info.identity()}

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        import pandas as pd
        import torch

        from visaudit.attacks.disagreement import maximise_disagreement
        from visaudit.models import load_model

        cfg: DisagreementConfig = ctx.config  # type: ignore[assignment]
        spec = self._other(ctx.model.info)
        other = load_model(spec, device=str(ctx.device)).eval()
        a, b = ctx.model.info, other.info
        if (a.label_space, a.num_classes) != (b.label_space, b.num_classes):
            raise VisauditError(
                f"disagreement: {a.name} ({a.label_space}, {a.num_classes} outputs) and {b.name} "
                f"({b.label_space}, {b.num_classes}) do not share a label space"
            )
        if tuple(a.input_size) != tuple(b.input_size):
            raise VisauditError(f"disagreement: input sizes differ: {a.input_size} vs {b.input_size}")
        for p in other.parameters():
            p.requires_grad_(False)

        def probs_a(x: torch.Tensor) -> torch.Tensor:
            return ctx.scores(ctx.logits(x))

        def probs_b(x: torch.Tensor) -> torch.Tensor:
            with ctx.autocast():
                z = other(x)
            return ctx.scores(z.float())  # same label space, so the same map

        show = set(int(i) for i in ctx.indices[: max(cfg.gallery * 4, cfg.gallery)])

        def fn(batches: Any) -> Any:
            from visaudit.probes.attributions import require_gradients
            from visaudit.probes.base import ChunkResult

            rows, kept = [], {"x": [], "adv": [], "index": [], "gap": [], "k": []}
            for bt in batches:
                with torch.no_grad():
                    k = probs_a(bt.x).argmax(1) if cfg.target == "pred" else bt.y
                require_gradients(probs_a, bt.x[:1], f"disagreement ({a.name})")
                require_gradients(probs_b, bt.x[:1], f"disagreement ({b.name})")
                out = maximise_disagreement(probs_a, probs_b, bt.x, k, norm=cfg.norm, eps=cfg.eps, n_iter=cfg.n_iter)
                with torch.no_grad():
                    pa, pb = probs_a(out.x_adv), probs_b(out.x_adv)
                split = (pa.argmax(1) == k) & (pb.argmax(1) != k)
                dist = (out.x_adv - bt.x).flatten(1)
                d = dist.abs().amax(1) if cfg.norm == "linf" else dist.norm(dim=1)
                rows.append(
                    pd.DataFrame(
                        {
                            "sample_id": bt.ids,
                            "label": bt.y.cpu().numpy(),
                            "target": k.cpu().numpy(),
                            "clean_gap": out.gap_clean.detach().cpu().numpy(),
                            "optimised_gap": out.gap.detach().cpu().numpy(),
                            "split": split.cpu().numpy(),
                            "distance": d.detach().cpu().numpy(),
                        }
                    )
                )
                keep = [i for i, p in enumerate(bt.index) if int(p) in show]
                if keep:
                    kept["x"].append(bt.x[keep].cpu().numpy())
                    kept["adv"].append(out.x_adv[keep].detach().cpu().numpy())
                    kept["index"].append(np.asarray(bt.index)[keep])
                    kept["gap"].append(out.gap[keep].detach().cpu().numpy())
                    kept["k"].append(k[keep].cpu().numpy())
            if not rows:
                return ChunkResult()
            frame = pd.concat(rows, ignore_index=True)
            stacks = {f"g_{n}": np.concatenate(v) for n, v in kept.items() if v}
            return ChunkResult(rows=frame, stacks=stacks, n=len(frame))

        merged = ctx.map_chunks(fn, tag="disagreement")
        t = merged.rows
        if t is None or not len(t):
            raise VisauditError(f"disagreement: no image of {ctx.dataset.name} could be read")
        metrics = {
            "clean_gap": float(t["clean_gap"].astype(np.float64).mean()),
            "optimised_gap": float(t["optimised_gap"].astype(np.float64).mean()),
            "split_rate": float(t["split"].mean()),
        }
        gallery, artifacts = _gallery(ctx, merged.stacks, cfg.gallery, b.name)
        data: DisagreementData = {
            "other": b.name,
            "target": cfg.target,
            "norm": cfg.norm,
            "eps": cfg.eps,
            "n_iter": cfg.n_iter,
            "score": f"p_{a.name}(k) - p_{b.name}(k), k = {'true class' if cfg.target == 'label' else 'A top-1'}",
            "n": len(t),
            "gallery": gallery,
        }
        return ProbeResult(metrics=metrics, data=data, samples=t, artifacts=artifacts)


def _gallery(
    ctx: "ProbeContext", st: dict[str, np.ndarray], n: int, other: str
) -> tuple[list[GalleryItem], dict[str, bytes]]:
    """The kept images with the largest optimised gap: original, optimised, difference."""
    from visaudit.probes.thumbnails import heatmap_png, image_png

    if "g_index" not in st or n == 0:
        return [], {}
    classes = ctx.dataset.label_space.classes
    items: list[GalleryItem] = []
    art: dict[str, bytes] = {}
    for j in np.argsort(-st["g_gap"], kind="stable")[:n]:
        pos = int(st["g_index"][j])
        stem = f"disagree-{pos}"
        x, adv = st["g_x"][j], st["g_adv"][j]
        art[f"{stem}-original.png"] = image_png(x.transpose(1, 2, 0))
        art[f"{stem}-optimised.png"] = image_png(adv.transpose(1, 2, 0))
        art[f"{stem}-difference.png"] = heatmap_png((adv - x).mean(0), signed=True)
        caption = f"k: {classes[int(st['g_k'][j])]}, p_A - p_{other} = {float(st['g_gap'][j]):.2f}"
        images = [
            {"artifact": f"{stem}-original.png", "label": "original"},
            {"artifact": f"{stem}-optimised.png", "label": "optimised"},
            {"artifact": f"{stem}-difference.png", "label": "difference"},
        ]
        items.append({"sample": ctx.dataset.ids[pos], "caption": caption, "images": images})  # type: ignore[typeddict-item]
    return items, art
