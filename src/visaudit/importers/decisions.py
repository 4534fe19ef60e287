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
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd


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


def subject_model(name: str, source: str) -> dict[str, Any]:
    """The ``model`` block of an imported subject (an observer or another lab's model): 16-class decisions."""
    return {
        "name": name,
        "source": source,
        "arch": None,
        "weights_sha256": None,
        "n_params": None,
        "label_space": "imagenet16",
        "num_classes": 16,
        "preprocess": None,
    }


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
    from visaudit.data.fingerprint import file_digest
    from visaudit.engine.keys import job_key
    from visaudit.engine.record import Record

    fp = _fingerprint(rows)
    probe = {"name": ShapeBiasProbe.name, "version": ShapeBiasProbe.version, "config": {"source": "decisions"}}
    file_digests = {Path(f).name: file_digest(f) for f in sorted(set(files))}
    keyed_by = {"schema": "decisions-1", "model": subject, "probe": probe, "rows_sha256": fp, "files": file_digests}
    warnings = []
    if math.isnan(metrics.get("shape_bias", math.nan)):
        warnings.append("no decision matched either cue; shape bias is undefined")
    samples = rows[[c for c in DECISION_COLUMNS if c in rows.columns]]
    record = Record(
        key=job_key(keyed_by),
        status="ok",
        model=subject_model(subject, "decisions"),
        probe=probe,
        dataset={
            "name": "cue-conflict",
            "path": ";".join(files),
            "fingerprint": fp,
            "label_space": "imagenet16",
            "n_total": int(len(rows)),
        },
        label_protocol="16-class decisions (observer responses)",
        keyed_by=keyed_by,
        metrics=metrics,
        metric_info=metric_info,
        data={
            "counts": {k: int(v) for k, v in res.items() if k.startswith("n_")},
            "source_files": sorted(set(files)),
            "kind": "decisions",
        },
        n_samples=int(len(rows)),
        n_selected=int(len(rows)),
        warnings=warnings,
        provenance={
            "versions": _versions(),
            "git": None,
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
    )
    return record.to_dict(), samples


def _put(store_dir: str | Path, record: dict[str, Any], samples: "pd.DataFrame") -> dict[str, Any]:
    from visaudit.engine.store import Store

    return Store(store_dir).put(record, samples=samples)


def import_decisions(store_dir: str | Path, files: list[str | Path]) -> list[dict[str, Any]]:
    """Store each distinct subject of psychophysics decision CSVs as a ``shape-bias`` record.

    Args:
        store_dir: the results store.
        files: CSV files with columns subj/subject, session, trial, rt, object_response,
            category, condition, imagename.

    Returns:
        The stored records, one per subject, in subject order.
    """
    from visaudit.errors import VisauditError
    from visaudit.metrics.shape_bias import normalise_decisions, read_decision_csvs

    names = [str(f) for f in files]
    for name in names:  # check each file on its own, so the message names the offending one
        try:
            normalise_decisions(read_decision_csvs([name]))
        except ValueError as err:
            raise VisauditError(f"{name}: {err}") from err
    table = normalise_decisions(read_decision_csvs(names)).drop(columns=["texture"])
    records = []
    for subject, rows in table.groupby("subj", sort=True):
        used = sorted(set(rows["source_file"]))
        record, samples = decision_record(str(subject), rows.reset_index(drop=True), used)
        records.append(_put(store_dir, record, samples))
    return records
