"""The Ray backend on a real local cluster (two worker processes): sweeps, one job over two tasks, faults.

Every run is compared with the local backend's record (metrics, payload, per-sample table).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

import visaudit  # noqa: E402
from tests.helpers import REPO, cli_argv  # noqa: E402
from visaudit.engine.store import Store  # noqa: E402

pytestmark = pytest.mark.slow  # a local Ray cluster, real models

CORRUPT = {"corruptions": {"corruptions": ["gaussian_noise", "contrast"], "severities": [5], "examples": 0}}
JOB = dict(probes="corruptions", datasets="cifar10-test", max_images=200, chunk_size=40, workers=0)


@pytest.fixture(scope="module")
def cluster():
    """One local cluster for the module: 2 CPUs, so two tasks run at once in two worker processes."""
    ctx = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ctx.address_info["address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def local_corruptions(tmp_path_factory):
    """The local backend's record and samples of the job the fault tests spread over two tasks."""
    store = tmp_path_factory.mktemp("local")
    res = visaudit.audit("cifar10_resnet20", probe_config=CORRUPT, store=store, **JOB)
    rec = res.records[0]
    assert rec["status"] == "ok" and rec["run"]["chunks_run"] > 2
    return rec, Store(store).samples(rec["key"])


def _same_as_local(rec, store, local):
    import pandas as pd

    ref, ref_samples = local
    assert rec["key"] == ref["key"] and rec["status"] == "ok"
    assert rec["metrics"] == ref["metrics"]  # bit for bit: floats compared with ==
    assert rec["data"] == ref["data"] and rec["n_samples"] == ref["n_samples"]
    got = Store(store).samples(rec["key"])
    if ref_samples is None:
        assert got is None
    else:
        pd.testing.assert_frame_equal(got, ref_samples, check_exact=True)
    assert not (Path(store) / "work" / rec["key"]).exists(), "the chunks are cleared once the record is written"


def _total_chunks(rec):
    return rec["run"]["chunks_run"] + rec["run"]["chunks_resumed"]


class _Watch:
    """Polls a store: which process computed each finished chunk (the claim file names it)."""

    def __init__(self, store: Path) -> None:
        self.store, self.by_chunk, self.stop = store, {}, threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while not self.stop.is_set():
            self.poll()
            time.sleep(0.02)

    def poll(self) -> None:
        for lock in self.store.glob("locks/*.chunks/*.lock"):
            key = lock.parent.name[: -len(".chunks")]
            done = self.store / "work" / key / f"{lock.stem}.done"
            try:
                pid = int(lock.read_text() or 0)
            except (OSError, ValueError):
                continue
            if done.exists() and pid:
                self.by_chunk.setdefault(lock.stem, pid)

    def running(self) -> list[tuple[str, int]]:
        """(chunk, pid) of chunks claimed and not finished, whose claimant is alive."""
        out = []
        for lock in self.store.glob("locks/*.chunks/*.lock"):
            key = lock.parent.name[: -len(".chunks")]
            try:
                pid = int(lock.read_text() or 0)
            except (OSError, ValueError):
                continue
            if pid and not (self.store / "work" / key / f"{lock.stem}.done").exists() and _alive(pid):
                out.append((lock.stem, pid))
        return out

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait(cond, timeout: float = 240.0, what: str = "") -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_sweep_of_a_zoo_pattern_matches_the_local_backend_and_is_then_cached(cluster, tmp_path):
    import pandas as pd

    kw = dict(probes="accuracy", datasets="cifar10-test", max_images=200, workers=0)
    remote = visaudit.audit(
        "cifar10_resnet[23]*",
        store=tmp_path / "ray",
        backend="ray",
        ray={"cpus_per_job": 1, "max_in_flight": 2},
        **kw,
    )
    local = visaudit.audit(["cifar10_resnet20", "cifar10_resnet32"], store=tmp_path / "local", **kw)
    by_model = lambda res: {r["model"]["name"]: r for r in res.records}  # noqa: E731
    r, lo = by_model(remote), by_model(local)
    assert sorted(r) == ["cifar10_resnet20", "cifar10_resnet32"] == sorted(lo)
    for name in r:
        assert r[name]["key"] == lo[name]["key"] and r[name]["metrics"] == lo[name]["metrics"]
        assert r[name]["run"]["backend"] == "ray"
        pd.testing.assert_frame_equal(
            Store(tmp_path / "ray").samples(r[name]["key"]), Store(tmp_path / "local").samples(lo[name]["key"])
        )
    again = visaudit.audit("cifar10_resnet[23]*", store=tmp_path / "ray", backend="ray", **kw)
    assert len(again.records) == 2 and all(rec["cached"] for rec in again.records)


def test_one_job_over_two_tasks_is_bit_identical_and_each_chunk_is_computed_once(cluster, tmp_path, local_corruptions):
    store = tmp_path / "ray"
    watch = _Watch(store)
    try:
        res = visaudit.audit(
            "cifar10_resnet20", probe_config=CORRUPT, store=store, backend="ray", ray={"tasks_per_job": 2}, **JOB
        )
    finally:
        watch.close()
    rec = res.records[0]
    _same_as_local(rec, store, local_corruptions)
    total = _total_chunks(local_corruptions[0])
    ray_info = rec["run"]["ray"]
    assert ray_info["tasks"] == 2 and ray_info["chunks_computed"] == total, ray_info
    # both worker processes computed chunks (the claim files name them), and no chunk twice
    assert len(watch.by_chunk) == total and len(set(watch.by_chunk.values())) == 2, watch.by_chunk
    assert len(list((store / "records").glob("*.json"))) == 1


