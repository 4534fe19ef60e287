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
import types
import typing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from visaudit.engine.types import Batch, ChunkResult, ProbeContext
from visaudit.errors import VisauditError

__all__ = [
    "Batch",
    "ChunkResult",
    "MetricSpec",
    "Probe",
    "ProbeConfig",
    "ProbeContext",
    "ProbeResult",
    "register_probe",
]

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from visaudit.data.base import ImageDataset


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
            raise VisauditError(f"unknown option(s) {unknown} for {cls.__name__}; known: {sorted(names)}")
        hints = typing.get_type_hints(cls)
        for name, value in values.items():
            problem = _type_problem(value, hints.get(name, Any))
            if problem:
                raise VisauditError(f"option {name!r} of {cls.__name__}: {problem}")
        return cls(**values)


def _type_problem(value: Any, hint: Any) -> str | None:
    """Why ``value`` does not fit the annotation ``hint`` (None when it fits).

    Ints are accepted where floats are expected; bools are never taken for numbers.
    """
    if hint is Any:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        problems = [_type_problem(value, a) for a in args]
        return None if any(p is None for p in problems) else problems[0]
    if hint is type(None):
        return None if value is None else f"expected None, got {value!r}"
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return f"expected a list, got {type(value).__name__} {value!r}"
        for item in value:
            if args and (p := _type_problem(item, args[0])):
                return f"in {value!r}: {p}"
        return None
    if origin is dict:
        if not isinstance(value, dict):
            return f"expected a mapping, got {type(value).__name__} {value!r}"
        for k, v in value.items():
            if len(args) == 2 and ((p := _type_problem(k, args[0])) or (p := _type_problem(v, args[1]))):
                return f"in {value!r}: {p}"
        return None
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else f"expected a number, got {type(value).__name__} {value!r}"
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return None if ok else f"expected an integer, got {type(value).__name__} {value!r}"
    if hint in (str, bool):
        return None if isinstance(value, hint) else f"expected {hint.__name__}, got {type(value).__name__} {value!r}"
    return None


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


class Probe:
    """Base class. Subclasses set ``name``, ``version``, ``Config``, ``metrics`` and implement ``run``.

    Bump ``version`` whenever the meaning of a result changes: it is part of the cache key.
    """

    name: ClassVar[str] = ""
    version: ClassVar[int] = 1
    Config: ClassVar[type[ProbeConfig]] = ProbeConfig
    Data: ClassVar[type] = dict  # TypedDict of ProbeResult.data, declared beside each probe
    metrics: ClassVar[dict[str, MetricSpec]] = {}
    headline: ClassVar[str | None] = None  # metric shown in leaderboards
    needs_data: ClassVar[bool] = True  # False for weight-only probes (e.g. filter statistics)
    needs_grad: ClassVar[bool] = False  # True for attacks (runner then leaves inference mode)
    random: ClassVar[bool] = False  # draws random numbers: the device type keys the job
    chunk_size: ClassVar[int | None] = None  # default images per checkpointed chunk
    protocol_packages: ClassVar[tuple[str, ...]] = ()  # packages whose version defines the protocol

    def __init__(self, config: ProbeConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()

    def check(self, model: Any, dataset: "ImageDataset | None") -> None:
        """Raise a :class:`VisauditError` before any compute if this job cannot run.

        ``model`` is a :class:`~visaudit.models.spec.ModelInfo` (metadata only, no weights).
        """

    def inputs(self, model: Any, dataset: "ImageDataset | None") -> dict[str, Any]:
        """Content fingerprints of everything the job reads besides the model and its dataset.

        Part of the cache key and the record: an OOD set, a stored corruption tree, texture
        files. Names alone are never enough: change a file and the job is a new one.
        """
        return {}

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
