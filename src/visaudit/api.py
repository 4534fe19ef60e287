"""The Python API: :func:`audit` plans, skips what the store already has, runs the rest."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from visaudit.errors import VisauditError

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.engine.options import RunOptions

DEFAULT_STORE = "visaudit-results"
DEFAULT_MODELS = ["efficientnet_lite0"]


@dataclass
class Results:
    """Records of one audit (fresh and cached).

    Example:
        >>> res = audit("cifar10_resnet20", "accuracy", "cifar10-test", max_images=500)  # doctest: +SKIP
        >>> res.to_pandas().query("metric == 'top1'")                                  # doctest: +SKIP
    """

    records: list[dict]
    store: Path
    refused: list[dict] = field(default_factory=list)

    def to_pandas(self):
        """Long, tidy table: one row per (model, probe, dataset, metric)."""
        from visaudit.engine.export import records_to_frame

        return records_to_frame(self.records)

    def metric(
        self, name: str, model: str | None = None, probe: str | None = None, dataset: str | None = None
    ) -> float:
        """One metric value; raises if zero or several records match."""
        values = [
            r["metrics"][name]
            for r in self.records
            if name in r.get("metrics", {})
            and (model is None or r["model"]["name"] == model)
            and (probe is None or r["probe"]["name"] == probe)
            and (dataset is None or (r.get("dataset") or {}).get("name") == dataset)
        ]
        if len(values) != 1:
            raise KeyError(f"{len(values)} records have metric {name!r} for the given filters")
        return values[0]

    @property
    def errors(self) -> list[dict]:
        return [r for r in self.records if r.get("status") == "error"]


def _as_list(value: Any) -> list[Any]:
    """A list of names; one name, one model object (an ``nn.Module`` or model source) or None also do."""
    if value is None:
        return []
    if isinstance(value, str) or hasattr(value, "state_dict") or hasattr(value, "info"):
        return [value]
    try:
        return list(value)
    except TypeError:
        return [value]  # not a collection: the planner says what a model can be


def default_plan(
    models: list[str], probes: list[str], datasets: list[str]
) -> tuple[list[str], list[str], list[str], bool]:
    """Fill in the embedded default: efficientnet_lite0; accuracy, plus shape-bias when no dataset is
    named; every built-in dataset that resolves and fits the model's labels."""
    from visaudit.data.catalog import DATASETS

    implicit = not datasets
    models = models or list(DEFAULT_MODELS)
    if not probes:
        probes = ["accuracy", "shape-bias"] if implicit else ["accuracy"]
    if not datasets:
        datasets = DATASETS.names()
    return models, probes, datasets, implicit


def audit(
    models: str | Iterable[str] | None = None,
    probes: str | Iterable[str] | None = None,
    datasets: str | Iterable[str] | None = None,
    *,
    store: str | Path = DEFAULT_STORE,
    max_images: int | None = None,
    device: str | None = None,
    seed: int = 0,
    force: bool = False,
    batch_size: int | None = None,
    workers: int | None = None,
    amp: bool = False,
    channels_last: bool = False,
    strict: bool = False,
    quiet: bool = True,
    probe_config: dict[str, dict[str, Any]] | None = None,
    chunk_size: int | None = None,
    label_subset: bool = False,
    backend: str = "local",
    ray: Any = None,
    models_file: str | Path | None = None,
    log=None,
) -> Results:
    """Audit models with probes on datasets; results are stored and answered from the store next time.

    Args:
        models: model names (``efficientnet_lite0``, ``cifar10_resnet20``, ``timm:resnet50``, ``tv:resnet50``,
            ``ARCH@PATH``) or glob patterns (``cifar10_resnet*``, ``timm:resnet*``, ``tv:vit_*``),
            ``nn.Module`` objects (see :func:`visaudit.models.from_module` for their
            preprocessing) or model sources; default ``efficientnet_lite0``.
        probes: probe names (see ``visaudit list probes``); default ``accuracy``.
        datasets: dataset names or folder paths; default every built-in dataset that resolves offline
            and fits the model's label space.
        store: results directory.
        max_images: use a seeded random subset of this many images per dataset.
        device: ``cuda``, ``mps`` or ``cpu`` (default: the best available).
        seed: seeds the subset, the probes' randomness (per sample) and torch.
        force: recompute even when the store has the result.
        batch_size: images per batch (default 256 on CUDA, 64 otherwise; halved on out-of-memory).
        workers: DataLoader worker processes (default: cores - 1, at most 8).
        amp: autocast (bf16 on CUDA where supported and on the CPU; fp16 on MPS).
        channels_last: channels-last memory format.
        strict: fail on undecodable images instead of skipping and listing them.
        quiet: no progress bars.
        probe_config: per-probe options, ``{"corruptions": {"severities": [1, 3]}}``.
        chunk_size: images per checkpointed chunk (default: the probe's choice, else 2048).
        label_subset: score each dataset over the classes it holds instead of the model's whole
            label space (the default; benchmarks that declare a subset, like ImageNet-R, use it anyway).
        backend: ``local`` (this process) or ``ray`` (Ray tasks; the store must be on a file system
            every worker sees).
        ray: :class:`visaudit.engine.backends.RaySettings` or a dict of its fields (cluster address,
            CPUs / GPUs per task, tasks in flight, tasks per job); only with ``backend="ray"``.
        models_file: a file of model specs (or patterns), one per line, added to ``models``.

    Returns:
        :class:`Results` with every record (``cached=True`` for the ones answered from the store).

    Raises:
        VisauditError: bad names or options, unresolvable data, or no job that can run (every cell refused).
    """
    from visaudit.engine.options import RunOptions

    opts = RunOptions(
        seed=seed,
        max_images=max_images,
        label_subset=label_subset,
        amp=amp,
        channels_last=channels_last,
        device=device,
        batch_size=batch_size,
        chunk_size=chunk_size,
        workers=workers,
        strict=strict,
        backend=backend,
        force=force,
    )
    if ray is not None and backend != "ray":
        raise VisauditError("ray settings need backend='ray'")
    from visaudit.models.patterns import expand_models

    return run_audit(
        expand_models(_as_list(models), models_file),
        _as_list(probes),
        _as_list(datasets),
        opts,
        store=store,
        probe_config=probe_config,
        quiet=quiet,
        ray=ray,
        log=log,
    )


