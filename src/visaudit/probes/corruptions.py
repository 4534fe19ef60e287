"""``corruptions``: ImageNet-C / CIFAR-10-C accuracy, CE, mCE and relative mCE.

Each batch is decoded once and every corruption x severity is made from it on the device
(``visaudit.perturb.corruptions``), or, with ``stored``, a stored ImageNet-C / CIFAR-10-C copy
is read instead; the record says which path produced the numbers (``data.source``).

Generated runs also keep, per image, its worst condition: the corruption/severity with the
largest drop in the true-class probability (per-sample table), and show the images with the
largest drops in a gallery (``data["gallery"]``, the contract of :mod:`visaudit.probes.gallery`).

A stored copy can also be the dataset itself: ``-d imagenet-c`` / ``-d cifar10-c`` (catalog
entries whose samples carry their ``<corruption>/<severity>`` condition) are scored condition by
condition in one pass of the engine; they hold no clean images, so clean top-1 and relative mCE
are left out (warned). mCE and CE come from the same function as on the generated path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, TypedDict

import numpy as np

from visaudit.errors import VisauditError
from visaudit.perturb.corruption_names import ALL, BENCHMARK, EXTRA, FAMILIES, unknown_names
from visaudit.probes.base import ChunkResult, MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe
from visaudit.probes.gallery import MAX_ITEMS, GalleryItem

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from visaudit.probes.base import Batch, ProbeContext

STORAGES = ("auto", "none", "uint8", "jpeg85")
STORED_LAYOUTS = {
    "imagenet-c": "imagenet-c tree",
    "cifar10-c": "cifar-10-c npy",
}  # dataset layouts read as stored copies


def _stored_dataset(dataset) -> bool:
    return getattr(dataset, "layout", "") in STORED_LAYOUTS


@dataclass
class CorruptionsConfig(ProbeConfig):
    """Options of the corruptions probe.

    Attributes:
        corruptions: which corruptions to run (default: the 15 benchmark + 4 extra ones).
        severities: which severities (1..5).
        params: parameter table: ``auto`` (CIFAR-10-C for inputs of at most 48 px, else
            ImageNet-C), ``imagenet`` or ``cifar``.
        storage: how generated images are quantised before the model sees them, to match a
            stored benchmark: ``uint8`` (CIFAR-10-C's arrays), ``jpeg85`` (ImageNet-C's JPEG
            files), ``none`` (float), ``auto`` (jpeg85 with ImageNet-C parameters, else uint8).
        stored: path of a stored ImageNet-C tree (``<root>/<corruption>/<severity>/<class>/*``)
            or CIFAR-10-C folder (``<corruption>.npy`` + ``labels.npy``) to read instead of generating.
        examples: images shown per corruption in the example sheet (0 = none).
        gallery: images with the largest drop in true-class probability shown with their
            worst corruption (0 = none, at most 32; generated runs only).
    """

    corruptions: list[str] = field(default_factory=lambda: list(ALL))
    severities: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5])
    params: str = "auto"
    storage: str = "auto"
    stored: str | None = None
    examples: int = 1
    gallery: int = 16


class GeneratedSource(TypedDict):
    """Where the numbers came from: corrupted on the fly."""

    kind: str  # "generated"
    params: str  # parameter table, "imagenet" or "cifar"
    storage: str  # quantisation emulating the stored benchmark: "uint8", "jpeg85" or "none"
    note: str


class StoredSource(TypedDict):
    """Where the numbers came from: a stored ImageNet-C tree or CIFAR-10-C folder."""

    kind: str  # "stored"
    format: str  # "cifar-10-c npy" or "imagenet-c tree"
    path: str


class _CorruptionsRequired(TypedDict):
    params: str  # parameter table used, "imagenet" or "cifar"
    normalisation: str  # CE normalisation: "alexnet" or "none"
    grid: dict[str, dict[str, float]]  # {corruption: {severity as text: top1}}
    families: dict[str, list[str]]  # {family: its corruptions}
    n: dict[str, float]  # images per condition, {"<corruption>/<severity>": count}
    source: GeneratedSource | StoredSource


class CorruptionsData(_CorruptionsRequired, total=False):
    """``data`` of a corruptions record (``gallery`` only for generated runs with ``gallery`` > 0)."""

    gallery: list[GalleryItem]  # worst corruption of the images with the largest drops, largest first


@register_probe
class CorruptionsProbe(Probe):
    """Accuracy under the ImageNet-C corruptions, per family, CE, mCE and relative mCE."""

    name = "corruptions"
    version = 3  # 3: per-image worst corruption (samples table) and its gallery; 2: per-image draws
    Config = CorruptionsConfig
    Data = CorruptionsData
    headline = "mce"
    random = True
    metrics = {
        "mce": MetricSpec(
            False, "mean corruption error over the 15 benchmark corruptions (AlexNet-normalised on ImageNet-C)"
        ),
        "relative_mce": MetricSpec(False, "relative mCE: error increase over clean, AlexNet-normalised"),
        "corrupted_top1": MetricSpec(True, "mean top-1 over the 15 benchmark corruptions x 5 severities"),
        "extra_top1": MetricSpec(True, "mean top-1 over the 4 extra corruptions x 5 severities"),
        "clean_top1": MetricSpec(True, "top-1 on the clean images"),
        "top1": MetricSpec(True, "top-1 under one corruption/severity"),
        "ce": MetricSpec(False, "corruption error of one corruption"),
        "family_top1": MetricSpec(True, "mean top-1 over a family's corruptions and severities"),
    }

    def check(self, model, dataset) -> None:
        cfg = self.config
        errors = unknown_names(list(cfg.corruptions))
        bad_sev = [s for s in cfg.severities if isinstance(s, bool) or s not in (1, 2, 3, 4, 5)]
        if bad_sev:
            errors.append(f"severities must be integers from 1 to 5, got {bad_sev}")
        if cfg.storage not in STORAGES:
            errors.append(f"storage must be one of {STORAGES}, got {cfg.storage!r}")
        if isinstance(cfg.gallery, bool) or not 0 <= cfg.gallery <= MAX_ITEMS:
            errors.append(f"gallery must be an integer from 0 to {MAX_ITEMS}, got {cfg.gallery!r}")
        if cfg.params not in ("auto", "imagenet", "cifar"):
            errors.append(f"params must be 'auto', 'imagenet' or 'cifar', got {cfg.params!r}")
        if _stored_dataset(dataset):
            if cfg.stored is not None:
                errors.append(f"{dataset.name} already is a stored corruption benchmark; leave the option stored unset")
            have = set(dataset.conditions)
            lacking = [f"{c}/{s}" for c, s in self._conditions() if f"{c}/{s}" not in have]
            if lacking:
                errors.append(
                    f"the stored copy {dataset.path} lacks the conditions {', '.join(lacking[:6])}"
                    f"{' ...' if len(lacking) > 6 else ''}; choose corruptions/severities it holds"
                )
        size = getattr(model, "input_size", None)
        if size is not None and min(size[1:]) < 32 and cfg.stored is None and not _stored_dataset(dataset):
            errors.append(
                f"the corruption benchmark needs inputs of at least 32 px; {getattr(model, 'name', 'model')} takes {size[1]}x{size[2]}"
            )
        if cfg.stored is not None and not Path(cfg.stored).is_dir():
            errors.append(f"stored corruption folder {cfg.stored!r} does not exist")
        if errors:
            raise VisauditError("; ".join(errors))

    def inputs(self, model, dataset) -> dict:
        """Content fingerprints of the stored benchmark (the configured folders) or the frost photographs."""
        from visaudit.data.fingerprint import tree_fingerprint

        cfg = self.config
        if _stored_dataset(dataset):
            return {}  # the dataset's own content fingerprint covers every stored image
        if cfg.stored:
            root = Path(cfg.stored)
            if (root / "labels.npy").is_file():
                files = [root / "labels.npy"] + [root / f"{c}.npy" for c in cfg.corruptions]
                missing = [f.name for f in files if not f.is_file()]
                if missing:
                    raise VisauditError(f"stored CIFAR-10-C folder {root} lacks {', '.join(missing)}")
                return {"stored": {"format": "cifar-10-c npy", "sha256": tree_fingerprint(root, files)}}
            trees = {}
            for c, s in self._conditions():
                folder = root / c / str(s)
                if not folder.is_dir():
                    raise VisauditError(
                        f"stored ImageNet-C tree {root} has no folder {c}/{s} "
                        "(expected <root>/<corruption>/<severity>/<class>/<image>)"
                    )
                trees[f"{c}/{s}"] = tree_fingerprint(folder)
            return {"stored": {"format": "imagenet-c tree", "sha256": trees}}
        if "frost" in cfg.corruptions:
            from visaudit.perturb.corruptions.weather import FROST_FILES, frost_texture_dir

            folder = frost_texture_dir()  # raises, naming what to install, before any compute
            return {"frost_textures": tree_fingerprint(folder, [folder / f for f in FROST_FILES])}
        return {}

    # -- helpers ----------------------------------------------------------------------------
    def _conditions(self) -> list[tuple[str, int]]:
        return [(c, s) for c in self.config.corruptions for s in self.config.severities]

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        from visaudit.perturb.corruptions import resolve_params

        cfg = self.config
        h, w = ctx.model.info.input_size[1:]
        params = resolve_params(h, w, cfg.params)
        if _stored_dataset(ctx.dataset):  # the stored benchmark, not the input size, says which table made it
            params = "imagenet" if ctx.dataset.layout == "imagenet-c" else "cifar"
        storage = cfg.storage if cfg.storage != "auto" else ("jpeg85" if params == "imagenet" else "uint8")
        warnings: list[str] = []
        source: GeneratedSource | StoredSource
        rows = None
        if _stored_dataset(ctx.dataset):
            correct, n, clean_correct, n_clean, source = self._run_stored_dataset(ctx)
            warnings.append(
                f"{ctx.dataset.name} holds no clean images: clean_top1 and relative_mce are left out "
                "(run accuracy on the clean set for them)"
            )
        elif cfg.stored:
            correct, n, clean_correct, n_clean, source = self._run_stored(ctx, Path(cfg.stored))
        else:
            correct, n, clean_correct, n_clean, rows = self._run_generated(ctx, params, storage)
            source = {
                "kind": "generated",
                "params": params,
                "storage": storage,
                "note": "corrupted on the fly from the decoded images; storage emulates how the stored benchmark was saved",
            }
        metrics, data = self._summarise(correct, n, clean_correct, n_clean, params, warnings, source)
        artifacts = {}
        if cfg.examples and not cfg.stored and not _stored_dataset(ctx.dataset):
            artifacts["corruption_examples.png"] = self._examples(ctx, params)
        if cfg.gallery and rows is not None and len(rows):
            data["gallery"] = self._gallery(ctx, rows, params, storage, artifacts)
        return ProbeResult(metrics=metrics, data=data, samples=rows, artifacts=artifacts, warnings=warnings)

    def _storage_fn(self, storage: str):
        """How generated images are quantised before the model sees them (as the benchmark stored them)."""
        import torch

        from visaudit.perturb.corruptions import quantize_like_reference
        from visaudit.perturb.corruptions.digital import jpeg_roundtrip_uint8

        def store(x: "torch.Tensor") -> "torch.Tensor":
            if storage == "none":
                return x
            # one quantisation, as the benchmark saved its images; JPEG stays in uint8
            u8 = quantize_like_reference(x)
            if storage == "jpeg85":
                u8 = jpeg_roundtrip_uint8(u8, 85)
            return torch.empty(x.shape, dtype=x.dtype, device=x.device).copy_(u8).div_(255)

        return store

    def _corrupted(self, ctx: "ProbeContext", x: "torch.Tensor", index: np.ndarray, c: str, s: int, params: str, store):
        """The images the model sees under ``c``/``s``: per-image draws, so any subset gives the same pixels."""
        from visaudit.perturb.corruptions import CORRUPTIONS, corrupt

        g = ctx.sample_rng(f"corruptions/{c}/{s}", index) if CORRUPTIONS.get(c).random else None
        return store(corrupt(x, c, s, generator=g, params=params))

    def _run_generated(self, ctx: "ProbeContext", params: str, storage: str):
        import pandas as pd
        import torch

        conds = self._conditions()
        store = self._storage_fn(storage)

        def chunk(batches: Iterator["Batch"]) -> ChunkResult:
            # counts stay on the device: no host sync inside the loop
            correct = torch.zeros(len(conds), dtype=torch.int64, device=ctx.device)
            clean = torch.zeros((), dtype=torch.int64, device=ctx.device)
            n = 0
            frames = []
            for b in batches:
                p0 = ctx.scores(ctx.logits(b.x))
                clean += (p0.argmax(1) == b.y).sum()
                pt0 = p0.gather(1, b.y[:, None]).squeeze(1)
                # worst condition per image: the largest drop of the true-class probability
                # (the first condition wins a tie)
                worst_drop = torch.full_like(pt0, -float("inf"))
                worst_cond = torch.zeros_like(b.y)
                worst_pt = torch.zeros_like(pt0)
                worst_pred = torch.zeros_like(b.y)
                for i, (c, s) in enumerate(conds):
                    pc = ctx.scores(ctx.logits(self._corrupted(ctx, b.x, b.index, c, s, params, store)))
                    pred = pc.argmax(1)
                    correct[i] += (pred == b.y).sum()
                    ptc = pc.gather(1, b.y[:, None]).squeeze(1)
                    drop = pt0 - ptc
                    better = drop > worst_drop
                    worst_drop = torch.where(better, drop, worst_drop)
                    worst_cond = torch.where(better, torch.full_like(worst_cond, i), worst_cond)
                    worst_pt = torch.where(better, ptc, worst_pt)
                    worst_pred = torch.where(better, pred, worst_pred)
                n += len(b.y)
                wc = worst_cond.cpu().numpy()
                frames.append(
                    pd.DataFrame(
                        {
                            "sample_id": list(b.ids),
                            "position": np.asarray(b.index, dtype=np.int64),
                            "label": b.y.cpu().numpy(),
                            "pred_clean": p0.argmax(1).cpu().numpy(),
                            "p_true_clean": pt0.float().cpu().numpy(),
                            "worst_condition": [f"{conds[j][0]}/{conds[j][1]}" for j in wc],
                            "p_true_worst": worst_pt.float().cpu().numpy(),
                            "pred_worst": worst_pred.cpu().numpy(),
                            "drop": worst_drop.float().cpu().numpy(),
                        }
                    )
                )
            return ChunkResult(
                sums={
                    "correct": correct.cpu().numpy().astype(np.float64),
                    "clean": np.asarray(float(clean)),
                    "n": np.asarray(float(n)),
                },
                rows=pd.concat(frames, ignore_index=True) if frames else None,
                n=n,
            )

        merged = ctx.map_chunks(chunk, tag="corruptions", passes=1 + len(conds))
        n = float(merged.sums.get("n", 0.0))
        if n == 0:
            raise VisauditError(f"no image of {ctx.dataset.name} could be read")
        corr = merged.sums["correct"]
        return (
            {cs: corr[i] for i, cs in enumerate(conds)},
            {cs: n for cs in conds},
            float(merged.sums["clean"]),
            n,
            merged.rows,
        )

    def _gallery(self, ctx: "ProbeContext", rows, params: str, storage: str, artifacts: dict) -> list[GalleryItem]:
        """The images with the largest drops, clean beside their worst corruption, as thumbnails."""
        from visaudit.probes.gallery import thumbnail_png

        classes = ctx.dataset.label_space.classes
        top = rows.sort_values(["drop", "position"], ascending=[False, True], kind="stable").head(self.config.gallery)
        by_pos = {int(r.position): r for r in top.itertuples(index=False)}
        store = self._storage_fn(storage)
        made: dict[int, tuple[bytes, bytes]] = {}
        for b in ctx.batches(indices=np.sort(np.fromiter(by_pos, dtype=np.int64))):
            for j, pos in enumerate(b.index):
                r = by_pos[int(pos)]
                c, s = r.worst_condition.rsplit("/", 1)
                xc = self._corrupted(ctx, b.x[j : j + 1], b.index[j : j + 1], c, int(s), params, store)
                made[int(pos)] = (thumbnail_png(b.x[j]), thumbnail_png(xc[0]))
        items: list[GalleryItem] = []
        for k, r in enumerate(top.itertuples(index=False)):
            if int(r.position) not in made:  # the image could not be decoded a second time
                continue
            clean_png, worst_png = made[int(r.position)]
            stem = f"worst_{k:02d}"
            artifacts[f"{stem}_clean.png"], artifacts[f"{stem}_corrupted.png"] = clean_png, worst_png
            items.append(
                {
                    "sample": str(r.sample_id),
                    "caption": (
                        f"true: {classes[int(r.label)]}; {r.worst_condition}: p(true) {r.p_true_clean:.2f} -> "
                        f"{r.p_true_worst:.2f}, predicted {classes[int(r.pred_worst)]}"
                    ),
                    "images": [
                        {"artifact": f"{stem}_clean.png", "label": "clean"},
                        {"artifact": f"{stem}_corrupted.png", "label": r.worst_condition},
                    ],
                }
            )
        return items

    def _run_stored_dataset(self, ctx: "ProbeContext"):
        """The dataset is a stored copy: one pass over the samples of the chosen conditions."""
        import torch

        conds = self._conditions()
        slot = {f"{c}/{s}": i for i, (c, s) in enumerate(conds)}
        which = np.asarray([slot.get(c, -1) for c in ctx.dataset.conditions], dtype=np.int64)
        positions = np.asarray(ctx.indices, dtype=np.int64)
        positions = positions[which[positions] >= 0]
        which_t = torch.from_numpy(which)

        def chunk(batches: Iterator["Batch"]) -> ChunkResult:
            correct = np.zeros(len(conds))
            seen = np.zeros(len(conds))
            for b in batches:
                hit = (ctx.scores(ctx.logits(b.x)).argmax(1) == b.y).cpu()
                k = which_t[torch.as_tensor(b.index, dtype=torch.long)]
                correct += torch.bincount(k, weights=hit.double(), minlength=len(conds)).numpy()
                seen += torch.bincount(k, minlength=len(conds)).double().numpy()
            return ChunkResult(sums={"correct": correct, "seen": seen}, n=int(seen.sum()))

        merged = ctx.map_chunks(chunk, tag="stored", indices=positions)
        ok = merged.sums.get("correct", np.zeros(len(conds)))
        seen = merged.sums.get("seen", np.zeros(len(conds)))
        if float(np.sum(seen)) == 0:
            raise VisauditError(f"no image of {ctx.dataset.name} could be read")
        correct = {cs: float(ok[i]) for i, cs in enumerate(conds)}
        counts = {cs: float(seen[i]) for i, cs in enumerate(conds)}
        fmt = STORED_LAYOUTS[ctx.dataset.layout]
        return correct, counts, 0.0, 0.0, {"kind": "stored", "format": fmt, "path": str(ctx.dataset.path)}

    def _run_stored(self, ctx: "ProbeContext", root: Path):
        if (root / "labels.npy").is_file():
            return self._run_stored_npy(ctx, root)
        return self._run_stored_tree(ctx, root)

    def _run_stored_npy(self, ctx: "ProbeContext", root: Path):
        """CIFAR-10-C layout: ``<name>.npy`` (5 x N images, severities 1..5 in order) and ``labels.npy``."""
        import torch

        labels_all = np.load(root / "labels.npy")
        limit = ctx.max_images
        correct, counts = {}, {}
        for c, s in self._conditions():
            f = root / f"{c}.npy"
            if not f.is_file():
                raise VisauditError(f"stored CIFAR-10-C folder {root} has no {c}.npy")
            arr = np.load(f, mmap_mode="r")
            per = arr.shape[0] // 5
            lo, hi = (s - 1) * per, s * per
            if limit:
                hi = min(hi, lo + int(limit))
            want = tuple(ctx.model.info.input_size[1:])
            if tuple(arr.shape[1:3]) != want:
                raise VisauditError(
                    f"{f} holds {arr.shape[1]}x{arr.shape[2]} images; the model takes {want[0]}x{want[1]}"
                )
            ok = 0.0
            for start in range(lo, hi, ctx.batch_size):
                stop = min(hi, start + ctx.batch_size)
                x = torch.from_numpy(np.array(arr[start:stop])).to(ctx.device).permute(0, 3, 1, 2).float() / 255
                y = torch.from_numpy(labels_all[start:stop].astype(np.int64)).to(ctx.device)
                ok += float((ctx.scores(ctx.logits(x)).argmax(1) == y).sum())
            correct[(c, s)], counts[(c, s)] = ok, float(hi - lo)
        clean, n_clean = self._clean(ctx)
        return correct, counts, clean, n_clean, {"kind": "stored", "format": "cifar-10-c npy", "path": str(root)}

    def _run_stored_tree(self, ctx: "ProbeContext", root: Path):
        """ImageNet-C layout: ``<root>/<corruption>/<severity>/<class>/<image>``."""
        correct, counts = {}, {}
        for c, s in self._conditions():
            folder = root / c / str(s)
            if not folder.is_dir():
                raise VisauditError(f"stored ImageNet-C tree {root} has no folder {c}/{s}")
            ds = ctx.open_dataset(str(folder))
            merged = ctx.map_chunks(_top1_chunk(ctx), dataset=ds, tag=f"stored/{c}/{s}")
            correct[(c, s)], counts[(c, s)] = float(merged.sums.get("ok", 0)), float(merged.sums.get("n", 0))
        clean, n_clean = self._clean(ctx)
        return correct, counts, clean, n_clean, {"kind": "stored", "format": "imagenet-c tree", "path": str(root)}

    def _clean(self, ctx: "ProbeContext") -> tuple[float, float]:
        merged = ctx.map_chunks(_top1_chunk(ctx), tag="clean")
        return float(merged.sums.get("ok", 0)), float(merged.sums.get("n", 0))

    def _summarise(
        self, correct, counts, clean_correct, n_clean, params, warnings, source: GeneratedSource | StoredSource
    ) -> tuple[dict[str, float], CorruptionsData]:
        from visaudit.metrics.corruption_errors import mean_corruption_error, relative_mce

        top1 = {cs: (correct[cs] / counts[cs] if counts[cs] else float("nan")) for cs in correct}
        clean_top1 = clean_correct / n_clean if n_clean else float("nan")
        metrics: dict[str, float] = {"clean_top1": clean_top1} if n_clean else {}
        for (c, s), v in top1.items():
            metrics[f"top1@{c}/{s}"] = v
        bench = [c for c in BENCHMARK if c in self.config.corruptions]
        extra = [c for c in EXTRA if c in self.config.corruptions]
        sev = list(self.config.severities)
        errs = {c: [1 - top1[(c, s)] for s in sev] for c in bench}
        normalise = params == "imagenet"
        if bench:
            ce = mean_corruption_error(errs, normalise=normalise)
            metrics.update(ce)
            if n_clean:
                metrics["relative_mce"] = relative_mce(errs, 1 - clean_top1, normalise=normalise)
            metrics["corrupted_top1"] = float(np.mean([top1[(c, s)] for c in bench for s in sev]))
        if extra:
            metrics["extra_top1"] = float(np.mean([top1[(c, s)] for c in extra for s in sev]))
        for fam, names in FAMILIES.items():
            sel = [top1[(c, s)] for c in names if c in self.config.corruptions for s in sev]
            if sel:
                metrics[f"family_top1@{fam}"] = float(np.mean(sel))
        if len(bench) < len(BENCHMARK) or len(sev) < 5:
            warnings.append(
                "mCE is over a subset of the benchmark (corruptions or severities left out); "
                "it is not comparable with published values"
            )
        if not normalise:
            warnings.append(
                "no AlexNet errors exist for CIFAR-10-C parameters: mce and ce@* are unnormalised "
                "mean errors (the CIFAR-10-C convention), relative_mce the mean error increase"
            )
        data: CorruptionsData = {
            "params": params,
            "normalisation": "alexnet" if normalise else "none",
            "grid": {c: {str(s): top1[(c, s)] for s in sev} for c in self.config.corruptions},
            "families": {f: list(v) for f, v in FAMILIES.items()},
            "n": {f"{c}/{s}": counts[(c, s)] for (c, s) in counts},
            "source": source,
        }
        return metrics, data

    def _examples(self, ctx: "ProbeContext", params: str) -> bytes:

        from visaudit.perturb.corruptions import corrupt
        from visaudit.probes.example_images import grid_png, to_hwc

        k = max(1, int(self.config.examples))
        idx = np.arange(min(k, len(ctx.dataset)))
        batch = next(iter(ctx.batches(indices=idx)))
        rows = []
        for c in self.config.corruptions:
            for j in range(len(batch.y)):
                row = [to_hwc(batch.x[j])]
                for s in self.config.severities:
                    g = ctx.generator(f"examples/{c}/{s}")
                    row.append(to_hwc(corrupt(batch.x[j : j + 1], c, s, generator=g, params=params)[0]))
                rows.append(row)
        h = batch.x.shape[-1]
        return grid_png(rows, scale=max(1, 96 // h))


def _top1_chunk(ctx: "ProbeContext"):
    """A chunk function counting top-1 hits (``ok``) and images (``n``) of a clean or stored pass."""

    def chunk(batches: Iterator["Batch"]) -> ChunkResult:
        ok, n = 0.0, 0
        for b in batches:
            ok += float((ctx.scores(ctx.logits(b.x)).argmax(1) == b.y).sum())
            n += len(b.y)
        return ChunkResult(sums={"ok": np.asarray(ok), "n": np.asarray(float(n))}, n=n)

    return chunk
