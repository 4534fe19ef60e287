"""The AutoAttack "standard" protocol (Croce & Hein 2020) over our own attack implementations.

APGD-CE (100 iterations), APGD-T (targeted DLR, 9 targets), FAB-T (9 targets), Square
(5000 queries, margin loss), each run only on the points still robust; a point counts as
robust only if every attack failed (per-sample worst case). The number of target classes
is capped by the model's number of classes (``min(9, n_classes - 1)``), as the reference
does. Every adversarial example is re-checked against the model and the threat model
before it counts.

The settings are those fra31/auto-attack's ``autoattack.py`` gives the standard version
(Linf and L2): APGD random start on the ball's surface, Square's schedule not rescaled to its
query budget. A ``generator`` given as :class:`~visaudit.rng.SampleGenerators` is narrowed to
the points each attack runs on, so each image's streams continue from attack to attack and
its result does not depend on its batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch

from visaudit.attacks.oracle import Oracle, as_oracle
from visaudit.attacks.result import AttackOutput
from visaudit.attacks.threat import as_eps, check_norm, inside, narrow
from visaudit.rng import Generators

STANDARD_ATTACKS = ("apgd-ce", "apgd-t", "fab-t", "square")


def standard_config(n_classes: int) -> dict[str, dict[str, Any]]:
    """Per-attack settings of AutoAttack 'standard' (recorded with every result)."""
    k = max(1, min(9, n_classes - 1))
    return {
        "apgd-ce": {"n_iter": 100, "n_restarts": 1, "linf_start": "surface"},
        "apgd-t": {"n_iter": 100, "n_restarts": 1, "n_target_classes": k, "linf_start": "surface"},
        "fab-t": {"n_iter": 100, "n_restarts": 1, "n_target_classes": k, "alpha_max": 0.1, "eta": 1.05, "beta": 0.9},
        "square": {"n_queries": 5000, "p_init": 0.8, "rescale_schedule": False, "redraw_noop": False},
    }


@dataclass
class AutoAttackResult:
    """Per-sample outcome of a composed attack.

    Attributes:
        clean_correct: bool (n,).
        robust: bool (n,), correct and not broken by any attack.
        robust_after: attack name -> robust mask after that attack (cumulative).
        broken_by: per sample, index into ``attacks`` of the attack that broke it; -1 robust,
            -2 misclassified without attack.
        x_adv: the adversarial images (clean image where not broken), float32.
        attacks: the attacks run, in order.
        config: the settings of each attack.
        budget: forward/backward passes (images) spent per attack and in total.
        wall_s: seconds per attack.
    """

    clean_correct: torch.Tensor
    robust: torch.Tensor
    robust_after: dict[str, torch.Tensor]
    broken_by: torch.Tensor
    x_adv: torch.Tensor
    attacks: list[str]
    config: dict[str, dict[str, Any]]
    budget: dict[str, dict[str, int]] = field(default_factory=dict)
    wall_s: dict[str, float] = field(default_factory=dict)


def compose(
    model: Oracle | Any,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str,
    eps: float | torch.Tensor,
    attacks: tuple[str, ...] | list[str] = STANDARD_ATTACKS,
    config: dict[str, dict[str, Any]] | None = None,
    generator: Generators = None,
) -> AutoAttackResult:
    """Run ``attacks`` in order, each on the points still robust (AutoAttack's composition).

    Args:
        config: per-attack keyword settings; defaults to :func:`standard_config` for the
            model's number of classes, and attacks outside it get their own defaults.
    """
    from visaudit.attacks import ATTACKS

    oracle, norm = as_oracle(model), check_norm(norm)
    x = x.float()
    n = len(x)
    e = as_eps(eps, n, x.device)
    clean_logits = oracle.logits(x)
    cfg = standard_config(clean_logits.shape[1])
    cfg = {a: dict(cfg.get(a, {}), **(config or {}).get(a, {})) for a in attacks}
    clean_correct = clean_logits.argmax(1) == y
    robust = clean_correct.clone()
    broken_by = torch.where(clean_correct, -1, -2).to(torch.long)
    x_adv = x.clone()
    robust_after: dict[str, torch.Tensor] = {}
    budget: dict[str, dict[str, int]] = {"clean": oracle.budget()}
    wall: dict[str, float] = {}
    for k, name in enumerate(attacks):
        before = oracle.budget()
        t0 = time.perf_counter()
        idx = robust.nonzero()[:, 0]
        if len(idx):
            out: AttackOutput = ATTACKS.get(name)(
                oracle, x[idx], y[idx], norm=norm, eps=e[idx], generator=narrow(generator, idx), **cfg[name]
            )
            ok = out.success & inside(out.x_adv, x[idx], e[idx], norm)
            if ok.any():  # re-check against the model: only verified examples count
                ok[ok.clone()] = oracle.logits(out.x_adv[ok]).argmax(1) != y[idx][ok]
            hit = idx[ok]
            robust[hit] = False
            broken_by[hit] = k
            x_adv[hit] = out.x_adv[ok]
        robust_after[name] = robust.clone()
        after = oracle.budget()
        budget[name] = {key: after[key] - before[key] for key in after}
        wall[name] = time.perf_counter() - t0
    budget["total"] = oracle.budget()
    return AutoAttackResult(clean_correct, robust, robust_after, broken_by, x_adv, list(attacks), cfg, budget, wall)


def autoattack(
    model: Oracle | Any,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str = "linf",
    eps: float | torch.Tensor = 8 / 255,
    version: str = "standard",
    generator: Generators = None,
) -> AutoAttackResult:
    """AutoAttack 'standard' (the only version implemented)."""
    if version != "standard":
        raise ValueError(f"AutoAttack version {version!r} is not implemented; use 'standard'")
    return compose(model, x, y, norm=norm, eps=eps, attacks=STANDARD_ATTACKS, generator=generator)


def autoattack_attack(
    model,
    x,
    y,
    *,
    norm: str = "linf",
    eps: float | torch.Tensor = 8 / 255,
    generator: Generators = None,
    attacks: tuple[str, ...] = STANDARD_ATTACKS,
    **_: Any,
) -> AttackOutput:
    """Registry form: AutoAttack as one attack returning :class:`AttackOutput`."""
    res = compose(model, x, y, norm=norm, eps=eps, attacks=attacks, generator=generator)
    return AttackOutput(res.x_adv, ~res.robust)
