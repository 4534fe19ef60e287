"""The engine contract: the label protocol, everything that changes a number in the key, results
that do not depend on batching or chunking, and resumes that equal a clean run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import visaudit
from tests.helpers import cli_argv, start_and_kill
from visaudit.api import plan
from visaudit.engine.options import RunOptions
from visaudit.engine.store import Store

DATA = Path(os.environ["VISAUDIT_DATA"])


def _keys(models, probes, datasets, probe_config=None, **opts) -> list[str]:
    jobs, _, _ = plan([models], [probes], list(datasets), RunOptions(**opts), probe_config=probe_config)
    return [j.key for j in jobs]


# -- 1. the label protocol ------------------------------------------------------------------------


def _wnid_folder(root: Path, per_class: int = 30) -> dict[str, int]:
    """A slice of 'ImageNet' in its on-disk layout: WNID folders of real images (cue-conflict
    stimuli of three categories, each under one WNID of its ImageNet-1k group)."""
    from visaudit.data.labels import imagenet1k, imagenet16

    inet, cats = imagenet1k(), imagenet16()
    chosen = {}
    for cat in ("cat", "dog", "truck"):
        idx = cats.groups[cats.classes.index(cat)][0]
        wnid = inet.ids[idx]
        (root / wnid).mkdir(parents=True)
        for f in sorted((DATA / "cue-conflict" / cat).glob("*.png"))[:per_class]:
            shutil.copy(f, root / wnid / f.name)
        chosen[wnid] = idx
    return chosen


def _plain_timm_loop(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(logits over 1000 classes, ImageNet label) per image: timm's own eval transform, no visaudit."""
    import timm.data
    from torchvision.datasets import ImageFolder

    from visaudit.models import load_model

    net = load_model("efficientnet_lite0").net.eval()  # the zoo's weights in timm's architecture
    cfg = timm.data.resolve_data_config({}, model=net)
    ds = ImageFolder(str(folder), transform=timm.data.create_transform(**cfg))
    from visaudit.data.labels import imagenet1k

    to_imagenet = np.array([imagenet1k().ids.index(c) for c in ds.classes])
    logits, labels = [], []
    with torch.inference_mode():
        for x, y in torch.utils.data.DataLoader(ds, batch_size=32):
            logits.append(net(x).numpy())
            labels.append(to_imagenet[y.numpy()])
    return np.concatenate(logits), np.concatenate(labels)


@pytest.mark.slow
def test_imagenet_folder_of_some_classes_scores_what_a_plain_timm_loop_scores_over_1000(tmp_path):
    folder = tmp_path / "val-slice"
    chosen = _wnid_folder(folder)
    logits, labels = _plain_timm_loop(folder)
    full_ref = float((logits.argmax(1) == labels).mean())
    sub = np.array(sorted(chosen.values()))
    subset_ref = float((sub[logits[:, sub].argmax(1)] == labels).mean())

    full = visaudit.audit("efficientnet_lite0", "accuracy", str(folder), store=tmp_path / "s")
    rec = full.records[0]
    assert rec["metrics"]["top1"] == full_ref
    assert rec["label_map"]["kind"] == "identity" and rec["label_protocol"] == "full (1000 classes)"
    preds = Store(tmp_path / "s").samples(rec["key"])["pred"].to_numpy()
    assert (preds == logits.argmax(1)).all(), "the same decision for every image"

    asked = visaudit.audit("efficientnet_lite0", "accuracy", str(folder), store=tmp_path / "s", label_subset=True)
    arec = asked.records[0]
    assert arec["key"] != rec["key"] and arec["label_map"]["kind"] == "subset"
    assert arec["label_protocol"].startswith("subset (3 of")
    assert arec["metrics"]["top1"] == pytest.approx(subset_ref, abs=1e-12)
    # the protocol the old main guessed from the folders: clearly not the full-space number
    assert subset_ref > full_ref + 0.05
    print(f"top-1 over 1000: {full_ref:.4f}; over the 3 classes present: {subset_ref:.4f}")


