"""Wall time of a sweep of the real zoo models on a local Ray cluster with 1 and 2 workers, side by side.

Each run starts a fresh local cluster of W CPUs (W workers of one CPU each) and a fresh store, and
sweeps the models (one task per model); a last run spreads each job over two tasks (``--tasks-per-job
2``) on 2 workers. The local backend is the reference: every run must give its metrics exactly. The
cluster start-up is timed apart from the sweep;
imports and weight fingerprints are paid once before any timing.

Usage: python bench/ray_sweep.py [--models 'cifar10_resnet*'] [--probe accuracy] [--n 2000] [--chunk 250]
Needs VISAUDIT_DATA / VISAUDIT_WEIGHTS (defaults to ../shared beside the checkout).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
os.environ.setdefault("VISAUDIT_DATA", str(SHARED / "data"))
os.environ.setdefault("VISAUDIT_WEIGHTS", str(SHARED / "models"))


def sweep(args: argparse.Namespace, store: Path, backend: str, ray: dict | None) -> tuple[float, dict]:
    import visaudit

    t0 = time.perf_counter()
    res = visaudit.audit(
        args.models,
        args.probe,
        args.data,
        store=store,
        max_images=args.n,
        chunk_size=args.chunk,
        workers=0,
        backend=backend,
        ray=ray,
    )
    wall = time.perf_counter() - t0
    return wall, {r["model"]["name"]: r["metrics"] for r in res.records}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="cifar10_resnet*")
    ap.add_argument("--probe", default="accuracy")
    ap.add_argument("--data", default="cifar10-test")
    ap.add_argument("--n", type=int, default=2000, help="images per dataset")
    ap.add_argument("--chunk", type=int, default=250, help="images per chunk")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads of the local reference (Ray gives a 1-CPU task 1)"
    )
    args = ap.parse_args()

    import ray
    import torch

    torch.set_num_threads(args.threads)  # like for like: Ray sets OMP_NUM_THREADS to a task's CPUs

    from visaudit.api import plan
    from visaudit.engine.options import RunOptions
    from visaudit.models.patterns import expand_models

    # one-time costs out of every timing: imports, weight fingerprints (remembered in the cache)
    plan(expand_models([args.models]), [args.probe], [args.data], RunOptions(max_images=args.n))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        wall, ref = sweep(args, Path(tmp) / "local", "local", None)
        rows.append((f"local backend ({args.threads} torch thread(s))", "-", wall, True))
        for workers, tasks in ((1, 1), (2, 1), (2, 2)):
            t0 = time.perf_counter()
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            start = time.perf_counter() - t0
            try:
                wall, got = sweep(args, Path(tmp) / f"ray{workers}-{tasks}", "ray", {"tasks_per_job": tasks})
            finally:
                ray.shutdown()
            label = f"ray, {workers} worker{'s' if workers > 1 else ''}" + (
                f", {tasks} tasks per job" if tasks > 1 else ""
            )
            rows.append((label, f"{start:.1f}", wall, got == ref))
    print(f"sweep: {len(ref)} models ({', '.join(sorted(ref))}) x {args.probe} on {args.data}, {args.n} images each")
    print(f"{'run':<36} {'cluster start s':>15} {'sweep wall s':>12} {'metrics == local':>17}")
    for label, start, wall, same in rows:
        print(f"{label:<36} {start:>15} {wall:>12.1f} {str(same):>17}")
    print(f"cores: {os.cpu_count()}; timings on a shared machine are indicative only")


if __name__ == "__main__":
    main()
