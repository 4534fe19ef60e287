"""Benchmarks by name, as data: one :class:`Benchmark` entry each, one reader per on-disk layout.

An entry says where the benchmark lives under the data root, its on-disk layout, its label
protocol, where users download it (and its sha256 where one is published), its licence,
citation and size. :func:`open_benchmark` resolves any entry (explicit path > ``VISAUDIT_DATA``
> cache > download checked by sha256) and reads it with its layout's reader
(:mod:`visaudit.data.benchmark_layouts`):

- ``wnid-folders``: ``<root>/<WNID>/<image>`` (ImageNet-R, -A, -Sketch, Stylized-ImageNet);
- ``index-folders``: ``<root>/<0..999>/<image>`` (ImageNetV2);
- ``objectnet``: ``objectnet-1.0/images/<folder>/*.png`` with the release's ``mappings/``;
- ``npy-pair``: an image array and a label array (CIFAR-10.1);
- ``imagenet-c`` / ``cifar10-c``: stored corrupted copies (a tree of JPEGs / one array per
  corruption), each sample tagged with its ``<corruption>/<severity>`` condition, scored by
  the ``corruptions`` probe;
- ``mvh-sessions`` / ``mvh-folders``: model-vs-human's release archives, 16-class.

Protocols: ``full`` (the model's 1000 classes), ``declared`` (ImageNet-R's and -A's 200: softmax
and argmax over those classes' logits), ``objectnet`` (113 classes: right when the argmax over
1000 falls in the class's mapped ImageNet set), ``16-class`` (mean probability over each
category's ImageNet classes) and ``cifar10``.

None of these is downloaded automatically: no entry's archive has a published sha256 (searched
for each; see the entries), so a missing copy is reported with its download location and the
setting to use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from visaudit.data.base import ImageDataset
from visaudit.data.resolver import Remote


@dataclass(frozen=True)
class Benchmark:
    """One benchmark definition.

    Attributes:
        name: the dataset name (``-d NAME``).
        layout: the on-disk layout (a key of ``benchmark_layouts.READERS``).
        protocol: ``full``, ``declared``, ``objectnet``, ``16-class`` or ``cifar10``.
        url: where users get it.
        licence: its licence, as published.
        citation: the paper.
        n_images: images of the complete release.
        classes_file: for ``declared``, the WNID list in timm's ``data/_info`` folder.
        description: one line for ``visaudit list datasets``.
        path: the folder under the data root (default: the name).
        files: for ``npy-pair``, the image and label file names.
        space: label space of array layouts.
        humans: model-vs-human's raw-data folder of the observers' decisions on it, if any.
        remote: the download with its published sha256, where one exists.
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
    path: str = ""
    files: tuple[str, ...] = ()
    space: str = "imagenet1k"
    humans: str = ""
    remote: Remote | None = None

    @property
    def relpath(self) -> str:
        """Where it lives under the data root."""
        return self.path or self.name

    @property
    def layout_text(self) -> str:
        """The expected layout in words (for errors)."""
        text = LAYOUT_TEXT[self.layout]
        if self.protocol == "declared":
            text += f", the WNIDs among the benchmark's {self.classes_file.split('_synsets')[0]} classes"
        return text


LAYOUT_TEXT = {
    "wnid-folders": "one folder per WNID (n01440764, ...), holding its images",
    "index-folders": "one folder per ImageNet-1k class index, named 0 to 999, holding its images",
    "objectnet": "objectnet-1.0/images/<ObjectNet class folder>/*.png and objectnet-1.0/mappings/ "
    "(folder_to_objectnet_label.json, objectnet_to_imagenet_1k.json, imagenet_to_label_2012_v2, "
    "pytorch_to_imagenet_2012_id.json)",
    "npy-pair": "the image array (uint8, N x 32 x 32 x 3) and the label array as .npy files",
    "imagenet-c": "<corruption>/<severity 1..5>/<WNID>/<image> for the 15 benchmark and 4 extra corruptions",
    "cifar10-c": "<corruption>.npy (uint8, 5 x N x 32 x 32 x 3, severities 1..5 in order) and labels.npy",
    "mvh-sessions": "dnn/session-N/<NNNN>_<experiment>_dnn_<condition>_<category>_<xx>_<stimulus> image files",
    "mvh-folders": "one folder per 16-class category (airplane, bear, ...), holding its images",
}

