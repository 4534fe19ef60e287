"""Per-image minimal-eps estimate by bisection with APGD-CE, and the robustness curve from it.

The estimate is an upper bound on the true minimal adversarial radius (an attack found an
example at that radius); the curve ``acc(eps) = share of images with min_eps > eps`` is
therefore an upper bound on robust accuracy, as every attack-based number is.
"""

from __future__ import annotations

import numpy as np
import torch

from visaudit.attacks.apgd import apgd
from visaudit.attacks.oracle import Oracle, as_oracle
from visaudit.attacks.threat import as_eps, check_norm, narrow
from visaudit.rng import Generators


def minimal_eps(
    model: Oracle,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str,
    eps_max: float,
    steps: int = 6,
    n_iter: int = 20,
    generator: Generators = None,
) -> torch.Tensor:
    """Smallest radius (within ``eps_max / 2**steps``) at which APGD-CE found an example.

    Returns (n,) float32: 0 for images misclassified clean, ``inf`` if not broken at ``eps_max``.
    """
    oracle, norm = as_oracle(model), check_norm(norm)
    x = x.float()
    n = len(x)
    correct = oracle.logits(x).argmax(1) == y
    lo = torch.zeros(n, device=x.device)
    hi = as_eps(eps_max, n, x.device)
    out = torch.where(correct, torch.full_like(lo, float("inf")), torch.zeros_like(lo))
    idx = correct.nonzero()[:, 0]
    if len(idx) == 0:
        return out
    first = apgd(oracle, x[idx], y[idx], norm=norm, eps=hi[idx], n_iter=n_iter, generator=narrow(generator, idx))
    idx = idx[first.success]
    for _ in range(steps):
        if len(idx) == 0:
            break
        mid = (lo[idx] + hi[idx]) / 2
        res = apgd(oracle, x[idx], y[idx], norm=norm, eps=mid, n_iter=n_iter, generator=narrow(generator, idx))
        hi[idx] = torch.where(res.success, mid, hi[idx])
        lo[idx] = torch.where(res.success, lo[idx], mid)
    out[idx] = hi[idx]
    return out


def robustness_curve(min_eps: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Accuracy at each eps of ``grid``: share of images whose minimal eps exceeds it."""
    m = np.asarray(min_eps, dtype=np.float64)
    return np.array([(m > g).mean() if len(m) else float("nan") for g in np.asarray(grid, dtype=np.float64)])
