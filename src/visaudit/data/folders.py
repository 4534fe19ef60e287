"""Datasets read from folders: ImageFolder (class sub-folders), flat ImageNet val with a ground-truth file."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from visaudit.data.base import ImageDataset, file_listing, open_image_file
from visaudit.data.labels import LabelSpace, cifar10, fashion_mnist, imagenet1k, imagenet16
from visaudit.errors import DataNotFoundError, VisauditError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}


def list_images(folder: Path) -> list[Path]:
    """Image files below ``folder`` (by suffix), sorted; hidden files skipped."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
    )


def infer_label_space(class_names: list[str]) -> tuple[LabelSpace, list[int]]:
    """Map folder names onto a known label space, or make one from the names.

    Order of preference: ImageNet-1k WNIDs (any number of them: the labels are ImageNet-1k
    indices and models are scored over all 1000 classes; a subset protocol only when asked),
    the 16 entry-level categories, CIFAR-10, Fashion-MNIST, else a space named after the
    sorted folder names.
    """
    lower = [c.lower() for c in class_names]
    if all(c.startswith("n") and c[1:].isdigit() and len(c) == 9 for c in lower):
        inet = imagenet1k()
        index = {w: i for i, w in enumerate(inet.ids)}
        missing = [c for c in class_names if c not in index]
        if missing:
            raise VisauditError(f"folders look like WNIDs but {missing[:3]} are not ImageNet-1k classes")
        return inet, [index[c] for c in class_names]
    fits = []
    for make in (_try_imagenet16, cifar10, fashion_mnist):
        space = make()
        if space is None:
            continue
        mapped = [space.index_of(c) for c in class_names]
        if all(m is not None for m in mapped):
            fits.append((len(set(mapped)) / len(space), space, mapped))
    if fits:  # several spaces may hold all names ('cat', 'dog'): take the one they cover best
        _, space, mapped = max(fits, key=lambda f: f[0])
        return space, mapped  # type: ignore[return-value]
    names = tuple(class_names)
    space = LabelSpace("folder:" + hashlib.sha1("\n".join(names).encode()).hexdigest()[:8], names, names)
    return space, list(range(len(names)))


def _try_imagenet16() -> LabelSpace | None:
    try:
        return imagenet16()
    except DataNotFoundError:
        return None


def image_folder(
    root: Path,
    name: str | None = None,
    *,
    resize_policy: str = "model",
    note: str = "",
    label_space: LabelSpace | None = None,
) -> ImageDataset:
    """An ImageFolder: ``root/<class>/<image>``; labels from folder names (see :func:`infer_label_space`)."""
    root = Path(root)
    if not root.exists():
        raise DataNotFoundError(f"dataset path does not exist: {root}")
    if not root.is_dir():
        raise VisauditError(f"dataset path is not a folder: {root}")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        flat = list_images(root)
        if flat:
            return imagenet_flat(root, name=name)
        raise VisauditError(f"dataset folder {root} is empty: expected one sub-folder of images per class")
    if label_space is None:
        space, mapped = infer_label_space(classes)
    else:
        found = [label_space.index_of(c) for c in classes]
        if any(m is None for m in found):
            bad = [c for c, m in zip(classes, found) if m is None]
            raise VisauditError(f"folders {bad[:5]} are not classes of {label_space.name}")
        space, mapped = label_space, [int(m) for m in found if m is not None]
    files, labels = [], []
    for cls, lab in zip(classes, mapped):
        imgs = list_images(root / cls)
        files += imgs
        labels += [lab] * len(imgs)
    if not files:
        raise VisauditError(f"dataset folder {root} holds no images (looked for {sorted(IMAGE_SUFFIXES)})")
    return _file_dataset(name or str(root), root, files, labels, space, resize_policy, note)


def _file_dataset(
    name: str,
    root: Path,
    files: list[Path],
    labels: list[int],
    space: LabelSpace,
    resize_policy: str,
    note: str,
    aux: dict[str, np.ndarray] | None = None,
) -> ImageDataset:
    paths = [str(f) for f in files]
    return ImageDataset(
        name=name,
        label_space=space,
        labels=np.asarray(labels, dtype=np.int64),
        ids=[f.relative_to(root).as_posix() for f in files],
        load=_PathLoader(paths),
        path=str(root),
        resize_policy=resize_policy,
        aux_labels=aux or {},
        fingerprint_parts=file_listing(root, files),
        note=note,
    )


