"""The Python API: :func:`audit` plans, skips what the store already has, runs the rest."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from visaudit.errors import VisauditError

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

    def metric(self, name: str, model: str | None = None, probe: str | None = None, dataset: str | None = None) -> float:
        """One metric value; raises if zero or several records match."""
        values = [
            r["metrics"][name] for r in self.records
            if name in r.get("metrics", {}) and (model is None or r["model"]["name"] == model)
            and (probe is None or r["probe"]["name"] == probe)
            and (dataset is None or (r.get("dataset") or {}).get("name") == dataset)
        ]
        if len(values) != 1:
            raise KeyError(f"{len(values)} records have metric {name!r} for the given filters")
        return values[0]

    @property
    def errors(self) -> list[dict]:
        return [r for r in self.records if r.get("status") == "error"]


def _as_list(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def default_plan(models: list[str], probes: list[str], datasets: list[str]) -> tuple[list[str], list[str], list[str], bool]:
    """Fill in the embedded default: efficientnet_lite0, accuracy (+ shape-bias when available),
    every built-in dataset that resolves and fits."""
    from visaudit.data.catalog import DATASETS
    from visaudit.probes import PROBES

    implicit = not datasets
    models = models or list(DEFAULT_MODELS)
    if not probes:
        probes = ["accuracy"]
    if not datasets:
        datasets = DATASETS.names()
    return models, probes, datasets, implicit


def audit(models: str | Iterable[str] | None = None, probes: str | Iterable[str] | None = None,
          datasets: str | Iterable[str] | None = None, *, store: str | Path = DEFAULT_STORE,
          max_images: int | None = None, device: str | None = None, seed: int = 0, force: bool = False,
          batch_size: int | None = None, workers: int | None = None, amp: bool = False,
          channels_last: bool = False, strict: bool = False, quiet: bool = True,
          probe_config: dict[str, dict[str, Any]] | None = None, chunk_size: int | None = None,
          log=None) -> Results:
    """Audit models with probes on datasets; results are stored and answered from the store next time.

    Args:
        models: model names (``efficientnet_lite0``, ``cifar10_resnet20``, ``timm:resnet50``, ``tv:resnet50``,
            ``ARCH@PATH``); default ``efficientnet_lite0``.
        probes: probe names (see ``visaudit list probes``); default ``accuracy``.
        datasets: dataset names or folder paths; default every built-in dataset that resolves offline
            and fits the model's label space.
        store: results directory.
        max_images: use a seeded random subset of this many images per dataset.
        device: ``cuda``, ``mps`` or ``cpu`` (default: the best available).
        seed: seeds the subset, the probes' randomness and torch.
        force: recompute even when the store has the result.
        batch_size: images per batch (default 256 on CUDA, 64 otherwise; halved on out-of-memory).
        workers: DataLoader worker processes (default: cores - 1, at most 8).
        amp: autocast (bf16/fp16) on GPU.  channels_last: channels-last memory format.
        strict: fail on undecodable images instead of skipping and listing them.
        quiet: no progress bars.
        probe_config: per-probe options, ``{"corruptions": {"severities": [1, 3]}}``.
        chunk_size: images per checkpointed chunk (default: the probe's choice, else 2048).

    Returns:
        :class:`Results` with every record (``cached=True`` for the ones answered from the store).

    Raises:
        VisauditError: bad names, unresolvable data, or no job that can run (every cell refused).
    """
    from visaudit.data.catalog import open_dataset
    from visaudit.engine.plan import make_probe, plan_jobs, resolve_models
    from visaudit.engine.progress import make_bars
    from visaudit.engine.store import Store
    from visaudit.errors import DataNotFoundError

    model_names, probe_names, dataset_names, implicit = default_plan(_as_list(models), _as_list(probes),
                                                                      _as_list(datasets))
    probe_config = probe_config or {}
    unknown_cfg = set(probe_config) - set(probe_names)
    if unknown_cfg:
        raise VisauditError(f"probe_config names probes that are not run: {sorted(unknown_cfg)}")
    probe_objs = [make_probe(p, probe_config.get(p)) for p in probe_names]
    st = Store(store)
    opened, skipped = [], []
    if any(p.needs_data for p in probe_objs):
        for name in dataset_names:
            try:
                opened.append(open_dataset(name))
            except DataNotFoundError as err:
                if not implicit:
                    raise
                skipped.append(f"{name}: {err}")
    entries = resolve_models(model_names)
    jobs = plan_jobs(entries, probe_objs, opened, max_images=max_images, seed=seed)
    if implicit:  # the default sweep drops cells that do not fit instead of reporting them
        jobs = [j for j in jobs if j.refused is None]
    refused = [j for j in jobs if j.refused]
    runnable = [j for j in jobs if not j.refused]
    if not runnable:
        msgs = [j.refused for j in refused] + skipped
        raise VisauditError("nothing to run: " + (" | ".join(dict.fromkeys(msgs)) if msgs else "no datasets"))
    if log:
        for s in skipped:
            log(f"[yellow]skipped dataset {s}")
        for j in refused:
            log(f"[yellow]refused {j.describe()}: {j.refused}")
    records: list[dict] = []
    todo = []
    for job in runnable:
        hit = None if force else st.get(job.key)
        if hit is not None and hit.get("status") == "ok":
            records.append({**hit, "cached": True})
        else:
            job.extra["force"] = force
            todo.append(job)
    if todo:
        st.ensure_writable()
        from visaudit.engine.runner import run_jobs

        with make_bars(quiet) as bars:
            fresh = run_jobs(todo, st, device=device, seed=seed, max_images=max_images, batch_size=batch_size,
                             workers=workers, amp=amp, channels_last=channels_last, strict=strict, bars=bars,
                             chunk_size=chunk_size)
        records += [{**r, "cached": r.get("cached", False)} for r in fresh]
    from visaudit.engine.runner import refused_record

    refused_records = [refused_record(j, seed=seed, max_images=max_images) for j in refused]
    return Results(records=records, store=st.root, refused=refused_records)
