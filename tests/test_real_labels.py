"""ReaL accuracy on ImageNet val files: the probe's ``real_top1`` equals the definition on a plain timm loop."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import visaudit
from visaudit.metrics.classification import real_top1

DATA = Path(os.environ["VISAUDIT_DATA"])


def _real_table() -> list[list[int]]:
    import timm

    return json.loads((Path(timm.__file__).parent / "data" / "_info" / "imagenet_real_labels.json").read_text())


def test_real_top1_counts_only_images_with_a_label_set():
    assert real_top1(np.array([1, 2, 3]), [[1], [9], []]) == (0.5, 2)
    value, n = real_top1(np.array([1]), [None])
    assert n == 0 and value != value  # NaN: nothing to count


@pytest.mark.slow
def test_imagenet_val_files_get_real_top1_equal_to_the_definition(tmp_path):
    """Real images named as ImageNet val files: half of them under a val number whose ReaL set holds
    the plain timm loop's top-1, half under one whose set does not, one under an empty set."""
    import timm.data
    from PIL import Image

    from visaudit.data.labels import imagenet1k, imagenet16
    from visaudit.models import load_model

    net = load_model("efficientnet_lite0").net.eval()
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=net))
    inet, cats = imagenet1k(), imagenet16()
    sources = [(c, f) for c in ("cat", "dog", "truck") for f in sorted((DATA / "cue-conflict" / c).glob("*.png"))[:6]]
    with torch.inference_mode():
        pred = [int(net(transform(Image.open(f).convert("RGB"))[None]).argmax()) for _, f in sources]
    table = _real_table()
    empty = next(i for i, s in enumerate(table) if not s)
    used: set[int] = {empty}
    root = tmp_path / "imagenet-val"
    expected_sets = []
    for k, ((cat, f), p) in enumerate(zip(sources, pred)):
        wants_hit = k % 2 == 0
        number = next(i for i, s in enumerate(table) if s and (p in s) == wants_hit and i not in used)
        if k == len(sources) - 1:
            number = empty
        used.add(number)
        wnid = inet.ids[cats.groups[cats.classes.index(cat)][0]]
        (root / wnid).mkdir(parents=True, exist_ok=True)
        shutil.copy(f, root / wnid / f"ILSVRC2012_val_{number + 1:08d}.JPEG")
        expected_sets.append(table[number])
    hits = [p in s for p, s in zip(pred, expected_sets) if s]
    res = visaudit.audit("efficientnet_lite0", "accuracy", str(root), store=tmp_path / "s", workers=0)
    rec = res.records[0]
    assert rec["status"] == "ok", rec.get("error")
    assert rec["metrics"]["real_top1"] == pytest.approx(np.mean(hits), abs=1e-12)
    assert rec["data"]["real"]["n"] == len(sources) - 1
    assert "real_labels" in rec["keyed_by"]["inputs"]
