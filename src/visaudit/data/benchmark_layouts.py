"""Readers of the benchmark layouts: one function per on-disk layout, shared by every entry using it.

Each reader checks the layout strictly (an unknown folder or a stray file is an error that
names the expected layout, never silently skipped or scored) and returns an
:class:`ImageDataset` in the benchmark's label protocol. The entries themselves are data, in
:mod:`visaudit.data.benchmarks`.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from visaudit.data.base import ImageDataset, file_listing, open_image_file
from visaudit.data.labels import LabelSpace
from visaudit.errors import VisauditError

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.data.benchmarks import Benchmark

Reader = Callable[["Benchmark", Path], ImageDataset]


def fail(bench: "Benchmark", root: Path, found: str) -> VisauditError:
    """The error for a copy that does not have the benchmark's layout."""
    return VisauditError(
        f"benchmark {bench.name}: {root}: {found}; expected the layout of {bench.url}: {bench.layout_text}"
    )


def _entries(
    bench: "Benchmark", root: Path, *, files_ok: bool = False, what: str = "the layout's folders"
) -> tuple[list[str], list[str]]:
    """(sub-folders, files) of ``root``, hidden ones skipped; stray files refused unless ``files_ok``."""
    if not root.is_dir():
        raise fail(bench, root, "not a folder")
    folders = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files = sorted(p.name for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
    if files and not files_ok:
        raise fail(bench, root, f"files {files[:3]} outside {what}")
    return folders, files


def _images_only(bench: "Benchmark", folder: Path) -> list[Path]:
    """The images directly in ``folder``; anything else (a sub-folder, a non-image) is an error."""
    from visaudit.data.folders import IMAGE_SUFFIXES

    found = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    odd = [p.name for p in found if not (p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)]
    if odd:
        raise fail(bench, folder, f"unexpected entries {odd[:3]}")
    return found


def _partial_note(bench: "Benchmark", n_present: int, n_classes: int, n_files: int) -> str:
    note = f"{bench.description}; {bench.citation}"
    if n_present < n_classes or n_files < bench.n_images:
        note += f"; this copy holds {n_present} of its {n_classes} classes ({n_files} of {bench.n_images} images)"
    return note


# -- ObjectNet ---------------------------------------------------------------------------------

OBJECTNET_MAPPINGS = (
    "folder_to_objectnet_label.json",
    "objectnet_to_imagenet_1k.json",
    "imagenet_to_label_2012_v2",
    "pytorch_to_imagenet_2012_id.json",
)
OTHER_CLASS = "(other: an ImageNet class with no ObjectNet counterpart)"


class _CropLoader:
    """Picklable loader that removes the release's border of ``border`` pixels."""

    def __init__(self, paths: list[str], border: int) -> None:
        self.paths, self.border = paths, border

    def __call__(self, i: int) -> Any:
        img = open_image_file(self.paths[i])
        b = self.border
        return img.crop((b, b, img.size[0] - b, img.size[1] - b))


def objectnet_groups(mappings: Path) -> dict[str, tuple[int, ...]]:
    """ObjectNet folder -> its ImageNet-1k indices (model output order), from the release's mapping files.

    Only folders of classes with an ImageNet counterpart appear. The files are read as JSON and
    text, never executed.
    """
    missing = [m for m in OBJECTNET_MAPPINGS if not (mappings / m).is_file()]
    if missing:
        raise VisauditError(f"ObjectNet mappings folder {mappings} lacks {', '.join(missing)}")
    folder_label: dict[str, str] = json.loads((mappings / OBJECTNET_MAPPINGS[0]).read_text())
    label_names: dict[str, str] = json.loads((mappings / OBJECTNET_MAPPINGS[1]).read_text())
    lines = [ln.strip() for ln in (mappings / OBJECTNET_MAPPINGS[2]).read_text().splitlines()]
    to_line: dict[str, int] = json.loads((mappings / OBJECTNET_MAPPINGS[3]).read_text())
    line_to_index = {int(line): int(index) for index, line in to_line.items()}
    if sorted(line_to_index.values()) != list(range(1000)) or sorted(line_to_index) != list(range(len(lines))):
        raise VisauditError(f"{mappings / OBJECTNET_MAPPINGS[3]} is not a one-to-one map of the 1000 ImageNet classes")
    by_name: dict[str, list[int]] = {}
    for line, name in enumerate(lines):
        by_name.setdefault(name, []).append(line_to_index[line])
    label_folder = {label: folder for folder, label in folder_label.items()}
    groups: dict[str, tuple[int, ...]] = {}
    for label, names in label_names.items():
        if label not in label_folder:
            raise VisauditError(f"ObjectNet class {label!r} of {OBJECTNET_MAPPINGS[1]} has no folder")
        idx: list[int] = []
        for name in names.split("; "):
            hits = by_name.get(name.strip(), [])
            if len(hits) != 1:
                why = "names no" if not hits else "is ambiguous among the"
                raise VisauditError(
                    f"ObjectNet mapping {label!r} -> {name!r} {why} ImageNet class in {OBJECTNET_MAPPINGS[2]}"
                )
            idx += hits
        groups[label_folder[label]] = tuple(sorted(set(idx)))
    seen: dict[int, str] = {}
    for folder, members in groups.items():
        for i in members:
            if i in seen:  # one decision per image needs disjoint groups
                raise VisauditError(f"ImageNet class {i} is mapped to two ObjectNet classes ({seen[i]}, {folder})")
            seen[i] = folder
    return groups


def read_objectnet(bench: "Benchmark", root: Path) -> ImageDataset:
    """``objectnet-1.0/images/<folder>/*.png`` + ``objectnet-1.0/mappings/*``; classes without an
    ImageNet counterpart are left out; decided by the argmax over the model's 1000 classes."""
    from visaudit.data.labels import imagenet1k

    if (root / "objectnet-1.0").is_dir():
        root = root / "objectnet-1.0"
    folders, _ = _entries(bench, root, files_ok=True)  # the release has README and LICENSE beside
    if "images" not in folders or "mappings" not in folders:
        raise fail(bench, root, "no images/ and mappings/ folders")
    folder_label: dict[str, str] = json.loads((root / "mappings" / OBJECTNET_MAPPINGS[0]).read_text())
    groups = objectnet_groups(root / "mappings")
    present, _ = _entries(bench, root / "images")
    unknown = [f for f in present if f not in folder_label]
    if unknown or not present:
        raise fail(bench, root / "images", f"found {unknown[:3]}" if unknown else "found no class folder")
    inet = imagenet1k()
    mapped = sorted(groups, key=lambda f: folder_label[f])
    covered = {i for g in groups.values() for i in g}
    space = LabelSpace(
        f"objectnet{len(mapped)}",
        tuple(folder_label[f] for f in mapped) + (OTHER_CLASS,),
        tuple(mapped) + ("other",),
        tuple(groups[f] for f in mapped) + (tuple(i for i in range(len(inet)) if i not in covered),),
        parent="imagenet1k",
        rule="fine-argmax",
    )
    position = {f: j for j, f in enumerate(mapped)}
    files: list[Path] = []
    labels: list[int] = []
    left_out = 0
    for f in present:
        imgs = _images_only(bench, root / "images" / f)
        if f not in position:
            left_out += len(imgs)
            continue
        files += imgs
        labels += [position[f]] * len(imgs)
    if not files:
        raise fail(bench, root / "images", "no image of a class with an ImageNet counterpart")
    n_here = len({*labels})
    note = _partial_note(bench, n_here, len(mapped), len(files))
    note += f"; {left_out} images of classes without an ImageNet counterpart left out; the 1px border is cropped"
    return ImageDataset(
        name=bench.name,
        label_space=space,
        labels=np.asarray(labels, dtype=np.int64),
        ids=[p.relative_to(root).as_posix() for p in files],
        load=_CropLoader([str(p) for p in files], 1),
        path=str(root),
        fingerprint_parts=[
            *file_listing(root, files),
            *file_listing(root, [root / "mappings" / m for m in OBJECTNET_MAPPINGS]),
        ],
        note=note,
        layout=bench.layout,
    )


# -- arrays: CIFAR-10.1 and CIFAR-10-C ---------------------------------------------------------------


def _load_uint8_images(bench: "Benchmark", path: Path) -> np.ndarray:
    arr: np.ndarray = np.load(path, mmap_mode="r", allow_pickle=False)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[3] != 3:
        raise fail(bench, path, f"an array of {arr.dtype} {tuple(arr.shape)}, not uint8 (N, H, W, 3) images")
    return arr


def _load_labels(bench: "Benchmark", path: Path, n: int, n_classes: int) -> np.ndarray:
    labels: np.ndarray = np.load(path, allow_pickle=False)
    if labels.ndim != 1 or labels.shape[0] != n or not np.issubdtype(labels.dtype, np.integer):
        raise fail(bench, path, f"labels {labels.dtype} {tuple(labels.shape)} for {n} images")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise fail(bench, path, f"labels outside 0..{n_classes - 1}")
    return labels.astype(np.int64)


class _NpyLoader:
    """Picklable loader of rows of ``.npy`` image arrays (memory-mapped on first use)."""

    def __init__(self, files: list[str], rows: np.ndarray, which: np.ndarray) -> None:
        self.files, self.rows, self.which = files, rows, which
        self._maps: dict[int, np.ndarray] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"files": self.files, "rows": self.rows, "which": self.which, "_maps": {}}

    def __call__(self, i: int) -> Any:
        from PIL import Image

        k = int(self.which[i])
        if k not in self._maps:
            self._maps[k] = np.load(self.files[k], mmap_mode="r", allow_pickle=False)
        return Image.fromarray(np.asarray(self._maps[k][int(self.rows[i])]), mode="RGB")


