"""Datasets on the real shared data, label spaces, and bad image files."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visaudit.data import open_dataset
from visaudit.data.base import ImageDecodeError, Preprocess, transform_image
from visaudit.data.folders import image_folder
from visaudit.data.labels import imagenet1k, imagenet16, label_map
from visaudit.errors import DataNotFoundError, LabelSpaceMismatch, UnknownNameError, VisauditError

DATA = Path(os.environ["VISAUDIT_DATA"])


def test_builtin_datasets_have_the_published_sizes_and_spaces():
    sizes = {"cue-conflict": 1280, "edges": 160, "silhouettes": 160, "cifar10-test": 10000, "fashion-mnist": 10000}
    for name, n in sizes.items():
        ds = open_dataset(name)
        assert len(ds) == n, name
        assert len(set(ds.ids)) == n, f"{name}: sample ids must be unique"
    assert open_dataset("cifar10-test").label_space.name == "cifar10"
    assert open_dataset("edges").label_space.name == "imagenet16"


def test_cue_conflict_labels_come_from_folder_and_file_name():
    ds = open_dataset("cue-conflict")
    space = ds.label_space
    i = ds.ids.index("airplane/airplane1-bicycle2.png")
    assert space.classes[ds.labels[i]] == "airplane"
    assert space.classes[ds.aux_labels["texture"][i]] == "bicycle"
    # 80 images have shape == texture (excluded from shape bias by the protocol)
    assert int((ds.labels == ds.aux_labels["texture"]).sum()) == 80
    assert np.bincount(ds.labels).tolist() == [80] * 16


def test_imagenet16_space_matches_the_category_table():
    table: dict[str, set[int]] = {}
    with open(DATA / "imagenet16-categories.csv") as f:
        for row in csv.DictReader(f):
            table.setdefault(row["category"], set()).add(int(row["imagenet_index"]))
    space = imagenet16()
    assert list(space.classes) == sorted(table)
    assert [set(g) for g in space.groups] == [table[c] for c in space.classes]
    assert sum(len(g) for g in space.groups) == 207


def test_imagenet1k_space_from_timm_metadata():
    space = imagenet1k()
    assert len(space) == 1000 and space.ids[0] == "n01440764" and space.ids[-1] == "n15075141"
    assert "tench" in space.classes[0]


def test_label_map_refuses_mismatched_spaces_with_a_helpful_message():
    with pytest.raises(LabelSpaceMismatch) as exc:
        label_map("cifar10", 10, imagenet16())
    assert "ImageNet-1k models" in str(exc.value)
    assert label_map("imagenet1k", 1000, imagenet16()).kind == "mean-prob"


def test_image_folder_infers_cifar10_space(tmp_path):
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        Image.new("RGB", (32, 32), (10, 20, 30)).save(tmp_path / cls / "a.png")
    ds = image_folder(tmp_path)
    assert ds.label_space.name == "cifar10"
    assert [ds.label_space.classes[lab] for lab in ds.labels] == ["cat", "dog"]


def test_wnid_folder_with_some_classes_is_scored_over_all_1000_unless_a_subset_is_asked(tmp_path):
    for wnid in ("n01443537", "n01440764"):
        (tmp_path / wnid).mkdir()
        Image.new("RGB", (40, 30)).save(tmp_path / wnid / "x.jpg")
    ds = image_folder(tmp_path)
    assert ds.label_space.name == "imagenet1k" and sorted(ds.labels.tolist()) == [0, 1]
    lm = label_map("imagenet1k", 1000, ds.label_space)
    assert lm.kind == "identity" and lm.protocol == "full (1000 classes)"
    sub = ds.with_label_subset()
    assert sub.label_subset == "requested" and len(sub.label_space) == 2
    lm = label_map("imagenet1k", 1000, sub.label_space)
    assert lm.kind == "subset" and lm.indices == [0, 1] and lm.describe()["protocol"].startswith("subset")
    assert sub.fingerprint() != ds.fingerprint()


def test_grayscale_and_rgba_images_are_converted(tmp_path):
    (tmp_path / "cat").mkdir()
    Image.new("L", (20, 20), 128).save(tmp_path / "cat" / "gray.png")
    rgba = Image.new("RGBA", (20, 20), (255, 0, 0, 0))  # fully transparent red -> white background
    rgba.save(tmp_path / "cat" / "rgba.png")
    ds = image_folder(tmp_path).bind(Preprocess((3, 20, 20), resize="direct"))
    gray, _, _ = ds[ds.ids.index("cat/gray.png")]
    clear, _, _ = ds[ds.ids.index("cat/rgba.png")]
    assert gray.shape == (3, 20, 20) and (gray == 128).all()
    assert (clear == 255).all()


def test_broken_images_are_skipped_or_fail_in_strict_mode(tmp_path):
    (tmp_path / "cat").mkdir()
    Image.new("RGB", (32, 32)).save(tmp_path / "cat" / "good.png")
    (tmp_path / "cat" / "garbage.jpg").write_bytes(b"this is not an image")
    full = DATA / "cifar10-test" / "cat" / "0000.jpg"
    (tmp_path / "cat" / "truncated.jpg").write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    ds = image_folder(tmp_path).bind(Preprocess((3, 32, 32), resize="direct"))
    results = {ds.ids[i]: ds[i][0] is None for i in range(len(ds))}
    assert results == {"cat/good.png": False, "cat/garbage.jpg": True, "cat/truncated.jpg": True}
    strict = image_folder(tmp_path).bind(Preprocess((3, 32, 32), resize="direct"), strict=True)
    with pytest.raises(ImageDecodeError, match="garbage.jpg"):
        strict[strict.ids.index("cat/garbage.jpg")]


def test_missing_empty_and_unknown_datasets_raise_clear_errors(tmp_path):
    with pytest.raises(DataNotFoundError):
        open_dataset(str(tmp_path / "nope"))
    with pytest.raises(VisauditError, match="empty"):
        open_dataset(str(tmp_path))
    with pytest.raises(UnknownNameError, match="Did you mean 'cifar10-test'"):
        open_dataset("cifar10-tset")


def test_unresolvable_dataset_names_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("VISAUDIT_DATA", str(tmp_path))
    monkeypatch.setenv("VISAUDIT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DataNotFoundError) as exc:
        open_dataset("edges")
    msg = str(exc.value)
    assert "VISAUDIT_DATA" in msg and "github.com/rgeirhos/texture-vs-shape" in msg


def test_timm_style_resize_and_centre_crop():
    img = Image.fromarray(np.arange(300 * 400 * 3, dtype=np.uint32).reshape(300, 400, 3).astype(np.uint8))
    out = transform_image(img, Preprocess((3, 224, 224), "bicubic", 0.875, "model"))
    assert out.shape == (3, 224, 224)
    same = transform_image(img.resize((224, 224)), Preprocess((3, 224, 224), resize="direct"))
    assert same.shape == (3, 224, 224)


def test_cifar10_binary_batches_match_the_image_folder(tmp_path):
    """The official binary format (label byte + 3072 planar bytes) read from a file we write."""
    folder = open_dataset("cifar10-test")
    picks = [0, 1500, 9999]
    rows = []
    for i in picks:
        img = np.asarray(Image.open(folder.path + "/" + folder.ids[i]).convert("RGB"))
        rows.append(np.concatenate([[folder.labels[i]], img.transpose(2, 0, 1).ravel()]).astype(np.uint8))
    (tmp_path / "cifar-10-batches-bin").mkdir()
    (tmp_path / "cifar-10-batches-bin" / "test_batch.bin").write_bytes(np.stack(rows).tobytes())
    ds = open_dataset("cifar10-test", path=tmp_path)
    assert len(ds) == 3 and ds.labels.tolist() == [int(folder.labels[i]) for i in picks]
    bound = ds.bind(Preprocess((3, 32, 32), resize="direct"))
    ref = folder.bind(Preprocess((3, 32, 32), resize="direct"))
    assert np.array_equal(bound[1][0], ref[1500][0])


def test_cifar10_pickle_release_is_refused(tmp_path):
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"\x80\x04pickled")
    with pytest.raises(VisauditError, match="refuses to unpickle"):
        open_dataset("cifar10-test", path=tmp_path)


def test_imagenet_flat_folder_with_ground_truth(tmp_path):
    for i in range(3):
        Image.new("RGB", (50, 40)).save(tmp_path / f"ILSVRC2012_val_0000000{i + 1}.JPEG")
    (tmp_path / "LOC_val_solution.csv").write_text(
        "ImageId,PredictionString\n"
        "ILSVRC2012_val_00000001,n01751748 1 2 3 4\n"
        "ILSVRC2012_val_00000002,n09193705 1 2 3 4\n"
        "ILSVRC2012_val_00000003,n01440764 1 2 3 4\n"
    )
    ds = open_dataset(str(tmp_path))
    inet = imagenet1k()
    assert ds.label_space.name == "imagenet1k"
    assert [inet.ids[lab] for lab in ds.labels] == ["n01751748", "n09193705", "n01440764"]


def test_fashion_mnist_idx_is_read_and_converted_to_rgb():
    ds = open_dataset("fashion-mnist").bind(Preprocess((3, 32, 32), resize="direct"))
    x, y, _ = ds[0]
    assert x.shape == (3, 32, 32) and (x[0] == x[1]).all() and y == 9  # first test image is an ankle boot
