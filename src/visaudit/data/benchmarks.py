"""Natural-shift benchmarks by name, as data: one :class:`Benchmark` entry each, one loader for all.

An entry says where the benchmark lives under the data root, its on-disk layout, its label
protocol, where users download it, its licence, citation and size. :func:`open_benchmark`
reads any entry:

- layout ``wnid-folders``: ``<root>/<WNID>/<image>`` (ImageNet-R, ImageNet-A, ImageNet-Sketch);
- layout ``index-folders``: ``<root>/<0..999>/<image>``, the folder is the ImageNet-1k index
  (ImageNetV2);
- protocol ``full``: scored over the model's 1000 classes;
- protocol ``declared``: scored over the benchmark's own classes (ImageNet-R's and ImageNet-A's
  200), whichever of them a copy holds: softmax and argmax over the declared classes' logits,
  as the benchmarks' own evaluation code does. The class lists are timm's packaged copies.

None of these is downloaded automatically (the archives are tarballs without a published
checksum): a missing benchmark is reported with its download location and the setting to use.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from visaudit.data.base import ImageDataset
from visaudit.errors import VisauditError


@dataclass(frozen=True)
class Benchmark:
    """One benchmark definition.

    Attributes:
        name: the dataset name (``-d NAME``) and the folder under the data root.
        layout: ``wnid-folders`` or ``index-folders``.
        protocol: ``full`` or ``declared``.
        classes_file: for ``declared``, the WNID list in timm's ``data/_info`` folder.
        url: where users get it.
        licence: its licence, as published.
        citation: the paper.
        n_images: images of the complete release.
    """

    name: str
    layout: str
    protocol: str
    url: str
    licence: str
    citation: str
    n_images: int
    classes_file: str = ""
    description: str = ""


_V2 = "https://huggingface.co/datasets/vaishaal/ImageNetV2 (imagenetv2-{}.tar.gz)"
_V2_CITE = "Recht et al., Do ImageNet Classifiers Generalize to ImageNet? ICML 2019"

BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "imagenet-r",
        "wnid-folders",
        "declared",
        "https://people.eecs.berkeley.edu/~hendrycks/imagenet-r.tar",
        "see the release (images collected from the web)",
        "Hendrycks et al., The Many Faces of Robustness, ICCV 2021",
        30000,
        classes_file="imagenet_r_synsets.txt",
        description="ImageNet-R renditions, 200 declared classes",
    ),
    Benchmark(
        "imagenet-a",
        "wnid-folders",
        "declared",
        "https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar",
        "MIT (the release's LICENSE)",
        "Hendrycks et al., Natural Adversarial Examples, CVPR 2021",
        7500,
        classes_file="imagenet_a_synsets.txt",
        description="ImageNet-A natural adversarial examples, 200 declared classes",
    ),
    Benchmark(
        "imagenet-sketch",
        "wnid-folders",
        "full",
        "https://github.com/HaohanWang/ImageNet-Sketch (sketch/<WNID>/*.JPEG)",
        "MIT",
        "Wang et al., Learning Robust Global Representations by Penalizing Local Predictive Power, NeurIPS 2019",
        50889,
        description="ImageNet-Sketch, all 1000 classes",
    ),
    *(
        Benchmark(
            f"imagenet-v2-{variant}",
            "index-folders",
            "full",
            _V2.format(variant),
            "MIT (images: see the release)",
            _V2_CITE,
            10000,
            description=f"ImageNetV2 {variant}, all 1000 classes (folders are class indices)",
        )
        for variant in ("matched-frequency", "threshold0.7", "top-images")
    ),
)

BY_NAME = {b.name: b for b in BENCHMARKS}


def open_benchmark(name: str, path: Path | None = None) -> ImageDataset:
    """The benchmark ``name`` from ``path`` or the data root, in its declared label protocol."""
    from visaudit.data.resolver import resolve

    bench = BY_NAME[name]
    root = (
        Path(path)
        if path
        else resolve(name, kind="data", what=f"benchmark {name} (download: {bench.url}; not fetched automatically)")
    )
    return benchmark_dataset(bench, root)


def benchmark_dataset(bench: Benchmark, root: Path) -> ImageDataset:
    """Read ``root`` as ``bench`` (layout checked, labels in the benchmark's protocol)."""
    from visaudit.data.folders import _file_dataset, list_images
    from visaudit.data.labels import imagenet1k, subset_space

    if not root.is_dir():
        raise VisauditError(f"benchmark {bench.name}: {root} is not a folder ({_layout_text(bench)})")
    inet = imagenet1k()
    folders = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    stray = sorted(p.name for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
    if stray:
        raise VisauditError(
            f"benchmark {bench.name}: {root} holds files {stray[:3]} outside class folders; {_layout_text(bench)}"
        )
    if bench.layout == "index-folders":
        bad = [f for f in folders if not (f.isdigit() and 0 <= int(f) < 1000 and str(int(f)) == f)]
        index = {f: int(f) for f in folders if f not in bad}
    else:
        position = {w: i for i, w in enumerate(inet.ids)}
        bad = [f for f in folders if f not in position]
        index = {f: position[f] for f in folders if f not in bad}
    declared = _declared_indices(bench, inet.ids) if bench.protocol == "declared" else None
    if declared is not None:
        bad += [f for f, i in index.items() if i not in set(declared)]
    if bad or not folders:
        found = f"found {bad[:3]}" if bad else "found no class folder"
        raise VisauditError(f"benchmark {bench.name}: {root}: {found}; {_layout_text(bench)}")
    files: list[Path] = []
    labels: list[int] = []
    for f in folders:
        imgs = list_images(root / f)
        files += imgs
        labels += [index[f]] * len(imgs)
    if not files:
        raise VisauditError(f"benchmark {bench.name}: {root} holds no images")
    space = inet
    n_classes = 1000
    if declared is not None:
        space = subset_space(inet, declared)
        remap = {old: new for new, old in enumerate(sorted(declared))}
        labels = [remap[v] for v in labels]
        n_classes = len(declared)
    note = f"{bench.description}; {bench.citation}"
    present = len(folders)
    if present < n_classes:
        note += f"; this copy holds {present} of its {n_classes} classes ({len(files)} of {bench.n_images} images)"
    ds = _file_dataset(bench.name, root, files, labels, space, "model", note)
    return replace(ds, label_subset="declared") if declared is not None else ds


def _declared_indices(bench: Benchmark, wnids: tuple[str, ...] | list[str]) -> list[int]:
    from visaudit.data.labels import _timm_info_file

    listed = _timm_info_file(bench.classes_file).read_text().split()
    position = {w: i for i, w in enumerate(wnids)}
    unknown = [w for w in listed if w not in position]
    if unknown:
        raise VisauditError(f"{bench.classes_file} names {unknown[:3]}, which are not ImageNet-1k classes")
    return sorted(position[w] for w in listed)


def _layout_text(bench: Benchmark) -> str:
    if bench.layout == "index-folders":
        what = "one folder per ImageNet-1k class index, named 0 to 999, holding its images"
    else:
        what = "one folder per WNID (n01440764, ...), holding its images"
        if bench.protocol == "declared":
            what += f", the WNIDs among the benchmark's {bench.classes_file.split('_synsets')[0]} classes"
    return f"expected the layout of {bench.url}: {what}"
