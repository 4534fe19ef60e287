"""Inner-mechanics probes on the real models and data, end to end through ``visaudit.audit``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import visaudit
from visaudit.mechanics.criticality import (
    accumulate,
    fresh_states,
    summarise,
    zero_state,
)
from visaudit.mechanics.filter_stats import compare_filter_records
from visaudit.mechanics.prefix_reuse import ModuleSwapScanner

CIFAR_RESNETS = ["cifar10_resnet20", "cifar10_resnet32", "cifar10_resnet44", "cifar10_resnet56"]


def _one(res, probe):
    recs = [r for r in res.records if r["probe"]["name"] == probe]
    assert len(recs) == 1 and recs[0]["status"] == "ok", recs[0].get("error") if recs else res.records
    return recs[0]


def _cifar_batch(n: int, model) -> tuple[torch.Tensor, torch.Tensor]:
    from visaudit.data import open_dataset
    from visaudit.data.base import Preprocess

    info = model.info
    ds = open_dataset("cifar10-test").bind(Preprocess(tuple(info.input_size), info.interpolation, info.crop_pct))
    pos = np.random.default_rng(0).choice(len(ds), n, replace=False)
    items = [ds[int(i)] for i in pos]
    x = torch.from_numpy(np.stack([it[0] for it in items])).float() / 255
    return x, torch.tensor([it[1] for it in items])


def test_criticality_resnet20_head_is_critical(tmp_path):
    res = visaudit.audit(
        "cifar10_resnet20",
        "layer-criticality",
        "cifar10-test",
        store=tmp_path,
        max_images=256,
        probe_config={
            "layer-criticality": {"include": r"^(conv1|layer2\.0\.conv1|linear)$", "n_images": 128, "trials": 2}
        },
    )
    rec = _one(res, "layer-criticality")
    m, rows = rec["metrics"], rec["data"]["layers"]
    assert [r["module"] for r in rows] == ["conv1", "layer2.0.conv1", "linear"]  # execution order = depth
    assert rec["data"]["clean_top1"] > 0.75 and rec["data"]["n_images"] == 128
    assert m["criticality@linear"] > 50  # a fresh head destroys the function
    assert m["top1_reset@linear"] < 0.3  # near chance (0.1), far from ~0.85
    assert all(0 <= m[f"criticality@{r['module']}"] <= 100 for r in rows)
    assert m["max_criticality"] == pytest.approx(max(r["criticality"] for r in rows))
    assert m["mean_criticality"] == pytest.approx(np.mean([r["criticality"] for r in rows]))
    assert rows[-1]["top1_ratio"] == pytest.approx(rows[-1]["top1"] / rec["data"]["clean_top1"])
    from visaudit.report.figures.mechanics import layer_criticality as profile

    assert profile(rec), "the report draws the profile from the record's data"


def test_criticality_against_the_reference_definition_resnet20(tmp_path):
    """Criticality computed here as the reference does: load the fresh module's state into a copy
    of the trained net, compare softmax outputs by cosine, (1 - mean) x 100, mean over trials."""
    import copy

    n, trials = 64, 2
    names = ["conv1", "layer1.0.bn1", "layer2.0.conv1", "linear"]
    res = visaudit.audit(
        "cifar10_resnet20",
        "layer-criticality",
        "cifar10-test",
        store=tmp_path,
        max_images=n,
        probe_config={
            "layer-criticality": {
                "include": "^(" + "|".join(n_.replace(".", r"\.") for n_ in names) + ")$",
                "kinds": ["conv", "linear", "norm"],
                "trials": trials,
                "n_images": n,
            }
        },
    )
    rec = _one(res, "layer-criticality")
    assert [r["module"] for r in rec["data"]["layers"]] == names

    from visaudit.data.base import Preprocess
    from visaudit.engine.subset import select_indices
    from visaudit.models import load_model

    model = load_model("cifar10_resnet20")
    ds = visaudit.open_dataset("cifar10-test").bind(Preprocess((3, 32, 32), "bilinear", 1.0, "direct"))
    pos = select_indices(len(ds), n, 0)  # n_images == max_images: the sample is the job's images
    x = torch.from_numpy(np.stack([ds[int(p)][0] for p in pos])).float() / 255
    y = np.array([ds[int(p)][1] for p in pos])
    with torch.no_grad():
        p_orig = torch.softmax(model(x), 1)
        crit = {m: [] for m in names}
        top1 = {m: [] for m in names}
        for k in range(trials):
            fresh = dict(model.fresh(0 + k).net.named_modules())  # job seed 0, one fresh model per trial
            for m in names:
                net = copy.deepcopy(model)
                dict(net.net.named_modules())[m].load_state_dict(fresh[m].state_dict())
                logits = net(x)
                cos = torch.nn.functional.cosine_similarity(p_orig, torch.softmax(logits, 1), dim=1)
                crit[m].append((1 - float(cos.mean())) * 100)
                top1[m].append(float((logits.argmax(1).numpy() == y).mean()))
    for m in names:
        assert rec["metrics"][f"criticality@{m}"] == pytest.approx(np.mean(crit[m]), abs=1e-4), m
        assert rec["metrics"][f"top1_reset@{m}"] == pytest.approx(np.mean(top1[m]), abs=1.01 / n), m
    assert rec["metrics"]["mean_criticality"] == pytest.approx(np.mean([np.mean(crit[m]) for m in names]), abs=1e-4)


@pytest.mark.slow
def test_criticality_defaults_are_the_papers_and_select_as_the_reference(tmp_path):
    from visaudit.mechanics.criticality import select_modules
    from visaudit.models import load_model
    from visaudit.probes.layer_criticality import FAST_PRESET, LayerCriticalityConfig

    cfg = LayerCriticalityConfig()
    assert (cfg.n_images, cfg.trials, cfg.reset, cfg.kinds, cfg.module_match) == (
        10000,
        3,
        "fresh",
        ["conv", "linear"],
        "exact",
    )
    fast = LayerCriticalityConfig.fast()
    assert (fast.n_images, fast.trials) == (1000, 1) and FAST_PRESET == {"n_images": 1000, "trials": 1}
    assert LayerCriticalityConfig.fast(trials=2).trials == 2
    # the reference's TYPE_FILTER: type(m) in [Conv2d, Linear, BatchNorm2d]; the published table has no norm layers
    for name, count in (("efficientnet_lite0", 45), ("cifar10_resnet20", 20)):
        net = load_model(name).net
        expected = [n for n, m in net.named_modules() if type(m) in (nn.Conv2d, nn.Linear)]
        assert len(expected) == count
        assert select_modules(net, cfg.kinds, match=cfg.module_match) == expected
    lite = load_model("efficientnet_lite0").net
    wide = select_modules(lite, ["conv", "linear", "norm"], match="subclass")
    assert "conv_stem" in wide and "bn1" in wide and len(wide) == 99  # Conv2dSame, BatchNormAct2d
    # end to end with the defaults (2 images): the probe resets exactly those 45 modules
    res = visaudit.audit(
        "efficientnet_lite0",
        "layer-criticality",
        "edges",
        store=tmp_path,
        max_images=2,
        probe_config={"layer-criticality": {"trials": 1}},
    )
    rec = _one(res, "layer-criticality")
    got = [r["module"] for r in rec["data"]["layers"]]
    assert sorted(got) == sorted(n for n, m in lite.named_modules() if type(m) in (nn.Conv2d, nn.Linear))
    assert rec["data"]["module_match"] == "exact" and rec["probe"]["config"]["n_images"] == 10000


@pytest.mark.parametrize("name", CIFAR_RESNETS[1:])
def test_criticality_deeper_resnets_head_vs_last_bn(name, tmp_path):
    res = visaudit.audit(
        name,
        "layer-criticality",
        "cifar10-test",
        store=tmp_path,
        max_images=64,
        probe_config={
            "layer-criticality": {
                "include": r"^(linear|layer3\.\d+\.bn2)$",
                "trials": 1,
                "kinds": ["conv", "linear", "norm"],
            }
        },
    )
    m = _one(res, "layer-criticality")["metrics"]
    last_bn = max((k for k in m if k.startswith("criticality@layer3.")), key=lambda k: int(k.split(".")[1]))
    assert m["criticality@linear"] > 50
    assert m["criticality@linear"] > m[last_bn]


class _WithIdentityBN(nn.Module):
    """resnet20 with an untrained BatchNorm1d inserted before the head.

    In eval mode its state (weight 1, bias 0, mean 0, var 1) is exactly a fresh init, so a
    "fresh" reset leaves the function unchanged, while a zeros reset kills the features.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.id_bn = nn.BatchNorm1d(64)
        self.head = net.linear
        net.linear = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.id_bn(self.net(x)))