def _array_benchmark(
    bench: "Benchmark",
    root: Path,
    files: list[Path],
    per_file: list[int],
    labels: np.ndarray,
    conditions: list[str],
    note: str,
) -> ImageDataset:
    from visaudit.data.labels import label_space

    which = np.concatenate([np.full(n, k, dtype=np.int64) for k, n in enumerate(per_file)])
    rows = np.concatenate([np.arange(n, dtype=np.int64) for n in per_file])
    ids = [f"{files[int(k)].stem}/{int(r)}" for k, r in zip(which, rows)]
    return ImageDataset(
        name=bench.name,
        label_space=label_space(bench.space),
        labels=labels,
        ids=ids,
        load=_NpyLoader([str(f) for f in files], rows, which),
        path=str(root),
        resize_policy="direct",
        fingerprint_parts=file_listing(root, sorted({*files, *(root / f for f in bench.files[1:])})),
        note=note,
        conditions=tuple(conditions),
        layout=bench.layout,
    )


def read_npy_pair(bench: "Benchmark", root: Path) -> ImageDataset:
    """``<root>/<images>.npy`` (uint8, N x 32 x 32 x 3) + ``<root>/<labels>.npy`` (CIFAR-10.1)."""
    from visaudit.data.labels import label_space

    data_f, labels_f = (root / f for f in bench.files)
    missing = [f.name for f in (data_f, labels_f) if not f.is_file()]
    if missing:
        raise fail(bench, root, f"no {', '.join(missing)}")
    images = _load_uint8_images(bench, data_f)
    labels = _load_labels(bench, labels_f, images.shape[0], len(label_space(bench.space)))
    note = f"{bench.description}; {bench.citation}; 32x32 arrays, resized straight to the model's input size"
    if images.shape[0] < bench.n_images:
        note += f"; this copy holds {images.shape[0]} of its {bench.n_images} images"
    return _array_benchmark(bench, root, [data_f], [images.shape[0]], labels, [], note)


