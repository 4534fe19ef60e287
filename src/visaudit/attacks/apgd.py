"""Auto-PGD (Croce & Hein, ICML 2020): APGD-CE, APGD-DLR and targeted APGD-T.

Own implementation of the published algorithm with the AutoAttack reference settings
(fra31/auto-attack ``autoattack/autopgd_base.py``): random start on the surface of the Linf
ball (a uniform draw divided by its Linf norm) or on the L2 sphere, step size 2*eps, momentum
0.75, step halving when at most rho=0.75 of the steps since the last checkpoint increased the
loss or when neither step size nor best loss changed since the last checkpoint, restart from
the best point. Checkpoints follow the reference code's integer form of the paper's
p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06): the first after max(int(0.22 n), 1)
iterations, each next window max(int(0.03 n), 1) shorter, down to max(int(0.06 n), 1)
(22, 41, 57, ..., 99 for n = 100). As in the reference, the first step of the first window
counts as an increase when its loss is above 0 (the reference compares it with its
zero-initialised loss buffer).

``linf_start="uniform"`` (a uniform point inside the ball) departs from the reference and is
off by default.

Why not torchattacks' APGD: it iterates every sample for all iterations. Here a sample
leaves the batch as soon as it is misclassified; its outcome is final (AutoAttack counts a
sample broken if any iterate is misclassified) and per-sample trajectories are independent
in eval mode, so robust accuracy is the same at a fraction of the passes on weak models.
"""

from __future__ import annotations

from typing import Callable

import torch

from visaudit.attacks import lp_balls
from visaudit.attacks.losses import ce, dlr, dlr_targeted, ranked_targets
from visaudit.attacks.oracle import Oracle, as_oracle
from visaudit.attacks.result import AttackOutput
from visaudit.attacks.threat import as_eps, check_norm, lp_norm, narrow, normalize_l2, project, random_start
from visaudit.rng import Generators


def checkpoints(n_iter: int) -> list[int]:
    """Iterations (1-based counts) after which the step size is reconsidered, as the reference code."""
    k = max(int(0.22 * n_iter), 1)
    shrink, shortest = max(int(0.03 * n_iter), 1), max(int(0.06 * n_iter), 1)
    marks, at = [], k
    while at <= n_iter:
        marks.append(at)
        k = max(k - shrink, shortest)
        at += k
    return marks


def _run_single(
    oracle: Oracle,
    x: torch.Tensor,
    y: torch.Tensor,
    eps: torch.Tensor,
    norm: str,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    n_iter: int,
    rho: float,
    generator: Generators,
    linf_start: str,
    *,
    until_fooled: bool = True,
    x_init: torch.Tensor | None = None,
    trace: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
) -> tuple[AttackOutput, torch.Tensor, torch.Tensor]:
    """One APGD run from a random start (or ``x_init``); ``loss(logits, rows_index) -> (m,)``.

    Returns the attack output, the best point and its loss. ``until_fooled=False`` keeps every
    sample for all ``n_iter`` iterations (maximising the loss, as counterfactuals need);
    ``trace(rows, logits)`` sees the logits of every iterate (the start included).
    """
    n, dev = len(x), x.device
    v = lambda t: t.view(-1, 1, 1, 1)  # noqa: E731
    marks = set(checkpoints(n_iter))
    x_adv = random_start(x, eps, norm, generator, linf_start=linf_start) if x_init is None else x_init.clone()
    step = 2.0 * eps
    x_out = x.clone()
    success = torch.zeros(n, dtype=torch.bool, device=dev)

    alive = torch.arange(n, device=dev)

    def evaluate(points: torch.Tensor, rows: torch.Tensor):
        return oracle.loss_grad(points, lambda z, sl: loss(z, rows[sl]))

    loss_cur, logits, grad = evaluate(x_adv, alive)
    if trace is not None:
        trace(alive, logits)
    fooled = logits.argmax(1) != y
    x_out[fooled], success[fooled] = x_adv[fooled], True
    loss_best = loss_cur.clone()
    x_best, grad_best = x_adv.clone(), grad.clone()
    x_prev = x_adv.clone()
    n_increase = torch.zeros(n, device=dev)
    loss_prev = torch.zeros_like(loss_cur)  # the reference's loss buffer before the first step
    loss_best_at_mark = loss_best.clone()
    reduced_at_mark = torch.ones(n, dtype=torch.bool, device=dev)
    last_mark = 0

    alive = (~success).nonzero()[:, 0] if until_fooled else torch.arange(n, device=dev)
    for i in range(n_iter):
        if len(alive) == 0:
            break
        a = alive
        xa, xo, ea = x_adv[a], x[a], eps[a]
        momentum = 0.75 if i > 0 else 1.0
        if norm == "linf":
            z = project(xa + v(step[a]) * grad[a].sign(), xo, ea, norm)
        elif norm == "l2":
            z = project(xa + v(step[a]) * normalize_l2(grad[a]), xo, ea, norm)
        else:  # l1.5: the dual-norm steepest step and the exact projection onto ball and box
            z = lp_balls.project(xa + v(step[a]) * lp_balls.steepest(grad[a], 1.5), xo, ea, 1.5)
        z = xa + momentum * (z - xa) + (1 - momentum) * (xa - x_prev[a])
        z = project(z, xo, ea, norm) if norm != "l1.5" else lp_balls.project(z, xo, ea, 1.5)
        x_prev[a] = xa
        x_adv[a] = z

        loss_cur, logits, g = evaluate(z, a)
        if trace is not None:
            trace(a, logits)
        grad[a] = g
        fooled = logits.argmax(1) != y[a]
        if fooled.any():
            hit = a[fooled]
            x_out[hit], success[hit] = z[fooled], True
        n_increase[a] += (loss_cur > loss_prev[a]).float()
        loss_prev[a] = loss_cur
        better = loss_cur > loss_best[a]
        if better.any():
            b = a[better]
            loss_best[b], x_best[b], grad_best[b] = loss_cur[better], z[better], g[better]

        if (i + 1) in marks:
            k = i + 1 - last_mark
            oscillating = n_increase[a] <= rho * k
            stalled = (~reduced_at_mark[a]) & (loss_best_at_mark[a] >= loss_best[a])
            halve = oscillating | stalled
            reduced_at_mark[a] = halve
            loss_best_at_mark[a] = loss_best[a]
            n_increase[a] = 0
            last_mark = i + 1
            if halve.any():
                h = a[halve]
                step[h] = step[h] / 2
                x_adv[h], grad[h] = x_best[h], grad_best[h]
        alive = a[~fooled] if until_fooled else a
    return AttackOutput(x_out, success), x_best, loss_best


