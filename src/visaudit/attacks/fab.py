"""Targeted FAB (Croce & Hein, ICML 2020), the third attack of AutoAttack standard.

Own implementation. Each iteration linearises ``z_t - z_y`` at the current point, projects
both the current point and the original image onto the linearised decision hyperplane
(minimal Linf or L2 step inside the [0,1] box), mixes the two projections with weight
``alpha <= alpha_max`` towards the original, extrapolates by ``eta`` and, once adversarial,
steps back towards the original by ``beta`` to shrink the perturbation.

The box-constrained projection is solved by bisection on the step scale (exact up to the
bisection tolerance) rather than the reference's sort-based solver: the step is
``clip(t * sign(w))`` (Linf) or ``clip(t * w)`` (L2), and the constraint value is monotone in t.
A sample counts as broken by AutoAttack when its best adversarial has norm <= eps; it then
leaves the batch (its outcome is final). Restarts after the first start at a random point at
half the radius, as the reference (``autoattack/fab_base.py``): on the surface of the Linf
ball of radius eps/2 (a uniform draw divided by its Linf norm) or on the L2 sphere of radius
eps/2. AutoAttack standard runs one restart per target, so it never draws.
"""

from __future__ import annotations

import torch

from visaudit.attacks.losses import ranked_targets
from visaudit.attacks.oracle import Oracle, as_oracle
from visaudit.attacks.result import AttackOutput
from visaudit.attacks.threat import as_eps, check_norm, lp_norm, narrow, project, random_start
from visaudit.rng import Generators


def hyperplane_step(p: torch.Tensor, w: torch.Tensor, b: torch.Tensor, norm: str, iters: int = 40) -> torch.Tensor:
    """Smallest step d (Linf or L2) with ``b + w.d >= 0`` and ``p + d`` in [0,1].

    Where the hyperplane cannot be reached inside the box, the step that maximises ``w.d``
    is returned (all coordinates saturated).
    """
    n = len(p)
    flat_p, flat_w = p.flatten(1), w.flatten(1)
    lo, hi = -flat_p, 1 - flat_p
    need = (-b).clamp_min(0)  # required increase of w.d

    if norm == "linf":
        direction = flat_w.sign()

        def step(t: torch.Tensor) -> torch.Tensor:
            return torch.minimum(torch.maximum(t[:, None] * direction, lo), hi)

        t_lo = torch.zeros(n, device=p.device)
        t_hi = torch.ones(n, device=p.device)
    else:

        def step(t: torch.Tensor) -> torch.Tensor:
            return torch.minimum(torch.maximum(t[:, None] * flat_w, lo), hi)

        wn2 = (flat_w * flat_w).sum(1).clamp_min(1e-30)
        t_lo = torch.zeros(n, device=p.device)
        t_hi = (need / wn2).clamp_min(1e-12)
        for _ in range(60):  # grow until reachable or saturated
            short = (step(t_hi) * flat_w).sum(1) < need
            grow = short & (t_hi < 1e30)
            if not grow.any():
                break
            t_hi = torch.where(grow, t_hi * 4, t_hi)
    for _ in range(iters):
        mid = (t_lo + t_hi) / 2
        ok = (step(mid) * flat_w).sum(1) >= need
        t_hi = torch.where(ok, mid, t_hi)
        t_lo = torch.where(ok, t_lo, mid)
    d = step(t_hi)
    d = torch.where((need <= 0)[:, None], torch.zeros_like(d), d)
    return d.view_as(p)


def _fab_single(
    oracle: Oracle,
    x: torch.Tensor,
    y: torch.Tensor,
    target: torch.Tensor,
    eps: torch.Tensor,
    norm: str,
    n_iter: int,
    alpha_max: float,
    eta: float,
    beta: float,
    random_init: bool,
    generator: Generators,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One targeted FAB run; returns (best adversarial, its norm (inf where none))."""
    n, dev = len(x), x.device
    best = x.clone()
    best_norm = torch.full((n,), float("inf"), device=dev)
    cur = random_start(x, 0.5 * eps, norm, generator, linf_start="surface") if random_init else x.clone()
    alive = torch.arange(n, device=dev)
    v = lambda t: t.view(-1, 1, 1, 1)  # noqa: E731
    for _ in range(n_iter):
        a = alive
        ya, ta = y[a], target[a]

        def diff(z: torch.Tensor, rows: slice) -> torch.Tensor:
            return z.gather(1, ta[rows, None])[:, 0] - z.gather(1, ya[rows, None])[:, 0]  # noqa: B023 - used at once

        df, _, dg = oracle.loss_grad(cur[a], diff)
        d1 = hyperplane_step(cur[a], dg, df, norm)
        b_orig = df + (dg * (x[a] - cur[a])).flatten(1).sum(1)
        d2 = hyperplane_step(x[a], dg, b_orig, norm)
        n1, n2 = lp_norm(d1, norm), lp_norm(d2, norm)
        alpha = (n1 / (n1 + n2).clamp_min(1e-12)).clamp(0.0, alpha_max)
        new = ((cur[a] + eta * d1) * v(1 - alpha) + (x[a] + eta * d2) * v(alpha)).clamp(0.0, 1.0)
        adv = oracle.logits(new).argmax(1) != ya
        if adv.any():
            dist = lp_norm(new - x[a], norm)
            better = adv & (dist < best_norm[a])
            rows = a[better]
            best[rows], best_norm[rows] = new[better], dist[better]
            new[adv] = x[a][adv] + beta * (new[adv] - x[a][adv])
        cur[a] = new
        alive = a[best_norm[a] > eps[a]]  # broken within eps: final for AutoAttack
        if len(alive) == 0:
            break
    return best, best_norm


def fab_t(
    model: Oracle,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str = "linf",
    eps: float | torch.Tensor = 8 / 255,
    n_iter: int = 100,
    n_target_classes: int = 9,
    n_restarts: int = 1,
    alpha_max: float = 0.1,
    eta: float = 1.05,
    beta: float = 0.9,
    generator: Generators = None,
) -> AttackOutput:
    """Targeted FAB over the top ``n_target_classes`` classes (AutoAttack settings by default).

    The first restart starts at the clean image, later ones at random points of the eps-ball.
    Success means an adversarial with norm <= eps was found; it is returned projected (a no-op
    up to rounding) so that it lies in the ball and the box exactly.
    """
    oracle, norm = as_oracle(model), check_norm(norm)
    x = x.float()
    n = len(x)
    e = as_eps(eps, n, x.device)
    clean = oracle.logits(x)
    n_cls = clean.shape[1]
    x_out, success = x.clone(), torch.zeros(n, dtype=torch.bool, device=x.device)
    for rank in range(2, min(n_target_classes, n_cls - 1) + 2):
        for r in range(n_restarts):
            idx = (~success).nonzero()[:, 0]
            if len(idx) == 0:
                break
            tgt = ranked_targets(clean[idx], rank)
            best, dist = _fab_single(
                oracle, x[idx], y[idx], tgt, e[idx], norm, n_iter, alpha_max, eta, beta, r > 0, narrow(generator, idx)
            )
            cand = project(best, x[idx], e[idx], norm)
            ok = dist <= e[idx]
            if ok.any():
                ok = ok & (oracle.logits(cand).argmax(1) != y[idx])
            hit = idx[ok]
            x_out[hit], success[hit] = cand[ok], True
    return AttackOutput(x_out, success)
