"""Model metadata that can be known without building the network (no torch import)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.data.base import Preprocess


@dataclass
class ModelInfo:
    """What the records say about a model.

    Attributes:
        name: the spec the user gave (``efficientnet_lite0``, ``timm:resnet50``, a path).
        source: ``zoo``, ``timm``, ``torchvision``, ``local``, ``torchscript``, ``openclip``, ``hf``.
        arch: architecture name.
        num_classes: number of outputs.
        label_space: name of the output label space (``imagenet1k``, ``cifar10``, ...).
        input_size: (C, H, W) the model expects.
        interpolation, crop_pct: resize settings (timm conventions).
        mean, std: normalisation applied inside the adapter.
        weights: where the weights came from (file path, URL or hub id).
        weights_sha256: sha256 over the state dict's names, dtypes, shapes and bytes.
        n_params: parameter count (filled once built).
        config_source: which precedence level decided the preprocessing.
    """

    name: str
    source: str
    arch: str
    num_classes: int
    label_space: str
    input_size: tuple[int, int, int] = (3, 224, 224)
    interpolation: str = "bicubic"
    crop_pct: float = 0.875
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    weights: str = ""
    weights_sha256: str = ""
    n_params: int | None = None
    config_source: str = "model"
    extra: dict[str, Any] = field(default_factory=dict)

    def preprocess(self) -> "Preprocess":
        """How images become this model's input (the dataset's resize policy is set when bound)."""
        from visaudit.data.base import Preprocess

        c, h, w = (int(v) for v in self.input_size)
        return Preprocess((c, h, w), self.interpolation, self.crop_pct)

    def preprocess_dict(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "interpolation": self.interpolation,
            "crop_pct": self.crop_pct,
            "mean": list(self.mean),
            "std": list(self.std),
            "config_source": self.config_source,
        }

    def identity(self) -> dict[str, Any]:
        """The fields that decide what the model computes (part of every cache key)."""
        return {
            "name": self.name,
            "source": self.source,
            "arch": self.arch,
            "num_classes": self.num_classes,
            "label_space": self.label_space,
            "weights_sha256": self.weights_sha256,
            "preprocess": self.preprocess_dict(),
            "extra": self.extra,
        }

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["preprocess"] = self.preprocess_dict()
        return d