def test_a_worker_killed_mid_chunk_is_retried_and_finished_chunks_are_not_recomputed(
    cluster, tmp_path, local_corruptions
):
    store = tmp_path / "ray"
    watch = _Watch(store)
    out: dict = {}

    def drive() -> None:
        try:
            out["res"] = visaudit.audit(
                "cifar10_resnet20", probe_config=CORRUPT, store=store, backend="ray", ray={"tasks_per_job": 2}, **JOB
            )
        except BaseException as err:  # noqa: BLE001  # reported by the main thread
            out["err"] = err

    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    try:
        _wait(
            lambda: (len(watch.by_chunk) >= 2 and watch.running()) or not driver.is_alive(),
            what="two finished chunks and one running",
        )
        running = watch.running()
        assert driver.is_alive() and running, "the job ended before a worker could be killed mid-chunk"
        chunk, pid = running[0]
        os.kill(pid, signal.SIGKILL)  # the worker process of one task, in the middle of `chunk`
        _wait(lambda: not _alive(pid), what="the killed worker to exit")
        driver.join(timeout=300)
    finally:
        watch.close()
    assert not driver.is_alive() and "err" not in out, out.get("err")
    watch.poll()
    rec = out["res"].records[0]
    _same_as_local(rec, store, local_corruptions)
    total = _total_chunks(local_corruptions[0])
    by_killed = sum(1 for p in watch.by_chunk.values() if p == pid)
    assert chunk in watch.by_chunk and watch.by_chunk[chunk] != pid, "the interrupted chunk was finished by another"
    # the tasks that returned computed exactly the chunks the killed one had not finished
    assert rec["run"]["ray"]["chunks_computed"] == total - by_killed, (rec["run"]["ray"], by_killed)
    assert len(watch.by_chunk) == total and len(list((store / "records").glob("*.json"))) == 1


def test_a_killed_driver_rerun_picks_the_job_up_from_the_store(cluster, tmp_path, local_corruptions):
    import json

    store = tmp_path / "ray"
    (tmp_path / "cfg.json").write_text(json.dumps(CORRUPT))
    args = cli_argv(
        "run", "-m", "cifar10_resnet20", "-p", "corruptions", "-d", "cifar10-test", "--store", str(store),
        "--max-images", "200", "--chunk-size", "40", "--workers", "0", "-q", "--config", str(tmp_path / "cfg.json"),
        "--backend", "ray", "--tasks-per-job", "2",
    )  # fmt: skip
    env = {**os.environ, "RAY_ADDRESS": cluster, "PYTHONPATH": str(REPO / "src")}
    watch = _Watch(store)
    proc = subprocess.Popen(args, cwd=str(REPO), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait(lambda: len(watch.by_chunk) >= 2 or proc.poll() is not None, what="two finished chunks")
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        workers = set(watch.by_chunk.values()) | {p for _, p in watch.running()}
        _wait(lambda: not any(_alive(p) for p in workers), what="the dead driver's tasks to end")
        watch.poll()
        finished = len(watch.by_chunk)
        res = visaudit.audit(
            "cifar10_resnet20", probe_config=CORRUPT, store=store, backend="ray", ray={"tasks_per_job": 2}, **JOB
        )
    finally:
        watch.close()
    rec = res.records[0]
    _same_as_local(rec, store, local_corruptions)
    assert 2 <= finished < _total_chunks(local_corruptions[0])
    assert rec["run"]["ray"]["chunks_computed"] == _total_chunks(local_corruptions[0]) - finished


def test_a_cap_of_one_task_in_flight_runs_the_tasks_one_after_the_other(cluster, tmp_path):
    # two tasks share the job; with one in flight the first computes every chunk, the second finds the record
    store = tmp_path / "ray"
    watch = _Watch(store)
    try:
        res = visaudit.audit(
            "cifar10_resnet20",
            "accuracy",
            "cifar10-test",
            store=store,
            max_images=120,
            chunk_size=30,
            workers=0,
            backend="ray",
            ray={"tasks_per_job": 2, "max_in_flight": 1},
        )
    finally:
        watch.close()
    rec = res.records[0]
    assert rec["status"] == "ok" and rec["run"]["ray"]["chunks_computed"] == 4
    assert list(rec["run"]["ray"]["by_task"].values()) == [4], rec["run"]["ray"]
    assert len(watch.by_chunk) == 4 and len(set(watch.by_chunk.values())) == 1


def test_a_task_larger_than_the_cluster_is_refused_before_anything_runs(cluster, tmp_path):
    from visaudit.errors import VisauditError

    with pytest.raises(VisauditError, match="--gpus-per-job 1: the Ray cluster has 0 GPUs"):
        visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path, max_images=10,
                       backend="ray", ray={"gpus_per_job": 1, "max_in_flight": 1}, device="cpu")  # fmt: skip
    with pytest.raises(VisauditError, match="--cpus-per-job 3: the Ray cluster has 2 CPUs"):
        visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", store=tmp_path, max_images=10,
                       backend="ray", ray={"cpus_per_job": 3})  # fmt: skip
    assert not list((tmp_path / "records").glob("*.json"))