class _PathLoader:
    """Picklable index -> image loader (DataLoader workers pickle the dataset)."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths

    def __call__(self, i: int) -> Any:
        return open_image_file(self.paths[i])


DEVKIT_DATA = "ILSVRC2012_devkit_t12/data"
DEVKIT_TRUTH = "ILSVRC2012_validation_ground_truth.txt"


def _devkit_table(truth: Path, wnid_index: dict[str, int]) -> dict[str, int]:
    """``ILSVRC2012_val_XXXXXXXX`` -> ImageNet-1k index, from the devkit's ground truth and ``meta.mat``."""
    import scipy.io

    meta = truth.parent / "meta.mat"
    if not meta.is_file():
        raise VisauditError(f"{truth} needs the devkit's meta.mat beside it (devkit class id -> WNID)")
    synsets = scipy.io.loadmat(str(meta), squeeze_me=True)["synsets"]
    id_to_index = {}
    for rec in synsets:
        wnid = str(rec["WNID"])
        if int(rec["ILSVRC2012_ID"]) <= 1000:  # the 1000 leaf classes; the rest are their ancestors
            if wnid not in wnid_index:
                raise VisauditError(f"{meta} names {wnid}, which is not an ImageNet-1k class")
            id_to_index[int(rec["ILSVRC2012_ID"])] = wnid_index[wnid]
    lines = [ln.strip() for ln in truth.read_text().splitlines() if ln.strip()]
    bad = [ln for ln in lines if not ln.isdigit() or int(ln) not in id_to_index]
    if bad:
        raise VisauditError(f"{truth} holds {bad[:3]}, not devkit class ids of {meta}")
    return {f"ILSVRC2012_val_{n:08d}": id_to_index[int(v)] for n, v in enumerate(lines, start=1)}


def imagenet_flat(root: Path, ground_truth: Path | None = None, name: str | None = None) -> ImageDataset:
    """ImageNet val as one flat folder plus a ground-truth file.

    Accepted ground-truth files (found next to the images if not given): ``LOC_val_solution.csv``
    (Kaggle: ``ImageId,PredictionString`` whose first token is the WNID), a text file
    ``val_labels.txt`` / ``ground_truth.txt`` with lines ``<file name> <WNID or 0-based index>``,
    or the ILSVRC2012 devkit's ``ILSVRC2012_validation_ground_truth.txt`` (line N: the devkit
    class id of ``ILSVRC2012_val_000000NN``), read with the devkit's ``meta.mat`` beside it
    (devkit id -> WNID; loaded as data by scipy, never executed), also under
    ``ILSVRC2012_devkit_t12/data``.
    """
    root = Path(root)
    files = list_images(root)
    if ground_truth is None:
        bases = [root, root.parent, root / DEVKIT_DATA, root.parent / DEVKIT_DATA]
        for cand in ("LOC_val_solution.csv", "val_labels.txt", "ground_truth.txt", DEVKIT_TRUTH):
            for base in bases:
                if (base / cand).exists():
                    ground_truth = base / cand
                    break
            if ground_truth:
                break
    if ground_truth is None:
        raise VisauditError(
            f"{root} holds images but no class sub-folders and no ground-truth file "
            "(LOC_val_solution.csv, val_labels.txt or ground_truth.txt)"
        )
    inet = imagenet1k()
    wnid_index = {w: i for i, w in enumerate(inet.ids)}
    table: dict[str, int] = {}
    if Path(ground_truth).name == DEVKIT_TRUTH:
        table = _devkit_table(Path(ground_truth), wnid_index)
    for line in [] if table else Path(ground_truth).read_text().splitlines():
        if not line.strip() or line.startswith("ImageId"):
            continue
        if "," in line:
            key, _, rest = line.partition(",")
            value = rest.split()[0]
        else:
            key, value = line.split()[:2]
        table[Path(key).stem] = wnid_index[value] if value in wnid_index else int(value)
    kept = [f for f in files if f.stem in table]
    if not kept:
        raise VisauditError(f"no image in {root} is named in {ground_truth}")
    return _file_dataset(
        name or str(root),
        root,
        kept,
        [table[f.stem] for f in kept],
        inet,
        "model",
        f"flat folder with ground truth {Path(ground_truth).name}",
    )
