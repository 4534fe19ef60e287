"""`import_decisions`: each subject of decision CSVs becomes a shape-bias record."""

import json
from pathlib import Path

import pandas as pd
import pytest

from visaudit.importers.decisions import import_decisions

DATA = Path(__file__).parent / "data"


def test_import_stores_one_record_per_subject(tmp_path):
    files = [DATA / "decisions_all_shape.csv", DATA / "decisions_all_texture.csv", DATA / "decisions_mixed.csv"]
    records = import_decisions(tmp_path, files)
    assert [r["model"]["name"] for r in records] == ["s-01", "s-02", "s-03"]
    for r in records:
        assert r["probe"]["name"] == "shape-bias" and r["dataset"]["name"] == "cue-conflict"
        assert r["status"] == "ok"
    by = {r["model"]["name"]: r for r in records}
    assert by["s-01"]["metrics"]["shape_bias"] == 1.0
    assert by["s-02"]["metrics"]["shape_bias"] == 0.0
    assert by["s-03"]["metrics"]["shape_bias"] == pytest.approx(3 / 7)
    assert by["s-03"]["metric_info"]["shape_bias@airplane"]["higher_is_better"] is True
    # stored on disk: a JSON record per subject and its decisions table
    stored = list((tmp_path / "records").glob("*.json")) if (tmp_path / "records").exists() else []
    assert len(stored) == 3
    rec = json.loads(stored[0].read_text())
    assert rec["samples_file"]
    samples = pd.read_parquet(tmp_path / rec["samples_file"])
    assert list(samples.columns[:5]) == ["subj", "session", "trial", "rt", "object_response"]
    assert len(samples) == 12


def test_reimport_is_idempotent(tmp_path):
    a = import_decisions(tmp_path, [DATA / "decisions_mixed.csv"])
    b = import_decisions(tmp_path, [DATA / "decisions_mixed.csv"])
    assert a[0]["key"] == b[0]["key"]
    assert len(list((tmp_path / "records").glob("*.json"))) == 1


def test_imported_subjects_appear_in_the_export(tmp_path):
    from visaudit.engine.export import records_to_frame
    from visaudit.engine.store import Store

    import_decisions(tmp_path, [DATA / "decisions_mixed.csv", DATA / "decisions_all_shape.csv"])
    frame = records_to_frame(Store(tmp_path).records())
    row = frame[(frame.model == "s-03") & (frame.metric == "shape_bias")]
    assert len(row) == 1
    assert row.iloc[0].probe == "shape-bias" and row.iloc[0].dataset == "cue-conflict"
    assert row.iloc[0].value == pytest.approx(3 / 7)
