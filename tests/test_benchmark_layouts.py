"""The benchmark layouts beyond class folders (ObjectNet, CIFAR-10.1, stored ImageNet-C / CIFAR-10-C,
model-vs-human's release): miniatures in each exact on-disk layout, made of the real images in
the shared data, score exactly what a plain loop with the benchmark's protocol scores."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import visaudit
from visaudit.data.benchmarks import BENCHMARKS, BY_NAME
from visaudit.data.catalog import open_dataset
from visaudit.errors import DataNotFoundError, VisauditError

DATA = Path(os.environ["VISAUDIT_DATA"])
CIFAR = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
ALEXNET = {"gaussian_noise": 0.886428, "fog": 0.819324}  # DESIGN.md, AlexNet's ImageNet-C errors


def _audit(model: str, probe: str, name: str, root: Path, tmp: Path, **config):
    cfg = {probe: config} if config else None
    return visaudit.audit(model, probe, name, store=tmp / "store", workers=0, probe_config=cfg).records[0]


def _with_root(monkeypatch, root: Path) -> None:
    monkeypatch.setenv("VISAUDIT_DATA", f"{root}{os.pathsep}{DATA}")


@pytest.fixture(scope="module")
def lite0_net():
    import timm.data

    from visaudit.models import load_model

    net = load_model("efficientnet_lite0").net.eval()
    cfg = timm.data.resolve_data_config({}, model=net)
    return net, cfg


@pytest.fixture(scope="module")
def resnet20_net():
    from visaudit.models import load_model

    return load_model("cifar10_resnet20").net.eval()


def _normalise(x: torch.Tensor, mean, std) -> torch.Tensor:
    return (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]


def _cifar_logits(net, images: np.ndarray) -> np.ndarray:
    """resnet20 on uint8 (N, 32, 32, 3) arrays with the weights' normalisation (shared README)."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    x = _normalise(x, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    with torch.inference_mode():
        return net(x).numpy()


