"""Run planned jobs: skip what the store has, load each model once, isolate failures per job."""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from visaudit.engine.options import RunOptions, precision
from visaudit.engine.plan import Job
from visaudit.engine.provenance import provenance
from visaudit.engine.record import Record
from visaudit.engine.store import Store


def default_workers() -> int:
    return min(8, max(0, (os.cpu_count() or 1) - 1))


def _record(job: Job, status: str, opts: RunOptions, **fields: Any) -> Record:
    info = job.model.info
    model = info.to_dict()
    if job.preprocess is not None:
        model["preprocess"] = {**info.preprocess_dict(), "resize": job.preprocess.resize}
    return Record(
        key=job.key,
        status=status,  # type: ignore[arg-type]
        model=model,
        probe={"name": job.probe.name, "version": job.probe.version, "config": job.probe.config.to_dict()},
        dataset=job.dataset.describe() if job.dataset is not None else None,
        label_map=job.label_map.describe() if job.label_map else None,
        label_protocol=job.label_map.protocol if job.label_map else None,
        seed=opts.seed,
        max_images=opts.max_images if job.dataset is not None else None,
        keyed_by=job.keyed_by,
        provenance=provenance(),
        **fields,
    )


def refused_record(job: Job, opts: RunOptions) -> dict[str, Any]:
    return _record(job, "refused", opts, error={"type": "refused", "message": job.refused}).to_dict()


@dataclass(frozen=True)
class Shard:
    """This process is task ``index`` of ``count`` that share each job's chunks (the Ray backend).

    Attributes:
        index, count: which task of how many.
        sweep: an id of the sweep; the first task to finish a job writes its record, the others
            see a record of the same sweep and leave it (so ``--force`` still recomputes once).
    """

    index: int
    count: int
    sweep: str
    computed: dict[str, int] = field(default_factory=dict)  # job key -> chunks this task computed

    def wrote(self, record: dict | None) -> bool:
        """Whether ``record`` is an ``ok`` record that this sweep wrote."""
        run = (record or {}).get("run") or {}
        return bool(record and record.get("status") == "ok" and (run.get("shard") or {}).get("sweep") == self.sweep)


def run_jobs(
    jobs: list[Job], store: Store, opts: RunOptions, *, device: str, bars: Any, shard: Shard | None = None
) -> list[dict]:
    """Compute ``jobs`` (all cache misses) grouped by model; returns their records.

    ``device`` is the resolved device (:func:`visaudit.engine.options.resolve_device`). With
    ``shard``, each job's chunks are shared with sibling processes through the store (no job
    lock is held while computing; the record is written once, by the first task to finish).
    """
    if shard is not None:
        return _run_shard(jobs, store, opts, device=device, bars=bars, shard=shard)
    import torch

    from visaudit.data.base import ImageDecodeError
    from visaudit.models.classifier import Classifier

    dev = torch.device(device)
    out: list[dict] = []
    by_model: dict[str, list[Job]] = {}
    for job in jobs:
        by_model.setdefault(job.model.spec, []).append(job)
    for model_jobs in by_model.values():
        entry = model_jobs[0].model
        pass_cache: dict = {}  # clean logits shared by this model's jobs on the same data
        t0 = time.perf_counter()
        model = None
        load_error = None
        try:
            net = entry.source.build()
            model = Classifier(net, entry.info, entry.source.factory()).to(dev).eval()
            if opts.channels_last:
                model = model.to(memory_format=torch.channels_last)
        except Exception as err:  # isolate: every job of this model gets an error record
            load_error = err
        load_s = time.perf_counter() - t0
        for job in model_jobs:
            with store.lock(job.key):
                existing = store.get(job.key)
                if existing is not None and existing.get("status") == "ok" and not opts.force:
                    out.append({**existing, "cached": True})  # another process finished it meanwhile
                    continue
                if load_error is not None:
                    out.append(store.put(_error(job, opts, dev, load_error)))
                    continue
                try:
                    record = _run_one(job, model, dev, store, opts, bars=bars, load_s=load_s, pass_cache=pass_cache)
                except ImageDecodeError:
                    raise  # --strict: a broken image stops the audit
                except KeyboardInterrupt:
                    raise
                except Exception as err:
                    bars.fail_open()  # the failed job's bars stop, marked as failed
                    bars.log(f"[red]error in {job.describe()}: {type(err).__name__}: {err}")
                    out.append(store.put(_error(job, opts, dev, err)))
                    continue
                out.append(record)
        del model
    return out


def _run_shard(jobs: list[Job], store: Store, opts: RunOptions, *, device: str, bars: Any, shard: Shard) -> list[dict]:
    import torch

    from visaudit.data.base import ImageDecodeError
    from visaudit.models.classifier import Classifier

    dev = torch.device(device)
    out: list[dict] = []
    # a probe that reads no data has no chunks to share: task 0 alone computes it
    mine = [j for j in jobs if j.dataset is not None or shard.index == 0]
    todo = []
    for job in mine:
        existing = store.get(job.key)
        if existing is not None and existing.get("status") == "ok" and (not opts.force or shard.wrote(existing)):
            out.append({**existing, "cached": True})
        else:
            todo.append(job)
    if not todo:
        return out
    entry = todo[0].model
    t0 = time.perf_counter()
    try:
        net = entry.source.build()
        model = Classifier(net, entry.info, entry.source.factory()).to(dev).eval()
        if opts.channels_last:
            model = model.to(memory_format=torch.channels_last)
    except Exception as err:
        for job in todo:
            out.append(_put_once(store, shard, _error(job, opts, dev, err)))
        return out
    load_s = time.perf_counter() - t0
    pass_cache: dict = {}
    for job in todo:
        try:
            record = _run_one(
                job, model, dev, store, opts, bars=bars, load_s=load_s, pass_cache=pass_cache, shard=shard
            )
        except (ImageDecodeError, KeyboardInterrupt):
            raise
        except Exception as err:
            bars.fail_open()
            bars.log(f"[red]error in {job.describe()}: {type(err).__name__}: {err}")
            record = _put_once(store, shard, _error(job, opts, dev, err))
        out.append(record)
    return out