# -- 2. numerics in the key --------------------------------------------------------------------------


def test_amp_and_fp32_runs_are_two_keys_and_the_record_says_which(tmp_path):
    fp32 = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path, max_images=64)
    bf16 = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path, max_images=64, amp=True)
    a, b = fp32.records[0], bf16.records[0]
    assert a["key"] != b["key"] and not b["cached"]
    assert a["keyed_by"]["numerics"]["precision"] == "fp32"
    assert b["keyed_by"]["numerics"]["precision"] == "bf16" and b["run"]["precision"] == "bf16"
    assert a["metrics"]["nll"] != b["metrics"]["nll"], "bf16 autocast really ran"
    again = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path, max_images=64)
    assert again.records[0]["cached"] and again.records[0]["metrics"] == a["metrics"]
    cl = _keys("cifar10_resnet20", "accuracy", ["cifar10-test"], max_images=64, channels_last=True)
    assert cl != [a["key"]]


def test_device_type_keys_only_probes_that_draw(tmp_path):
    cpu = _keys("cifar10_resnet20", "corruptions", ["cifar10-test"], device="cpu")
    cuda = _keys("cifar10_resnet20", "corruptions", ["cifar10-test"], device="cuda")
    assert cpu != cuda
    assert _keys("cifar10_resnet20", "accuracy", ["cifar10-test"], device="cpu") == _keys(
        "cifar10_resnet20", "accuracy", ["cifar10-test"], device="cuda"
    )


# -- 3. content fingerprints of secondary inputs ------------------------------------------------------


def _copy_images(src: Path, dst: Path, n: int) -> list[Path]:
    dst.mkdir(parents=True)
    out = []
    for f in sorted(src.glob("*"))[:n]:
        shutil.copy(f, dst / f.name)
        out.append(dst / f.name)
    return out


def test_changing_one_ood_image_makes_a_new_key_and_touching_it_does_not(tmp_path):
    files = _copy_images(DATA / "silhouettes" / "cat", tmp_path / "ood" / "cat", 5)
    cfg = {"ood": {"ood_sets": [str(tmp_path / "ood")], "detectors": ["msp"]}}
    before = _keys("cifar10_resnet20", "ood", ["cifar10-test"], cfg)
    os.utime(files[0], ns=(1, 1))
    assert _keys("cifar10_resnet20", "ood", ["cifar10-test"], cfg) == before, "same bytes, same key"
    shutil.copy(DATA / "silhouettes" / "dog" / "dog1.png", files[0])
    assert _keys("cifar10_resnet20", "ood", ["cifar10-test"], cfg) != before


def test_changing_one_file_of_a_stored_corruption_tree_makes_a_new_key(tmp_path):
    root = tmp_path / "cifar10-c-tree"
    for cls in ("cat", "dog"):
        _copy_images(DATA / "cifar10-test" / cls, root / "gaussian_noise" / "1" / cls, 4)
    cfg = {"corruptions": {"corruptions": ["gaussian_noise"], "severities": [1], "stored": str(root)}}
    before = _keys("cifar10_resnet20", "corruptions", ["cifar10-test"], cfg)
    target = root / "gaussian_noise" / "1" / "cat" / sorted(os.listdir(root / "gaussian_noise" / "1" / "cat"))[0]
    target.write_bytes((DATA / "cifar10-test" / "cat" / "0100.jpg").read_bytes())
    assert _keys("cifar10_resnet20", "corruptions", ["cifar10-test"], cfg) != before
    # CIFAR-10-C's array layout: the labels file counts too
    npy = tmp_path / "cifar10-c"
    npy.mkdir()
    np.save(npy / "gaussian_noise.npy", np.zeros((10, 32, 32, 3), dtype=np.uint8))
    np.save(npy / "labels.npy", np.zeros(10, dtype=np.uint8))
    cfg["corruptions"]["stored"] = str(npy)
    before = _keys("cifar10_resnet20", "corruptions", ["cifar10-test"], cfg)
    np.save(npy / "labels.npy", np.ones(10, dtype=np.uint8))
    assert _keys("cifar10_resnet20", "corruptions", ["cifar10-test"], cfg) != before


