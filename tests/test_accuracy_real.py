"""The accuracy probe on real models and real data (the issue's must-show numbers)."""

from __future__ import annotations

import pytest

import visaudit

pytestmark = pytest.mark.slow  # real models over thousands of images


def test_cifar10_resnet20_top1_on_cifar10_test(shared_store):
    res = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=shared_store)
    rec = res.records[0]
    top1 = res.metric("top1")
    print(f"cifar10_resnet20 top1 on cifar10-test (10k JPEGs): {top1:.4f}")
    # the JPEG re-encoding costs points against the 0.9178 reported on the binary release
    assert 0.80 < top1 < 0.93
    assert rec["n_samples"] == 10000 and rec["status"] == "ok"
    assert res.metric("top5") > top1
    assert 0 < res.metric("nll") < 2
    per_class = [v for k, v in rec["metrics"].items() if k.startswith("class_top1@")]
    assert len(per_class) == 10 and min(per_class) > 0.5
    samples = visaudit.engine.store.Store(shared_store).samples(rec["key"])
    assert len(samples) == 10000 and samples["sample_id"].is_unique
    assert abs(samples["correct"].mean() - top1) < 1e-9
    assert set(samples.columns) >= {"sample_id", "label", "pred", "topk_index", "topk_prob", "p_true"}
    prov = rec["provenance"]
    assert prov["versions"]["torch"] and rec["model"]["weights_sha256"] and rec["dataset"]["fingerprint"]
    assert rec["model"]["preprocess"]["resize"] == "direct"


def test_efficientnet_lite0_on_the_16_class_stimuli(shared_store):
    res = visaudit.audit("efficientnet_lite0", "accuracy", ["edges", "silhouettes", "cue-conflict"], store=shared_store)
    by_ds = {r["dataset"]["name"]: r for r in res.records}
    edges, sil, cc = (by_ds[k]["metrics"] for k in ("edges", "silhouettes", "cue-conflict"))
    print(
        f"efficientnet_lite0 16-class top1: edges {edges['top1']:.3f}, silhouettes {sil['top1']:.3f}; "
        f"cue-conflict shape agreement {cc['top1']:.3f}, texture agreement {cc['agreement@texture']:.3f}"
    )
    # chance is 1/16; an ImageNet model recognises silhouettes far above chance
    assert sil["top1"] > 0.3 and edges["top1"] > 0.1
    # on cue-conflict a standard CNN follows texture more often than shape (Geirhos et al. 2019)
    assert cc["agreement@texture"] > cc["top1"] > 1 / 16
    assert by_ds["cue-conflict"]["label_map"]["kind"] == "mean-prob"
    assert by_ds["cue-conflict"]["n_samples"] == 1280


def test_default_run_audits_efficientnet_lite0_on_every_fitting_dataset(shared_store):
    from tests.helpers import run_cli

    res = visaudit.audit(store=shared_store)
    cells = {(r["model"]["name"], r["probe"]["name"], r["dataset"]["name"]) for r in res.records}
    assert {
        ("efficientnet_lite0", p, d)
        for d in ("cue-conflict", "edges", "silhouettes")
        for p in ("accuracy", "shape-bias")
    } <= cells
    shape = [r for r in res.records if r["probe"]["name"] == "shape-bias" and r["dataset"]["name"] == "cue-conflict"][0]
    print(f"default run: efficientnet_lite0 shape bias {shape['metrics']['shape_bias']:.3f}")
    assert 0.0 < shape["metrics"]["shape_bias"] < 0.5  # ImageNet CNNs are texture-biased (Geirhos et al.)
    assert not any(d in ("cifar10-test", "fashion-mnist") for _, _, d in cells), (
        "label spaces that do not fit are skipped"
    )
    out = run_cli("run", "--store", str(shared_store), "-q")  # the README's command, answered from the store
    assert out.returncode == 0, out.stderr
    assert "efficientnet_lite0" in out.stdout and "cue-conflict" in out.stdout and " cached" in out.stdout
