"""A study as data: which probes run on which datasets, which metrics are biases, which generalisation.

A definition is a YAML (or JSON) mapping read with ``yaml.safe_load`` (nothing in it is executed)::

    name: biases-vs-generalization
    title: ...
    citation: ...
    label_space: imagenet1k        # the models' label space; other models are refused per cell
    min_models: 10                 # fewer models with both values: the table warns
    cells:                         # the jobs, per model
      - {probe: shape-bias, dataset: cue-conflict, config: {...}}   # config optional
    bias:                          # x of every correlation
      - {probe: shape-bias, dataset: cue-conflict, metric: shape_bias, label: shape bias}
    generalisation:                # y of every correlation
      - {probe: accuracy, dataset: imagenet-r, metric: top1, label: ImageNet-R top-1}

Every probe and dataset name is checked against the registries when the definition is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visaudit.errors import VisauditError

DEFINITIONS = Path(__file__).with_name("definitions")


@dataclass(frozen=True)
class Cell:
    """One probe on one dataset, with the probe's options."""

    probe: str
    dataset: str
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.probe}@{self.dataset}"


@dataclass(frozen=True)
class MetricRef:
    """A metric of one cell, and how the tables call it."""

    probe: str
    dataset: str
    metric: str
    label: str

    @property
    def cell(self) -> str:
        return f"{self.probe}@{self.dataset}"


@dataclass(frozen=True)
class Study:
    """A parsed study definition (see the module docstring)."""

    name: str
    title: str
    citation: str
    label_space: str | None
    min_models: int
    cells: tuple[Cell, ...]
    bias: tuple[MetricRef, ...]
    generalisation: tuple[MetricRef, ...]
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The definition as plain data (stored with every study result)."""
        return {
            "name": self.name,
            "title": self.title,
            "citation": self.citation,
            "label_space": self.label_space,
            "min_models": self.min_models,
            "cells": [{"probe": c.probe, "dataset": c.dataset, "config": c.config} for c in self.cells],
            "bias": [vars(m) for m in self.bias],
            "generalisation": [vars(m) for m in self.generalisation],
        }


def study_names() -> list[str]:
    """The studies shipped with visaudit."""
    return sorted(p.stem for p in DEFINITIONS.glob("*.yaml"))


def load_study(name_or_path: str | Path) -> Study:
    """A shipped study by name, or a definition file.

    Raises:
        VisauditError: an unknown name (with suggestions), an unreadable file or a bad definition.
    """
    import difflib

    import yaml

    path = Path(name_or_path)
    if not path.is_file():
        shipped = DEFINITIONS / f"{name_or_path}.yaml"
        if not shipped.is_file():
            close = difflib.get_close_matches(str(name_or_path), study_names(), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise VisauditError(
                f"unknown study {str(name_or_path)!r}{hint} Shipped: {', '.join(study_names())}; "
                "or give a definition file"
            )
        path = shipped
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise VisauditError(f"cannot read the study definition {path}: {err}") from err
    return parse_study(raw, source=str(path))


def parse_study(raw: Any, source: str = "") -> Study:
    """Check and parse a definition mapping."""
    from visaudit.data.catalog import DATASETS
    from visaudit.probes import PROBES

    where = source or "the study definition"
    if not isinstance(raw, dict):
        raise VisauditError(f"{where}: expected a mapping with name, cells, bias and generalisation")
    missing = [k for k in ("name", "cells", "bias", "generalisation") if not raw.get(k)]
    if missing:
        raise VisauditError(f"{where}: missing {', '.join(missing)}")

    def check_names(item: dict[str, Any], what: str) -> None:
        if not isinstance(item, dict) or "probe" not in item or "dataset" not in item:
            raise VisauditError(f"{where}: each {what} entry needs probe and dataset, got {item!r}")
        if item["probe"] not in PROBES:
            raise VisauditError(f"{where}: {PROBES.unknown_message(str(item['probe']))}")
        if item["dataset"] not in DATASETS and not Path(str(item["dataset"])).is_dir():
            raise VisauditError(f"{where}: {DATASETS.unknown_message(str(item['dataset']))}")

    cells = []
    for item in raw["cells"]:
        check_names(item, "cells")
        config = item.get("config") or {}
        if not isinstance(config, dict):
            raise VisauditError(f"{where}: config of {item['probe']}@{item['dataset']} must be a mapping")
        cells.append(Cell(str(item["probe"]), str(item["dataset"]), dict(config)))
    names = {c.name for c in cells}
    if len(names) != len(cells):
        raise VisauditError(f"{where}: a probe appears twice on one dataset")

    def refs(key: str) -> tuple[MetricRef, ...]:
        out = []
        for item in raw[key]:
            check_names(item, key)
            if "metric" not in item:
                raise VisauditError(f"{where}: each {key} entry needs a metric, got {item!r}")
            ref = MetricRef(str(item["probe"]), str(item["dataset"]), str(item["metric"]), "")
            if ref.cell not in names:
                raise VisauditError(f"{where}: {key} metric {ref.metric} reads cell {ref.cell}, which is not run")
            out.append(MetricRef(ref.probe, ref.dataset, ref.metric, str(item.get("label") or ref.metric)))
        return tuple(out)

    return Study(
        name=str(raw["name"]),
        title=str(raw.get("title") or raw["name"]),
        citation=str(raw.get("citation") or ""),
        label_space=raw.get("label_space"),
        min_models=int(raw.get("min_models") or 10),
        cells=tuple(cells),
        bias=refs("bias"),
        generalisation=refs("generalisation"),
        source=source,
    )
