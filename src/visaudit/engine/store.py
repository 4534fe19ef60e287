"""The results store: one JSON record per job, per-sample Parquet beside it, checkpointed chunks.

Layout::

    <store>/records/<key>.json        written atomically (temp file + rename)
    <store>/samples/<key>.parquet     per-sample outputs
    <store>/artifacts/<key>/<name>    example images, arrays
    <store>/work/<key>/<tag>-<i>.npz  finished chunks of an unfinished job (+ .parquet rows)
    <store>/locks/<key>.lock          advisory lock: one process computes a job at a time

Several processes may share a store: every file appears by an atomic rename, and a job is
computed under an exclusive ``flock``; a second process waits and then reads the record.
"""
from __future__ import annotations

import contextlib
import fcntl
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from visaudit.errors import VisauditError


def atomic_write(path: Path, data: bytes) -> None:
    """Write bytes to ``path`` so that readers see either nothing or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class Store:
    """A results directory.

    Example:
        >>> store = Store("visaudit-results")       # doctest: +SKIP
        >>> [r["metrics"]["top1"] for r in store.records() if r["probe"]["name"] == "accuracy"]  # doctest: +SKIP
    """

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    # -- checks -------------------------------------------------------------------------------
    def ensure_writable(self) -> None:
        """Create the store or raise a clear error when it cannot be written."""
        try:
            for sub in ("records", "samples", "artifacts", "work", "locks"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            probe = self.root / "locks" / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as err:
            raise VisauditError(
                f"the store {self.root} is not writable ({err.strerror or err}); choose another with --store"
            ) from err

    # -- records ------------------------------------------------------------------------------
    def record_path(self, key: str) -> Path:
        return self.root / "records" / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The record of a job, or None if absent or unreadable (a truncated file counts as absent)."""
        path = self.record_path(key)
        try:
            record = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (ValueError, OSError, UnicodeDecodeError):
            return None  # truncated or corrupt: the job is recomputed
        return record if isinstance(record, dict) and record.get("key") == key else None

    def has(self, key: str) -> bool:
        record = self.get(key)
        return record is not None and record.get("status") == "ok"

    def put(self, record: dict, samples: Any = None, artifacts: dict[str, bytes] | None = None) -> dict:
        """Write a record (and its per-sample table and artifacts); returns the record as stored."""
        key = record["key"]
        record = dict(record)
        if samples is not None and len(samples):
            buf = io.BytesIO()
            samples.to_parquet(buf, index=False)
            rel = f"samples/{key}.parquet"
            atomic_write(self.root / rel, buf.getvalue())
            record["samples_file"] = rel
        else:
            record.setdefault("samples_file", None)
        names = []
        for name, data in (artifacts or {}).items():
            rel = f"artifacts/{key}/{Path(name).name}"
            atomic_write(self.root / rel, data)
            names.append(rel)
        record["artifacts"] = sorted(set(record.get("artifacts") or []) | set(names))
        atomic_write(self.record_path(key), json.dumps(record, indent=1, sort_keys=False, default=_jsonable).encode())
        return record

    def records(self, *, include_errors: bool = True) -> Iterator[dict]:
        """Every readable record (unreadable files are skipped)."""
        folder = self.root / "records"
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("*.json")):
            record = self.get(path.stem)
            if record is None:
                continue
            if include_errors or record.get("status") == "ok":
                yield record

    def samples(self, key: str):
        """The per-sample table of a job as a DataFrame (None if none)."""
        import pandas as pd

        path = self.root / "samples" / f"{key}.parquet"
        return pd.read_parquet(path) if path.exists() else None

    # -- locking ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, key: str) -> Iterator[None]:
        """Exclusive advisory lock for computing one job."""
        path = self.root / "locks" / f"{key}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    # -- chunk checkpoints ----------------------------------------------------------------------
    def work_dir(self, key: str) -> Path:
        return self.root / "work" / key

    def save_chunk(self, key: str, name: str, chunk) -> None:
        """Store a finished chunk: arrays as .npz (no pickle), rows as .parquet, then a done marker."""
        folder = self.work_dir(key)
        arrays = {f"sum:{k}": np.asarray(v) for k, v in chunk.sums.items()}
        arrays.update({f"stack:{k}": np.asarray(v) for k, v in chunk.stacks.items()})
        arrays["__n__"] = np.asarray(chunk.n)
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        atomic_write(folder / f"{name}.npz", buf.getvalue())
        if chunk.rows is not None and len(chunk.rows):
            rbuf = io.BytesIO()
            chunk.rows.to_parquet(rbuf, index=False)
            atomic_write(folder / f"{name}.parquet", rbuf.getvalue())
        atomic_write(folder / f"{name}.done", b"")

    def load_chunk(self, key: str, name: str):
        """A finished chunk, or None if it was not finished (or is unreadable)."""
        from visaudit.probes.base import ChunkResult

        folder = self.work_dir(key)
        if not (folder / f"{name}.done").exists():
            return None
        try:
            with np.load(folder / f"{name}.npz", allow_pickle=False) as z:
                sums = {k[4:]: z[k] for k in z.files if k.startswith("sum:")}
                stacks = {k[6:]: z[k] for k in z.files if k.startswith("stack:")}
                n = int(z["__n__"])
            rows = None
            if (folder / f"{name}.parquet").exists():
                import pandas as pd

                rows = pd.read_parquet(folder / f"{name}.parquet")
        except (OSError, ValueError, KeyError):
            return None
        return ChunkResult(sums=sums, stacks=stacks, rows=rows, n=n)

    def clear_work(self, key: str) -> None:
        shutil.rmtree(self.work_dir(key), ignore_errors=True)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)
