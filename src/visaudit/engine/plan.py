"""Turn (models x probes x datasets x configs) into jobs with cache keys, without importing torch."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from visaudit.data.base import ImageDataset, Preprocess
from visaudit.data.labels import LabelMap, label_map
from visaudit.engine.keys import job_key
from visaudit.errors import VisauditError
from visaudit.models import ModelSource, resolve_model, weights_fingerprint
from visaudit.models.info import ModelInfo
from visaudit.probes import PROBES
from visaudit.probes.base import Probe


@dataclass
class ModelEntry:
    spec: str
    source: ModelSource
    info: ModelInfo


@dataclass
class Job:
    """One (model, probe, dataset) cell of the plan."""

    model: ModelEntry
    probe: Probe
    dataset: ImageDataset | None
    label_map: LabelMap | None
    preprocess: Preprocess | None
    key: str
    refused: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.model.spec} · {self.probe.name} · {self.dataset.name if self.dataset else '-'}"


def resolve_models(specs: list[str]) -> list[ModelEntry]:
    """Model metadata and weight fingerprints (remembered per weight file, so usually no load)."""
    out = []
    for spec in specs:
        source = resolve_model(spec)
        info = source.info()
        info.weights_sha256 = weights_fingerprint(source)
        out.append(ModelEntry(spec, source, info))
    return out


def make_probe(name: str, options: dict | None) -> Probe:
    cls = PROBES.get(name)
    return cls(cls.Config.from_dict(options))


def plan_jobs(models: list[ModelEntry], probes: list[Probe], datasets: list[ImageDataset], *,
              max_images: int | None, seed: int) -> list[Job]:
    """Every compatible cell; incompatible cells come back with ``refused`` set (no compute)."""
    jobs: list[Job] = []
    fingerprints = {id(ds): ds.describe() for ds in datasets}
    for m in models:
        pre = Preprocess(tuple(m.info.input_size), m.info.interpolation, m.info.crop_pct)
        for probe in probes:
            targets: list[ImageDataset | None] = list(datasets) if probe.needs_data else [None]
            for ds in targets:
                lmap, refused = None, None
                bound_pre = None
                if ds is not None:
                    bound_pre = Preprocess(pre.input_size, pre.interpolation, pre.crop_pct, ds.resize_policy)
                    try:
                        lmap = label_map(m.info.label_space, m.info.num_classes, ds.label_space)
                    except VisauditError as err:
                        refused = str(err)
                if refused is None:
                    try:
                        probe.check(m.info, ds)
                    except VisauditError as err:
                        refused = str(err)
                ds_desc = None
                if ds is not None:
                    d = fingerprints[id(ds)]
                    ds_desc = {"name": d["name"], "fingerprint": d["fingerprint"], "label_space": d["label_space"]}
                key = job_key(
                    model=m.info.identity(), probe=probe.name, probe_version=probe.version,
                    config=probe.config.to_dict(), dataset=ds_desc,
                    preprocess=bound_pre.to_dict() if bound_pre else {}, label_map=lmap.describe() if lmap else None,
                    max_images=max_images if ds is not None else None, seed=seed,
                )
                jobs.append(Job(m, probe, ds, lmap, bound_pre, key, refused))
    return jobs
