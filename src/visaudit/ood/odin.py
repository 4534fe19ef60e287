"""ODIN (Liang et al. 2018): the one detector here that must re-run the model.

The input is moved by ``eps`` against the gradient of the temperature-scaled cross-entropy
of the predicted class, then the temperature-scaled max softmax of the moved input is the
score. Our models take [0, 1] pixels and normalise inside, so the step is taken in pixel
space; the original code divides the gradient of the normalised input by the channel std,
which is the same pixel-space step of size eps. Defaults T = 1000, eps = 0.0014 (the
original's CIFAR settings; OpenOOD's defaults).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def odin_scores(
    model: torch.nn.Module,
    x: torch.Tensor,
    temperature: float = 1000.0,
    eps: float = 0.0014,
    classes: Sequence[int] | None = None,
) -> torch.Tensor:
    """ODIN scores (higher = more in-distribution) for a [0, 1] batch.

    Args:
        model: maps [0, 1] images to logits.
        x: (N, 3, H, W) batch.
        temperature: softmax temperature T.
        eps: perturbation size in [0, 1] pixel units.
        classes: restrict the softmax to these logit columns (held-out-classes splits).
    """
    idx = None if classes is None else torch.as_tensor(list(classes), device=x.device)

    def scaled(inp: torch.Tensor) -> torch.Tensor:
        z = model(inp).float()
        return (z if idx is None else z.index_select(1, idx)) / temperature

    with torch.enable_grad():
        xg = x.detach().clone().requires_grad_(True)
        z = scaled(xg)
        loss = F.cross_entropy(z, z.argmax(1), reduction="sum")
        (grad,) = torch.autograd.grad(loss, xg)
    # no clamp to [0, 1]: the original does not clamp and eps is far below one grey level
    x_moved = x.detach() - eps * grad.sign()
    with torch.no_grad():
        return F.softmax(scaled(x_moved), dim=1).max(1).values
