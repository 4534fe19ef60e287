"""Hutchinson estimate of the Hessian trace of the loss per layer (HAWQ-V2's sensitivity).

``tr(H_l) = E_v[v^T H_l v]`` with Rademacher ``v``; ``H_l v`` comes from a second backward
pass through the gradient (Pearlmutter's trick), so the Hessian is never formed.

Example:
    >>> import torch
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
    >>> tr = hutchinson_traces(lambda: 1.5 * (w ** 2).sum(), {"w": w}, iters=4)
    >>> tr["w"]  # H = 3 I: every Rademacher probe gives v^T H v = 9
    9.0
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def hutchinson_traces(
    loss_fn: Callable[[], torch.Tensor],
    params: dict[str, torch.Tensor],
    iters: int,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """Estimated Hessian trace of ``loss_fn()`` w.r.t. each parameter tensor (block diagonal).

    Args:
        loss_fn: computes the scalar loss (called once, with grad enabled).
        params: name -> parameter (``requires_grad`` is switched on temporarily).
        iters: Rademacher probes to average.
        generator: seeds the probes.
    """
    names = list(params)
    ps = [params[n] for n in names]
    flags = [p.requires_grad for p in ps]
    try:
        for p in ps:
            p.requires_grad_(True)
        with torch.enable_grad():
            loss = loss_fn()
            grads = torch.autograd.grad(loss, ps, create_graph=True)
            est = np.zeros(len(ps))
            for _ in range(iters):
                vs = [
                    torch.randint(0, 2, p.shape, generator=generator, device=p.device).to(p.dtype) * 2 - 1 for p in ps
                ]
                hv = torch.autograd.grad(grads, ps, grad_outputs=vs, retain_graph=True)
                est += np.array([float((v * h).sum()) for v, h in zip(vs, hv)])
    finally:
        for p, f in zip(ps, flags):
            p.requires_grad_(f)
    return {n: float(e / max(iters, 1)) for n, e in zip(names, est)}


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman rank correlation (average ranks for ties)."""
    from scipy.stats import spearmanr

    if len(a) < 3:
        return float("nan")
    return float(spearmanr(a, b).statistic)
