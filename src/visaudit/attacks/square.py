"""Square attack (Andriushchenko et al., ECCV 2020): score-based black box, Linf and L2.

Own implementation of the published algorithm with the AutoAttack settings (margin loss,
p_init 0.8, 5000 queries, the reference schedule for the square size). Unlike the
reference, each image draws its own square position, so an image's attack does not depend
on which other images share its batch. Images leave the batch once misclassified.
"""
from __future__ import annotations

import math

import torch

from visaudit.attacks.losses import margin
from visaudit.attacks.oracle import Oracle, as_oracle
from visaudit.attacks.result import AttackOutput
from visaudit.attacks.threat import as_eps, check_norm, normalize_l2

_SCHEDULE = [(10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64), (6000, 128), (8000, 256),
             (10000, 512)]


def p_schedule(p_init: float, it: int, n_queries: int) -> float:
    """Share of pixels changed at query ``it`` (the reference schedule, rescaled to 10k queries)."""
    it = int(it / n_queries * 10000)
    for bound, div in _SCHEDULE:
        if it <= bound:
            return p_init / div
    return p_init / 512


def _pseudo_gaussian(rows: int, cols: int) -> torch.Tensor:
    """Concentric rectangles with weights 1/(r+1)^2, unit L2 norm."""
    d = torch.zeros(rows, cols)
    cr, cc = rows // 2, cols // 2
    for r in range(max(rows, cols)):
        d[max(cr - r, 0):min(cr + r + 1, rows), max(cc - r, 0):min(cc + r + 1, cols)] += 1.0 / (r + 1) ** 2
    return d / d.norm()


