"""The one record type: what a store keeps per job, with a schema version.

Every record is built through :class:`Record` (the runner, the importers and the report's
test data), stored as its :meth:`Record.to_dict` JSON, and read back through
:func:`read_record`, which upgrades older schemas or refuses unknown ones with a clear message.

Schema history:
    1: the first landings: no ``label_protocol``, ``keyed_by`` or ``run``; the key left out
       AMP, channels-last, content fingerprints and the device type.
    2: ``label_protocol``, ``keyed_by`` (everything the key hashed) and ``run`` (the options
       that only changed speed or behaviour) are recorded.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from visaudit.errors import VisauditError

RECORD_SCHEMA = 2
READABLE_SCHEMAS = (1, 2)

Status = Literal["ok", "error", "refused"]


class RecordSchemaError(VisauditError):
    """A stored record that this version of visaudit cannot read."""


@dataclass
class Record:
    """One job's result with full provenance.

    Attributes:
        key: the job key (hash of ``keyed_by``).
        status: ``ok``, ``error`` or ``refused``.
        model: model identity, weights sha256, resolved preprocessing.
        probe: ``{"name", "version", "config"}``.
        dataset: name, path, content fingerprint, label space, size (None for weight-only probes).
        label_map: how logits became scores (kind, spaces, protocol).
        label_protocol: the protocol in words (``full (1000 classes)``, ``subset (200 ...)``, ...).
        seed, max_images: the job's seed and subset size.
        keyed_by: everything the key hashed (so a reader can see why two records differ).
        run: the options that only changed speed or behaviour, and what the run resolved
            (device, precision, batch size used).
        metrics, metric_info: ``{name: float}`` and ``{name: {"higher_is_better", "description"}}``.
        data: the probe's typed payload for reports.
        n_samples, n_selected: images scored, images selected (the difference could not be read).
        failed_images, n_failed_images, nonfinite_outputs: what went wrong on the way.
        warnings: human-readable notes.
        error: ``{"type", "message", "traceback"}`` of a failed job.
        timings, provenance: seconds spent; package versions, git hash, host, time.
        samples_file, artifacts: files beside the record.
        schema: the record schema version.
    """

    key: str
    status: Status
    model: dict[str, Any]
    probe: dict[str, Any]
    dataset: dict[str, Any] | None = None
    label_map: dict[str, Any] | None = None
    label_protocol: str | None = None
    seed: int | None = None
    max_images: int | None = None
    keyed_by: dict[str, Any] = field(default_factory=dict)
    run: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    metric_info: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    n_samples: int = 0
    n_selected: int = 0
    failed_images: list[str] = field(default_factory=list)
    n_failed_images: int = 0
    nonfinite_outputs: int = 0
    warnings: list[str] = field(default_factory=list)
    error: dict[str, Any] | None = None
    timings: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    samples_file: str | None = None
    artifacts: list[str] = field(default_factory=list)
    schema: int = RECORD_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        """The stored (JSON) form."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "record") -> "Record":
        """Read a stored record of any readable schema (see :func:`read_record`)."""
        return cls(**_known_fields(upgrade(data, source=source)))


def _known_fields(data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(Record)}
    return {k: v for k, v in data.items() if k in names}


def upgrade(data: dict[str, Any], *, source: str = "record") -> dict[str, Any]:
    """A stored dict in the current schema; older schemas are filled in, unknown ones refused.

    Raises:
        RecordSchemaError: the schema is newer than this visaudit, or the record is missing
            fields no schema can do without.
    """
    if not isinstance(data, dict):
        raise RecordSchemaError(f"{source}: not a JSON object")
    schema = data.get("schema", 1)
    if schema not in READABLE_SCHEMAS:
        raise RecordSchemaError(
            f"{source}: record schema {schema!r} is not one this visaudit reads ({', '.join(map(str, READABLE_SCHEMAS))}); "
            "upgrade visaudit, or re-run the job into a new store"
        )
    missing = [k for k in ("key", "status", "model", "probe") if k not in data]
    if missing:
        raise RecordSchemaError(f"{source}: record lacks the field(s) {', '.join(missing)}")
    out = dict(data)
    if schema == 1:
        lm = out.get("label_map") or {}
        out["label_protocol"] = lm.get("protocol") or (f"{lm['kind']} (schema-1 record)" if lm.get("kind") else None)
        out.setdefault("keyed_by", {})
        out["run"] = {
            "batch_size": out.get("batch_size"),
            "device": out.get("device"),
            "note": "schema-1 record: its key did not include AMP, channels-last, content "
            "fingerprints or the device type",
        }
        out["schema"] = 1
    failed = out.get("failed_images")
    if isinstance(failed, int):  # schema 1 importers wrote a count here
        out["failed_images"] = []
    for name in ("model", "probe"):
        if not isinstance(out.get(name), dict):
            raise RecordSchemaError(f"{source}: field {name!r} is not an object")
    return out


def read_record(data: dict[str, Any], *, source: str = "record") -> dict[str, Any]:
    """A stored record as a dict in the current schema (readers use this)."""
    return Record.from_dict(data, source=source).to_dict()
