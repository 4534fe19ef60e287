"""Square attack (Andriushchenko et al., ECCV 2020): score-based black box, Linf and L2.

Own implementation of the published algorithm with the settings of AutoAttack standard
(fra31/auto-attack ``autoattack/square.py`` as ``autoattack.py`` configures it): margin loss,
p_init 0.8, 5000 iterations after the initial query, the square-size schedule *not* rescaled
to the query budget (``resc_schedule=False``), one window position per iteration, no redraw of
proposals that would change nothing, window corners drawn from ``0 .. size - s - 1`` and the
L2 pattern's orientation drawn per window. Images leave the batch once misclassified.

Which draws are shared: the reference draws the window position (and, for Linf, the colour
signs; for L2, the pattern's orientation) once per iteration for the whole batch. With a plain
``torch.Generator`` so do we. With :class:`~visaudit.rng.SampleGenerators` every image draws
them from its own stream: each image's attack then has the reference's distribution, and no
image's result depends on the others in its batch.

Options that depart from the reference, off by default: ``rescale_schedule`` (the schedule
stretched to ``n_queries`` as if it were 10 000, the reference class's own default, which
AutoAttack turns off) and ``redraw_noop`` (Linf: redraw the colour signs, up to 10 times, of a
proposal that would leave the image unchanged, as the original Square code does).
"""

from __future__ import annotations

import math

import torch

from visaudit.attacks.losses import margin
from visaudit.attacks.oracle import Oracle, as_oracle
from visaudit.attacks.result import AttackOutput
from visaudit.attacks.threat import as_eps, batch_uniforms, check_norm, narrow, normalize_l2
from visaudit.rng import Generators

_SCHEDULE = [(10, 1), (50, 2), (200, 4), (500, 8), (1000, 16), (2000, 32), (4000, 64), (6000, 128), (8000, 256)]


def p_schedule(p_init: float, it: int, n_queries: int, rescale: bool = False) -> float:
    """Share of pixels a square covers at iteration ``it`` (0-based) of the reference schedule.

    Args:
        rescale: stretch the schedule's 10 000-iteration breakpoints to ``n_queries``
            (the reference class's ``resc_schedule=True``; AutoAttack standard uses False).
    """
    if rescale:
        it = int(it / n_queries * 10000)
    for bound, div in _SCHEDULE:
        if it <= bound:
            return p_init / div
    return p_init / 512


def side_length(p: float, h: int, w: int, norm: str) -> int:
    """Square side for the share ``p`` of the h*w pixels (odd and at least 3 for L2), at most min(h, w)."""
    s = int(round(math.sqrt(p * h * w)))
    if norm == "linf":
        s = max(s, 1)
    else:
        s = max(s, 3)
        s = s + 1 if s % 2 == 0 else s
    return min(s, min(h, w))


def _pseudo_gaussian(rows: int, cols: int) -> torch.Tensor:
    """Concentric rectangles around the centre with weights 1/(r+1)^2, unit L2 norm.

    Ring r covers rows ``centre - r .. centre + r`` (clipped); rings run until the largest one
    covers the whole block (``max(rows, cols) // 2 + 1`` rings), as in the reference.
    """
    d = torch.zeros(rows, cols)
    cr, cc = rows // 2, cols // 2
    for r in range(max(cr, cc) + 1):
        d[max(cr - r, 0) : min(cr + r + 1, rows), max(cc - r, 0) : min(cc + r + 1, cols)] += 1.0 / (r + 1) ** 2
    return d / d.norm()


