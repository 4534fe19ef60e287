"""The results store: one JSON record per job, per-sample Parquet beside it, checkpointed chunks.

Layout::

    <store>/records/<key>.json        written atomically (temp file + rename)
    <store>/samples/<key>.parquet     per-sample outputs
    <store>/artifacts/<key>/<name>    example images, arrays
    <store>/work/<key>/<tag>-<h>.npz  finished chunks of an unfinished job (+ .parquet rows); <h> hashes
                                      the dataset positions the chunk covers, listed in its .done marker
    <store>/locks/<key>.lock          advisory lock: one process computes a job at a time
    <store>/locks/<key>.chunks/<c>.lock  claim on one chunk when a job's chunks are shared between
                                      processes (the Ray backend's tasks); holds the claimant's pid

Several processes may share a store: every file appears by an atomic rename, and a job is
computed under an exclusive ``flock``; a second process waits and then reads the record.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import io
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from visaudit.errors import VisauditError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from visaudit.engine.types import ChunkResult


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # mkstemp makes 0600 files; a shared store must follow the user's umask


def atomic_write(path: Path, data: bytes) -> None:
    """Write bytes to ``path`` so that readers see either nothing or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, _FILE_MODE)
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
        self.problems: list[str] = []  # records that could not be read, one line each

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
        """The record of a job in the current schema, or None if absent or unreadable.

        A truncated or corrupt file, a record whose key is not its file name, or one of an
        unknown schema counts as absent (the job is recomputed); :attr:`problems` says why.
        """
        record, problem = self._read(self.record_path(key), key)
        if problem:
            self.problems.append(problem)
        return record

    def _read(self, path: Path, key: str) -> tuple[dict | None, str | None]:
        from visaudit.engine.record import RecordSchemaError, read_record

        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return None, None
        except (ValueError, OSError, UnicodeDecodeError) as err:
            return None, f"{path}: unreadable ({type(err).__name__}); skipped"
        if not isinstance(raw, dict) or raw.get("key") != key:
            found = raw.get("key") if isinstance(raw, dict) else None
            return None, f"{path}: holds the record of key {found!r}, not {key!r}; skipped"
        try:
            return read_record(raw, source=str(path)), None
        except RecordSchemaError as err:
            return None, f"{err}; skipped"

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
        """Every readable record; the others are skipped and described in :attr:`problems`."""
        folder = self.root / "records"
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("*.json")):
            record = self.get(path.stem)
            if record is None:
                continue
            if include_errors or record.get("status") == "ok":
                yield record

    def samples(self, key: str) -> "pd.DataFrame | None":
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

    @contextlib.contextmanager
    def claim_chunk(self, key: str, name: str, *, block: bool) -> Iterator[str]:
        """Claim one chunk of a job for this process; yields ``won``, ``busy`` or ``done``.

        ``won``: compute it now (the lock file then names this pid, and keeps naming it once the
        chunk is done); ``busy``: another process holds it (only without ``block``); ``done``: it
        was finished meanwhile. The claim is an ``flock``, so the kernel drops it when its process
        dies: a chunk whose worker was killed goes to the next process that asks.
        """
        path = self.root / "locks" / f"{key}.chunks" / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT, _FILE_MODE), "r+b") as f:  # never truncated on open
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | (0 if block else fcntl.LOCK_NB))
            except BlockingIOError:
                yield "busy"
                return
            try:
                if (self.work_dir(key) / f"{name}.done").exists():
                    yield "done"
                    return
                f.seek(0)
                f.truncate()
                f.write(str(os.getpid()).encode())
                f.flush()
                yield "won"
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    # -- chunk checkpoints ----------------------------------------------------------------------
    def work_dir(self, key: str) -> Path:
        return self.root / "work" / key

    def save_chunk(self, key: str, name: str, chunk: "ChunkResult", positions: np.ndarray) -> None:
        """Store a finished chunk: arrays as .npz (no pickle), rows as .parquet, then a done
        marker that lists the dataset positions the chunk covers (int64)."""
        folder = self.work_dir(key)
        arrays = {f"sum:{k}": np.asarray(v) for k, v in chunk.sums.items()}
        arrays.update({f"stack:{k}": np.asarray(v) for k, v in chunk.stacks.items()})
        arrays["__n__"] = np.asarray(chunk.n)
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
        atomic_write(folder / f"{name}.npz", buf.getvalue())
        if chunk.rows is not None and len(chunk.rows):
            rbuf = io.BytesIO()
            chunk.rows.to_parquet(rbuf, index=False)
            atomic_write(folder / f"{name}.parquet", rbuf.getvalue())
        atomic_write(folder / f"{name}.done", np.ascontiguousarray(positions, dtype="<i8").tobytes())

    def finished_chunks(self, key: str, tag: str) -> dict[int, list[np.ndarray]]:
        """Positions of the finished chunks of one pass, grouped by their first position."""
        out: dict[int, list[np.ndarray]] = {}
        folder = self.work_dir(key)
        if not folder.is_dir():
            return out
        for marker in folder.glob(f"{glob.escape(tag)}-*.done"):
            if marker.stem.rsplit("-", 1)[0] != tag:
                continue
            try:
                pos = np.frombuffer(marker.read_bytes(), dtype="<i8").astype(np.int64)
            except OSError:
                continue
            if len(pos):
                out.setdefault(int(pos[0]), []).append(pos)
        return out

    def load_chunk(self, key: str, name: str) -> "ChunkResult | None":
        """A finished chunk, or None if it was not finished (or is unreadable)."""
        from visaudit.engine.types import ChunkResult

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
        shutil.rmtree(self.root / "locks" / f"{key}.chunks", ignore_errors=True)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)
