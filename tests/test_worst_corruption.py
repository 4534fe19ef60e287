"""The corruptions probe's worst condition per image and its gallery, against a plain per-image loop
on the real CIFAR-10 ResNet-20 and real CIFAR-10 test images."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import visaudit
from visaudit.errors import VisauditError

MODEL, DATA = "cifar10_resnet20", "cifar10-test"
CONDS = [("gaussian_noise", 2), ("gaussian_noise", 5), ("contrast", 2), ("contrast", 5)]
CFG = {"corruptions": ["gaussian_noise", "contrast"], "severities": [2, 5], "examples": 0, "gallery": 6}


@pytest.fixture(scope="module")
def worst_run(tmp_path_factory):
    store = tmp_path_factory.mktemp("worst")
    res = visaudit.audit(MODEL, "corruptions", DATA, store=store, max_images=24, probe_config={"corruptions": CFG})
    assert not res.errors
    (rec_file,) = (store / "records").glob("*.json")
    rec = json.loads(rec_file.read_text())
    return store, rec, pd.read_parquet(store / rec["samples_file"])


@pytest.mark.slow  # the real model over 24 images x 5 passes, then a reference loop image by image
def test_worst_condition_per_image_matches_a_plain_loop(worst_run, resnet20):
    from visaudit.data import open_dataset
    from visaudit.perturb.corruptions import corrupt, quantize_like_reference
    from visaudit.rng import SampleGenerators

    store, rec, rows = worst_run
    assert rec["probe"]["version"] == 3 and len(rows) == 24
    ds = open_dataset(DATA)
    for r in rows.itertuples(index=False):
        pos = int(r.position)
        assert ds.ids[pos] == r.sample_id and int(ds.labels[pos]) == r.label
        with Image.open(Path(ds.path) / ds.ids[pos]) as im:
            x = torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            p_clean = float(torch.softmax(resnet20(x), 1)[0, r.label])
            p = {}
            for c, s in CONDS:
                g = (
                    SampleGenerators.for_positions(0, f"corruptions/{c}/{s}", [pos], "cpu")
                    if c == "gaussian_noise"
                    else None
                )
                xc = (
                    quantize_like_reference(corrupt(x, c, s, generator=g, params="cifar")).float() / 255
                )  # uint8 storage
                p[f"{c}/{s}"] = float(torch.softmax(resnet20(xc), 1)[0, r.label])
        drops = {k: p_clean - v for k, v in p.items()}
        best = max(drops.values())
        assert r.p_true_clean == pytest.approx(p_clean, abs=1e-5)
        # the stored worst condition has the largest drop (ties within float noise are allowed)
        assert drops[r.worst_condition] == pytest.approx(best, abs=1e-5), (r.sample_id, drops)
        assert r.p_true_worst == pytest.approx(p[r.worst_condition], abs=1e-5)
        assert r.drop == pytest.approx(best, abs=1e-5)


@pytest.mark.slow
def test_gallery_shows_the_largest_drops_with_the_pixels_the_model_saw(worst_run, resnet20):
    store, rec, rows = worst_run
    gallery = rec["data"]["gallery"]
    top = rows.sort_values(["drop", "position"], ascending=[False, True]).head(6)
    assert [g["sample"] for g in gallery] == list(top["sample_id"])
    key = rec["key"]
    for g, r in zip(gallery, top.itertuples(index=False)):
        assert [i["label"] for i in g["images"]] == ["clean", r.worst_condition]
        assert r.worst_condition in g["caption"] and f"{r.p_true_worst:.2f}" in g["caption"]
        clean_png, worst_png = ((store / "artifacts" / key / i["artifact"]).read_bytes() for i in g["images"])
        arrays = [np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) for b in (clean_png, worst_png)]
        assert all(a.shape == (32, 32, 3) for a in arrays)  # 32 px images kept pixel for pixel
        # the stored corrupted thumbnail is the uint8 image the model scored: it gives the same p(true)
        xc = torch.from_numpy(arrays[1]).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            assert float(torch.softmax(resnet20(xc), 1)[0, r.label]) == pytest.approx(r.p_true_worst, abs=1e-5)
        assert f"artifacts/{key}/{g['images'][0]['artifact']}" in rec["artifacts"]


def test_gallery_size_is_checked_before_any_compute(tmp_path):
    for bad, message in ((-1, "from 0 to 32, got -1"), (33, "from 0 to 32, got 33"), (True, "expected an integer")):
        with pytest.raises(VisauditError, match=message):
            visaudit.audit(
                MODEL, "corruptions", DATA, store=tmp_path, max_images=4, probe_config={"corruptions": {"gallery": bad}}
            )
