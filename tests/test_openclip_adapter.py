"""open_clip zero-shot adapter, with a randomly initialised tiny CLIP saved to a local file."""

from pathlib import Path

import numpy as np
import pytest
import torch

open_clip = pytest.importorskip("open_clip")

from visaudit.models.clip_templates import IMAGENET_TEMPLATES  # noqa: E402
from visaudit.models.openclip import load_openclip  # noqa: E402

CONFIG = Path(__file__).parent / "data" / "tiny-clip-test.json"
CLASSES = ["cat", "dog", "car"]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    open_clip.add_model_config(str(CONFIG))
    torch.manual_seed(0)
    model = open_clip.create_model("tiny-clip-test")
    path = tmp_path_factory.mktemp("clip") / "tiny.pt"
    torch.save(model.state_dict(), path)
    return str(path)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    from visaudit import settings

    monkeypatch.setenv(settings.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_templates_match_open_clip_list():
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES

    assert len(IMAGENET_TEMPLATES) == 80
    assert [t.format("zebra") for t in IMAGENET_TEMPLATES] == [f("zebra") for f in OPENAI_IMAGENET_TEMPLATES]


def _direct_logits(weights, x, classes, templates):
    """Independent computation straight from open_clip."""
    clip = open_clip.create_model("tiny-clip-test", pretrained=weights).eval()
    tok = open_clip.get_tokenizer("tiny-clip-test")
    mean = torch.tensor(open_clip.OPENAI_DATASET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(open_clip.OPENAI_DATASET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        img = clip.encode_image((x - mean) / std)
        img = img / img.norm(dim=-1, keepdim=True)
        rows = []
        for c in classes:
            t = clip.encode_text(tok([tp.format(c) for tp in templates]))
            t = t / t.norm(dim=-1, keepdim=True)
            m = t.mean(0)
            rows.append(m / m.norm())
        return 100 * img @ torch.stack(rows).T


def test_zero_shot_logits_match_direct_computation(weights):
    x = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    clf = load_openclip(f"tiny-clip-test:{weights}", CLASSES)
    assert clf.info.input_size == (3, 64, 64) and clf.info.num_classes == 3
    with torch.no_grad():
        got = clf(x)
    assert torch.allclose(got, _direct_logits(weights, x, CLASSES, IMAGENET_TEMPLATES), atol=1e-3)


def test_text_side_is_cached_on_disk(weights, cache_dir, monkeypatch):
    load_openclip(f"tiny-clip-test:{weights}", CLASSES, templates=["a {}."])
    assert len(list(cache_dir.rglob("*.pt"))) == 1

    def boom(*a, **k):
        raise AssertionError("text tower ran although the embeddings were cached")

    monkeypatch.setattr(open_clip.model.CLIP, "encode_text", boom)
    clf = load_openclip(f"tiny-clip-test:{weights}", CLASSES, templates=["a {}."])
    assert clf(torch.rand(1, 3, 64, 64)).shape == (1, 3)
    with pytest.raises(AssertionError):  # new prompts are a new key
        load_openclip(f"tiny-clip-test:{weights}", CLASSES, templates=["the {}."])


def test_descriptions_mean_score_and_decisive_description(weights, tmp_path):
    desc = {
        "cat": ["a small furry pet", "whiskers and pointed ears"],
        "dog": ["a loyal pet that barks"],
        "car": ["a vehicle with four wheels", "a road vehicle", "has headlights"],
    }
    f = tmp_path / "desc.json"
    import json

    f.write_text(json.dumps(desc))
    clf = load_openclip(f"tiny-clip-test:{weights}", CLASSES, descriptions=str(f))
    x = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        logits, decisive = clf.net.describe(clf.normalize(x))
        assert torch.allclose(logits, clf(x), atol=1e-4)
        feats = clf.net.image_features(clf.normalize(x))
        tok = open_clip.get_tokenizer("tiny-clip-test")
        for i, c in enumerate(CLASSES):
            e = clf.net.clip.encode_text(tok(desc[c]))
            e = e / e.norm(dim=-1, keepdim=True)
            assert torch.allclose(logits[:, i], (100 * feats @ e.T).mean(1), atol=1e-3)
    pred = logits.argmax(1)
    for p, d in zip(pred, decisive):
        assert d in desc[CLASSES[int(p)]]
    with pytest.raises(Exception, match="dog"):
        load_openclip(f"tiny-clip-test:{weights}", CLASSES, descriptions={"cat": ["x"], "car": ["y"]})


def test_with_templates_changes_the_head_not_the_image_tower(weights):
    clf = load_openclip(f"tiny-clip-test:{weights}", CLASSES)
    from visaudit.models.classifier import Classifier

    other = Classifier(clf.net.with_templates(["a texture of a {}."]), clf.info)
    assert other.net.clip is clf.net.clip
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(clf(x), other(x))
        assert torch.allclose(other(x), _direct_logits(weights, x, CLASSES, ["a texture of a {}."]), atol=1e-3)


def test_unknown_arch_and_missing_file_are_clear_errors():
    from visaudit.errors import VisauditError

    with pytest.raises(VisauditError, match="architecture"):
        load_openclip("no-such-arch:random", CLASSES)
    open_clip.add_model_config(str(CONFIG))
    with pytest.raises(VisauditError, match="not found"):
        load_openclip("tiny-clip-test:/nonexistent/w.pt", CLASSES)


def test_clip_prefix_resolves_through_load_model(weights):
    from visaudit.models import load_model

    model = load_model(f"clip:tiny-clip-test:{weights}:cifar10")
    assert model.info.label_space == "cifar10" and model.info.num_classes == 10
    assert model.info.source == "openclip" and model.info.weights_sha256
    feats, logits = model.penultimate(torch.rand(2, 3, 64, 64))
    assert feats.shape == (2, 32) and logits.shape == (2, 10)
    assert torch.allclose(logits, feats @ model.head_weight.T, atol=1e-4)  # 100 x cosine head
    assert torch.allclose(feats.norm(dim=1), torch.ones(2), atol=1e-4)


def test_shape_bias_prompt_steering_end_to_end(tmp_path):
    """A (random, tiny) CLIP through visaudit.audit: decisions stored, steering reported."""
    import visaudit
    from visaudit.engine.store import Store

    open_clip.add_model_config(str(CONFIG))
    res = visaudit.audit(
        "clip:tiny-clip-test:random:imagenet16", "shape-bias", "cue-conflict", store=tmp_path / "store", max_images=16
    )
    (rec,) = res.records
    assert rec["status"] == "ok", rec.get("error")
    m = rec["metrics"]
    assert rec["model"]["source"] == "openclip" and rec["model"]["preprocess"]["input_size"] == [3, 64, 64]
    steer = rec["data"]["prompt_steering"]["results"]
    assert set(steer) == {"shape", "texture"}
    assert m["shape_bias_prompt@shape"] == steer["shape"]["shape_bias"] or np.isnan(m["shape_bias_prompt@shape"])
    if not np.isnan(m["prompt_steering_range"]):
        assert m["prompt_steering_range"] == pytest.approx(
            steer["shape"]["shape_bias"] - steer["texture"]["shape_bias"]
        )
    assert len(Store(tmp_path / "store").samples(rec["key"])) == 16
