"""The failure browser's data side, without a browser: thumbnails read from the dataset files
(verified against the record's content fingerprint), the misclassified gallery's top-5 against
the real model run on the thumbnails it shows, and the gallery contract's artifact checks."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import visaudit
from visaudit.data import open_dataset
from visaudit.report.browser import contract_gallery, misclassified, render_browser
from visaudit.report.records import RecordBook, load_records
from visaudit.report.thumbnails import DatasetImages

CIFAR = Path(os.environ["VISAUDIT_DATA"]) / "cifar10-test"
CUE = Path(os.environ["VISAUDIT_DATA"]) / "cue-conflict"


def _decode(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("RGB"))


@pytest.fixture
def small_folder(tmp_path) -> Path:
    """Three real CIFAR-10 test images per class, copied into a folder dataset of the test's own."""
    root = tmp_path / "cifar-small"
    for cls in sorted(p.name for p in CIFAR.iterdir() if p.is_dir()):
        (root / cls).mkdir(parents=True)
        for f in sorted((CIFAR / cls).glob("*.jpg"))[:3]:
            shutil.copy(f, root / cls / f.name)
    return root


def test_thumbnail_is_the_named_file_and_large_images_are_shrunk(small_folder, tmp_path):
    ds = open_dataset(str(small_folder))
    desc = ds.describe()
    images = DatasetImages()
    for sid in ds.ids[::7]:
        t = images.thumbnail(desc, sid)
        assert t.reason == ""
        with Image.open(small_folder / sid) as im:
            assert np.array_equal(_decode(t.uri), np.asarray(im.convert("RGB")))  # 32 px: pixel for pixel
    # a 224 px stimulus: PIL's box filter to 128 px, exactly
    cue = tmp_path / "cue"
    (cue / "cat").mkdir(parents=True)
    src = sorted((CUE / "cat").glob("*.png"))[0]
    shutil.copy(src, cue / "cat" / src.name)
    t = DatasetImages().thumbnail(open_dataset(str(cue)).describe(), f"cat/{src.name}")
    with Image.open(src) as im:
        want = np.asarray(im.convert("RGB").resize((128, 128), Image.BOX))
    assert np.array_equal(_decode(t.uri), want)


def test_array_datasets_reopen_from_the_file_their_record_names():
    """Fashion-MNIST records name its IDX image file as the path; the thumbnail is the decoded array."""
    ds = open_dataset("fashion-mnist")
    desc = ds.describe()
    assert desc["path"].endswith("t10k-images-idx3-ubyte.gz")
    images = DatasetImages()
    for pos in (0, 4321, 9999):
        t = images.thumbnail(desc, f"t10k/{pos}")
        assert t.reason == "" and np.array_equal(_decode(t.uri), np.asarray(ds.load(pos).convert("RGB")))


def test_a_changed_or_missing_dataset_gives_placeholders_never_a_wrong_image(small_folder):
    ds = open_dataset(str(small_folder))
    desc = ds.describe()
    sid = ds.ids[0]
    assert DatasetImages().thumbnail(desc, sid).uri
    unknown = DatasetImages().thumbnail(desc, "cat/nope.jpg")
    assert unknown.uri == "" and "not in dataset" in unknown.reason
    # one other file swapped for another image: the record's fingerprint no longer holds
    victim = small_folder / ds.ids[-1]
    victim.write_bytes((small_folder / ds.ids[1]).read_bytes())
    t = DatasetImages().thumbnail(desc, sid)
    assert t.uri == "" and "changed since the run" in t.reason
    shutil.rmtree(small_folder)
    t = DatasetImages().thumbnail(desc, sid)
    assert t.uri == "" and "no longer at" in t.reason
    assert DatasetImages().thumbnail({"name": "x", "path": "", "fingerprint": ""}, sid).reason


