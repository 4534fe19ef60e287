"""Named natural-shift benchmarks: a miniature of each, in its on-disk layout and made of real
images, scores exactly what a plain timm loop scores under the benchmark's label protocol."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import visaudit
from visaudit.data.benchmarks import BENCHMARKS, BY_NAME, Benchmark
from visaudit.data.catalog import open_dataset
from visaudit.errors import VisauditError

DATA = Path(os.environ["VISAUDIT_DATA"])
# real images standing in for each benchmark's: silhouettes as renditions for R, cue-conflict otherwise
SOURCE = {"imagenet-r": "silhouettes"}
CATEGORIES = ("cat", "dog", "bird", "car", "airplane", "bear")


def _declared(bench: Benchmark) -> list[str]:
    import timm

    path = Path(timm.__file__).parent / "data" / "_info" / bench.classes_file
    return path.read_text().split()


def _miniature(bench: Benchmark, root: Path, per_class: int = 10) -> Path:
    """``root/<name>/<class folder>/<image>``: real 16-class stimuli of a category under the one
    ImageNet class of that category (among the benchmark's) that a plain timm loop picks most
    often for them, so that the model gets some right and the protocol shows in the score."""
    from PIL import Image

    from visaudit.data.labels import imagenet1k, imagenet16

    inet, cats = imagenet1k(), imagenet16()
    allowed = set(_declared(bench)) if bench.protocol == "declared" else set(inet.ids)
    net, transform = _timm_net()
    folder = root / bench.name
    made = 0
    for cat in CATEGORIES:
        group = [i for i in cats.groups[cats.classes.index(cat)] if inet.ids[i] in allowed]
        if not group:
            continue
        src = sorted((DATA / SOURCE.get(bench.name, "cue-conflict") / cat).glob("*.png"))[:per_class]
        with torch.inference_mode():
            x = torch.stack([transform(Image.open(f).convert("RGB")) for f in src])
            probs = net(x).softmax(1)[:, group].sum(0)
        best = group[int(probs.argmax())]
        name = inet.ids[best] if bench.layout == "wnid-folders" else str(best)
        (folder / name).mkdir(parents=True)
        for f in src:
            shutil.copy(f, folder / name / f.name)
        made += 1
    assert made >= 3, f"too few categories for {bench.name}"
    return folder


def _timm_net():
    import timm.data

    from visaudit.models import load_model

    net = load_model("efficientnet_lite0").net.eval()  # the zoo's weights in timm's architecture
    return net, timm.data.create_transform(**timm.data.resolve_data_config({}, model=net))


def _plain_timm_loop(folder: Path, bench: Benchmark) -> float:
    """Top-1 with timm's eval transform and argmax over the protocol's classes; no visaudit code."""
    from torchvision.datasets import ImageFolder

    from visaudit.data.labels import imagenet1k

    net, transform = _timm_net()
    ds = ImageFolder(str(folder), transform=transform)
    wnids = list(imagenet1k().ids)
    to_1k = np.array([int(c) if bench.layout == "index-folders" else wnids.index(c) for c in ds.classes])
    keep = np.arange(1000)
    if bench.protocol == "declared":
        keep = np.array(sorted(wnids.index(w) for w in _declared(bench)))
    correct = n = 0
    with torch.inference_mode():
        for x, y in torch.utils.data.DataLoader(ds, batch_size=32):
            pred = keep[net(x).numpy()[:, keep].argmax(1)]
            correct += int((pred == to_1k[y.numpy()]).sum())
            n += len(y)
    return correct / n


@pytest.mark.slow
@pytest.mark.parametrize("name", [b.name for b in BENCHMARKS if b.layout in ("wnid-folders", "index-folders")])
def test_a_miniature_scores_what_a_plain_timm_loop_scores_under_the_declared_protocol(name, tmp_path, monkeypatch):
    bench = BY_NAME[name]
    _miniature(bench, tmp_path)
    monkeypatch.setenv("VISAUDIT_DATA", f"{tmp_path}{os.pathsep}{DATA}")
    rec = visaudit.audit("efficientnet_lite0", "accuracy", name, store=tmp_path / "store", workers=0).records[0]
    assert rec["status"] == "ok", rec.get("error")
    assert rec["metrics"]["top1"] == pytest.approx(_plain_timm_loop(tmp_path / name, bench), abs=1e-12)
    if bench.protocol == "declared":
        assert rec["dataset"]["label_subset"] == "declared" and rec["label_map"]["n_classes"] == 200
    else:
        assert rec["label_map"]["kind"] == "identity" and rec["dataset"]["label_subset"] is None
    assert "of its" in rec["dataset"]["note"]  # a partial copy says so


@pytest.mark.slow
def test_declared_protocol_keeps_all_200_classes_whichever_a_copy_holds(tmp_path):
    ds = open_dataset("imagenet-r", path=_miniature(BY_NAME["imagenet-r"], tmp_path, per_class=1))
    assert len(ds.label_space) == 200 and ds.label_subset == "declared"
    assert len(set(ds.labels.tolist())) < 10  # the miniature's few classes, labelled among the 200


@pytest.mark.slow
def test_a_folder_outside_the_declared_classes_or_a_stray_file_names_the_layout(tmp_path):
    from visaudit.data.labels import imagenet1k

    r = BY_NAME["imagenet-r"]
    outside = next(w for w in imagenet1k().ids if w not in set(_declared(r)))
    root = _miniature(r, tmp_path, per_class=1)
    (root / outside).mkdir()
    with pytest.raises(VisauditError, match=f"{outside}.*expected the layout"):
        open_dataset("imagenet-r", path=root)
    shutil.rmtree(root / outside)
    (root / "README.txt").write_text("not an image")
    with pytest.raises(VisauditError, match="outside class folders"):
        open_dataset("imagenet-r", path=root)
    v2 = tmp_path / "v2"
    (v2 / "n01440764").mkdir(parents=True)
    with pytest.raises(VisauditError, match="named 0 to 999"):
        open_dataset("imagenet-v2-matched-frequency", path=v2)


def test_a_missing_benchmark_names_its_download_and_the_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("VISAUDIT_DATA", str(tmp_path))
    monkeypatch.setenv("VISAUDIT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(VisauditError, match="hendrycks/imagenet-a.tar.*VISAUDIT_DATA"):
        open_dataset("imagenet-a")
