"""One job's chunks shared by several tasks through the store (the Ray backend's split), without Ray."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

import visaudit
from tests.helpers import REPO
from visaudit.api import plan
from visaudit.engine.options import RunOptions
from visaudit.engine.progress import Silent
from visaudit.engine.runner import Shard, run_jobs
from visaudit.engine.store import Store


def test_a_claim_is_exclusive_until_released_and_done_chunks_are_not_claimed(tmp_path):
    store = Store(tmp_path)
    with store.claim_chunk("k", "main-abc", block=False) as first:
        assert first == "won"
        seen = []
        t = threading.Thread(target=lambda: seen.append(_claim(store, "main-abc")))
        t.start()
        t.join()
        assert seen == ["busy"]
    assert (tmp_path / "locks" / "k.chunks" / "main-abc.lock").read_text() == str(os.getpid())
    (tmp_path / "work" / "k").mkdir(parents=True)
    (tmp_path / "work" / "k" / "main-abc.done").write_bytes(b"")
    assert _claim(store, "main-abc") == "done"


def _claim(store: Store, name: str) -> str:
    with store.claim_chunk("k", name, block=False) as got:
        return got


def test_a_claim_of_a_killed_process_is_free_at_once(tmp_path):
    code = (
        "import sys, time; from visaudit.engine.store import Store\n"
        f"with Store({str(tmp_path)!r}).claim_chunk('k', 'c', block=False) as got:\n"
        "    print(got, flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        cwd=str(REPO),
        env={"PYTHONPATH": str(REPO / "src")},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "won"
        assert _claim(Store(tmp_path), "c") == "busy"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
    assert _claim(Store(tmp_path), "c") == "won"


@pytest.mark.slow  # two real-model runs on 2 shared cores
def test_two_tasks_sharing_a_job_write_the_local_record_once(tmp_path):
    kw = dict(max_images=96, chunk_size=16, workers=0)
    local = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path / "local", **kw)
    opts = RunOptions(backend="ray", **kw)  # type: ignore[arg-type]
    jobs, _, _ = plan(["cifar10_resnet20"], ["accuracy"], ["cifar10-test"], opts)
    store = Store(tmp_path / "shared")
    store.ensure_writable()
    shards = [Shard(i, 2, "sweep-1") for i in range(2)]
    start = threading.Barrier(2)

    def task(shard: Shard) -> None:
        start.wait()
        run_jobs(jobs, store, opts, device="cpu", bars=Silent(), shard=shard)

    threads = [threading.Thread(target=task, args=(s,)) for s in shards]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert time.time() - t0 < 120 and not any(t.is_alive() for t in threads)
    ref = local.records[0]
    rec = store.get(ref["key"])
    assert rec is not None and rec["status"] == "ok" and rec["metrics"] == ref["metrics"]
    pd.testing.assert_frame_equal(store.samples(ref["key"]), Store(tmp_path / "local").samples(ref["key"]))
    total = ref["run"]["chunks_run"]
    computed = [s.computed.get(ref["key"], 0) for s in shards]
    assert sum(computed) == total == 6, computed  # every chunk computed once, by one task or the other
    assert len(list((tmp_path / "shared" / "records").glob("*.json"))) == 1
    # the tasks leave the chunks for the driver to clear (a sibling may still be reading them)
    assert len(list(store.work_dir(ref["key"]).glob("*.done"))) == total
