"""Cache, resume, isolation of failures, and bad stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import visaudit
from tests.helpers import REPO, cli_argv, run_python, start_and_kill
from visaudit.engine.store import Store
from visaudit.errors import VisauditError


def test_repeated_run_is_answered_from_the_store_without_the_model(tmp_path, monkeypatch):
    first = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path, max_images=300)
    assert first.records[0]["cached"] is False

    from visaudit.models.zoo import CifarResNetSource

    def boom(self):
        raise AssertionError("the model must not be built for a cached result")

    monkeypatch.setattr(CifarResNetSource, "build", boom)
    t0 = time.perf_counter()
    again = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path, max_images=300)
    elapsed = time.perf_counter() - t0
    assert again.records[0]["cached"] is True
    assert again.records[0]["metrics"] == first.records[0]["metrics"]
    print(f"cached answer in {elapsed:.2f} s (in-process)")
    # a different subset, seed or probe option is a different job
    monkeypatch.undo()
    other = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path, max_images=300, seed=1)
    assert other.records[0]["key"] != first.records[0]["key"] and other.records[0]["cached"] is False
    forced = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path, max_images=300, force=True)
    assert forced.records[0]["cached"] is False


def test_cached_cli_run_imports_no_torch(tmp_path):
    visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path, max_images=100)
    code = (
        "import sys, time; t=time.perf_counter(); from visaudit.cli import app\n"
        "try:\n"
        f"    app(['run','-m','cifar10_resnet20','-d','cifar10-test','--store',r'{tmp_path}','--max-images','100','-q'])\n"
        "except SystemExit as e:\n"
        "    assert e.code in (0, None), e.code\n"
        "print('torch' in sys.modules, round(time.perf_counter()-t, 2))\n"
    )
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    imported, seconds = out.stdout.strip().splitlines()[-1].split()
    assert imported == "False", "a cached run must not import torch"
    assert " cached" in out.stdout


def test_truncated_record_is_recomputed_and_others_kept(tmp_path):
    res = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path, max_images=64)
    res2 = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path, max_images=65)
    key, other = res.records[0]["key"], res2.records[0]["key"]
    path = Store(tmp_path).record_path(key)
    path.write_text(path.read_text()[:100])  # a crash left half a file
    again = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path, max_images=64)
    assert again.records[0]["cached"] is False
    assert json.loads(path.read_text())["metrics"]["top1"] == res.records[0]["metrics"]["top1"]
    assert Store(tmp_path).get(other) is not None


def test_read_only_store_is_a_clear_error(tmp_path, monkeypatch):
    store = tmp_path / "ro"
    store.mkdir()
    os.chmod(store, 0o500)
    if os.access(store, os.W_OK):  # root ignores permissions: make writes below the store fail as EACCES
        real_write = Path.write_bytes

        def denied(self, data):
            if str(self).startswith(str(store)):
                raise PermissionError(13, "Permission denied", str(self))
            return real_write(self, data)

        monkeypatch.setattr(Path, "write_bytes", denied)
    try:
        with pytest.raises(VisauditError, match="not writable"):
            visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=store, max_images=8)
    finally:
        os.chmod(store, 0o700)


def test_store_path_that_is_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(VisauditError, match="not writable"):
        visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=blocker, max_images=8)


def test_label_space_mismatch_is_refused_before_compute(tmp_path):
    with pytest.raises(VisauditError, match="do not fit"):
        visaudit.audit("cifar10_resnet20", "accuracy", "edges", store=tmp_path)
    assert not (tmp_path / "records").exists() or not list((tmp_path / "records").iterdir())


def test_nan_outputs_are_counted_and_flagged(tmp_path, resnet20):
    from safetensors.torch import save_file

    sd = {k: v.clone() for k, v in resnet20.net.state_dict().items()}
    sd["linear.bias"][3] = float("nan")
    save_file(sd, str(tmp_path / "nan.safetensors"))
    res = visaudit.audit(
        f"cifar10_resnet20@{tmp_path / 'nan.safetensors'}",
        "accuracy",
        "cifar10-test",
        store=tmp_path / "s",
        max_images=50,
    )
    rec = res.records[0]
    assert rec["nonfinite_outputs"] == 50
    assert any("NaN" in w for w in rec["warnings"])


def test_broken_images_are_listed_in_the_record(tmp_path):
    src = Path(os.environ["VISAUDIT_DATA"]) / "cifar10-test"
    for cls in ("cat", "dog"):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for f in sorted((src / cls).iterdir())[:5]:
            (tmp_path / "data" / cls / f.name).write_bytes(f.read_bytes())
    (tmp_path / "data" / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    res = visaudit.audit("cifar10_resnet20", "accuracy", str(tmp_path / "data"), store=tmp_path / "s")
    rec = res.records[0]
    assert rec["n_failed_images"] == 1 and rec["failed_images"][0].endswith("cat/broken.jpg")
    assert rec["n_samples"] == 10
    from visaudit.data.base import ImageDecodeError

    with pytest.raises(ImageDecodeError):
        visaudit.audit(
            "cifar10_resnet20", "accuracy", str(tmp_path / "data"), store=tmp_path / "s2", strict=True, workers=0
        )


def test_error_in_one_job_is_isolated(tmp_path):
    """An unreadable dataset for one job gives an error record; the sweep goes on."""
    (tmp_path / "bad" / "cat").mkdir(parents=True)
    (tmp_path / "bad" / "cat" / "x.jpg").write_bytes(b"nope")
    res = visaudit.audit(
        "cifar10_resnet20", "accuracy", [str(tmp_path / "bad"), "cifar10-test"], store=tmp_path / "s", max_images=20
    )
    status = {r["dataset"]["name"]: r["status"] for r in res.records}
    assert status[str(tmp_path / "bad")] == "error" and status["cifar10-test"] == "ok"
    assert "could be read" in res.errors[0]["error"]["message"]


@pytest.mark.slow
def test_kill_and_resume_loses_and_duplicates_nothing(tmp_path):
    store = tmp_path / "store"
    args = cli_argv(
        "run",
        "-m",
        "cifar10_resnet20",
        "-d",
        "cifar10-test",
        "--store",
        str(store),
        "--max-images",
        "1500",
        "--chunk-size",
        "125",
        "-q",
        "--workers",
        "0",
        "--batch-size",
        "50",
    )
    work = store / "work"
    start_and_kill(args, work, 3)
    finished = {p.stem for p in work.glob("*/*.done")}
    assert len(finished) >= 3 and not list((store / "records").glob("*.json"))

    from visaudit.engine import context

    calls = []
    original = context.RunContext._run_chunk

    def counting(self, fn, dataset, part, bar):
        calls.append(len(part))
        return original(self, fn, dataset, part, bar)

    context.RunContext._run_chunk = counting
    try:
        res = visaudit.audit(
            "cifar10_resnet20",
            "accuracy",
            "cifar10-test",
            store=store,
            max_images=1500,
            chunk_size=125,
            workers=0,
            batch_size=50,
        )
    finally:
        context.RunContext._run_chunk = original
    assert len(calls) == 12 - len(finished), "finished chunks must not be recomputed"
    rec = res.records[0]
    samples = Store(store).samples(rec["key"])
    assert len(samples) == 1500 and samples["sample_id"].is_unique
    fresh = visaudit.audit(
        "cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path / "fresh", max_images=1500, chunk_size=1500
    )
    assert fresh.records[0]["metrics"] == pytest.approx(rec["metrics"], abs=1e-6)
    assert not (store / "work" / rec["key"]).exists(), "work files are removed once the record is written"


@pytest.mark.slow
def test_two_processes_share_one_store(tmp_path):
    code = (
        "import visaudit\n"
        f"r = visaudit.audit('cifar10_resnet20', 'accuracy', 'cifar10-test', store=r'{tmp_path}', max_images=400)\n"
        "print(r.records[0]['metrics']['top1'])\n"
    )
    env = {**os.environ}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=str(REPO),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-500:] for o in outs]
    values = {o[0].strip().splitlines()[-1] for o in outs}
    assert len(values) == 1
    records = list(Store(tmp_path).records())
    assert len(records) == 1 and records[0]["status"] == "ok"
