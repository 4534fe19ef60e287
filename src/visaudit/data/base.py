"""The dataset type every probe reads: (image, label, position) with failures recorded, not fatal.

A dataset is a plain map-style object (``__len__``/``__getitem__``) so that listing and
fingerprinting need no torch; :func:`collate` builds tensors in the DataLoader.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from visaudit.data.labels import LabelSpace
from visaudit.errors import VisauditError

ImageLoader = Callable[[int], "Any"]  # index -> PIL.Image


class ImageDecodeError(VisauditError):
    """An image could not be decoded (corrupt, truncated, not an image); the message names the file."""


@dataclass(frozen=True)
class Preprocess:
    """How images become model input. ``resize``: 'model' (resize to size/crop_pct, centre crop),
    'direct' (resize straight to the input size; no-op when already that size)."""

    input_size: tuple[int, int, int]
    interpolation: str = "bilinear"
    crop_pct: float = 0.875
    resize: str = "model"

    def to_dict(self) -> dict:
        return {
            "input_size": list(self.input_size),
            "interpolation": self.interpolation,
            "crop_pct": self.crop_pct,
            "resize": self.resize,
        }


_PIL_FILTERS = {"bilinear": 2, "bicubic": 3, "nearest": 0, "lanczos": 1, "box": 4, "hamming": 5}


def transform_image(img: Any, pre: Preprocess) -> np.ndarray:
    """PIL image -> uint8 array (3, H, W) following ``pre`` (timm's eval transform for 'model')."""
    _, h, w = pre.input_size
    resample = _PIL_FILTERS.get(pre.interpolation, 2)
    if pre.resize == "direct":
        if img.size != (w, h):
            img = img.resize((w, h), resample=resample)
    else:
        scale = int(min(h, w) / pre.crop_pct)  # timm: scale_size = floor(size / crop_pct)
        iw, ih = img.size
        if iw <= ih:
            nw, nh = scale, int(scale * ih / iw)
        else:
            nh, nw = scale, int(scale * iw / ih)
        if (nw, nh) != (iw, ih):
            img = img.resize((nw, nh), resample=resample)
        left = int(round((nw - w) / 2.0))
        top = int(round((nh - h) / 2.0))
        img = img.crop((left, top, left + w, top + h))
    arr = np.asarray(img, dtype=np.uint8)
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def to_rgb(img: Any) -> Any:
    """Convert grayscale, palette and RGBA (composited on white) images to RGB."""
    from PIL import Image

    if img.mode == "RGB":
        return img
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, img).convert("RGB")
    return img.convert("RGB")


