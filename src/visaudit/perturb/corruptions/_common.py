"""Shared pieces of the corruption functions: parameter tables and seeded random draws."""
from __future__ import annotations

from typing import Any, Sequence

import torch

PARAM_SETS = ("imagenet", "cifar")


def pick(table: dict[str, Sequence[Any]], params: str, severity: int) -> Any:
    """The parameter of ``severity`` (1..5) from a ``{"imagenet": [...], "cifar": [...]}`` table."""
    return table[params][severity - 1]


def _gen_device(gen: torch.Generator | None, x: torch.Tensor) -> torch.device:
    return gen.device if gen is not None else x.device


def rand(gen: torch.Generator | None, shape: Sequence[int], x: torch.Tensor) -> torch.Tensor:
    """Uniform [0, 1) draws in ``x``'s dtype on ``x``'s device."""
    out = torch.rand(tuple(shape), generator=gen, device=_gen_device(gen, x), dtype=torch.float32)
    return out.to(device=x.device, dtype=x.dtype)


def randn(gen: torch.Generator | None, shape: Sequence[int], x: torch.Tensor) -> torch.Tensor:
    """Standard normal draws in ``x``'s dtype on ``x``'s device."""
    out = torch.randn(tuple(shape), generator=gen, device=_gen_device(gen, x), dtype=torch.float32)
    return out.to(device=x.device, dtype=x.dtype)


def uniform(gen: torch.Generator | None, n: int, lo: float, hi: float, x: torch.Tensor) -> torch.Tensor:
    """``n`` float64 draws from U(lo, hi) on ``x``'s device (angles, offsets)."""
    u = torch.rand(n, generator=gen, device=_gen_device(gen, x), dtype=torch.float64)
    return (lo + (hi - lo) * u).to(x.device)


def randint(gen: torch.Generator | None, n: int, high: torch.Tensor | int, x: torch.Tensor) -> torch.Tensor:
    """``n`` integers in ``[0, high)`` (``high`` may be per sample) on ``x``'s device."""
    u = torch.rand(n, generator=gen, device=_gen_device(gen, x), dtype=torch.float64).to(x.device)
    high_t = torch.as_tensor(high, device=x.device, dtype=torch.float64)
    return (u * high_t).floor().long()


def poisson(gen: torch.Generator | None, rate: torch.Tensor) -> torch.Tensor:
    """Poisson draws with per-element ``rate``."""
    dev = _gen_device(gen, rate)
    return torch.poisson(rate.to(dev), generator=gen).to(rate.device)