def plan(
    models: list[str],
    probes: list[str],
    datasets: list[str],
    opts: "RunOptions",
    *,
    probe_config: dict[str, dict[str, Any]] | None = None,
) -> tuple[list, list[str], bool]:
    """The jobs of an audit with their keys, computing nothing (a dry run).

    Returns:
        ``(jobs, skipped datasets, implicit)``: ``implicit`` is True for the embedded default plan.
    """
    from visaudit.data.catalog import open_dataset
    from visaudit.engine.plan import make_probe, needs_device, plan_jobs, resolve_models
    from visaudit.errors import DataNotFoundError

    model_names, probe_names, dataset_names, implicit = default_plan(models, probes, datasets)
    probe_config = probe_config or {}
    unknown_cfg = set(probe_config) - set(probe_names)
    if unknown_cfg:
        raise VisauditError(f"probe_config names probes that are not run: {sorted(unknown_cfg)}")
    probe_objs = [make_probe(p, probe_config.get(p)) for p in probe_names]
    opened, skipped = [], []
    if any(p.needs_data for p in probe_objs):
        for name in dataset_names:
            try:
                ds = open_dataset(name)
            except DataNotFoundError as err:
                if not implicit:
                    raise
                skipped.append(f"{name}: {err}")
                continue
            opened.append(ds.with_label_subset() if opts.label_subset else ds)
    entries = resolve_models(model_names)
    device = opts.device
    if device is None and needs_device(probe_objs, opts):
        from visaudit.engine.options import resolve_device

        device = resolve_device(None)
    return plan_jobs(entries, probe_objs, opened, opts, device), skipped, implicit


def run_audit(
    models: list[str],
    probes: list[str],
    datasets: list[str],
    opts: "RunOptions",
    *,
    store: str | Path = DEFAULT_STORE,
    probe_config: dict[str, dict[str, Any]] | None = None,
    quiet: bool = True,
    ray: Any = None,
    log=None,
) -> Results:
    """:func:`audit` with its options as one :class:`~visaudit.engine.options.RunOptions`."""
    from visaudit.engine.options import resolve_device
    from visaudit.engine.progress import make_bars
    from visaudit.engine.runner import refused_record
    from visaudit.engine.store import Store

    settings = None
    if opts.backend == "ray":
        import dataclasses

        from visaudit.engine.backends import RaySettings

        settings = RaySettings.of(ray)
        if settings.gpus_per_job > 0 and opts.device is None:
            # the tasks run on GPU workers: keys and runs use CUDA even when the driver has none
            opts = dataclasses.replace(opts, device="cuda")
    jobs, skipped, implicit = plan(models, probes, datasets, opts, probe_config=probe_config)
    st = Store(store)
    if implicit:  # the default sweep drops cells that do not fit instead of reporting them
        jobs = [j for j in jobs if j.refused is None]
    refused = [j for j in jobs if j.refused]
    runnable = [j for j in jobs if not j.refused]
    if not runnable:
        msgs = [j.refused for j in refused] + skipped
        raise VisauditError("nothing to run: " + (" | ".join(dict.fromkeys(msgs)) if msgs else "no datasets"))
    if log:
        if skipped:  # the default sweep: datasets absent here are named once, not explained each
            names = ", ".join(s.split(": ", 1)[0] for s in skipped)
            log(
                f"[yellow]not found locally, skipped: {names} (put them under $VISAUDIT_DATA; "
                "`visaudit list datasets` says where to get each)"
            )
        for j in refused:
            log(f"[yellow]refused {j.describe()}: {j.refused}")
    records: list[dict] = []
    todo = []
    for job in runnable:
        hit = None if opts.force else st.get(job.key)
        if hit is not None and hit.get("status") == "ok":
            records.append({**hit, "cached": True})
        else:
            todo.append(job)
    if todo:
        st.ensure_writable()
        planned = {j.keyed_by["numerics"].get("rng_device") for j in todo} - {None}
        # on Ray the workers resolve the device; the driver may have no GPU
        device = (opts.device or resolve_device(None)) if settings is not None else resolve_device(opts.device)
        if planned and planned != {device.split(":")[0]}:  # cannot happen unless the machine changed
            raise VisauditError(f"keys were planned for device {planned} but the run resolved {device}")
        if opts.backend == "ray":
            from visaudit.engine.backends import run_on_ray

            with make_bars(quiet) as bars:
                fresh = run_on_ray(todo, str(st.root.resolve()), opts, device=device, settings=settings, bars=bars)
        else:
            from visaudit.engine.runner import run_jobs

            with make_bars(quiet) as bars:
                fresh = run_jobs(todo, st, opts, device=device, bars=bars)
        records += [{**r, "cached": r.get("cached", False)} for r in fresh]
    refused_records = [refused_record(j, opts) for j in refused]
    return Results(records=records, store=st.root, refused=refused_records)