def test_the_16_class_table_is_keyed_by_its_content(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    for name in ("cue-conflict", "edges", "silhouettes"):
        (root / name).symlink_to(DATA / name)
    table = (DATA / "imagenet16-categories.csv").read_text().splitlines()
    (root / "imagenet16-categories.csv").write_text("\n".join(table) + "\n")
    monkeypatch.setenv("VISAUDIT_DATA", str(root))
    before = _keys("efficientnet_lite0", "accuracy", ["edges"])
    (root / "imagenet16-categories.csv").write_text("\n".join(table[:-1]) + "\n")  # one ImageNet class less
    assert _keys("efficientnet_lite0", "accuracy", ["edges"]) != before


# -- 4. no dependence on batch or chunk size -------------------------------------------------------------

RANDOM_AND_SOME = [
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "speckle_noise",
    "glass_blur",
    "motion_blur",
    "snow",
    "frost",
    "fog",
    "spatter",
    "elastic_transform",
    "contrast",
    "jpeg_compression",
]


@pytest.mark.slow
def test_corruptions_metrics_are_bit_identical_at_any_batch_and_chunk_size(tmp_path):
    cfg = {"corruptions": {"corruptions": RANDOM_AND_SOME, "severities": [5], "examples": 0}}
    runs = {}
    for bs, cs in ((16, 2048), (64, 2048), (100, 2048), (64, 50)):
        res = visaudit.audit(
            "cifar10_resnet20",
            "corruptions",
            "cifar10-test",
            store=tmp_path / f"s{bs}-{cs}",
            max_images=120,
            batch_size=bs,
            chunk_size=cs,
            probe_config=cfg,
            workers=0,
        )
        runs[(bs, cs)] = res.records[0]
    keys = {r["key"] for r in runs.values()}
    assert len(keys) == 1, "batch and chunk size are not part of the key"
    first = runs[(16, 2048)]["metrics"]
    for (bs, cs), rec in runs.items():
        assert rec["metrics"] == first, f"batch {bs}, chunk {cs} differs"
    assert first["top1@gaussian_noise/5"] < first["clean_top1"]


# -- 5. kill and resume with another chunking --------------------------------------------------------------


@pytest.mark.slow
def test_corruptions_killed_and_resumed_with_another_chunk_size_equal_a_clean_run(tmp_path):
    cfg = {
        "corruptions": {
            "corruptions": ["gaussian_noise", "shot_noise", "snow", "contrast"],
            "severities": [1, 5],
            "examples": 0,
        }
    }
    (tmp_path / "cfg.yaml").write_text(str(cfg).replace("'", '"'))
    store = tmp_path / "store"
    args = cli_argv(
        "run",
        "-m",
        "cifar10_resnet20",
        "-p",
        "corruptions",
        "-d",
        "cifar10-test",
        "--store",
        str(store),
        "--max-images",
        "600",
        "--chunk-size",
        "60",
        "-q",
        "--workers",
        "0",
        "--config",
        str(tmp_path / "cfg.yaml"),
    )
    start_and_kill(args, store / "work", 2)
    done = len(list((store / "work").glob("*/*.done")))
    resumed = visaudit.audit(
        "cifar10_resnet20",
        "corruptions",
        "cifar10-test",
        store=store,
        max_images=600,
        chunk_size=250,
        workers=0,
        probe_config=cfg,
    )
    rec = resumed.records[0]
    assert rec["run"]["chunks_resumed"] == done >= 2
    clean = visaudit.audit(
        "cifar10_resnet20",
        "corruptions",
        "cifar10-test",
        store=tmp_path / "clean",
        max_images=600,
        workers=0,
        probe_config=cfg,
    )
    assert clean.records[0]["key"] == rec["key"]
    assert rec["metrics"] == clean.records[0]["metrics"]
    assert rec["data"]["n"] == clean.records[0]["data"]["n"]
