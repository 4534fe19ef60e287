"""Cache keys: a hash over everything that decides a job's result."""
from __future__ import annotations

import hashlib
import json
from typing import Any

KEY_SCHEMA = 1


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace; tuples become lists."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def job_key(*, model: dict, probe: str, probe_version: int, config: dict, dataset: dict | None,
            preprocess: dict, label_map: dict | None, max_images: int | None, seed: int) -> str:
    """sha256 (first 24 hex) over the model identity (weights fingerprint included), probe name,
    version and full resolved config, dataset fingerprint, preprocessing, label map, subset size and seed."""
    payload = {
        "schema": KEY_SCHEMA, "model": model, "probe": probe, "probe_version": probe_version,
        "config": config, "dataset": dataset, "preprocess": preprocess, "label_map": label_map,
        "max_images": max_images, "seed": seed,
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:24]
