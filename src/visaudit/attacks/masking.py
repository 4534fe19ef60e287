"""Checks for gradient masking that the AutoAttack authors recommend.

A model whose gradients are zero or useless (non-differentiable preprocessing, saturated
softmax, randomness) looks robust to white-box attacks while a black-box attack breaks it.
We flag: (1) a large share of samples with an all-zero input gradient; (2) random outputs
(two forward passes differ); (3) Square breaking points that the white-box attacks
left robust.
"""

from __future__ import annotations

import torch

from visaudit.attacks.losses import ce
from visaudit.attacks.oracle import Oracle, as_oracle


def zero_gradient_share(model: Oracle, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of samples whose CE input gradient is exactly zero everywhere."""
    oracle = as_oracle(model)
    _, _, g = oracle.loss_grad(x.float(), lambda z, rows: ce(z, y[rows]))
    return float((g.flatten(1).abs().amax(1) == 0).float().mean())


def random_rows(model: Oracle, x: torch.Tensor, tol: float = 1e-5) -> torch.Tensor:
    """Per image: do two forward passes on it disagree (a randomised defence)?"""
    oracle = as_oracle(model)
    return (oracle.logits(x) - oracle.logits(x)).abs().flatten(1).amax(1) > tol


def output_is_random(model: Oracle, x: torch.Tensor, tol: float = 1e-5) -> bool:
    """True if two forward passes on the same input disagree (randomised defence)."""
    return bool(random_rows(model, x, tol).any())


def masking_flags(
    *,
    zero_grad_share: float,
    randomized: bool,
    white_box_robust: int,
    black_box_extra: int,
    zero_grad_limit: float = 0.05,
) -> list[str]:
    """Human-readable warnings; empty when nothing looks masked.

    Args:
        white_box_robust: points robust after the white-box attacks.
        black_box_extra: of those, how many the black-box Square attack broke.
    """
    flags = []
    if zero_grad_share > zero_grad_limit:
        flags.append(
            f"{zero_grad_share:.0%} of the samples have an all-zero input gradient: "
            "white-box results are unreliable (non-differentiable or saturated layer)"
        )
    if randomized:
        flags.append("the model's outputs are random: use EOT / the 'rand' protocol")
    if black_box_extra > 0:
        flags.append(
            f"the black-box Square attack broke {black_box_extra} of {white_box_robust} points that the "
            "white-box attacks left robust: possible gradient masking"
        )
    return flags
