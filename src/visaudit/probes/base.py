"""The probe API: one self-registering class per probe, a versioned config dataclass.

A probe pulls batches through the model adapter via the :class:`ProbeContext` that the
runner hands it, accumulates bounded state per chunk (:class:`ChunkResult`), and turns the
merged chunks into a :class:`ProbeResult` with pure metric functions.

Example:
    >>> @register_probe
    ... class MyProbe(Probe):
    ...     name = "my-probe"
    ...     version = 1
    ...     metrics = {"top1": MetricSpec(True, "top-1 accuracy")}
    ...     def run(self, ctx):
    ...         ...
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator

import numpy as np

from visaudit.errors import VisauditError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import torch

    from visaudit.data.base import ImageDataset
    from visaudit.data.labels import LabelMap
    from visaudit.models.classifier import Classifier
    from visaudit.rng import SampleGenerators


@dataclass(frozen=True)
class MetricSpec:
    """What a metric means and which direction is better."""

    higher_is_better: bool
    description: str = ""


@dataclass
class ProbeConfig:
    """Base for probe configs: plain, serialisable fields only (str, int, float, bool, lists, dicts)."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> "ProbeConfig":
        """Build from a mapping; unknown keys raise a clear error."""
        values = dict(values or {})
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise VisauditError(
                f"unknown option(s) {unknown} for {cls.__name__}; known: {sorted(names)}"
            )
        return cls(**values)


@dataclass
class Batch:
    """One batch on the device: images float RGB in [0,1] at model resolution."""

    x: "torch.Tensor"
    y: "torch.Tensor"
    index: np.ndarray  # positions in the dataset (stable ids across runs)
    ids: list[str]     # sample ids (relative paths or "split/number")


@dataclass
class ChunkResult:
    """Bounded state of one chunk of samples.

    ``sums`` are added over chunks, ``stacks`` concatenated along axis 0 (use them for
    per-sample vectors you need later, e.g. logits), ``rows`` concatenated as a table and
    written as the per-sample columnar file.
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
        for k in {k for c in chunks for k in c.stacks}:
            parts = [c.stacks[k] for c in chunks if k in c.stacks]
            out.stacks[k] = np.concatenate(parts, axis=0) if parts else np.empty(0)
        frames = [c.rows for c in chunks if c.rows is not None and len(c.rows)]
        out.rows = pd.concat(frames, ignore_index=True) if frames else None
        return out


@dataclass
class ProbeResult:
    """What a probe returns: scalar metrics plus data for reports.

    Attributes:
        metrics: flat ``{name: float}``; names follow the export conventions, e.g. ``top1``,
            ``top1@gaussian_noise/3``.
        data: small JSON-able values for reports (curves, grids, per-class tables).
        samples: per-sample table, stored as Parquet beside the record.
        artifacts: file name -> bytes (PNG example images, .npy arrays) stored beside the record.
        warnings: human-readable notes that belong in the record.
    """

    metrics: dict[str, float]
    data: dict[str, Any] = field(default_factory=dict)
    samples: "pd.DataFrame | None" = None
    artifacts: dict[str, bytes] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class ProbeContext:
    """What the runner gives a probe (interface; the runner provides the implementation).

    Attributes:
        model: the :class:`~visaudit.models.classifier.Classifier`, in eval mode, on ``device``.
        dataset: the job's dataset, already bound to the model's preprocessing.
        label_map: turns model logits into scores over the dataset's label space.
        config: the probe's resolved config.
        device: ``torch.device`` the job runs on.
        seed: the job's seed.
        batch_size: current batch size (may shrink after an out-of-memory error).
    """

    model: "Classifier"
    dataset: "ImageDataset"
    label_map: "LabelMap"
    config: ProbeConfig
    device: "torch.device"
    seed: int
    batch_size: int

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
    ) -> ChunkResult:
        """Run ``fn`` over the dataset chunk by chunk with checkpointing, return merged chunks.

        Finished chunks are stored in the job's work folder; a run that was killed and is
        started again loads them instead of recomputing. ``tag`` separates several passes
        of one job (e.g. in-distribution and each OOD set).
        """
        raise NotImplementedError

    def logits(self, x: "torch.Tensor") -> "torch.Tensor":
        """Model logits (float32) for a [0,1] batch, with AMP if enabled; counts NaN/Inf rows."""
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

    def sample_rng(self, tag: str, index: "np.ndarray") -> "SampleGenerators":
        """One generator per sample (dataset positions ``index``), seeded from the job seed,
        ``tag`` and the position, on the job's device: draws that do not depend on batching."""
        from visaudit.rng import SampleGenerators

        return SampleGenerators.for_positions(self.seed, tag, index, self.device)

    def progress(self, total: int, description: str) -> Any:
        """A progress handle with ``advance(n)``; for work not driven by :meth:`map_chunks`."""
        raise NotImplementedError


class Probe:
    """Base class. Subclasses set ``name``, ``version``, ``Config``, ``metrics`` and implement ``run``.

    Bump ``version`` whenever the meaning of a result changes: it is part of the cache key.
    """

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    Config: ClassVar[type[ProbeConfig]] = ProbeConfig
    metrics: ClassVar[dict[str, MetricSpec]] = {}
    headline: ClassVar[str | None] = None  # metric shown in leaderboards
    needs_data: ClassVar[bool] = True       # False for weight-only probes (e.g. filter statistics)
    needs_grad: ClassVar[bool] = False      # True for attacks (runner then leaves inference mode)

    def __init__(self, config: ProbeConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()

    def check(self, model: Any, dataset: "ImageDataset | None") -> None:
        """Raise a :class:`VisauditError` before any compute if this job cannot run.

        ``model`` is a :class:`~visaudit.models.spec.ModelInfo` (metadata only, no weights).
        """

    def run(self, ctx: ProbeContext) -> ProbeResult:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def metric_spec(cls, metric: str) -> MetricSpec | None:
        """Spec of a metric, looked up by its full name or the prefix before ``@``."""
        return cls.metrics.get(metric) or cls.metrics.get(metric.split("@", 1)[0])


def register_probe(cls: type[Probe]) -> type[Probe]:
    """Class decorator: register a probe under ``cls.name``."""
    from visaudit.probes import PROBES

    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    return PROBES.register(cls.name)(cls)
