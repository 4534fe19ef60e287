"""``perturbation-anatomy``: where adversarial perturbation energy sits.

Two questions about the successful adversarial perturbations of an attack: how much of
their energy lies in a band along the image border (zero padding makes CNNs sensitive
there; Gavrikov et al.) and how much in luminance (Y) versus chroma (Cb, Cr). Each share is
reported with the share a uniform / isotropic spread would give.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, TypedDict

import numpy as np

from visaudit.attacks.setting import AttackSetting
from visaudit.probes.base import ChunkResult, MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.probes.base import Batch, ProbeContext


@dataclass
class PerturbationAnatomyConfig(ProbeConfig):
    """Options of the perturbation-anatomy probe.

    Attributes:
        attack: attack that produces the perturbations.
        norm: threat model.
        eps: radius as text.
        attack_options: keyword overrides of the attack.
        border_fraction: width of the border band as a fraction of the image side (at least 1 px).
        map_size: side of the stored mean energy map: per-image energy density relative to a
            uniform spread (mean 1), average-pooled, averaged over images.
    """

    attack: str = "apgd-ce"
    norm: str = "l2"
    eps: str = "0.5"
    attack_options: dict | None = None
    border_fraction: float = 0.125
    map_size: int = 32


class PerturbationAnatomyData(TypedDict):
    """``data`` of a perturbation-anatomy record."""

    uniform_border_share: float  # border share of a uniform spread (the ratio's reference)
    uniform_y_share: float  # Y share of an isotropic RGB perturbation
    border_width_px: int
    energy_map: list[list[float]]  # map_size x map_size mean energy density (rows = image rows), mean 1
    attack: AttackSetting


@register_probe
class PerturbationAnatomyProbe(Probe):
    """Share of adversarial perturbation energy in the border band and in the Y channel."""

    name = "perturbation-anatomy"
    version = 2  # attack restarts drawn per image
    random = True
    Config = PerturbationAnatomyConfig
    Data = PerturbationAnatomyData
    headline = "border_energy_share"
    needs_grad = True
    metrics = {
        "border_energy_share": MetricSpec(False, "mean share of perturbation energy in the border band"),
        "border_energy_ratio": MetricSpec(False, "border share / share under a uniform spread"),
        "y_energy_share": MetricSpec(True, "mean share of perturbation energy in luminance (Y of YCbCr)"),
        "y_energy_ratio": MetricSpec(True, "Y share / share of an isotropic RGB perturbation"),
        "n_perturbations": MetricSpec(True, "successful adversarial examples analysed"),
    }

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        import torch.nn.functional as F

        from visaudit.attacks.anatomy import border_energy_share, uniform_border_share, uniform_y_share, y_energy_share
        from visaudit.attacks.runs import oracle_for, run_attack
        from visaudit.attacks.threat import parse_eps

        cfg = self.config
        _, h, w = ctx.model.info.input_size
        width = max(1, int(round(cfg.border_fraction * min(h, w))))
        side = min(cfg.map_size, h, w)

        def chunk(batches: Iterator["Batch"]) -> ChunkResult:
            sums = {"n": 0.0, "border": 0.0, "y": 0.0, "energy_map": np.zeros((side, side))}
            for b in batches:
                oracle = oracle_for(ctx)
                x = b.x.float()
                x_adv, robust, _ = run_attack(
                    cfg.attack,
                    oracle,
                    x,
                    b.y,
                    norm=cfg.norm,
                    eps=parse_eps(cfg.eps),
                    options={cfg.attack: cfg.attack_options or {}},
                    generator=ctx.sample_rng("anatomy", b.index),
                )
                delta = x_adv - x
                keep = delta.flatten(1).abs().amax(1) > 0
                keep &= ~robust
                if not keep.any():
                    continue
                d = delta[keep]
                sums["n"] += float(keep.sum())
                sums["border"] += float(border_energy_share(d, width).sum())
                sums["y"] += float(y_energy_share(d).sum())
                e = d.pow(2).sum(1, keepdim=True)
                e = e / e.flatten(1).sum(1).clamp_min(1e-30).view(-1, 1, 1, 1)
                sums["energy_map"] += F.adaptive_avg_pool2d(e * (h * w), side).sum((0, 1)).cpu().numpy()
            return ChunkResult(sums={k: np.asarray(v) for k, v in sums.items()})

        s = ctx.map_chunks(chunk, tag="perturbation-anatomy").sums
        n = float(s["n"])
        ub, uy = uniform_border_share(h, w, width), uniform_y_share()
        border = float(s["border"]) / n if n else float("nan")
        yshare = float(s["y"]) / n if n else float("nan")
        metrics = {
            "border_energy_share": border,
            "border_energy_ratio": border / ub,
            "y_energy_share": yshare,
            "y_energy_ratio": yshare / uy,
            "n_perturbations": n,
        }
        emap = (np.asarray(s["energy_map"]) / n) if n else np.asarray(s["energy_map"])
        data: PerturbationAnatomyData = {
            "uniform_border_share": ub,
            "uniform_y_share": uy,
            "border_width_px": width,
            "energy_map": emap.tolist(),
            "attack": {"name": cfg.attack, "norm": cfg.norm, "eps": cfg.eps, "options": cfg.attack_options or {}},
        }
        warnings = [] if n else ["the attack found no adversarial example: nothing to analyse"]
        return ProbeResult(metrics=metrics, data=data, warnings=warnings)
