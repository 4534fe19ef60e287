"""Noise corruptions: gaussian, shot (Poisson), impulse (salt and pepper), speckle."""

from __future__ import annotations

import torch

from visaudit.perturb.corruptions._common import pick, poisson, rand, randn

GAUSSIAN = {"imagenet": [0.08, 0.12, 0.18, 0.26, 0.38], "cifar": [0.04, 0.06, 0.08, 0.09, 0.10]}
SHOT = {"imagenet": [60, 25, 12, 5, 3], "cifar": [500, 250, 100, 75, 50]}
IMPULSE = {"imagenet": [0.03, 0.06, 0.09, 0.17, 0.27], "cifar": [0.01, 0.02, 0.03, 0.05, 0.07]}
SPECKLE = {"imagenet": [0.15, 0.2, 0.35, 0.45, 0.6], "cifar": [0.06, 0.1, 0.12, 0.16, 0.2]}


def gaussian_noise(x: torch.Tensor, severity: int, gen: torch.Generator | None, params: str) -> torch.Tensor:
    """Additive white Gaussian noise of standard deviation ``c``."""
    c = pick(GAUSSIAN, params, severity)
    return (x + c * randn(gen, x.shape, x)).clamp(0, 1)


def shot_noise(x: torch.Tensor, severity: int, gen: torch.Generator | None, params: str) -> torch.Tensor:
    """Photon noise: ``Poisson(x * c) / c``."""
    c = pick(SHOT, params, severity)
    return (poisson(gen, x * c) / c).clamp(0, 1)


def impulse_noise(x: torch.Tensor, severity: int, gen: torch.Generator | None, params: str) -> torch.Tensor:
    """Salt and pepper on a share ``c`` of the values, half salt, half pepper (per channel).

    One uniform draw per value decides both (salt below ``c/2``, pepper in ``[c/2, c)``): the
    same distribution as skimage's two independent draws, at half the cost of drawing (which
    dominates on the CPU).
    """
    c = pick(IMPULSE, params, severity)
    u = rand(gen, x.shape, x)
    return x.masked_fill(u < c, 0).masked_fill_(u < c / 2, 1)


def speckle_noise(x: torch.Tensor, severity: int, gen: torch.Generator | None, params: str) -> torch.Tensor:
    """Multiplicative Gaussian noise: ``x + x * N(0, c)``."""
    c = pick(SPECKLE, params, severity)
    return (x + x * c * randn(gen, x.shape, x)).clamp(0, 1)