def _cifar_images(per_class: int, skip: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    imgs, labels = [], []
    for k, c in enumerate(CIFAR):
        for f in sorted((DATA / "cifar10-test" / c).glob("*.jpg"))[skip : skip + per_class]:
            imgs.append(np.asarray(Image.open(f).convert("RGB")))
            labels.append(k)
    return np.stack(imgs).astype(np.uint8), np.asarray(labels, dtype=np.int64)


# -- ObjectNet --------------------------------------------------------------------------------------

# ObjectNet classes among the 16 categories' objects, with the WNIDs of ImageNet classes mapped to them
OBJECTNET = {
    "chair": ("Chair", ["n02791124", "n03376595", "n04099969"]),
    "bottle": ("Bottle", ["n02823428", "n03937543", "n04557648", "n04560804"]),
    "clock": ("Alarm clock", ["n02708093", "n03196217"]),
    "keyboard": ("Keyboard", ["n03085013", "n04505470"]),
    "knife": ("Knife", ["n03041632", "n03658185"]),
}


def _objectnet(root: Path, per_class: int = 4) -> tuple[Path, dict[str, list[int]]]:
    """``root/objectnet/objectnet-1.0`` with real cue-conflict images under ObjectNet folder names,
    a 1px red border as the release has, and the four mapping files (a permuted ImageNet line order)."""
    from PIL import Image

    from visaudit.data.labels import imagenet1k

    inet = imagenet1k()
    base = root / "objectnet" / "objectnet-1.0"
    (base / "mappings").mkdir(parents=True)
    order = list(range(1000))[::-1]  # line i of imagenet_to_label_2012_v2 is model index order[i]
    names = [f"{inet.classes[i]} ({inet.ids[i]})" for i in order]
    (base / "mappings" / "imagenet_to_label_2012_v2").write_text("\n".join(names) + "\n")
    (base / "mappings" / "pytorch_to_imagenet_2012_id.json").write_text(
        json.dumps({str(idx): line for line, idx in enumerate(order)})
    )
    folder_to_label = {cat.replace(" ", "_"): label for cat, (label, _) in OBJECTNET.items()}
    folder_to_label["air_freshener"] = "Air freshener"  # an ObjectNet class with no ImageNet counterpart
    (base / "mappings" / "folder_to_objectnet_label.json").write_text(json.dumps(folder_to_label))
    position = {w: i for i, w in enumerate(inet.ids)}
    to_inet = {label: "; ".join(names[order.index(position[w])] for w in wnids) for label, wnids in OBJECTNET.values()}
    (base / "mappings" / "objectnet_to_imagenet_1k.json").write_text(json.dumps(to_inet))
    (base / "README").write_text("ObjectNet miniature for tests")
    expected = {}
    for folder, src_cat in [*((c, c) for c in OBJECTNET), ("air_freshener", "oven")]:
        (base / "images" / folder).mkdir(parents=True)
        for f in sorted((DATA / "cue-conflict" / src_cat).glob("*.png"))[:per_class]:
            img = Image.open(f).convert("RGB")
            framed = Image.new("RGB", (img.width + 2, img.height + 2), (255, 0, 0))
            framed.paste(img, (1, 1))
            framed.save(base / "images" / folder / f.name)
        if folder in OBJECTNET:
            expected[folder] = [position[w] for w in OBJECTNET[folder][1]]
    return root / "objectnet", expected


def test_objectnet_mapping_goes_through_the_release_files_and_refuses_ambiguity(tmp_path):
    from visaudit.data.benchmark_layouts import objectnet_groups

    root, expected = _objectnet(tmp_path, per_class=0)
    mappings = root / "objectnet-1.0" / "mappings"
    groups = objectnet_groups(mappings)
    assert {f: sorted(g) for f, g in groups.items()} == {f: sorted(v) for f, v in expected.items()}
    lines = (mappings / "imagenet_to_label_2012_v2").read_text().splitlines()
    ambiguous = json.loads((mappings / "objectnet_to_imagenet_1k.json").read_text())
    lines[0] = ambiguous["Chair"].split("; ")[0]  # the same name on two lines
    (mappings / "imagenet_to_label_2012_v2").write_text("\n".join(lines) + "\n")
    with pytest.raises(VisauditError, match="ambiguous"):
        objectnet_groups(mappings)


def test_objectnet_unknown_folder_or_missing_mapping_names_the_layout(tmp_path):
    root, _ = _objectnet(tmp_path, per_class=1)
    (root / "objectnet-1.0" / "images" / "not_a_class").mkdir()
    with pytest.raises(VisauditError, match="not_a_class.*objectnet-1.0/images/<ObjectNet class folder>"):
        open_dataset("objectnet", path=root)
    shutil.rmtree(root / "objectnet-1.0" / "images" / "not_a_class")
    (root / "objectnet-1.0" / "mappings" / "pytorch_to_imagenet_2012_id.json").unlink()
    with pytest.raises(VisauditError, match="lacks pytorch_to_imagenet_2012_id.json"):
        open_dataset("objectnet", path=root)


@pytest.mark.slow
def test_objectnet_miniature_scores_the_argmax_over_1000_in_the_mapped_set(tmp_path, monkeypatch, lite0_net):
    from PIL import Image

    root, expected = _objectnet(tmp_path)
    _with_root(monkeypatch, tmp_path)
    rec = _audit("efficientnet_lite0", "accuracy", "objectnet", root, tmp_path)
    assert rec["status"] == "ok", rec.get("error")
    net, cfg = lite0_net
    import timm.data

    transform = timm.data.create_transform(**cfg)
    right = n = 0
    for folder, allowed in expected.items():  # plain loop: crop the border, timm eval transform, argmax
        imgs = [
            Image.open(f).convert("RGB") for f in sorted((root / "objectnet-1.0" / "images" / folder).glob("*.png"))
        ]
        x = torch.stack([transform(im.crop((1, 1, im.width - 1, im.height - 1))) for im in imgs])
        with torch.inference_mode():
            pred = net(x).argmax(1).tolist()
        right += sum(p in allowed for p in pred)
        n += len(pred)
    assert rec["n_samples"] == n == 20  # the air_freshener images are left out
    assert rec["metrics"]["top1"] == pytest.approx(right / n, abs=1e-12)
    assert rec["label_map"]["kind"] == "fine-argmax" and rec["label_map"]["n_classes"] == 6
    assert "left out" in rec["dataset"]["note"] and 0 < right < n


def test_fine_argmax_decides_the_group_holding_the_argmax_over_all_classes():
    from visaudit.data.labels import LabelMap, LabelSpace

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 1000, generator=gen) * 3
    groups = (tuple(range(0, 10)), tuple(range(10, 13)), tuple(range(13, 1000)))
    space = LabelSpace("toy", ("a", "b", "other"), ("a", "b", "other"), groups, parent="imagenet1k", rule="fine-argmax")
    probs = LabelMap("fine-argmax", "imagenet1k", space).probs(logits)
    top = logits.argmax(1)
    want = torch.tensor([next(j for j, g in enumerate(groups) if int(t) in g) for t in top])
    assert torch.equal(probs.argmax(1), want)
    assert torch.allclose(probs.sum(1), torch.ones(64))


