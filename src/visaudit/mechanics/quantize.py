"""Symmetric per-output-channel fake quantisation and greedy mixed-precision bit allocation.

Fake quantisation keeps float weights but restricts each output channel to ``2**(b-1) - 1``
evenly spaced levels either side of zero (symmetric, restricted range, scale from the
channel's max ``|w|``), the usual post-training weight-only scheme. At 2 bits the levels are
``{-s, 0, s}``.

Example:
    >>> w = torch.randn(4, 3, 3, 3)
    >>> q = fake_quantize(w, 8)
    >>> bool((q - w).abs().max() <= w.abs().amax() / 127 / 2 + 1e-6)
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


def fake_quantize(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Quantise-dequantise ``w`` per output channel (dim 0), symmetric, ``bits`` >= 2."""
    if bits < 2:
        raise ValueError(f"bits must be >= 2, got {bits}")
    qmax = 2 ** (bits - 1) - 1
    flat = w.reshape(w.shape[0], -1)
    scale = flat.abs().amax(dim=1, keepdim=True) / qmax
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.clamp(torch.round(flat / scale), -qmax, qmax) * scale
    return q.reshape(w.shape).to(w.dtype)


def model_size_bits(numels: dict[str, int], bits: dict[str, int]) -> int:
    """Size in bits of the quantised weights (layer numel x its bit width)."""
    return int(sum(numels[k] * bits[k] for k in numels))


@dataclass
class Allocation:
    """Result of :func:`greedy_allocation`."""

    bits: dict[str, int]
    size_bits: int
    budget_bits: int


def greedy_allocation(
    sensitivity: dict[str, dict[int, float]],
    numels: dict[str, int],
    budget_bits: int,
    widths: tuple[int, ...] = (8, 6, 4, 2),
) -> Allocation:
    """Allocate bit widths per layer under a size budget, greedily by sensitivity.

    Start with every layer at the widest width. While the model is larger than the budget,
    lower by one step the layer whose step costs the least extra sensitivity per bit saved
    (``(s[l][b_next] - s[l][b_now]) / (numel_l * (b_now - b_next))``; increases are clamped
    at 0 so noise in the measurements cannot make a step look like a gain). Layers that
    matter get more bits, as in HAWQ-style allocation. If the last step overshoots, layers
    are raised again (largest sensitivity drop per bit first) while they fit the budget.

    Args:
        sensitivity: layer -> bit width -> measured damage (e.g. KL to the float model)
            when that layer alone is quantised at that width.
        numels: layer -> number of weights.
        budget_bits: maximum total size in bits.
        widths: available widths.

    Raises:
        ValueError: the budget is below the narrowest uniform model.
    """
    ws = sorted(widths, reverse=True)
    floor = model_size_bits(numels, {k: ws[-1] for k in numels})
    if budget_bits < floor:
        raise ValueError(f"budget {budget_bits} bits is below the all-{ws[-1]}-bit size {floor}")
    bits = {k: ws[0] for k in numels}
    size = model_size_bits(numels, bits)
    while size > budget_bits:
        best, best_cost = None, float("inf")
        for k in sorted(numels):
            i = ws.index(bits[k])
            if i + 1 >= len(ws):
                continue
            nxt = ws[i + 1]
            extra = max(0.0, sensitivity[k][nxt] - sensitivity[k][bits[k]])
            cost = extra / (numels[k] * (bits[k] - nxt))
            if cost < best_cost:
                best, best_cost = k, cost
        assert best is not None  # guaranteed by the floor check
        nxt = ws[ws.index(bits[best]) + 1]
        size -= numels[best] * (bits[best] - nxt)
        bits[best] = nxt
    # The last step may overshoot the budget; give bits back where they help most and fit.
    while True:
        best, best_gain = None, 0.0
        for k in sorted(numels):
            i = ws.index(bits[k])
            if i == 0:
                continue
            up = ws[i - 1]
            extra_size = numels[k] * (up - bits[k])
            if size + extra_size > budget_bits:
                continue
            gain = (sensitivity[k][bits[k]] - sensitivity[k][up]) / extra_size
            if gain > best_gain:
                best, best_gain = k, gain
        if best is None:
            break
        up = ws[ws.index(bits[best]) - 1]
        size += numels[best] * (up - bits[best])
        bits[best] = up
    return Allocation(bits=bits, size_bits=size, budget_bits=budget_bits)
