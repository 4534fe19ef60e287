"""Stored records as the report sees them: loading, grouping, headline metrics.

Reports never run models: everything here reads the JSON records a store wrote
(``<store>/records/<key>.json``, schema in the project brief).

Example:
    >>> recs = load_records("visaudit-results")          # doctest: +SKIP
    >>> book = RecordBook(recs, "visaudit-results")       # doctest: +SKIP
    >>> book.models()                                     # doctest: +SKIP
    ['cifar10_resnet20', 'efficientnet_lite0']
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

# Canonical probe order (the lazy catalog's order); probes not listed go last, sorted.
PROBE_ORDER = [
    "accuracy",
    "corruptions",
    "solarization",
    "nuisance-sweeps",
    "adversarial",
    "confidence",
    "perturbation-anatomy",
    "shape-bias",
    "human-likeness",
    "spectral-bias",
    "critical-band",
    "calibration",
    "ood",
    "layer-criticality",
    "filters",
    "quantization-sensitivity",
]

# Leaderboard metric per probe when the probe class cannot be asked (first name present wins;
# a trailing "*" matches any metric with that prefix, e.g. every ``auroc@...``).
HEADLINE_FALLBACK = {
    "accuracy": ["top1"],
    "corruptions": ["mce", "corrupted_top1"],
    "solarization": ["randsol_top1", "sweep_worst_top1"],
    "nuisance-sweeps": ["shift_consistency", "auc@*"],
    "adversarial": ["robust_top1@autoattack/*", "robust_top1@worst/*", "robust_top1@*", "clean_top1"],
    "confidence": ["confident_error_rate", "mean_confidence_on_errors"],
    "perturbation-anatomy": ["border_energy_share", "y_energy_share"],
    "shape-bias": ["shape_bias", "top1_16class"],
    "spectral-bias": ["spectral_bias"],
    "critical-band": ["cb_bandwidth", "cb_center_frequency"],
    "calibration": ["ece"],
    "ood": ["auroc@msp/mean", "auroc@*"],
    "layer-criticality": ["mean_criticality"],
    "filters": ["mean_variance_entropy_norm", "mean_sparsity", "sparsity@*"],
    "quantization-sensitivity": ["mixed_precision_top1", "uniform_top1"],
}


def load_store(store_dir: str | Path) -> tuple[list[dict[str, Any]], list[str]]:
    """All readable records of a store (current schema) and one line per record it skipped."""
    from visaudit.engine.store import Store

    st = Store(Path(store_dir))
    return [dict(r) for r in st.records()], list(st.problems)


def load_records(store_dir: str | Path) -> list[dict[str, Any]]:
    """All readable records of a store as plain dicts (see :func:`load_store`)."""
    return load_store(store_dir)[0]


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def model_name(rec: dict[str, Any]) -> str:
    """The subject's name (a model or an imported human observer)."""
    m = rec.get("model")
    if isinstance(m, dict):
        return str(m.get("name") or "?")
    return str(m or "?")


def probe_name(rec: dict[str, Any]) -> str:
    p = rec.get("probe")
    return str(p.get("name") if isinstance(p, dict) else p or "?")


def probe_version(rec: dict[str, Any]) -> str:
    p = rec.get("probe")
    return str(p.get("version", "?")) if isinstance(p, dict) else "?"


def dataset_name(rec: dict[str, Any]) -> str:
    d = rec.get("dataset")
    if isinstance(d, dict):
        return str(d.get("name") or "-")
    return str(d or "-")


def metrics_of(rec: dict[str, Any]) -> dict[str, float]:
    """Finite scalar metrics of a record, in stored order."""
    out = {}
    for k, v in (rec.get("metrics") or {}).items():
        f = _finite(v)
        if f is not None:
            out[str(k)] = f
    return out


def higher_is_better(rec: dict[str, Any], metric: str) -> bool | None:
    """Direction of ``metric`` from the record's ``metric_info`` (full name, then prefix)."""
    info = rec.get("metric_info") or {}
    spec = info.get(metric) or info.get(metric.split("@", 1)[0])
    if isinstance(spec, dict) and "higher_is_better" in spec:
        return bool(spec["higher_is_better"])
    return None


