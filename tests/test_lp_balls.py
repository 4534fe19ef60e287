"""The Lp-ball-and-box oracle and projection (p in {1.5, 2, inf}) against independent solvers:
scipy's SLSQP on small problems, the closed forms, and the projection's variational inequality."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import minimize

from visaudit.attacks import lp_balls

P = [1.5, 2.0, math.inf]


def _problem(seed: int, n: int = 3, d: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Points with coordinates on both faces of the box (so the box binds) and mixed radii."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n, d, generator=gen, dtype=torch.float64)
    x[:, 0], x[:, 1] = 0.0, 1.0
    g = torch.randn(n, d, generator=gen, dtype=torch.float64)
    g[:, 2] = 0.0
    eps = torch.tensor([0.2, 0.9, 3.0], dtype=torch.float64)[:n]
    return x, g, eps


def _norm(d: np.ndarray, p: float) -> float:
    return float(np.abs(d).max()) if math.isinf(p) else float((np.abs(d) ** p).sum() ** (1 / p))


def _slsqp(objective, x0: np.ndarray, x: np.ndarray, eps: float, p: float) -> float:
    """Minimise ``objective`` over the ball-box set with SLSQP from several starts; best value."""
    cons = []
    if math.isinf(p):
        bounds = [(max(0.0, xi - eps), min(1.0, xi + eps)) for xi in x]
    else:
        bounds = [(0.0, 1.0)] * len(x)
        # the smooth form of the constraint: eps^p - sum |z - x|^p >= 0
        cons = [{"type": "ineq", "fun": lambda z: eps**p - np.sum(np.abs(z - x) ** p)}]
    best = math.inf
    rng = np.random.default_rng(0)
    for start in [x0, x] + [np.clip(x + rng.normal(0, eps / 4, len(x)), 0, 1) for _ in range(4)]:
        res = minimize(
            objective, start, method="SLSQP", bounds=bounds, constraints=cons, options={"ftol": 1e-12, "maxiter": 500}
        )
        z = np.clip(res.x, 0, 1)
        if _norm(z - x, p) <= eps * (1 + 1e-6):
            best = min(best, float(objective(z)))
    return best


@pytest.mark.parametrize("p", P)
def test_lmo_maximises_the_linear_function_over_ball_and_box(p):
    x, g, eps = _problem(1)
    s = lp_balls.lmo(g, x, eps, p)
    for i in range(len(x)):
        xi, gi, ei, si = x[i].numpy(), g[i].numpy(), float(eps[i]), s[i].numpy()
        assert si.min() >= 0 and si.max() <= 1
        assert _norm(si - xi, p) <= ei * (1 + 1e-9)
        ref = -_slsqp(lambda z, gi=gi: -float(gi @ z), si, xi, ei, p)
        assert float(gi @ si) >= ref - 1e-6 * max(1.0, abs(ref)), (p, i, float(gi @ si), ref)


def test_lmo_linf_is_the_clipped_sign_step_and_l2_without_box_is_the_scaled_gradient():
    x, g, eps = _problem(2)
    s = lp_balls.lmo(g, x, eps, math.inf)
    ref = torch.where(g > 0, torch.minimum(x + eps[:, None], torch.ones_like(x)), x)
    ref = torch.where(g < 0, torch.maximum(x - eps[:, None], torch.zeros_like(x)), ref)
    assert torch.equal(s, ref)
    centre = torch.full((2, 50), 0.5, dtype=torch.float64)
    gg = torch.randn(2, 50, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    small = torch.tensor([0.05, 0.3], dtype=torch.float64)  # the box cannot bind: |d_i| <= 0.3 < 0.5
    for p in (1.5, 2.0):
        q = p / (p - 1)
        closed = (
            small[:, None] * gg.sign() * gg.abs() ** (q - 1) / (gg.abs() ** q).sum(1, keepdim=True) ** ((q - 1) / q)
        )
        torch.testing.assert_close(lp_balls.lmo(gg, centre, small, p) - centre, closed, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(lp_balls.steepest(gg, p) * small[:, None], closed, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("p", P)
def test_projection_matches_slsqp_and_the_variational_inequality(p):
    x, _, eps = _problem(4)
    v = x + torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    z = lp_balls.project(v, x, eps, p)
    rng = np.random.default_rng(6)
    for i in range(len(x)):
        xi, vi, ei, zi = x[i].numpy(), v[i].numpy(), float(eps[i]), z[i].numpy()
        assert zi.min() >= 0 and zi.max() <= 1 and _norm(zi - xi, p) <= ei * (1 + 1e-9)
        dist = float(((zi - vi) ** 2).sum())
        ref = _slsqp(lambda w, vi=vi: float(((w - vi) ** 2).sum()), zi, xi, ei, p)
        assert dist <= ref + 1e-7, (p, i, dist, ref)
        # a projection onto a convex set satisfies <v - z, y - z> <= 0 for every y in the set
        y = rng.uniform(0, 1, (20000, len(xi)))
        scale = np.minimum(1.0, ei / np.array([_norm(r, p) for r in (y - xi)]))
        y = xi + (y - xi) * scale[:, None]
        assert ((vi - zi) * (y - zi)).sum(1).max() <= 1e-8


def test_projection_of_a_point_inside_is_the_point_and_l15_is_not_ball_then_clip():
    x, _, eps = _problem(7)
    inside = x + 0.01 * (0.5 - x)
    for p in P:
        torch.testing.assert_close(lp_balls.project(inside, x, eps, p), inside, rtol=0, atol=1e-12)
    v = x + torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    z = lp_balls.project(v, x, eps, 1.5)
    d = v - x
    naive = (x + d * torch.clamp(eps / lp_balls.lp(d, 1.5), max=1.0)[:, None]).clamp(0, 1)
    closer = ((z - v) ** 2).sum(1) <= ((naive - v) ** 2).sum(1) + 1e-12
    assert closer.all() and not torch.allclose(z, naive)


def test_norm_names_and_errors():
    assert lp_balls.norm_p("L1.5") == 1.5 and lp_balls.norm_p("linf") == math.inf
    with pytest.raises(ValueError, match="unknown norm"):
        lp_balls.norm_p("l1")
    d = torch.tensor([[3.0, -4.0]])
    assert float(lp_balls.lp(d, 2.0)) == pytest.approx(5.0)
    assert float(lp_balls.lp(d, 1.5)) == pytest.approx((3**1.5 + 4**1.5) ** (1 / 1.5))
