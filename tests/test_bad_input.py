"""Bad input reaches the user as one clear line naming the offending path and exit code 2, never a traceback."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import torch
from torch import nn

import visaudit
from tests.helpers import run_cli

DATA = Path(os.environ["VISAUDIT_DATA"])


def _clear_failure(out, *needles: str) -> None:
    text = (out.stdout + out.stderr).replace("\n", " ")
    assert out.returncode == 2, text[-800:]
    assert "Traceback" not in text, text[-800:]
    for n in needles:
        assert n in text, (n, text[-800:])


@pytest.mark.slow
def test_strict_stops_at_a_truncated_jpeg_naming_it(tmp_path):
    (tmp_path / "data" / "cat").mkdir(parents=True)
    good = DATA / "cifar10-test" / "cat" / "0000.jpg"
    shutil.copy(good, tmp_path / "data" / "cat" / "good.jpg")
    (tmp_path / "data" / "cat" / "cut.jpg").write_bytes(good.read_bytes()[:300])
    out = run_cli(
        "run",
        "-m",
        "cifar10_resnet20",
        "-d",
        str(tmp_path / "data"),
        "--strict",
        "--store",
        str(tmp_path / "s"),
        "-q",
        "--workers",
        "1",
    )
    _clear_failure(out, "cat/cut.jpg")
    lenient = run_cli(
        "run", "-m", "cifar10_resnet20", "-d", str(tmp_path / "data"), "--store", str(tmp_path / "s"), "-q"
    )
    assert lenient.returncode == 0 and "1 unreadable" in lenient.stdout


def test_a_corrupt_model_file_is_named(tmp_path):
    bad = tmp_path / "model.ts"
    bad.write_bytes(b"this is not a model")
    out = run_cli("run", "-m", str(bad), "-d", "cifar10-test", "--store", str(tmp_path / "s"), "--max-images", "4")
    _clear_failure(out, str(bad), "neither a PyTorch checkpoint")


def test_export_into_a_missing_folder_and_report_onto_a_file(tmp_path):
    store = tmp_path / "s"
    visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=store, max_images=8)
    out = run_cli("export", "--store", str(store), "-o", str(tmp_path / "nowhere" / "x.csv"))
    _clear_failure(out, "nowhere", "does not exist")
    blocker = tmp_path / "taken"
    blocker.write_text("a file, not a folder")
    out = run_cli("report", str(store), "-o", str(blocker / "report"))
    _clear_failure(out, "cannot write the report")


def test_import_of_a_csv_with_the_wrong_columns_names_the_file(tmp_path):
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    out = run_cli("import", "--store", str(tmp_path / "s"), str(wrong))
    _clear_failure(out, "wrong.csv", "lacks column(s)")


class _FixedSize(nn.Module):
    """A CIFAR-sized model whose head only takes 32 x 32 inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Linear(4 * 32 * 32, 10)

    def forward(self, x):
        return self.head(self.conv(x).flatten(1))


def test_torchscript_models_are_probed_at_their_own_input_size(tmp_path):
    from visaudit.models import resolve_model

    fixed = tmp_path / "fixed32.ts"
    torch.jit.trace(_FixedSize().eval(), torch.rand(1, 3, 32, 32)).save(str(fixed))
    info = resolve_model(str(fixed)).info()
    assert info.input_size == (3, 32, 32) and info.num_classes == 10 and info.label_space == "cifar10"
    res = visaudit.audit(str(fixed), "accuracy", "cifar10-test", store=tmp_path / "s", max_images=16)
    assert res.records[0]["status"] == "ok"
    # the real CIFAR ResNet takes any size: 10 outputs mean CIFAR-10, so it is probed at 32 px
    from visaudit.models import load_model

    net = load_model("cifar10_resnet20").net.eval()
    traced = tmp_path / "r20.ts"
    torch.jit.trace(net, torch.rand(1, 3, 32, 32)).save(str(traced))
    assert resolve_model(str(traced)).info().input_size == (3, 32, 32)
    # declared metadata wins over probing
    meta = tmp_path / "meta.ts"
    torch.jit.save(
        torch.jit.trace(net, torch.rand(1, 3, 32, 32)),
        str(meta),
        _extra_files={"visaudit.json": '{"input_size": [3, 40, 40], "mean": [0.5, 0.5, 0.5]}'},
    )
    info = resolve_model(str(meta)).info()
    assert info.input_size == (3, 40, 40) and info.mean == (0.5, 0.5, 0.5)


@pytest.mark.parametrize("spec", ["timm:resnet18", "tv:resnet18"])
def test_offline_hub_models_fail_at_once_with_a_clear_message(spec, tmp_path):
    from visaudit.errors import VisauditError

    t0 = time.perf_counter()
    with pytest.raises(VisauditError, match="cache") as err:  # at plan time: the weights fingerprint needs them
        visaudit.audit(spec, "accuracy", "cue-conflict", store=tmp_path, max_images=4)
    assert time.perf_counter() - t0 < 30, "no minute of hub retries"
    assert spec.split(":")[1] in str(err.value)


def test_audit_accepts_an_nn_module_and_keys_it_by_its_weights(tmp_path):
    from visaudit.models import from_module, load_model

    net = load_model("cifar10_resnet20").net.eval()
    res = visaudit.audit(net, "accuracy", "cifar10-test", store=tmp_path, max_images=64)
    rec = res.records[0]
    assert rec["status"] == "ok" and rec["model"]["source"] == "module"
    assert list(rec["model"]["input_size"]) == [3, 32, 32] and rec["label_map"]["kind"] == "identity"
    zoo = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path, max_images=64)
    assert rec["metrics"]["top1"] == zoo.records[0]["metrics"]["top1"], "same network, same numbers"
    assert rec["model"]["weights_sha256"] == zoo.records[0]["model"]["weights_sha256"]
    named = visaudit.audit(
        from_module(net, "my-r20", label_space="cifar10", input_size=(3, 32, 32)),
        "accuracy",
        "cifar10-test",
        store=tmp_path,
        max_images=64,
    )
    assert named.records[0]["model"]["name"] == "my-r20"
    from visaudit.errors import VisauditError

    with pytest.raises(VisauditError, match="name, a visaudit ModelSource or an nn.Module"):
        visaudit.audit(42, "accuracy", "cifar10-test", store=tmp_path)