def open_image_file(path: str | Path) -> Any:
    """Decode an image file fully, as RGB; raises :class:`ImageDecodeError` on any failure."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            return to_rgb(im)
    except Exception as err:  # PIL raises many types for broken files
        raise ImageDecodeError(f"{path}: {err}") from err


@dataclass
class ImageDataset:
    """A list of samples with labels in a label space.

    Attributes:
        name: dataset name (registry name or the folder path).
        label_space: the labels' space.
        labels: int array, one per sample.
        ids: sample ids (relative paths or ``split/number``), unique and stable.
        load: index -> RGB PIL image (raises :class:`ImageDecodeError`).
        path: where the data lives (for the record).
        resize_policy: 'model' or 'direct' (see :class:`Preprocess`).
        aux_labels: other per-sample labels, e.g. ``{"texture": array}`` for cue-conflict.
        fingerprint_parts: what identifies the content (relative paths with content sha256s).
        note: documentation for the record (e.g. "stimuli are 224 px; not resized for 224 px models").
        label_subset: who restricted the label space to a subset: ``"declared"`` (the benchmark
            defines its classes, as ImageNet-R does), ``"requested"`` (the user asked), or None.
        conditions: per sample, the benchmark condition it was shown under (model-vs-human's
            ``c30`` contrast, ImageNet-C's ``fog/3``), read from its file name or place; empty
            when the dataset has none. The content fingerprint already covers where it comes from.
        layout: the named benchmark layout the samples were read in (``imagenet-c``,
            ``cifar10-c``, ``mvh-sessions``, ...), empty for plain datasets; probes that score
            a benchmark of corrupted copies (``corruptions``) recognise it.
    """

    name: str
    label_space: LabelSpace
    labels: np.ndarray
    ids: list[str]
    load: ImageLoader
    path: str = ""
    resize_policy: str = "model"
    aux_labels: dict[str, np.ndarray] = field(default_factory=dict)
    fingerprint_parts: Sequence[Any] = ()
    note: str = ""
    preprocess: Preprocess | None = None
    strict: bool = False
    label_subset: str | None = None
    conditions: Sequence[str] = ()
    layout: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[np.ndarray | None, int, int]:
        """(uint8 CHW array or None if the image failed to decode, label, position)."""
        if self.preprocess is None:
            raise RuntimeError("bind the dataset to a model's preprocessing first (dataset.bind(...))")
        try:
            img = self.load(i)
        except ImageDecodeError:
            if self.strict:
                raise
            return None, int(self.labels[i]), i
        return transform_image(img, self.preprocess), int(self.labels[i]), i

    def bind(self, preprocess: Preprocess, *, strict: bool = False) -> "ImageDataset":
        """A copy that yields images preprocessed for a model; the dataset's resize policy wins."""
        return replace(self, preprocess=replace(preprocess, resize=self.resize_policy), strict=strict)

    def with_label_subset(self) -> "ImageDataset":
        """The same samples scored as a subset: the label space becomes the classes present.

        Returns the dataset itself when every class of its space is present or it already is
        a declared subset.
        """
        from visaudit.data.labels import subset_space

        present = sorted({int(v) for v in self.labels})
        if self.label_subset is not None or len(present) == len(self.label_space):
            return self
        space = subset_space(self.label_space, present)
        remap = {old: new for new, old in enumerate(present)}
        labels = np.asarray([remap[int(v)] for v in self.labels], dtype=np.int64)
        aux = {k: np.asarray([remap.get(int(v), -1) for v in a], dtype=np.int64) for k, a in self.aux_labels.items()}
        return replace(self, label_space=space, labels=labels, aux_labels=aux, label_subset="requested")

    def fingerprint(self) -> str:
        """sha256 over name, label space and the content description."""
        h = hashlib.sha256()
        h.update(repr((self.name, self.label_space.fingerprint(), self.label_subset)).encode())
        for part in self.fingerprint_parts:
            h.update(repr(part).encode())
            h.update(b"\n")
        return h.hexdigest()

    def describe(self) -> dict[str, Any]:
        """Record fields."""
        return {
            "name": self.name,
            "path": self.path,
            "fingerprint": self.fingerprint(),
            "label_space": self.label_space.name,
            "n_total": len(self),
            "resize_policy": self.resize_policy,
            "label_subset": self.label_subset,
            "note": self.note,
        }


def file_listing(root: Path, files: Sequence[Path]) -> list[tuple[str, str]]:
    """(relative path, content sha256) per file: a folder dataset's fingerprint parts."""
    from visaudit.data.fingerprint import content_listing

    return content_listing(root, files)


def collate(items: list[tuple[np.ndarray | None, int, int]]) -> dict[str, Any]:
    """DataLoader collate: stacks good images (uint8), lists positions of failed ones."""
    import torch

    good = [(img, label, pos) for img, label, pos in items if img is not None]
    failed = [it[2] for it in items if it[0] is None]
    if good:
        x = torch.from_numpy(np.stack([g[0] for g in good]))
    else:
        x = torch.empty(0, dtype=torch.uint8)
    y = torch.tensor([g[1] for g in good], dtype=torch.long)
    index = np.array([g[2] for g in good], dtype=np.int64)
    return {"x": x, "y": y, "index": index, "failed": failed}


def png_bytes(array_chw_uint8: np.ndarray) -> bytes:
    """Encode a (3, H, W) uint8 array as PNG bytes (for report artifacts)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(array_chw_uint8).transpose(1, 2, 0)).save(buf, format="PNG")
    return buf.getvalue()
