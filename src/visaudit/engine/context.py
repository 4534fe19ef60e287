"""The runner's implementation of :class:`~visaudit.engine.types.ProbeContext`."""

from __future__ import annotations

import contextlib
import hashlib
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np
import torch

from visaudit.data.base import ImageDataset, ImageDecodeError, collate
from visaudit.data.catalog import open_dataset
from visaudit.engine.options import RunOptions
from visaudit.engine.subset import select_indices
from visaudit.engine.types import Batch, ChunkResult, CleanPass, ProbeContext
from visaudit.rng import tag_seed

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.data.labels import LabelMap
    from visaudit.engine.store import Store
    from visaudit.models.classifier import Classifier

FAILED = "__failed__"
NONFINITE = "__nonfinite__"
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()


def chunk_name(tag: str, positions: np.ndarray) -> str:
    """A chunk's file stem: its pass tag and a hash of the dataset positions it covers."""
    digest = hashlib.sha256(np.ascontiguousarray(positions, dtype=np.int64).tobytes()).hexdigest()[:20]
    return f"{_safe(tag)}-{digest}"


def plan_chunks(
    indices: np.ndarray, chunk_size: int, finished: dict[int, list[np.ndarray]]
) -> list[tuple[np.ndarray, bool]]:
    """Cover ``indices`` in order with chunks: ``(positions, already finished)``.

    Finished chunks (from an earlier, possibly differently chunked run; keyed by their first
    position) are reused wherever their positions appear as a run of ``indices``; the gaps are
    cut into new chunks of at most ``chunk_size``, which end where a finished chunk begins.
    The cover has no gap and no overlap, so any resume gives a clean run's samples.
    """
    out: list[tuple[np.ndarray, bool]] = []
    i, n = 0, len(indices)
    starts = set(finished)
    while i < n:
        best = None
        for pos in finished.get(int(indices[i]), []):
            length = len(pos)
            if i + length <= n and np.array_equal(indices[i : i + length], pos):
                if best is None or length > len(best):
                    best = pos
        if best is not None:
            out.append((indices[i : i + len(best)], True))
            i += len(best)
            continue
        j = i + 1
        limit = min(n, i + chunk_size)
        while j < limit and int(indices[j]) not in starts:
            j += 1
        out.append((indices[i:j], False))
        i = j
    return out


