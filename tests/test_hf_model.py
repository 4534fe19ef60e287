"""Hugging Face source: a tiny, randomly initialised ViT saved locally and audited end to end."""

from __future__ import annotations

import pytest

transformers = pytest.importorskip("transformers")

import visaudit  # noqa: E402
from visaudit.models import load_model  # noqa: E402


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory):
    import torch

    from tests.helpers import save_tiny_vit

    torch.manual_seed(0)
    return save_tiny_vit(tmp_path_factory.mktemp("tiny-vit"), image_mean=[0.5] * 3, image_std=[0.25] * 3)


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
