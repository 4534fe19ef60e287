"""``adversarial``: clean and robust accuracy per attack and radius (AutoAttack protocol).

Robust accuracy ``robust_top1@<attack>/<norm>=<eps>`` is the share of images that are
classified correctly and that the attack could not break inside the eps-ball (in [0,1]
pixel space). ``autoattack`` is the standard protocol; ``worst`` is the per-sample worst
case over all configured attacks. A robustness curve (accuracy vs eps) comes from a per-image
minimal-eps estimate (bisection with APGD-CE). Each chunk of images is checkpointed, so a
killed run resumes at the last finished chunk.

Every attack draws from one random stream per image (seeded from the job seed, the attack and
radius, and the image's dataset position), so an image's result does not depend on the batch
size, the chunking or a resume. The defaults are AutoAttack standard's reference settings;
departures (``linf_start: uniform`` for APGD, ``rescale_schedule`` / ``redraw_noop`` for
Square) are per-attack options in ``attack_options``, recorded with the resolved settings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, TypedDict

import numpy as np

from visaudit.errors import VisauditError
from visaudit.probes.base import ChunkResult, MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.probes.base import Batch, ProbeContext


@dataclass
class AdversarialConfig(ProbeConfig):
    """Options of the adversarial probe.

    Attributes:
        attacks: attack names: ``autoattack``, ``apgd-ce``, ``apgd-t``, ``fab-t``, ``square``,
            ``pgd<N>`` (e.g. ``pgd20``), ``fgsm``.
        linf_eps: Linf radii as text (``"8/255"``), in [0,1] pixel units.
        l2_eps: L2 radii as text.
        autoattack_parts: the parts AutoAttack runs (default: the standard four). A subset is
            recorded and changes the cache key; it is no longer the standard protocol.
        attack_options: per-attack keyword overrides, e.g. ``{"apgd-ce": {"n_iter": 20}}``
            (``"autoattack": {"square": {"n_queries": 1000}}`` for its parts). Options that
            depart from the reference, all off by default: ``"linf_start": "uniform"`` (APGD),
            ``"rescale_schedule": true`` and ``"redraw_noop": true`` (Square).
        curve_norm: threat model of the minimal-eps curve ("" to skip the curve).
        curve_eps_max: largest radius of the bisection.
        curve_steps: bisection steps (resolution eps_max / 2**steps).
        curve_iter: APGD-CE iterations per bisection step.
        curve_points: number of eps values of the stored curve.
        masking_check: measure the share of all-zero input gradients (gradient masking).
    """

    attacks: list[str] = field(default_factory=lambda: ["autoattack"])
    linf_eps: list[str] = field(default_factory=lambda: ["1/255", "2/255", "4/255", "8/255"])
    l2_eps: list[str] = field(default_factory=lambda: ["0.1", "0.25", "0.5"])
    autoattack_parts: list[str] = field(default_factory=lambda: ["apgd-ce", "apgd-t", "fab-t", "square"])
    attack_options: dict = field(default_factory=dict)
    curve_norm: str = "linf"
    curve_eps_max: str = "16/255"
    curve_steps: int = 6
    curve_iter: int = 20
    curve_points: int = 33
    masking_check: bool = True


class GradientMasking(TypedDict):
    """The masking checks: all-zero gradients, points only the black-box attack broke, warnings."""

    zero_gradient_share: float
    square_extra: int
    flags: list[str]


class RobustnessCurve(TypedDict):
    """Robust top-1 against eps from each image's minimal breaking eps (bisection)."""

    norm: str
    eps: list[float]
    top1: list[float]
    estimate: str


class _AdversarialRequired(TypedDict):
    table: list[dict[str, Any]]  # {"attack", "norm", "eps", "robust_top1"} per cell
    budget: dict[str, dict[str, Any]]  # "<attack>/<norm>=<eps>" -> forward/backward images, wall seconds
    n_images: int
    attack_settings: dict[str, Any]  # the resolved per-attack settings (the protocol actually run)
    passes: dict[str, int]  # forward_images, backward_images


class AdversarialData(_AdversarialRequired, total=False):
    """Robust accuracy per cell; ``autoattack_parts`` with AutoAttack, ``gradient_masking`` with
    ``masking_check``, ``curve`` with ``curve_norm``."""

    autoattack_parts: dict[str, dict[str, float]]  # radius -> part -> robust share after it
    gradient_masking: GradientMasking
    curve: RobustnessCurve


