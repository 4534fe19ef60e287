"""Records -> long, tidy tables (one row per model, probe, dataset, metric)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

COLUMNS = [
    "model",
    "probe",
    "dataset",
    "metric",
    "value",
    "higher_is_better",
    "probe_version",
    "n_samples",
    "status",
    "key",
    "source",
    "weights_sha256",
    "seed",
    "max_images",
    "config_sha256",
    "label_protocol",
    "precision",
    "channels_last",
    "rng_device",
    "dataset_sha256",
    "schema",
]


def config_hash(config: dict | None) -> str:
    """sha256 (16 hex digits) of a probe config's canonical JSON."""
    from visaudit.engine.keys import canonical_json

    return hashlib.sha256(canonical_json(config or {}).encode()).hexdigest()[:16]


def records_to_frame(records: Iterable[dict]) -> "pd.DataFrame":
    """A pandas DataFrame with :data:`COLUMNS`; records without metrics give one row with metric None."""
    import pandas as pd

    rows = []
    for r in records:
        numerics = (r.get("keyed_by") or {}).get("numerics") or {}
        base = {
            "model": r["model"]["name"],
            "probe": r["probe"]["name"],
            "dataset": (r.get("dataset") or {}).get("name"),
            "probe_version": r["probe"].get("version"),
            "n_samples": r.get("n_samples"),
            "status": r.get("status"),
            "key": r.get("key"),
            "source": r["model"].get("source"),
            "weights_sha256": r["model"].get("weights_sha256"),
            "seed": r.get("seed"),
            "max_images": r.get("max_images"),
            "config_sha256": config_hash(r["probe"].get("config")),
            "label_protocol": r.get("label_protocol"),
            "precision": numerics.get("precision"),
            "channels_last": numerics.get("channels_last"),
            "rng_device": numerics.get("rng_device"),
            "dataset_sha256": (r.get("dataset") or {}).get("fingerprint"),
            "schema": r.get("schema", 1),
        }
        metrics = r.get("metrics") or {}
        info = r.get("metric_info") or {}
        if not metrics:
            rows.append({**base, "metric": None, "value": None, "higher_is_better": None})
        for name, value in metrics.items():
            rows.append(
                {
                    **base,
                    "metric": name,
                    "value": value,
                    "higher_is_better": (info.get(name) or {}).get("higher_is_better"),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def write_table(frame: "pd.DataFrame", path: str, fmt: str) -> None:
    """Write csv, json (records) or parquet."""
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "json":
        frame.to_json(path, orient="records", indent=1)
    elif fmt == "parquet":
        frame.to_parquet(path, index=False)
    else:
        raise ValueError(f"unknown export format {fmt!r}: csv, json or parquet")
