"""The ``counterfactuals`` probe and its optimisers on the two Fashion-MNIST models trained here
(standard and L2-PGD adversarially trained), on real Fashion-MNIST test images.

Must show: the robust model's counterfactual perturbations carry class structure and the
standard model's do not (cosine with the difference of the class-mean training images); AFW
reaches APGD's target confidence at equal iterations; every norm stays in its ball and the box;
the probe's numbers equal a direct recomputation; bad input is refused with a clear message.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import visaudit
from visaudit.attacks import lp_balls
from visaudit.attacks.afw import afw
from visaudit.attacks.apgd import apgd_ascent
from visaudit.attacks.oracle import Oracle
from visaudit.errors import VisauditError

N_IMAGES = 24
RADIUS = {"l1.5": 8.0, "l2": 3.0, "linf": 0.15}


@pytest.fixture(scope="module")
def fmnist():
    """Both zoo models (trained once into the session's cache on first use) and real test images."""
    from visaudit.models import load_model
    from visaudit.models.fmnist import _as_rgb, load_split

    models = {name: load_model(name) for name in ("fmnist_cnn", "fmnist_cnn_robust")}
    images, labels = load_split("t10k")
    train_x, train_y = load_split("train")
    # class means of the training images (grey, [0,1]): the structure a perturbation should carry
    means = torch.stack([torch.from_numpy(train_x[train_y == k].astype(np.float64).mean(0) / 255) for k in range(10)])
    x = _as_rgb(images[:N_IMAGES]).contiguous()
    return models, x, torch.from_numpy(labels[:N_IMAGES]), means


def _objective(targets: torch.Tensor):
    return lambda logits, rows: torch.log_softmax(logits, 1).gather(1, targets[rows][:, None])[:, 0]


def _all_pairs(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every image with each of the 9 classes that are not its label (model-independent targets)."""
    rows = torch.arange(len(x)).repeat_interleave(9)
    t = torch.tensor([k for yi in y.tolist() for k in range(10) if k != yi])
    return x[rows], y[rows], t


def _confidence(model, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.softmax(model(x), 1).gather(1, t[:, None])[:, 0]


@pytest.mark.slow
@pytest.mark.parametrize("norm", ["l2", "l1.5"])
def test_robust_counterfactuals_carry_class_structure_the_standard_ones_do_not(fmnist, norm):
    """Statistic: mean over (image, target) pairs of cos(mean over channels of x_cf - x,
    mean_train[target] - mean_train[label]), AFW, 30 iterations, the same radius for both."""
    models, x, y, means = fmnist
    xs, ys, ts = _all_pairs(x[:12], y[:12])  # 108 pairs
    cos = {}
    for name, model in models.items():
        x_cf, _ = afw(Oracle(model), xs, _objective(ts), norm=norm, eps=RADIUS[norm], n_iter=30)
        d = (x_cf - xs).mean(1).flatten(1).double()
        ref = (means[ts] - means[ys]).flatten(1)
        cos[name] = float(torch.nn.functional.cosine_similarity(d, ref, dim=1).mean())
    print(f"cosine with class-mean difference ({norm}, radius {RADIUS[norm]}): {cos}")
    # measured on these 108 pairs: l2 (r=3) 0.524 vs 0.392, l1.5 (r=8) 0.401 vs 0.313 (robust vs standard)
    assert cos["fmnist_cnn_robust"] > cos["fmnist_cnn"] + 0.07, cos
    assert cos["fmnist_cnn_robust"] > 1.2 * cos["fmnist_cnn"], cos


@pytest.mark.slow
@pytest.mark.parametrize("norm", ["l1.5", "l2", "linf"])
def test_afw_reaches_apgds_target_confidence_and_both_stay_in_ball_and_box(fmnist, norm):
    models, x, y, _ = fmnist
    with torch.no_grad():
        second = {n: m(x).argsort(1, descending=True)[:, 1] for n, m in models.items()}
    p, eps = lp_balls.norm_p(norm), RADIUS[norm]
    for name, model in models.items():
        t = second[name]
        out, spent = {}, {}
        for method in ("afw", "apgd"):
            oracle = Oracle(model)
            if method == "afw":
                x_cf, _ = afw(oracle, x, _objective(t), norm=norm, eps=eps, n_iter=30)
            else:
                x_cf, _ = apgd_ascent(oracle, x, y, _objective(t), norm=norm, eps=eps, n_iter=30)
            assert x_cf.min() >= 0 and x_cf.max() <= 1
            assert float((lp_balls.lp((x_cf - x).double(), p) / eps).max()) <= 1 + 1e-5
            out[method], spent[method] = float(_confidence(model, x_cf, t).mean()), oracle.n_backward
        assert spent["afw"] == spent["apgd"] == 31 * len(x)  # equal budgets: n_iter + 1 gradients each
        print(f"{name} {norm}={eps}: mean target confidence {out}")
        if norm == "l1.5":  # the paper's ball, where APGD needs the costly projection
            assert out["afw"] >= out["apgd"], (name, out)  # measured: 0.879 vs 0.863, 0.413 vs 0.404
        else:
            # Frank-Wolfe's convex combinations sit a little inside the L2 sphere / off the Linf box's
            # faces; measured here 0.0005 (l2) and 0.0014 (linf) below APGD at most, and the authors'
            # AFW is further below (bench/results/afw_vs_apgd_fmnist_n200.txt)
            assert out["afw"] >= out["apgd"] - 0.003, (name, out)


@pytest.mark.slow
def test_the_probe_equals_a_direct_recomputation_and_stores_its_gallery(fmnist, tmp_path):
    models, *_ = fmnist
    cfg = {"norm": "l1.5", "radius": 8.0, "n_iter": 10, "gallery": 4}
    res = visaudit.audit(
        "fmnist_cnn_robust",
        "counterfactuals",
        "fashion-mnist",
        store=tmp_path,
        max_images=8,
        probe_config={"counterfactuals": cfg},
    )
    (rec,) = res.records
    assert rec["status"] == "ok", rec.get("error")
    import pandas as pd

    from visaudit.models.fmnist import _as_rgb, load_split

    rows = pd.read_parquet(tmp_path / "samples" / f"{rec['key']}.parquet")
    model = models["fmnist_cnn_robust"]
    idx = rows["index"].to_numpy()
    assert len(idx) == 8 and (rows["id"] == [f"t10k/{i}" for i in idx]).all()
    x = _as_rgb(load_split("t10k")[0][idx]).contiguous()  # the IDX bytes, read independently of the probe
    with torch.no_grad():
        t = model(x).argsort(1, descending=True)[:, 1]
    assert (t.numpy() == rows["target"].to_numpy()).all()
    x_cf, _ = afw(Oracle(model), x, _objective(t), norm="l1.5", eps=8.0, n_iter=10)
    conf = _confidence(model, x_cf, t)
    with torch.no_grad():
        hit = model(x_cf).argmax(1) == t
    m = rec["metrics"]
    assert m["mean_target_confidence"] == pytest.approx(float(conf.mean()), abs=1e-4)
    assert m["success_rate"] == pytest.approx(float(hit.float().mean()), abs=1e-9)
    assert m["mean_distance"] == pytest.approx(float(lp_balls.lp(x_cf - x, 1.5).mean()), rel=1e-4)
    assert m["mean_distance"] <= 8.0 * (1 + 1e-5)
    paths = np.stack(rows["path"].to_numpy())
    assert paths.shape == (8, 11)
    np.testing.assert_allclose(paths[:, 0], rows["clean_confidence"], atol=1e-5)
    np.testing.assert_allclose(rec["data"]["mean_path"], paths.mean(0), atol=1e-6)
    gallery = rec["data"]["gallery"]
    assert len(gallery) == 4
    stored = {a.rsplit("/", 1)[-1] for a in rec["artifacts"]}
    for item in gallery:
        assert [im["label"] for im in item["images"]] == ["original", "counterfactual", "difference"]
        assert {im["artifact"] for im in item["images"]} <= stored
        assert "-> target:" in item["caption"]
    from PIL import Image

    first = tmp_path / "artifacts" / rec["key"] / gallery[0]["images"][1]["artifact"]
    assert max(Image.open(first).size) <= 128


def test_bad_targets_radius_norm_and_method_are_refused_before_compute(tmp_path):
    bad = [
        ({"targets": [10]}, "outside the label space"),
        ({"targets": [-1, 3]}, "outside the label space"),
        ({"targets": "third"}, "'second', 'all'"),
        ({"radius": 0.0}, "radius must be > 0"),
        ({"radius": -1.0}, "radius must be > 0"),
        ({"norm": "l1"}, "norm must be one of"),
        ({"method": "pgd"}, "method must be one of"),
    ]
    for cfg, needle in bad:
        with pytest.raises(VisauditError, match=needle):
            visaudit.audit(
                "cifar10_resnet20",
                "counterfactuals",
                "cifar10-test",
                store=tmp_path,
                max_images=2,
                probe_config={"counterfactuals": cfg},
            )


@pytest.mark.slow
def test_a_model_without_input_gradients_is_refused(tmp_path):
    from torch import nn

    from visaudit.models import load_model

    class Detached(nn.Module):
        def __init__(self, net: nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x.detach())

    path = tmp_path / "detached.ts"
    torch.jit.script(Detached(load_model("cifar10_resnet20").net.eval())).save(str(path))
    res = visaudit.audit(
        str(path),
        "counterfactuals",
        "cifar10-test",
        store=tmp_path / "s",
        max_images=2,
        probe_config={"counterfactuals": {"n_iter": 2}},
    )
    (rec,) = res.records
    assert rec["status"] == "error" and "gives none" in rec["error"]["message"], rec.get("error")


def test_lp_norm_of_counterfactual_shapes():
    """Sanity of the helper the tests use: a radius-r perturbation on one pixel has norm r."""
    d = torch.zeros(1, 3, 4, 4)
    d[0, 0, 1, 1] = 0.5
    for p in (1.5, 2.0, math.inf):
        assert float(lp_balls.lp(d, p)) == pytest.approx(0.5)


def test_afw_refuses_step_and_momentum_outside_their_ranges():
    x = torch.rand(2, 3, 8, 8)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 10))
    loss = _objective(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="beta"):
        afw(model, x, loss, norm="l2", eps=1.0, beta=1.0)
    with pytest.raises(ValueError, match="gamma0"):
        afw(model, x, loss, norm="l2", eps=1.0, gamma0=0.0)