@pytest.mark.slow  # a real accuracy run, then the model again on every shown thumbnail
def test_misclassified_gallery_shows_each_image_with_its_own_top5(tmp_path, resnet20):
    store = tmp_path / "store"
    res = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=store, max_images=96, workers=0)
    assert not res.errors
    book = RecordBook(load_records(store), store)
    (rec,) = book.records
    g = misclassified(book, rec, DatasetImages())
    assert g is not None
    n_wrong = round((1 - rec["metrics"]["top1"]) * 96)
    assert len(g.items) == min(n_wrong, 32) and n_wrong > 0
    names = list(rec["data"]["per_class"])
    confs = []
    for it in g.items:
        x = torch.from_numpy(_decode(it.images[0].thumb.uri).copy()).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            p = torch.softmax(resnet20(x), 1)[0]
        top = p.topk(5)
        shown = re.findall(r'<td class="l">([^<]+)</td><td>([0-9.]+)</td>', it.extra)[:5]
        assert [s[0] for s in shown] == [names[int(i)] for i in top.indices]
        assert [float(s[1]) for s in shown] == pytest.approx([float(v) for v in top.values], abs=6e-4)
        true = it.sample.split("/")[0]
        assert it.caption.startswith(f"true: {true} · predicted: {names[int(top.indices[0])]}")
        assert int(top.indices[0]) != names.index(true)  # it is a mistake
        confs.append(float(top.values[0]))
    assert confs == sorted(confs, reverse=True)  # most confident mistakes first


@pytest.mark.slow  # a real accuracy run on a folder dataset
def test_page_degrades_to_placeholders_when_the_dataset_changed(small_folder, tmp_path):
    store = tmp_path / "store"
    res = visaudit.audit("cifar10_resnet20", "accuracy", str(small_folder), store=store, workers=0)
    assert not res.errors and res.records[0]["metrics"]["top1"] < 1
    book = RecordBook(load_records(store), store)
    before = render_browser(book, tmp_path / "a")
    assert before.n_items > 0 and before.n_placeholders == 0
    (small_folder / "cat" / sorted(p.name for p in (small_folder / "cat").iterdir())[0]).write_bytes(b"not an image")
    after = render_browser(book, tmp_path / "b")
    assert after.n_items == before.n_items and after.n_placeholders == after.n_items
    html = after.path.read_text()
    assert "<img" not in html and html.count('class="ph"') == after.n_items
    assert "changed since the run" in html


def test_contract_gallery_shows_only_listed_png_artifacts(tmp_path):
    from visaudit.report.synthetic import write_gallery_store

    recs = write_gallery_store(tmp_path / "store", n_models=1)
    book = RecordBook(load_records(tmp_path / "store"), tmp_path / "store")
    rec = next(r for r in book.records if r["probe"]["name"] == "counterfactuals")
    g = contract_gallery(book, rec, "Counterfactuals")
    assert g is not None and len(g.items) == len(rec["data"]["gallery"]) == 6
    assert all(s.thumb.uri for it in g.items for s in it.images)
    assert [s.label for s in g.items[0].images] == ["original", "counterfactual", "difference"]
    # an artifact name outside the record, a path, a non-PNG: placeholders with a reason
    bad = json.loads(json.dumps(rec))
    bad["data"]["gallery"][0]["images"] = [
        {"artifact": "../../records/x.png", "label": "a"},
        {"artifact": "unlisted.png", "label": "b"},
        {"artifact": "notes.txt", "label": "c"},
    ]
    g = contract_gallery(book, bad, "Counterfactuals")
    assert g is not None
    reasons = [s.thumb.reason for s in g.items[0].images]
    assert all(reasons) and not any(s.thumb.uri for s in g.items[0].images)
    from visaudit.report.synthetic import GALLERY_PROBES

    assert len(recs) == len(GALLERY_PROBES)  # one record per gallery probe


def test_gallery_artifacts_live_on_the_failure_browser_not_among_the_index_examples(tmp_path):
    from visaudit.report.render import render_report
    from visaudit.report.synthetic import GALLERY_PROBES, write_gallery_store

    write_gallery_store(tmp_path / "store", n_models=1)
    n_items = 6 * len(GALLERY_PROBES)  # 6 items per gallery record, one record per probe
    res = render_report(tmp_path / "store", tmp_path / "out")
    index = res.path.read_text()
    assert 'alt="g00_original.png"' not in index and '<a href="failures.html">' in index
    assert res.browser is not None and res.browser.n_items == n_items and res.browser.n_placeholders == 0
    page = res.browser.path.read_text()
    assert page.count('<li class="gi"') == n_items
    assert page.count('loading="lazy"') == 6 * sum(len(v) for v in GALLERY_PROBES.values())
    assert "http://" not in page and "https://" not in page  # self-contained