def test_identity_like_layer_has_zero_criticality():
    from visaudit.models import load_model
    from visaudit.models.cifar_resnet import CifarResNet
    from visaudit.models.classifier import Classifier

    base = load_model("cifar10_resnet20")
    model = Classifier(_WithIdentityBN(base.net).eval(), base.info, lambda: _WithIdentityBN(CifarResNet(20))).eval()
    x, y = _cifar_batch(64, model)
    names = ["net.layer3.2.bn2", "id_bn", "head"]
    fresh, warn = fresh_states(model, names, seed=0)
    assert warn is None
    variants = {n: [(0, fresh[n])] for n in names}
    zeros = {"id_bn": [(0, zero_state(model.net.id_bn))]}
    index = {n: i for i, n in enumerate(names)}
    predict = lambda logits: logits.argmax(1)  # noqa: E731
    outs = {}
    for reuse in (True, False):
        sums = {
            "cos": np.zeros((3, 1)),
            "kl": np.zeros((3, 1)),
            "correct": np.zeros((3, 1)),
            "clean_correct": np.zeros(()),
        }
        sc = ModuleSwapScanner(model, model.net, x[:1], prefix_reuse=reuse)
        assert sc.frontier("head") == (["net", "id_bn"] if reuse else [])
        accumulate(sc.scan(x, variants), index, y, predict, sums)
        outs[reuse] = summarise(names, ["norm", "norm", "linear"], sums, len(y))
        zsums = {
            "cos": np.zeros((3, 1)),
            "kl": np.zeros((3, 1)),
            "correct": np.zeros((3, 1)),
            "clean_correct": np.zeros(()),
        }
        accumulate(sc.scan(x, zeros), index, y, predict, zsums)
        assert (1 - zsums["cos"][1, 0] / len(y)) * 100 > 50  # zeroing the same layer: highly critical
    for reuse in (True, False):
        crit = {r["module"]: r["criticality"] for r in outs[reuse]}
        assert abs(crit["id_bn"]) < 1e-4
        assert crit["head"] > 50 and crit["net.layer3.2.bn2"] > 1
        assert outs[reuse][1]["top1_ratio"] == pytest.approx(1.0)
    for a, b in zip(outs[True], outs[False]):
        assert a["criticality"] == pytest.approx(b["criticality"], abs=1e-6)


