"""Unit tests of the pure attack maths (synthetic tensors): projections, FAB's hyperplane step,
losses, schedules, perturbation anatomy, robustness curve."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visaudit.attacks.anatomy import (
    border_energy_share,
    uniform_border_share,
    uniform_y_share,
    y_energy_share,
    ycbcr_energy,
)
from visaudit.attacks.apgd import checkpoints
from visaudit.attacks.fab import hyperplane_step
from visaudit.attacks.losses import dlr, dlr_targeted, margin, ranked_targets
from visaudit.attacks.minimal_eps import robustness_curve
from visaudit.attacks.square import meta_pseudo_gaussian, p_schedule
from visaudit.attacks.threat import as_eps, inside, lp_norm, parse_eps, project, random_start


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_project_lands_in_ball_and_box(norm):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 8, 8, generator=g)
    far = x + 3 * torch.randn(16, 3, 8, 8, generator=g)
    eps = as_eps(torch.linspace(0.01, 0.5, 16), 16, x.device)
    p = project(far, x, eps, norm)
    assert inside(p, x, eps, norm, tol=1e-6).all()
    r = random_start(x, eps, norm, g)
    assert inside(r, x, eps, norm, tol=1e-6).all()
    # a point already inside is left unchanged
    assert torch.allclose(project(x, x, eps, norm), x)


def test_parse_eps():
    assert parse_eps("8/255") == pytest.approx(8 / 255)
    assert parse_eps("0.5") == 0.5
    assert parse_eps(0.25) == 0.25


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_hyperplane_step_reaches_plane_minimally(norm):
    g = torch.Generator().manual_seed(1)
    p = torch.rand(8, 3, 4, 4, generator=g) * 0.6 + 0.2
    w = torch.randn(8, 3, 4, 4, generator=g)
    b = -torch.rand(8, generator=g) * 0.5  # below the plane
    d = hyperplane_step(p, w, b, norm)
    value = b + (w * d).flatten(1).sum(1)
    assert (value >= -1e-4).all() and (value <= 1e-3).all()  # on the plane (not beyond)
    assert ((p + d) >= -1e-7).all() and ((p + d) <= 1 + 1e-7).all()
    # any shorter step in the steepest direction stays below the plane
    shorter = d * 0.98
    assert ((b + (w * shorter).flatten(1).sum(1)) < 0).all()
    # already on the positive side: no step
    assert hyperplane_step(p, w, torch.ones(8), norm).abs().max() == 0


def test_hyperplane_step_l2_matches_closed_form_without_box():
    g = torch.Generator().manual_seed(2)
    p = torch.full((4, 1, 3, 3), 0.5)
    w = torch.randn(4, 1, 3, 3, generator=g) * 0.1
    b = -torch.full((4,), 0.001)
    d = hyperplane_step(p, w, b, "l2")
    exact = (-b / w.flatten(1).pow(2).sum(1)).view(-1, 1, 1, 1) * w  # unconstrained projection
    assert torch.allclose(d, exact, atol=1e-5)


def test_losses_on_known_logits():
    z = torch.tensor([[3.0, 1.0, 0.0, -1.0], [0.0, 2.0, 1.0, -1.0]])
    y = torch.tensor([0, 0])
    assert margin(z, y).tolist() == [2.0, -2.0]
    # DLR: -(z_y - best other) / (z_pi1 - z_pi3)
    assert dlr(z, y)[0].item() == pytest.approx(-(3 - 1) / (3 - 0))
    assert dlr(z, y)[1].item() == pytest.approx(-(0 - 2) / (2 - 0))
    t = ranked_targets(z, 2)
    assert t.tolist() == [1, 2]
    assert dlr_targeted(z, y, t)[0].item() == pytest.approx(-(3 - 1) / (3 - 0.5 * (0 - 1)))


def test_schedules():
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert p_schedule(0.8, 0, 5000) == 0.8
    assert p_schedule(0.8, 4999, 5000) == pytest.approx(0.8 / 128)  # not rescaled: 5000 of the 10k breakpoints
    assert p_schedule(0.8, 4999, 5000, rescale=True) == pytest.approx(0.8 / 512)
    assert all(p_schedule(0.8, i, 5000) >= p_schedule(0.8, i + 1, 5000) for i in range(4999))
    pat = meta_pseudo_gaussian(5, False)
    assert pat.norm().item() == pytest.approx(1.0)
    assert pat[:2].sum() > 0 > pat[2:].sum()


def test_border_share_and_uniform_baseline():
    d = torch.zeros(2, 3, 32, 32)
    d[0, :, :2, :] = 1.0  # all energy in the top rows: inside a 4-px band
    d[1] = 1.0  # uniform
    s = border_energy_share(d, 4)
    assert s[0].item() == pytest.approx(1.0)
    assert s[1].item() == pytest.approx(uniform_border_share(32, 32, 4))
    assert uniform_border_share(32, 32, 4) == pytest.approx(1 - 24 * 24 / 1024)


def test_y_share():
    grey = torch.ones(1, 3, 4, 4)  # equal RGB change: luminance only
    assert y_energy_share(grey).item() == pytest.approx(1.0, abs=1e-5)
    chroma = torch.zeros(1, 3, 4, 4)
    chroma[:, 0], chroma[:, 1] = 0.587, -0.299  # zero luminance change
    assert y_energy_share(chroma).item() == pytest.approx(0.0, abs=1e-6)
    g = torch.Generator().manual_seed(3)
    iso = torch.randn(2000, 3, 4, 4, generator=g)
    e = ycbcr_energy(iso).sum(0)
    assert (e[0] / e.sum()).item() == pytest.approx(uniform_y_share(), abs=0.01)


def test_robustness_curve():
    m = np.array([0.0, 0.01, 0.02, np.inf])
    acc = robustness_curve(m, np.array([0.0, 0.015, 1.0]))
    assert acc.tolist() == [0.75, 0.5, 0.25]


def test_lp_norm():
    d = torch.zeros(2, 1, 2, 2)
    d[0, 0, 0, 0], d[1, 0, 1, 1] = -3.0, 4.0
    d[1, 0, 0, 0] = 3.0
    assert lp_norm(d, "linf").tolist() == [3.0, 4.0]
    assert lp_norm(d, "l2").tolist() == [3.0, 5.0]
