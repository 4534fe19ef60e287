"""Hutchinson trace against the exact Hessian of a least-squares loss."""

from __future__ import annotations

import pytest
import torch

from visaudit.mechanics.hessian import hutchinson_traces, spearman


def test_hutchinson_matches_exact_trace():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 5, generator=g)
    y = torch.randn(64, generator=g)
    w = torch.nn.Parameter(torch.randn(5, generator=g))
    v = torch.nn.Parameter(torch.randn(3, generator=g))

    def loss():
        return ((x @ w - y) ** 2).mean() + (v**4).sum()

    exact_w = float(torch.trace(2 * x.T @ x / 64))  # Hessian of the mean squared error
    exact_v = float((12 * v.detach() ** 2).sum())  # diagonal Hessian: exact for any probe
    est = hutchinson_traces(loss, {"w": w, "v": v}, iters=400, generator=torch.Generator().manual_seed(1))
    assert est["w"] == pytest.approx(exact_w, rel=0.1)
    assert est["v"] == pytest.approx(exact_v, rel=1e-5)
    assert w.requires_grad and v.requires_grad  # flags restored


def test_spearman():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