@lru_cache(maxsize=None)
def probe_headline(probe: str) -> str | None:
    """The probe class's ``headline`` if the probe module is importable (it imports no torch)."""
    try:
        from visaudit.probes import PROBES

        cls = PROBES.get(probe)
    except Exception:  # noqa: BLE001 - a missing or broken probe module must not break reports
        return None
    return getattr(cls, "headline", None)


def headline_metric(rec: dict[str, Any]) -> str | None:
    """The leaderboard metric of a record: the probe's headline, else a per-probe fallback list."""
    metrics = metrics_of(rec)
    if not metrics:
        return None
    probe = probe_name(rec)
    wanted = [h for h in [probe_headline(probe)] if h] + HEADLINE_FALLBACK.get(probe, [])
    for w in wanted:
        if "@" not in w and w not in metrics and any(m.startswith(w + "@") for m in metrics):
            continue  # a bare prefix headline (e.g. "robust_top1"): let the fallbacks pick the condition
        if w.endswith("*"):
            hits = [m for m in metrics if m.startswith(w[:-1])]
            if hits:
                return hits[0]
        elif w in metrics:
            return w
    plain = [m for m in metrics if "@" not in m]
    return (plain or list(metrics))[0]


def is_ok(rec: dict[str, Any]) -> bool:
    return rec.get("status", "ok") == "ok"


def n_of(rec: dict[str, Any]) -> int | None:
    n = rec.get("n_samples")
    return int(n) if isinstance(n, (int, float)) and not isinstance(n, bool) else None


@dataclass(frozen=True)
class Column:
    """One leaderboard column: a probe's headline metric on one dataset."""

    probe: str
    dataset: str
    metric: str
    higher_is_better: bool | None

    @property
    def label(self) -> str:
        return f"{self.probe}: {self.metric}"


def run_variant(rec: dict[str, Any]) -> dict[str, Any]:
    """What besides the model keyed a record's numbers: subset size, seed, probe config, label
    protocol, precision, probe version. Records of one (probe, dataset) that differ here are
    different measurements and are never put in one row or column."""
    keyed = rec.get("keyed_by") if isinstance(rec.get("keyed_by"), dict) else {}
    numerics = keyed.get("numerics") if isinstance(keyed.get("numerics"), dict) else {}
    probe = rec.get("probe") if isinstance(rec.get("probe"), dict) else {}
    return {
        "n": rec.get("max_images"),
        "seed": rec.get("seed"),
        "config": config_digest(probe.get("config")),
        "v": probe.get("version"),
        "labels": rec.get("label_protocol"),
        "precision": numerics.get("precision"),
    }


def config_digest(config: Any) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:8]


def _variant_label(variant: dict[str, Any], differing: list[str]) -> str:
    parts = []
    for k in differing:
        v = variant.get(k)
        parts.append(f"{k}={'all' if v is None and k == 'n' else v}")
    return ", ".join(parts)


