"""shape-bias end to end through visaudit.audit on the real stimuli and EfficientNet-Lite."""

import numpy as np
import pandas as pd
import pytest
import torch

import visaudit
from visaudit.engine.store import Store
from visaudit.metrics.shape_bias import DECISION_COLUMNS, shape_bias_from_decisions, texture_from_imagename


def _direct_16class(probs_1000: np.ndarray, table: pd.DataFrame, categories: list[str]) -> np.ndarray:
    """The 1000 -> 16 rule written straight from the category table: mean probability per category."""
    return np.stack(
        [probs_1000[:, table.loc[table.category == c, "imagenet_index"].to_numpy()].mean(1) for c in categories], axis=1
    )


def test_sixteen_class_rule_matches_the_category_table():
    from visaudit.data.labels import imagenet16, imagenet16_table, label_map

    table = pd.read_csv(imagenet16_table())
    space = imagenet16()
    assert len(table) == 207 and len(space) == 16
    logits = torch.randn(32, 1000, generator=torch.Generator().manual_seed(0)) * 4
    got = label_map("imagenet1k", 1000, space).probs(logits).numpy()
    direct = _direct_16class(torch.softmax(logits, 1).numpy(), table, list(space.classes))
    assert np.array_equal(got.argmax(1), direct.argmax(1))
    assert np.allclose(got, direct / direct.sum(1, keepdims=True), atol=1e-6)


@pytest.mark.slow
def test_lite0_cue_conflict_decisions_stored_in_psychophysics_schema(tmp_path):
    res = visaudit.audit("efficientnet_lite0", "shape-bias", "cue-conflict", store=tmp_path, max_images=96)
    (rec,) = res.records
    assert rec["status"] == "ok", rec.get("error")
    m = rec["metrics"]
    samples = Store(tmp_path).samples(rec["key"])
    assert list(samples.columns[:8]) == DECISION_COLUMNS and len(samples) == 96
    assert (samples["subj"] == "efficientnet_lite0").all()
    # the stored record is exactly the analysis of its stored decisions (humans go the same way)
    again = shape_bias_from_decisions(samples)
    for k in ("shape_bias", "shape_match", "texture_match"):
        assert m[k] == pytest.approx(again[k])
    assert 0.0 <= m["shape_bias"] <= 1.0
    # an ImageNet CNN decides by texture far more often than by shape (Geirhos et al.)
    assert m["texture_match"] > m["shape_match"] and m["shape_bias"] < 0.5
    assert any(k.startswith("shape_bias@") for k in m)
    assert rec["metric_info"]["shape_bias"]["higher_is_better"] is True

    # texture parsed from the image name agrees with the dataset's own texture labels
    ds = visaudit.open_dataset("cue-conflict")
    pos = samples["trial"].to_numpy() - 1
    textures = [ds.label_space.classes[t] for t in ds.aux_labels["texture"][pos]]
    assert [texture_from_imagename(n) for n in samples["imagename"]] == textures

    # decisions recomputed directly: model -> softmax -> category-table mean -> argmax
    from visaudit.data.base import Preprocess
    from visaudit.data.labels import imagenet16_table

    model = visaudit.load_model("efficientnet_lite0")
    info = model.info
    bound = ds.bind(Preprocess(tuple(info.input_size), info.interpolation, info.crop_pct))
    first = pos[:8]
    x = torch.stack([torch.from_numpy(bound[int(p)][0]) for p in first]).float() / 255
    with torch.no_grad():
        probs = torch.softmax(model(x), 1).numpy()
    direct = _direct_16class(probs, pd.read_csv(imagenet16_table()), list(ds.label_space.classes))
    expected = [ds.label_space.classes[i] for i in direct.argmax(1)]
    assert samples["object_response"].iloc[:8].tolist() == expected


def test_lite0_silhouettes_sixteen_class_accuracy(tmp_path):
    res = visaudit.audit("efficientnet_lite0", "shape-bias", "silhouettes", store=tmp_path, max_images=48)
    (rec,) = res.records
    samples = Store(tmp_path).samples(rec["key"])
    acc = rec["metrics"]["top1_16class"]
    assert acc == pytest.approx((samples.object_response == samples.category).mean())
    assert acc > 0.2  # far above the 1/16 chance level on filled silhouettes
    assert "shape_bias" not in rec["metrics"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_lite1_lite2_shape_bias_stored(tmp_path, name):
    res = visaudit.audit(name, "shape-bias", "cue-conflict", store=tmp_path, max_images=32)
    (rec,) = res.records
    assert rec["status"] == "ok", rec.get("error")
    assert rec["model"]["preprocess"]["input_size"][1] in (240, 260)
    assert 0.0 <= rec["metrics"]["shape_bias"] <= 1.0
    assert len(Store(tmp_path).samples(rec["key"])) == 32
