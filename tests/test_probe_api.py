"""The probe API with a probe defined in the test: registration, chunks, OOM back-off, determinism."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import visaudit
from visaudit.probes import PROBES
from visaudit.probes.base import ChunkResult, MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe


@dataclass
class _Cfg(ProbeConfig):
    fail_above: int = 0


class _OOMProbe(Probe):
    """Raises an out-of-memory error while the batch is larger than ``fail_above``."""

    name = "test-oom"
    version = 1
    Config = _Cfg
    metrics = {"mean_logit": MetricSpec(True)}

    def run(self, ctx):
        sizes = []

        def chunk(batches):
            total, n = 0.0, 0
            for b in batches:
                if len(b.ids) > self.config.fail_above:
                    raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
                sizes.append(len(b.ids))
                total += float(ctx.logits(b.x).mean(1).sum())
                n += len(b.ids)
            return ChunkResult(sums={"t": np.asarray(total)}, n=n)

        merged = ctx.map_chunks(chunk)
        return ProbeResult(
            metrics={"mean_logit": float(merged.sums["t"]) / merged.n},
            data={"max_batch": max(sizes), "final_batch_size": ctx.batch_size},
        )


@pytest.fixture(autouse=True, scope="module")
def _registered():
    """Registered for this module's tests only, so the registry-generated tests see the built-ins."""
    register_probe(_OOMProbe)
    yield
    PROBES.unregister("test-oom")


def test_probe_registers_itself():
    assert "test-oom" in PROBES and PROBES.get("test-oom") is _OOMProbe


def test_out_of_memory_halves_the_batch_and_retries(tmp_path):
    res = visaudit.audit(
        "cifar10_resnet20",
        "test-oom",
        "cifar10-test",
        store=tmp_path,
        max_images=100,
        batch_size=64,
        probe_config={"test-oom": {"fail_above": 20}},
    )
    rec = res.records[0]
    assert rec["status"] == "ok", rec.get("error")
    assert rec["data"]["max_batch"] <= 16 and rec["run"]["batch_size_used"] == 16
    ref = visaudit.audit(
        "cifar10_resnet20",
        "test-oom",
        "cifar10-test",
        store=tmp_path / "b",
        max_images=100,
        batch_size=10,
        probe_config={"test-oom": {"fail_above": 100}},
    )
    assert rec["metrics"]["mean_logit"] == pytest.approx(ref.records[0]["metrics"]["mean_logit"], rel=1e-5)


@pytest.mark.slow
def test_same_seed_same_subset_and_result(tmp_path):
    a = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path / "a", max_images=150, seed=3)
    b = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path / "b", max_images=150, seed=3)
    c = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path / "c", max_images=150, seed=4)
    ids = [visaudit.engine.store.Store(r.store).samples(r.records[0]["key"])["sample_id"].tolist() for r in (a, b, c)]
    assert ids[0] == ids[1] and ids[0] != ids[2]
    assert a.records[0]["metrics"] == b.records[0]["metrics"]
    assert a.records[0]["key"] == b.records[0]["key"]


def test_unknown_probe_option_is_refused(tmp_path):
    from visaudit.errors import VisauditError

    with pytest.raises(VisauditError, match="unknown option"):
        visaudit.audit(
            "cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path, probe_config={"accuracy": {"nope": 1}}
        )
