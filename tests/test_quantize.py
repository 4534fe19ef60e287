"""Fake quantisation and greedy bit allocation (pure functions)."""

from __future__ import annotations

import itertools

import pytest
import torch

from visaudit.mechanics.quantize import fake_quantize, greedy_allocation, model_size_bits


@pytest.mark.parametrize("bits", [8, 6, 4, 2])
def test_fake_quantize_levels_and_error(bits):
    g = torch.Generator().manual_seed(bits)
    w = torch.randn(6, 4, 3, 3, generator=g) * torch.logspace(-3, 1, 6).view(6, 1, 1, 1)
    q = fake_quantize(w, bits)
    qmax = 2 ** (bits - 1) - 1
    for c in range(6):
        scale = w[c].abs().max() / qmax
        levels = torch.round(q[c] / scale)
        assert torch.allclose(levels * scale, q[c], rtol=1e-5, atol=1e-12)  # on the grid
        assert levels.abs().max() == qmax  # the channel max is representable exactly
        assert (q[c] - w[c]).abs().max() <= scale / 2 * (1 + 1e-5)
        assert torch.unique(levels).numel() <= 2 * qmax + 1
    assert torch.equal(fake_quantize(q, bits), q)  # idempotent
    assert q.dtype == w.dtype


def test_two_bits_is_ternary_and_zero_channel_stays_zero():
    w = torch.randn(3, 5)
    w[1] = 0
    q = fake_quantize(w, 2)
    for c in (0, 2):
        s = w[c].abs().max()
        assert set(torch.unique(q[c] / s).tolist()) <= {-1.0, 0.0, 1.0}
    assert torch.equal(q[1], torch.zeros(5))
    with pytest.raises(ValueError):
        fake_quantize(w, 1)


def test_greedy_allocation_meets_budget_and_protects_sensitive_layers():
    numels = {"a": 1000, "b": 1000, "c": 1000}
    sens = {
        "a": {8: 0.0, 6: 0.0, 4: 0.01, 2: 0.05},  # robust
        "b": {8: 0.0, 6: 0.1, 4: 1.0, 2: 5.0},  # fragile
        "c": {8: 0.0, 6: 0.0, 4: 0.02, 2: 0.1},
    }
    budget = model_size_bits(numels, {k: 4 for k in numels})
    alloc = greedy_allocation(sens, numels, budget)
    assert alloc.size_bits <= budget
    assert alloc.bits["b"] == 8 and alloc.bits["a"] == 2 and alloc.bits["c"] == 2
    # exhaustive check: nothing of equal or smaller size has lower total sensitivity here
    best = min(
        (sum(sens[k][b] for k, b in zip(numels, combo)), combo)
        for combo in itertools.product((8, 6, 4, 2), repeat=3)
        if model_size_bits(numels, dict(zip(numels, combo))) <= budget
    )
    assert sum(sens[k][alloc.bits[k]] for k in numels) == pytest.approx(best[0])


def test_greedy_allocation_fills_budget_back_after_overshoot():
    numels = {"big": 1000, "small": 10}
    sens = {"big": {8: 0, 4: 0.001, 2: 0.002}, "small": {8: 0, 4: 1.0, 2: 2.0}}
    budget = 1000 * 4 + 10 * 8 + 5  # lowering "big" 8->4 already fits
    alloc = greedy_allocation(sens, numels, budget, widths=(8, 4, 2))
    assert alloc.bits == {"big": 4, "small": 8}
    with pytest.raises(ValueError):
        greedy_allocation(sens, numels, 100, widths=(8, 4, 2))