def _put_once(store: Store, shard: Shard, record: dict, **files: Any) -> dict:
    """Write a shard's record unless a sibling of the same sweep already wrote an ``ok`` one."""
    record.setdefault("run", {})["shard"] = {"sweep": shard.sweep, "index": shard.index, "count": shard.count}
    with store.lock(record["key"]):
        existing = store.get(record["key"])
        if shard.wrote(existing):
            assert existing is not None
            return {**existing, "cached": True}
        if record.get("status") != "ok" and existing is not None and existing.get("status") == "ok":
            return {**existing, "cached": True}  # a sibling's or an earlier result stands over an error
        return store.put(record, **files)


def _run_info(opts: RunOptions, dev: Any, batch_size: int | None = None, **extra: Any) -> dict[str, Any]:
    info = {k: v for k, v in opts.to_record().items() if RunOptions.side(k) == "record"}
    info.update(device=str(dev), precision=precision(opts.amp, str(dev)), batch_size_used=batch_size, **extra)
    return info


def _error(job: Job, opts: RunOptions, dev: Any, err: BaseException) -> dict:
    return _record(
        job,
        "error",
        opts,
        run=_run_info(opts, dev),
        error={"type": type(err).__name__, "message": str(err), "traceback": traceback.format_exc()},
    ).to_dict()


def _run_one(
    job: Job,
    model: Any,
    dev: Any,
    store: Store,
    opts: RunOptions,
    *,
    bars: Any,
    load_s: float,
    pass_cache: dict | None = None,
    shard: Shard | None = None,
) -> dict:
    import contextlib

    import torch

    from visaudit.engine.context import RunContext
    from visaudit.engine.subset import select_indices

    torch.manual_seed(opts.seed)
    dataset = None
    if job.dataset is not None and job.preprocess is not None:
        dataset = job.dataset.bind(job.preprocess)  # --strict is applied by the context
    indices = select_indices(len(dataset), opts.max_images, opts.seed) if dataset is not None else None
    probe = job.probe
    ctx = RunContext(
        model=model,
        dataset=dataset,
        label_map=job.label_map,
        config=probe.config,
        device=dev,
        store=store,
        key=job.key,
        indices=indices,
        bars=bars,
        options=opts,
        batch_size=opts.batch_size or (256 if dev.type == "cuda" else 64),
        workers=default_workers() if opts.workers is None else opts.workers,
        chunk_size=opts.chunk_size or probe.chunk_size or 2048,
        precision=precision(opts.amp, str(dev)),
        pass_cache=pass_cache,
        shard=(shard.index, shard.count) if shard is not None else None,
    )
    t0 = time.perf_counter()
    grad = contextlib.nullcontext() if probe.needs_grad else torch.inference_mode()
    with grad:
        result = probe.run(ctx)
    probe_s = time.perf_counter() - t0
    failed = sorted(
        f"{d}:{job.dataset.ids[p]}" if job.dataset is not None and d == job.dataset.name else f"{d}:{p}"
        for d, p in ctx.failed
    )
    warnings = list(result.warnings)
    if ctx.nonfinite:
        warnings.append(f"{ctx.nonfinite} model outputs contained NaN or Inf")
    if failed:
        warnings.append(f"{len(failed)} images could not be decoded and were skipped")
    metric_info = {}
    for name in result.metrics:
        spec = probe.metric_spec(name)
        metric_info[name] = {
            "higher_is_better": spec.higher_is_better if spec else None,
            "description": spec.description if spec else "",
        }
    n_main_failed = sum(1 for d, _ in ctx.failed if job.dataset and d == job.dataset.name)
    record = _record(
        job,
        "ok",
        opts,
        run=_run_info(
            opts,
            dev,
            ctx.batch_size,
            chunk_size_used=ctx.chunk_size,
            workers_used=ctx.workers,
            chunks_run=ctx.chunks_run,
            chunks_resumed=ctx.chunks_loaded,
            clean_pass=ctx.clean_pass,
        ),
        metrics={k: float(v) for k, v in result.metrics.items()},
        metric_info=metric_info,
        data=result.data,
        n_samples=int(len(indices) - n_main_failed) if indices is not None else 0,
        n_selected=int(len(indices)) if indices is not None else 0,
        failed_images=failed,
        n_failed_images=len(failed),
        nonfinite_outputs=int(ctx.nonfinite),
        warnings=warnings,
        timings={
            "model_load_s": round(load_s, 3),
            "probe_s": round(probe_s, 3),
            "images_per_s": round(ctx.images_seen / probe_s, 2) if probe_s > 0 and ctx.images_seen else None,
            "forward_images": int(ctx.forward_images),
        },
    )
    if shard is not None:  # siblings may still be reading the chunks: the driver clears them
        shard.computed[job.key] = shard.computed.get(job.key, 0) + ctx.chunks_run
        return _put_once(store, shard, record.to_dict(), samples=result.samples, artifacts=result.artifacts)
    stored = store.put(record.to_dict(), samples=result.samples, artifacts=result.artifacts)
    store.clear_work(job.key)
    return stored
