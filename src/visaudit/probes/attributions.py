"""``attributions``: saliency, input x gradient, integrated gradients and Grad-CAM, scored by
deletion and insertion curves.

The maps come from Captum (``pip install 'visaudit[explain]'``); the curves from
:mod:`visaudit.metrics.attribution_curves`. The explained output is the model's predicted class
(``target="pred"``) or the true label (``"label"``): its logit when the model's outputs are the
dataset's classes, otherwise its log-probability in the dataset's label space (the 16-class
stimuli). Each map is reduced to one value per pixel: saliency takes the largest absolute
gradient over the colour channels (Simonyan et al. 2014), input x gradient and integrated
gradients sum the channels (signed, so deletion removes positive evidence first), Grad-CAM is
upsampled bilinearly from its layer. ``random`` is a uniform random map per image (its own
seeded stream), the baseline every method should beat.

Deletion / insertion (Petsiuk et al. 2018): pixels switch to / from ``baseline`` in ``steps``
blocks of decreasing attribution; the curve is the explained class's probability in the
dataset's label space; ``deletion_auc`` (lower is better) and ``insertion_auc`` (higher is
better) are its trapezoidal areas over the switched fraction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from visaudit.errors import VisauditError
from visaudit.probes.base import MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe
from visaudit.probes.thumbnails import GalleryItem

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from visaudit.probes.base import ProbeContext

METHODS = ("saliency", "input_x_gradient", "integrated_gradients", "gradcam", "random")
BASELINES = ("blur", "zero", "mean")


@dataclass
class AttributionsConfig(ProbeConfig):
    """Options.

    Attributes:
        methods: attribution methods, a subset of ``METHODS``.
        target: explained class: ``pred`` (the model's top-1) or ``label`` (the true class).
        steps: pixel blocks of the deletion / insertion curves.
        patch: side of the square pixel blocks that switch together (the map averaged over each);
            1: single pixels. Must divide the model's input size.
        baseline: what removed pixels become: ``zero`` (black, integrated gradients' default
            reference, so IG's completeness holds along the curve's end points), ``blur``
            (Gaussian, ``blur_sigma`` x the image side; RISE's choice) or ``mean`` (the image's
            mean colour).
        blur_sigma: blur standard deviation as a fraction of the image side.
        ig_steps: integration steps of integrated gradients (Gauss-Legendre, Captum's default rule).
        ig_baseline: the integrated-gradients reference image (``zero``, ``blur`` or ``mean``).
        gradcam_layer: module name (in ``model.net``) for Grad-CAM; empty: the last ``Conv2d``.
        gallery: images whose maps are stored as artifacts (the first of the job's subset).
    """

    methods: list[str] = field(default_factory=lambda: list(METHODS))
    target: str = "pred"
    steps: int = 16
    patch: int = 4
    baseline: str = "zero"
    blur_sigma: float = 0.05
    ig_steps: int = 32
    ig_baseline: str = "zero"
    gradcam_layer: str = ""
    gallery: int = 8


class MethodCurves(TypedDict):
    """Mean deletion and insertion curves of one method (steps + 1 points, fraction 0 to 1)."""

    deletion: list[float]
    insertion: list[float]


class AttributionsData(TypedDict):
    """``data`` of an attributions record."""

    methods: list[str]
    curves: dict[str, MethodCurves]  # by method
    steps: int
    patch: int
    baseline: str
    target: str  # "pred" or "label"
    explained: str  # which model output the gradients are taken of
    gradcam_layer: str | None  # None when Grad-CAM was not asked for
    n: int  # images scored
    gallery: list[GalleryItem]  # original + one map per method


@register_probe
class AttributionsProbe(Probe):
    """Attribution maps through Captum, compared by deletion and insertion AUC."""

    name = "attributions"
    version = 1
    Config = AttributionsConfig
    Data = AttributionsData
    needs_grad = True
    random = True  # the random-map baseline
    protocol_packages = ("captum",)
    chunk_size = 256
    headline = "deletion_auc@integrated_gradients"
    metrics = {
        "deletion_auc": MetricSpec(False, "area under the deletion curve (probability of the explained class)"),
        "insertion_auc": MetricSpec(True, "area under the insertion curve (probability of the explained class)"),
    }

    def check(self, model: Any, dataset: Any) -> None:
        cfg: AttributionsConfig = self.config  # type: ignore[assignment]
        bad = [m for m in cfg.methods if m not in METHODS]
        if bad or not cfg.methods:
            raise VisauditError(f"attributions: unknown or no method(s) {bad}; known: {list(METHODS)}")
        if cfg.target not in ("pred", "label"):
            raise VisauditError(f"attributions: target must be 'pred' or 'label', not {cfg.target!r}")
        for opt, value in (("baseline", cfg.baseline), ("ig_baseline", cfg.ig_baseline)):
            if value not in BASELINES:
                raise VisauditError(f"attributions: {opt} must be one of {list(BASELINES)}, not {value!r}")
        if cfg.steps < 1 or cfg.ig_steps < 1 or cfg.gallery < 0 or cfg.blur_sigma <= 0 or cfg.patch < 1:
            raise VisauditError("attributions: steps, ig_steps, patch must be >= 1, gallery >= 0, blur_sigma > 0")
        side = getattr(model, "input_size", None)
        if side and (side[1] % cfg.patch or side[2] % cfg.patch):
            raise VisauditError(f"attributions: patch {cfg.patch} does not divide the input size {side[1]}x{side[2]}")

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        import pandas as pd
        import torch

        from visaudit.metrics.attribution_curves import auc, curves

        cfg: AttributionsConfig = ctx.config  # type: ignore[assignment]
        methods = list(dict.fromkeys(cfg.methods))
        layer_name = _gradcam_layer(ctx, cfg.gradcam_layer) if "gradcam" in methods else None
        explainers = _explainers(ctx, methods, layer_name)
        explained = (
            "logit of the class"
            if ctx.label_map.kind == "identity"
            else "log-probability of the class in the dataset's label space"
        )
        show = set(int(i) for i in ctx.indices[: cfg.gallery])

        def forward(x: torch.Tensor) -> torch.Tensor:
            z = ctx.logits(x)
            return z if ctx.label_map.kind == "identity" else ctx.scores(z).clamp_min(1e-12).log()

        gradient_methods = [m for m in methods if m != "random"]

        def fn(batches: Any) -> Any:
            from visaudit.probes.base import ChunkResult

            sums: dict[str, np.ndarray] = {}
            rows, shown = [], {"x": [], "maps": [], "index": [], "target": [], "p": [], "label": []}
            for b in batches:
                with torch.no_grad():
                    p0 = ctx.scores(ctx.logits(b.x))
                t = p0.argmax(1) if cfg.target == "pred" else b.y
                p_t = p0.gather(1, t[:, None])[:, 0]
                if gradient_methods:
                    require_gradients(forward, b.x[:1], f"attributions ({', '.join(gradient_methods)})")
                base = _baseline(b.x, cfg.baseline, cfg.blur_sigma)
                row: dict[str, Any] = {"sample_id": b.ids, "label": b.y.cpu().numpy(), "target": t.cpu().numpy()}
                row["p_target"] = p_t.cpu().numpy()
                maps = []
                for m in methods:
                    a = explainers[m](forward, b, t, cfg)
                    maps.append(a)
                    with torch.no_grad():
                        dc, ic = curves(
                            lambda z, t=t: ctx.scores(ctx.logits(z)).gather(1, t[:, None])[:, 0],
                            b.x,
                            base,
                            a,
                            cfg.steps,
                            cfg.patch,
                        )
                    for kind, c in (("deletion", dc), ("insertion", ic)):
                        area = auc(c).double().cpu().numpy()
                        row[f"{kind}_auc_{m}"] = area
                        sums[f"{kind}:{m}"] = sums.get(f"{kind}:{m}", 0) + c.double().sum(0).cpu().numpy()
                        sums[f"{kind}_auc:{m}"] = sums.get(f"{kind}_auc:{m}", 0) + area.sum()
                rows.append(pd.DataFrame(row))
                keep = [i for i, p in enumerate(b.index) if int(p) in show]
                if keep:
                    shown["x"].append(b.x[keep].detach().cpu().numpy())
                    shown["maps"].append(torch.stack(maps, 1)[keep].detach().cpu().numpy())
                    shown["index"].append(np.asarray(b.index)[keep])
                    shown["target"].append(t[keep].cpu().numpy())
                    shown["p"].append(p_t[keep].cpu().numpy())
                    shown["label"].append(b.y[keep].cpu().numpy())
            if not rows:
                return ChunkResult()
            frame = pd.concat(rows, ignore_index=True)
            stacks = {f"g_{k}": np.concatenate(v) for k, v in shown.items() if v}
            return ChunkResult(sums=sums, stacks=stacks, rows=frame, n=len(frame))

        merged = ctx.map_chunks(fn, tag="attributions")
        n = merged.n
        if n == 0:
            raise VisauditError(f"attributions: no image of {ctx.dataset.name} could be read")
        metrics, per_method = {}, {}
        for m in methods:
            for kind in ("deletion", "insertion"):
                metrics[f"{kind}_auc@{m}"] = float(merged.sums[f"{kind}_auc:{m}"]) / n
            per_method[m] = {
                "deletion": [round(float(v) / n, 6) for v in merged.sums[f"deletion:{m}"]],
                "insertion": [round(float(v) / n, 6) for v in merged.sums[f"insertion:{m}"]],
            }
        gallery, artifacts = _gallery(ctx, merged.stacks, methods)
        data: AttributionsData = {
            "methods": methods,
            "curves": per_method,  # type: ignore[typeddict-item]
            "steps": cfg.steps,
            "patch": cfg.patch,
            "baseline": cfg.baseline,
            "target": cfg.target,
            "explained": explained,
            "gradcam_layer": layer_name,
            "n": n,
            "gallery": gallery,
        }
        return ProbeResult(metrics=metrics, data=data, samples=merged.rows, artifacts=artifacts)


def require_gradients(forward: Any, x: "torch.Tensor", who: str) -> None:
    """Refuse a model whose outputs carry no gradient to its input (a frozen TorchScript file,
    a network that runs under ``no_grad``), before an autograd error deep inside Captum."""
    probe = x.detach().clone().requires_grad_(True)
    out = forward(probe)
    if not out.requires_grad:
        raise VisauditError(
            f"{who}: the model's outputs carry no gradient to its input (TorchScript without grads, "
            "or a forward under no_grad / inference mode); gradient methods need a differentiable model "
            "(load its weights as a state dict for its architecture, or keep only the 'random' map)"
        )


def _gradcam_layer(ctx: "ProbeContext", name: str) -> str:
    """The Grad-CAM layer: ``name`` if given (checked), else the last ``Conv2d`` of the network."""
    from torch import nn

    net = getattr(ctx.model, "net", ctx.model)
    modules = dict(net.named_modules())
    convs = [k for k, m in modules.items() if isinstance(m, nn.Conv2d)]
    if name:
        if name not in modules:
            raise VisauditError(f"attributions: no module {name!r} for Grad-CAM; last convolutions: {convs[-5:]}")
        return name
    if not convs:
        raise VisauditError("attributions: Grad-CAM needs a convolution and the model has none; drop 'gradcam'")
    return convs[-1]


def _baseline(x: "torch.Tensor", kind: str, sigma_frac: float) -> "torch.Tensor":
    """The image a removed pixel turns into."""
    import torch

    if kind == "zero":
        return torch.zeros_like(x)
    if kind == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone()
    from torchvision.transforms.functional import gaussian_blur

    sigma = max(sigma_frac * max(x.shape[-2:]), 0.1)
    k = 2 * int(round(3 * sigma)) + 1  # three standard deviations either side
    k = min(k, 2 * (min(x.shape[-2:]) // 2) - 1)  # reflection padding needs a kernel below the side
    return gaussian_blur(x, [k, k], [sigma, sigma])


def _explainers(ctx: "ProbeContext", methods: list[str], layer_name: str | None) -> dict[str, Any]:
    """One function per method: (forward, batch, target, cfg) -> (n, H, W) maps."""
    try:
        from captum import attr as ca
    except ImportError as err:  # pragma: no cover - depends on the install
        raise VisauditError("attributions needs Captum: pip install 'visaudit[explain]'") from err

    def prepared(b: Any) -> "torch.Tensor":
        return b.x.detach().clone().requires_grad_(True)

    def saliency(fwd: Any, b: Any, t: "torch.Tensor", cfg: AttributionsConfig) -> "torch.Tensor":
        g = ca.Saliency(fwd).attribute(prepared(b), target=t, abs=True)
        return g.detach().amax(1)

    def input_x_gradient(fwd: Any, b: Any, t: "torch.Tensor", cfg: AttributionsConfig) -> "torch.Tensor":
        return ca.InputXGradient(fwd).attribute(prepared(b), target=t).detach().sum(1)

    def integrated_gradients(fwd: Any, b: Any, t: "torch.Tensor", cfg: AttributionsConfig) -> "torch.Tensor":
        ref = _baseline(b.x, cfg.ig_baseline, cfg.blur_sigma)
        ig = ca.IntegratedGradients(fwd).attribute(
            prepared(b), baselines=ref, target=t, n_steps=cfg.ig_steps, internal_batch_size=max(ctx.batch_size, 1)
        )
        return ig.detach().sum(1)

    def gradcam(fwd: Any, b: Any, t: "torch.Tensor", cfg: AttributionsConfig) -> "torch.Tensor":
        net = getattr(ctx.model, "net", ctx.model)
        layer = dict(net.named_modules())[layer_name]
        cam = ca.LayerGradCam(fwd, layer).attribute(prepared(b), target=t, relu_attributions=True)
        up = ca.LayerAttribution.interpolate(cam.detach(), tuple(b.x.shape[-2:]), interpolate_mode="bilinear")
        return up.sum(1)

    def random_map(fwd: Any, b: Any, t: "torch.Tensor", cfg: AttributionsConfig) -> "torch.Tensor":
        from visaudit.rng import rand

        return rand(ctx.sample_rng("attributions-random", b.index), (len(b.ids), *b.x.shape[-2:]), device=b.x.device)

    table = {
        "saliency": saliency,
        "input_x_gradient": input_x_gradient,
        "integrated_gradients": integrated_gradients,
        "gradcam": gradcam,
        "random": random_map,
    }
    return {m: table[m] for m in methods}


def _gallery(
    ctx: "ProbeContext", stacks: dict[str, np.ndarray], methods: list[str]
) -> tuple[list[GalleryItem], dict[str, bytes]]:
    """Original and one heat map per method for the gallery images, as PNG artifacts."""
    from visaudit.probes.thumbnails import heatmap_png, image_png

    if "g_index" not in stacks:
        return [], {}
    classes = ctx.dataset.label_space.classes
    items: list[GalleryItem] = []
    artifacts: dict[str, bytes] = {}
    for j, pos in enumerate(stacks["g_index"]):
        pos = int(pos)
        stem = f"attr-{pos}"
        artifacts[f"{stem}-original.png"] = image_png(stacks["g_x"][j].transpose(1, 2, 0))
        images = [{"artifact": f"{stem}-original.png", "label": "original"}]
        for k, m in enumerate(methods):
            name = f"{stem}-{m}.png"
            artifacts[name] = heatmap_png(stacks["g_maps"][j][k])
            images.append({"artifact": name, "label": m})
        true = classes[int(stacks["g_label"][j])]
        target = classes[int(stacks["g_target"][j])]
        caption = f"true: {true} -> explained: {target}, p={float(stacks['g_p'][j]):.2f}"
        items.append({"sample": ctx.dataset.ids[pos], "caption": caption, "images": images})  # type: ignore[typeddict-item]
    return items, artifacts
