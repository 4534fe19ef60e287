"""Lp balls (p in {1.5, 2, inf}) intersected with the [0,1] pixel box: norms, the linear
maximisation oracle (Frank-Wolfe's LMO) and the exact Euclidean projection.

The set is ``C = {z : ||z - x||_p <= eps, 0 <= z <= 1}``, one per sample, ``eps`` of shape (n,).

* :func:`lmo` solves ``max_{z in C} <g, z>`` exactly. Linf: each coordinate moves by eps in
  the sign of ``g`` as far as the box allows. Finite p: by the KKT conditions the maximiser is
  ``d_i = sign(g_i) min(t |g_i|^(1/(p-1)), b_i)`` with ``b_i`` the room the box leaves in that
  direction and ``t >= 0`` the one value with ``||d||_p = eps`` (or the box corner when that
  already lies in the ball). ``||d(t)||_p^p`` is piecewise ``C_k + t^p S_k`` between the sorted
  breakpoints ``b_i / |g_i|^(1/(p-1))``, so ``t`` is found exactly by a sort and two cumulative
  sums (no iteration).
* :func:`project` solves ``min_{z in C} ||z - v||_2``. Linf: clipping. Finite p: for a
  multiplier ``mu`` the problem separates into ``min 1/2 (d - w)^2 + mu |d|^p`` on an interval,
  whose solution is the interval-clipped unconstrained minimiser (closed form for p = 2 and
  p = 1.5: a quadratic in ``sqrt|d|``); ``||d(mu)||_p`` falls with ``mu``, solved by a bracketed
  Newton iteration in float64. This is the exact projection onto the intersection (the box sits inside the
  separable sub-problem), unlike projecting on the ball and then clipping.

Both results are finally scaled by ``min(1, eps / ||d||_p)`` against float round-off, which
keeps them in the box because ``x`` is in it.
"""

from __future__ import annotations

import math

import torch

P_OF = {"linf": math.inf, "l2": 2.0, "l1.5": 1.5}


def norm_p(norm: str) -> float:
    """The exponent of a norm name (``linf``, ``l2``, ``l1.5``); others raise ValueError."""
    key = norm.lower()
    if key not in P_OF:
        raise ValueError(f"unknown norm {norm!r}; known: {', '.join(P_OF)}")
    return P_OF[key]


def lp(d: torch.Tensor, p: float) -> torch.Tensor:
    """Per-sample Lp norm of a batch (computed in float64, returned in ``d``'s dtype)."""
    flat = d.flatten(1).double()
    out = flat.abs().amax(1) if math.isinf(p) else flat.abs().pow(p).sum(1).pow(1.0 / p)
    return out.to(d.dtype)