# -- CIFAR-10.1 -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cifar10_1_miniature_equals_a_plain_loop_and_refuses_an_imagenet_model(tmp_path, monkeypatch, resnet20_net):
    images, labels = _cifar_images(4)
    folder = tmp_path / "cifar10.1"
    folder.mkdir()
    np.save(folder / "cifar10.1_v6_data.npy", images)
    np.save(folder / "cifar10.1_v6_labels.npy", labels)
    _with_root(monkeypatch, tmp_path)
    rec = _audit("cifar10_resnet20", "accuracy", "cifar10.1", folder, tmp_path)
    assert rec["status"] == "ok", rec.get("error")
    want = float((_cifar_logits(resnet20_net, images).argmax(1) == labels).mean())
    assert rec["n_samples"] == 40 and rec["metrics"]["top1"] == pytest.approx(want, abs=1e-12)
    with pytest.raises(VisauditError, match="do not fit the dataset's labels.*CIFAR-10 models"):
        _audit("efficientnet_lite0", "accuracy", "cifar10.1", folder, tmp_path)  # refused before any compute


def test_cifar10_1_with_wrong_arrays_names_the_layout(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    np.save(folder / "cifar10.1_v6_data.npy", np.zeros((4, 32, 32), dtype=np.uint8))
    np.save(folder / "cifar10.1_v6_labels.npy", np.zeros(4, dtype=np.int64))
    with pytest.raises(VisauditError, match="uint8 \\(N, H, W, 3\\)"):
        open_dataset("cifar10.1", path=folder)
    np.save(folder / "cifar10.1_v6_data.npy", np.zeros((4, 32, 32, 3), dtype=np.uint8))
    np.save(folder / "cifar10.1_v6_labels.npy", np.full(4, 10))
    with pytest.raises(VisauditError, match="labels outside 0..9"):
        open_dataset("cifar10.1", path=folder)


# -- stored ImageNet-C and CIFAR-10-C -------------------------------------------------------------------------

IMAGENET_C_CLASSES = {"cat": "n02123045", "dog": "n02099712", "airplane": "n02690373"}
CONDITIONS = [("gaussian_noise", 1), ("gaussian_noise", 3), ("fog", 1), ("fog", 3)]


def _imagenet_c(root: Path) -> Path:
    """``root/imagenet-c/<corruption>/<severity>/<WNID>/*.JPEG`` (JPEG quality 85, as ImageNet-C stores):
    a different set of real cue-conflict images per condition."""
    from PIL import Image

    base = root / "imagenet-c"
    for k, (c, s) in enumerate(CONDITIONS):
        for cat, wnid in IMAGENET_C_CLASSES.items():
            (base / c / str(s) / wnid).mkdir(parents=True)
            for f in sorted((DATA / "cue-conflict" / cat).glob("*.png"))[2 * k : 2 * k + 2]:
                Image.open(f).convert("RGB").save(base / c / str(s) / wnid / (f.stem + ".JPEG"), quality=85)
    return base


@pytest.mark.slow
def test_stored_imagenet_c_miniature_per_condition_top1_and_mce_equal_a_plain_loop(tmp_path, monkeypatch, lite0_net):
    from PIL import Image

    from visaudit.data.labels import imagenet1k

    base = _imagenet_c(tmp_path)
    _with_root(monkeypatch, tmp_path)
    names, sev = ["gaussian_noise", "fog"], [1, 3]
    rec = _audit("efficientnet_lite0", "corruptions", "imagenet-c", base, tmp_path, corruptions=names, severities=sev)
    assert rec["status"] == "ok", rec.get("error")
    net, cfg = lite0_net
    position = {w: i for i, w in enumerate(imagenet1k().ids)}
    errors = {}
    for c, s in CONDITIONS:  # plain loop, as ImageNet-C's own test: 224 px files, to tensor, normalise, argmax
        right = n = 0
        for wnid in IMAGENET_C_CLASSES.values():
            files = sorted((base / c / str(s) / wnid).glob("*.JPEG"))
            x = torch.stack([torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1) for f in files])
            with torch.inference_mode():
                pred = net(_normalise(x.float() / 255, cfg["mean"], cfg["std"])).argmax(1)
            right += int((pred == position[wnid]).sum())
            n += len(files)
        top1 = right / n
        assert rec["metrics"][f"top1@{c}/{s}"] == pytest.approx(top1, abs=1e-12)
        errors.setdefault(c, []).append(1 - top1)
    ce = {c: float(np.mean(e)) / ALEXNET[c] for c, e in errors.items()}  # DESIGN.md's definition
    assert rec["metrics"]["mce"] == pytest.approx(float(np.mean(list(ce.values()))), abs=1e-12)
    assert rec["data"]["source"] == {"kind": "stored", "format": "imagenet-c tree", "path": str(base)}
    assert "clean_top1" not in rec["metrics"] and any("no clean images" in w for w in rec["warnings"])
    with pytest.raises(VisauditError, match="lacks the conditions snow/1"):
        _audit("efficientnet_lite0", "corruptions", "imagenet-c", base, tmp_path, corruptions=["snow"])


