"""Types shared by the engine and the probes: a batch, a chunk's bounded state, the probe context.

:class:`ProbeContext` is the whole contract between the runner and a probe: every field and
method a probe may use is declared here, and the runner's :class:`~visaudit.engine.context.RunContext`
implements it. A probe calls the model only through :meth:`ProbeContext.logits` /
:meth:`ProbeContext.penultimate` (or :meth:`ProbeContext.autocast` around a special head), so
the run's precision, memory format, NaN/Inf counting and pass counting apply to every probe,
detector and attack alike.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import torch

    from visaudit.data.base import ImageDataset
    from visaudit.data.labels import LabelMap
    from visaudit.engine.options import RunOptions
    from visaudit.models.classifier import Classifier
    from visaudit.rng import SampleGenerators


@dataclass
class Batch:
    """One batch on the device: images float RGB in [0,1] at model resolution."""

    x: "torch.Tensor"
    y: "torch.Tensor"
    index: np.ndarray  # positions in the dataset (stable ids across runs)
    ids: list[str]  # sample ids (relative paths or "split/number")


@dataclass
class ChunkResult:
    """Bounded state of one chunk of samples.

    ``sums`` are added over chunks, ``stacks`` concatenated along axis 0 (use them for
    per-sample vectors you need later, e.g. logits), ``rows`` concatenated as a table and
    written as the per-sample columnar file. Counts kept in ``sums`` are exact in float64, so
    they do not depend on how samples were chunked.
    """

    sums: dict[str, np.ndarray] = field(default_factory=dict)
    stacks: dict[str, np.ndarray] = field(default_factory=dict)
    rows: "pd.DataFrame | None" = None
    n: int = 0

    @staticmethod
    def merge(chunks: list["ChunkResult"]) -> "ChunkResult":
        """Sum ``sums``, concatenate ``stacks`` and ``rows`` (in chunk order)."""
        import pandas as pd

        out = ChunkResult()
        for c in chunks:
            out.n += c.n
            for k, v in c.sums.items():
                v = np.asarray(v, dtype=np.float64)
                out.sums[k] = out.sums[k] + v if k in out.sums else v.copy()
        for k in sorted({k for c in chunks for k in c.stacks}):
            parts = [c.stacks[k] for c in chunks if k in c.stacks]
            out.stacks[k] = np.concatenate(parts, axis=0) if parts else np.empty(0)
        frames = [c.rows for c in chunks if c.rows is not None and len(c.rows)]
        out.rows = pd.concat(frames, ignore_index=True) if frames else None
        return out


@dataclass
class CleanPass:
    """The model's logits on the job's images, in dataset-position order (one pass, shared).

    Attributes:
        logits: float32 (n, model classes), the raw model outputs.
        labels: the dataset labels (int64).
        index: the dataset positions.
        ids: the sample ids.
        failed: positions of the job's images that could not be decoded.
    """

    logits: np.ndarray
    labels: np.ndarray
    index: np.ndarray
    ids: list[str]
    failed: list[int] = field(default_factory=list)


class ModelCalls:
    """The model as a callable with ``penultimate``, routed through a context's call path
    (for code written against a model object, e.g. ODIN or the attacks' oracle)."""

    def __init__(self, ctx: "ProbeContext") -> None:
        self._ctx = ctx

    def __call__(self, x: "torch.Tensor") -> "torch.Tensor":
        return self._ctx.logits(x)

    def penultimate(self, x: "torch.Tensor") -> "tuple[torch.Tensor, torch.Tensor]":
        return self._ctx.penultimate(x)


class ProbeContext:
    """What the runner gives a probe (the interface; the runner provides the implementation).

    Attributes:
        model: the :class:`~visaudit.models.classifier.Classifier`, in eval mode, on ``device``.
            Read its ``info`` and weights freely; call it through :meth:`logits`.
        dataset: the job's dataset, already bound to the model's preprocessing.
        label_map: turns model logits into scores over the dataset's label space.
        config: the probe's resolved config.
        device: ``torch.device`` the job runs on.
        seed: the job's seed.
        batch_size: current batch size (may shrink after an out-of-memory error).
        indices: the dataset positions the job scores (its ``max_images`` subset or all).
        max_images: the run's subset size (None: all images); also caps secondary sets.
        precision: ``fp32``, ``bf16`` or ``fp16``: what :meth:`logits` runs in.
        options: the run's :class:`~visaudit.engine.options.RunOptions`.
    """

    model: "Classifier"
    dataset: "ImageDataset"
    label_map: "LabelMap"
    config: Any
    device: "torch.device"
    seed: int
    batch_size: int
    indices: np.ndarray
    max_images: int | None
    precision: str
    options: "RunOptions"

    def batches(self, dataset: "ImageDataset | None" = None, indices: np.ndarray | None = None) -> Iterator[Batch]:
        """Iterate over the dataset (or the given positions of it) in batches on the device."""
        raise NotImplementedError

    def map_chunks(
        self,
        fn: Callable[[Iterator[Batch]], ChunkResult],
        *,
        dataset: "ImageDataset | None" = None,
        tag: str = "main",
        indices: np.ndarray | None = None,
        passes: int = 1,
    ) -> ChunkResult:
        """Run ``fn`` over the dataset chunk by chunk with checkpointing, return merged chunks.

        A chunk is named by its ``tag`` and the sample positions it covers; a run that was
        killed and is started again (with any chunk size) loads finished chunks instead of
        recomputing them. ``fn`` must give a chunk's result from its samples alone (draw with
        :meth:`sample_rng`, never with one generator per batch).

        ``passes`` is how many forward passes ``fn`` makes per image (a layer scan: one per
        module and trial, plus the clean one). Above 1 the progress bar counts image passes
        (``img-pass``), ticked by every :meth:`logits` call, so rate and ETA are known within
        the first batch. It changes progress only, never a number.
        """
        raise NotImplementedError

    def logits(self, x: "torch.Tensor") -> "torch.Tensor":
        """Model logits (float32) for a [0,1] batch in the run's precision; counts NaN/Inf rows.

        Differentiable when the probe runs with gradients (``needs_grad``).
        """
        raise NotImplementedError

    def penultimate(self, x: "torch.Tensor") -> "tuple[torch.Tensor, torch.Tensor]":
        """(pre-logit features, logits), both float32, from one pass in the run's precision."""
        raise NotImplementedError

    def clean_logits(self) -> CleanPass:
        """The logits of the job's images, computed once per model, data, preprocessing and
        numerics and shared by every probe of the run that asks for them (accuracy, shape bias)."""
        raise NotImplementedError

    def model_calls(self) -> ModelCalls:
        """:meth:`logits` and :meth:`penultimate` as a model-like callable."""
        return ModelCalls(self)

    def autocast(self) -> contextlib.AbstractContextManager:
        """The run's precision as a context, for calls into special heads of the model."""
        raise NotImplementedError

    def scores(self, logits: "torch.Tensor") -> "torch.Tensor":
        """Probabilities over the dataset's label space (rows sum to 1)."""
        return self.label_map.probs(logits)

    def open_dataset(self, name_or_path: str, **kwargs: Any) -> "ImageDataset":
        """Resolve another dataset bound to this model's preprocessing (e.g. an OOD set)."""
        raise NotImplementedError

    def generator(self, tag: str) -> "torch.Generator":
        """A ``torch.Generator`` on the device, seeded from the job seed and ``tag``.

        For draws that belong to samples use :meth:`sample_rng`: a generator shared by a batch
        makes the result depend on the batch size and the chunking.
        """
        raise NotImplementedError

    def sample_rng(self, tag: str, index: np.ndarray) -> "SampleGenerators":
        """One generator per sample (dataset positions ``index``), seeded from the job seed,
        ``tag`` and the position, on the job's device: draws that do not depend on batching."""
        from visaudit.rng import SampleGenerators

        return SampleGenerators.for_positions(self.seed, tag, index, self.device)

    def progress(self, total: int, description: str, unit: str = "img") -> Any:
        """A progress handle with ``advance(n)``; for work not driven by :meth:`map_chunks`."""
        raise NotImplementedError