def read_cifar10_c(bench: "Benchmark", root: Path) -> ImageDataset:
    """``<root>/<corruption>.npy`` (5 severities of N images, in order) + ``<root>/labels.npy``."""
    from visaudit.data.labels import label_space
    from visaudit.perturb.corruption_names import ALL

    _, names = _entries(bench, root, files_ok=True)
    stray = [n for n in names if n != "labels.npy" and not (n.endswith(".npy") and n[:-4] in ALL)]
    if stray or "labels.npy" not in names:
        raise fail(bench, root, f"unexpected files {stray[:3]}" if stray else "no labels.npy")
    files = [root / f"{c}.npy" for c in ALL if f"{c}.npy" in names]
    if not files:
        raise fail(bench, root, "no <corruption>.npy file")
    sizes = [_load_uint8_images(bench, f).shape[0] for f in files]
    if len(set(sizes)) != 1 or sizes[0] % 5:
        raise fail(
            bench, root, f"corruption arrays of {sorted(set(sizes))} images (5 equal severity blocks each expected)"
        )
    per = sizes[0] // 5
    labels = _load_labels(bench, root / "labels.npy", sizes[0], len(label_space(bench.space)))
    conditions = [f"{f.stem}/{s}" for f in files for s in range(1, 6) for _ in range(per)]
    note = f"{bench.description}; {bench.citation}; {len(files)} corruptions x 5 severities of {per} images"
    return _array_benchmark(bench, root, files, sizes, np.tile(labels, len(files)), conditions, note)