def test_imagenet_c_tree_with_an_unknown_folder_names_the_layout(tmp_path):
    base = tmp_path / "imagenet-c"
    (base / "gaussian_noise" / "1" / "n02123045").mkdir(parents=True)
    (base / "gaussian_noise" / "6").mkdir()
    with pytest.raises(VisauditError, match=r"found \['6'\].*<corruption>/<severity 1..5>/<WNID>"):
        open_dataset("imagenet-c", path=base)
    shutil.rmtree(base / "gaussian_noise" / "6")
    (base / "not_a_corruption").mkdir()
    with pytest.raises(VisauditError, match="not_a_corruption"):
        open_dataset("imagenet-c", path=base)


@pytest.mark.slow
def test_stored_cifar10_c_miniature_per_condition_top1_equals_a_plain_loop(tmp_path, monkeypatch, resnet20_net):
    # CIFAR-10-C: one labels.npy for every file, 5 severity blocks of the same N test images; here
    # each block holds other real images of the same classes in the same order (N = 10, one per class)
    folder = tmp_path / "cifar10-c"
    folder.mkdir()
    arrays = {}
    for k, c in enumerate(("gaussian_noise", "saturate")):  # a benchmark and an extra corruption
        arrays[c] = np.concatenate([_cifar_images(1, skip=5 * k + s)[0] for s in range(5)])
        np.save(folder / f"{c}.npy", arrays[c])
    labels = np.tile(np.arange(10), 5)
    np.save(folder / "labels.npy", labels)
    _with_root(monkeypatch, tmp_path)
    rec = _audit(
        "cifar10_resnet20", "corruptions", "cifar10-c", folder, tmp_path, corruptions=["gaussian_noise", "saturate"]
    )
    assert rec["status"] == "ok", rec.get("error")
    errors = []
    for c, rows in arrays.items():
        hit = _cifar_logits(resnet20_net, rows).argmax(1) == labels
        for s in range(1, 6):
            want = float(hit[(s - 1) * 10 : s * 10].mean())
            assert rec["metrics"][f"top1@{c}/{s}"] == pytest.approx(want, abs=1e-12), (c, s)
            if c == "gaussian_noise":
                errors.append(1 - want)
    assert rec["data"]["source"]["format"] == "cifar-10-c npy" and rec["data"]["normalisation"] == "none"
    assert rec["metrics"]["mce"] == pytest.approx(float(np.mean(errors)), abs=1e-12)  # unnormalised on CIFAR-10-C
    assert rec["metrics"]["extra_top1"] == pytest.approx(
        float(np.mean(_cifar_logits(resnet20_net, arrays["saturate"]).argmax(1) == labels)), abs=1e-12
    )


