"""Attribution maps and their deletion / insertion curves: the curve maths against a hand
computation, Captum's maps against plain autograd, and integrated gradients against a random
map on the real CIFAR-10 ResNets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import visaudit
from visaudit.engine.store import Store
from visaudit.metrics.attribution_curves import auc, curves, pixel_order, step_counts

MAP_CFG = {"methods": ["integrated_gradients", "random"], "gallery": 2}


def real_cifar_batch(n: int, model) -> tuple[torch.Tensor, list[str]]:
    """``n`` real CIFAR-10 test images (32 px, [0, 1]) spread over the classes, and their ids."""
    from visaudit.data.catalog import open_dataset

    ds = open_dataset("cifar10-test").bind(model.info.preprocess())
    step = len(ds) // n
    pos = [i * step for i in range(n)]  # spread over the classes (the folders are sorted)
    x = torch.stack([torch.from_numpy(np.asarray(ds[p][0])).float() / 255 for p in pos])
    return x, [ds.ids[p] for p in pos]


def _image() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.tensor([[1.0, 0.5], [0.25, 0.0]]).expand(1, 3, 2, 2).clone()
    attr = torch.tensor([[[4.0, 3.0], [2.0, 1.0]]])
    return x, attr


def test_curves_and_areas_match_a_hand_computation():
    x, attr = _image()
    mean = lambda z: z.mean(dim=(1, 2, 3))  # noqa: E731 - the 'model': the image's mean value
    dele, ins = curves(mean, x, torch.zeros_like(x), attr, steps=4)
    # deletion removes 1, 0.5, 0.25, 0 in that order; insertion puts them back in that order
    torch.testing.assert_close(dele[0], torch.tensor([1.75, 0.75, 0.25, 0.0, 0.0]) / 4)
    torch.testing.assert_close(ins[0], torch.tensor([0.0, 1.0, 1.5, 1.75, 1.75]) / 4)
    # trapezoids over four equal steps of width 1/4
    assert float(auc(dele)[0]) == pytest.approx((0.3125 + 0.125 + 0.03125 + 0) / 4 / 1)
    assert float(auc(ins)[0]) == pytest.approx((0.125 + 0.3125 + 0.40625 + 0.4375) / 4)
    rev_dele, _ = curves(mean, x, torch.zeros_like(x), -attr, steps=4)
    assert float(auc(rev_dele)[0]) > float(auc(dele)[0])  # the reversed map is the worse one


def test_blocks_switch_together_and_ties_keep_raster_order():
    x, attr = _image()
    big = x.repeat_interleave(2, 2).repeat_interleave(2, 3)  # each pixel a 2x2 block
    big_attr = attr.repeat_interleave(2, 1).repeat_interleave(2, 2)
    mean = lambda z: z.mean(dim=(1, 2, 3))  # noqa: E731
    small = curves(mean, x, torch.zeros_like(x), attr, steps=4)
    blocks = curves(mean, big, torch.zeros_like(big), big_attr, steps=4, patch=2)
    torch.testing.assert_close(blocks[0], small[0])
    torch.testing.assert_close(blocks[1], small[1])
    assert pixel_order(torch.zeros(1, 2, 2)).tolist() == [[0, 1, 2, 3]]
    assert step_counts(10, 4) == [0, round(2.5), 5, round(7.5), 10]
    with pytest.raises(ValueError, match="divide"):
        curves(mean, x, torch.zeros_like(x), attr, steps=4, patch=3)


def test_captum_maps_equal_plain_autograd_on_a_real_model(resnet20):
    """Saliency and input x gradient through the probe's reduction = torch.autograd by hand."""
    from captum.attr import InputXGradient, Saliency

    net = resnet20.eval()
    x, _ = real_cifar_batch(4, net)
    t = net(x).argmax(1)
    xg = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(net(xg).gather(1, t[:, None]).sum(), xg)
    sal = Saliency(net).attribute(x.clone().requires_grad_(True), target=t, abs=True)
    torch.testing.assert_close(sal.amax(1), g.abs().amax(1))
    ixg = InputXGradient(net).attribute(x.clone().requires_grad_(True), target=t)
    torch.testing.assert_close(ixg.sum(1), (x * g).sum(1))


