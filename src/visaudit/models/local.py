"""Models from local files: ``ARCH@PATH`` (state dict or safetensors) or a TorchScript file.

``ARCH`` is ``timm:<name>``, ``tv:<name>`` or a zoo architecture (``cifar10_resnet20``). The number of
outputs is read from the checkpoint's last 2-D tensor; append ``#<label space>`` to name the label
space (default: 1000 outputs -> imagenet1k, 10 -> cifar10).
"""

from __future__ import annotations

from pathlib import Path

from visaudit.errors import VisauditError
from visaudit.models.checkpoints import file_memo_key, is_torchscript, load_state_dict
from visaudit.models.info import ModelInfo
from visaudit.models.source import ModelSource


def _default_space(n: int) -> str:
    return {1000: "imagenet1k", 10: "cifar10"}.get(n, f"local:{n}")


class CheckpointSource(ModelSource):
    """An architecture plus a weight file."""

    example = "cifar10_resnet20@{tmp}/w.safetensors"
    example_builds_offline = True

    def __init__(self, spec: str, arch_spec: str, path: Path, label_space: str | None) -> None:
        from visaudit.models import resolve_model

        if not path.is_file():
            raise VisauditError(f"weights file not found: {path}")
        self.spec, self.path, self.label_space = spec, path, label_space
        self.arch = resolve_model(arch_spec)
        self.protocol_packages = self.arch.protocol_packages  # type: ignore[misc]
        self._state: dict | None = None

    def _sd(self) -> dict:
        if self._state is None:
            self._state = load_state_dict(self.path)
        return self._state

    def _num_classes(self) -> int:
        mats = [v for v in self._sd().values() if v.ndim == 2]
        if not mats:
            raise VisauditError(f"{self.path} has no 2-D (linear head) tensor to read the number of classes from")
        return int(mats[-1].shape[0])

    def info(self) -> ModelInfo:
        base = self.arch.info()
        n = self._num_classes()
        base.name, base.source, base.num_classes = self.spec, "local", n
        base.label_space = self.label_space or (base.label_space if n == base.num_classes else _default_space(n))
        if n != 1000 and base.label_space == "imagenet1k":
            base.label_space = _default_space(n)
        base.weights = str(self.path)
        return base

    def memo_key(self) -> str:
        return file_memo_key(self.path, "ckpt")

    def factory(self):
        n = self._num_classes()
        arch = self.arch
        from visaudit.models.hub import TimmSource, TorchvisionSource

        if isinstance(arch, TimmSource):
            import timm

            return lambda: timm.create_model(arch.name, pretrained=False, num_classes=n)
        if isinstance(arch, TorchvisionSource):
            import torchvision

            return lambda: torchvision.models.get_model(arch.name, weights=None, num_classes=n)
        return arch.factory()

    def build(self):
        net = self.factory()()
        try:
            net.load_state_dict(self._sd())
        except RuntimeError as err:
            raise VisauditError(
                f"{self.path} does not fit the architecture {self.arch.info().arch}: {str(err)[:300]}"
            ) from err
        return net.eval()


class TorchScriptSource(ModelSource):
    """A TorchScript archive (``torch.jit.save``).

    Preprocessing comes from an extra file ``visaudit.json`` in the archive when there is one
    (``torch.jit.save(m, path, _extra_files={"visaudit.json": json.dumps({...})})`` with any of
    ``input_size``, ``mean``, ``std``, ``interpolation``, ``crop_pct``, ``label_space``); otherwise
    the input size is found by trying sizes (CIFAR-10 models at 32 px first, then 224 and others)
    and the normalisation defaults to ImageNet's.
    """

    example = "{tmp}/model.ts"
    example_builds_offline = True

    def __init__(self, spec: str, path: Path, label_space: str | None) -> None:
        self.spec, self.path, self.label_space = spec, path, label_space

    def _meta(self) -> dict:
        import json

        import torch

        extra = {"visaudit.json": ""}
        torch.jit.load(str(self.path), map_location="cpu", _extra_files=extra)
        try:
            meta = json.loads(extra["visaudit.json"] or "{}")
        except ValueError as err:
            raise VisauditError(f"{self.path}: its visaudit.json extra file is not JSON ({err})") from err
        return meta if isinstance(meta, dict) else {}

    def _probe_size(self, net) -> tuple[int, int]:
        """(input side, number of outputs): the first size the network accepts."""
        import torch

        outputs = {}
        for side in (224, 32, 28, 64, 96, 128, 256, 299, 384):
            try:
                with torch.inference_mode():
                    outputs[side] = int(net(torch.zeros(1, 3, side, side)).shape[1])
            except Exception:  # noqa: BLE001 - a size the network does not take
                continue
            if side == 224 and outputs[side] == 10:
                continue  # 10 outputs: also try 32 px, the CIFAR-10 size
            break
        if not outputs:
            raise VisauditError(
                f"{self.path}: the TorchScript model accepts none of the usual input sizes; "
                "add a visaudit.json extra file with its input_size"
            )
        side = 32 if outputs.get(32) == 10 else next(iter(outputs))
        return side, outputs[side]

    def info(self) -> ModelInfo:
        import torch

        meta = self._meta()
        net = self.build()
        if "input_size" in meta:
            size = tuple(int(v) for v in meta["input_size"])
            with torch.inference_mode():
                n = int(net(torch.zeros(1, *size)).shape[1])
        else:
            side, n = self._probe_size(net)
            size = (3, side, side)
        defaults = ModelInfo(name="", source="", arch="", num_classes=0, label_space="")
        return ModelInfo(
            name=self.spec,
            source="torchscript",
            arch=self.path.stem,
            num_classes=n,
            label_space=self.label_space or meta.get("label_space") or _default_space(n),
            input_size=size,  # type: ignore[arg-type]
            interpolation=str(meta.get("interpolation", defaults.interpolation)),
            crop_pct=float(meta.get("crop_pct", defaults.crop_pct)),
            mean=tuple(meta.get("mean", defaults.mean)),
            std=tuple(meta.get("std", defaults.std)),
            weights=str(self.path),
            config_source="visaudit.json" if meta else "default",
        )

    def memo_key(self) -> str:
        return file_memo_key(self.path, "ts")

    def build(self):
        import torch

        try:
            return torch.jit.load(str(self.path), map_location="cpu").eval()
        except Exception as err:  # a damaged archive: say so instead of a traceback
            raise VisauditError(f"{self.path} is not a loadable TorchScript file: {str(err).splitlines()[0]}") from err


def local_source(spec: str) -> ModelSource:
    """Parse ``ARCH@PATH[#space]`` or ``PATH[#space]``."""
    body, _, space = spec.partition("#")
    if "@" in body:
        arch_spec, _, path = body.partition("@")
        return CheckpointSource(spec, arch_spec, Path(path).expanduser(), space or None)
    path = Path(body).expanduser()
    if not path.exists():
        raise VisauditError(f"model file not found: {path}")
    if is_torchscript(path):
        return TorchScriptSource(spec, path, space or None)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            arch = (f.metadata() or {}).get("arch")
        if arch:
            return CheckpointSource(spec, arch, path, space or None)
    load_state_dict(path)  # raises a clear error for files that are not checkpoints or need unpickling
    raise VisauditError(
        f"{path} is a state dict without an architecture: name it as ARCH@PATH, e.g. timm:resnet18@{path} "
        f"or cifar10_resnet20@{path}"
    )
