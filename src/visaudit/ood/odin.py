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


def penultimate_and_odin(
    model: torch.nn.Module,
    x: torch.Tensor,
    views: dict[str, Sequence[int] | None],
    eval_rows: torch.Tensor | None = None,
    temperature: float = 1000.0,
    eps: float = 0.0014,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Features, logits and ODIN scores of a batch with one shared forward pass.

    The forward pass of the rows that need ODIN keeps its graph, so the clean features and
    logits come from the same pass as ODIN's gradient; each view (a class subset, or None for
    all classes) then costs one backward and one forward of the perturbed input. Rows not in
    ``eval_rows`` (e.g. the detectors' fit split) get no ODIN score (NaN) and a plain pass.

    Returns:
        ``(features, logits, {view: scores})`` with detached tensors of length N.
    """
    n = len(x)
    rows = torch.ones(n, dtype=torch.bool, device=x.device) if eval_rows is None else eval_rows.to(x.device)
    feats: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    scores = {v: torch.full((n,), float("nan"), device=x.device) for v in views}
    if bool((~rows).any()) or not views:
        with torch.no_grad():
            f0, z0 = model.penultimate(x[~rows] if views else x)
        if not views:
            return f0.detach(), z0.detach(), scores
        feats = f0.new_empty((n, f0.shape[1]))
        logits = z0.new_empty((n, z0.shape[1]))
        feats[~rows], logits[~rows] = f0, z0
    if bool(rows.any()):
        xe = x[rows].detach().clone().requires_grad_(True)
        with torch.enable_grad():
            fe, ze = model.penultimate(xe)
            views_list = list(views.items())
            for k, (view, classes) in enumerate(views_list):
                idx = None if classes is None else torch.as_tensor(list(classes), device=x.device)
                z = (ze.float() if idx is None else ze.float().index_select(1, idx)) / temperature
                loss = F.cross_entropy(z, z.argmax(1), reduction="sum")
                (grad,) = torch.autograd.grad(loss, xe, retain_graph=k < len(views_list) - 1)
                with torch.no_grad():
                    zm = model(xe.detach() - eps * grad.sign()).float()
                    zm = zm if idx is None else zm.index_select(1, idx)
                    scores[view][rows] = F.softmax(zm / temperature, dim=1).max(1).values
        if feats is None:
            feats = fe.new_empty((n, fe.shape[1]))
            logits = ze.new_empty((n, ze.shape[1]))
        feats[rows], logits[rows] = fe.detach(), ze.detach()
    assert feats is not None and logits is not None
    return feats, logits, scores
