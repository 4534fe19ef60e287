"""Solarization (Gavrikov et al.): invert every pixel at or above a threshold.

Follows ``PIL.ImageOps.solarize``: values ``>= t`` become ``1 - value``; ``t = 0`` inverts the
whole image, ``t = 1`` only pure white.
"""

from __future__ import annotations

import torch


def solarize(x: torch.Tensor, threshold: float | torch.Tensor) -> torch.Tensor:
    """Solarize a (N, C, H, W) batch in [0, 1]; ``threshold`` is a float or one value per image."""
    t = torch.as_tensor(threshold, dtype=x.dtype, device=x.device)
    if t.dim() == 1:
        t = t.view(-1, 1, 1, 1)
    return torch.where(x >= t, 1 - x, x)


def sweep_thresholds(step: float = 0.01) -> list[float]:
    """The universal sweep grid t = 0, step, ..., 1."""
    n = int(round(1 / step))
    return [round(i * step, 10) for i in range(n + 1)]
