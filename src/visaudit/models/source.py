"""The interface each model source implements."""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, ClassVar

from visaudit.models.info import ModelInfo

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


class ModelSource:
    """Resolves one model spec. ``info`` must be cheap (no weights loaded) where the source allows.

    ``protocol_packages`` name the packages whose code defines what the model computes beyond
    its weights (architecture code, tokenizer, processor); their versions are part of the key.
    """

    protocol_packages: ClassVar[tuple[str, ...]] = ()
    # a spec this source resolves without a network (``{tmp}``: a folder where the test
    # writes the file the spec names), and whether that example also builds offline
    example: ClassVar[str] = ""
    example_builds_offline: ClassVar[bool] = False

    def info(self) -> ModelInfo:
        raise NotImplementedError

    def memo_key(self) -> str | None:
        """A key under which the weights fingerprint may be remembered (None: always recompute)."""
        return None

    def build(self) -> "nn.Module":
        """The network with its trained weights, in eval mode, on the CPU."""
        raise NotImplementedError

    def factory(self) -> Callable[[], "nn.Module"] | None:
        """Builds the same architecture freshly initialised (for layer criticality), if possible."""
        return None
