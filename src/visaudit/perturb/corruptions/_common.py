"""Shared pieces of the corruption functions: parameter tables and seeded random draws."""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

import torch

PARAM_SETS = ("imagenet", "cifar")


def pick(table: dict[str, Sequence[Any]], params: str, severity: int) -> Any:
    """The parameter of ``severity`` (1..5) from a ``{"imagenet": [...], "cifar": [...]}`` table."""
    return table[params][severity - 1]


def _gen_device(gen: torch.Generator | None, x: torch.Tensor) -> torch.device:
    return gen.device if gen is not None else x.device


# torch's CPU samplers are serial loops over one locked generator (about 10 ns a uniform and
# 100 ns a Poisson draw on a 2-core VM; a second thread adds nothing). Large CPU draws are
# therefore cut into fixed chunks, each with its own generator seeded from ``gen``, and the
# chunks are filled on torch's intra-op threads. The result depends on the seed and the shape
# only, never on the thread count.
_CHUNK = 1 << 15  # at torch's grain size: copying a chunk stays on its worker thread


def _chunked_cpu(gen: torch.Generator | None, numel: int, dtype: torch.dtype,
                 sample: Callable[[int, int, torch.Generator], torch.Tensor]) -> torch.Tensor:
    """``numel`` draws made chunk by chunk: ``sample(start, stop, chunk_generator)`` makes each."""
    out = torch.empty(numel, dtype=dtype)
    starts = range(0, numel, _CHUNK)
    seeds = torch.randint(0, 2**62, (len(starts),), generator=gen).tolist()
    inference = torch.is_inference_mode_enabled()  # thread-local: workers must share the caller's mode

    def one(k: int) -> None:
        with torch.inference_mode(inference):
            stop = min(starts[k] + _CHUNK, numel)
            out[starts[k]:stop] = sample(starts[k], stop, torch.Generator().manual_seed(seeds[k]))

    workers = min(torch.get_num_threads(), len(starts))
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, range(len(starts))))
    else:
        for k in range(len(starts)):
            one(k)
    return out


def _draw(gen: torch.Generator | None, shape: Sequence[int], x: torch.Tensor, dtype: torch.dtype,
          sampler: Callable[..., torch.Tensor]) -> torch.Tensor:
    """``sampler(size, generator=, device=, dtype=)`` draws, chunked on the CPU when large."""
    dev = _gen_device(gen, x)
    shape = tuple(shape)
    numel = math.prod(shape)
    if dev.type != "cpu" or numel < 2 * _CHUNK:
        return sampler(shape, generator=gen, device=dev, dtype=dtype)

    def sample(start: int, stop: int, g: torch.Generator) -> torch.Tensor:
        return sampler((stop - start,), generator=g, dtype=dtype)

    return _chunked_cpu(gen, numel, dtype, sample).view(shape)


def rand(gen: torch.Generator | None, shape: Sequence[int], x: torch.Tensor) -> torch.Tensor:
    """Uniform [0, 1) draws in ``x``'s dtype on ``x``'s device."""
    return _draw(gen, shape, x, torch.float32, torch.rand).to(device=x.device, dtype=x.dtype)


def randn(gen: torch.Generator | None, shape: Sequence[int], x: torch.Tensor) -> torch.Tensor:
    """Standard normal draws in ``x``'s dtype on ``x``'s device."""
    return _draw(gen, shape, x, torch.float32, torch.randn).to(device=x.device, dtype=x.dtype)


def uniform(gen: torch.Generator | None, n: int, lo: float, hi: float, x: torch.Tensor) -> torch.Tensor:
    """``n`` float64 draws from U(lo, hi) on ``x``'s device (angles, offsets)."""
    u = _draw(gen, (n,), x, torch.float64, torch.rand)
    return (lo + (hi - lo) * u).to(x.device)


def randint(gen: torch.Generator | None, n: int, high: torch.Tensor | int, x: torch.Tensor) -> torch.Tensor:
    """``n`` integers in ``[0, high)`` (``high`` may be per sample) on ``x``'s device."""
    u = _draw(gen, (n,), x, torch.float64, torch.rand).to(x.device)
    high_t = torch.as_tensor(high, device=x.device, dtype=torch.float64)
    return (u * high_t).floor().long()


def poisson(gen: torch.Generator | None, rate: torch.Tensor) -> torch.Tensor:
    """Poisson draws with per-element ``rate``."""
    dev = _gen_device(gen, rate)
    if dev.type != "cpu" or rate.numel() < 2 * _CHUNK:
        return torch.poisson(rate.to(dev), generator=gen).to(rate.device)
    flat = rate.detach().to("cpu").reshape(-1)

    def sample(start: int, stop: int, g: torch.Generator) -> torch.Tensor:
        return torch.poisson(flat[start:stop], generator=g)

    return _chunked_cpu(gen, flat.numel(), flat.dtype, sample).view(rate.shape).to(rate.device)
