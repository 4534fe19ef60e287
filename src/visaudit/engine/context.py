"""The runner's implementation of :class:`~visaudit.probes.base.ProbeContext`."""
from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterator

import numpy as np
import torch

from visaudit.data.base import ImageDataset, collate
from visaudit.data.catalog import open_dataset
from visaudit.probes.base import Batch, ChunkResult, ProbeContext

FAILED = "__failed__"
NONFINITE = "__nonfinite__"


def is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()


class RunContext(ProbeContext):
    """Batches on the device, checkpointed chunks, OOM back-off, progress, seeded generators."""

    def __init__(self, *, model, dataset, label_map, config, device, seed, batch_size, store, key,
                 indices, bars, workers: int, amp: bool, channels_last: bool, chunk_size: int,
                 strict: bool, max_images: int | None) -> None:
        self.model, self.dataset, self.label_map, self.config = model, dataset, label_map, config
        self.device, self.seed, self.batch_size = device, seed, batch_size
        self.store, self.key, self.indices, self.bars = store, key, indices, bars
        self.workers, self.amp, self.channels_last = workers, amp, channels_last
        self.chunk_size, self.strict, self.max_images = chunk_size, strict, max_images
        self.failed: set[tuple[str, int]] = set()
        self._nonfinite = 0
        self._nonfinite_device: torch.Tensor | None = None  # running count, not yet read back
        self.images_seen = 0

    @property
    def nonfinite(self) -> int:
        """Model outputs with NaN/Inf so far (counted on the device; read here, which syncs)."""
        if self._nonfinite_device is not None:
            self._nonfinite += int(self._nonfinite_device)
            self._nonfinite_device = None
        return self._nonfinite

    @nonfinite.setter
    def nonfinite(self, value: int) -> None:
        self._nonfinite_device = None
        self._nonfinite = int(value)

    # -- data -------------------------------------------------------------------------------
    def open_dataset(self, name_or_path: str, **kwargs: Any) -> ImageDataset:
        from visaudit.data.base import Preprocess

        info = self.model.info
        ds = open_dataset(name_or_path, **kwargs)
        return ds.bind(Preprocess(tuple(info.input_size), info.interpolation, info.crop_pct), strict=self.strict)

    def subset_indices(self, dataset: ImageDataset, tag: str) -> np.ndarray:
        """The positions a pass uses: the job's subset for the main dataset, a seeded one elsewhere."""
        if dataset is self.dataset and self.indices is not None:
            return self.indices
        return select_indices(len(dataset), self.max_images, _mix(self.seed, tag))

    def batches(self, dataset: ImageDataset | None = None, indices: np.ndarray | None = None) -> Iterator[Batch]:
        dataset = dataset or self.dataset
        if indices is None:
            indices = self.subset_indices(dataset, "main")
        loader = torch.utils.data.DataLoader(
            _Positions(dataset, indices), batch_size=self.batch_size, shuffle=False, num_workers=self.workers,
            collate_fn=collate, pin_memory=self.device.type == "cuda", persistent_workers=False,
        )
        for raw in loader:
            for pos in raw["failed"]:
                self.failed.add((dataset.name, int(pos)))
            if len(raw["index"]) == 0:
                continue
            x = raw["x"].to(self.device, non_blocking=True).float().div_(255.0)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            ids = [dataset.ids[i] for i in raw["index"]]
            self.images_seen += len(ids)
            yield Batch(x=x, y=raw["y"].to(self.device, non_blocking=True), index=raw["index"], ids=ids)

    # -- model ------------------------------------------------------------------------------
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        if self.amp and self.device.type in ("cuda", "mps"):
            dtype = torch.bfloat16 if self.device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16
            with torch.autocast(self.device.type, dtype=dtype):
                out = self.model(x)
        else:
            out = self.model(x)
        out = out.float()
        # counted without reading it back: a host sync per forward pass would stall the GPU queue
        bad = (~torch.isfinite(out).all(dim=1)).sum()
        self._nonfinite_device = bad if self._nonfinite_device is None else self._nonfinite_device + bad
        return out

    def generator(self, tag: str) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(_mix(self.seed, tag))
        return g

    def progress(self, total: int, description: str):
        return self.bars.add(total, description)

    # -- checkpointed passes ------------------------------------------------------------------
    def map_chunks(self, fn: Callable[[Iterator[Batch]], ChunkResult], *, dataset: ImageDataset | None = None,
                   tag: str = "main", indices: np.ndarray | None = None) -> ChunkResult:
        dataset = dataset or self.dataset
        if indices is None:
            indices = self.subset_indices(dataset, tag)
        chunks = [indices[i:i + self.chunk_size] for i in range(0, len(indices), self.chunk_size)]
        bar = self.bars.add(len(indices), f"{self.model.info.name} · {tag} · {dataset.name}")
        results = []
        for i, part in enumerate(chunks):
            name = f"{_safe(tag)}-{i:05d}"
            chunk = self.store.load_chunk(self.key, name)
            if chunk is None:
                chunk = self._run_chunk(fn, dataset, part, bar)
                self.store.save_chunk(self.key, name, chunk)
            else:
                bar.advance(len(part))
                for pos in chunk.stacks.get(FAILED, np.empty(0, dtype=np.int64)):
                    self.failed.add((dataset.name, int(pos)))
                self.nonfinite += int(chunk.sums.get(NONFINITE, 0))
            results.append(chunk)
        bar.done()
        merged = ChunkResult.merge(results)
        merged.stacks.pop(FAILED, None)
        merged.sums.pop(NONFINITE, None)
        return merged

    def _run_chunk(self, fn, dataset, part, bar) -> ChunkResult:
        while True:
            failed_before, nonfinite_before = set(self.failed), self.nonfinite
            try:
                chunk = fn(_advancing(self.batches(dataset, part), bar))
                break
            except RuntimeError as err:
                if not is_oom(err) or self.batch_size <= 1:
                    raise
                self.failed, self.nonfinite = failed_before, nonfinite_before
                self.batch_size = max(1, self.batch_size // 2)
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                self.bars.log(f"[yellow]out of memory: retrying the chunk with batch size {self.batch_size}")
        new_failed = sorted(p for d, p in self.failed - failed_before if d == dataset.name)
        chunk.stacks[FAILED] = np.asarray(new_failed, dtype=np.int64)
        chunk.sums[NONFINITE] = np.asarray(self.nonfinite - nonfinite_before, dtype=np.float64)
        return chunk


class _Positions:
    """A view of a dataset at given positions that yields the original positions."""

    def __init__(self, dataset: ImageDataset, indices: np.ndarray) -> None:
        self.dataset, self.indices = dataset, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.dataset[int(self.indices[i])]


def _advancing(batches: Iterator[Batch], bar) -> Iterator[Batch]:
    for b in batches:
        yield b
        bar.advance(len(b.ids))


def _mix(seed: int, tag: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}:{tag}".encode()).digest()[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF


def _safe(tag: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in tag)


def select_indices(n: int, max_images: int | None, seed: int) -> np.ndarray:
    """All positions, or a seeded random subset of ``max_images`` in ascending order."""
    if max_images is None or max_images >= n:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=max_images, replace=False)).astype(np.int64)
