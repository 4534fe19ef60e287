"""End to end: the corruptions, solarization and nuisance-sweeps probes on cifar10_resnet20 /
cifar10-test through ``visaudit.audit``, each checked against an independent computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import visaudit

MODEL, DATA = "cifar10_resnet20", "cifar10-test"


def _record(res):
    assert len(res.records) == 1
    rec = res.records[0]
    assert rec["status"] == "ok", rec.get("error")
    return rec


def _png_ok(store, rec, name):
    from PIL import Image

    paths = [p for p in rec["artifacts"] if p.endswith(name)]
    assert paths, rec["artifacts"]
    with Image.open(store / paths[0]) as im:
        assert im.size[0] >= 96 and im.size[1] >= 96


def test_corruptions_probe_generated_and_stored(tmp_path, resnet20):
    cfg = {"corruptions": ["gaussian_noise", "contrast", "saturate"], "severities": [1, 3, 5]}
    res = visaudit.audit(MODEL, "corruptions", DATA, store=tmp_path, max_images=96, probe_config={"corruptions": cfg})
    rec = _record(res)
    m = rec["metrics"]
    for c in cfg["corruptions"]:
        for s in cfg["severities"]:
            assert 0.0 <= m[f"top1@{c}/{s}"] <= 1.0
    # strong noise hurts a CIFAR ResNet a lot; contrast 5 too; clean is the best
    assert m["top1@gaussian_noise/5"] < m["top1@gaussian_noise/1"] <= m["clean_top1"] + 0.05
    assert m["corrupted_top1"] == pytest.approx(
        np.mean([m[f"top1@{c}/{s}"] for c in ("gaussian_noise", "contrast") for s in (1, 3, 5)])
    )
    assert m["extra_top1"] == pytest.approx(np.mean([m[f"top1@saturate/{s}"] for s in (1, 3, 5)]))
    # unnormalised on CIFAR-10-C parameters: CE = mean error
    assert m["ce@contrast"] == pytest.approx(np.mean([1 - m[f"top1@contrast/{s}"] for s in (1, 3, 5)]))
    assert m["mce"] == pytest.approx((m["ce@contrast"] + m["ce@gaussian_noise"]) / 2)
    assert rec["data"]["source"]["kind"] == "generated" and rec["data"]["source"]["params"] == "cifar"
    assert any("subset" in w for w in rec["warnings"])
    _png_ok(tmp_path, rec, "corruption_examples.png")

    # The same corrupted images written as a CIFAR-10-C folder (uint8 .npy) and read back as
    # the stored benchmark: same accuracies, and the record says it came from the folder.
    from visaudit.models import load_model
    from visaudit.perturb.corruptions import corrupt, to_uint8_like_reference

    n = 60
    clean, labels = _cifar_uint8(n)
    root = tmp_path / "CIFAR-10-C"
    root.mkdir()
    np.save(root / "labels.npy", np.tile(labels, 5).astype(np.uint8))
    expected = {}
    model = load_model(MODEL).eval()
    for c in ("gaussian_noise", "contrast"):
        arrs = []
        for s in range(1, 6):
            x = torch.from_numpy(clean).permute(0, 3, 1, 2).float() / 255
            y = to_uint8_like_reference(corrupt(x, c, s, generator=torch.Generator().manual_seed(s)))
            with torch.inference_mode():
                expected[(c, s)] = float((model(y).argmax(1).numpy() == labels).mean())
            arrs.append((y * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy())
        np.save(root / f"{c}.npy", np.concatenate(arrs))
    res2 = visaudit.audit(
        MODEL,
        "corruptions",
        DATA,
        store=tmp_path / "s2",
        max_images=n,
        probe_config={"corruptions": {"corruptions": ["gaussian_noise", "contrast"], "stored": str(root)}},
    )
    rec2 = _record(res2)
    assert rec2["data"]["source"] == {"kind": "stored", "format": "cifar-10-c npy", "path": str(root)}
    for (c, s), acc in expected.items():
        assert rec2["metrics"][f"top1@{c}/{s}"] == pytest.approx(acc, abs=1e-9)


def _cifar_uint8(n):
    try:
        from tests.corruption_fixtures import cifar_images
    except ImportError:
        from corruption_fixtures import cifar_images
    return cifar_images(n)


def test_corruptions_probe_rejects_bad_config(tmp_path):
    from visaudit.errors import VisauditError

    with pytest.raises(VisauditError, match=r"(?s)Did you mean 'gaussian_noise'.*severities must be integers"):
        visaudit.audit(
            MODEL,
            "corruptions",
            DATA,
            store=tmp_path,
            max_images=8,
            probe_config={"corruptions": {"corruptions": ["gausian_noise"], "severities": [0]}},
        )


def test_solarization_probe_matches_pil_solarize(tmp_path, resnet20):
    from PIL import Image, ImageOps

    res = visaudit.audit(
        MODEL,
        "solarization",
        DATA,
        store=tmp_path,
        max_images=64,
        probe_config={"solarization": {"step": 0.25, "randsol_iterations": 4}},
    )
    rec = _record(res)
    m, data = rec["metrics"], rec["data"]
    curve = dict(zip(data["sweep"]["threshold"], data["sweep"]["top1"]))
    assert set(curve) == {0.0, 0.25, 0.5, 0.75, 1.0}
    assert m["sweep_worst_top1"] == pytest.approx(min(curve.values()))
    assert curve[m["sweep_worst_threshold"]] == pytest.approx(m["sweep_worst_top1"])
    robust = data["randsol"]["robust_top1"]
    assert all(a >= b for a, b in zip(robust, robust[1:])) and m["randsol_top1"] == robust[-1]
    # independent: PIL's ImageOps.solarize on the runner's 64 images (same subset rule, seed 0)
    import math
    from pathlib import Path

    from visaudit.data import open_dataset
    from visaudit.engine.subset import select_indices

    ds = open_dataset(DATA)
    idx = select_indices(len(ds), 64, 0)
    labels = np.asarray([int(ds.labels[i]) for i in idx])
    for t in (0.25, 0.5, 0.75):
        imgs = []
        for i in idx:
            with Image.open(Path(ds.path) / ds.ids[i]) as im:
                imgs.append(np.asarray(ImageOps.solarize(im.convert("RGB"), threshold=math.ceil(t * 255))))
        x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255
        with torch.inference_mode():
            acc = float((resnet20(x).argmax(1).numpy() == labels).mean())
        assert curve[t] == pytest.approx(acc, abs=1e-9), t
    _png_ok(tmp_path, rec, "solarization_examples.png")


def test_nuisance_sweeps_probe(tmp_path, resnet20):
    cfg = {"knobs": ["brightness", "noise", "jpeg", "translation"], "steps": 5}
    res = visaudit.audit(
        MODEL, "nuisance-sweeps", DATA, store=tmp_path, max_images=64, probe_config={"nuisance-sweeps": cfg}
    )
    rec = _record(res)
    m, curves = rec["metrics"], rec["data"]["curves"]
    for k in cfg["knobs"]:
        v, a = np.asarray(curves[k]["value"]), np.asarray(curves[k]["top1"])
        assert m[f"auc@{k}"] == pytest.approx(
            np.trapezoid(a, v) / (v.max() - v.min())
            if v[0] < v[-1]
            else np.trapezoid(a[::-1], v[::-1]) / (v.max() - v.min())
        )
    # neutral points give the clean accuracy; the strongest noise is worse than none
    b = curves["brightness"]
    assert b["top1"][b["value"].index(1.0)] == pytest.approx(m["clean_top1"])
    t = curves["translation"]
    assert t["top1"][t["value"].index(0.0)] == pytest.approx(m["clean_top1"])
    assert curves["noise"]["top1"][-1] < curves["noise"]["top1"][0]
    assert 0.0 <= m["shift_consistency"] <= 1.0 and m["shift_flip_rate"] == pytest.approx(1 - m["shift_consistency"])
    _png_ok(tmp_path, rec, "nuisance_examples.png")
