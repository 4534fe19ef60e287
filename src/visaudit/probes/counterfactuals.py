"""``counterfactuals``: visual counterfactual explanations in an Lp ball (Boreiko, Augustin et al. 2022).

For each image and target class (the model's second choice, every other class, or a list),
maximise the target's log-probability inside ``{z : ||z - x||_p <= radius} ∩ [0,1]^d``,
p in {1.5, 2, inf}, in the model adapter's [0,1] pixel space, with Auto-Frank-Wolfe
(:func:`visaudit.attacks.afw.afw`, the default) or APGD (:func:`visaudit.attacks.apgd.apgd_ascent`)
for comparison, both starting from the image itself (deterministic, no random start) and both
spending ``n_iter + 1`` gradient evaluations. Targets are classes of the dataset's label space;
with a label map (ImageNet model, 16-class data) the objective is the mapped log-probability.

Metrics over all (image, target) pairs: ``success_rate`` (the target is top-1 at the
counterfactual), ``mean_target_confidence`` (its probability there), ``mean_distance`` (the Lp
distance used). Per pair (samples table): clean and final target probability, success, distance
and ``path``, the target probability at every iterate. The first ``gallery`` pairs (dataset
order) are stored as PNG thumbnails (original, counterfactual, difference map) and listed under
``data["gallery"]`` for the report.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, TypedDict

import numpy as np

from visaudit.errors import VisauditError
from visaudit.probes.base import ChunkResult, MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.probes.base import Batch, ProbeContext

NORMS = ("l1.5", "l2", "linf")
METHODS = ("afw", "apgd")
THUMB = 128  # the longest side of a gallery thumbnail (the gallery contract)


@dataclass
class CounterfactualsConfig(ProbeConfig):
    """Options of the counterfactuals probe.

    Attributes:
        targets: ``"second"`` (the model's runner-up on the clean image), ``"all"`` (every class
            but the clean prediction) or a list of class indices of the dataset's label space.
        norm: ``l1.5`` (the paper's sparse, object-centred choice), ``l2`` or ``linf``.
        radius: the ball's radius in [0,1] pixel units (> 0).
        method: ``afw`` (Auto-Frank-Wolfe) or ``apgd``.
        n_iter: iterations of either optimiser (``n_iter + 1`` gradient evaluations).
        gallery: how many (image, target) pairs to store as thumbnails (0 to 32).
    """

    targets: str | list[int] = "second"
    norm: str = "l1.5"
    radius: float = 6.0
    method: str = "afw"
    n_iter: int = 50
    gallery: int = 16


class GalleryImage(TypedDict):
    """One picture of a gallery item: an artifact file name and what it shows."""

    artifact: str
    label: str


class GalleryItem(TypedDict):
    """One (image, target) pair of the gallery contract shared by issue 17's probes."""

    sample: str
    caption: str
    images: list[GalleryImage]


class CounterfactualsData(TypedDict):
    """The objective, the mean confidence path over iterations and the gallery."""

    norm: str
    radius: float
    method: str
    n_iter: int
    n_pairs: int
    objective: str
    mean_path: list[float]  # mean target probability at iterate 0..n_iter over all pairs
    gallery: list[GalleryItem]


@register_probe
class CounterfactualsProbe(Probe):
    """Visual counterfactuals: the target class's confidence reachable inside an Lp ball."""

    name = "counterfactuals"
    version = 2
    Config = CounterfactualsConfig
    Data = CounterfactualsData
    headline = "success_rate"
    needs_grad = True
    metrics = {
        "success_rate": MetricSpec(True, "share of (image, target) pairs whose target is top-1 at the counterfactual"),
        "mean_target_confidence": MetricSpec(True, "mean probability of the target class at the counterfactual"),
        "mean_distance": MetricSpec(False, "mean Lp distance between counterfactual and image"),
        "clean_target_confidence": MetricSpec(True, "mean probability of the target class on the clean image"),
    }

    def check(self, model, dataset) -> None:
        cfg = self.config
        if cfg.norm.lower() not in NORMS:
            raise VisauditError(f"norm must be one of {', '.join(NORMS)}, not {cfg.norm!r}")
        if cfg.method not in METHODS:
            raise VisauditError(f"method must be one of {', '.join(METHODS)}, not {cfg.method!r}")
        if not cfg.radius > 0:
            raise VisauditError(f"radius must be > 0 (the Lp ball's radius in [0,1] pixel units), got {cfg.radius}")
        if cfg.n_iter < 1:
            raise VisauditError(f"n_iter must be at least 1, got {cfg.n_iter}")
        if not 0 <= cfg.gallery <= 32:
            raise VisauditError(f"gallery must lie in 0..32 (thumbnails per record), got {cfg.gallery}")
        n_cls = len(dataset.label_space) if dataset is not None else int(model.num_classes)
        if isinstance(cfg.targets, str):
            if cfg.targets not in ("second", "all"):
                raise VisauditError(f"targets must be 'second', 'all' or a list of class indices, not {cfg.targets!r}")
            if cfg.targets == "all" and n_cls > 100:
                raise VisauditError(
                    f"targets 'all' would optimise {n_cls - 1} counterfactuals per image; pass a list of class indices"
                )
        else:
            bad = [t for t in cfg.targets if not 0 <= t < n_cls]
            if bad or not cfg.targets:
                space = dataset.label_space.name if dataset is not None else model.label_space
                raise VisauditError(
                    f"target class(es) {bad or '[] (empty)'} outside the label space {space!r} (classes 0..{n_cls - 1})"
                )

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        import pandas as pd
        import torch

        from visaudit.attacks import lp_balls
        from visaudit.attacks.afw import afw
        from visaudit.attacks.apgd import apgd_ascent
        from visaudit.attacks.losses import target_log_prob
        from visaudit.attacks.runs import oracle_for

        cfg = self.config
        norm, p = cfg.norm.lower(), lp_balls.norm_p(cfg.norm)
        n_cls = int(ctx.label_map.num_classes)
        names = list(ctx.dataset.label_space.classes)
        checked = False

        def pairs(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """(row of the batch, target) for every pair, rows ascending."""
            pred = scores.argmax(1)
            m = len(scores)
            if cfg.targets == "second":
                return torch.arange(m), scores.argsort(1, descending=True)[:, 1].cpu()
            if cfg.targets == "all":
                grid = torch.arange(n_cls).repeat(m, 1)
                keep = grid != pred.cpu()[:, None]
                return torch.arange(m)[:, None].expand(m, n_cls)[keep], grid[keep]
            tl = torch.tensor(list(cfg.targets))
            return torch.arange(m).repeat_interleave(len(tl)), tl.repeat(m)

        def chunk(batches: Iterator["Batch"]) -> ChunkResult:
            nonlocal checked
            sums = {"pairs": 0.0, "success": 0.0, "conf": 0.0, "dist": 0.0, "clean_conf": 0.0}
            path_sum = np.zeros(cfg.n_iter + 1)
            frames, keep_thumbs = [], []
            n_images = 0
            for b in batches:
                n_images += len(b.y)
                oracle = oracle_for(ctx)
                x = b.x.float()
                if not checked:
                    _check_differentiable(ctx, x[:1])
                    checked = True
                clean = oracle.logits(x)
                rows, tgt = pairs(clean)
                dev = x.device
                xr, yr, tr = x[rows.to(dev)], b.y[rows.to(dev)], tgt.to(dev)
                paths = torch.zeros(len(xr), cfg.n_iter + 1)
                counter = torch.zeros(len(xr), dtype=torch.long)

                def trace(idx: torch.Tensor, logits: torch.Tensor, tr=tr, paths=paths, counter=counter) -> None:
                    prob = torch.softmax(logits.float(), 1).gather(1, tr[idx][:, None])[:, 0]
                    i = idx.cpu()
                    paths[i, counter[i]] = prob.detach().cpu()
                    counter[i] += 1

                objective = target_log_prob(tr)
                if cfg.method == "afw":
                    x_cf, _ = afw(oracle, xr, objective, norm=norm, eps=cfg.radius, n_iter=cfg.n_iter, trace=trace)
                else:
                    x_cf, _ = apgd_ascent(
                        oracle, xr, yr, objective, norm=norm, eps=cfg.radius, n_iter=cfg.n_iter, trace=trace
                    )
                final = torch.softmax(oracle.logits(x_cf), 1)
                start = torch.softmax(clean, 1)[rows.to(dev), tr]
                conf = final.gather(1, tr[:, None])[:, 0]
                success = final.argmax(1) == tr
                dist = lp_balls.lp(x_cf - xr, p)
                sums["pairs"] += len(xr)
                sums["success"] += float(success.sum())
                sums["conf"] += float(conf.sum())
                sums["dist"] += float(dist.double().sum())
                sums["clean_conf"] += float(start.sum())
                path_sum += paths.double().sum(0).numpy()
                r = rows.numpy()
                frames.append(
                    pd.DataFrame(
                        {
                            "index": b.index[r],
                            "id": [b.ids[i] for i in r],
                            "label": b.y.cpu().numpy()[r],
                            "prediction": clean.argmax(1).cpu().numpy()[r],
                            "target": tgt.numpy(),
                            "clean_confidence": start.cpu().numpy(),
                            "target_confidence": conf.cpu().numpy(),
                            "success": success.cpu().numpy(),
                            "distance": dist.cpu().numpy(),
                            "path": [row.tolist() for row in paths.numpy()],
                        }
                    )
                )
                room = cfg.gallery - sum(len(k[0]) for k in keep_thumbs)
                if room > 0:
                    sel = torch.arange(min(room, len(xr)))
                    keep_thumbs.append(_thumbs(xr[sel], x_cf[sel], b.index[r[sel.numpy()]], tgt[sel].numpy()))
            stacks = {}
            if keep_thumbs:
                for j, key in enumerate(("gal_pos", "gal_target", "gal_orig", "gal_cf", "gal_diff")):
                    stacks[key] = np.concatenate([k[j] for k in keep_thumbs])
            sums_arr = {k: np.asarray(v) for k, v in sums.items()}
            sums_arr["path"] = path_sum
            return ChunkResult(
                sums=sums_arr, stacks=stacks, rows=pd.concat(frames, ignore_index=True) if frames else None, n=n_images
            )

        merged = ctx.map_chunks(chunk, tag=f"counterfactuals/{cfg.method}")
        s = merged.sums
        n_pairs = max(float(s.get("pairs", 0.0)), 1.0)
        metrics = {
            "success_rate": float(s["success"]) / n_pairs,
            "mean_target_confidence": float(s["conf"]) / n_pairs,
            "mean_distance": float(s["dist"]) / n_pairs,
            "clean_target_confidence": float(s["clean_conf"]) / n_pairs,
        }
        gallery, artifacts = _gallery(merged, names, cfg.gallery, merged.rows)
        data: CounterfactualsData = {
            "norm": norm,
            "radius": float(cfg.radius),
            "method": cfg.method,
            "n_iter": int(cfg.n_iter),
            "n_pairs": int(s.get("pairs", 0)),
            "objective": "log-probability of the target class (dataset label space), start at the image",
            "mean_path": [float(v) / n_pairs for v in np.asarray(s["path"]).tolist()],
            "gallery": gallery,
        }
        return ProbeResult(metrics=metrics, data=data, samples=merged.rows, artifacts=artifacts)


def _check_differentiable(ctx: "ProbeContext", x) -> None:  # noqa: ANN001 - a torch tensor
    """Refuse a model whose logits carry no gradient to the input (e.g. TorchScript run without grads)."""
    import torch

    with torch.enable_grad():
        xi = x.detach().clone().requires_grad_(True)
        try:
            out = ctx.logits(xi)
            ok = out.requires_grad and torch.autograd.grad(out.sum(), xi, allow_unused=True)[0] is not None
        except RuntimeError as err:
            raise VisauditError(f"counterfactuals need input gradients, and the model gives none: {err}") from err
    if not ok:
        raise VisauditError(
            f"counterfactuals need input gradients, and {ctx.model.info.name} gives none (its logits do not "
            "depend differentiably on the image: a TorchScript model traced or run without gradients, "
            "or a detached output)"
        )


def _thumbs(x, x_cf, pos, tgt) -> tuple[np.ndarray, ...]:  # noqa: ANN001 - torch tensors
    """Positions, targets, uint8 thumbnails (k, h, w, 3) of image and counterfactual, and the
    channel-mean signed difference (k, h, w) at thumbnail size."""
    import torch
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    scale = THUMB / max(h, w)
    if scale >= 2:  # small images (28 px) are blown up pixel for pixel, so pixels stay visible
        f = int(scale)
        size = (h * f, w * f)
        resize = lambda t: F.interpolate(t, size=size, mode="nearest")  # noqa: E731
    else:
        size = (max(1, round(h * min(scale, 1.0))), max(1, round(w * min(scale, 1.0))))
        resize = lambda t: F.interpolate(t, size=size, mode="area")  # noqa: E731
    with torch.no_grad():
        to8 = lambda t: (resize(t.float()).clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()  # noqa: E731
        diff = resize((x_cf - x).float().mean(1, keepdim=True))[:, 0].cpu().numpy()
        return np.asarray(pos), np.asarray(tgt), to8(x), to8(x_cf), diff.astype(np.float32)


def _png(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def diverging(diff: np.ndarray) -> np.ndarray:
    """Signed map -> uint8 RGB: blue where the counterfactual darkens, red where it brightens,
    white at zero, scaled by the map's own largest magnitude."""
    m = float(np.abs(diff).max()) or 1.0
    t = np.clip(diff / m, -1, 1)[..., None]
    white = np.ones(3)
    red, blue = np.array([0.84, 0.15, 0.16]), np.array([0.13, 0.40, 0.67])
    rgb = np.where(t >= 0, white + t * (red - white), white + (-t) * (blue - white))
    return (rgb * 255).round().astype(np.uint8)


def _gallery(merged: ChunkResult, names: list[str], k: int, rows) -> tuple[list[GalleryItem], dict[str, bytes]]:  # noqa: ANN001
    """The first ``k`` pairs (dataset order) as gallery items and their PNG artifacts."""
    st = merged.stacks
    if k == 0 or "gal_pos" not in st:
        return [], {}
    order = np.lexsort((st["gal_target"], st["gal_pos"]))[:k]
    lookup = {}
    if rows is not None:
        for r in rows[["index", "target", "id", "label", "target_confidence"]].itertuples(index=False):
            lookup[(int(r.index), int(r.target))] = r
    items: list[GalleryItem] = []
    artifacts: dict[str, bytes] = {}
    for j in order:
        pos, tgt = int(st["gal_pos"][j]), int(st["gal_target"][j])
        r = lookup.get((pos, tgt))
        sid = str(r.id) if r is not None else str(pos)
        true = names[int(r.label)] if r is not None and 0 <= int(r.label) < len(names) else "?"
        conf = float(r.target_confidence) if r is not None else float("nan")
        base = f"cf_{pos}_{tgt}"
        files = {
            "original": f"cf_{pos}_original.png",
            "counterfactual": f"{base}_counterfactual.png",
            "difference": f"{base}_difference.png",
        }
        artifacts[files["original"]] = _png(st["gal_orig"][j])
        artifacts[files["counterfactual"]] = _png(st["gal_cf"][j])
        artifacts[files["difference"]] = _png(diverging(st["gal_diff"][j]))
        items.append(
            {
                "sample": sid,
                "caption": f"true: {true} -> target: {names[tgt] if tgt < len(names) else tgt}, p={conf:.2f}",
                "images": [{"artifact": f, "label": lab} for lab, f in files.items()],
            }
        )
    return items, artifacts
