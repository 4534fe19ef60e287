"""How a run is carried out, and which of its options can change a number.

One rule decides what goes into a job's cache key: everything that can change a result is in
the key *and* the record; what only changes speed or behaviour is in the record only (or
nowhere, for pure interface switches). Every field of :class:`RunOptions` declares its side in
its metadata; ``tests/test_key_rule.py`` walks every field and checks that the key and the
record honour it. The README's "What keys a job" lists the same table.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from visaudit.errors import VisauditError

Side = Literal["key", "record", "none"]
DEVICE_TYPES = ("cpu", "cuda", "mps")


def _opt(default: Any, side: Side, why: str) -> Any:
    return field(default=default, metadata={"side": side, "why": why})


@dataclass(frozen=True)
class RunOptions:
    """Options of one ``visaudit run`` / :func:`visaudit.audit` call.

    Attributes:
        seed: seeds the subset, every random draw (per sample) and torch.
        max_images: size of the seeded random subset per dataset (None: all images).
        label_subset: score every dataset in the classes it holds, not the model's whole space.
        amp: autocast (bf16 on CUDA where supported and on the CPU, else fp16).
        channels_last: channels-last memory format.
        device: ``cpu``, ``cuda[:N]`` or ``mps``; None picks the best available.
        batch_size: images per batch (None: 256 on CUDA, 64 otherwise; halved on out-of-memory).
        chunk_size: images per checkpointed chunk (None: the probe's choice, else 2048).
        workers: DataLoader worker processes (None: cores - 1, at most 8).
        strict: stop at the first undecodable image instead of skipping and listing it.
        backend: ``local`` or ``ray``.
        force: recompute even when the store has the result.
    """

    seed: int = _opt(0, "key", "seeds the subset and every random draw")
    max_images: int | None = _opt(None, "key", "which and how many images are scored")
    label_subset: bool = _opt(False, "key", "the label protocol: softmax over the classes present")
    amp: bool = _opt(False, "key", "numerics: the resolved precision (fp32, bf16, fp16) is keyed")
    channels_last: bool = _opt(False, "key", "numerics: another memory format runs other kernels")
    device: str | None = _opt(
        None,
        "record",
        "float rounding only, except that random streams differ between torch's "
        "CPU and CUDA samplers: the device type keys every probe that draws",
    )
    batch_size: int | None = _opt(None, "record", "speed: every draw is per sample, every count exact")
    chunk_size: int | None = _opt(
        None, "record", "speed and checkpoint granularity; chunks are named by the samples they cover"
    )
    workers: int | None = _opt(None, "record", "speed: data loading processes")
    strict: bool = _opt(
        False, "record", "whether an unreadable image stops the run; a finished run scored the same images either way"
    )
    backend: str = _opt("local", "record", "where jobs run")
    force: bool = _opt(False, "none", "recompute instead of reading the store")

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise a clear :class:`VisauditError` for values that cannot run."""
        for name in ("max_images", "batch_size", "chunk_size"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise VisauditError(f"{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if self.workers is not None and (
            isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 0
        ):
            raise VisauditError(f"workers must be 0 or a positive integer, got {self.workers!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise VisauditError(f"seed must be an integer, got {self.seed!r}")
        if self.device is not None:
            device_type(self.device)
        if self.backend not in ("local", "ray"):
            raise VisauditError(f"unknown backend {self.backend!r}: local or ray")

    @staticmethod
    def side(name: str) -> Side:
        """Which side of the rule a field is on: ``key``, ``record`` or ``none``."""
        for f in dataclasses.fields(RunOptions):
            if f.name == name:
                side: Side = f.metadata["side"]
                return side
        raise KeyError(name)

    def to_record(self) -> dict[str, Any]:
        """Every option that a record keeps (key and record sides)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata["side"] != "none"}


def device_type(device: str) -> str:
    """``cuda:1`` -> ``cuda``; unknown names raise a clear error."""
    kind = str(device).split(":", 1)[0].strip().lower()
    if kind not in DEVICE_TYPES:
        raise VisauditError(f"unknown device {device!r}: use cpu, cuda, cuda:N or mps")
    return kind


def resolve_device(device: str | None) -> str:
    """The device a run uses: the given one (checked to exist), else cuda > mps > cpu."""
    import torch

    if device:
        kind = device_type(device)
        if kind == "cuda" and not torch.cuda.is_available():
            raise VisauditError(
                f"--device {device}: this machine has no CUDA device (torch "
                f"{torch.__version__}, CUDA build: {torch.version.cuda or 'no'}); use --device cpu"
            )
        if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise VisauditError(f"--device {device}: MPS is not available on this machine; use --device cpu")
        return str(device)
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def precision(amp: bool, device: str) -> str:
    """The dtype the model runs in: ``fp32``, or under ``--amp`` bf16 (CUDA with bf16, CPU) or fp16."""
    if not amp:
        return "fp32"
    kind = device_type(device)
    if kind == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp16" if kind == "mps" else "bf16"
