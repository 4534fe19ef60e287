"""Model sources, the adapter and safe loading, on the real weights."""

from __future__ import annotations

import pickle

import pytest
import torch

from visaudit.errors import UnknownNameError, UnsafeCheckpointError, VisauditError
from visaudit.models import load_model, resolve_model
from visaudit.models.checkpoints import load_state_dict


def test_cifar_resnet_loads_with_metadata(resnet20):
    info = resnet20.info
    assert info.label_space == "cifar10" and info.num_classes == 10 and info.input_size == (3, 32, 32)
    assert resnet20.n_params == 269_722  # ResNet-20 with option-A shortcuts has 0.27 M parameters
    assert len(info.weights_sha256) == 64
    x = torch.rand(4, 3, 32, 32)
    feats, logits = resnet20.penultimate(x)
    assert feats.shape == (4, 64) and logits.shape == (4, 10)
    assert torch.allclose(logits, resnet20(x), atol=1e-5)
    out = resnet20.features(x, ["layer1", "layer3.2"])
    assert out["layer1"].shape == (4, 16, 32, 32) and out["layer3.2"].shape == (4, 64, 8, 8)


def test_adapter_normalises_inside(resnet20):
    x = torch.rand(2, 3, 32, 32)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(resnet20(x), resnet20.net((x - mean) / std), atol=1e-6)


def test_efficientnet_lite_weights_map_onto_timm(lite0):
    info = lite0.info
    assert info.arch == "tf_efficientnet_lite0" and info.input_size == (3, 224, 224)
    assert info.mean == (0.5, 0.5, 0.5) and info.interpolation == "bicubic" and info.crop_pct == 0.875
    # the BN statistics of the file arrive in the model (a fresh model has running_var == 1)
    bn = lite0.net.bn1
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))


def test_fresh_copy_is_untrained_and_seeded(resnet20):
    a, b = resnet20.fresh(1), resnet20.fresh(1)
    assert torch.equal(a.net.conv1.weight, b.net.conv1.weight)
    assert not torch.equal(a.net.conv1.weight, resnet20.net.conv1.weight)


def test_fingerprint_changes_with_weights(resnet20, tmp_path):
    from safetensors.torch import save_file

    sd = {k: v.clone() for k, v in resnet20.net.state_dict().items()}
    save_file(sd, str(tmp_path / "same.safetensors"))
    sd["linear.bias"] += 1
    save_file(sd, str(tmp_path / "other.safetensors"))
    same = load_model(f"cifar10_resnet20@{tmp_path / 'same.safetensors'}")
    other = load_model(f"cifar10_resnet20@{tmp_path / 'other.safetensors'}")
    assert same.info.weights_sha256 == resnet20.info.weights_sha256
    assert other.info.weights_sha256 != resnet20.info.weights_sha256
    assert same.info.label_space == "cifar10" and same.info.source == "local"


def test_timm_architecture_with_local_weights(tmp_path):
    """``timm:<arch>@<file>``: the local weights are used, not timm's pretrained ones (offline)."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(3)
    net = timm.create_model("resnet10t", pretrained=False, num_classes=10)
    save_file(net.state_dict(), str(tmp_path / "r10t.safetensors"))
    m = load_model(f"timm:resnet10t@{tmp_path / 'r10t.safetensors'}")
    assert m.info.source == "local" and m.info.num_classes == 10 and m.info.label_space == "cifar10"
    assert torch.equal(m.net.conv1[0].weight, net.conv1[0].weight)


def test_torchscript_file_loads(resnet20, tmp_path):
    path = tmp_path / "r20.pt"
    torch.jit.trace(resnet20.net, torch.rand(1, 3, 32, 32)).save(str(path))
    m = load_model(str(path) + "#cifar10")
    assert m.info.source == "torchscript" and m.info.num_classes == 10


class Evil:
    def __reduce__(self):
        return (print, ("this would run at load time",))


def test_checkpoint_needing_unpickling_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        torch.save({"state_dict": {"w": torch.zeros(1)}, "extra": Evil()}, f)
    with pytest.raises(UnsafeCheckpointError, match="refuses"):
        load_state_dict(path)


def test_file_that_is_not_a_checkpoint_is_reported(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_bytes(b"hello, I am a text file")
    with pytest.raises(VisauditError, match="neither a PyTorch checkpoint"):
        load_state_dict(path)
    with pytest.raises(VisauditError):
        load_model(f"cifar10_resnet20@{path}")
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(VisauditError):
        load_state_dict(raw)


def test_unknown_model_name_suggests(tmp_path):
    with pytest.raises(UnknownNameError, match="Did you mean .*'cifar10_resnet20'"):
        resolve_model("cifar10_resnet2")
    with pytest.raises(VisauditError, match="not found"):
        resolve_model(str(tmp_path / "missing.pt"))
