"""FGSM and PGD (Madry et al. 2018) in pixel space, Linf and L2, CE loss.

Samples that are already misclassified are dropped from the batch: their result cannot
change any more, and each sample's trajectory does not depend on the others (eval mode).
The Linf random start is uniform inside the ball, as in Madry et al.'s code (not AutoAttack's
surface start); the L2 start lies on the sphere.
"""

from __future__ import annotations

import torch

from visaudit.attacks.losses import ce
from visaudit.attacks.oracle import Oracle, as_oracle
from visaudit.attacks.result import AttackOutput
from visaudit.attacks.threat import as_eps, check_norm, narrow, normalize_l2, project, random_start
from visaudit.rng import Generators


def _ascent(grad: torch.Tensor, norm: str) -> torch.Tensor:
    return grad.sign() if norm == "linf" else normalize_l2(grad)


def fgsm(
    model: Oracle,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str = "linf",
    eps: float | torch.Tensor = 8 / 255,
    generator: Generators = None,
) -> AttackOutput:
    """One gradient step of length eps from the clean point (sign step for Linf)."""
    oracle, norm = as_oracle(model), check_norm(norm)
    x = x.float()
    e = as_eps(eps, len(x), x.device)
    _, logits, g = oracle.loss_grad(x, lambda z, rows: ce(z, y[rows]))
    x_adv = project(x + _ascent(g, norm) * e.view(-1, 1, 1, 1), x, e, norm)
    success = oracle.logits(x_adv).argmax(1) != y
    return AttackOutput(torch.where(success.view(-1, 1, 1, 1), x_adv, x), success)


def pgd(
    model: Oracle,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str = "linf",
    eps: float | torch.Tensor = 8 / 255,
    steps: int = 20,
    restarts: int = 1,
    step_size: float | None = None,
    random_init: bool = True,
    generator: Generators = None,
) -> AttackOutput:
    """PGD with CE loss; ``step_size`` defaults to 2.5 * eps / steps (Madry et al.).

    Args:
        steps: iterations per restart.
        restarts: independent random starts; a sample counts as broken if any restart breaks it.
    """
    oracle, norm = as_oracle(model), check_norm(norm)
    x = x.float()
    n = len(x)
    e = as_eps(eps, n, x.device)
    alpha = e * (2.5 / steps) if step_size is None else as_eps(step_size, n, x.device)
    x_best = x.clone()
    success = torch.zeros(n, dtype=torch.bool, device=x.device)
    for r in range(restarts):
        idx = (~success).nonzero()[:, 0]
        if len(idx) == 0:
            break
        xi, yi, ei, ai = x[idx], y[idx], e[idx], alpha[idx]
        cur = (
            random_start(xi, ei, norm, narrow(generator, idx), linf_start="uniform")
            if (random_init or r > 0)
            else xi.clone()
        )
        alive = torch.arange(len(idx), device=x.device)
        for _ in range(steps):
            _, logits, g = oracle.loss_grad(cur[alive], lambda z, rows: ce(z, yi[alive][rows]))  # noqa: B023
            fooled = logits.argmax(1) != yi[alive]
            if fooled.any():
                hit = alive[fooled]
                x_best[idx[hit]] = cur[hit]
                success[idx[hit]] = True
                alive = alive[~fooled]
                g = g[~fooled]
            if len(alive) == 0:
                break
            step = _ascent(g, norm) * ai[alive].view(-1, 1, 1, 1)
            cur[alive] = project(cur[alive] + step, xi[alive], ei[alive], norm)
        if len(alive):
            fooled = oracle.logits(cur[alive]).argmax(1) != yi[alive]
            hit = alive[fooled]
            x_best[idx[hit]] = cur[hit]
            success[idx[hit]] = True
    return AttackOutput(x_best, success)
