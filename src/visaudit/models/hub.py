"""timm and torchvision models by name (weights downloaded by those libraries on first use)."""

from __future__ import annotations

from visaudit.errors import UnknownNameError, VisauditError
from visaudit.models.info import ModelInfo
from visaudit.models.source import ModelSource


class TimmSource(ModelSource):
    """``timm:<name>``; preprocessing from the model's ``pretrained_cfg`` (timm ``resolve_data_config``)."""

    protocol_packages = ("timm",)
    example = "timm:resnet18"

    def __init__(self, spec: str, name: str) -> None:
        import timm

        if not timm.is_model(name.split(".")[0]):
            import difflib

            close = difflib.get_close_matches(name, timm.list_models(), n=3)
            raise UnknownNameError(f"unknown timm model {name!r}." + (f" Did you mean {close}?" if close else ""))
        self.spec, self.name = spec, name

    def _cfg(self) -> dict:
        import timm
        from timm.data import resolve_data_config

        net = timm.create_model(self.name, pretrained=False)
        return resolve_data_config({}, model=net), net.num_classes, net.pretrained_cfg

    def info(self) -> ModelInfo:
        cfg, n, pcfg = self._cfg()
        return ModelInfo(
            name=self.spec,
            source="timm",
            arch=self.name,
            num_classes=n,
            label_space="imagenet1k" if n == 1000 else f"timm:{pcfg.get('tag', '')}:{n}",
            input_size=tuple(cfg["input_size"]),
            interpolation=cfg["interpolation"],
            crop_pct=cfg["crop_pct"],
            mean=tuple(cfg["mean"]),
            std=tuple(cfg["std"]),
            weights=str(pcfg.get("hf_hub_id") or pcfg.get("url") or ""),
        )

    def memo_key(self) -> str:
        return f"timm:{self.name}"

    def factory(self):
        import timm

        return lambda: timm.create_model(self.name, pretrained=False)

    def build(self):
        import os

        import timm

        from visaudit import settings

        if settings.offline():  # the hub then answers from its cache only, at once, instead of retrying
            os.environ["HF_HUB_OFFLINE"] = "1"
            try:
                import huggingface_hub.constants as hf_constants

                hf_constants.HF_HUB_OFFLINE = True  # read at import time; set it where it is looked up
            except ImportError:
                pass
        try:
            return timm.create_model(self.name, pretrained=True).eval()
        except Exception as err:
            raise VisauditError(
                f"could not load the pretrained weights of timm:{self.name} ({err}); "
                "they download from the Hugging Face hub on first use"
            ) from err


class TorchvisionSource(ModelSource):
    """``tv:<name>`` or ``tv:<name>:<WEIGHTS>`` (default: the weights enum's DEFAULT)."""

    protocol_packages = ("torchvision",)
    example = "tv:resnet18"

    def __init__(self, spec: str, name: str, weights: str | None) -> None:
        import torchvision

        if name not in torchvision.models.list_models():
            import difflib

            close = difflib.get_close_matches(name, torchvision.models.list_models(), n=3)
            raise UnknownNameError(
                f"unknown torchvision model {name!r}." + (f" Did you mean {close}?" if close else "")
            )
        self.spec, self.name = spec, name
        enum = torchvision.models.get_model_weights(name)
        try:
            self.weights = enum[weights or "DEFAULT"]
        except KeyError:
            raise UnknownNameError(f"{name} has no weights {weights!r}; known: {[w.name for w in enum]}") from None

    def info(self) -> ModelInfo:
        t = self.weights.transforms()
        crop = t.crop_size[0] if isinstance(t.crop_size, (list, tuple)) else t.crop_size
        resize = t.resize_size[0] if isinstance(t.resize_size, (list, tuple)) else t.resize_size
        n = len(self.weights.meta["categories"])
        return ModelInfo(
            name=self.spec,
            source="torchvision",
            arch=self.name,
            num_classes=n,
            label_space="imagenet1k" if n == 1000 else f"torchvision:{self.weights}",
            input_size=(3, crop, crop),
            interpolation=t.interpolation.value,
            crop_pct=crop / resize,
            mean=tuple(t.mean),
            std=tuple(t.std),
            weights=str(self.weights.url),
        )

    def memo_key(self) -> str:
        return f"tv:{self.name}:{self.weights}"

    def factory(self):
        import torchvision

        return lambda: torchvision.models.get_model(self.name, weights=None)

    def build(self):
        import os

        import torch
        import torchvision

        from visaudit import settings

        cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(self.weights.url))
        if settings.offline() and not os.path.exists(cached):
            raise VisauditError(
                f"the weights of tv:{self.name} ({self.weights}) are not in torch's cache ({cached}) "
                f"and downloads are disabled ({settings.OFFLINE_ENV}=1)"
            )
        try:
            return torchvision.models.get_model(self.name, weights=self.weights).eval()
        except Exception as err:
            raise VisauditError(f"could not load torchvision weights {self.weights} ({err})") from err