def test_cifar10_c_with_an_unknown_array_names_the_layout(tmp_path):
    folder = tmp_path / "c"
    folder.mkdir()
    np.save(folder / "labels.npy", np.zeros(5, dtype=np.int64))
    np.save(folder / "gaussian_noise.npy", np.zeros((5, 32, 32, 3), dtype=np.uint8))
    np.save(folder / "my_noise.npy", np.zeros((5, 32, 32, 3), dtype=np.uint8))
    with pytest.raises(VisauditError, match=r"my_noise.npy.*<corruption>.npy"):
        open_dataset("cifar10-c", path=folder)


# -- model-vs-human ---------------------------------------------------------------------------------------------

MVH_CATS = ("bear", "bottle", "car", "cat", "dog", "elephant")


def _mvh_sessions(root: Path, conditions=("c100", "c30"), per: int = 2) -> Path:
    """``root/model-vs-human/contrast/dnn/session-1/<NNNN>_cop_dnn_<cond>_<cat>_10_<stimulus>.png``."""
    base = root / "model-vs-human" / "contrast"
    session = base / "dnn" / "session-1"
    session.mkdir(parents=True)
    trial = 0
    for k, cond in enumerate(conditions):
        for cat in MVH_CATS:
            for f in sorted((DATA / "cue-conflict" / cat).glob("*.png"))[k * per : (k + 1) * per]:
                trial += 1
                shutil.copy(f, session / f"{trial:04d}_cop_dnn_{cond}_{cat}_10_{f.name}")
    return base


def _mvh_plain_loop(files: list[Path], net, cfg) -> list[bool]:
    """16-class decisions as model-vs-human: softmax over 1000, mean per category, argmax."""
    from PIL import Image

    from visaudit.data.labels import imagenet16

    cats = imagenet16()
    x = torch.stack([torch.from_numpy(np.array(Image.open(f).convert("RGB"))).permute(2, 0, 1) for f in files])
    with torch.inference_mode():
        p = net(_normalise(x.float() / 255, cfg["mean"], cfg["std"])).softmax(1)
    out = []
    for f, row in zip(files, p):
        means = torch.stack([row[list(g)].mean() for g in cats.groups])
        true = f.name.split("_")[4] if f.parent.name.startswith("session-") else f.parent.name
        out.append(cats.classes[int(means.argmax())] == true)
    return out


