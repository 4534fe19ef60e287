"""Hugging Face image classifiers: ``hf:<repo id or local folder>`` (``pip install 'visaudit[hf]'``).

Weights are read from safetensors only (``use_safetensors=True``), so no pickle is executed.
"""

from __future__ import annotations

from pathlib import Path

from visaudit.errors import VisauditError
from visaudit.models.info import ModelInfo
from visaudit.models.source import ModelSource

_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


class _LogitsOnly:
    """Wraps a transformers model so that calling it returns the logits tensor."""

    def __new__(cls, model):
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, x):
                return self.inner(pixel_values=x).logits

        return Wrapped(model)


class HFSource(ModelSource):
    """A ``transformers`` ``AutoModelForImageClassification`` with its image-processor settings."""

    protocol_packages = ("transformers",)
    example = "hf:{tmp}/tiny-vit"
    example_builds_offline = True

    def __init__(self, spec: str, repo: str) -> None:
        try:
            import transformers  # noqa: F401
        except ImportError as err:
            raise VisauditError("hf: models need transformers: pip install 'visaudit[hf]'") from err
        self.spec, self.repo = spec, repo

    def _config(self):
        from transformers import AutoConfig

        try:
            return AutoConfig.from_pretrained(self.repo)
        except Exception as err:
            raise VisauditError(f"cannot read the Hugging Face config of {self.repo!r}: {err}") from err

    def _processor(self) -> dict:
        from transformers import AutoImageProcessor

        try:
            return AutoImageProcessor.from_pretrained(self.repo).to_dict()
        except Exception:
            return {}

    def info(self) -> ModelInfo:
        cfg = self._config()
        proc = self._processor()
        size = proc.get("size") or {}
        crop = proc.get("crop_size") or {}
        side = crop.get("height") or size.get("height") or size.get("shortest_edge") or getattr(cfg, "image_size", 224)
        resize = size.get("shortest_edge") or size.get("height") or side
        n = int(cfg.num_labels)
        return ModelInfo(
            name=self.spec,
            source="hf",
            arch=type(cfg).__name__.replace("Config", ""),
            num_classes=n,
            label_space="imagenet1k" if n == 1000 else f"hf:{self.repo}",
            input_size=(3, int(side), int(side)),
            interpolation=_RESAMPLE.get(proc.get("resample", 2), "bilinear"),
            crop_pct=float(side) / float(resize) if proc.get("do_center_crop") else 1.0,
            mean=tuple(proc.get("image_mean", (0.5, 0.5, 0.5))),
            std=tuple(proc.get("image_std", (0.5, 0.5, 0.5))),
            weights=self.repo,
            config_source="model" if proc else "default",
            extra={"class_names": [cfg.id2label[i] for i in range(n)]} if n != 1000 else {},
        )

    def memo_key(self) -> str | None:
        local = Path(self.repo)
        weights = local / "model.safetensors"
        if weights.is_file():
            st = weights.stat()
            return f"hf:{local.resolve()}:{st.st_size}:{st.st_mtime_ns}"
        return None  # hub models: recomputed (the revision may move)

    def factory(self):
        from transformers import AutoModelForImageClassification

        cfg = self._config()
        return lambda: _LogitsOnly(AutoModelForImageClassification.from_config(cfg))

    def build(self):
        from transformers import AutoModelForImageClassification

        try:
            model = AutoModelForImageClassification.from_pretrained(self.repo, use_safetensors=True)
        except Exception as err:
            raise VisauditError(f"cannot load {self.repo!r} as a safetensors image classifier: {err}") from err
        return _LogitsOnly(model).eval()
