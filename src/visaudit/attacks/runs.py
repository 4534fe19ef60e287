"""Glue between probes and attacks: attack names in configs, eps labels, the model oracle."""

from __future__ import annotations

import re
from typing import Any

import torch

from visaudit.attacks.autoattack import STANDARD_ATTACKS, compose
from visaudit.attacks.oracle import Oracle
from visaudit.attacks.threat import check_norm, narrow, parse_eps
from visaudit.rng import Generators

_PGD = re.compile(r"^pgd(\d+)$")


def eps_label(norm: str, eps: str | float) -> str:
    """``linf=8/255`` / ``l2=0.5``: the threat-model part of a metric name."""
    return f"{check_norm(norm)}={eps}"


def oracle_for(ctx: Any) -> Oracle:
    """An :class:`Oracle` on the job's model, attacking in the dataset's label space.

    The model is called through the context (``ctx.logits``), so the run's precision,
    memory format and NaN/Inf counting apply to every attack query. Same label space: raw
    logits. Otherwise log-probabilities over the dataset's classes (the label map's rule),
    which CE, DLR and margin losses accept like logits.
    """
    score_fn = None
    if ctx.label_map.kind != "identity":
        label_map = ctx.label_map
        score_fn = lambda z: torch.log(label_map.probs(z).clamp_min(1e-30))  # noqa: E731
    return Oracle(ctx.logits, score_fn=score_fn, max_batch=max(1, int(ctx.batch_size)))


def run_attack(
    name: str,
    oracle: Oracle,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str,
    eps: float,
    generator: Generators,
    options: dict[str, Any] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
    """Run a named attack; returns (x_adv, robust mask among all samples, extra info).

    Names: ``autoattack`` (standard; ``options['autoattack_parts']`` may restrict its parts,
    ``options['autoattack']`` overrides per-part settings), ``pgd<N>`` (PGD, N steps),
    and any entry of :data:`visaudit.attacks.ATTACKS`.
    """
    from visaudit.attacks import ATTACKS

    options = dict(options or {})
    correct = oracle.logits(x).argmax(1) == y
    if name == "autoattack":
        parts = tuple(options.get("autoattack_parts") or STANDARD_ATTACKS)
        res = compose(
            oracle, x, y, norm=norm, eps=eps, attacks=parts, config=options.get("autoattack"), generator=generator
        )
        info = {
            "robust_after": {k: v for k, v in res.robust_after.items()},
            "broken_by": res.broken_by,
            "config": res.config,
            "wall_s": res.wall_s,
        }
        return res.x_adv, res.robust, info
    m = _PGD.match(name)
    kwargs = dict(options.get(name, {}))
    fn = ATTACKS.get("pgd") if m else ATTACKS.get(name)
    if m:
        kwargs.setdefault("steps", int(m.group(1)))
    idx = correct.nonzero()[:, 0]
    x_adv, robust = x.clone(), correct.clone()
    if len(idx):
        out = fn(oracle, x[idx], y[idx], norm=norm, eps=eps, generator=narrow(generator, idx), **kwargs)
        robust[idx[out.success]] = False
        x_adv[idx] = out.x_adv
    return x_adv, robust, {"config": kwargs}


def parse_cells(linf: list[str], l2: list[str]) -> list[tuple[str, str, float]]:
    """(norm, eps text, eps value) for every configured radius."""
    return [("linf", str(e), parse_eps(e)) for e in linf] + [("l2", str(e), parse_eps(e)) for e in l2]
