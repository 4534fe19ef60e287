"""Cache keys: a hash over everything that decides a job's result.

The payload (:func:`key_payload`) is stored in the record as ``keyed_by``, so a reader can see
exactly what made two jobs different. The rule for what goes in is in
:mod:`visaudit.engine.options` and the README ("What keys a job").
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

KEY_SCHEMA = 2


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace; tuples become lists."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def key_payload(
    *,
    model: dict,
    probe: str,
    probe_version: int,
    config: dict,
    inputs: dict,
    dataset: dict | None,
    preprocess: dict,
    label_map: dict | None,
    max_images: int | None,
    seed: int,
    numerics: dict,
    versions: dict,
) -> dict[str, Any]:
    """Everything a job's result depends on.

    Args:
        model: the model identity (weights fingerprint included).
        probe, probe_version, config: the probe and its full resolved config.
        inputs: content fingerprints of the probe's secondary inputs (OOD sets, stored trees, ...).
        dataset: name, content fingerprint, label space fingerprint and subset protocol.
        preprocess: the resolved preprocessing.
        label_map: the label protocol.
        max_images, seed: the subset and the seed.
        numerics: precision, memory format, and the device type for probes that draw.
        versions: versions of the packages that define the protocol.
    """
    return {
        "schema": KEY_SCHEMA,
        "model": model,
        "probe": probe,
        "probe_version": probe_version,
        "config": config,
        "inputs": inputs,
        "dataset": dataset,
        "preprocess": preprocess,
        "label_map": label_map,
        "max_images": max_images,
        "seed": seed,
        "numerics": numerics,
        "versions": versions,
    }


def job_key(payload: dict[str, Any]) -> str:
    """sha256 (first 24 hex digits) of the canonical JSON of a :func:`key_payload`."""
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:24]