class RecordBook:
    """Records of a store indexed by subject, probe and dataset cell.

    A cell is a (probe, dataset) measured one way: when a store holds records of one
    (probe, dataset) that differ in subset size, seed, config, label protocol, precision or
    probe version, each variant becomes its own cell, labelled ``dataset [n=300]`` (only the
    fields that differ), so numbers of different runs never share a row or a column. Within a
    cell the newest record of a subject wins.
    """

    def __init__(self, records: Iterable[dict[str, Any]], store_dir: str | Path) -> None:
        self.store_dir = Path(store_dir)
        self.records = [r for r in records if isinstance(r, dict)]
        variants: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in self.records:
            v = run_variant(r)
            group = variants.setdefault((probe_name(r), dataset_name(r)), [])
            if v not in group:
                group.append(v)
        self._cell: dict[int, str] = {}
        for r in self.records:
            group = variants[(probe_name(r), dataset_name(r))]
            name = dataset_name(r)
            if len(group) > 1:
                differing = [k for k in group[0] if len({json.dumps(g.get(k), default=str) for g in group}) > 1]
                name = f"{name} [{_variant_label(run_variant(r), differing)}]"
            self._cell[id(r)] = name
        latest: dict[tuple[str, str, str], dict[str, Any]] = {}
        for r in sorted(self.records, key=_created_at):
            latest[(model_name(r), probe_name(r), self.cell(r))] = r
        self.latest = latest

    def cell(self, rec: dict[str, Any]) -> str:
        """The dataset cell a record belongs to (its dataset, qualified by the run variant if needed)."""
        return self._cell.get(id(rec), dataset_name(rec))

    def failed(self) -> list[dict[str, Any]]:
        """Every record that is not ok (errors, refusals), newest first."""
        return sorted([r for r in self.records if not is_ok(r)], key=_created_at, reverse=True)

    def models(self) -> list[str]:
        return sorted({k[0] for k in self.latest})

    def probes(self) -> list[str]:
        present = {k[1] for k in self.latest}
        return [p for p in PROBE_ORDER if p in present] + sorted(present - set(PROBE_ORDER))

    def for_model(self, model: str, probe: str | None = None) -> list[dict[str, Any]]:
        """Latest record per (probe, dataset) of one subject, in probe order."""
        recs = [r for (m, p, _), r in self.latest.items() if m == model and (probe is None or p == probe)]
        order = {p: i for i, p in enumerate(self.probes())}
        return sorted(recs, key=lambda r: (order.get(probe_name(r), 99), self.cell(r)))

    def for_probe(self, probe: str) -> list[dict[str, Any]]:
        return [r for (_, p, _), r in sorted(self.latest.items()) if p == probe]

    def cells(self, probe: str) -> list[list[dict[str, Any]]]:
        """The records of a probe grouped by dataset cell (one measurement each)."""
        groups: dict[str, list[dict[str, Any]]] = {}
        for (_, p, d), r in sorted(self.latest.items()):
            if p == probe:
                groups.setdefault(d, []).append(r)
        return list(groups.values())

    def model_meta(self, model: str) -> dict[str, Any]:
        """The ``model`` block of the subject's newest record."""
        recs = [r for (m, _, _), r in self.latest.items() if m == model]
        for r in sorted(recs, key=_created_at, reverse=True):
            if isinstance(r.get("model"), dict):
                return r["model"]
        return {"name": model}

    def columns(self) -> list[Column]:
        """Leaderboard columns: one per (probe, dataset) with any ok record, headline metric."""
        seen: dict[tuple[str, str], Column] = {}
        for (_m, p, d), r in sorted(self.latest.items(), key=lambda kv: kv[0]):
            if not is_ok(r) or (p, d) in seen:
                continue
            metric = headline_metric(r)
            if metric:
                seen[(p, d)] = Column(p, d, metric, higher_is_better(r, metric))
        order = {p: i for i, p in enumerate(self.probes())}
        return sorted(seen.values(), key=lambda c: (order.get(c.probe, 99), c.dataset))

    def value(self, model: str, col: Column) -> tuple[str, float | None]:
        """``("ok", value)``, ``("error", None)`` or ``("not run", None)`` for one cell."""
        r = self.latest.get((model, col.probe, col.dataset))
        if r is None:
            return "not run", None
        if not is_ok(r):
            return "error", None
        v = metrics_of(r).get(col.metric)
        return ("ok", v) if v is not None else ("not run", None)

    def record_path(self, rec: dict[str, Any]) -> Path:
        return self.store_dir / "records" / f"{rec.get('key', 'unknown')}.json"

    def artifact_path(self, rel: str) -> Path | None:
        """Resolve an artifact path stored in a record (relative to the store or its records/)."""
        for base in (self.store_dir, self.store_dir / "records", self.store_dir / "artifacts"):
            p = base / rel
            if p.is_file():
                return p
        return None


def _created_at(rec: dict[str, Any]) -> str:
    prov = rec.get("provenance") or {}
    return str(prov.get("created_at") or "") if isinstance(prov, dict) else ""
