"""``ood``: out-of-distribution detection from one pass per dataset.

The job's dataset is the in-distribution (ID) set. One pass over it and one over each OOD set
stores logits and penultimate features (checkpointed per chunk); every detector is then
computed from those arrays. ODIN alone needs the model again (an input perturbation per
sample); it is done inside the same pass, so ``odin`` in ``detectors`` costs about three
extra forward passes per image.

Sign convention: detector scores are higher for ID; OOD is the positive class for AUROC,
AUPR-Out and FPR@95 (share of OOD accepted when 95 % of ID is kept). See
:mod:`visaudit.metrics.ood`.

Mahalanobis, ViM, KNN and ReAct fit their statistics on in-distribution data: by default a
seeded *fit* part of the ID set (the other part is scored against every OOD set), or, with
``fit_set``, a separate dataset given by registered name or folder path (OpenOOD's protocol
fits on the training set); every ID image is then scored. The record states what the
detectors were fitted on and how many images (``data.fit``).

FPR at 95 % TPR is reported in both conventions: ``fpr95`` (ID positive: OOD accepted when 95 %
of ID is kept) and ``fpr95_openood`` (OpenOOD v1.5, OOD positive: ID rejected
when 95 % of OOD is caught).

OOD sets (``ood_sets``): names of registered datasets, folder paths, the synthetic sets of
:mod:`visaudit.data.synthetic_ood`, ``heldout-classes``, or ``auto``:
the four synthetic sets; for CIFAR-10 models also Fashion-MNIST, the silhouettes and the
held-out-classes near-OOD split. ``heldout-classes`` (needs an ID set in the model's own
label space): ID = eval samples of the classes not in ``heldout_classes`` (default 0-5),
OOD = eval samples of ``heldout_classes`` (default 6-9: frog, horse, ship, truck); logits,
the head and all fits are restricted to the ID classes. The CIFAR models were trained on all
ten classes, so this split measures how well scores separate classes outside the restricted
output space, a proxy for near-OOD rather than truly unseen classes.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np

from visaudit.errors import VisauditError
from visaudit.probes.base import MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.data.base import ImageDataset
    from visaudit.probes.base import ProbeContext

ALL_DETECTORS = ["msp", "maxlogit", "energy", "odin", "mahalanobis", "vim", "knn", "react", "ash"]
SYNTHETIC = ("uniform-noise", "gaussian-noise", "blobs", "solid-colours")
HELDOUT = "heldout-classes"


@dataclass
class OODConfig(ProbeConfig):
    """Options of the OOD probe.

    Attributes:
        ood_sets: OOD set names / folder paths, ``heldout-classes`` or ``auto`` (see module doc).
        detectors: detector names (registry ``visaudit.ood.DETECTORS``).
        max_ood_images: seeded subset size per real OOD set, and the size of each synthetic set.
        fit_fraction: share of the ID images used to fit detector statistics (without ``fit_set``).
        fit_set: a dataset (registered name or folder path) to fit the detectors on instead of
            a split of the ID images; "" for the split. If it is the ID dataset itself, the
            images the job evaluates are left out of it.
        max_fit_images: seeded subset size of ``fit_set`` (0: all its images).
        heldout_classes: the model's classes treated as OOD in ``heldout-classes``.
        odin_temperature, odin_eps: ODIN's T and pixel-space step.
        knn_k: KNN's k (default 50, OpenOOD's and pytorch-ood's; 0 departs from them:
            round(n_fit / 1000), at least 1).
        vim_dim: ViM principal-subspace size (0: half the feature dimension).
        react_percentile, ash_percentile: ReAct clip percentile, ASH-S pruning percentile.
    """

    ood_sets: list[str] = field(default_factory=lambda: ["auto"])
    detectors: list[str] = field(default_factory=lambda: list(ALL_DETECTORS))
    max_ood_images: int = 1000
    fit_fraction: float = 0.5
    fit_set: str = ""
    max_fit_images: int = 0
    heldout_classes: list[int] = field(default_factory=lambda: [6, 7, 8, 9])
    odin_temperature: float = 1000.0
    odin_eps: float = 0.0014
    knn_k: int = 50
    vim_dim: int = 0
    react_percentile: float = 90.0
    ash_percentile: float = 90.0


def resolve_sets(names: list[str], model_label_space: str) -> list[str]:
    """Expand ``auto`` and drop duplicates, keeping order."""
    out: list[str] = []
    for n in names:
        if n == "auto":
            extra = ["fashion-mnist", "silhouettes", HELDOUT] if model_label_space == "cifar10" else []
            out += list(SYNTHETIC) + extra
        else:
            out.append(n)
    return list(dict.fromkeys(out))


def set_label(name: str) -> str:
    """The name of a set in metric keys (a folder path becomes its last component)."""
    if name in SYNTHETIC or name == HELDOUT or "/" not in name:
        return name.replace("@", "_")
    return Path(name.rstrip("/")).name.replace("@", "_") or "folder"


class OODSetInfo(TypedDict):
    kind: str  # "synthetic" or "dataset"
    n: int


class OdinSetting(TypedDict):
    runs_model: bool
    temperature: float
    eps: float


class OODData(TypedDict):
    """Scores per detector and set (from :func:`visaudit.ood.evaluate.evaluate`) and how they were fitted."""

    sign_convention: str
    table: list[dict[str, Any]]  # one row per (detector, set): auroc, fpr95, fpr95_openood, aupr_in, aupr_out
    histograms: dict[str, dict[str, list[float]]]  # "<detector>/<set>" -> {"edges", "id", "ood"} (counts)
    sanity_id_vs_id_auroc: dict[str, float]
    split: dict[str, Any]
    sets: dict[str, OODSetInfo]
    odin: OdinSetting | None
    fit_labels: str
    fit: dict[str, Any]  # on, n_fit, fit_set, fit_fraction, knn
    fpr95_conventions: dict[str, str]


@register_probe
class OODProbe(Probe):
    """OOD detection: AUROC, AUPR-In/Out and FPR@95 of every detector against every OOD set."""

    name = "ood"
    Data = OODData
    version = 2
    Config = OODConfig
    needs_grad = True  # ODIN differentiates w.r.t. the input; plain passes use no_grad
    headline = "auroc@msp/mean"
    metrics = {
        "auroc": MetricSpec(True, "AUROC, OOD positive, score higher = more in-distribution"),
        "aupr_in": MetricSpec(True, "area under precision-recall, ID positive"),
        "aupr_out": MetricSpec(True, "area under precision-recall, OOD positive"),
        "fpr95": MetricSpec(False, "FPR@95%TPR, ID positive: share of OOD accepted at the threshold keeping 95% of ID"),
        "fpr95_openood": MetricSpec(
            False, "FPR@95%TPR as OpenOOD v1.5, OOD positive: share of ID rejected at the threshold catching 95% of OOD"
        ),
    }

    def check(self, model: Any, dataset: "ImageDataset | None") -> None:
        from visaudit.ood import DETECTORS

        cfg = self.config
        for d in cfg.detectors:
            if d not in DETECTORS:
                raise VisauditError(DETECTORS.unknown_message(d))
        if not cfg.detectors:
            raise VisauditError("ood: no detectors configured")
        if not 0.0 < cfg.fit_fraction < 1.0:
            raise VisauditError("ood: fit_fraction must be in (0, 1)")
        if cfg.max_fit_images < 0 or cfg.knn_k < 0:
            raise VisauditError("ood: max_fit_images and knn_k must be >= 0")
        sets = resolve_sets(cfg.ood_sets, getattr(model, "label_space", ""))
        if not sets:
            raise VisauditError("ood: no OOD sets configured")
        if HELDOUT in sets:
            n = int(getattr(model, "num_classes", 0) or 0)
            held = set(cfg.heldout_classes)
            if not held or (n and (not held < set(range(n)))):
                raise VisauditError(f"ood: heldout_classes {cfg.heldout_classes} must be a proper subset of 0..{n - 1}")

    def inputs(self, model: Any, dataset: "ImageDataset | None") -> dict[str, Any]:
        """Content fingerprints of the real OOD sets (synthetic ones are made from the seed and config)."""
        from visaudit.data.catalog import open_dataset

        cfg = self.config
        out: dict[str, Any] = {}
        for name in resolve_sets(cfg.ood_sets, getattr(model, "label_space", "")):
            if name in SYNTHETIC or name == HELDOUT:
                continue
            try:
                out[name] = open_dataset(name).fingerprint()
            except VisauditError as err:
                if "auto" not in cfg.ood_sets:
                    raise VisauditError(f"ood: OOD set {name!r} cannot be opened: {err}") from err
                out[name] = "unavailable"  # skipped by `auto`; the key changes once it appears
        return out

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        import pandas as pd

        from visaudit.ood.evaluate import HELDOUT_SET, ID_KEY, StoredSet, collect_chunk, evaluate

        cfg = self.config
        info = ctx.model.info
        identity = ctx.label_map.kind == "identity"
        names = resolve_sets(cfg.ood_sets, info.label_space)
        warnings: list[str] = []
        heldout = None
        if HELDOUT in names:
            names.remove(HELDOUT)
            if identity:
                heldout = sorted(set(cfg.heldout_classes))
            else:
                warnings.append("heldout-classes skipped: the ID dataset is not in the model's label space")
        keep = [c for c in range(info.num_classes) if heldout and c not in heldout]
        use_odin = "odin" in cfg.detectors

        def views(held: bool) -> dict[str, Any]:
            if not use_odin:
                return {}
            return {"all": None, HELDOUT_SET: keep} if held else {"all": None}

        calls = ctx.model_calls()

        def pass_over(view: dict[str, Any], fit_split=None):
            return lambda batches: collect_chunk(calls, batches, view, cfg.odin_temperature, cfg.odin_eps, fit_split)

        id_split = None if cfg.fit_set else (cfg.fit_fraction, ctx.seed)
        id_chunks = ctx.map_chunks(pass_over(views(heldout is not None), id_split), tag="id")
        if id_chunks.n < 4:
            raise VisauditError(f"ood: only {id_chunks.n} in-distribution images could be read")
        id_set = StoredSet.from_stacks(id_chunks.stacks)
        fit_set, fit_labels_ext, fit_on, fit_info = None, None, "", {}
        if cfg.fit_set:
            fit_set, fit_labels_ext, fit_on, fit_info = self._fit_pass(ctx, id_set, pass_over, warnings)

        ood_sets: dict[str, StoredSet] = {}
        ood_ids: dict[str, list[str]] = {}
        id_copies: set[str] = set()
        for name in names:
            try:
                ds = self._open(ctx, name)
            except VisauditError as err:
                if "auto" not in cfg.ood_sets:
                    raise
                warnings.append(f"OOD set {name} skipped: {err}")
                continue
            label = set_label(name)
            exclude = None
            if ds.fingerprint() == ctx.dataset.fingerprint():
                # the ID dataset used as "OOD" (a sanity check): only images the ID pass did not use
                exclude = id_set.index
                id_copies.add(set_label(name))
                warnings.append(
                    f"OOD set {name} is the ID dataset (a sanity check; expect AUROC 0.5): its images "
                    "used as ID are left out, and it is not part of the `mean` metrics"
                )
            if fit_set is not None and ds.fingerprint() == fit_info["fingerprint"]:
                # images the detectors were fitted on would sit at distance 0 from themselves
                fitted = fit_set.index
                exclude = fitted if exclude is None else np.union1d(exclude, fitted)
                warnings.append(f"OOD set {name} is the fit set: its {len(fitted)} fitted images are left out")
            idx = self._subset(ctx, len(ds), label, exclude)
            res = ctx.map_chunks(pass_over(views(False)), dataset=ds, tag=f"ood-{label}", indices=idx)
            if res.n == 0:
                warnings.append(f"OOD set {name}: no image could be read")
                continue
            ood_sets[label] = StoredSet.from_stacks(res.stacks)
            ood_ids[label] = [ds.ids[i] for i in res.stacks["index"]]
        if not ood_sets and heldout is None:
            raise VisauditError("ood: no OOD set could be opened")

        head_w = ctx.model.head_weight.detach().float().cpu().numpy()
        bias = ctx.model.head_bias
        head_b = bias.detach().float().cpu().numpy() if bias is not None else None
        report = evaluate(
            id_set,
            ood_sets,
            cfg.detectors,
            head_w,
            head_b,
            fit_labels=self._fit_labels(ctx, id_set),
            fit_fraction=cfg.fit_fraction,
            seed=ctx.seed,
            heldout_classes=heldout,
            params=self._params(),
            fit_set=fit_set,
            fit_set_labels=fit_labels_ext,
            fit_on=fit_on,
        )
        metrics = dict(report.metrics)
        knn = report.info["resolved_params"].get("knn")
        if knn and knn["n_fit"] < 20 * knn["k"]:
            warnings.append(
                f"knn: k={knn['k']} is {knn['k'] / knn['n_fit']:.0%} of the {knn['n_fit']} images the "
                "detectors were fitted on; the reference k = 50 is meant for a training set (50 000 "
                "CIFAR-10 images): fit on more images (fit_set) or set knn_k"
            )
        far = [s for s in ood_sets if s not in id_copies]
        for det in cfg.detectors:
            for m in ("auroc", "fpr95", "fpr95_openood", "aupr_in", "aupr_out"):
                vals = [metrics[f"{m}@{det}/{s}"] for s in far]
                if vals:
                    metrics[f"{m}@{det}/mean"] = float(np.mean(vals))
        if use_odin:
            warnings.append(
                "odin re-runs the model (input perturbation) inside the data pass; "
                "all other detectors use the stored logits and features only"
            )

        id_ids = [ctx.dataset.ids[i] for i in id_set.index[report.id_eval_index]]
        rows = [
            pd.DataFrame({"set": "id", "sample_id": id_ids, **{d: report.scores[d][ID_KEY] for d in cfg.detectors}})
        ]
        for label in ood_sets:
            rows.append(
                pd.DataFrame(
                    {"set": label, "sample_id": ood_ids[label], **{d: report.scores[d][label] for d in cfg.detectors}}
                )
            )
        data: OODData = {
            "sign_convention": "score higher = more in-distribution; OOD is the positive class",
            "table": report.table,
            "histograms": report.histograms,
            "sanity_id_vs_id_auroc": report.sanity,
            "split": report.info,
            "sets": {
                s: {"kind": "synthetic" if s in SYNTHETIC else "dataset", "n": int(len(a.logits))}
                for s, a in ood_sets.items()
            },
            "odin": {"runs_model": True, "temperature": cfg.odin_temperature, "eps": cfg.odin_eps}
            if use_odin
            else None,
            "fit_labels": "true labels" if identity else "model predictions",
            "fit": {
                "on": report.info["fit_on"],
                "n_fit": report.info["n_fit"],
                "fit_set": cfg.fit_set or None,
                "fit_fraction": None if cfg.fit_set else cfg.fit_fraction,
                **fit_info,
                "knn": report.info["resolved_params"].get("knn"),
            },
            "fpr95_conventions": {
                "fpr95": "ID positive: share of OOD accepted at the threshold keeping 95% of ID",
                "fpr95_openood": "OpenOOD v1.5, OOD positive: share of ID rejected at the first ROC "
                "point catching 95% of OOD",
            },
        }
        return ProbeResult(metrics=metrics, data=data, samples=pd.concat(rows, ignore_index=True), warnings=warnings)

    # -- helpers --------------------------------------------------------------------------------
    def _params(self) -> dict[str, dict[str, Any]]:
        c = self.config
        return {
            "knn": {"k": c.knn_k},
            "vim": {"dim": c.vim_dim},
            "react": {"percentile": c.react_percentile},
            "ash": {"percentile": c.ash_percentile},
        }

    def _fit_pass(self, ctx: "ProbeContext", id_set, pass_over, warnings: list[str]):
        """One pass over ``fit_set`` (no ODIN): its arrays, labels in the model's space (or None:
        predictions), what the detectors are fitted on and record fields."""
        from visaudit.ood.evaluate import StoredSet

        cfg = self.config
        ds = ctx.open_dataset(cfg.fit_set)
        exclude = None
        if ds.fingerprint() == ctx.dataset.fingerprint():
            exclude = id_set.index  # the ID images the job scores are not fitted on
            warnings.append(
                f"fit set {cfg.fit_set} is the ID dataset: the {len(exclude)} images scored as ID are left out of it"
            )
        pool = np.arange(len(ds), dtype=np.int64)
        if exclude is not None:
            pool = np.setdiff1d(pool, exclude)
        if cfg.max_fit_images and len(pool) > cfg.max_fit_images:
            rng = np.random.default_rng([ctx.seed, zlib.crc32(b"fit")])
            pool = np.sort(rng.choice(pool, size=cfg.max_fit_images, replace=False)).astype(np.int64)
        res = ctx.map_chunks(pass_over({}), dataset=ds, tag="fit", indices=pool)
        if res.n < 2:
            raise VisauditError(f"ood: only {res.n} images of the fit set {cfg.fit_set} could be read")
        fit = StoredSet.from_stacks(res.stacks)
        labels = None
        same_space = ds.label_space.name == ctx.dataset.label_space.name
        if same_space:
            labels = self._fit_labels(ctx, fit)
        on = f"fit set {cfg.fit_set} ({res.n} images)"
        info = {
            "fingerprint": ds.fingerprint(),
            "fit_set_images_total": len(ds),
            "left_out_id_images": 0 if exclude is None else int(len(exclude)),
            "fit_set_labels": "true labels" if labels is not None else "model predictions",
        }
        return fit, labels, on, info

    def _open(self, ctx: "ProbeContext", name: str) -> "ImageDataset":
        if name in SYNTHETIC:
            from visaudit.data.synthetic_ood import synthetic_ood

            ds = synthetic_ood(name, n=self.config.max_ood_images, seed=ctx.seed)
            if ctx.dataset.preprocess is None:
                raise VisauditError("ood: the ID dataset is not bound to the model's preprocessing")
            return ds.bind(ctx.dataset.preprocess)
        return ctx.open_dataset(name)

    def _subset(self, ctx: "ProbeContext", n: int, label: str, exclude: np.ndarray | None = None) -> np.ndarray:
        cap = self.config.max_ood_images
        if ctx.max_images:
            cap = min(cap, int(ctx.max_images))
        pool = np.arange(n, dtype=np.int64)
        if exclude is not None:
            pool = np.setdiff1d(pool, exclude)
        if len(pool) <= cap:
            return pool
        rng = np.random.default_rng([ctx.seed, zlib.crc32(label.encode())])
        return np.sort(rng.choice(pool, size=cap, replace=False)).astype(np.int64)

    @staticmethod
    def _fit_labels(ctx: "ProbeContext", id_set) -> np.ndarray | None:
        kind = ctx.label_map.kind
        if kind == "identity":
            return id_set.labels
        if kind == "subset" and ctx.label_map.indices is not None:
            return np.asarray(ctx.label_map.indices)[id_set.labels]
        return None  # model predictions
