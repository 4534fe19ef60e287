"""Neural PCA: the decomposition against scikit-learn's PCA, the class logit rebuilt from its
components on a real model to float error, the spurious AUC against a plain pair count, and the
refusals (no linear head, a bad spurious folder)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import visaudit
from visaudit.errors import VisauditError
from visaudit.mechanics.neural_pca import class_components, contributions

DATA = "cifar10-test"


def test_components_are_sklearns_principal_axes_and_rebuild_the_logit():
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    phi = rng.gamma(2.0, size=(80, 12)) * rng.random(12)  # non-negative, as after a ReLU
    w = rng.normal(size=12)
    pca = class_components(phi, w)
    ref = PCA().fit(phi * w)
    np.testing.assert_allclose(pca.variance, ref.explained_variance_, rtol=1e-8, atol=1e-12)
    for mine, theirs in zip(pca.components, ref.components_):  # equal up to the sign
        assert min(np.abs(mine - theirs).max(), np.abs(mine + theirs).max()) < 1e-8
    assert (pca.components.sum(1) >= 0).all()
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(12), atol=1e-10)
    np.testing.assert_allclose(pca.alpha.sum(1), phi @ w, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(contributions(phi, w).sum(1), phi @ w, rtol=1e-12)
    with pytest.raises(ValueError, match="weight row"):
        contributions(phi, w[:3])


@pytest.mark.slow
def test_neural_pca_rebuilds_the_class_logits_of_a_real_model_to_float_error(tmp_path, resnet20):
    res = visaudit.audit(
        "cifar10_resnet20",
        "spurious-features",
        DATA,
        store=tmp_path / "store",
        max_images=120,
        workers=0,
        probe_config={"spurious-features": {"classes": ["cat", "ship"], "examples": 3}},
    )
    rec = res.records[0]
    assert rec["status"] == "ok", rec.get("error")
    assert rec["metrics"]["reconstruction_error"] < 1e-4  # logits are ~10: float32 rounding
    # an independent pass: the head's input by a forward hook, scikit-learn's PCA of w_k * phi
    from sklearn.decomposition import PCA

    from visaudit.data.catalog import open_dataset

    net = resnet20.eval()
    ds = open_dataset(DATA).bind(net.info.preprocess())
    cat = rec["data"]["classes"]["cat"]
    ids = [i for i in _job_ids(rec, tmp_path / "store") if i.startswith("cat/")]
    assert len(ids) == cat["n"]
    pos = {s: i for i, s in enumerate(ds.ids)}
    x = torch.stack([torch.from_numpy(np.asarray(ds[pos[s]][0])).float() / 255 for s in ids])
    seen: dict[str, torch.Tensor] = {}
    hook = net.net.linear.register_forward_pre_hook(lambda _m, a: seen.__setitem__("phi", a[0]))
    with torch.no_grad():
        logits = net(x).double().numpy()
    hook.remove()
    phi = seen["phi"].double().numpy()
    k = 3  # cat
    w = net.net.linear.weight.detach().double().numpy()[k]
    ref = PCA().fit(phi * w)
    share = ref.explained_variance_ratio_[0]
    assert cat["components"][0]["variance_share"] == pytest.approx(share, rel=1e-4)
    u = ref.components_[0] * np.sign(ref.components_[0].sum())
    act = (phi * w) @ u
    assert cat["components"][0]["top"][0] == ids[int(np.argmax(act))]
    assert cat["components"][0]["bottom"][0] == ids[int(np.argmin(act))]
    alpha = act * u.sum()
    assert cat["components"][0]["alpha_range"] == pytest.approx(alpha.max() - alpha.min(), rel=1e-4)
    mean_logit = logits[:, k].mean()
    assert cat["mean_logit"] == pytest.approx(mean_logit, rel=1e-5)
    g = rec["data"]["gallery"]
    assert (
        len(g) == 2
        and len(g[0]["images"]) == 6
        and {i["artifact"] for i in g[0]["images"]} <= {a.rsplit("/", 1)[-1] for a in rec["artifacts"]}
    )


def _job_ids(rec: dict, store: Path) -> list[str]:
    from visaudit.engine.store import Store

    return list(Store(store).samples(rec["key"])["sample_id"])


@pytest.mark.slow
def test_spurious_auc_is_the_share_of_ordered_pairs(tmp_path):
    import os

    src = Path(os.environ["VISAUDIT_DATA"]) / "cifar10-test"
    spur = tmp_path / "spurious"
    for cls in ("frog", "ship"):
        (spur / cls).mkdir(parents=True)
        for f in sorted((src / cls).glob("*.jpg"))[-6:]:
            shutil.copy(f, spur / cls / f.name)
    cfg = {"classes": ["frog"], "spurious_dir": str(spur), "gallery_components": 0}
    res = visaudit.audit(
        "cifar10_resnet20",
        "spurious-features",
        DATA,
        store=tmp_path / "s",
        max_images=40,
        workers=0,
        probe_config={"spurious-features": cfg},
    )
    rec = res.records[0]
    assert rec["status"] == "ok", rec.get("error")
    sp = rec["data"]["spurious"]
    assert set(sp) == {"frog", "ship"} and sp["frog"]["n_spurious"] == 6
    # plain count: P(logit_k(spurious image of k) > logit_k(image of another class)), ties half
    from visaudit.data.catalog import open_dataset
    from visaudit.models import load_model

    net = load_model("cifar10_resnet20").eval()
    spur_ds = open_dataset(str(spur)).bind(net.info.preprocess())
    job = open_dataset(DATA).bind(net.info.preprocess())
    from visaudit.engine.store import Store

    table = Store(tmp_path / "s").samples(rec["key"])
    pos = {s: i for i, s in enumerate(job.ids)}

    def logits(ds, positions):
        x = torch.stack([torch.from_numpy(np.asarray(ds[p][0])).float() / 255 for p in positions])
        with torch.no_grad():
            return net(x).double().numpy()

    lz = logits(job, [pos[s] for s in table["sample_id"]])
    sz = logits(spur_ds, range(len(spur_ds)))
    names = [i.split("/")[0] for i in spur_ds.ids]
    k = 8  # ship
    p = [sz[i, k] for i, n in enumerate(names) if n == "ship"]
    q = [lz[i, k] for i, y in enumerate(table["label"]) if y != k]
    ref = np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a in p for b in q])
    assert sp["ship"]["auc"] == pytest.approx(ref, abs=1e-9)
    assert rec["metrics"]["spurious_auc@ship"] == sp["ship"]["auc"]
    assert rec["metrics"]["mean_spurious_auc"] == pytest.approx((sp["ship"]["auc"] + sp["frog"]["auc"]) / 2)
    assert rec["keyed_by"]["inputs"]["spurious_dir"]  # the folder's content keys the job


class _ConvHead(nn.Module):
    """A CIFAR-sized network whose classifier is a 1x1 convolution (no nn.Linear)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.classifier = nn.Conv2d(8, 10, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x)).mean(dim=(2, 3))


@pytest.mark.slow
def test_refusals_name_the_usable_layers_and_the_folder_layout(tmp_path):
    from visaudit.models import from_module

    torch.manual_seed(0)
    model = from_module(_ConvHead().eval(), "conv-head", label_space="cifar10", input_size=(3, 32, 32))
    res = visaudit.audit(model, "spurious-features", DATA, store=tmp_path, max_images=4, workers=0)
    err = res.records[0]["error"]["message"]
    assert "linear head" in err and "classifier" in err, err
    bad = tmp_path / "bad"
    (bad / "not-a-class").mkdir(parents=True)
    with pytest.raises(VisauditError, match="one folder per class"):
        visaudit.audit(
            "cifar10_resnet20",
            "spurious-features",
            DATA,
            store=tmp_path,
            max_images=4,
            probe_config={"spurious-features": {"spurious_dir": str(bad)}},
        )
    with pytest.raises(VisauditError, match="not in cifar10-test"):
        visaudit.audit(
            "cifar10_resnet20",
            "spurious-features",
            DATA,
            store=tmp_path,
            max_images=4,
            probe_config={"spurious-features": {"classes": ["unicorn"]}},
        )