def apgd(
    model: Oracle,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str = "linf",
    eps: float | torch.Tensor = 8 / 255,
    loss: str = "ce",
    n_iter: int = 100,
    n_restarts: int = 1,
    n_target_classes: int = 9,
    rho: float = 0.75,
    linf_start: str = "surface",
    generator: Generators = None,
) -> AttackOutput:
    """APGD with loss ``ce``, ``dlr`` or ``dlr-targeted`` (then ``n_target_classes`` runs).

    Targets are the classes with the 2nd..(k+1)-th largest clean logits; each restart and each
    target only runs on the samples no earlier run has broken.

    Args:
        linf_start: ``surface`` (reference) or ``uniform`` (a departure; Linf only).
        generator: a ``torch.Generator`` or per-sample generators (:mod:`visaudit.rng`).
    """
    oracle, norm = as_oracle(model), check_norm(norm)
    x = x.float()
    n = len(x)
    e = as_eps(eps, n, x.device)
    x_out, success = x.clone(), torch.zeros(n, dtype=torch.bool, device=x.device)
    if loss == "dlr-targeted":
        clean = oracle.logits(x)
        n_cls = clean.shape[1]
        if n_cls < 4:
            raise ValueError("targeted DLR needs at least 4 classes")
        runs = [(r, t) for t in range(2, min(n_target_classes, n_cls - 1) + 2) for r in range(n_restarts)]
    else:
        clean, runs = None, [(r, None) for r in range(n_restarts)]
    for _, rank in runs:
        idx = (~success).nonzero()[:, 0]
        if len(idx) == 0:
            break
        yi = y[idx]
        if rank is None:
            base = ce if loss == "ce" else dlr
            fn = lambda z, rows, base=base, yi=yi: base(z, yi[rows])  # noqa: E731
        elif loss == "dlr-targeted":
            ti = ranked_targets(clean[idx], rank)
            fn = lambda z, rows, yi=yi, ti=ti: dlr_targeted(z, yi[rows], ti[rows])  # noqa: E731
        else:
            raise ValueError(f"unknown APGD loss {loss!r}")
        out, _, _ = _run_single(oracle, x[idx], yi, e[idx], norm, fn, n_iter, rho, narrow(generator, idx), linf_start)
        hit = idx[out.success]
        x_out[hit], success[hit] = out.x_adv[out.success], True
    return AttackOutput(x_out, success)


def apgd_ascent(
    model: Oracle,
    x: torch.Tensor,
    y: torch.Tensor,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    norm: str,
    eps: float | torch.Tensor,
    n_iter: int = 100,
    rho: float = 0.75,
    trace: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Maximise ``loss(logits, rows)`` with APGD from ``x`` itself for all ``n_iter`` iterations.

    The step-size schedule, momentum and restarts are APGD's (:func:`_run_single`); ``norm`` is
    ``linf``, ``l2`` or ``l1.5`` (steepest step in the dual norm, exact projection onto ball
    and box, :mod:`visaudit.attacks.lp_balls`). ``y`` only names the clean labels. No random
    start: the counterfactual is a deterministic function of the image. Returns (best point,
    its loss); ``n_iter + 1`` gradient evaluations per sample.
    """
    oracle = as_oracle(model)
    norm = norm.lower()
    lp_balls.norm_p(norm)
    x = x.float()
    e = as_eps(eps, len(x), x.device)
    _, x_best, loss_best = _run_single(
        oracle, x, y, e, norm, loss, n_iter, rho, None, "surface", until_fooled=False, x_init=x, trace=trace
    )
    return x_best, loss_best


def apgd_ce(model, x, y, **kw) -> AttackOutput:
    """APGD-CE (AutoAttack's first attack)."""
    return apgd(model, x, y, loss="ce", **kw)


def apgd_dlr(model, x, y, **kw) -> AttackOutput:
    """APGD with the untargeted DLR loss."""
    return apgd(model, x, y, loss="dlr", **kw)


def apgd_t(model, x, y, **kw) -> AttackOutput:
    """APGD-T: targeted DLR over the top ``n_target_classes`` (default 9) classes."""
    return apgd(model, x, y, loss="dlr-targeted", **kw)


__all__ = ["apgd", "apgd_ascent", "apgd_ce", "apgd_dlr", "apgd_t", "checkpoints", "lp_norm"]
