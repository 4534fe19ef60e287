"""Where jobs run: in this process (``local``) or spread over a Ray cluster (``ray``).

Both write into the same store (atomic records, one lock per job), so a Ray worker on another
machine needs the store on a shared file system. Jobs are grouped by model so that each worker
loads a model once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from visaudit.errors import VisauditError

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.engine.options import RunOptions
    from visaudit.engine.plan import Job


def _run_group(job_group: list["Job"], store_root: str, options: "RunOptions", device: str) -> list[dict]:
    from visaudit.engine.progress import make_bars
    from visaudit.engine.runner import run_jobs
    from visaudit.engine.store import Store

    with make_bars(True) as bars:
        return run_jobs(job_group, Store(store_root), options, device=device, bars=bars)


def run_on_ray(
    jobs: list, store_root: str, options: "RunOptions", *, device: str, gpus_per_job: float = 0
) -> list[dict]:
    """Run each model's jobs as one Ray task; returns all records. Starts a local Ray if none is running."""
    try:
        import ray
    except ImportError as err:
        raise VisauditError("the ray backend needs ray: pip install 'visaudit[ray]'") from err
    if not ray.is_initialized():
        ray.init(ignore_reinit_error=True, include_dashboard=False, log_to_driver=False)
    groups: dict[str, list] = {}
    for job in jobs:
        groups.setdefault(job.model.spec, []).append(job)
    task = ray.remote(num_gpus=gpus_per_job)(_run_group)
    futures = [task.remote(group, store_root, options, device) for group in groups.values()]
    return [rec for part in ray.get(futures) for rec in part]
