"""``spurious-features``: neural PCA of the class logits and a Spurious-ImageNet-style check.

Neural PCA (Neuhaus et al. 2023; maths in :mod:`visaudit.mechanics.neural_pca`): for each class
k of the dataset, the contribution vectors ``w_k * phi(x)`` of the linear head over the images
of the class (``by="label"``: labelled k; ``"pred"``: predicted k), their principal components,
each component's share of the class logit, its most and least activating images, and how far
the component alone moves the logit (``alpha_range``: its logit part on the most activating
image minus that on the least activating one). ``reconstruction_error`` checks the
decomposition: the largest ``|sum_l alpha_l(x) + b_k - logit_k(x)|`` over the job's images.

Spurious evaluation (``spurious_dir``): a folder ``<dir>/<class name>/<image files>`` of
images that show only a class's spurious feature (Spurious ImageNet: the feature without the
object). Class names are those of the dataset's label space; any subset of classes may be
present. ``spurious_auc@<class>`` is the AUC of the class logit on these images against the
job's images of the other classes: 0.5 means the feature alone does not raise the logit, near
1 that the model takes the feature for the class (lower is better).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from visaudit.errors import VisauditError
from visaudit.probes.base import MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe
from visaudit.probes.thumbnails import GalleryItem

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.probes.base import ProbeContext


@dataclass
class SpuriousFeaturesConfig(ProbeConfig):
    """Options.

    Attributes:
        classes: dataset class names to analyse; empty: every class with images in the subset.
        by: ``label`` (images labelled k) or ``pred`` (images the model predicts as k).
        components: principal components reported per class (largest variance first).
        examples: most and least activating images listed (and shown) per component.
        gallery_components: components per class whose examples go to the gallery.
        spurious_dir: folder of spurious-feature-only images, ``<dir>/<class name>/*``; empty: none.
    """

    classes: list[str] = field(default_factory=list)
    by: str = "label"
    components: int = 5
    examples: int = 4
    gallery_components: int = 1
    spurious_dir: str = ""


class Component(TypedDict):
    """One principal component of a class's contributions."""

    index: int  # 0 = largest variance
    variance_share: float  # its variance / the total variance of the contributions
    mean_alpha: float  # mean of its part of the class logit over the class's images
    logit_share: float  # mean_alpha / mean(logit - bias)
    alpha_spread: float  # standard deviation of its logit part over the class's images
    alpha_range: float  # its logit part on the most activating image minus on the least activating
    top: list[str]  # sample ids, most activating first
    bottom: list[str]  # sample ids, least activating first


class ClassPCA(TypedDict):
    """Neural PCA of one class."""

    n: int  # images of the class
    bias: float
    mean_logit: float
    components: list[Component]


class SpuriousClass(TypedDict):
    """Spurious-feature-only images of one class against the other classes' images."""

    n_spurious: int
    n_negative: int
    auc: float


class SpuriousFeaturesData(TypedDict):
    """``data`` of a spurious-features record."""

    head: str  # module name of the linear head
    feature_dim: int
    by: str
    reconstruction_error: float
    classes: dict[str, ClassPCA]
    spurious: dict[str, SpuriousClass]  # empty without spurious_dir
    gallery: list[GalleryItem]  # most / least activating images of the leading components


@register_probe
class SpuriousFeaturesProbe(Probe):
    """Neural PCA of the linear head's class contributions; AUC on spurious-feature-only images."""

    name = "spurious-features"
    version = 1
    Config = SpuriousFeaturesConfig
    Data = SpuriousFeaturesData
    headline = "mean_spurious_auc"
    metrics = {
        "reconstruction_error": MetricSpec(False, "max |sum of component parts + bias - logit| (float error)"),
        "first_component_share": MetricSpec(True, "share of the mean class logit carried by the first component"),
        "spurious_auc": MetricSpec(False, "AUC of the class logit: spurious-only images vs other classes"),
        "mean_spurious_auc": MetricSpec(False, "mean spurious AUC over the classes with spurious images"),
    }

    def check(self, model: Any, dataset: Any) -> None:
        cfg: SpuriousFeaturesConfig = self.config  # type: ignore[assignment]
        if cfg.by not in ("label", "pred"):
            raise VisauditError(f"spurious-features: by must be 'label' or 'pred', not {cfg.by!r}")
        if cfg.components < 1 or cfg.examples < 0 or cfg.gallery_components < 0:
            raise VisauditError("spurious-features: components >= 1, examples >= 0, gallery_components >= 0")
        if dataset is not None:
            known = list(dataset.label_space.classes)
            bad = [c for c in cfg.classes if c not in known]
            if bad:
                raise VisauditError(f"spurious-features: classes {bad} are not in {dataset.name}'s labels {known}")
            if cfg.spurious_dir:
                spurious_layout(cfg.spurious_dir, known)

    def inputs(self, model: Any, dataset: Any) -> dict[str, Any]:
        """The spurious folder's content fingerprint."""
        if not self.config.spurious_dir:  # type: ignore[attr-defined]
            return {}
        from visaudit.data.catalog import open_dataset

        return {"spurious_dir": open_dataset(self.config.spurious_dir).fingerprint()}  # type: ignore[attr-defined]

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        import pandas as pd
        import torch

        from visaudit.mechanics.neural_pca import class_components
        from visaudit.metrics.ood import auroc

        cfg: SpuriousFeaturesConfig = ctx.config  # type: ignore[assignment]
        head_name, head = linear_head(ctx)
        model_index = _model_indices(ctx)
        w_all = head.weight.detach().double().cpu().numpy()
        b_all = head.bias.detach().double().cpu().numpy() if head.bias is not None else np.zeros(len(w_all))

        def fn(batches: Any) -> Any:
            from visaudit.probes.base import ChunkResult

            feats, logits, labels, index = [], [], [], []
            for b in batches:
                f, z = ctx.penultimate(b.x)
                feats.append(f.cpu().numpy())
                logits.append(z.cpu().numpy())
                labels.append(b.y.cpu().numpy())
                index.append(np.asarray(b.index, dtype=np.int64))
            if not feats:
                return ChunkResult()
            st = {"phi": np.concatenate(feats), "logits": np.concatenate(logits)}
            st.update(labels=np.concatenate(labels), index=np.concatenate(index))
            return ChunkResult(stacks=st, n=len(st["index"]))

        m = ctx.map_chunks(fn, tag="penultimate")
        if m.n == 0:
            raise VisauditError(f"spurious-features: no image of {ctx.dataset.name} could be read")
        phi, logits, labels, index = m.stacks["phi"], m.stacks["logits"], m.stacks["labels"], m.stacks["index"]
        if phi.shape[1] != w_all.shape[1]:
            raise VisauditError(f"spurious-features: features of size {phi.shape[1]} do not fit the head {head_name}")
        classes = list(ctx.dataset.label_space.classes)
        pred = ctx.scores(torch.from_numpy(logits)).argmax(1).numpy()
        member = labels if cfg.by == "label" else pred
        wanted = cfg.classes or [c for i, c in enumerate(classes) if (member == i).any()]
        ids = [ctx.dataset.ids[int(i)] for i in index]
        err = 0.0
        per_class: dict[str, ClassPCA] = {}
        metrics: dict[str, float] = {}
        show: list[tuple[str, int, list[int], list[int]]] = []
        for c in wanted:
            k = classes.index(c)
            rows = np.flatnonzero(member == k)
            if len(rows) == 0:
                raise VisauditError(f"spurious-features: no image of class {c!r} ({cfg.by}) in the job's subset")
            mk = model_index[k]
            pca = class_components(phi[rows], w_all[mk])
            recon = pca.alpha.sum(1) + b_all[mk]
            err = max(err, float(np.abs(recon - logits[rows, mk].astype(np.float64)).max()))
            total = float(np.mean(logits[rows, mk].astype(np.float64) - b_all[mk]))
            var_total = float(pca.variance.sum()) or 1.0
            comps: list[Component] = []
            for j in range(min(cfg.components, pca.components.shape[0])):
                order = np.argsort(-pca.activation[:, j], kind="stable")
                top, bottom = order[: cfg.examples], order[::-1][: cfg.examples]
                alpha = pca.alpha[:, j]
                comps.append(
                    {
                        "index": j,
                        "variance_share": float(pca.variance[j]) / var_total,
                        "mean_alpha": float(alpha.mean()),
                        "logit_share": float(alpha.mean()) / total if total else 0.0,
                        "alpha_spread": float(alpha.std()),
                        "alpha_range": float(alpha[order[0]] - alpha[order[-1]]),
                        "top": [ids[rows[i]] for i in top],
                        "bottom": [ids[rows[i]] for i in bottom],
                    }
                )
                if j < cfg.gallery_components and cfg.examples:
                    show.append((c, j, [int(index[rows[i]]) for i in top], [int(index[rows[i]]) for i in bottom]))
            per_class[c] = {
                "n": len(rows),
                "bias": float(b_all[mk]),
                "mean_logit": total + float(b_all[mk]),
                "components": comps,
            }
            metrics[f"first_component_share@{c}"] = comps[0]["logit_share"]
        metrics["reconstruction_error"] = err

        spurious: dict[str, SpuriousClass] = {}
        if cfg.spurious_dir:
            spurious = self._spurious(ctx, cfg, classes, model_index, logits, labels, auroc)
            for c, s in spurious.items():
                metrics[f"spurious_auc@{c}"] = s["auc"]
            if spurious:
                metrics["mean_spurious_auc"] = float(np.mean([s["auc"] for s in spurious.values()]))
        gallery, artifacts = _gallery(ctx, show, per_class)
        data: SpuriousFeaturesData = {
            "head": head_name,
            "feature_dim": int(phi.shape[1]),
            "by": cfg.by,
            "reconstruction_error": err,
            "classes": per_class,
            "spurious": spurious,
            "gallery": gallery,
        }
        samples = pd.DataFrame({"sample_id": ids, "label": labels, "pred": pred})
        return ProbeResult(metrics=metrics, data=data, samples=samples, artifacts=artifacts)

    @staticmethod
    def _spurious(
        ctx: "ProbeContext",
        cfg: SpuriousFeaturesConfig,
        classes: list[str],
        model_index: list[int],
        logits: np.ndarray,
        labels: np.ndarray,
        auroc: Any,
    ) -> dict[str, SpuriousClass]:
        """AUC of each class logit: its spurious-only images against the other classes' images."""
        from visaudit.probes.base import ChunkResult

        layout = spurious_layout(cfg.spurious_dir, classes)
        extra = ctx.open_dataset(cfg.spurious_dir)

        def fn(batches: Any) -> ChunkResult:
            out, names = [], []
            for b in batches:
                out.append(ctx.logits(b.x).cpu().numpy())
                names += [i.split("/", 1)[0] for i in b.ids]
            if not out:
                return ChunkResult()
            cls = np.asarray([classes.index(n) for n in names], dtype=np.int64)
            return ChunkResult(stacks={"logits": np.concatenate(out), "cls": cls}, n=len(cls))

        every = np.arange(len(extra), dtype=np.int64)  # the whole folder: it is the benchmark, not a sample
        m = ctx.map_chunks(fn, dataset=extra, tag="spurious", indices=every)
        res: dict[str, SpuriousClass] = {}
        for c in layout:
            k = classes.index(c)
            pos = m.stacks["logits"][m.stacks["cls"] == k, model_index[k]]
            neg = logits[labels != k, model_index[k]]
            if len(pos) == 0 or len(neg) == 0:
                continue
            res[c] = {"n_spurious": len(pos), "n_negative": len(neg), "auc": auroc(pos, neg)}
        return res


def spurious_layout(folder: str, classes: list[str]) -> list[str]:
    """The class folders of a spurious-feature folder (``<dir>/<class name>/<images>``), checked."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise VisauditError(
            f"spurious-features: spurious_dir {folder!r} is not a folder (layout: <dir>/<class name>/*)"
        )
    subs = sorted(p.name for p in root.iterdir() if p.is_dir())
    bad = [s for s in subs if s not in classes]
    if not subs or bad:
        raise VisauditError(
            f"spurious-features: spurious_dir must hold one folder per class, named by the dataset's classes "
            f"{classes}; found {bad or 'none'}"
        )
    return subs


def linear_head(ctx: "ProbeContext") -> tuple[str, Any]:
    """The model's final ``nn.Linear`` (name, module), checked to produce the logits."""
    import torch
    from torch import nn

    net = getattr(ctx.model, "net", ctx.model)
    modules = list(net.named_modules())
    linears = [(n, m) for n, m in modules if isinstance(m, nn.Linear)]
    usable = [n for n, m in modules if isinstance(m, nn.Conv2d) and tuple(m.kernel_size) == (1, 1)]
    arch = getattr(ctx.model.info, "arch", "the model")
    if not linears:
        raise VisauditError(
            f"spurious-features: neural PCA needs a linear head (logit = W phi + b) and {arch} has no nn.Linear; "
            f"layers that act linearly per position it could be rewritten on: {usable[-5:] or 'none'} "
            f"(last modules: {[n for n, _ in modules[-3:]]})"
        )
    name, head = linears[-1]
    x = next(iter(ctx.batches(indices=ctx.indices[:2])), None)
    if x is not None:
        with torch.no_grad():
            f, z = ctx.penultimate(x.x)
            again = f.double() @ head.weight.double().T + (head.bias.double() if head.bias is not None else 0)
        if f.shape[1] != head.in_features or not torch.allclose(again, z.double(), rtol=1e-3, atol=1e-3):
            raise VisauditError(
                f"spurious-features: the last nn.Linear of {arch} ({name}) does not produce the logits from "
                f"its input, so neural PCA does not apply; linear layers: {[n for n, _ in linears]}"
            )
    return name, head


def _model_indices(ctx: "ProbeContext") -> list[int]:
    """Model output index of each dataset class (identity or a declared subset)."""
    lm = ctx.label_map
    if lm.kind == "identity":
        return list(range(lm.num_classes))
    if lm.kind == "subset" and getattr(lm, "indices", None) is not None:
        return [int(i) for i in lm.indices]  # type: ignore[union-attr]
    raise VisauditError(
        f"spurious-features: the dataset's classes are not model outputs ({lm.describe().get('protocol')}); "
        "neural PCA needs one linear logit per class"
    )


def _gallery(
    ctx: "ProbeContext", show: list[tuple[str, int, list[int], list[int]]], per_class: dict[str, ClassPCA]
) -> tuple[list[GalleryItem], dict[str, bytes]]:
    """Most and least activating images of the leading components, as PNG artifacts."""
    from visaudit.probes.thumbnails import image_png

    want = sorted({p for _, _, top, bottom in show for p in top + bottom})
    if not want:
        return [], {}
    pixels: dict[int, np.ndarray] = {}
    for b in ctx.batches(indices=np.asarray(want, dtype=np.int64)):
        for j, p in enumerate(b.index):
            pixels[int(p)] = b.x[j].detach().cpu().numpy().transpose(1, 2, 0)
    items: list[GalleryItem] = []
    artifacts: dict[str, bytes] = {}
    for c, j, top, bottom in show[:32]:
        images = []
        for kind, positions in (("most activating", top), ("least activating", bottom)):
            for p in positions:
                if p in pixels:
                    name = f"npca-{p}.png"
                    artifacts.setdefault(name, image_png(pixels[p]))
                    images.append({"artifact": name, "label": kind})
        comp = per_class[c]["components"][j]
        caption = (
            f"{c}: component {j + 1}, {comp['logit_share']:.0%} of the logit, moves it by {comp['alpha_range']:.2f}"
        )
        items.append({"sample": ctx.dataset.ids[top[0]], "caption": caption, "images": images})  # type: ignore[typeddict-item]
    return items, artifacts
