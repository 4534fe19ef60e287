"""Resolve a dataset folder or weight file: explicit path > data root > cache > download."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from visaudit import settings
from visaudit.errors import DataNotFoundError


@dataclass(frozen=True)
class Remote:
    """A public download: a file (checked by sha256) or an archive whose extracted tree is checked.

    Attributes:
        url: where to fetch it.
        sha256: sha256 of the downloaded file, or None when only the extracted tree is checked.
        tree_sha256: :func:`tree_hash` of the extracted subfolder (for archives of many files).
        archive_subdir: the folder inside a zip archive that becomes the dataset folder.
    """

    url: str
    sha256: str | None = None
    tree_sha256: str | None = None
    archive_subdir: str | None = None


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def tree_hash(folder: Path) -> str:
    """sha256 over the sorted (relative path, sha256 of content) pairs of every file below ``folder``."""
    h = hashlib.sha256()
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    for p in files:
        h.update(p.relative_to(folder).as_posix().encode())
        h.update(b"\0")
        h.update(sha256_file(p).encode())
        h.update(b"\n")
    return h.hexdigest()


def _download(url: str, dest: Path) -> None:
    if settings.offline():
        raise DataNotFoundError(f"downloads are disabled ({settings.OFFLINE_ENV}=1): {url}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            shutil.copyfileobj(resp, out)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _not_found(what: str, relpath: str, env: str, remote: Remote | None, err: Exception | None) -> DataNotFoundError:
    where = f"; download from {remote.url} failed ({err})" if remote else "; it is not downloaded automatically"
    return DataNotFoundError(
        f"{what} not found: looked for '{relpath}' under the folders in ${env} "
        f"(now {os.environ.get(env) or 'unset'}) and in the cache {settings.cache_dir()}{where}. "
        f"Set {env} to the folder that holds '{relpath}', or pass an explicit path."
    )


def resolve(relpath: str, *, kind: str, remote: Remote | None = None, what: str | None = None) -> Path:
    """Find ``relpath`` (a file or folder) for ``kind`` 'data' or 'weights'.

    Looks under every data-root folder, then the cache; otherwise downloads ``remote`` into the
    cache and checks its checksum. Raises :class:`DataNotFoundError` naming the setting and URL.
    """
    env = settings.DATA_ENV if kind == "data" else settings.WEIGHTS_ENV
    roots = settings.data_roots() if kind == "data" else settings.weights_roots()
    for root in roots:
        candidate = root / relpath
        if candidate.exists():
            return candidate
    cached = settings.cache_dir() / kind / relpath
    if cached.exists():
        return cached
    what = what or relpath
    if remote is None:
        raise _not_found(what, relpath, env, None, None)
    try:
        return _fetch(remote, cached)
    except Exception as err:  # offline, network errors, bad archives, checksum mismatch
        raise _not_found(what, relpath, env, remote, err) from err


def _fetch(remote: Remote, dest: Path) -> Path:
    if remote.archive_subdir is None:
        _download(remote.url, dest)
        if remote.sha256 and sha256_file(dest) != remote.sha256:
            dest.unlink()
            raise DataNotFoundError(f"checksum mismatch for {remote.url}; the file was removed")
        return dest
    with tempfile.TemporaryDirectory(dir=_mkparent(dest)) as tmp:
        archive = Path(tmp) / "archive.zip"
        _download(remote.url, archive)
        if remote.sha256 and sha256_file(archive) != remote.sha256:
            raise DataNotFoundError(f"checksum mismatch for {remote.url}")
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.namelist() if _inside(m, remote.archive_subdir)]
            for m in members:
                target = Path(tmp) / "x" / m
                if not target.resolve().is_relative_to((Path(tmp) / "x").resolve()):
                    raise DataNotFoundError(f"unsafe path in archive: {m}")
            zf.extractall(Path(tmp) / "x", members)
        src = (
            next((Path(tmp) / "x").glob(f"*/{remote.archive_subdir}"), None) or Path(tmp) / "x" / remote.archive_subdir
        )
        if remote.tree_sha256 and tree_hash(src) != remote.tree_sha256:
            raise DataNotFoundError(f"content of {remote.url} does not match the expected checksum")
        shutil.move(str(src), dest)
    return dest


def _mkparent(dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest.parent


def _inside(member: str, subdir: str) -> bool:
    parts = member.split("/", 1)
    return len(parts) == 2 and (parts[1].startswith(subdir + "/") or parts[1] == subdir)
