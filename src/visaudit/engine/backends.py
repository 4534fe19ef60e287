"""Where jobs run: in this process (``local``) or spread over a Ray cluster (``ray``).

On Ray, each model's jobs are ``tasks_per_job`` tasks (a model is loaded once per task). With
one task per model a task computes its jobs as the local runner does. With more, the tasks of a
model share every job's chunks through the store (:meth:`RunContext._shared_chunks`): each
claims chunks, computes them into ``work/``, reads its siblings' chunks, and the first to finish
the probe writes the one record; the driver clears the chunks once every task has returned. The
records are those of the local backend, bit for bit (the merge reads the chunks a local resume
would read).

Faults: a task whose worker process dies is resubmitted by Ray (``max_retries``); the chunks it
finished are in the store and are not computed again, and the chunk it was computing is free
again the moment its process dies (the claim is an ``flock``). A driver that dies loses its tasks;
run the same command again and it resumes from the store.

Every task reports its progress to one actor; the driver shows it on its own bars.
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from visaudit.errors import VisauditError

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.engine.options import RunOptions
    from visaudit.engine.plan import Job


@dataclass(frozen=True)
class RaySettings:
    """How a sweep uses a Ray cluster (none of it changes a number: not in any key).

    Attributes:
        address: the cluster (``auto``, ``ray://host:10001``, ``host:6379``); None: ``RAY_ADDRESS``
            if set, else a local cluster started for this run.
        cpus_per_job, gpus_per_job: resources each task asks for (fractions allowed).
        max_in_flight: at most this many tasks submitted at once (None: all).
        tasks_per_job: tasks that share one job's chunks (1: one task per model).
        max_retries: resubmissions of a task whose worker process died.
        local_cpus: CPUs of the local cluster started when there is no address (None: all).
    """

    address: str | None = None
    cpus_per_job: float = 1.0
    gpus_per_job: float = 0.0
    max_in_flight: int | None = None
    tasks_per_job: int = 1
    max_retries: int = 3
    local_cpus: int | None = None

    def __post_init__(self) -> None:
        for name in ("cpus_per_job", "gpus_per_job"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise VisauditError(f"{name.replace('_', '-')} must be a number >= 0, got {value!r}")
        for name in ("max_in_flight", "tasks_per_job", "local_cpus"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise VisauditError(f"{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise VisauditError(f"max-retries must be 0 or a positive integer, got {self.max_retries!r}")

    @classmethod
    def of(cls, value: "RaySettings | dict[str, Any] | None") -> "RaySettings":
        """Settings from an instance, a mapping of its fields, or None (the defaults)."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            raise VisauditError(f"ray settings are a RaySettings or a dict, not {type(value).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise VisauditError(f"unknown ray settings {unknown}: known are {sorted(names)}")
        return cls(**value)


def _task(
    jobs: list["Job"],
    store_root: str,
    options: "RunOptions",
    device: str,
    shard: tuple[int, int, str] | None,
    hub: Any,
    label: str,
    cpus: float,
) -> dict[str, Any]:
    """One Ray task: a model's jobs (or its share of their chunks), progress sent to ``hub``.

    Returns ``{"pid", "computed": {job key: chunks this task computed}}`` (records are in the store).
    """
    from visaudit.engine.options import resolve_device
    from visaudit.engine.runner import Shard, run_jobs
    from visaudit.engine.store import Store

    device = resolve_device(device)  # the worker's machine must have it, not the driver's
    if options.workers is None:  # DataLoader processes within what the task asked for
        options = dataclasses.replace(options, workers=max(0, int(cpus) - 1))
    bars = _HubBars(hub, label)
    part = Shard(*shard) if shard is not None else None
    try:
        run_jobs(jobs, Store(store_root), options, device=device, bars=bars, shard=part)
    finally:
        bars.flush()
    return {"pid": os.getpid(), "computed": part.computed if part is not None else {}}


class _HubBars:
    """The bars interface of :mod:`visaudit.engine.progress`, reported to the driver's actor."""

    def __init__(self, hub: Any, label: str, every: float = 0.5) -> None:
        self.hub, self.label, self.every = hub, label, every
        self.state: dict[str, list[Any]] = {}  # pass -> [done, total, unit, status]
        self.open: list[Any] = []
        self.last = 0.0
        self.n = 0

    def add(self, total: int, description: str, unit: str = "img") -> Any:
        from visaudit.engine.progress import _Handle

        self.n += 1
        name = f"{self.n}:{description}"  # one job may run a pass of the same name twice
        self.state[name] = [0, total, unit, "running"]

        def advance(k: int) -> None:
            self.state[name][0] += k
            self._maybe_send()

        def done(ok: bool) -> None:
            self.state[name][3] = "done" if ok else "failed"
            self._send()

        handle = _Handle(advance, done)
        self.open.append(handle)
        self._send()
        return handle

    def fail_open(self) -> None:
        for h in self.open:
            h.failed()
        self.open = []

    def log(self, message: str) -> None:
        self.hub.log.remote(f"[{self.label}] {message}")

    def _maybe_send(self) -> None:
        if time.monotonic() - self.last >= self.every:
            self._send()

    def _send(self) -> None:
        self.last = time.monotonic()
        self.hub.update.remote(self.label, os.getpid(), {k: list(v) for k, v in self.state.items()})

    def flush(self) -> None:
        self._send()


class _Hub:
    """The driver's view of every task's progress (a Ray actor)."""

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        self.logs: list[str] = []

    def update(self, label: str, pid: int, passes: dict[str, list[Any]]) -> None:
        self.tasks[label] = {"pid": pid, "passes": passes}

    def log(self, message: str) -> None:
        self.logs.append(message)

    def snapshot(self) -> tuple[dict[str, dict[str, Any]], list[str]]:
        logs, self.logs = self.logs, []
        return self.tasks, logs


class _Mirror:
    """Mirrors the hub's snapshot onto the driver's bars (one bar per task and pass)."""

    def __init__(self, bars: Any) -> None:
        self.bars = bars
        self.handles: dict[tuple[str, int, str], tuple[Any, int]] = {}

    def show(self, snapshot: tuple[dict[str, dict[str, Any]], list[str]]) -> None:
        tasks, logs = snapshot
        for message in logs:
            self.bars.log(message)
        for label, task in tasks.items():
            for name, (done, total, unit, status) in task["passes"].items():
                key = (label, task["pid"], name)  # a retried task (new pid) gets new bars
                if key not in self.handles:
                    desc = f"[{label}] {name.split(':', 1)[1]}"
                    self.handles[key] = (self.bars.add(int(total), desc, unit=unit), 0)
                handle, shown = self.handles[key]
                if done > shown:
                    handle.advance(int(done - shown))
                self.handles[key] = (handle, max(shown, int(done)))
                if status == "done":
                    handle.done()
                elif status == "failed":
                    handle.failed()


def connect(settings: RaySettings) -> None:
    """Join the cluster at ``settings.address`` / ``RAY_ADDRESS``, or start a local one."""
    try:
        import ray
    except ImportError as err:
        raise VisauditError("the ray backend needs ray: pip install 'visaudit[ray]'") from err
    if ray.is_initialized():
        return
    address = settings.address or os.environ.get("RAY_ADDRESS") or None
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True}
    if address is None and settings.local_cpus is not None:
        kwargs["num_cpus"] = settings.local_cpus
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as err:
        raise VisauditError(f"cannot reach the Ray cluster at {address!r}: {err}") from err


def _check_fits(settings: RaySettings, total: dict[str, float]) -> None:
    """Refuse a task size the whole cluster cannot hold (Ray would wait for it forever)."""
    for name, want in (("CPU", settings.cpus_per_job), ("GPU", settings.gpus_per_job)):
        have = float(total.get(name, 0.0))
        if want > have:
            flag = f"--{name.lower()}s-per-job"
            raise VisauditError(
                f"{flag} {want:g}: the Ray cluster has {have:g} {name}s in all, so no task could start "
                f"(lower {flag}, or add nodes with {name}s)"
            )


def run_on_ray(
    jobs: list["Job"],
    store_root: str,
    options: "RunOptions",
    *,
    device: str,
    settings: RaySettings | None = None,
    bars: Any = None,
) -> list[dict]:
    """Run ``jobs`` (cache misses) as Ray tasks into the store at ``store_root``; returns their records.

    The store must be a path every worker sees (a shared file system): tasks write records and
    chunks there directly. Raises :class:`VisauditError` when a task fails outside a job (a job's
    own error is an error record, as on the local backend).
    """
    settings = settings or RaySettings()
    connect(settings)
    import ray

    from visaudit.engine.progress import Silent
    from visaudit.engine.store import Store

    bars = bars if bars is not None else Silent()
    groups: dict[str, list["Job"]] = {}
    for job in jobs:
        groups.setdefault(job.model.spec, []).append(job)
    sweep = uuid.uuid4().hex
    k = settings.tasks_per_job
    _check_fits(settings, ray.cluster_resources())  # type: ignore[no-untyped-call]
    hub: Any = ray.remote(num_cpus=0)(_Hub).remote()  # Any: ray's actor-handle stubs do not follow .remote
    task = ray.remote(num_cpus=settings.cpus_per_job, num_gpus=settings.gpus_per_job, max_retries=settings.max_retries)(
        _task
    )
    pending = [
        (group, (i, k, sweep) if k > 1 else None, f"{spec}" + (f" {i + 1}/{k}" if k > 1 else ""))
        for spec, group in groups.items()
        for i in range(k)
    ]
    cap = settings.max_in_flight or len(pending)
    mirror = _Mirror(bars)
    running: list[Any] = []
    failures: list[str] = []
    computed: dict[str, dict[str, int]] = {}  # job key -> {task: chunks it computed}
    labels: dict[Any, str] = {}
    try:
        while pending or running:
            while pending and len(running) < cap:
                group, shard, label = pending.pop(0)
                ref = task.remote(group, store_root, options, device, shard, hub, label, settings.cpus_per_job)
                labels[ref] = label
                running.append(ref)
            ready, running = ray.wait(running, num_returns=1, timeout=0.5)
            mirror.show(ray.get(hub.snapshot.remote()))
            for ref in ready:
                try:
                    for key, n in ray.get(ref)["computed"].items():
                        computed.setdefault(key, {})[labels[ref]] = n
                except ray.exceptions.RayError as err:
                    failures.append(str(getattr(err, "cause", None) or err).strip().splitlines()[-1])
        mirror.show(ray.get(hub.snapshot.remote()))
    finally:
        ray.kill(hub)
    store = Store(store_root)
    out = []
    for job in jobs:
        record = store.get(job.key)
        if record is None:
            continue
        if record.get("status") == "ok" and k > 1:
            store.clear_work(job.key)  # every task of the job has returned: nobody reads its chunks now
            by_task = computed.get(job.key, {})
            if by_task and (record.get("run") or {}).get("shard", {}).get("sweep") == sweep:
                # who computed how many chunks (tasks that died are not counted: their chunks were kept)
                record["run"]["ray"] = {"tasks": k, "chunks_computed": sum(by_task.values()), "by_task": by_task}
                with store.lock(job.key):
                    record = store.put(record)
        out.append(record)
    if failures:
        raise VisauditError(f"{len(failures)} Ray task(s) failed: " + " | ".join(dict.fromkeys(failures)))
    if len(out) < len(jobs):
        raise VisauditError(f"{len(jobs) - len(out)} job(s) have no record after the Ray tasks returned")
    return out