@pytest.mark.slow
def test_mvh_session_miniature_top1_and_per_condition_top1_equal_a_plain_loop(tmp_path, monkeypatch, lite0_net):
    base = _mvh_sessions(tmp_path)
    _with_root(monkeypatch, tmp_path)
    rec = _audit("efficientnet_lite0", "accuracy", "mvh-contrast", base, tmp_path)
    assert rec["status"] == "ok", rec.get("error")
    files = sorted((base / "dnn" / "session-1").glob("*.png"))
    hits = _mvh_plain_loop(files, *lite0_net)
    assert rec["n_samples"] == 24 and rec["metrics"]["top1"] == pytest.approx(np.mean(hits), abs=1e-12)
    for cond in ("c100", "c30"):
        sel = [h for f, h in zip(files, hits) if f.name.split("_")[3] == cond]
        assert rec["metrics"][f"condition_top1@{cond}"] == pytest.approx(np.mean(sel), abs=1e-12)
    assert rec["label_map"]["kind"] == "mean-prob"


@pytest.mark.slow
def test_mvh_edge_in_category_folders_equals_a_plain_loop(tmp_path, monkeypatch, lite0_net):
    base = tmp_path / "model-vs-human" / "edge"
    for cat in MVH_CATS[:3]:
        shutil.copytree(DATA / "edges" / cat, base / cat)
    _with_root(monkeypatch, tmp_path)
    rec = _audit("efficientnet_lite0", "accuracy", "mvh-edge", base, tmp_path)
    assert rec["status"] == "ok", rec.get("error")
    hits = _mvh_plain_loop(sorted(base.glob("*/*.png")), *lite0_net)
    assert rec["n_samples"] == 30 and rec["metrics"]["top1"] == pytest.approx(np.mean(hits), abs=1e-12)
    edges = open_dataset("edges", path=base)  # the same stimuli as visaudit's edges, in the same order
    assert [Path(i).name for i in edges.ids] == [Path(i).name for i in open_dataset("mvh-edge", path=base).ids]


def test_mvh_session_file_names_that_break_the_convention_name_the_layout(tmp_path):
    base = _mvh_sessions(tmp_path, conditions=("c100",), per=1)
    session = base / "dnn" / "session-1"
    first = sorted(session.iterdir())[0]
    first.rename(session / "stray.png")
    with pytest.raises(VisauditError, match="stray.png.*no condition and category.*_<condition>_<category>_"):
        open_dataset("mvh-contrast", path=base)
    (session / "stray.png").rename(session / "0001_cop_dnn_c100_zebra_10_x.png")
    with pytest.raises(VisauditError, match="category 'zebra', not one of the 16"):
        open_dataset("mvh-contrast", path=base)
    (session / "0001_cop_dnn_c100_zebra_10_x.png").unlink()
    (base / "subject-01").mkdir()
    with pytest.raises(VisauditError, match="subject-01.*dnn/session-N"):
        open_dataset("mvh-contrast", path=base)


def test_mvh_conditions_come_from_the_file_names(tmp_path):
    ds = open_dataset("mvh-contrast", path=_mvh_sessions(tmp_path, per=1))
    assert list(ds.conditions) == [i.split("/")[-1].split("_")[3] for i in ds.ids]
    assert sorted(set(ds.conditions)) == ["c100", "c30"] and ds.label_space.name == "imagenet16"


# -- catalog ----------------------------------------------------------------------------------------------------


def test_the_catalog_has_every_named_benchmark_of_the_issue():
    names = {b.name for b in BENCHMARKS}
    mvh = (
        "colour contrast high-pass low-pass phase-scrambling power-equalisation false-colour rotation eidolonI "
        "eidolonII eidolonIII uniform-noise sketch stylized edge silhouette cue-conflict"
    ).split()
    assert {f"mvh-{d}" for d in mvh} <= names and len(mvh) == 17
    assert {"objectnet", "imagenet-c", "cifar10-c", "cifar10.1", "stylized-imagenet"} <= names
    assert {BY_NAME[f"mvh-{d}"].humans for d in mvh} == set(mvh)


@pytest.mark.parametrize("name", ["objectnet", "mvh-colour", "cifar10.1", "imagenet-c", "cifar10-c"])
def test_a_missing_benchmark_names_its_download_and_the_setting(name, monkeypatch, tmp_path):
    monkeypatch.setenv("VISAUDIT_DATA", str(tmp_path))
    monkeypatch.setenv("VISAUDIT_CACHE", str(tmp_path / "cache"))
    bench = BY_NAME[name]
    with pytest.raises(DataNotFoundError, match=f"{bench.url.split(' ')[0]}.*VISAUDIT_DATA.*{bench.relpath}"):
        open_dataset(name)


