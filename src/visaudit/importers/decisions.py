"""Import cue-conflict decision CSVs (human observers, other labs' models) as store records.

Each distinct ``subj`` of the files becomes one record with model name = the subject,
probe ``shape-bias``, dataset ``cue-conflict``; its metrics come from the same function
that scores models (:func:`visaudit.metrics.shape_bias.shape_bias_from_decisions`), and its
decisions are kept as the record's per-sample table.

CLI (wired by the lead)::

    visaudit import --store DIR --kind decisions FILE.csv [FILE.csv ...]

Example:
    >>> records = import_decisions("results", ["subject-01.csv"])  # doctest: +SKIP
    >>> records[0]["metrics"]["shape_bias"]  # doctest: +SKIP
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

RECORD_SCHEMA = 1


def _fingerprint(df: "pd.DataFrame") -> str:
    cols = [c for c in ("subj", "session", "trial", "object_response", "category", "imagename") if c in df.columns]
    text = df[cols].astype(str).to_csv(index=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for mod in ("visaudit", "pandas", "numpy"):
        try:
            from importlib.metadata import version

            out[mod] = version(mod)
        except Exception:  # noqa: BLE001 - version lookup must never fail an import
            pass
    return out


def decision_record(subject: str, rows: "pd.DataFrame", files: list[str]) -> tuple[dict[str, Any], "pd.DataFrame"]:
    """Build the record of one subject's decisions (scored like a model) and its samples table."""
    import math

    from visaudit.metrics.shape_bias import DECISION_COLUMNS, shape_bias_from_decisions
    from visaudit.probes.shape_bias import ShapeBiasProbe

    res = shape_bias_from_decisions(rows)
    metrics = {k: float(v) for k, v in res.items() if not k.startswith("n_")}
    metric_info = {}
    for name in metrics:
        spec = ShapeBiasProbe.metric_spec(name)
        if spec is not None:
            metric_info[name] = {"higher_is_better": spec.higher_is_better, "description": spec.description}
    fp = _fingerprint(rows)
    probe = {"name": ShapeBiasProbe.name, "version": ShapeBiasProbe.version, "config": {"source": "decisions"}}
    key_src = json.dumps({"model": subject, "probe": probe, "data": fp}, sort_keys=True)
    key = hashlib.sha256(key_src.encode()).hexdigest()[:20]
    warnings = []
    if math.isnan(metrics.get("shape_bias", math.nan)):
        warnings.append("no decision matched either cue; shape bias is undefined")
    samples = rows[[c for c in DECISION_COLUMNS if c in rows.columns]]
    return {
        "schema": RECORD_SCHEMA,
        "key": key,
        "status": "ok",
        "model": {"name": subject, "source": "decisions", "arch": None, "weights_sha256": None,
                  "n_params": None, "label_space": "imagenet16", "num_classes": 16, "preprocess": None},
        "probe": probe,
        "dataset": {"name": "cue-conflict", "path": ";".join(files), "fingerprint": fp,
                    "label_space": "imagenet16", "n_total": int(len(rows))},
        "metrics": metrics,
        "metric_info": metric_info,
        "data": {"counts": {k: int(v) for k, v in res.items() if k.startswith("n_")},
                 "source_files": sorted(set(files)), "kind": "decisions"},
        "n_samples": int(len(rows)),
        "failed_images": 0,
        "nonfinite_outputs": 0,
        "seed": None,
        "max_images": None,
        "device": None,
        "timings": {"total_s": 0.0},
        "provenance": {"versions": _versions(), "git": None,
                       "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")},
        "samples_file": None,
        "artifacts": [],
        "warnings": warnings,
        "error": None,
    }, samples


def _put(store_dir: str | Path, record: dict[str, Any], samples: "pd.DataFrame") -> dict[str, Any]:
    """Write through the core store when available, else in its documented layout."""
    try:
        from visaudit.engine.store import Store
    except ImportError:
        Store = None  # type: ignore[assignment]
    if Store is not None:
        out = Store(store_dir).put(record, samples=samples)
        return out if isinstance(out, dict) else record
    root = Path(store_dir)
    (root / "records").mkdir(parents=True, exist_ok=True)
    (root / "samples").mkdir(parents=True, exist_ok=True)
    rel = f"samples/{record['key']}.parquet"
    samples.to_parquet(root / rel, index=False)
    record["samples_file"] = rel
    (root / "records" / f"{record['key']}.json").write_text(json.dumps(record, indent=1, sort_keys=True))
    return record


def import_decisions(store_dir: str | Path, files: list[str | Path]) -> list[dict[str, Any]]:
    """Store each distinct subject of psychophysics decision CSVs as a ``shape-bias`` record.

    Args:
        store_dir: the results store.
        files: CSV files with columns subj/subject, session, trial, rt, object_response,
            category, condition, imagename.

    Returns:
        The stored records, one per subject, in subject order.
    """
    from visaudit.metrics.shape_bias import normalise_decisions, read_decision_csvs

    names = [str(f) for f in files]
    table = normalise_decisions(read_decision_csvs(names)).drop(columns=["texture"])
    records = []
    for subject, rows in table.groupby("subj", sort=True):
        used = sorted(set(rows["source_file"]))
        record, samples = decision_record(str(subject), rows.reset_index(drop=True), used)
        records.append(_put(store_dir, record, samples))
    return records
