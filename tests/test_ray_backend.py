"""The ray backend: jobs of two models run as Ray tasks and land in one store."""

from __future__ import annotations

import pytest

ray = pytest.importorskip("ray")

import visaudit  # noqa: E402

pytestmark = pytest.mark.slow  # starts a local Ray cluster


def test_ray_backend_matches_local(tmp_path):
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    try:
        remote = visaudit.audit(
            ["cifar10_resnet20", "cifar10_resnet32"],
            "accuracy",
            "cifar10-test",
            store=tmp_path / "ray",
            max_images=200,
            backend="ray",
            workers=0,
        )
    finally:
        ray.shutdown()
    local = visaudit.audit(
        ["cifar10_resnet20", "cifar10_resnet32"],
        "accuracy",
        "cifar10-test",
        store=tmp_path / "local",
        max_images=200,
        workers=0,
    )
    by_model = lambda res: {r["model"]["name"]: r["metrics"]["top1"] for r in res.records}  # noqa: E731
    assert by_model(remote) == by_model(local) and len(by_model(remote)) == 2
    again = visaudit.audit(
        ["cifar10_resnet20", "cifar10_resnet32"],
        "accuracy",
        "cifar10-test",
        store=tmp_path / "ray",
        max_images=200,
        backend="ray",
    )
    assert all(r["cached"] for r in again.records)