@pytest.mark.slow
def test_quantization_8bit_keeps_resnet20_accuracy(tmp_path):
    res = visaudit.audit(
        "cifar10_resnet20",
        "quantization-sensitivity",
        "cifar10-test",
        store=tmp_path,
        max_images=256,
        probe_config={"quantization-sensitivity": {"bits": [8], "budget_bits": 8, "hessian_iters": 0}},
    )
    rec = _one(res, "quantization-sensitivity")
    m = rec["metrics"]
    deltas = {k: v for k, v in m.items() if k.startswith("delta_top1@")}
    assert len(deltas) == 20 and all(k.endswith("/8bit") for k in deltas)  # 19 convs + the head
    assert abs(m["uniform_top1@8bit"] - m["float_top1"]) < 0.01  # all layers at 8 bits: < 1 point
    assert max(abs(v) for v in deltas.values()) < 0.01
    assert m["float_top1"] > 0.75 and rec["data"]["n_images"] == 256


@pytest.mark.slow
def test_quantization_mixed_precision_and_hessian(tmp_path):
    res = visaudit.audit(
        "cifar10_resnet20",
        "quantization-sensitivity",
        "cifar10-test",
        store=tmp_path,
        max_images=128,
        probe_config={
            "quantization-sensitivity": {
                "include": r"^(conv1|layer1\.0\.conv1|layer3\.2\.conv2|linear)$",
                "bits": [8, 4, 2],
                "budget_bits": 3,
                "hessian_iters": 2,
                "hessian_images": 32,
            }
        },
    )
    rec = _one(res, "quantization-sensitivity")
    d, m = rec["data"], rec["metrics"]
    assert d["size_mb"]["mixed"] <= d["size_mb"]["uniform_3bit"] + 1e-12
    assert set(d["allocation"].values()) <= {8, 4, 2}
    assert m["uniform_top1"] == m["uniform_top1@3bit"]
    assert m["uniform_top1@2bit"] < m["uniform_top1@8bit"] - 0.05  # 2-bit weights hurt
    assert m["kl@conv1/2bit"] > m["kl@conv1/8bit"]
    assert -1 <= m["hessian_rank_corr"] <= 1
    assert d["hessian"]["trace"]["linear"] >= 0  # CE is convex in the head's weights: v'Hv >= 0 for every probe
    assert sorted(d["ranking"]) == sorted(d["allocation"])