# -- ImageNet-C tree ----------------------------------------------------------------------------------


def read_imagenet_c(bench: "Benchmark", root: Path) -> ImageDataset:
    """``<root>/<corruption>/<severity 1..5>/<WNID>/<image>``: every stored condition, one sample each."""
    from visaudit.data.labels import imagenet1k
    from visaudit.perturb.corruption_names import ALL

    inet = imagenet1k()
    position = {w: i for i, w in enumerate(inet.ids)}
    corruptions, _ = _entries(bench, root)
    unknown = [c for c in corruptions if c not in ALL]
    if unknown or not corruptions:
        raise fail(bench, root, f"found {unknown[:3]}" if unknown else "found no corruption folder")
    files: list[Path] = []
    labels: list[int] = []
    conditions: list[str] = []
    for c in sorted(corruptions, key=ALL.index):
        severities, _ = _entries(bench, root / c)
        bad = [s for s in severities if s not in ("1", "2", "3", "4", "5")]
        if bad or not severities:
            raise fail(bench, root / c, f"found {bad[:3]}" if bad else "found no severity folder")
        for s in severities:
            wnids, _ = _entries(bench, root / c / s)
            bad = [w for w in wnids if w not in position]
            if bad or not wnids:
                raise fail(bench, root / c / s, f"found {bad[:3]}" if bad else "found no class folder")
            for w in wnids:
                imgs = _images_only(bench, root / c / s / w)
                files += imgs
                labels += [position[w]] * len(imgs)
                conditions += [f"{c}/{s}"] * len(imgs)
    from visaudit.data.folders import _file_dataset

    n_cond = len(set(conditions))
    note = f"{bench.description}; {bench.citation}; {n_cond} stored conditions; 224 px files resized straight to the model's input"
    ds = _file_dataset(bench.name, root, files, labels, inet, "direct", note)
    return replace(ds, conditions=tuple(conditions), layout=bench.layout)


# -- model-vs-human ---------------------------------------------------------------------------------


def mvh_fields(file_name: str) -> tuple[str, str, str]:
    """(condition, category, stimulus) of a model-vs-human file name.

    The release names each image ``<trial>_<experiment>_<subject>_<condition>_<category>_<xx>_<stimulus>``
    (e.g. ``0001_cop_dnn_c30_knife_10_n03041632_7380.png``); the stimulus part is what a human
    trial's ``imagename`` shares with the DNN copy of the same image.
    """
    parts = Path(file_name).name.split("_", 6)
    if len(parts) < 7:
        raise ValueError(file_name)
    return parts[3], parts[4], parts[6]