def meta_pseudo_gaussian(s: int, flip: bool) -> torch.Tensor:
    """Two pseudo-Gaussian halves of opposite sign (the L2 Square update pattern), unit norm."""
    d = torch.zeros(s, s)
    if s // 2 > 0:
        d[: s // 2] = _pseudo_gaussian(s // 2, s)
    d[s // 2 :] = -_pseudo_gaussian(s - s // 2, s)
    d = d / d.norm()
    return d.t() if flip else d


def _patterns(s: int, flip: torch.Tensor, dev: torch.device) -> torch.Tensor:
    """(m, 1, s, s): each row's pattern, transposed where ``flip``."""
    pat = meta_pseudo_gaussian(s, False).to(dev)
    return torch.where(flip.view(-1, 1, 1, 1), pat.t(), pat).view(-1, 1, s, s)


def _corner(u: torch.Tensor, span: int) -> torch.Tensor:
    """A window corner in ``0 .. span - 1`` from uniforms (the reference's ``int(span * U)``)."""
    return (u * span).long().clamp(0, max(span - 1, 0))


def _signs(u: torch.Tensor) -> torch.Tensor:
    return torch.where(u < 0.5, -1.0, 1.0)


def _window_index(m: int, c: int, vh: torch.Tensor, vw: torch.Tensor, s: int, dev: torch.device):
    ar = torch.arange(s, device=dev)
    return (
        torch.arange(m, device=dev)[:, None, None, None],
        torch.arange(c, device=dev)[None, :, None, None],
        (vh[:, None] + ar)[:, None, :, None],
        (vw[:, None] + ar)[:, None, None, :],
    )


def _init_l2(x: torch.Tensor, eps: torch.Tensor, gen: Generators) -> torch.Tensor:
    """The reference's L2 start: a grid of pattern windows with random colour signs, scaled to eps."""
    n, c, h, w = x.shape
    delta = torch.zeros_like(x)
    s = max(h // 5, 1)
    start = (h - s * 5) // 2
    rows = [start + k * s for k in range(h // s) if start + k * s + s <= h]
    cols = [start + k * s for k in range(w // s) if start + k * s + s <= w]
    for vh in rows:
        for vw in cols:
            u = batch_uniforms(gen, n, 1, c, x.device)  # the pattern's orientation, then one sign per channel
            pat = _patterns(s, u[:, 0] > 0.5, x.device)
            delta[:, :, vh : vh + s, vw : vw + s] += pat * _signs(u[:, 1:]).view(n, c, 1, 1)
    return (x + normalize_l2(delta) * eps.view(-1, 1, 1, 1)).clamp(0.0, 1.0)


def square(
    model: Oracle,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str = "linf",
    eps: float | torch.Tensor = 8 / 255,
    n_queries: int = 5000,
    p_init: float = 0.8,
    rescale_schedule: bool = False,
    redraw_noop: bool = False,
    generator: Generators = None,
) -> AttackOutput:
    """Untargeted Square attack with the margin loss.

    Args:
        n_queries: iterations after the initial query (each costs one query per image still
            correctly classified), as the reference counts them.
        rescale_schedule: departure from AutoAttack standard, see the module docstring.
        redraw_noop: departure from the reference, see the module docstring (Linf only).
        generator: a ``torch.Generator`` or per-sample generators (see the module docstring).
    """
    oracle, norm = as_oracle(model), check_norm(norm)
    x = x.float()
    n, c, h, w = x.shape
    dev, gen = x.device, generator
    e = as_eps(eps, n, dev)
    v = lambda t: t.view(-1, 1, 1, 1)  # noqa: E731
    if norm == "linf":
        stripes = batch_uniforms(gen, n, 0, c * w, dev).view(n, c, 1, w)  # vertical stripes, per image
        best = (x + v(e) * _signs(stripes)).clamp(0.0, 1.0)
    else:
        best = _init_l2(x, e, gen)
    loss = margin(oracle.logits(best), y)
    for it in range(n_queries):
        act = (loss > 0).nonzero()[:, 0]
        if len(act) == 0:
            break
        m = len(act)
        ga = narrow(gen, act)
        xa, ba, ea = x[act], best[act], e[act]
        delta = ba - xa
        p = p_schedule(p_init, it, n_queries, rescale_schedule)
        s = side_length(p, h, w, norm)
        if norm == "linf":
            u = batch_uniforms(ga, m, 2 + c, 0, dev)  # corner (2), colour signs (c): one draw per iteration
            vh, vw = _corner(u[:, 0], h - s), _corner(u[:, 1], w - s)
            win = _window_index(m, c, vh, vw, s, dev)
            old = ba[win]
            new_vals = v(ea) * _signs(u[:, 2:]).view(m, c, 1, 1)
            if redraw_noop:
                for _ in range(10):
                    same = ((xa[win] + new_vals).clamp(0, 1) - old).abs().flatten(1).amax(1) < 1e-7
                    if not same.any():
                        break
                    rows = same.nonzero()[:, 0]
                    redo = batch_uniforms(narrow(ga, rows), len(rows), c, 0, dev)
                    new_vals[rows] = v(ea[rows]) * _signs(redo).view(-1, c, 1, 1)
            delta[win] = new_vals.expand(m, c, s, s)
            cand = (xa + delta).clamp(0.0, 1.0)
        else:
            # corners of the two windows (4) and the pattern's orientation (1) per iteration, signs per image
            u = batch_uniforms(ga, m, 5, c, dev)
            vh, vw = _corner(u[:, 0], h - s), _corner(u[:, 1], w - s)
            vh2, vw2 = _corner(u[:, 2], h - s), _corner(u[:, 3], w - s)
            win1 = _window_index(m, c, vh, vw, s, dev)
            win2 = _window_index(m, c, vh2, vw2, s, dev)
            union = torch.zeros(m, 1, h, w, device=dev)
            union[win1[0], 0:1, win1[2], win1[3]] = 1.0
            union[win2[0], 0:1, win2[2], win2[3]] = 1.0
            norm_w1 = delta[win1].pow(2).sum((2, 3), keepdim=True).sqrt()
            norm_union = (delta * union).pow(2).sum((2, 3), keepdim=True).sqrt()
            norm_all = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
            pat = _patterns(s, u[:, 4] > 0.5, dev)
            new = pat * _signs(u[:, 5:]).view(m, c, 1, 1) + delta[win1] / (norm_w1 + 1e-12)
            mass = ((v(ea) ** 2 - norm_all**2).clamp_min(0) / c + norm_union**2).sqrt()
            new = new / (new.pow(2).sum((2, 3), keepdim=True).sqrt() + 1e-12) * mass
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
