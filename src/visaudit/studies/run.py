"""Run a study over a list of models: every cell through the engine (answered from the store where done).

Cells are grouped by dataset, so that the probes on one dataset share its clean pass. A cell a
model cannot run (another label space, a dataset it cannot be scored on) is refused with the
planner's reason, and a dataset that is not available is skipped with the resolver's message;
everything else runs. The result is written to ``<store>/studies/<name>-<hash>.json``: the
definition, the models, the options, each cell's status and the key of every record read, so
that the report recomputes the table from the records themselves.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from visaudit.errors import DataNotFoundError, VisauditError
from visaudit.studies.definition import Study


@dataclass
class StudyRun:
    """What one run of a study did and found.

    Attributes:
        manifest: the stored study result (see the module docstring).
        path: where it was written.
        records: every record read or written, by key.
    """

    manifest: dict[str, Any]
    path: Path
    records: dict[str, dict[str, Any]] = field(default_factory=dict)


def run_study(
    study: Study,
    models: list[str],
    *,
    store: str | Path = "visaudit-results",
    log: Callable[[str], None] | None = None,
    **audit_options: Any,
) -> StudyRun:
    """Run ``study`` for ``models`` into ``store``; see the module docstring.

    Args:
        study: the parsed definition.
        models: model specs.
        store: the results store.
        log: called with one line per cell group (progress, refusals, skips).
        audit_options: passed to :func:`visaudit.audit` (``max_images``, ``device``, ``seed``, ``amp``, ...).
    """
    from visaudit.api import audit, plan
    from visaudit.data.catalog import open_dataset
    from visaudit.engine.options import RunOptions
    from visaudit.engine.plan import resolve_models

    if not models:
        raise VisauditError("a study needs at least one model")
    say = log or (lambda _line: None)
    entries = resolve_models(list(models))
    names = {e.spec: e.info.name for e in entries}
    status: dict[str, dict[str, dict[str, Any]]] = {names[e.spec]: {} for e in entries}
    eligible = []
    for e in entries:
        space = e.info.label_space
        if study.label_space and space != study.label_space:
            why = f"the study compares {study.label_space} models; {e.info.name} has label space {space}"
            for c in study.cells:
                status[e.info.name][c.name] = {"status": "refused", "reason": why}
            say(f"refused {e.info.name}: {why}")
        else:
            eligible.append(e.spec)

    records: dict[str, dict[str, Any]] = {}
    by_dataset: dict[str, list] = {}
    for c in study.cells:
        by_dataset.setdefault(c.dataset, []).append(c)
    opt_fields = {k: v for k, v in audit_options.items() if k in RunOptions.__dataclass_fields__}
    for dataset, cells in by_dataset.items():
        if not eligible:
            break
        try:
            open_dataset(dataset)
        except DataNotFoundError as err:
            for m in eligible:
                for c in cells:
                    status[names[m]][c.name] = {"status": "unavailable", "reason": _short(str(err))}
            say(
                f"skipped {dataset}: not found under the data root or the cache (visaudit list datasets: where to get it)"
            )
            continue
        probes = [c.probe for c in cells]
        config = {c.probe: c.config for c in cells if c.config}
        jobs, _, _ = plan(eligible, probes, [dataset], RunOptions(**opt_fields), probe_config=config)
        cell_of = {c.probe: c.name for c in cells}
        for j in jobs:
            if j.refused:
                status[j.model.info.name][cell_of[j.probe.name]] = {"status": "refused", "reason": j.refused}
        if all(j.refused for j in jobs):
            say(f"refused every cell on {dataset}")
            continue
        say(f"running {', '.join(probes)} on {dataset} for {len(eligible)} model(s)")
        res = audit(eligible, probes, [dataset], store=store, probe_config=config or None, **audit_options)
        for rec in res.records:
            cell = cell_of.get(rec["probe"]["name"])
            if cell is None:
                continue
            records[rec["key"]] = rec
            ok = rec.get("status") == "ok"
            entry: dict[str, Any] = {"status": "ok" if ok else "error", "key": rec["key"]}
            if rec.get("cached"):
                entry["cached"] = True
            if not ok:
                entry["reason"] = str((rec.get("error") or {}).get("message", rec.get("status")))
            status[rec["model"]["name"]][cell] = entry

    manifest = {
        "schema": 1,
        "study": study.to_dict(),
        "models": [names[e.spec] for e in entries],
        "options": {k: v for k, v in sorted(audit_options.items()) if _jsonable(v)},
        "cells": status,
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    ident = json.dumps(
        {"study": manifest["study"], "models": manifest["models"], "options": manifest["options"]}, sort_keys=True
    )
    folder = Path(store) / "studies"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{study.name}-{hashlib.sha256(ident.encode()).hexdigest()[:12]}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True, default=str), encoding="utf-8")
    tmp.replace(path)
    return StudyRun(manifest, path, records)


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
        return True
    except TypeError:
        return False


def _short(message: str) -> str:
    """The resolver's message up to where it lists the places it looked."""
    head = message.split(": looked for", 1)[0]
    return head if head.endswith("not found") else message.splitlines()[0]
