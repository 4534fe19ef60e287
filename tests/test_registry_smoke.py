"""Smoke tests generated from the registries: a new probe, model source, corruption or detector
is tested the moment it is registered, without anyone adding it to a list."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import visaudit
from visaudit.errors import VisauditError
from visaudit.models import SOURCES, load_model, resolve_model
from visaudit.perturb.corruptions import CORRUPTIONS, corrupt
from visaudit.probes import PROBES
from visaudit.rng import SampleGenerators

DATA = Path(os.environ["VISAUDIT_DATA"])


def _real_batch(side: int, n: int = 3) -> torch.Tensor:
    from PIL import Image

    files = sorted((DATA / "cue-conflict" / "cat").glob("*.png"))[:n]
    arrs = [np.asarray(Image.open(f).convert("RGB").resize((side, side), Image.BICUBIC)) for f in files]
    return torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).float() / 255


# -- probes -------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", PROBES.names())
def test_every_probe_runs_on_real_images_and_declares_its_metrics(name, tmp_path):
    try:
        res = visaudit.audit("cifar10_resnet20", name, "cifar10-test", store=tmp_path, max_images=8)
    except VisauditError:  # a probe for other data: the 16-class stimuli (edges: those with observers)
        try:
            res = visaudit.audit("efficientnet_lite0", name, "cue-conflict", store=tmp_path, max_images=8)
        except VisauditError:
            res = visaudit.audit("efficientnet_lite0", name, "edges", store=tmp_path, max_images=8)
    assert res.records, "a job ran"
    for rec in res.records:
        assert rec["status"] == "ok", rec.get("error")
        cls = PROBES.get(name)
        undeclared = [m for m in rec["metrics"] if cls.metric_spec(m) is None]
        assert not undeclared, f"metrics without a MetricSpec: {undeclared[:5]}"
        assert rec["keyed_by"]["probe_version"] == cls.version
        if cls.random:
            assert "rng_device" in rec["keyed_by"]["numerics"]


# -- model sources --------------------------------------------------------------------------------------


def _write_example_files(spec: str, tmp: Path) -> str:
    """Create the files an example spec names (a state dict, a TorchScript file, an HF folder)."""
    spec = spec.replace("{tmp}", str(tmp))
    net = load_model("cifar10_resnet20").net.eval()
    if spec.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, spec.split("@", 1)[1])
    elif spec.endswith(".ts"):
        torch.jit.trace(net, torch.rand(1, 3, 32, 32)).save(spec)
    elif spec.startswith("clip:tiny-clip-test"):
        import open_clip

        open_clip.add_model_config(str(Path(__file__).parent / "data" / "tiny-clip-test.json"))
    elif spec.startswith("hf:"):
        from tests.helpers import save_tiny_vit

        save_tiny_vit(spec[3:])
    return spec


@pytest.mark.parametrize("name", SOURCES.names())
def test_every_model_source_resolves_its_example_offline(name, tmp_path):
    cls = SOURCES.get(name)
    assert cls.example or hasattr(cls, "make_example"), f"model source {name} declares an example"
    if cls.example:
        spec = _write_example_files(cls.example, tmp_path)
        source = resolve_model(spec)
    else:  # a source of objects (an nn.Module), not of names
        source = cls.make_example()
        spec = source
    assert isinstance(source, cls)
    info = source.info()
    assert info.num_classes > 0 and len(info.input_size) == 3
    if cls.example_builds_offline:
        from visaudit.models.classifier import Classifier

        model = Classifier(source.build(), info).eval()
        x = _real_batch(info.input_size[1], 2)
        with torch.inference_mode():
            out = model(x)
        assert out.shape == (2, info.num_classes) and torch.isfinite(out).all()
    else:  # needs a download: with VISAUDIT_OFFLINE=1 it must say so at once, not retry for a minute
        with pytest.raises(VisauditError, match="download|cache|hub"):
            source.build()


# -- corruptions ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CORRUPTIONS.names())
def test_every_corruption_is_per_image_deterministic_with_sample_generators(name):
    x = _real_batch(48, 3)
    gens = SampleGenerators.for_positions(0, name, [5, 9, 11], "cpu")
    whole = corrupt(x, name, 4, generator=gens)
    one = corrupt(x[1:2], name, 4, generator=SampleGenerators.for_positions(0, name, [9], "cpu"))
    assert whole.shape == x.shape and whole.dtype == x.dtype
    assert float(whole.min()) >= 0 and float(whole.max()) <= 1
    assert torch.allclose(whole[1:2], one, atol=1e-6), "an image is corrupted the same way in any batch"
    if CORRUPTIONS.get(name).random:
        other = corrupt(x, name, 4, generator=SampleGenerators.for_positions(1, name, [5, 9, 11], "cpu"))
        assert not torch.equal(other, whole), "another seed draws otherwise"


# -- OOD detectors ------------------------------------------------------------------------------------------


def test_every_ood_detector_separates_far_ood_on_real_features(tmp_path):
    from visaudit.ood import DETECTORS

    cfg = {"ood": {"ood_sets": ["uniform-noise"], "detectors": DETECTORS.names(), "max_ood_images": 64}}
    res = visaudit.audit("cifar10_resnet20", "ood", "cifar10-test", store=tmp_path, max_images=128, probe_config=cfg)
    rec = res.records[0]
    assert rec["status"] == "ok", rec.get("error")
    for det in DETECTORS.names():
        auroc = rec["metrics"][f"auroc@{det}/uniform-noise"]
        assert not math.isnan(auroc) and 0.0 <= auroc <= 1.0, det
