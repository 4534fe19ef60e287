"""Per-sample attack losses on logits (higher = closer to a successful attack)."""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def ce(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy per sample."""
    return F.cross_entropy(logits, y, reduction="none")


def dlr(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Untargeted difference-of-logits-ratio loss (Croce & Hein 2020), needs >= 3 classes."""
    srt, _ = logits.sort(dim=1)
    z_y = logits.gather(1, y[:, None])[:, 0]
    top_is_y = logits.argmax(1) == y
    best_other = torch.where(top_is_y, srt[:, -2], srt[:, -1])
    return -(z_y - best_other) / (srt[:, -1] - srt[:, -3] + 1e-12)


def dlr_targeted(logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Targeted DLR: push the target logit above the true one, scale-invariant; >= 4 classes."""
    srt, _ = logits.sort(dim=1)
    z_y = logits.gather(1, y[:, None])[:, 0]
    z_t = logits.gather(1, target[:, None])[:, 0]
    return -(z_y - z_t) / (srt[:, -1] - 0.5 * (srt[:, -3] + srt[:, -4]) + 1e-12)


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """z_y - max_{j != y} z_j; <= 0 means misclassified (lower is better for the attacker)."""
    z_y = logits.gather(1, y[:, None])[:, 0]
    other = logits.scatter(1, y[:, None], float("-inf"))
    return z_y - other.amax(1)


def ranked_targets(logits: torch.Tensor, rank: int) -> torch.Tensor:
    """Class with the ``rank``-th largest logit (rank 2 = runner-up), as APGD-T/FAB-T pick targets."""
    return logits.argsort(dim=1, descending=True)[:, rank - 1]


def target_log_prob(targets: torch.Tensor) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The counterfactual objective ``log p_target`` as an ascent loss of (logits, rows), where
    ``rows`` index the samples (and so ``targets``) the logits belong to."""

    def objective(logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(logits, 1).gather(1, targets[rows][:, None])[:, 0]

    return objective
