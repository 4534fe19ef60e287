"""Random draws that depend on each sample alone, never on how samples are batched or chunked.

A probe asks its context for the :class:`SampleGenerators` of a batch: one ``torch.Generator``
per sample, seeded from the job seed, a tag (what the draw is for) and the sample's dataset
position. Every draw function here takes either a plain ``torch.Generator`` (one stream for the
whole tensor) or :class:`SampleGenerators` (row ``i`` comes from sample ``i``'s own stream), so
the same maths serves a one-off call and a probe whose result must not change with the batch
size, the chunk size, an out-of-memory retry or a resume.

Streams live on the generators' device: a CPU and a CUDA generator with the same seed give
different numbers (torch's CPU and CUDA samplers differ), which is why the device type is part
of the cache key of every probe that draws.

Example:
    >>> import torch
    >>> gens = SampleGenerators.for_positions(0, "noise", [3, 7], "cpu")
    >>> a = randn(gens, (2, 4))
    >>> b = randn(SampleGenerators.for_positions(0, "noise", [7], "cpu"), (1, 4))
    >>> bool(torch.equal(a[1:], b))
    True
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence, Union

import numpy as np
import torch

_MASK63 = 0x7FFF_FFFF_FFFF_FFFF


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: a well-spread 64-bit hash of each integer (uint64 out)."""
    x = np.asarray(x).astype(np.uint64)
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def tag_seed(seed: int, tag: str) -> int:
    """A 63-bit seed for one purpose (``tag``) of a job seeded with ``seed``."""
    digest = hashlib.sha256(f"{int(seed)}\0{tag}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & _MASK63


def sample_seeds(seed: int, tag: str, positions: Sequence[int] | np.ndarray) -> list[int]:
    """One 63-bit seed per dataset position, for the purpose ``tag`` of a job seeded with ``seed``."""
    pos = np.asarray(positions, dtype=np.int64).astype(np.uint64)
    mixed = splitmix64(pos ^ np.uint64(tag_seed(seed, tag)))
    return [int(v) & _MASK63 for v in mixed]


class SampleGenerators:
    """One ``torch.Generator`` per sample of a batch, all on one device.

    :meth:`select` keeps the same generator objects, so a sample's stream continues where it
    was when an algorithm narrows its work to the samples still active.
    """

    def __init__(self, generators: Sequence[torch.Generator]) -> None:
        self.generators = list(generators)
        devices = {str(g.device) for g in self.generators}
        if len(devices) > 1:
            raise ValueError(f"sample generators on several devices: {sorted(devices)}")
        self._device = self.generators[0].device if self.generators else torch.device("cpu")

    @classmethod
    def seeded(cls, seeds: Sequence[int], device: str | torch.device) -> "SampleGenerators":
        """Generators on ``device`` seeded with ``seeds`` (one per sample)."""
        out = []
        for s in seeds:
            g = torch.Generator(device=device)
            g.manual_seed(int(s))
            out.append(g)
        gens = cls(out)
        gens._device = torch.device(device)
        return gens

    @classmethod
    def for_positions(
        cls, seed: int, tag: str, positions: Sequence[int] | np.ndarray, device: str | torch.device
    ) -> "SampleGenerators":
        """Generators for the samples at dataset ``positions`` (see :func:`sample_seeds`)."""
        return cls.seeded(sample_seeds(seed, tag, positions), device)

    @property
    def device(self) -> torch.device:
        return self._device

    def __len__(self) -> int:
        return len(self.generators)

    def select(self, rows: torch.Tensor | np.ndarray | Sequence[int]) -> "SampleGenerators":
        """The generators of some rows: a boolean mask or integer indices."""
        if isinstance(rows, torch.Tensor):
            rows = rows.detach().cpu().numpy()
        arr = np.asarray(rows)
        if arr.dtype == bool:
            if len(arr) != len(self):
                raise ValueError(f"mask of {len(arr)} rows for {len(self)} generators")
            arr = np.flatnonzero(arr)
        out = SampleGenerators([self.generators[int(i)] for i in arr.reshape(-1)])
        out._device = self._device
        return out


Generators = Union[torch.Generator, SampleGenerators, None]


def _gen_device(gen: Generators, device: torch.device | str | None) -> torch.device:
    if gen is None:
        return torch.device(device or "cpu")
    return gen.device


def _per_sample(gen: SampleGenerators, shape: Sequence[int], make) -> torch.Tensor:
    shape = tuple(int(s) for s in shape)
    if not shape or shape[0] != len(gen):
        raise ValueError(f"per-sample draws of shape {shape} for {len(gen)} samples: the first axis must be the batch")
    if len(gen) == 0:
        return make(shape, None)
    return torch.stack([make(shape[1:], g) for g in gen.generators])


def _draw(
    fn: Callable[..., torch.Tensor],
    gen: Generators,
    shape: Sequence[int],
    device: torch.device | str | None,
    dtype: torch.dtype,
) -> torch.Tensor:
    dev = _gen_device(gen, device)
    if isinstance(gen, SampleGenerators):
        out = _per_sample(gen, shape, lambda s, g: fn(s, generator=g, device=dev, dtype=dtype))
    else:
        out = fn(tuple(shape), generator=gen, device=dev, dtype=dtype)
    return out.to(device) if device is not None else out


def rand(
    gen: Generators,
    shape: Sequence[int],
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Uniform [0, 1) draws, made on the generators' device and returned on ``device``."""
    return _draw(torch.rand, gen, shape, device, dtype)


def randn(
    gen: Generators,
    shape: Sequence[int],
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard normal draws, made on the generators' device and returned on ``device``."""
    return _draw(torch.randn, gen, shape, device, dtype)


def randint(
    gen: Generators, low: int, high: int, shape: Sequence[int], *, device: torch.device | str | None = None
) -> torch.Tensor:
    """Integers in ``[low, high)`` (int64), made on the generators' device, returned on ``device``."""
    dev = _gen_device(gen, device)
    if isinstance(gen, SampleGenerators):
        out = _per_sample(gen, shape, lambda s, g: torch.randint(low, high, s, generator=g, device=dev))
    else:
        out = torch.randint(low, high, tuple(shape), generator=gen, device=dev)
    return out.to(device) if device is not None else out


def poisson(gen: SampleGenerators, rate: torch.Tensor) -> torch.Tensor:
    """Poisson draws with per-element ``rate`` (first axis: the samples), one stream per sample.

    On the CPU, torch's sampler is a serial loop (about 100 ns a draw), so samples are drawn on
    torch's threads in parallel; each sample still uses only its own generator.
    """
    if rate.shape[0] != len(gen):
        raise ValueError(f"rates for {rate.shape[0]} samples, {len(gen)} generators")
    dev = gen.device
    src = rate.detach().to(dev)
    out = torch.empty_like(src)
    inference = torch.is_inference_mode_enabled()  # thread-local: workers must share the caller's mode

    def one(i: int) -> None:
        with torch.inference_mode(inference):
            out[i] = torch.poisson(src[i], generator=gen.generators[i])

    workers = min(torch.get_num_threads(), len(gen)) if dev.type == "cpu" else 1
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, range(len(gen))))
    else:
        for i in range(len(gen)):
            one(i)
    return out.to(rate.device)