_V2 = "https://huggingface.co/datasets/vaishaal/ImageNetV2 (imagenetv2-{}.tar.gz)"
_V2_CITE = "Recht et al., Do ImageNet Classifiers Generalize to ImageNet? ICML 2019"
_C_CITE = (
    "Hendrycks & Dietterich, Benchmarking Neural Network Robustness to Common Corruptions and Perturbations, ICLR 2019"
)
_MVH = "https://github.com/bethgelab/model-vs-human/releases/download/v0.1/{}.tar.gz (no published checksum)"
_MVH_CITE = "Geirhos et al., Partial success in closing the gap between human and machine vision, NeurIPS 2021"
_MVH_LICENCE = {
    "edge": "CC BY 4.0 (texture-vs-shape stimuli)",
    "silhouette": "CC BY 4.0 (texture-vs-shape stimuli)",
    "cue-conflict": "CC BY 4.0 (texture-vs-shape stimuli)",
    "sketch": "MIT (ImageNet-Sketch)",
    "stylized": "based on ImageNet: the ImageNet terms",
}

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
    Benchmark(
        "stylized-imagenet",
        "wnid-folders",
        "full",
        "https://github.com/rgeirhos/Stylized-ImageNet (made locally with its code from ImageNet val; not distributed)",
        "code MIT; the images derive from ImageNet (its terms) and Painter by Numbers",
        "Geirhos et al., ImageNet-trained CNNs are biased towards texture; increasing shape bias "
        "improves accuracy and robustness, ICLR 2019",
        50000,
        description="Stylized-ImageNet val (AdaIN style transfer), all 1000 classes",
    ),
    Benchmark(
        "objectnet",
        "objectnet",
        "objectnet",
        "https://objectnet.dev (objectnet-1.0.zip, unpacks to objectnet-1.0/)",
        "ObjectNet licence: evaluation only, never training (the release's LICENSE)",
        "Barbu et al., ObjectNet: A large-scale bias-controlled dataset for pushing the limits of "
        "object recognition models, NeurIPS 2019",
        50000,
        description="ObjectNet, its 113 classes with an ImageNet counterpart (argmax over 1000 in the mapped set)",
    ),
    Benchmark(
        "cifar10.1",
        "npy-pair",
        "cifar10",
        "https://github.com/modestyachts/CIFAR-10.1 (datasets/cifar10.1_v6_data.npy, cifar10.1_v6_labels.npy; "
        "no published checksum)",
        "see the repository (images from the Tiny Images collection)",
        "Recht et al., Do CIFAR-10 Classifiers Generalize to CIFAR-10? arXiv:1806.00451, 2018",
        2000,
        description="CIFAR-10.1 v6, a new CIFAR-10 test set (CIFAR-10 classes)",
        files=("cifar10.1_v6_data.npy", "cifar10.1_v6_labels.npy"),
        space="cifar10",
    ),
    Benchmark(
        "imagenet-c",
        "imagenet-c",
        "full",
        "https://zenodo.org/record/2235448 (blur, digital, extra, noise, weather .tar)",
        "CC BY 4.0",
        _C_CITE,
        50000 * 19 * 5,
        description="ImageNet-C stored copy, 15 x 5 benchmark + 4 x 5 extra conditions (corruptions probe)",
    ),
    Benchmark(
        "cifar10-c",
        "cifar10-c",
        "cifar10",
        "https://zenodo.org/record/2535967 (CIFAR-10-C.tar)",
        "CC BY 4.0",
        _C_CITE,
        10000 * 19 * 5,
        description="CIFAR-10-C stored arrays, 15 x 5 benchmark + 4 x 5 extra conditions (corruptions probe)",
        space="cifar10",
    ),
    *(
        Benchmark(
            f"mvh-{ds}",
            "mvh-folders" if ds in ("edge", "silhouette", "cue-conflict") else "mvh-sessions",
            "16-class",
            _MVH.format(ds),
            _MVH_LICENCE.get(ds, "based on ImageNet: the ImageNet terms"),
            _MVH_CITE,
            n,
            description=f"model-vs-human {ds}, 16 classes, condition per file",
            path=f"model-vs-human/{ds}",
            humans=ds,
        )
        for ds, n in {
            "colour": 1280,
            "contrast": 1280,
            "high-pass": 1280,
            "low-pass": 1280,
            "phase-scrambling": 1120,
            "power-equalisation": 1120,
            "false-colour": 1120,
            "rotation": 1280,
            "eidolonI": 1280,
            "eidolonII": 1280,
            "eidolonIII": 1280,
            "uniform-noise": 1280,
            "sketch": 800,
            "stylized": 800,
            "edge": 160,
            "silhouette": 160,
            "cue-conflict": 1280,
        }.items()
    ),
)