def test_filters_cifar_resnets_and_efficientnet(tmp_path):
    res = visaudit.audit(CIFAR_RESNETS + ["efficientnet_lite0"], "filters", store=tmp_path)
    recs = {r["model"]["name"]: r for r in res.records}
    for name, depth in zip(CIFAR_RESNETS, (20, 32, 44, 56)):
        rows = recs[name]["data"]["layers"]
        assert len(rows) == depth - 1  # 6n+1 3x3 convs: stem + two per basic block
        m = recs[name]["metrics"]
        assert all(0 <= m[f"sparsity@{r['module']}"] <= 1 and 0 <= m[f"orthogonality@{r['module']}"] <= 1 for r in rows)
        assert 0.5 < m["mean_variance_entropy_norm"] < 1.2
    lite = recs["efficientnet_lite0"]["data"]["layers"]
    assert lite[0]["module"] == "conv_stem" and sum(r["depthwise"] for r in lite) >= 5
    div = compare_filter_records(recs["cifar10_resnet20"]["data"], recs["cifar10_resnet56"]["data"], n_bins=4)
    div_lite = compare_filter_records(recs["cifar10_resnet20"]["data"], recs["efficientnet_lite0"]["data"], n_bins=4)
    assert all(0 <= v <= 1 for v in div + div_lite)
    assert np.mean(div) < np.mean(div_lite)  # two CIFAR ResNets are closer than a ResNet and an EfficientNet


@pytest.mark.slow
def test_criticality_efficientnet_lite0_cue_conflict(tmp_path):
    res = visaudit.audit(
        "efficientnet_lite0",
        "layer-criticality",
        "cue-conflict",
        store=tmp_path,
        max_images=24,
        probe_config={
            "layer-criticality": {
                "include": r"^(conv_stem|blocks\.5\.0\.bn2|classifier)$",
                "trials": 1,
                "kinds": ["conv", "linear", "norm"],
                "module_match": "subclass",
            }
        },
    )
    rec = _one(res, "layer-criticality")
    m, rows = rec["metrics"], rec["data"]["layers"]
    assert [r["module"] for r in rows] == ["conv_stem", "blocks.5.0.bn2", "classifier"]
    assert m["criticality@classifier"] > 50
    assert all(0 <= r["criticality"] <= 100 and r["kl"] > 0 for r in rows)
    assert rec["data"]["n_images"] == 24


def test_prefix_reuse_exact_on_efficientnet_lite0():
    """timm blocks use in-place activations and residual adds: reuse must still be exact."""
    from visaudit.data import open_dataset
    from visaudit.data.base import Preprocess
    from visaudit.models import load_model

    model = load_model("efficientnet_lite0")
    info = model.info
    ds = open_dataset("cue-conflict").bind(Preprocess(tuple(info.input_size), info.interpolation, info.crop_pct))
    x = torch.from_numpy(np.stack([ds[i][0] for i in range(0, 1280, 160)])).float() / 255
    names = ["blocks.1.0.conv_dw", "blocks.4.1.bn3", "conv_head"]
    mods = dict(model.net.named_modules())
    variants = {n: [(0, zero_state(mods[n]))] for n in names}
    outs = [
        dict(((t, k), o) for t, k, o in ModuleSwapScanner(model, model.net, x[:1], reuse).scan(x, variants))
        for reuse in (True, False)
    ]
    assert len(outs[0]) == 4
    for key, out in outs[1].items():
        torch.testing.assert_close(outs[0][key], out, rtol=0, atol=0)
    assert not torch.allclose(outs[0][("blocks.4.1.bn3", 0)], outs[0][(None, None)])
