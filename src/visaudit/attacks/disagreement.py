"""Images on which two models disagree most, found by optimisation inside an Lp ball.

Maximises ``p_A(k | x') - p_B(k | x')`` over ``x'`` in the eps-ball around ``x`` (Linf or L2)
intersected with the [0, 1] box, from ``x`` itself (no random start: the result is
deterministic). The iteration is APGD's (:mod:`visaudit.attacks.apgd`): steps of 2 eps along the
gradient's sign (Linf) or direction (L2), momentum 0.75, the step halved at APGD's checkpoints
when the objective has not improved since the last one, restarting from the best point; the best
iterate is returned. Both models are queried through one :class:`~visaudit.attacks.oracle.Oracle`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from visaudit.attacks.apgd import checkpoints
from visaudit.attacks.oracle import Oracle
from visaudit.attacks.threat import as_eps, check_norm, normalize_l2, project

Scores = Callable[[torch.Tensor], torch.Tensor]


@dataclass
class DisagreementOutput:
    """Best points found and the objective ``p_A(k) - p_B(k)`` before and after (per sample)."""

    x_adv: torch.Tensor
    gap: torch.Tensor
    gap_clean: torch.Tensor


def maximise_disagreement(
    probs_a: Scores,
    probs_b: Scores,
    x: torch.Tensor,
    k: torch.Tensor,
    *,
    norm: str = "l2",
    eps: float | torch.Tensor = 0.5,
    n_iter: int = 20,
) -> DisagreementOutput:
    """Push ``p_A(k)`` up and ``p_B(k)`` down inside the ball.

    Args:
        probs_a, probs_b: images -> probabilities (rows sum to 1) of model A and model B, in
            one label space.
        x: (n, 3, H, W) images in [0, 1].
        k: (n,) class per image.
    """
    norm = check_norm(norm)
    n = len(x)
    e = as_eps(eps, n, x.device)
    if (e <= 0).any():
        raise ValueError("eps must be > 0")
    classes: list[int] = []

    def both(z: torch.Tensor) -> torch.Tensor:
        pa, pb = probs_a(z), probs_b(z)
        classes[:] = [pa.shape[1]]
        return torch.cat([pa, pb], 1)

    oracle = Oracle(both)
    rows_all = torch.arange(n, device=x.device)

    def objective(out: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        c = classes[0]
        kk = k[rows][:, None]
        return (out[:, :c].gather(1, kk) - out[:, c:].gather(1, kk))[:, 0]

    def evaluate(z: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        loss, _, grad = oracle.loss_grad(z, lambda out, sl: objective(out, rows[sl]))
        return loss, grad

    v = lambda t: t.view(-1, 1, 1, 1)  # noqa: E731
    marks = set(checkpoints(n_iter))
    x_cur, x_prev = x.clone().float(), x.clone().float()
    loss, grad = evaluate(x_cur, rows_all)
    clean = loss.clone()
    best, x_best, g_best = loss.clone(), x_cur.clone(), grad.clone()
    best_at_mark = best.clone()
    step = 2.0 * e
    for i in range(n_iter):
        direction = grad.sign() if norm == "linf" else normalize_l2(grad)
        z = project(x_cur + v(step) * direction, x, e, norm)
        mom = 0.75 if i > 0 else 1.0
        z = project(x_cur + mom * (z - x_cur) + (1 - mom) * (x_cur - x_prev), x, e, norm)
        x_prev, x_cur = x_cur, z
        loss, grad = evaluate(x_cur, rows_all)
        better = loss > best
        best = torch.where(better, loss, best)
        x_best[better], g_best[better] = x_cur[better], grad[better]
        if (i + 1) in marks:
            stalled = best <= best_at_mark
            step = torch.where(stalled, step / 2, step)
            x_cur = torch.where(v(stalled), x_best, x_cur)
            grad = torch.where(v(stalled), g_best, grad)
            best_at_mark = best.clone()
    return DisagreementOutput(x_adv=x_best, gap=best, gap_clean=clean)