@register_probe
class AdversarialProbe(Probe):
    """Robust accuracy under Linf / L2 attacks (AutoAttack standard, APGD, PGD, FGSM, FAB-T, Square)."""

    name = "adversarial"
    version = 2  # 2: random starts and Square's draws per image (seeded by its dataset position)
    Config = AdversarialConfig
    headline = "robust_top1"
    needs_grad = True
    random = True
    Data = AdversarialData
    metrics = {
        "clean_top1": MetricSpec(True, "top-1 accuracy without attack on the attacked images"),
        "robust_top1": MetricSpec(True, "share of images correct and not broken by the attack within eps"),
        "zero_gradient_share": MetricSpec(False, "share of images with an all-zero input gradient (masking)"),
    }

    def check(self, model, dataset) -> None:
        from visaudit.attacks import ATTACKS

        cfg = self.config
        for a in list(cfg.attacks) + list(cfg.autoattack_parts):
            if a != "autoattack" and not a.startswith("pgd") and a not in ATTACKS:
                raise VisauditError(f"unknown attack {a!r}; known: autoattack, pgd<N>, {', '.join(ATTACKS.names())}")
        if cfg.curve_norm and cfg.curve_norm.lower() not in ("linf", "l2"):
            raise VisauditError(f"curve_norm must be linf, l2 or empty, not {cfg.curve_norm!r}")
        if not (cfg.linf_eps or cfg.l2_eps):
            raise VisauditError("no eps given (linf_eps and l2_eps are empty)")

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        import pandas as pd

        from visaudit.attacks.masking import masking_flags, random_rows, zero_gradient_share
        from visaudit.attacks.minimal_eps import minimal_eps, robustness_curve
        from visaudit.attacks.runs import eps_label, oracle_for, parse_cells, run_attack
        from visaudit.attacks.threat import inside, parse_eps

        cfg = self.config
        cells = parse_cells(cfg.linf_eps, cfg.l2_eps)
        options = dict(cfg.attack_options)
        options["autoattack_parts"] = list(cfg.autoattack_parts)
        aa_parts = list(cfg.autoattack_parts)
        curve_max = parse_eps(cfg.curve_eps_max) if cfg.curve_norm else 0.0

        def chunk(batches: Iterator["Batch"]) -> ChunkResult:
            sums: dict[str, float] = {
                "n": 0.0,
                "correct": 0.0,
                "zero_grad": 0.0,
                "square_extra": 0.0,
                "white_robust": 0.0,
                "outside": 0.0,
            }
            frames = []
            for b in batches:
                oracle = oracle_for(ctx)
                x, y = b.x.float(), b.y
                correct = oracle.logits(x).argmax(1) == y
                row = {"index": b.index, "id": b.ids, "label": y.cpu().numpy(), "clean_correct": correct.cpu().numpy()}
                sums["n"] += len(y)
                sums["correct"] += float(correct.sum())
                if cfg.masking_check:
                    sums["zero_grad"] += zero_gradient_share(oracle, x, y) * len(y)
                    # a randomised defence answers twice differently (counted per image, so any batching)
                    sums["random_outputs"] = sums.get("random_outputs", 0.0) + float(random_rows(oracle, x).sum())
                for norm, text, eps in cells:
                    worst = correct.clone()
                    for a in cfg.attacks:
                        key = f"{a}/{eps_label(norm, text)}"
                        t0 = time.perf_counter()
                        before = oracle.budget()
                        x_adv, robust, info = run_attack(
                            a,
                            oracle,
                            x,
                            y,
                            norm=norm,
                            eps=eps,
                            generator=ctx.sample_rng(f"adversarial/{key}", b.index),
                            options=options,
                        )
                        sums[f"outside:{key}"] = sums.get(f"outside:{key}", 0.0) + float(
                            (~inside(x_adv, x, eps, norm)).sum()
                        )
                        after = oracle.budget()
                        for k, part in (("fwd", "forward_images"), ("bwd", "backward_images")):
                            sums[f"{k}:{key}"] = sums.get(f"{k}:{key}", 0.0) + after[part] - before[part]
                        sums[f"wall:{key}"] = sums.get(f"wall:{key}", 0.0) + time.perf_counter() - t0
                        sums[f"robust:{key}"] = sums.get(f"robust:{key}", 0.0) + float(robust.sum())
                        row[f"robust@{key}"] = robust.cpu().numpy()
                        worst &= robust
                        if a == "autoattack":
                            for p, mask in info["robust_after"].items():
                                k2 = f"after:{p}:{eps_label(norm, text)}"
                                sums[k2] = sums.get(k2, 0.0) + float(mask.sum())
                            if "square" in info["robust_after"] and len(aa_parts) > 1:
                                white = (
                                    info["robust_after"][aa_parts[aa_parts.index("square") - 1]]
                                    if aa_parts.index("square") > 0
                                    else correct
                                )
                                sums["white_robust"] += float(white.sum())
                                sums["square_extra"] += float((white & ~info["robust_after"]["square"]).sum())
                    if len(cfg.attacks) > 1:
                        k = f"worst/{eps_label(norm, text)}"
                        sums[f"robust:{k}"] = sums.get(f"robust:{k}", 0.0) + float(worst.sum())
                        row[f"robust@{k}"] = worst.cpu().numpy()
                if cfg.curve_norm:
                    me = minimal_eps(
                        oracle,
                        x,
                        y,
                        norm=cfg.curve_norm,
                        eps_max=curve_max,
                        steps=cfg.curve_steps,
                        n_iter=cfg.curve_iter,
                        generator=ctx.sample_rng("adversarial/curve", b.index),
                    )
                    row["min_eps"] = me.cpu().numpy()
                for k in ("forward_images", "backward_images"):
                    sums[f"total_{k}"] = sums.get(f"total_{k}", 0.0) + oracle.budget()[k]
                frames.append(pd.DataFrame(row))
            return ChunkResult(
                sums={k: np.asarray(v) for k, v in sums.items()},
                rows=pd.concat(frames, ignore_index=True) if frames else None,
                n=int(sums["n"]),
            )

        merged = ctx.map_chunks(chunk, tag="adversarial")
        s = {k: float(v) for k, v in merged.sums.items()}
        n = max(s.get("n", 0.0), 1.0)
        metrics = {"clean_top1": s.get("correct", 0.0) / n}
        budget, table = {}, []
        for norm, text, _ in cells:
            for a in list(cfg.attacks) + (["worst"] if len(cfg.attacks) > 1 else []):
                key = f"{a}/{eps_label(norm, text)}"
                metrics[f"robust_top1@{key}"] = s.get(f"robust:{key}", 0.0) / n
                table.append({"attack": a, "norm": norm, "eps": text, "robust_top1": metrics[f"robust_top1@{key}"]})
                if a != "worst":
                    budget[key] = {
                        "forward_images": int(s.get(f"fwd:{key}", 0)),
                        "backward_images": int(s.get(f"bwd:{key}", 0)),
                        "wall_s": round(s.get(f"wall:{key}", 0.0), 3),
                    }
        outside = int(sum(v for k, v in s.items() if k.startswith("outside:")))
        data: AdversarialData = {
            "table": table,
            "budget": budget,
            "n_images": int(n),
            "attack_settings": self._settings(ctx),
        }
        if "autoattack" in cfg.attacks:
            data["autoattack_parts"] = {
                f"{eps_label(norm, text)}": {p: s.get(f"after:{p}:{eps_label(norm, text)}", 0.0) / n for p in aa_parts}
                for norm, text, _ in cells
            }
        warnings = []
        if outside:
            warnings.append(f"{outside} adversarial examples fell outside the eps-ball or the box")
        if cfg.masking_check:
            metrics["zero_gradient_share"] = s.get("zero_grad", 0.0) / n
            flags = masking_flags(
                zero_grad_share=metrics["zero_gradient_share"],
                randomized=s.get("random_outputs", 0.0) > 0,
                white_box_robust=int(s.get("white_robust", 0)),
                black_box_extra=int(s.get("square_extra", 0)),
            )
            data["gradient_masking"] = {
                "zero_gradient_share": metrics["zero_gradient_share"],
                "square_extra": int(s.get("square_extra", 0)),
                "flags": flags,
            }
            warnings += flags
        rows = merged.rows
        if cfg.curve_norm and rows is not None and "min_eps" in rows:
            grid = np.linspace(0.0, curve_max, cfg.curve_points)
            acc = robustness_curve(rows["min_eps"].to_numpy(), grid)
            data["curve"] = {
                "norm": cfg.curve_norm,
                "eps": grid.tolist(),
                "top1": acc.tolist(),
                "estimate": f"bisection, APGD-CE {cfg.curve_iter} iterations, {cfg.curve_steps} steps",
            }
        data["passes"] = {
            "forward_images": int(s.get("total_forward_images", 0)),
            "backward_images": int(s.get("total_backward_images", 0)),
        }
        return ProbeResult(metrics=metrics, data=data, samples=rows, warnings=warnings)

    def _settings(self, ctx: "ProbeContext") -> dict:
        """The resolved per-attack settings, so the record states the protocol actually run."""
        from visaudit.attacks.autoattack import standard_config

        n_cls = int(ctx.label_map.num_classes)
        std = standard_config(n_cls)
        over = dict(self.config.attack_options)
        aa = {p: dict(std.get(p, {}), **over.get("autoattack", {}).get(p, {})) for p in self.config.autoattack_parts}
        standard = list(self.config.autoattack_parts) == ["apgd-ce", "apgd-t", "fab-t", "square"] and all(
            aa[p] == std[p] for p in aa
        )
        return {
            "autoattack": aa,
            "n_classes": n_cls,
            "random_streams": "one per image: job seed, attack and radius, dataset position",
            "standard_protocol": standard,
            "others": {a: over.get(a, {}) for a in self.config.attacks if a != "autoattack"},
        }