class RunContext(ProbeContext):
    """Batches on the device, checkpointed chunks, OOM back-off, progress, seeded generators."""

    def __init__(
        self,
        *,
        model: Classifier,
        dataset: ImageDataset | None,
        label_map: LabelMap | None,
        config: Any,
        device: torch.device,
        store: Store,
        key: str,
        indices: np.ndarray | None,
        bars: Any,
        options: RunOptions,
        batch_size: int,
        workers: int,
        chunk_size: int,
        precision: str,
        pass_cache: dict[tuple[Any, ...], CleanPass] | None = None,
        shard: tuple[int, int] | None = None,
    ) -> None:
        # dataset and label map are None only for weight-only probes (``needs_data = False``)
        self.model, self.config = model, config
        self.dataset, self.label_map = dataset, label_map  # type: ignore[assignment]
        self.device, self.store, self.key, self.bars = device, store, key, bars
        self._passes: _PassCounter | None = None
        self.options = options
        self.seed, self.max_images, self.strict = options.seed, options.max_images, options.strict
        self.channels_last = options.channels_last
        self.indices = indices if indices is not None else np.empty(0, dtype=np.int64)
        self.batch_size, self.workers, self.chunk_size = batch_size, workers, chunk_size
        self.precision = precision
        self.failed: set[tuple[str, int]] = set()
        self._nonfinite = 0
        self._nonfinite_device: torch.Tensor | None = None  # running count, not yet read back
        self.images_seen = 0
        self.forward_images = 0
        self.chunks_run = 0
        self.chunks_loaded = 0
        self.pass_cache = pass_cache if pass_cache is not None else {}
        self.clean_pass = "none"  # "computed" or "shared": said in the record
        # (i, k): this process is task i of k that share the job's chunks through the store
        self.shard = shard

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
        ds = open_dataset(name_or_path, **kwargs)
        return ds.bind(self.model.info.preprocess())  # --strict is applied in batches(), in this process

    def subset_indices(self, dataset: ImageDataset, tag: str) -> np.ndarray:
        """The positions a pass uses: the job's subset for the main dataset, a seeded one elsewhere."""
        if dataset is self.dataset:
            return self.indices
        return select_indices(len(dataset), self.max_images, tag_seed(self.seed, tag))

    def batches(self, dataset: ImageDataset | None = None, indices: np.ndarray | None = None) -> Iterator[Batch]:
        dataset = dataset or self.dataset
        if indices is None:
            indices = self.subset_indices(dataset, "main")
        loader: torch.utils.data.DataLoader[Any] = torch.utils.data.DataLoader(
            _Positions(dataset, indices),  # type: ignore[arg-type]  # a map-style dataset by protocol
            batch_size=self.batch_size,
            shuffle=False,
            num_workers=self.workers,
            collate_fn=collate,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
        )
        # On CUDA each batch is copied and converted on a side stream: the copy is queued while the
        # model's stream still runs the previous batch's kernels, instead of behind them.
        stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None  # type: ignore[no-untyped-call]
        for raw in loader:
            staged = self._stage(raw, dataset, stream)
            if staged is None:
                continue
            b, copied = staged
            if copied is not None:
                # the model's stream waits for this copy only, and keeps the side stream's memory
                # alive until it is done with the tensors
                current = torch.cuda.current_stream(self.device)
                current.wait_event(copied)
                b.x.record_stream(current)
                b.y.record_stream(current)
            yield b

    def _stage(self, raw: dict[str, Any], dataset: ImageDataset, stream: Any) -> tuple[Batch, Any] | None:
        """A loader batch on the device and the event that marks its copy (None on the CPU path).

        Copied on ``stream`` when given; None when every image of the batch failed to decode.
        """
        if self.strict and raw["failed"]:
            # decode again here: a worker's exception would reach the user wrapped in its traceback
            dataset.load(int(raw["failed"][0]))
            raise ImageDecodeError(f"{dataset.ids[int(raw['failed'][0])]} of {dataset.name}: cannot be decoded")
        for pos in raw["failed"]:
            self.failed.add((dataset.name, int(pos)))
        if len(raw["index"]) == 0:
            return None
        event = None
        with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
            x = raw["x"].to(self.device, non_blocking=True).float().div_(255.0)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = raw["y"].to(self.device, non_blocking=True)
            if stream is not None:
                event = torch.cuda.Event()  # type: ignore[no-untyped-call]
                event.record(stream)
        ids = [dataset.ids[i] for i in raw["index"]]
        self.images_seen += len(ids)
        return Batch(x=x, y=y, index=raw["index"], ids=ids), event

    # -- model ------------------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager:
        dtype = _DTYPES.get(self.precision)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def _count(self, out: torch.Tensor) -> None:
        # counted without reading it back: a host sync per forward pass would stall the GPU queue
        bad = (~torch.isfinite(out.detach()).all(dim=1)).sum()
        self._nonfinite_device = bad if self._nonfinite_device is None else self._nonfinite_device + bad
        self.forward_images += len(out)
        if self._passes is not None:
            self._passes.tick(len(out))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            out = self.model(self._prepare(x))
        logits: torch.Tensor = out.float()
        self._count(logits)
        return logits

    def penultimate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with self.autocast():
            feats, out = self.model.penultimate(self._prepare(x))
        logits: torch.Tensor = out.float()
        self._count(logits)
        return feats.float(), logits

    def clean_logits(self) -> CleanPass:
        import json

        pre = self.dataset.preprocess.to_dict() if self.dataset.preprocess else {}
        key = (
            self.dataset.fingerprint(),
            json.dumps(pre, sort_keys=True),
            chunk_name("", self.indices),
            self.precision,
            self.channels_last,
        )
        if key in self.pass_cache:
            self.clean_pass = "shared"
            hit = self.pass_cache[key]
            self.failed |= {(self.dataset.name, p) for p in hit.failed}  # this job skipped them too
            return hit

        def fn(batches: Iterator[Batch]) -> ChunkResult:
            logits, labels, index = [], [], []
            for b in batches:
                logits.append(self.logits(b.x).cpu().numpy().astype(np.float32))
                labels.append(b.y.cpu().numpy())
                index.append(np.asarray(b.index, dtype=np.int64))
            if not logits:
                return ChunkResult()
            stacks = {
                "logits": np.concatenate(logits),
                "labels": np.concatenate(labels),
                "index": np.concatenate(index),
            }
            return ChunkResult(stacks=stacks, n=len(stacks["index"]))

        failed_before = set(self.failed)
        merged = self.map_chunks(fn, tag="clean-logits")
        n_cls = int(self.model.info.num_classes)
        index = merged.stacks.get("index", np.empty(0, dtype=np.int64)).astype(np.int64)
        out = CleanPass(
            logits=merged.stacks.get("logits", np.empty((0, n_cls), np.float32)).reshape(-1, n_cls),
            labels=merged.stacks.get("labels", np.empty(0, np.int64)).astype(np.int64),
            index=index,
            ids=[self.dataset.ids[int(i)] for i in index],
            failed=sorted(p for d, p in self.failed - failed_before if d == self.dataset.name),
        )
        self.pass_cache[key] = out
        self.clean_pass = "computed"
        return out

    def generator(self, tag: str) -> torch.Generator:
        g = torch.Generator(device=self.device)
        g.manual_seed(tag_seed(self.seed, tag))
        return g

    def progress(self, total: int, description: str, unit: str = "img") -> Any:
        return self.bars.add(total, description, unit=unit)

    # -- checkpointed passes ------------------------------------------------------------------
    def map_chunks(
        self,
        fn: Callable[[Iterator[Batch]], ChunkResult],
        *,
        dataset: ImageDataset | None = None,
        tag: str = "main",
        indices: np.ndarray | None = None,
        passes: int = 1,
    ) -> ChunkResult:
        dataset = dataset or self.dataset
        if indices is None:
            indices = self.subset_indices(dataset, tag)
        indices = np.asarray(indices, dtype=np.int64)
        finished = self.store.finished_chunks(self.key, _safe(tag))
        plan = plan_chunks(indices, self.chunk_size, finished)
        passes = max(1, int(passes))
        bar = self.bars.add(
            len(indices) * passes,
            f"{self.model.info.name} · {tag} · {_short(dataset.name)}",
            unit="img" if passes == 1 else "img-pass",
        )
        counter = self._passes = _PassCounter(bar, passes)
        results: list[ChunkResult] = []
        try:
            if self.shard is not None:
                results = self._shared_chunks(fn, dataset, tag, plan, counter)
            else:
                for part, done in plan:
                    name = chunk_name(tag, part)
                    chunk = self.store.load_chunk(self.key, name) if done else None
                    if chunk is None:
                        chunk = self._run_chunk(fn, dataset, part, counter)
                        self.store.save_chunk(self.key, name, chunk, part)
                        self.chunks_run += 1
                    else:
                        self._loaded(chunk, dataset, part, counter)
                    results.append(chunk)
        finally:
            self._passes = None
        bar.done()
        merged = ChunkResult.merge(results)
        merged.stacks.pop(FAILED, None)
        merged.sums.pop(NONFINITE, None)
        return merged

    def _loaded(self, chunk: ChunkResult, dataset: ImageDataset, part: np.ndarray, counter: "_PassCounter") -> None:
        # a stored chunk carries the images it skipped and its NaN/Inf count: the job reports them too
        counter.skip(len(part))
        for pos in chunk.stacks.get(FAILED, np.empty(0, dtype=np.int64)):
            self.failed.add((dataset.name, int(pos)))
        self.nonfinite += int(chunk.sums.get(NONFINITE, 0))
        self.chunks_loaded += 1

    def _shared_chunks(
        self,
        fn: Callable[[Iterator[Batch]], ChunkResult],
        dataset: ImageDataset,
        tag: str,
        plan: list[tuple[np.ndarray, bool]],
        counter: "_PassCounter",
    ) -> list[ChunkResult]:
        """One pass whose chunks are shared with sibling tasks through the store.

        Task ``i`` of ``k`` takes chunks ``i, i+k, ...`` first, then any chunk nobody has claimed
        (work stealing), then waits for the chunks its siblings hold. A claim is an ``flock``
        (:meth:`Store.claim_chunk`), so a chunk is computed once, and a claimant that dies
        releases it to the next task. Every task ends with every chunk, in plan order; no task
        ever waits for a sibling that has not started, so any number of free slots is enough.
        """
        assert self.shard is not None
        i, k = self.shard
        order = sorted(range(len(plan)), key=lambda j: (j % k != i % k, j))
        out: dict[int, ChunkResult] = {}
        held: list[int] = []
        for block in (False, True):
            for j in order if not block else held:
                part = plan[j][0]
                name = chunk_name(tag, part)
                chunk = self.store.load_chunk(self.key, name)
                if chunk is None:
                    with self.store.claim_chunk(self.key, name, block=block) as claim:
                        if claim == "busy":
                            held.append(j)
                            continue
                        if claim == "won":
                            chunk = self._run_chunk(fn, dataset, part, counter)
                            self.store.save_chunk(self.key, name, chunk, part)
                            self.chunks_run += 1
                            out[j] = chunk
                            continue
                    chunk = self.store.load_chunk(self.key, name)  # finished while we asked
                    if chunk is None:
                        raise RuntimeError(f"chunk {name} of job {self.key} is marked done but cannot be read")
                self._loaded(chunk, dataset, part, counter)
                out[j] = chunk
        return [out[j] for j in range(len(plan))]

    def _run_chunk(
        self,
        fn: Callable[[Iterator[Batch]], ChunkResult],
        dataset: ImageDataset,
        part: np.ndarray,
        counter: "_PassCounter",
    ) -> ChunkResult:
        while True:
            failed_before, nonfinite_before = set(self.failed), self.nonfinite
            try:
                chunk: ChunkResult = fn(_advancing(self.batches(dataset, part), counter))
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

    def __getitem__(self, i: int) -> tuple[np.ndarray | None, int, int]:
        return self.dataset[int(self.indices[i])]


class _PassCounter:
    """A pass's bar counted in image forward passes (``passes`` per image).

    The model calls of the probe (:meth:`RunContext.logits`) tick it as they happen, so a probe
    that runs many passes per batch (a layer scan, a grid of stimuli) shows a rate and an ETA
    long before its first batch ends; when a batch ends the counter settles to exactly
    ``passes`` per image, whatever the probe called (extra calls, skipped ones).
    """

    def __init__(self, bar: Any, passes: int) -> None:
        self.bar, self.passes = bar, passes
        self.budget = 0  # what the current batch may still tick

    def begin(self, n_images: int) -> None:
        self.budget = n_images * self.passes

    def tick(self, n: int) -> None:
        step = min(n, self.budget)
        if step > 0:
            self.budget -= step
            self.bar.advance(step)

    def settle(self) -> None:
        if self.budget > 0:
            self.bar.advance(self.budget)
        self.budget = 0

    def skip(self, n_images: int) -> None:
        self.bar.advance(n_images * self.passes)


def _advancing(batches: Iterator[Batch], counter: _PassCounter) -> Iterator[Batch]:
    for b in batches:
        counter.begin(len(b.ids))
        yield b
        counter.settle()


def _safe(tag: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in tag)


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1) :]