def test_a_cifar_model_on_imagenet_r_is_refused_before_any_compute(tmp_path, monkeypatch):
    folder = tmp_path / "imagenet-r" / "n01443537"  # goldfish, one of ImageNet-R's 200
    folder.mkdir(parents=True)
    shutil.copy(sorted((DATA / "cue-conflict" / "bird").glob("*.png"))[0], folder)
    _with_root(monkeypatch, tmp_path)
    with pytest.raises(VisauditError, match="do not fit the dataset's labels.*ImageNet-1k models"):
        _audit("cifar10_resnet20", "accuracy", "imagenet-r", folder.parent, tmp_path)
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").rglob("*.parquet"))


def test_mvh_cue_conflict_carries_the_texture_label_as_visaudits_cue_conflict(tmp_path):
    base = tmp_path / "cue-conflict"
    for cat in MVH_CATS[:2]:
        shutil.copytree(DATA / "cue-conflict" / cat, base / cat)
    mvh, ours = open_dataset("mvh-cue-conflict", path=base), open_dataset("cue-conflict", path=base)
    assert mvh.ids == ours.ids and np.array_equal(mvh.aux_labels["texture"], ours.aux_labels["texture"])
    assert np.array_equal(mvh.labels, ours.labels) and len(mvh) == 160


def test_imagenet_val_flat_files_with_the_devkit_ground_truth(tmp_path, monkeypatch):
    import scipy.io
    from PIL import Image

    from visaudit.data.labels import imagenet1k, real_label_sets

    wnids = list(imagenet1k().ids)
    order = np.random.default_rng(0).permutation(1000)  # devkit id k+1 is WNID wnids[order[k]]
    devkit = tmp_path / "ILSVRC2012_devkit_t12" / "data"
    devkit.mkdir(parents=True)
    synsets = np.zeros(1001, dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O")])
    for k in range(1000):
        synsets[k] = (k + 1, wnids[order[k]])
    synsets[1000] = (1001, "n00001740")  # an ancestor synset ("entity"): not a class
    scipy.io.savemat(str(devkit / "meta.mat"), {"synsets": synsets})
    val = tmp_path / "imagenet-val"
    val.mkdir()
    chosen = [3, 500, 999, 0, 42, 77]  # devkit ids - 1 of the six images
    (devkit / "ILSVRC2012_validation_ground_truth.txt").write_text("".join(f"{k + 1}\n" for k in chosen))
    for n, f in enumerate(sorted((DATA / "cue-conflict" / "cat").glob("*.png"))[:6], start=1):
        Image.open(f).convert("RGB").save(val / f"ILSVRC2012_val_{n:08d}.JPEG", quality=90)
    _with_root(monkeypatch, tmp_path)
    ds = open_dataset("imagenet-val")
    assert ds.labels.tolist() == [int(order[k]) for k in chosen]
    assert real_label_sets(ds.ids) is not None  # ReaL accuracy applies to these files
    (devkit / "meta.mat").unlink()
    with pytest.raises(VisauditError, match="meta.mat"):
        open_dataset("imagenet-val")


def test_a_non_image_inside_a_class_folder_names_the_layout(tmp_path):
    folder = tmp_path / "sketch" / "n01443537"
    folder.mkdir(parents=True)
    shutil.copy(sorted((DATA / "edges" / "bird").glob("*.png"))[0], folder)
    (folder / "notes.txt").write_text("not an image")
    with pytest.raises(VisauditError, match=r"notes.txt.*one folder per WNID"):
        open_dataset("imagenet-sketch", path=folder.parent)
    (folder / "notes.txt").unlink()
    assert len(open_dataset("imagenet-sketch", path=folder.parent)) == 1
