"""open_clip zero-shot classifiers over any label space.

A CLIP model becomes a classifier from class names and prompt templates: each class's
text embedding is the mean of its L2-normalised template embeddings (renormalised), and the
logits are ``100 * cos(image, class)``. With descriptions (a JSON file
``{class: [description, ...]}``) a class's score is the mean of ``100 * cos`` over its
descriptions, and :meth:`ZeroShotClassifier.describe` says which description decided.

The text side is computed once per (model weights, class names, prompts) and cached on disk
(``$VISAUDIT_CACHE/clip-text`` or ``~/.cache/visaudit/clip-text``) keyed by a hash of the
weights fingerprint and the exact prompts.

Model specs (the ``clip:`` prefix of ``load_model`` is stripped before this):
``ARCH@/path/to/weights.{pt,bin,safetensors}`` (local file), ``ARCH@TAG`` (an open_clip
pretrained tag, fetched by open_clip), ``ARCH@random`` (random init, for tests).

Example:
    >>> clf = load_openclip("ViT-B-32@/models/vit_b_32.safetensors", ["cat", "dog"])  # doctest: +SKIP
    >>> clf(torch.rand(1, 3, 224, 224)).shape  # doctest: +SKIP
    torch.Size([1, 2])
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from visaudit.errors import VisauditError
from visaudit.models.clip_templates import IMAGENET_TEMPLATES

LOGIT_SCALE = 100.0


@dataclass
class TextHead:
    """Normalised text embeddings and how they group into classes.

    Attributes:
        embeddings: (n_prompts_or_descriptions, D) unit-norm rows.
        owner: (n,) class index of each row.
        texts: the text each row came from (a template filled in, or a description).
        num_classes: number of classes.
        mode: ``"templates"`` (rows already averaged per class) or ``"descriptions"``.
    """

    embeddings: torch.Tensor
    owner: torch.Tensor
    texts: list[str]
    num_classes: int
    mode: str = "templates"
    meta: dict[str, Any] = field(default_factory=dict)

    def class_scores(self, image_features: torch.Tensor) -> torch.Tensor:
        """(N, num_classes) = mean over each class's rows of 100 * cos."""
        sims = LOGIT_SCALE * image_features @ self.embeddings.T
        if self.mode == "templates":
            return sims
        out = sims.new_zeros(sims.shape[0], self.num_classes)
        out.index_add_(1, self.owner, sims)
        counts = torch.bincount(self.owner, minlength=self.num_classes).clamp_min(1).to(sims.dtype)
        return out / counts


def class_names_of(label_space: Any) -> list[str]:
    """Class names from a label space object, a name (``"imagenet1k"``) or a list."""
    if isinstance(label_space, (list, tuple)):
        return [str(c) for c in label_space]
    for attr in ("classes", "class_names", "names"):
        names = getattr(label_space, attr, None)
        if names:
            return [str(c) for c in names]
    name = str(getattr(label_space, "name", label_space))
    if name in ("imagenet1k", "imagenet", "imagenet-1k"):
        from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

        return list(IMAGENET_CLASSNAMES)
    raise VisauditError(f"cannot find class names for label space {name!r}")


def read_descriptions(path_or_dict: str | os.PathLike | dict[str, list[str]], classes: Sequence[str]) -> dict[str, list[str]]:
    """Load ``{class: [descriptions]}``; every class must have at least one description."""
    if isinstance(path_or_dict, dict):
        desc = path_or_dict
    else:
        desc = json.loads(Path(path_or_dict).read_text())
    missing = [c for c in classes if not desc.get(c)]
    if missing:
        raise VisauditError(f"descriptions lack the class(es) {missing[:5]}{'...' if len(missing) > 5 else ''}")
    return {c: [str(d) for d in desc[c]] for c in classes}


