"""Provenance for records: package versions, git hash, time, host."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("visaudit", "torch", "torchvision", "timm", "numpy", "pillow", "open_clip_torch"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


@lru_cache(maxsize=1)
def git_hash() -> str | None:
    """The commit of the visaudit source tree if it is a git checkout (editable installs)."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance() -> dict:
    return {
        "versions": package_versions(),
        "git": git_hash(),
        "host": platform.node(),
        "platform": platform.platform(),
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
