"""What an attack returns."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class AttackOutput:
    """Adversarial batch and per-sample success.

    Attributes:
        x_adv: float32 images in the eps-ball and the [0,1] box; equal to ``x`` where the
            attack failed (so a failed sample carries no perturbation).
        success: bool (n,), the model misclassifies ``x_adv`` (checked by the attack).
    """

    x_adv: torch.Tensor
    success: torch.Tensor