def read_mvh(bench: "Benchmark", root: Path) -> ImageDataset:
    """model-vs-human's release: ``<dataset>/dnn/session-N/<files>`` (category and condition in the file
    name) or, for edge/silhouette/cue-conflict, ``<dataset>/<category>/<files>``; 16-class."""
    from visaudit.data.folders import _file_dataset
    from visaudit.data.labels import imagenet16

    space = imagenet16()
    files: list[Path] = []
    labels: list[int] = []
    conditions: list[str] = []
    if bench.layout == "mvh-sessions":
        top, _ = _entries(bench, root)
        if top != ["dnn"]:
            raise fail(bench, root, f"found {top[:3]}")
        sessions, _ = _entries(bench, root / "dnn")
        bad = [s for s in sessions if not s.startswith("session-")]
        if bad or not sessions:
            raise fail(bench, root / "dnn", f"found {bad[:3]}" if bad else "found no session folder")
        for s in sessions:
            for f in _images_only(bench, root / "dnn" / s):
                try:
                    condition, category, _ = mvh_fields(f.name)
                except ValueError:
                    raise fail(bench, f.parent, f"file name {f.name!r} has no condition and category fields") from None
                label = space.index_of(category)
                if label is None:
                    raise fail(bench, f.parent, f"{f.name!r} names category {category!r}, not one of the 16")
                files.append(f)
                labels.append(label)
                conditions.append(condition)
    else:
        cats, _ = _entries(bench, root)
        bad = [c for c in cats if space.index_of(c) is None]
        if bad or not cats:
            raise fail(bench, root, f"found {bad[:3]}" if bad else "found no category folder")
        for c in cats:
            imgs = _images_only(bench, root / c)
            files += imgs
            labels += [int(space.index_of(c) or 0)] * len(imgs)
    if not files:
        raise fail(bench, root, "no image")
    note = _partial_note(bench, len(set(labels)), len(space), len(files))
    note += (
        "; 224x224 stimuli, resized straight to the model's input size, decided by the 1000 -> 16 mean-probability rule"
    )
    ds = _file_dataset(bench.name, root, files, labels, space, "direct", note)
    if bench.humans == "cue-conflict":  # the texture label, as for visaudit's cue-conflict (shape bias)
        from visaudit.data.builtin import texture_labels

        ds.aux_labels["texture"] = texture_labels(ds.ids, space)
    return replace(ds, conditions=tuple(conditions), layout=bench.layout)


# -- class folders ---------------------------------------------------------------------------------


def read_class_folders(bench: "Benchmark", root: Path) -> ImageDataset:
    """``<root>/<WNID>/<image>`` or ``<root>/<0..999>/<image>``, full or declared protocol."""
    from visaudit.data.folders import _file_dataset
    from visaudit.data.labels import imagenet1k, subset_space

    inet = imagenet1k()
    folders, _ = _entries(bench, root, what="class folders")
    if bench.layout == "index-folders":
        bad = [f for f in folders if not (f.isdigit() and 0 <= int(f) < 1000 and str(int(f)) == f)]
        index = {f: int(f) for f in folders if f not in bad}
    else:
        position = {w: i for i, w in enumerate(inet.ids)}
        bad = [f for f in folders if f not in position]
        index = {f: position[f] for f in folders if f not in bad}
    declared = declared_indices(bench, inet.ids) if bench.protocol == "declared" else None
    if declared is not None:
        bad += [f for f, i in index.items() if i not in set(declared)]
    if bad or not folders:
        raise fail(bench, root, f"found {bad[:3]}" if bad else "found no class folder")
    files: list[Path] = []
    labels: list[int] = []
    for f in folders:
        imgs = _images_only(bench, root / f)
        files += imgs
        labels += [index[f]] * len(imgs)
    if not files:
        raise fail(bench, root, "no images")
    space = inet
    if declared is not None:
        space = subset_space(inet, declared)
        remap = {old: new for new, old in enumerate(sorted(declared))}
        labels = [remap[v] for v in labels]
    note = _partial_note(bench, len(folders), len(space), len(files))
    ds = _file_dataset(bench.name, root, files, labels, space, "model", note)
    ds = replace(ds, layout=bench.layout)
    return replace(ds, label_subset="declared") if declared is not None else ds


def declared_indices(bench: "Benchmark", wnids: tuple[str, ...] | list[str]) -> list[int]:
    """The ImageNet-1k indices of a declared-protocol benchmark's classes (timm's packaged lists)."""
    from visaudit.data.labels import _timm_info_file

    listed = _timm_info_file(bench.classes_file).read_text().split()
    position = {w: i for i, w in enumerate(wnids)}
    unknown = [w for w in listed if w not in position]
    if unknown:
        raise VisauditError(f"{bench.classes_file} names {unknown[:3]}, which are not ImageNet-1k classes")
    return sorted(position[w] for w in listed)


READERS: dict[str, Reader] = {
    "wnid-folders": read_class_folders,
    "index-folders": read_class_folders,
    "objectnet": read_objectnet,
    "npy-pair": read_npy_pair,
    "cifar10-c": read_cifar10_c,
    "imagenet-c": read_imagenet_c,
    "mvh-sessions": read_mvh,
    "mvh-folders": read_mvh,
}
