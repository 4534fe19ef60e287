"""Reports and comparisons never mix runs: each (probe, dataset) measured another way is its own cell."""

from __future__ import annotations

import pytest

import visaudit
from tests.helpers import run_cli
from visaudit.report.comparison import compare
from visaudit.report.records import RecordBook, load_records

pytestmark = pytest.mark.slow  # real models over hundreds of images

MODELS = ["cifar10_resnet20", "cifar10_resnet32"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    st = root / "store"
    for n in (300, 350):
        visaudit.audit(MODELS, "accuracy", "cifar10-test", store=st, max_images=n)
    visaudit.audit(MODELS, "calibration", "cifar10-test", store=st, max_images=300)
    bad = root / "bad" / "cat"
    bad.mkdir(parents=True)
    (bad / "x.jpg").write_bytes(b"not an image")
    visaudit.audit(MODELS[0], "accuracy", str(root / "bad"), store=st)
    return st


def test_two_subset_sizes_of_one_cell_are_two_cells(store):
    book = RecordBook(load_records(store), store)
    cells = sorted({d for (_, p, d) in book.latest if p == "accuracy"})
    assert "cifar10-test [n=300]" in cells and "cifar10-test [n=350]" in cells
    for m in MODELS:
        recs = {book.cell(r): r for r in book.for_model(m, "accuracy")}
        assert recs["cifar10-test [n=300]"]["max_images"] == 300
        assert recs["cifar10-test [n=350]"]["max_images"] == 350
    # calibration was measured one way only: no qualifier
    assert {d for (_, p, d) in book.latest if p == "calibration"} == {"cifar10-test"}


def test_the_report_shows_both_subset_sizes_and_lists_failed_jobs(store, tmp_path):
    out = run_cli("report", "--store", str(store), "-o", str(tmp_path / "html"))
    assert out.returncode == 0, out.stderr
    html = (tmp_path / "html" / "index.html").read_text()
    assert "cifar10-test [n=300]" in html and "cifar10-test [n=350]" in html
    n_files = len(list((store / "records").glob("*.json")))
    assert f"{n_files} records ({n_files - 1} ok, 1 failed)" in html
    assert "Failed and refused jobs" in html and "could be read" in html
    # the positional form still works, and filters pick one run
    out = run_cli("report", str(store), "-o", str(tmp_path / "only300"), "--max-images", "300")
    assert out.returncode == 0, out.stderr
    html = (tmp_path / "only300" / "index.html").read_text()
    assert "n=350" not in html


def test_compare_never_puts_two_runs_in_one_column(store):
    comp = compare(store, metrics=["all"])
    cols = list(comp.table.columns)
    top1 = [c for c in cols if c.startswith("top1")]
    assert any("n=300" in c for c in top1) and any("n=350" in c for c in top1)
    recs = {
        (r["model"]["name"], r["max_images"]): r
        for r in load_records(store)
        if r["probe"]["name"] == "accuracy" and r["status"] == "ok"
    }
    col300 = next(c for c in top1 if "n=300" in c)
    for m in MODELS:
        assert comp.table.loc[m, col300] == recs[(m, 300)]["metrics"]["top1"]


def test_compare_with_an_unknown_model_lists_the_models_in_the_store(store):
    out = run_cli("compare", "--store", str(store), "-m", "cifar10_resnet2")
    assert out.returncode == 2
    text = out.stderr.replace("\n", " ")
    assert "cifar10_resnet20" in text and "cifar10_resnet32" in text


def test_export_carries_the_run_identity_columns(store, tmp_path):
    import pandas as pd

    out = run_cli("export", "--store", str(store), "-o", str(tmp_path / "e.csv"))
    assert out.returncode == 0, out.stderr
    frame = pd.read_csv(tmp_path / "e.csv")
    top1 = frame[(frame.metric == "top1") & (frame.probe == "accuracy")]
    assert sorted(top1["max_images"].dropna().astype(int).unique()) == [300, 350]
    assert {"seed", "config_sha256", "label_protocol", "precision"} <= set(frame.columns)
    assert (top1["label_protocol"] == "full (10 classes)").all()
