"""Dataset registry and :func:`open_dataset` (a registered name or a path)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Callable

from visaudit.data.base import ImageDataset
from visaudit.data.benchmarks import BENCHMARKS, open_benchmark
from visaudit.errors import UnknownNameError
from visaudit.registry import Registry

DATASETS: Registry[Callable[..., ImageDataset]] = Registry("dataset")

DATASETS.add_lazy(
    "cue-conflict",
    "visaudit.data.catalog:_cue_conflict",
    "Geirhos et al. cue-conflict stimuli (16 classes, shape label, texture aux label)",
)
DATASETS.add_lazy("edges", "visaudit.data.catalog:_edges", "edge drawings of the 16 categories")
DATASETS.add_lazy("silhouettes", "visaudit.data.catalog:_silhouettes", "filled silhouettes of the 16 categories")
DATASETS.add_lazy(
    "cifar10-test", "visaudit.data.builtin:cifar10_test", "CIFAR-10 test set (10k, images or binary batches)"
)
DATASETS.add_lazy("fashion-mnist", "visaudit.data.builtin:fashion_mnist_dataset", "Fashion-MNIST test set (IDX files)")
DATASETS.add_lazy(
    "imagenet-val",
    "visaudit.data.catalog:_imagenet_val",
    "ImageNet-1k val: WNID folders or flat + ground truth (under the data root as imagenet-val/; from image-net.org)",
)

for _bench in BENCHMARKS:  # the named natural-shift benchmarks: entries of one table, one loader
    DATASETS.register(
        _bench.name,
        f"{_bench.description}; {_bench.n_images:,} images; {_bench.licence}; {_bench.citation}; from {_bench.url}",
    )(partial(open_benchmark, _bench.name))


def _cue_conflict(path: Path | None = None) -> ImageDataset:
    from visaudit.data.builtin import stimuli

    return stimuli("cue-conflict", path)


def _edges(path: Path | None = None) -> ImageDataset:
    from visaudit.data.builtin import stimuli

    return stimuli("edges", path)


def _silhouettes(path: Path | None = None) -> ImageDataset:
    from visaudit.data.builtin import stimuli

    return stimuli("silhouettes", path)


def _imagenet_val(path: Path | None = None) -> ImageDataset:
    from visaudit.data.folders import image_folder
    from visaudit.data.resolver import resolve

    root = Path(path) if path else resolve("imagenet-val", kind="data", what="ImageNet val (not downloadable: licence)")
    return image_folder(root, name="imagenet-val")


def open_dataset(name_or_path: str, path: str | Path | None = None) -> ImageDataset:
    """Open a registered dataset (optionally from an explicit ``path``) or a folder path.

    Raises:
        UnknownNameError: neither a registered name nor an existing path (with suggestions).
        DataNotFoundError: a registered dataset that cannot be resolved (names the setting).
    """
    if name_or_path in DATASETS:
        return DATASETS.get(name_or_path)(Path(path) if path else None)
    p = Path(name_or_path).expanduser()
    if p.exists() or "/" in name_or_path or name_or_path.startswith("."):
        from visaudit.data.folders import image_folder

        return image_folder(p)
    raise UnknownNameError(DATASETS.unknown_message(name_or_path) + " A dataset can also be a folder path.")
