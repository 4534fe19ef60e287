"""Import model-vs-human's psychophysics CSVs as human subjects of the store.

Each observer (``subj``) of the files becomes one record: model name = the subject, source
``human``, probe ``human-decisions``, dataset = the visaudit dataset of the stimuli
(``edges``, ``silhouettes``, ``cue-conflict``). The record's samples table holds the observer's
decision per stimulus, matched by file name to the dataset's samples (``sample_id``, ``stimulus``,
``decision``, ``category``, ``correct``); its metric is the observer's 16-class accuracy. The
report's consistency matrices and the human-likeness ranking read these tables beside the
models' ``human-likeness`` records.

The dataset is named by ``dataset`` or read from model-vs-human's file names
(``edge_subject-01_session_1.csv`` is ``edges``).

Example:
    >>> records = import_humans("results", ["edge_subject-01_session_1.csv"])  # doctest: +SKIP
    >>> records[0]["metrics"]["top1_16class"]  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from visaudit.errors import VisauditError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from visaudit.data.base import ImageDataset

PROBE = {"name": "human-decisions", "version": 1, "config": {}}


def dataset_of_file(path: str | Path) -> str | None:
    """The visaudit dataset a model-vs-human raw-data file name points to, or None.

    Example:
        >>> dataset_of_file("raw-data/edge/edge_subject-03_session_1.csv")
        'edges'
    """
    from visaudit.data.benchmarks import visaudit_dataset_of_mvh

    return visaudit_dataset_of_mvh(Path(path).name.split("_subject-")[0])


def _by_dataset(files: list[Path], dataset: str | None) -> dict[str, list[Path]]:
    if dataset:
        return {dataset: files}
    unknown = [str(f) for f in files if dataset_of_file(f) is None]
    if unknown:
        raise VisauditError(
            f"cannot tell which stimuli {unknown[0]} holds decisions on (model-vs-human names its files "
            "<dataset>_subject-NN_session_N.csv); give the dataset with --dataset"
        )
    groups: dict[str, list[Path]] = {}
    for f in files:
        groups.setdefault(str(dataset_of_file(f)), []).append(f)
    return groups


def subject_tables(decisions: "pd.DataFrame", ds: "ImageDataset") -> dict[str, "pd.DataFrame"]:
    """Per subject, its decisions matched to the dataset's samples (one row per stimulus).

    Raises:
        VisauditError: a subject none of whose image names is a stimulus of ``ds``, or one that
            answered a stimulus twice.
    """
    import pandas as pd

    from visaudit.data.benchmarks import mvh_dataset_of
    from visaudit.metrics.human_likeness import check_decisions_dataset, stimulus_name

    mvh = mvh_dataset_of(ds.name)
    if mvh is not None:
        try:
            check_decisions_dataset(decisions["imagename"], mvh)
        except ValueError as err:
            raise VisauditError(str(err)) from err
    by_stimulus = {stimulus_name(i): i for i in ds.ids}
    label_of = {stimulus_name(i): ds.label_space.classes[int(y)] for i, y in zip(ds.ids, ds.labels)}
    out: dict[str, pd.DataFrame] = {}
    table = decisions.assign(stimulus=decisions["imagename"].map(stimulus_name))
    for subject, rows in table.groupby("subj", sort=True):
        matched = rows[rows["stimulus"].isin(by_stimulus)]
        if matched.empty:
            raise VisauditError(
                f"no image name of subject {subject!r} matches a stimulus of {ds.name} "
                f"(e.g. {rows['imagename'].iloc[0]!r}); are these decisions on another dataset?"
            )
        twice = matched["stimulus"][matched["stimulus"].duplicated()].tolist()
        if twice:
            raise VisauditError(f"subject {subject!r} answered {twice[:3]} more than once")
        wrong = [
            (s, c) for s, c in zip(matched["stimulus"], matched["category"].astype(str).str.strip()) if label_of[s] != c
        ]
        if wrong:
            s, c = wrong[0]
            raise VisauditError(
                f"subject {subject!r}: {len(wrong)} trial(s) give a category other than the stimulus's "
                f"(e.g. {s}: {c!r} in the file, {label_of[s]!r} in {ds.name}); are these decisions on another dataset?"
            )
        out[str(subject)] = pd.DataFrame(
            {
                "sample_id": [by_stimulus[s] for s in matched["stimulus"]],
                "stimulus": matched["stimulus"].to_numpy(),
                "decision": matched["object_response"].astype(str).str.strip().to_numpy(),
                "category": matched["category"].astype(str).str.strip().to_numpy(),
                "correct": (
                    matched["object_response"].astype(str).str.strip() == matched["category"].astype(str).str.strip()
                ).to_numpy(),
                "n_unmatched": len(rows) - len(matched),
            }
        )
    return out


def human_record(subject: str, table: "pd.DataFrame", ds: "ImageDataset", files: list[Path]) -> dict[str, Any]:
    """The store record of one observer's decisions on ``ds``."""
    from visaudit.data.fingerprint import file_digest, sha256_bytes
    from visaudit.engine.keys import job_key
    from visaudit.engine.record import Record
    from visaudit.importers.decisions import subject_model

    rows_sha = sha256_bytes(table.drop(columns="n_unmatched").to_csv(index=False).encode())
    digests = {f.name: file_digest(f) for f in files}
    keyed_by = {
        "schema": "humans-1",
        "model": subject,
        "probe": PROBE,
        "dataset": ds.fingerprint(),
        "rows_sha256": rows_sha,
        "files": digests,
    }
    unmatched = int(table["n_unmatched"].iloc[0])
    warnings = [f"{unmatched} trial(s) name no stimulus of {ds.name} and were left out"] if unmatched else []
    n = len(table)
    record = Record(
        key=job_key(keyed_by),
        status="ok",
        model=subject_model(subject, "human"),
        probe=dict(PROBE),
        dataset={
            "name": ds.name,
            "path": ds.path,
            "fingerprint": ds.fingerprint(),
            "label_space": "imagenet16",
            "n_total": len(ds),
        },
        label_protocol="16-class decisions (observer responses)",
        keyed_by=keyed_by,
        metrics={"top1_16class": float(table["correct"].mean())},
        metric_info={"top1_16class": {"higher_is_better": True, "description": "the observer's 16-class accuracy"}},
        data={"kind": "human", "source_files": sorted(str(f) for f in files), "n_trials": n},
        n_samples=n,
        n_selected=n,
        warnings=warnings,
        provenance={
            "versions": {},
            "git": None,
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
    )
    return record.to_dict()


def import_humans(
    store_dir: str | Path, files: list[str | Path], dataset: str | None = None, data_path: str | Path | None = None
) -> list[dict[str, Any]]:
    """Store each observer of model-vs-human decision CSVs as a human subject on its dataset.

    Args:
        store_dir: the results store.
        files: raw-data CSVs (``subj, session, trial, rt, object_response, category, condition, imagename``).
        dataset: the visaudit dataset of the stimuli; default: from the file names.
        data_path: where that dataset lives, if not under the data root.

    Returns:
        The stored records, one per subject, in subject order.
    """
    from visaudit.data.catalog import open_dataset
    from visaudit.engine.store import Store
    from visaudit.metrics.shape_bias import normalise_decisions, read_decision_csvs

    paths = [Path(f) for f in files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise VisauditError(f"file(s) not found: {', '.join(missing)}")
    store = Store(store_dir)
    out = []
    for name, group in _by_dataset(paths, dataset).items():
        ds = open_dataset(name, data_path)
        if ds.label_space.name != "imagenet16":
            raise VisauditError(f"human decisions are 16-class; dataset {name} has label space {ds.label_space.name!r}")
        try:
            decisions = normalise_decisions(read_decision_csvs([str(p) for p in group]))
        except ValueError as err:
            raise VisauditError(str(err)) from err
        for subject, table in subject_tables(decisions, ds).items():
            src = sorted({Path(f) for f in decisions.loc[decisions["subj"].astype(str) == subject, "source_file"]})
            record = human_record(subject, table, ds, src)
            out.append(store.put(record, samples=table.drop(columns="n_unmatched")))
    return out