@pytest.mark.slow
def test_integrated_gradients_delete_evidence_faster_than_a_random_map(tmp_path):
    """IG's deletion AUC is below the random map's on real CIFAR-10 test images (cifar10_resnet20)."""
    res = visaudit.audit(
        "cifar10_resnet20",
        "attributions",
        "cifar10-test",
        store=tmp_path,
        max_images=64,
        workers=0,
        probe_config={"attributions": MAP_CFG},
    )
    rec = res.records[0]
    assert rec["status"] == "ok", rec.get("error")
    m = rec["metrics"]
    rows = Store(tmp_path).samples(rec["key"])
    diff = rows["deletion_auc_integrated_gradients"] - rows["deletion_auc_random"]
    # the per-image AUCs are what the metric averages
    assert m["deletion_auc@integrated_gradients"] == pytest.approx(rows["deletion_auc_integrated_gradients"].mean())
    assert m["deletion_auc@integrated_gradients"] < m["deletion_auc@random"]
    assert diff.mean() + 2 * diff.std() / np.sqrt(len(diff)) < 0, "IG beats random beyond two standard errors"
    # insertion from black is not asserted: on these 64 images IG's insertion AUC is below the random map's
    assert m["insertion_auc@random"] == pytest.approx(rows["insertion_auc_random"].mean())
    # the gallery follows the contract: original + one map per method, every artifact stored
    g = rec["data"]["gallery"]
    assert len(g) == 2 and [i["label"] for i in g[0]["images"]] == ["original", "integrated_gradients", "random"]
    from tests.test_probe_payloads import payload_problems
    from visaudit.probes.attributions import AttributionsData

    assert payload_problems(rec["data"], AttributionsData) == []
    names = {i["artifact"] for item in g for i in item["images"]}
    assert names <= {a.rsplit("/", 1)[-1] for a in rec["artifacts"]}
    curve = rec["data"]["curves"]["integrated_gradients"]["deletion"]
    assert len(curve) == MAP_CFG.get("steps", 16) + 1 and curve[0] > curve[-1]


class _NoGrad(torch.nn.Module):
    """A real network whose forward runs without autograd (like a frozen TorchScript export)."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.net(x)


@pytest.mark.slow
def test_a_model_without_gradients_and_bad_options_are_refused(tmp_path, resnet20):
    from visaudit.errors import VisauditError
    from visaudit.models import from_module

    model = from_module(_NoGrad(resnet20.net).eval(), "r20-nograd", label_space="cifar10", input_size=(3, 32, 32))
    cfg = {"attributions": {"methods": ["saliency", "random"], "steps": 2, "gallery": 0}}
    res = visaudit.audit(
        model, "attributions", "cifar10-test", store=tmp_path, max_images=2, workers=0, probe_config=cfg
    )
    msg = res.records[0]["error"]["message"]
    assert "carry no gradient" in msg and "saliency" in msg, msg
    for bad, match in (
        ({"methods": ["lime"]}, "unknown or no method"),
        ({"baseline": "noise"}, "baseline must be one of"),
        ({"patch": 5}, "does not divide"),
        ({"gradcam_layer": "nope"}, "no module 'nope'"),
    ):
        with pytest.raises(VisauditError, match=match):
            out = visaudit.audit(
                "cifar10_resnet20",
                "attributions",
                "cifar10-test",
                store=tmp_path,
                max_images=2,
                workers=0,
                probe_config={"attributions": {**bad, "steps": 1, "gallery": 0}},
            )
            raise VisauditError(out.records[0]["error"]["message"])
