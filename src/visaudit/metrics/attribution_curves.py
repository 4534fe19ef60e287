"""Deletion and insertion curves of attribution maps (Petsiuk et al. 2018, "RISE").

Deletion: starting from the image, the pixels are replaced by a baseline (zeros, a blurred
copy, ...) in order of decreasing attribution, ``steps`` equal blocks at a time; the curve is
the model's probability of the explained class after each block, and its area (AUC, over the
removed fraction in [0, 1]) is low when the map puts the evidence first. Insertion runs the
other way, from the baseline towards the image, and a high AUC is good. With ``patch > 1`` the
map is averaged over non-overlapping ``patch x patch`` blocks and whole blocks switch together
(scattered single pixels are an unnatural input that lowers any class's probability, which
hides the difference between a good map and a random one on small images).

The curves need the model, so the functions take a ``score_fn`` (images -> probability of each
image's class); everything else here is plain tensor arithmetic.

Example:
    >>> import torch
    >>> auc(torch.tensor([[1.0, 0.5, 0.0]]))
    tensor([0.5000])
"""

from __future__ import annotations

from typing import Callable

import torch


def pixel_order(attr: torch.Tensor) -> torch.Tensor:
    """Pixel indices (n, H*W) sorted by decreasing attribution; ties keep raster order.

    Args:
        attr: (n, H, W) attribution maps (one value per pixel).
    """
    if attr.dim() != 3:
        raise ValueError(f"attribution maps must be (n, H, W), got shape {tuple(attr.shape)}")
    flat = attr.flatten(1).float()
    return torch.sort(flat, dim=1, descending=True, stable=True).indices


def step_counts(n_pixels: int, steps: int) -> list[int]:
    """How many pixels are switched after each of ``steps`` blocks (0 first, ``n_pixels`` last)."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return [round(s * n_pixels / steps) for s in range(steps + 1)]


def switched_masks(order: torch.Tensor, count: int, shape: tuple[int, int]) -> torch.Tensor:
    """(n, 1, H, W) float masks, 1 on the first ``count`` pixels of each image's order."""
    n = order.shape[0]
    mask = torch.zeros(n, shape[0] * shape[1], device=order.device)
    if count > 0:
        mask.scatter_(1, order[:, :count], 1.0)
    return mask.view(n, 1, *shape)


def curves(
    score_fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    baseline: torch.Tensor,
    attr: torch.Tensor,
    steps: int,
    patch: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Deletion and insertion curves, each (n, steps + 1).

    Args:
        score_fn: images (m, 3, H, W) -> (m,) probability of the class being explained; called
            once per step with the whole batch.
        x: (n, 3, H, W) images.
        baseline: (n, 3, H, W) what a removed pixel becomes (all channels of a pixel switch together).
        attr: (n, H, W) attribution maps.
        steps: number of equal pixel blocks.
        patch: side of the square blocks of pixels that switch together (must divide H and W).
    """
    if x.shape != baseline.shape or attr.shape != (x.shape[0], *x.shape[2:]):
        raise ValueError(
            f"shapes differ: images {tuple(x.shape)}, baseline {tuple(baseline.shape)}, maps {tuple(attr.shape)}"
        )
    h, w = x.shape[2:]
    if patch < 1 or h % patch or w % patch:
        raise ValueError(f"patch {patch} must be >= 1 and divide the image size {h}x{w}")
    coarse = torch.nn.functional.avg_pool2d(attr[:, None].float(), patch)[:, 0] if patch > 1 else attr
    order = pixel_order(coarse)
    gh, gw = h // patch, w // patch
    dele, ins = [], []
    for count in step_counts(gh * gw, steps):
        m = switched_masks(order, count, (gh, gw))
        if patch > 1:
            m = m.repeat_interleave(patch, 2).repeat_interleave(patch, 3)
        m = m.to(x.dtype)
        dele.append(score_fn(x * (1 - m) + baseline * m))
        ins.append(score_fn(baseline * (1 - m) + x * m))
    return torch.stack(dele, 1), torch.stack(ins, 1)


def auc(curve: torch.Tensor) -> torch.Tensor:
    """Trapezoidal area under (n, steps + 1) curves over equal steps on [0, 1]."""
    if curve.shape[1] < 2:
        raise ValueError("a curve needs at least two points")
    c = curve.double()
    return ((c[:, 1:] + c[:, :-1]) / 2).mean(1).to(curve.dtype)