def _v(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return t.view(-1, *([1] * (like.ndim - 1)))


def _fit(d: torch.Tensor, eps: torch.Tensor, p: float) -> torch.Tensor:
    """Scale each row into the ball if round-off left it a hair outside."""
    n = lp(d, p).double()
    scale = torch.clamp(eps.double() / n.clamp_min(1e-300), max=1.0)
    return d * _v(scale, d).to(d.dtype)


def lmo(g: torch.Tensor, x: torch.Tensor, eps: torch.Tensor, p: float) -> torch.Tensor:
    """The point ``z`` of the ball-box set around ``x`` that maximises ``<g, z>`` (per sample)."""
    gd, xd = g.flatten(1).double(), x.flatten(1).double()
    room = torch.where(gd > 0, 1.0 - xd, torch.where(gd < 0, xd, torch.zeros_like(xd)))
    e = eps.double().view(-1, 1)
    if math.isinf(p):
        mag = torch.minimum(room, e.expand_as(room))
    else:
        a = gd.abs().pow(1.0 / (p - 1.0))
        tau = torch.where(a > 0, room / a.clamp_min(1e-300), torch.zeros_like(a))
        tau_s, order = tau.sort(1)
        room_s, a_s = room.gather(1, order), a.gather(1, order)
        m = tau.shape[1]
        zero = torch.zeros(len(tau), 1, dtype=tau.dtype, device=tau.device)
        clipped = torch.cat([zero, room_s.pow(p).cumsum(1)], 1)  # sum over the first j sorted coords
        free = torch.cat([a_s.pow(p).flip(1).cumsum(1).flip(1), zero], 1)  # sum over coords j..m-1
        at_break = clipped[:, :m] + torch.where(free[:, :m] > 0, tau_s.pow(p) * free[:, :m], 0.0)
        target = e.pow(p)
        k = (at_break <= target).sum(1, keepdim=True)  # coordinates clipped at the solution
        c_k, s_k = clipped.gather(1, k), free.gather(1, k)
        t = torch.where(s_k > 0, ((target - c_k).clamp_min(0) / s_k.clamp_min(1e-300)).pow(1.0 / p), 0.0)
        mag = torch.where(k >= m, room, torch.minimum(t * a, room))
    d = (gd.sign() * mag).view_as(x)
    return x + _fit(d, eps, p).to(x.dtype)


def _shrink(w: torch.Tensor, mu: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """argmin_d 1/2 (d - w)^2 + mu |d|^p without the box (p = 2 or 1.5), elementwise:
    (the magnitude |d|, its derivative in mu)."""
    a = w.abs()
    if p == 2.0:
        return a / (1.0 + 2.0 * mu), -2.0 * a / (1.0 + 2.0 * mu) ** 2
    if p == 1.5:  # |d| = s^2 with s^2 + 1.5 mu s - |w| = 0
        c = 1.5 * mu
        r = torch.sqrt(c * c + 4.0 * a)
        s = (r - c) / 2.0
        return s * s, 1.5 * s * (c / r.clamp_min(1e-300) - 1.0)
    raise ValueError(f"no closed-form shrinkage for p={p}")  # pragma: no cover - norm_p admits no other


def project(v: torch.Tensor, x: torch.Tensor, eps: torch.Tensor, p: float, iters: int = 60) -> torch.Tensor:
    """Euclidean projection of ``v`` onto ``{z : ||z - x||_p <= eps} ∩ [0,1]^d`` (per sample).

    Finite p: the multiplier ``mu`` solves ``||d(mu)||_p^p = eps^p`` by Newton's method kept
    inside a bracket (a bisection step whenever Newton would leave it), in float64, until the
    constraint holds to 1e-12 relative or after ``iters`` steps.
    """
    if math.isinf(p):
        e = _v(eps.to(v.dtype), v)
        return (x + torch.maximum(torch.minimum(v - x, e), -e)).clamp(0.0, 1.0)
    w, xd = (v - x).flatten(1).double(), x.flatten(1).double()
    room = torch.where(w > 0, 1.0 - xd, xd)  # how far the box lets d go in w's direction
    target = eps.double().pow(p)

    def phi(mu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mag, dmag = _shrink(w, mu.view(-1, 1), p)
        free = mag < room
        mag = torch.minimum(mag, room)
        value = mag.pow(p).sum(1) - target
        slope = torch.where(free, p * mag.pow(p - 1.0) * dmag, 0.0).sum(1)
        return value, slope, mag

    mu = torch.zeros_like(target)
    value, slope, mag = phi(mu)
    todo = value > 0  # the clipped point already in the ball is the projection
    lo, hi = mu.clone(), torch.full_like(mu, math.inf)
    for _ in range(iters):
        if not todo.any():
            break
        lo = torch.where(todo & (value > 0), mu, lo)
        hi = torch.where(todo & (value <= 0), mu, hi)
        newton = mu - value / torch.where(slope < 0, slope, -1e-300)
        mid = torch.where(torch.isinf(hi), torch.maximum(2 * lo, lo + 1.0), (lo + hi) / 2)
        ok = (newton > lo) & (newton < hi) & torch.isfinite(newton)
        mu = torch.where(todo, torch.where(ok, newton, mid), mu)
        value, slope, mag = phi(mu)
        todo = todo & (value.abs() > 1e-12 * target)
    d = (w.sign() * mag).view_as(v)
    return x + _fit(d, eps, p).to(v.dtype)


def steepest(g: torch.Tensor, p: float) -> torch.Tensor:
    """The unit-Lp direction of steepest ascent, ``argmax_{||d||_p <= 1} <g, d>`` (no box).

    Linf: ``sign(g)``; finite p: ``sign(g) |g|^(q-1) / ||g||_q^(q-1)`` with ``1/p + 1/q = 1``
    (for p = 2 the normalised gradient, as APGD's L2 step).
    """
    if math.isinf(p):
        return g.sign()
    q = p / (p - 1.0)
    gd = g.flatten(1).double()
    num = gd.abs().pow(q - 1.0)
    den = gd.abs().pow(q).sum(1, keepdim=True).pow((q - 1.0) / q).clamp_min(1e-300)
    return (gd.sign() * num / den).view_as(g).to(g.dtype)
