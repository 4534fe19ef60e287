"""Turn (models x probes x datasets x configs) into jobs with cache keys, without importing torch.

(Torch is imported only to resolve the device or the AMP dtype when a key needs them: a probe
that draws random numbers, or ``--amp``.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from visaudit.data.base import ImageDataset, Preprocess
from visaudit.data.labels import LabelMap, label_map
from visaudit.engine.keys import job_key, key_payload
from visaudit.engine.options import RunOptions, device_type, precision
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
    """One (model, probe, dataset) cell of the plan.

    Attributes:
        keyed_by: the payload the key hashes (stored in the record).
        refused: why the cell cannot run (no compute), or None.
    """

    model: ModelEntry
    probe: Probe
    dataset: ImageDataset | None
    label_map: LabelMap | None
    preprocess: Preprocess | None
    key: str
    keyed_by: dict[str, Any] = field(default_factory=dict)
    refused: str | None = None

    def describe(self) -> str:
        return f"{self.model.spec} · {self.probe.name} · {self.dataset.name if self.dataset else '-'}"


def resolve_models(specs: list[Any]) -> list[ModelEntry]:
    """Model metadata and weight fingerprints (remembered per weight file, so usually no load).

    A spec is a model name, a :class:`ModelSource` or an ``nn.Module`` (wrapped as one).
    """
    out = []
    for spec in specs:
        if isinstance(spec, str):
            source = resolve_model(spec)
        elif isinstance(spec, ModelSource):
            source = spec
        elif hasattr(spec, "state_dict") and callable(spec):
            from visaudit.models.module import ModuleSource

            source = ModuleSource(spec)
        else:
            raise VisauditError(f"a model is a name, a visaudit ModelSource or an nn.Module, not {type(spec).__name__}")
        info = source.info()
        if not isinstance(spec, str):
            spec = info.name
        info.weights_sha256 = weights_fingerprint(source)
        out.append(ModelEntry(spec, source, info))
    return out


def make_probe(name: str, options: dict | None) -> Probe:
    cls = PROBES.get(name)
    probe: Probe = cls(cls.Config.from_dict(options))
    return probe


def protocol_versions(packages: tuple[str, ...]) -> dict[str, str | None]:
    """Installed versions of the packages that define a protocol (None: not installed)."""
    out: dict[str, str | None] = {}
    for pkg in sorted(set(packages)):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def numerics(probe: Probe, opts: RunOptions, device: str | None) -> dict[str, Any]:
    """The part of the key that says how numbers were computed.

    ``device`` is needed (and resolved by the caller) only for ``--amp`` and for probes that
    draw random numbers: torch's CPU and CUDA samplers give different streams.
    """
    if opts.amp and device is None:
        raise ValueError("--amp needs the device resolved for its key")
    out: dict[str, Any] = {
        "precision": precision(opts.amp, device) if opts.amp and device else "fp32",
        "channels_last": bool(opts.channels_last),
    }
    if probe.random:
        if device is None:
            raise ValueError("a probe that draws random numbers needs the device type for its key")
        out["rng_device"] = device_type(device)
    return out


def needs_device(probes: list[Probe], opts: RunOptions) -> bool:
    """Whether keys need the device resolved (which imports torch when none is given)."""
    return opts.amp or any(p.random for p in probes)


def plan_jobs(
    models: list[ModelEntry],
    probes: list[Probe],
    datasets: list[ImageDataset],
    opts: RunOptions,
    device: str | None = None,
) -> list[Job]:
    """Every compatible cell; incompatible cells come back with ``refused`` set (no compute)."""
    jobs: list[Job] = []
    described = {id(ds): ds.describe() for ds in datasets}
    for m in models:
        pre = m.info.preprocess()
        for probe in probes:
            targets: list[ImageDataset | None] = list(datasets) if probe.needs_data else [None]
            for ds in targets:
                lmap, refused, inputs = None, None, {}
                bound_pre = None
                if ds is not None:
                    bound_pre = Preprocess(pre.input_size, pre.interpolation, pre.crop_pct, ds.resize_policy)
                    try:
                        lmap = label_map(
                            m.info.label_space, m.info.num_classes, ds.label_space, m.info.extra.get("class_names")
                        )
                    except VisauditError as err:
                        refused = str(err)
                if refused is None:
                    try:
                        probe.check(m.info, ds)
                        inputs = probe.inputs(m.info, ds)
                    except VisauditError as err:
                        refused = str(err)
                ds_key = None
                if ds is not None:
                    d = described[id(ds)]
                    ds_key = {
                        "name": d["name"],
                        "fingerprint": d["fingerprint"],
                        "label_space": d["label_space"],
                        "label_space_sha256": ds.label_space.fingerprint(),
                        "label_subset": ds.label_subset,
                    }
                payload = key_payload(
                    model=m.info.identity(),
                    probe=probe.name,
                    probe_version=probe.version,
                    config=probe.config.to_dict(),
                    inputs=inputs,
                    dataset=ds_key,
                    preprocess=bound_pre.to_dict() if bound_pre else {},
                    label_map=lmap.describe() if lmap else None,
                    max_images=opts.max_images if ds is not None else None,
                    seed=opts.seed,
                    numerics=numerics(probe, opts, device),
                    versions=protocol_versions(tuple(probe.protocol_packages) + tuple(m.source.protocol_packages)),
                )
                jobs.append(Job(m, probe, ds, lmap, bound_pre, job_key(payload), payload, refused))
    return jobs