BY_NAME = {b.name: b for b in BENCHMARKS}

#: model-vs-human dataset -> the visaudit dataset of the same stimuli (where the shared human decisions are).
MVH_VISAUDIT_NAMES = {"edge": "edges", "silhouette": "silhouettes", "cue-conflict": "cue-conflict"}


def mvh_dataset_of(name: str) -> str | None:
    """model-vs-human's dataset (raw-data folder) for a visaudit dataset name, or None.

    Example:
        >>> mvh_dataset_of("edges"), mvh_dataset_of("mvh-contrast"), mvh_dataset_of("cifar10-test")
        ('edge', 'contrast', None)
    """
    by_visaudit = {v: k for k, v in MVH_VISAUDIT_NAMES.items()}
    if name in by_visaudit:
        return by_visaudit[name]
    bench = BY_NAME.get(name)
    return bench.humans or None if bench else None


def visaudit_dataset_of_mvh(mvh: str) -> str | None:
    """The visaudit dataset of a model-vs-human dataset name (the built-in stimuli where they exist).

    Example:
        >>> visaudit_dataset_of_mvh("edge"), visaudit_dataset_of_mvh("contrast"), visaudit_dataset_of_mvh("x")
        ('edges', 'mvh-contrast', None)
    """
    if mvh in MVH_VISAUDIT_NAMES:
        return MVH_VISAUDIT_NAMES[mvh]
    return f"mvh-{mvh}" if f"mvh-{mvh}" in BY_NAME else None


def open_benchmark(name: str, path: Path | None = None) -> ImageDataset:
    """The benchmark ``name`` from ``path`` or the data root, in its declared label protocol.

    Raises:
        DataNotFoundError: no copy found (names the setting and the download location).
        VisauditError: the copy does not have the benchmark's layout (names the layout).
    """
    from visaudit.data.benchmark_layouts import READERS
    from visaudit.data.resolver import resolve

    bench = BY_NAME[name]
    fetched = "checked by sha256" if bench.remote else "not fetched automatically"
    root = (
        Path(path)
        if path
        else resolve(
            bench.relpath, kind="data", remote=bench.remote, what=f"benchmark {name} (download: {bench.url}; {fetched})"
        )
    )
    return READERS[bench.layout](bench, root)


def benchmark_dataset(bench: Benchmark, root: Path) -> ImageDataset:
    """Read ``root`` as ``bench`` (layout checked, labels in the benchmark's protocol)."""
    from visaudit.data.benchmark_layouts import READERS

    return READERS[bench.layout](bench, Path(root))
