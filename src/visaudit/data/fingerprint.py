"""Content fingerprints of the files a job reads, remembered so that repeated runs stay fast.

A job's key holds the sha256 of every file it reads (images, label tables, stored corruption
trees, OOD sets, texture files), never just their names or modification times: change one
byte and the store no longer answers. Hashing is done once per file version: the digest is
remembered in a SQLite table of the cache folder under the file's (path, size, mtime, inode),
so a repeated run only stats its files. A ``touch`` without a change of content re-hashes
the file and gives the same key.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Iterable, Sequence

from visaudit import settings

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS digests (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, "
    "inode INTEGER, sha256 TEXT)"
)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hash_file(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class DigestMemo:
    """sha256 of files, remembered per (path, size, mtime_ns, inode) in ``<cache>/file-digests.sqlite``."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or settings.cache_dir() / "file-digests.sqlite"

    def _connect(self) -> sqlite3.Connection | None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(str(self.path), timeout=30)
            con.execute(_SCHEMA)
            return con
        except (OSError, sqlite3.Error):
            return None  # an unwritable cache only costs speed

    def digests(self, files: Sequence[str | os.PathLike]) -> list[str]:
        """The sha256 of each file, in order (hashing only those not remembered)."""
        paths = [os.path.abspath(os.fspath(f)) for f in files]
        stats: list[tuple[int, int, int]] = []
        for p in paths:
            info = os.stat(p)
            stats.append((info.st_size, info.st_mtime_ns, info.st_ino))
        known: dict[str, tuple[int, int, int, str]] = {}
        con = self._connect()
        if con is not None:
            try:
                for start in range(0, len(paths), 500):
                    part = paths[start : start + 500]
                    marks = ",".join("?" * len(part))
                    for row in con.execute(
                        f"SELECT path, size, mtime_ns, inode, sha256 FROM digests WHERE path IN ({marks})", part
                    ):
                        known[row[0]] = (row[1], row[2], row[3], row[4])
            except sqlite3.Error:
                known = {}
        out: list[str] = []
        fresh: list[tuple[str, int, int, int, str]] = []
        for p, st in zip(paths, stats):
            hit = known.get(p)
            if hit is not None and hit[:3] == st:
                out.append(hit[3])
            else:
                digest = _hash_file(p)
                out.append(digest)
                fresh.append((p, *st, digest))
        if con is not None:
            try:
                if fresh:
                    with con:
                        con.executemany("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?)", fresh)
            except sqlite3.Error:
                pass
            finally:
                con.close()
        return out


def file_digest(path: str | os.PathLike) -> str:
    """sha256 of one file's bytes (remembered)."""
    return DigestMemo().digests([path])[0]


def content_listing(root: Path, files: Sequence[Path]) -> list[tuple[str, str]]:
    """(path relative to ``root``, sha256 of the content) per file: a folder dataset's fingerprint."""
    digests = DigestMemo().digests(files)
    return [(Path(f).relative_to(root).as_posix(), d) for f, d in zip(files, digests)]


def tree_fingerprint(root: Path, files: Iterable[Path] | None = None) -> str:
    """sha256 over the sorted (relative path, content sha256) pairs of the files below ``root``."""
    root = Path(root)
    chosen = sorted(files) if files is not None else sorted(p for p in root.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for rel, digest in content_listing(root, chosen):
        h.update(f"{rel}\0{digest}\n".encode())
    return h.hexdigest()
