"""Shape-bias analysis of hand-made decision CSVs whose answers are known by construction."""

import math
from pathlib import Path

import pandas as pd
import pytest

from visaudit.metrics.shape_bias import (
    read_decision_csvs,
    shape_bias_by_subject,
    shape_bias_from_decisions,
    shape_from_imagename,
    texture_from_imagename,
)

DATA = Path(__file__).parent / "data"


def test_texture_and_shape_from_names():
    assert texture_from_imagename("airplane/airplane1-bicycle2.png") == "bicycle"
    assert texture_from_imagename("0004_cl_s-03_cue-conflict_0_knife_0_knife5-oven2.png") == "oven"
    assert shape_from_imagename("airplane10-airplane1.png") == "airplane"


def test_all_shape_file_is_one():
    m = shape_bias_from_decisions(pd.read_csv(DATA / "decisions_all_shape.csv"))
    assert m["shape_bias"] == 1.0
    assert m["shape_match"] == 1.0 and m["texture_match"] == 0.0
    assert m["n_conflict"] == 10  # the 2 same-class rows are dropped


def test_all_texture_file_is_zero():
    m = shape_bias_from_decisions(pd.read_csv(DATA / "decisions_all_texture.csv"))
    assert m["shape_bias"] == 0.0
    assert m["texture_match"] == 1.0 and m["shape_match"] == 0.0


def test_mixed_file_by_hand():
    # 10 conflict trials: 3 answered with the shape, 4 with the texture, 3 with neither;
    # the 2 same-class trials (answered "correctly") must not count.
    m = shape_bias_from_decisions(pd.read_csv(DATA / "decisions_mixed.csv"))
    assert m["shape_bias"] == pytest.approx(3 / 7)
    assert m["shape_match"] == pytest.approx(0.3)
    assert m["texture_match"] == pytest.approx(0.4)
    assert m["shape_bias@airplane"] == 1.0
    assert m["shape_bias@knife"] == 0.0
    assert math.isnan(m["shape_bias@dog"])
    assert "shape_bias@bird" not in m  # bird only appears as a same-class stimulus


def test_several_files_split_by_subject_and_subject_column_alias():
    df = read_decision_csvs(
        [str(DATA / f) for f in ("decisions_all_shape.csv", "decisions_all_texture.csv", "decisions_mixed.csv")]
    )
    by = shape_bias_by_subject(df.rename(columns={"subj": "subject"}))
    assert {k: round(v["shape_bias"], 6) for k, v in by.items()} == {"s-01": 1.0, "s-02": 0.0, "s-03": round(3 / 7, 6)}


def test_missing_column_is_a_clear_error():
    with pytest.raises(ValueError, match="object_response"):
        shape_bias_from_decisions(pd.DataFrame({"subj": ["a"], "category": ["cat"], "imagename": ["x"]}))
