"""Hugging Face source: a tiny, randomly initialised ViT saved locally and audited end to end."""

from __future__ import annotations

import pytest

transformers = pytest.importorskip("transformers")

import visaudit  # noqa: E402
from visaudit.models import load_model  # noqa: E402


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory):
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    torch.manual_seed(0)
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    cfg = ViTConfig(
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        num_labels=10,
        id2label=dict(enumerate(classes)),
        label2id={c: i for i, c in enumerate(classes)},
    )
    folder = tmp_path_factory.mktemp("tiny-vit")
    ViTForImageClassification(cfg).save_pretrained(folder, safe_serialization=True)
    ViTImageProcessor(size={"height": 32, "width": 32}, image_mean=[0.5] * 3, image_std=[0.25] * 3).save_pretrained(
        folder
    )
    return folder


def test_hf_model_metadata_and_logits(tiny_vit):
    import torch

    m = load_model(f"hf:{tiny_vit}")
    assert m.info.source == "hf" and m.info.num_classes == 10 and m.info.input_size == (3, 32, 32)
    assert m.info.std == (0.25, 0.25, 0.25)
    assert m(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_hf_model_runs_on_cifar_by_class_names(tiny_vit, tmp_path):
    res = visaudit.audit(f"hf:{tiny_vit}", "accuracy", "cifar10-test", store=tmp_path, max_images=64)
    rec = res.records[0]
    assert rec["status"] == "ok" and rec["label_map"]["kind"] == "identity"
    assert 0.0 <= rec["metrics"]["top1"] <= 1.0 and rec["n_samples"] == 64
