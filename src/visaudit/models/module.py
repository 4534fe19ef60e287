"""An ``nn.Module`` handed to :func:`visaudit.audit` directly (no file, no name)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from visaudit.models.info import ModelInfo
from visaudit.models.source import ModelSource

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

_SPACES = {1000: "imagenet1k", 10: "cifar10"}


class ModuleSource(ModelSource):
    """A network object: its weights are fingerprinted like any other model's.

    The network takes *normalised* inputs, as trained; the adapter normalises with ``mean`` and
    ``std``. Unless given, the input size is found by trying sizes (32 px first for 10 outputs),
    the label space follows the number of outputs (1000: ImageNet-1k, 10: CIFAR-10), and the
    normalisation is ImageNet's; the record says ``config_source: default`` then.

    Example:
        >>> import visaudit                                                     # doctest: +SKIP
        >>> visaudit.audit(my_net, "accuracy", "cifar10-test")                   # doctest: +SKIP
        >>> visaudit.audit(visaudit.models.from_module(my_net, input_size=(3, 64, 64), mean=(0.5,) * 3,
        ...                std=(0.5,) * 3, label_space="cifar10"), "accuracy", "cifar10-test")  # doctest: +SKIP
    """

    example = ""  # an object, not a spec: see make_example
    example_builds_offline = True

    @staticmethod
    def make_example() -> "ModuleSource":
        """The zoo's CIFAR-10 ResNet-20 network as a bare module (for the generated tests)."""
        from visaudit.models import load_model

        return ModuleSource(load_model("cifar10_resnet20").net)

    def __init__(self, net: "nn.Module", name: str | None = None, **meta: Any) -> None:
        self.net = net.eval()
        self.name = name or f"module:{type(net).__name__}"
        self.meta = meta

    def info(self) -> ModelInfo:
        import torch

        meta = dict(self.meta)
        if "input_size" in meta:
            size = tuple(int(v) for v in meta.pop("input_size"))
        else:
            size = (3, _probe_side(self.net), _probe_side(self.net))
        with torch.inference_mode():
            n = int(self.net(torch.zeros(1, *size)).shape[1])
        space = meta.pop("label_space", None) or _SPACES.get(n, f"module:{n}")
        return ModelInfo(
            name=self.name,
            source="module",
            arch=type(self.net).__name__,
            num_classes=n,
            label_space=space,
            input_size=size,  # type: ignore[arg-type]
            config_source="given" if self.meta else "default",
            **meta,
        )

    def build(self) -> "nn.Module":
        return self.net

    def factory(self) -> Callable[[], "nn.Module"] | None:
        return None


def _probe_side(net: "nn.Module") -> int:
    import torch

    accepted = {}
    for side in (224, 32, 28, 64, 96, 128, 256, 299):
        try:
            with torch.inference_mode():
                accepted[side] = int(net(torch.zeros(1, 3, side, side)).shape[1])
        except Exception:  # noqa: BLE001 - a size the network does not take
            continue
        if not (side == 224 and accepted[side] == 10):
            break
    if not accepted:
        from visaudit.errors import VisauditError

        raise VisauditError(
            f"{type(net).__name__} accepts none of the usual input sizes; give input_size "
            "with visaudit.models.from_module(net, input_size=(3, H, W), ...)"
        )
    return 32 if accepted.get(32) == 10 else next(iter(accepted))


def from_module(net: "nn.Module", name: str | None = None, **meta: Any) -> ModuleSource:
    """Wrap a network as a model source; ``meta`` may give any :class:`ModelInfo` field
    (``input_size``, ``mean``, ``std``, ``interpolation``, ``crop_pct``, ``label_space``)."""
    return ModuleSource(net, name, **meta)
