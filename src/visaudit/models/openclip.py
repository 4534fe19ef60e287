"""open_clip zero-shot classifiers over any label space.

A CLIP model becomes a classifier from class names and prompt templates: each class's
text embedding is the mean of its L2-normalised template embeddings (renormalised), and the
logits are ``100 * cos(image, class)``. With descriptions (a JSON file
``{class: [description, ...]}``) a class's score is the mean of ``100 * cos`` over its
descriptions, and :meth:`ZeroShotNet.describe` says which description decided.

Both heads are linear in the normalised image embedding, so the head is an ``nn.Linear``
(weight = 100 x class embedding; for descriptions the mean of the description embeddings):
``Classifier.penultimate`` / ``head_weight`` work as for any other model.

The text side is computed once per (weights, class names, prompts) and cached on disk under
``<visaudit cache>/clip-text/<key>.pt``, the key hashing the weights fingerprint and the exact
prompt texts.

Model names: ``clip:<arch>:<weights>[:<label space>]`` where ``<weights>`` is a local file
(.pt/.bin/.safetensors), an open_clip pretrained tag (fetched by open_clip), or ``random``
(seeded random init, for tests); the label space defaults to ``imagenet1k`` (the OpenAI
ImageNet class names), so the 1000 -> 16 rule applies on cue-conflict as for other models.

Example:
    >>> clf = load_openclip("ViT-B-32:/models/vit_b_32.pt", "imagenet16")  # doctest: +SKIP
    >>> clf(torch.rand(1, 3, 224, 224)).shape  # doctest: +SKIP
    torch.Size([1, 16])
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from visaudit.errors import UnknownNameError, VisauditError
from visaudit.models.clip_templates import IMAGENET_TEMPLATES
from visaudit.models.info import ModelInfo
from visaudit.models.source import ModelSource

LOGIT_SCALE = 100.0


def class_names_of(label_space: Any) -> list[str]:
    """Prompt-ready class names of a label space (object, registry name or list of names).

    ImageNet-1k uses open_clip's cleaned OpenAI class names rather than WordNet lemmas.
    """
    if isinstance(label_space, (list, tuple)):
        return [str(c) for c in label_space]
    name = str(getattr(label_space, "name", label_space))
    if name == "imagenet1k":
        from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

        return list(IMAGENET_CLASSNAMES)
    if isinstance(label_space, str):
        from visaudit.data.labels import label_space as lookup

        label_space = lookup(label_space)
    return [str(c) for c in label_space.classes]


def read_descriptions(
    path_or_dict: str | os.PathLike | dict[str, list[str]], classes: Sequence[str]
) -> dict[str, list[str]]:
    """Load ``{class: [descriptions]}``; every class must have at least one description."""
    desc = path_or_dict if isinstance(path_or_dict, dict) else json.loads(Path(path_or_dict).read_text())
    missing = [c for c in classes if not desc.get(c)]
    if missing:
        raise VisauditError(f"descriptions lack the class(es) {missing[:5]}{'...' if len(missing) > 5 else ''}")
    return {c: [str(d) for d in desc[c]] for c in classes}


def _text_cache_dir() -> Path:
    from visaudit import settings

    return settings.cache_dir() / "clip-text"


def clip_fingerprint(clip: nn.Module, path: str | None = None) -> str:
    """sha256 of the weights file, or of the CLIP state dict when there is no file."""
    if path and os.path.isfile(path):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return h.hexdigest()
    from visaudit.models.checkpoints import state_dict_sha256

    return state_dict_sha256(clip)


def encode_texts(
    clip: nn.Module, tokenizer: Any, texts: list[str], fingerprint: str, batch_size: int = 256
) -> torch.Tensor:
    """Unit-norm text embeddings (len(texts), D), from the disk cache when seen before."""
    key = hashlib.sha256(json.dumps({"fp": fingerprint, "texts": texts}).encode()).hexdigest()[:32]
    path = _text_cache_dir() / f"{key}.pt"
    if path.is_file():
        try:
            return torch.load(path, weights_only=True)
        except (OSError, RuntimeError, EOFError):
            pass  # unreadable cache entry: recompute
    device = next(clip.parameters()).device
    parts = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            tokens = tokenizer(texts[i : i + batch_size]).to(device)
            parts.append(nn.functional.normalize(clip.encode_text(tokens).float(), dim=-1).cpu())
    emb = torch.cat(parts)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(emb, tmp)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs time
    return emb


class ZeroShotNet(nn.Module):
    """CLIP image tower + linear text head; takes *normalised* images (the Classifier normalises).

    Attributes:
        clip: the open_clip model.
        head: ``nn.Linear(D, num_classes, bias=False)``, weight = 100 x class embeddings.
        classes: class names.
        texts: the prompt or description texts behind the head.
        owner: class index of each text (descriptions), or None for template heads.
    """

    def __init__(
        self,
        clip: nn.Module,
        tokenizer: Any,
        classes: list[str],
        fingerprint: str,
        templates: Sequence[str] | None = None,
        descriptions: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__()
        self.clip = clip
        self.tokenizer = tokenizer
        self.classes = list(classes)
        self.fingerprint = fingerprint
        if descriptions is not None:
            self.mode = "descriptions"
            self.templates: list[str] | None = None
            self.texts = [d for c in self.classes for d in descriptions[c]]
            owner = [i for i, c in enumerate(self.classes) for _ in descriptions[c]]
            emb = encode_texts(clip, tokenizer, self.texts, fingerprint)
            self.register_buffer("owner", torch.tensor(owner), persistent=False)
            self.register_buffer("text_embeddings", emb, persistent=False)
            sums = torch.zeros(len(self.classes), emb.shape[1]).index_add_(0, self.owner, emb)
            weight = sums / torch.bincount(self.owner, minlength=len(self.classes)).clamp_min(1)[:, None]
        else:
            self.mode = "templates"
            self.templates = list(templates or IMAGENET_TEMPLATES)
            self.texts = [t.format(c) for c in self.classes for t in self.templates]
            self.owner = None
            emb = encode_texts(clip, tokenizer, self.texts, fingerprint)
            per_class = emb.view(len(self.classes), len(self.templates), -1).mean(dim=1)
            weight = nn.functional.normalize(per_class, dim=-1)
        self.head = nn.Linear(weight.shape[1], len(self.classes), bias=False)
        with torch.no_grad():
            self.head.weight.copy_(LOGIT_SCALE * weight)
        self.head.to(next(clip.parameters()).device)

    def get_classifier(self) -> nn.Linear:
        return self.head

    def image_features(self, x: torch.Tensor) -> torch.Tensor:
        """Unit-norm image embeddings of a normalised batch."""
        return nn.functional.normalize(self.clip.encode_image(x).float(), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.image_features(x))

    def with_templates(self, templates: Sequence[str]) -> "ZeroShotNet":
        """Same image tower, a head from other templates (prompt steering)."""
        return ZeroShotNet(self.clip, self.tokenizer, self.classes, self.fingerprint, templates=templates)

    def describe(self, x: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
        """Logits and, per image, the text that decided: the best-scoring description of the
        predicted class (descriptions), or the predicted class name (templates)."""
        feats = self.image_features(x)
        logits = self.head(feats)
        pred = logits.argmax(dim=1)
        if self.mode != "descriptions":
            return logits, [self.classes[int(p)] for p in pred]
        sims = feats @ self.text_embeddings.T
        sims = sims.masked_fill(self.owner[None, :] != pred[:, None], float("-inf"))
        return logits, [self.texts[int(i)] for i in sims.argmax(dim=1)]


def _parse(spec: str) -> tuple[str, str, str]:
    """``[clip:]arch:weights[:label space]`` -> (arch, weights, label space)."""
    body = spec[5:] if spec.startswith("clip:") else spec
    arch, _, rest = body.partition(":")
    weights, space = rest, "imagenet1k"
    head, _, tail = rest.rpartition(":")
    if head and tail and not os.path.exists(rest):
        from visaudit.data.labels import LABEL_SPACES

        if tail in LABEL_SPACES:
            weights, space = head, tail
    if not arch or not weights:
        raise UnknownNameError(
            f"CLIP model names look like clip:<arch>:<weights file|pretrained tag|random>[:<label space>], not {spec!r}"
        )
    return arch, weights, space


class OpenClipSource(ModelSource):
    """``clip:<arch>:<weights>[:<label space>]`` (see the module docstring)."""

    protocol_packages = ("open_clip_torch",)
    example = "clip:tiny-clip-test:random:cifar10"
    example_builds_offline = True

    def __init__(
        self,
        spec: str,
        templates: Sequence[str] | None = None,
        descriptions: str | os.PathLike | dict[str, list[str]] | None = None,
        classes: Sequence[str] | None = None,
        space: str | None = None,
    ) -> None:
        import open_clip

        self.spec = spec
        self.arch, self.weights, self.space = _parse(spec)
        self.classes = list(classes) if classes is not None else None
        if space:
            self.space = space
        if self.arch not in open_clip.list_models():
            import difflib

            close = difflib.get_close_matches(self.arch, open_clip.list_models(), n=3)
            raise UnknownNameError(
                f"unknown open_clip architecture {self.arch!r}." + (f" Did you mean {close}?" if close else "")
            )
        self.path = self.weights if os.path.isfile(self.weights) else None
        if (
            not self.path
            and self.weights != "random"
            and ("/" in self.weights or self.weights.endswith((".pt", ".bin", ".safetensors")))
        ):
            raise VisauditError(f"CLIP weights file {self.weights!r} not found")
        self.templates = list(templates) if templates is not None else None
        self.descriptions = descriptions

    def class_names(self) -> list[str]:
        return self.classes if self.classes is not None else class_names_of(self.space)

    def _prompt_id(self) -> dict[str, Any]:
        if self.descriptions is not None:
            d = (
                self.descriptions
                if isinstance(self.descriptions, dict)
                else json.loads(Path(self.descriptions).read_text())
            )
            return {"descriptions_sha256": hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()}
        t = self.templates or IMAGENET_TEMPLATES
        out: dict[str, Any] = {"templates": "imagenet80" if t == IMAGENET_TEMPLATES else t}
        if self.classes is not None:
            out["classes"] = self.classes
        return out

    def info(self) -> ModelInfo:
        import open_clip

        cfg = open_clip.get_model_config(self.arch) or {}
        size = cfg.get("vision_cfg", {}).get("image_size", 224)
        size = size if isinstance(size, int) else size[0]
        pre = cfg.get("preprocess_cfg", {})
        classes = self.class_names()
        return ModelInfo(
            name=self.spec,
            source="openclip",
            arch=self.arch,
            num_classes=len(classes),
            label_space=self.space,
            input_size=(3, size, size),
            interpolation=pre.get("interpolation", "bicubic"),
            crop_pct=1.0,
            mean=tuple(pre.get("mean", open_clip.OPENAI_DATASET_MEAN)),
            std=tuple(pre.get("std", open_clip.OPENAI_DATASET_STD)),
            weights=self.path or self.weights,
            extra={"zero_shot": self._prompt_id()},
        )

    def memo_key(self) -> str | None:
        if not self.path:
            return None
        from visaudit.models.checkpoints import file_memo_key

        prompts = hashlib.sha256(json.dumps(self._prompt_id(), sort_keys=True).encode()).hexdigest()[:16]
        return file_memo_key(Path(self.path), f"clip-v1:{self.arch}:{self.space}:{prompts}")

    def build(self) -> ZeroShotNet:
        import open_clip

        if self.weights == "random":
            state = torch.random.get_rng_state()
            torch.manual_seed(0)
            try:
                clip = open_clip.create_model(self.arch, pretrained=None)
            finally:
                torch.random.set_rng_state(state)
        else:
            clip = open_clip.create_model(self.arch, pretrained=self.path or self.weights)
        clip.eval()
        tokenizer = open_clip.get_tokenizer(self.arch)
        classes = self.class_names()
        desc = read_descriptions(self.descriptions, classes) if self.descriptions is not None else None
        return ZeroShotNet(
            clip, tokenizer, classes, clip_fingerprint(clip, self.path), templates=self.templates, descriptions=desc
        ).eval()


def load_openclip(
    spec: str,
    label_space: Any = "imagenet1k",
    templates: Sequence[str] | None = None,
    descriptions: str | os.PathLike | dict[str, list[str]] | None = None,
    device: str | torch.device | None = None,
):
    """Build a zero-shot :class:`~visaudit.models.classifier.Classifier` from an open_clip model.

    Args:
        spec: ``<arch>:<weights>`` (``clip:`` prefix optional); weights = local file, open_clip
            pretrained tag, or ``random``.
        label_space: registry name of a label space (``imagenet1k``, ``imagenet16``, ``cifar10``)
            or a list of class names (label space ``custom``).
        templates: prompt templates with ``{}``; default the 80 ImageNet templates.
        descriptions: ``{class: [descriptions]}`` or a JSON file of it (replaces templates).
        device: where to put the model.

    Returns:
        The classifier in eval mode; ``.net`` is the :class:`ZeroShotNet`.
    """
    from visaudit.models import weights_fingerprint
    from visaudit.models.classifier import Classifier

    arch, weights, _ = _parse(spec if spec.startswith("clip:") else f"clip:{spec}")
    if isinstance(label_space, str):
        source = OpenClipSource(f"clip:{arch}:{weights}:{label_space}", templates=templates, descriptions=descriptions)
    else:
        source = OpenClipSource(
            f"clip:{arch}:{weights}",
            templates=templates,
            descriptions=descriptions,
            classes=class_names_of(label_space),
            space=str(getattr(label_space, "name", "custom")),
        )
    info = source.info()
    net = source.build()
    info.weights_sha256 = weights_fingerprint(source, net)
    model = Classifier(net, info).eval()
    return model.to(device) if device else model
