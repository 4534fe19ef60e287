"""A counting wrapper around the model: every attack queries the model through it.

It counts forward and backward passes (in images), so records can state the budget spent,
and optionally runs the model under autocast (half / bfloat16) while the attack itself
keeps its iterates in float32.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch


@dataclass
class Oracle:
    """Model access for attacks.

    Attributes:
        model: maps [0,1] images to logits.
        score_fn: optional map from model logits to the logits used by the attack (e.g.
            log-probabilities over a dataset label space different from the model's).
        amp_dtype: run the model under ``torch.autocast`` with this dtype (None: full precision).
        max_batch: split larger batches (bounded memory).
    """

    model: Callable[[torch.Tensor], torch.Tensor]
    score_fn: Callable[[torch.Tensor], torch.Tensor] | None = None
    amp_dtype: torch.dtype | None = None
    max_batch: int = 512
    n_forward: int = 0
    n_backward: int = 0
    calls: dict[str, int] = field(default_factory=lambda: {"forward": 0, "backward": 0})

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.amp_dtype is not None:
            with torch.autocast(device_type=x.device.type, dtype=self.amp_dtype):
                out = self.model(x)
        else:
            out = self.model(x)
        out = out.float()
        return self.score_fn(out) if self.score_fn is not None else out

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits without gradient (counted as forward passes)."""
        outs = []
        for part in x.split(self.max_batch):
            outs.append(self._logits(part))
            self.n_forward += len(part)
            self.calls["forward"] += 1
        return torch.cat(outs) if outs else x.new_zeros((0, 0))

    def loss_grad(
        self, x: torch.Tensor, loss_fn: Callable[[torch.Tensor, slice], torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-sample loss, logits and input gradient.

        ``loss_fn(logits, rows)`` returns the per-sample loss ``(n,)`` of the rows ``rows``
        (a slice of the batch, so losses with per-sample labels can index them).
        """
        logits_all, loss_all, grad_all = [], [], []
        start = 0
        for part in x.split(self.max_batch):
            with torch.enable_grad():
                xi = part.detach().clone().requires_grad_(True)
                logits = self._logits(xi)
                loss = loss_fn(logits, slice(start, start + len(part)))
                (g,) = torch.autograd.grad(loss.sum(), xi)
            start += len(part)
            self.n_forward += len(part)
            self.n_backward += len(part)
            self.calls["forward"] += 1
            self.calls["backward"] += 1
            logits_all.append(logits.detach())
            loss_all.append(loss.detach())
            grad_all.append(g.detach().float())
        return torch.cat(loss_all), torch.cat(logits_all), torch.cat(grad_all)

    def budget(self) -> dict[str, int]:
        """Passes spent so far, in images."""
        return {"forward_images": self.n_forward, "backward_images": self.n_backward}


def as_oracle(model: "Oracle | Callable") -> Oracle:
    """Wrap a plain model; an existing Oracle is returned as is (its counters keep running)."""
    return model if isinstance(model, Oracle) else Oracle(model)
