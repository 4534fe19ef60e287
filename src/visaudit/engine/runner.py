"""Run planned jobs: skip what the store has, load each model once, isolate failures per job."""
from __future__ import annotations

import os
import time
import traceback
from typing import Any

from visaudit.engine.plan import Job
from visaudit.engine.provenance import provenance
from visaudit.engine.store import Store


def pick_device(device: str | None) -> str:
    """cuda > mps > cpu unless given."""
    if device:
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def default_workers() -> int:
    return min(8, max(0, (os.cpu_count() or 1) - 1))


def base_record(job: Job, *, seed: int, max_images: int | None) -> dict[str, Any]:
    info = job.model.info
    model = info.to_dict()
    if job.preprocess is not None:
        model["preprocess"] = {**info.preprocess_dict(), "resize": job.preprocess.resize}
    return {
        "schema": 1, "key": job.key, "model": model,
        "probe": {"name": job.probe.name, "version": job.probe.version, "config": job.probe.config.to_dict()},
        "dataset": job.dataset.describe() if job.dataset is not None else None,
        "label_map": job.label_map.describe() if job.label_map else None,
        "seed": seed, "max_images": max_images, "provenance": provenance(),
    }


def refused_record(job: Job, *, seed: int, max_images: int | None) -> dict[str, Any]:
    rec = base_record(job, seed=seed, max_images=max_images)
    rec.update(status="refused", metrics={}, metric_info={}, data={}, warnings=[], n_samples=0,
               error={"type": "refused", "message": job.refused})
    return rec


def run_jobs(jobs: list[Job], store: Store, *, device: str | None, seed: int, max_images: int | None,
             batch_size: int | None, workers: int | None, amp: bool, channels_last: bool, strict: bool,
             bars, chunk_size: int | None = None) -> list[dict]:
    """Compute ``jobs`` (all cache misses) grouped by model; returns their records."""
    import torch

    from visaudit.data.base import ImageDecodeError
    from visaudit.models.classifier import Classifier

    dev = torch.device(pick_device(device))
    out: list[dict] = []
    by_model: dict[str, list[Job]] = {}
    for job in jobs:
        by_model.setdefault(job.model.spec, []).append(job)
    for spec, model_jobs in by_model.items():
        entry = model_jobs[0].model
        t0 = time.perf_counter()
        model = None
        load_error = None
        try:
            net = entry.source.build()
            model = Classifier(net, entry.info, entry.source.factory()).to(dev).eval()
            if channels_last:
                model = model.to(memory_format=torch.channels_last)
        except Exception as err:  # isolate: every job of this model gets an error record
            load_error = err
        load_s = time.perf_counter() - t0
        for job in model_jobs:
            with store.lock(job.key):
                existing = store.get(job.key)
                if existing is not None and existing.get("status") == "ok" and not job.extra.get("force"):
                    out.append({**existing, "cached": True})
                    continue
                record = base_record(job, seed=seed, max_images=max_images)
                record["device"] = str(dev)
                if load_error is not None:
                    out.append(store.put(_error(record, load_error)))
                    continue
                try:
                    record = _run_one(job, model, dev, store, record, seed=seed, max_images=max_images,
                                      batch_size=batch_size, workers=workers, amp=amp,
                                      channels_last=channels_last, strict=strict, bars=bars,
                                      chunk_size=chunk_size, load_s=load_s)
                except ImageDecodeError:
                    raise  # --strict: a broken image stops the audit
                except KeyboardInterrupt:
                    raise
                except Exception as err:
                    bars.log(f"[red]error in {job.describe()}: {type(err).__name__}: {err}")
                    out.append(store.put(_error(record, err)))
                    continue
                out.append(record)
        del model
    return out


def _error(record: dict, err: BaseException) -> dict:
    record.update(status="error", metrics={}, metric_info={}, data={}, warnings=[], n_samples=0,
                  error={"type": type(err).__name__, "message": str(err), "traceback": traceback.format_exc()})
    return record


def _run_one(job: Job, model, dev, store: Store, record: dict, *, seed, max_images, batch_size, workers, amp,
             channels_last, strict, bars, chunk_size, load_s) -> dict:
    import contextlib

    import torch

    from visaudit.engine.context import RunContext, select_indices

    torch.manual_seed(seed)
    dataset = job.dataset.bind(job.preprocess, strict=strict) if job.dataset is not None else None
    indices = select_indices(len(dataset), max_images, seed) if dataset is not None else None
    probe = job.probe
    ctx = RunContext(
        model=model, dataset=dataset, label_map=job.label_map, config=probe.config, device=dev, seed=seed,
        batch_size=batch_size or (256 if dev.type == "cuda" else 64), store=store, key=job.key, indices=indices,
        bars=bars, workers=default_workers() if workers is None else workers, amp=amp,
        channels_last=channels_last,
        chunk_size=chunk_size or getattr(probe, "chunk_size", None) or 2048, strict=strict, max_images=max_images,
    )
    t0 = time.perf_counter()
    grad = contextlib.nullcontext() if probe.needs_grad else torch.inference_mode()
    with grad:
        result = probe.run(ctx)
    probe_s = time.perf_counter() - t0
    failed = sorted(f"{d}:{job.dataset.ids[p]}" if job.dataset is not None and d == job.dataset.name else f"{d}:{p}"
                    for d, p in ctx.failed)
    warnings = list(result.warnings)
    if ctx.nonfinite:
        warnings.append(f"{ctx.nonfinite} model outputs contained NaN or Inf")
    if failed:
        warnings.append(f"{len(failed)} images could not be decoded and were skipped")
    metric_info = {}
    for name in result.metrics:
        spec = probe.metric_spec(name)
        metric_info[name] = {"higher_is_better": spec.higher_is_better if spec else None,
                             "description": spec.description if spec else ""}
    record.update(
        status="ok", metrics={k: float(v) for k, v in result.metrics.items()}, metric_info=metric_info,
        data=result.data, n_samples=int(len(indices) - sum(1 for d, _ in ctx.failed if job.dataset and d == job.dataset.name)) if indices is not None else 0,
        n_selected=int(len(indices)) if indices is not None else 0,
        failed_images=failed, n_failed_images=len(failed), nonfinite_outputs=int(ctx.nonfinite),
        batch_size=ctx.batch_size, warnings=warnings, error=None,
        timings={"model_load_s": round(load_s, 3), "probe_s": round(probe_s, 3),
                 "images_per_s": round(ctx.images_seen / probe_s, 2) if probe_s > 0 and ctx.images_seen else None},
    )
    stored = store.put(record, samples=result.samples, artifacts=result.artifacts)
    store.clear_work(job.key)
    return stored
