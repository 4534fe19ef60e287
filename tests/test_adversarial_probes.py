"""End-to-end tests of the adversarial, confidence and perturbation-anatomy probes through
``visaudit.audit`` on the real CIFAR-10 ResNet-20 and CIFAR-10 test images (small subsets,
reduced attack budgets; the budgets are part of the recorded config)."""

from __future__ import annotations

import numpy as np
import pytest

import visaudit

FAST_AA = {
    "apgd-ce": {"n_iter": 10},
    "apgd-t": {"n_iter": 5, "n_target_classes": 2},
    "fab-t": {"n_iter": 5, "n_target_classes": 2},
    "square": {"n_queries": 50},
}


def _audit(tmp_path, probe, cfg, n=16, **kw):
    res = visaudit.audit(
        "cifar10_resnet20",
        probe,
        "cifar10-test",
        store=tmp_path,
        max_images=n,
        workers=0,
        device="cpu",
        probe_config={probe: cfg},
        **kw,
    )
    assert len(res.records) == 1
    return res.records[0]


def test_adversarial_probe_records_protocol_and_names(tmp_path):
    cfg = {
        "attacks": ["autoattack", "pgd20"],
        "linf_eps": ["8/255"],
        "l2_eps": ["0.5"],
        "attack_options": {"autoattack": FAST_AA},
        "curve_steps": 3,
        "curve_iter": 5,
        "curve_points": 9,
    }
    rec = _audit(tmp_path, "adversarial", cfg)
    assert rec["status"] == "ok", rec.get("error")
    m = rec["metrics"]
    for name in [
        "clean_top1",
        "robust_top1@autoattack/linf=8/255",
        "robust_top1@pgd20/linf=8/255",
        "robust_top1@autoattack/l2=0.5",
        "robust_top1@pgd20/l2=0.5",
        "robust_top1@worst/linf=8/255",
        "zero_gradient_share",
    ]:
        assert name in m, name
    assert 0.5 < m["clean_top1"] <= 1.0
    for cell in ["linf=8/255", "l2=0.5"]:
        aa, pgd, worst = (m[f"robust_top1@{a}/{cell}"] for a in ("autoattack", "pgd20", "worst"))
        assert worst <= min(aa, pgd) and aa <= m["clean_top1"]
    assert m["robust_top1@autoattack/linf=8/255"] == 0.0  # undefended ResNet at 8/255
    assert m["zero_gradient_share"] == 0.0
    d = rec["data"]
    assert not d["attack_settings"]["standard_protocol"]
    assert d["attack_settings"]["autoattack"]["apgd-ce"]["n_iter"] == 10
    assert d["attack_settings"]["autoattack"]["square"]["n_queries"] == 50
    # the reference's settings are the recorded defaults; departures would show here
    assert d["attack_settings"]["autoattack"]["square"]["rescale_schedule"] is False
    assert d["attack_settings"]["autoattack"]["square"]["redraw_noop"] is False
    assert d["attack_settings"]["autoattack"]["apgd-ce"]["linf_start"] == "surface"
    assert d["attack_settings"]["random_streams"].startswith("one per image")
    assert d["passes"]["backward_images"] > 0 and d["n_images"] == 16
    assert d["budget"]["autoattack/linf=8/255"]["forward_images"] > 0
    curve = np.array(d["curve"]["top1"])
    assert curve[0] == pytest.approx(m["clean_top1"]) and (np.diff(curve) <= 0).all()
    assert not any("outside" in w for w in rec["warnings"])
    assert rec["metric_info"]["robust_top1@pgd20/l2=0.5"]["higher_is_better"] is True


def test_killed_adversarial_run_resumes_at_last_chunk(tmp_path, monkeypatch):
    import visaudit.attacks.runs as runs

    cfg = {
        "attacks": ["apgd-ce"],
        "linf_eps": ["2/255"],
        "l2_eps": [],
        "curve_norm": "",
        "masking_check": False,
        "attack_options": {"apgd-ce": {"n_iter": 10}},
    }
    real = runs.run_attack
    calls = []

    def dying(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return real(*a, **k)

    monkeypatch.setattr(runs, "run_attack", dying)
    first = _audit(tmp_path / "a", "adversarial", cfg, chunk_size=8, batch_size=8)
    assert first["status"] == "error"
    calls.clear()
    monkeypatch.setattr(runs, "run_attack", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    resumed = _audit(tmp_path / "a", "adversarial", cfg, chunk_size=8, batch_size=8)
    assert resumed["status"] == "ok" and len(calls) == 1  # only the unfinished chunk ran
    fresh = _audit(tmp_path / "b", "adversarial", cfg, chunk_size=8, batch_size=8)
    assert fresh["metrics"] == resumed["metrics"]  # per-image streams: resuming changes nothing


def test_standard_protocol_flag_follows_the_resolved_settings():
    from visaudit.probes import PROBES

    cls = PROBES.get("adversarial")
    ctx = type("Ctx", (), {"label_map": type("L", (), {"num_classes": 10})(), "model": None})()
    assert cls(cls.Config())._settings(ctx)["standard_protocol"] is True
    same = cls(cls.Config(attack_options={"autoattack": {"square": {"rescale_schedule": False}}}))
    assert same._settings(ctx)["standard_protocol"] is True
    departs = cls(cls.Config(attack_options={"autoattack": {"square": {"rescale_schedule": True}}}))
    assert departs._settings(ctx)["standard_protocol"] is False
    assert departs._settings(ctx)["autoattack"]["square"]["rescale_schedule"] is True
    assert cls.version >= 2


def test_confidence_probe(tmp_path):
    rec = _audit(tmp_path, "confidence", {"attack": "apgd-ce", "eps": "8/255", "attack_options": {"n_iter": 10}}, n=48)
    assert rec["status"] == "ok", rec.get("error")
    m, d = rec["metrics"], rec["data"]
    for name in [
        "mean_confidence_on_errors",
        "confident_error_rate",
        "mean_confidence_on_adversarial",
        "confident_adversarial_rate",
        "attack_success_rate",
    ]:
        assert name in m
    assert 0 <= m["confident_error_rate"] <= 1 and 0 < m["mean_confidence_on_errors"] <= 1
    assert m["attack_success_rate"] == 1.0
    assert m["mean_confidence_on_correct"] > m["mean_confidence_on_errors"]
    counts = d["counts"]
    assert counts["correct"] + counts["error"] == 48
    assert sum(d["histograms"]["error"]) == counts["error"]
    assert sum(d["histograms"]["adversarial"]) == counts["adversarial"] == counts["correct"]


def test_perturbation_anatomy_probe(tmp_path):
    rec = _audit(
        tmp_path,
        "perturbation-anatomy",
        {"attack": "apgd-ce", "norm": "l2", "eps": "0.5", "attack_options": {"n_iter": 10}},
    )
    assert rec["status"] == "ok", rec.get("error")
    m, d = rec["metrics"], rec["data"]
    assert m["n_perturbations"] > 0
    assert 0 < m["border_energy_share"] < 1 and 0 < m["y_energy_share"] < 1
    assert m["border_energy_ratio"] == pytest.approx(m["border_energy_share"] / d["uniform_border_share"])
    assert d["border_width_px"] == 4
    emap = np.array(d["energy_map"])
    assert emap.shape == (32, 32) and emap.mean() == pytest.approx(1.0, rel=1e-3)  # normalised per image