def _cache_dir() -> Path:
    root = os.environ.get("VISAUDIT_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "visaudit")
    return Path(root) / "clip-text"


def weights_fingerprint(model: nn.Module, path: str | None = None) -> str:
    """sha256 of the weights file, or of the parameters' bytes when there is no file."""
    h = hashlib.sha256()
    if path and os.path.isfile(path):
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    for name, t in model.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def build_text_head(
    model: nn.Module,
    tokenizer: Any,
    classes: Sequence[str],
    templates: Sequence[str] | None = None,
    descriptions: dict[str, list[str]] | None = None,
    fingerprint: str = "",
    cache: bool = True,
    batch_size: int = 256,
) -> TextHead:
    """Encode the prompts once; reuse the on-disk cache when the same key was seen before."""
    classes = list(classes)
    if descriptions is not None:
        texts = [d for c in classes for d in descriptions[c]]
        owner = [i for i, c in enumerate(classes) for _ in descriptions[c]]
        mode, templates_used = "descriptions", None
    else:
        templates_used = list(templates or IMAGENET_TEMPLATES)
        texts = [t.format(c) for c in classes for t in templates_used]
        owner = [i for i, c in enumerate(classes) for _ in templates_used]
        mode = "templates"
    key = hashlib.sha256(json.dumps({"fp": fingerprint, "mode": mode, "texts": texts, "owner": owner}).encode()).hexdigest()[:24]
    path = _cache_dir() / f"{key}.pt"
    emb = None
    if cache and fingerprint and path.is_file():
        emb = torch.load(path, weights_only=True)
    if emb is None:
        device = next(model.parameters()).device
        parts = []
        with torch.no_grad():
            for i in range(0, len(texts), batch_size):
                tokens = tokenizer(texts[i:i + batch_size]).to(device)
                parts.append(torch.nn.functional.normalize(model.encode_text(tokens).float(), dim=-1))
        emb = torch.cat(parts).cpu()
        if mode == "templates":  # average each class's templates, then renormalise
            per_class = emb.view(len(classes), len(templates_used), -1).mean(dim=1)
            emb = torch.nn.functional.normalize(per_class, dim=-1)
        if cache and fingerprint:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save(emb, tmp)
            os.replace(tmp, path)
    owner_t = torch.arange(len(classes)) if mode == "templates" else torch.tensor(owner)
    return TextHead(
        embeddings=emb, owner=owner_t, texts=texts if mode == "descriptions" else classes,
        num_classes=len(classes), mode=mode,
        meta={"cache_key": key, "templates": templates_used, "n_texts": len(texts)},
    )


class ZeroShotClassifier(nn.Module):
    """A CLIP image encoder plus a fixed text head; input float RGB in [0,1] at model size.

    Attributes:
        net: the open_clip model (image and text towers).
        text_head: the class embeddings.
        info: model metadata (``label_space``, ``input_size``, ``num_classes``, ...).
    """

    def __init__(self, clip: nn.Module, tokenizer: Any, classes: list[str], head: TextHead, info: Any,
                 mean: Sequence[float], std: Sequence[float], fingerprint: str) -> None:
        super().__init__()
        self.net = clip
        self.tokenizer = tokenizer
        self.classes = classes
        self.text_head = head
        self.info = info
        self.fingerprint = fingerprint
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))

    def image_features(self, x: torch.Tensor) -> torch.Tensor:
        """Unit-norm image embeddings of a [0,1] batch."""
        x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        return torch.nn.functional.normalize(self.net.encode_image(x).float(), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``100 * cos`` over the label space."""
        feats = self.image_features(x)
        return self.text_head.class_scores(feats.to(self.text_head.embeddings.device))

    logits = forward

    def with_templates(self, templates: Sequence[str]) -> "ZeroShotClassifier":
        """The same image tower with a text head built from other templates (prompt steering)."""
        head = build_text_head(self.net, self.tokenizer, self.classes, templates=templates,
                               fingerprint=self.fingerprint)
        head.embeddings = head.embeddings.to(self.mean.device)
        head.owner = head.owner.to(self.mean.device)
        return ZeroShotClassifier(self.net, self.tokenizer, self.classes, head, self.info,
                                  self.mean.flatten().tolist(), self.std.flatten().tolist(), self.fingerprint)

    def describe(self, x: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
        """Logits and, per image, the description of the predicted class that scored highest.

        For template heads the second item is the predicted class name.
        """
        feats = self.image_features(x)
        head = self.text_head
        logits = head.class_scores(feats)
        pred = logits.argmax(dim=1)
        if head.mode != "descriptions":
            return logits, [self.classes[int(p)] for p in pred]
        sims = feats @ head.embeddings.T
        mask = head.owner[None, :] == pred[:, None]
        best = sims.masked_fill(~mask, float("-inf")).argmax(dim=1)
        return logits, [head.texts[int(i)] for i in best]


def _model_info(name: str, arch: str, classes: list[str], label_space: Any, size: tuple[int, int],
                mean: Sequence[float], std: Sequence[float], fingerprint: str, n_params: int) -> Any:
    """A ModelInfo from the core when available, else a plain namespace with the same fields."""
    fields = dict(name=name, source="open_clip", arch=arch, num_classes=len(classes),
                  label_space=str(getattr(label_space, "name", label_space if isinstance(label_space, str) else "custom")),
                  input_size=(3, int(size[0]), int(size[1])), interpolation="bicubic", crop_pct=1.0,
                  mean=tuple(float(m) for m in mean), std=tuple(float(s) for s in std), weights_sha256=fingerprint)
    try:
        from visaudit.models.spec import ModelInfo  # type: ignore[attr-defined]

        known = set(getattr(ModelInfo, "__dataclass_fields__", {}))
        return ModelInfo(**{k: v for k, v in fields.items() if k in known})
    except (ImportError, TypeError):
        from types import SimpleNamespace

        return SimpleNamespace(**fields, n_params=n_params)


def load_openclip(
    spec: str,
    label_space: Any,
    templates: Sequence[str] | None = None,
    descriptions: str | os.PathLike | dict[str, list[str]] | None = None,
    device: str | torch.device = "cpu",
) -> ZeroShotClassifier:
    """Build a zero-shot classifier from an open_clip model.

    Args:
        spec: ``ARCH@WEIGHTS`` with WEIGHTS a local file, an open_clip pretrained tag or
            ``random``; a bare ``ARCH`` means ``random`` only if no tag is needed.
        label_space: label space object, its name (``"imagenet1k"``) or a list of class names.
        templates: prompt templates with ``{}``; default the 80 ImageNet templates.
        descriptions: ``{class: [descriptions]}`` or a JSON file of it; replaces templates.
        device: where the model runs.

    Returns:
        The classifier in eval mode.
    """
    import open_clip

    arch, _, weights = spec.partition("@")
    if arch not in open_clip.list_models():
        raise VisauditError(f"unknown open_clip architecture {arch!r}; see open_clip.list_models()")
    path = weights if weights and os.path.isfile(weights) else None
    if weights and not path and weights != "random" and ("/" in weights or "." in weights):
        raise VisauditError(f"CLIP weights file {weights!r} not found")
    pretrained = path or (None if weights in ("", "random") else weights)
    clip = open_clip.create_model(arch, pretrained=pretrained, device=device)
    clip.eval()
    tokenizer = open_clip.get_tokenizer(arch)
    cfg = getattr(clip.visual, "preprocess_cfg", None) or {}
    mean = cfg.get("mean", open_clip.OPENAI_DATASET_MEAN)
    std = cfg.get("std", open_clip.OPENAI_DATASET_STD)
    size = clip.visual.image_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    fp = weights_fingerprint(clip, path)
    classes = class_names_of(label_space)
    desc = read_descriptions(descriptions, classes) if descriptions is not None else None
    head = build_text_head(clip, tokenizer, classes, templates=templates, descriptions=desc, fingerprint=fp)
    n_params = sum(p.numel() for p in clip.visual.parameters())
    info = _model_info(f"clip:{spec.rsplit('/', 1)[-1] if path else spec}", arch, classes, label_space, size,
                       mean, std, fp, n_params)
    model = ZeroShotClassifier(clip, tokenizer, classes, head, info, mean, std, fp).to(device)
    model.text_head.embeddings = model.text_head.embeddings.to(device)
    model.text_head.owner = model.text_head.owner.to(device)
    return model.eval()
