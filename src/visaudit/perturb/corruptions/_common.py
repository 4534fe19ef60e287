"""Shared pieces of the corruption functions: parameter tables and seeded random draws."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import torch

from visaudit import rng
from visaudit.rng import Generators

PARAM_SETS = ("imagenet", "cifar")


def pick(table: dict[str, Sequence[Any]], params: str, severity: int) -> Any:
    """The parameter of ``severity`` (1..5) from a ``{"imagenet": [...], "cifar": [...]}`` table."""
    return table[params][severity - 1]


def _gen_device(gen: Generators, x: torch.Tensor) -> torch.device:
    return gen.device if gen is not None else x.device


def _shape(shape: int | Sequence[int]) -> tuple[int, ...]:
    return (int(shape),) if isinstance(shape, int) else tuple(int(s) for s in shape)


# Every draw below takes a plain generator (one stream for the batch) or SampleGenerators (one
# stream per image, the first axis of ``shape``): the probe uses the latter so an image is
# corrupted the same way whatever batch it is in.


def rand(gen: Generators, shape: int | Sequence[int], x: torch.Tensor) -> torch.Tensor:
    """Uniform [0, 1) draws in ``x``'s dtype on ``x``'s device."""
    out = rng.rand(gen, _shape(shape), device=_gen_device(gen, x), dtype=torch.float32)
    return out.to(device=x.device, dtype=x.dtype)


def randn(gen: Generators, shape: int | Sequence[int], x: torch.Tensor) -> torch.Tensor:
    """Standard normal draws in ``x``'s dtype on ``x``'s device."""
    out = rng.randn(gen, _shape(shape), device=_gen_device(gen, x), dtype=torch.float32)
    return out.to(device=x.device, dtype=x.dtype)


def uniform(gen: Generators, shape: int | Sequence[int], lo: float, hi: float, x: torch.Tensor) -> torch.Tensor:
    """float64 draws from U(lo, hi) on ``x``'s device (angles, offsets)."""
    u = rng.rand(gen, _shape(shape), device=_gen_device(gen, x), dtype=torch.float64)
    return (lo + (hi - lo) * u).to(x.device)


def randint(gen: Generators, shape: int | Sequence[int], high: torch.Tensor | int, x: torch.Tensor) -> torch.Tensor:
    """Integers in ``[0, high)`` (``high`` may be per sample) on ``x``'s device."""
    u = rng.rand(gen, _shape(shape), device=_gen_device(gen, x), dtype=torch.float64).to(x.device)
    high_t = torch.as_tensor(high, device=x.device, dtype=torch.float64)
    return (u * high_t).floor().long()


# torch.poisson on the CPU is a serial loop over one locked generator (about 100 ns a draw on a
# 2-core VM). Large CPU draws are therefore cut into fixed chunks, each with its own generator
# seeded from ``gen``, spread over torch's thread count: 1.9x at 2 threads. The result depends
# on the seed and the shape only, never on the thread count. (Uniform and normal draws gain
# nothing from this here, so they stay single calls.)
_CHUNK = 1 << 15  # at torch's grain size: copying a chunk stays on its worker thread


def _chunked_cpu(
    gen: torch.Generator | None,
    numel: int,
    dtype: torch.dtype,
    sample: Callable[[int, int, torch.Generator], torch.Tensor],
) -> torch.Tensor:
    """``numel`` draws made chunk by chunk: ``sample(start, stop, chunk_generator)`` makes each."""
    out = torch.empty(numel, dtype=dtype)
    starts = range(0, numel, _CHUNK)
    seeds = torch.randint(0, 2**62, (len(starts),), generator=gen).tolist()
    inference = torch.is_inference_mode_enabled()  # thread-local: workers must share the caller's mode

    def one(k: int) -> None:
        with torch.inference_mode(inference):
            stop = min(starts[k] + _CHUNK, numel)
            out[starts[k] : stop] = sample(starts[k], stop, torch.Generator().manual_seed(seeds[k]))

    workers = min(torch.get_num_threads(), len(starts))
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, range(len(starts))))
    else:
        for k in range(len(starts)):
            one(k)
    return out


def poisson(gen: Generators, rate: torch.Tensor) -> torch.Tensor:
    """Poisson draws with per-element ``rate``."""
    if isinstance(gen, rng.SampleGenerators):
        return rng.poisson(gen, rate)
    dev = _gen_device(gen, rate)
    if dev.type != "cpu" or rate.numel() < 2 * _CHUNK:
        return torch.poisson(rate.to(dev), generator=gen).to(rate.device)
    flat = rate.detach().to("cpu").reshape(-1)

    def sample(start: int, stop: int, g: torch.Generator) -> torch.Tensor:
        return torch.poisson(flat[start:stop], generator=g)

    return _chunked_cpu(gen, flat.numel(), flat.dtype, sample).view(rate.shape).to(rate.device)