def meta_pseudo_gaussian(s: int, flip: bool) -> torch.Tensor:
    """Two pseudo-Gaussian halves of opposite sign (the L2 Square update pattern), unit norm."""
    d = torch.zeros(s, s)
    d[: s // 2] = _pseudo_gaussian(s // 2, s) if s // 2 > 0 else 0
    d[s // 2:] = -_pseudo_gaussian(s - s // 2, s)
    d = d / d.norm()
    return d.t() if flip else d


def _window_index(m: int, c: int, vh: torch.Tensor, vw: torch.Tensor, s: int, dev: torch.device):
    ar = torch.arange(s, device=dev)
    return (torch.arange(m, device=dev)[:, None, None, None], torch.arange(c, device=dev)[None, :, None, None],
            (vh[:, None] + ar)[:, None, :, None], (vw[:, None] + ar)[:, None, None, :])


def _signs(shape, gen, dev) -> torch.Tensor:
    return torch.randint(0, 2, shape, generator=gen, device=dev).float() * 2 - 1


def _init_l2(x: torch.Tensor, eps: torch.Tensor, gen) -> torch.Tensor:
    n, c, h, w = x.shape
    delta = torch.zeros_like(x)
    s = max(h // 5, 1)
    start = (h - s * 5) // 2
    flip = bool(torch.randint(0, 2, (1,), generator=gen, device=x.device).item())
    pat = meta_pseudo_gaussian(s, flip).to(x.device) if s > 1 else torch.ones(1, 1, device=x.device)
    for vh in range(start, h - s + 1, s):
        for vw in range(start, w - s + 1, s):
            delta[:, :, vh:vh + s, vw:vw + s] += pat * _signs((n, c, 1, 1), gen, x.device)
    return (x + normalize_l2(delta) * eps.view(-1, 1, 1, 1)).clamp(0.0, 1.0)


def square(
    model: Oracle, x: torch.Tensor, y: torch.Tensor, *, norm: str = "linf", eps: float | torch.Tensor = 8 / 255,
    n_queries: int = 5000, p_init: float = 0.8, generator: torch.Generator | None = None,
) -> AttackOutput:
    """Untargeted Square attack with the margin loss; ``n_queries`` includes the initial query."""
    oracle, norm = as_oracle(model), check_norm(norm)
    x = x.float()
    n, c, h, w = x.shape
    dev, gen = x.device, generator
    e = as_eps(eps, n, dev)
    v = lambda t: t.view(-1, 1, 1, 1)  # noqa: E731
    if norm == "linf":
        best = (x + v(e) * _signs((n, c, 1, w), gen, dev)).clamp(0.0, 1.0)
    else:
        best = _init_l2(x, e, gen)
    loss = margin(oracle.logits(best), y)
    for it in range(1, n_queries):
        act = (loss > 0).nonzero()[:, 0]
        if len(act) == 0:
            break
        m = len(act)
        xa, ba, ea = x[act], best[act], e[act]
        delta = ba - xa
        p = p_schedule(p_init, it, n_queries)
        if norm == "linf":
            s = min(max(int(round(math.sqrt(p * h * w))), 1), h - 1)
            vh = torch.randint(0, h - s + 1, (m,), generator=gen, device=dev)
            vw = torch.randint(0, w - s + 1, (m,), generator=gen, device=dev)
            win = _window_index(m, c, vh, vw, s, dev)
            old = ba[win]
            new_vals = v(ea) * _signs((m, c, 1, 1), gen, dev)
            for _ in range(10):  # redraw where the window would not change (wasted query)
                same = ((xa[win] + new_vals).clamp(0, 1) - old).abs().flatten(1).amax(1) < 1e-7
                if not same.any():
                    break
                new_vals[same] = v(ea[same]) * _signs((int(same.sum()), c, 1, 1), gen, dev)
            delta[win] = new_vals.expand(m, c, s, s)
            cand = (xa + delta).clamp(0.0, 1.0)
        else:
            s = max(int(round(math.sqrt(p * h * w))), 3)
            s = s + 1 if s % 2 == 0 else s
            s = min(s, h - 1 if (h - 1) % 2 else h - 2)
            vh = torch.randint(0, h - s + 1, (m,), generator=gen, device=dev)
            vw = torch.randint(0, w - s + 1, (m,), generator=gen, device=dev)
            vh2 = torch.randint(0, h - s + 1, (m,), generator=gen, device=dev)
            vw2 = torch.randint(0, w - s + 1, (m,), generator=gen, device=dev)
            win1 = _window_index(m, c, vh, vw, s, dev)
            win2 = _window_index(m, c, vh2, vw2, s, dev)
            union = torch.zeros(m, 1, h, w, device=dev)
            union[win1[0], 0:1, win1[2], win1[3]] = 1.0
            union[win2[0], 0:1, win2[2], win2[3]] = 1.0
            norm_w1 = delta[win1].pow(2).sum((2, 3), keepdim=True).sqrt()
            norm_union = (delta * union).pow(2).sum((2, 3), keepdim=True).sqrt()
            norm_all = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            flip = bool(torch.randint(0, 2, (1,), generator=gen, device=dev).item())
            pat = meta_pseudo_gaussian(s, flip).to(dev)
            new = pat * _signs((m, c, 1, 1), gen, dev) + delta[win1] / (norm_w1 + 1e-12)
            mass = ((v(ea) ** 2 - norm_all ** 2).clamp_min(0) / c + norm_union ** 2).sqrt()
            new = new / new.pow(2).sum((2, 3), keepdim=True).sqrt().clamp_min(1e-12) * mass
            delta[win2] = 0.0
            delta[win1] = new
            cand = (xa + normalize_l2(delta) * v(ea)).clamp(0.0, 1.0)
        new_loss = margin(oracle.logits(cand), y[act])
        better = new_loss < loss[act]
        rows = act[better]
        best[rows], loss[rows] = cand[better], new_loss[better]
    success = loss <= 0
    if success.any():  # the margin ties at 0 count only if the argmax really differs
        success = success & (oracle.logits(best).argmax(1) != y)
    return AttackOutput(torch.where(v(success), best, x), success)
