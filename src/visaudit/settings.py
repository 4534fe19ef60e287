"""Where visaudit looks for data, weights and its cache.

Precedence for a dataset or weight file: an explicit path, then the data-root setting
(``VISAUDIT_DATA`` for datasets, ``VISAUDIT_WEIGHTS`` for weight files), then the local
cache (``VISAUDIT_CACHE``, default ``~/.cache/visaudit``), then a download from the
public location, checked by checksum.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "VISAUDIT_DATA"
WEIGHTS_ENV = "VISAUDIT_WEIGHTS"
CACHE_ENV = "VISAUDIT_CACHE"
OFFLINE_ENV = "VISAUDIT_OFFLINE"


def _roots(env: str) -> list[Path]:
    value = os.environ.get(env, "")
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p]


def data_roots() -> list[Path]:
    """Folders named by ``VISAUDIT_DATA`` (``os.pathsep``-separated)."""
    return _roots(DATA_ENV)


def weights_roots() -> list[Path]:
    """Folders named by ``VISAUDIT_WEIGHTS`` (``os.pathsep``-separated)."""
    return _roots(WEIGHTS_ENV)


def cache_dir() -> Path:
    """The local cache folder (created on demand)."""
    root = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "visaudit"
    )
    return Path(root)


def offline() -> bool:
    """True when downloads are disabled (``VISAUDIT_OFFLINE=1``)."""
    return os.environ.get(OFFLINE_ENV, "").lower() in {"1", "true", "yes"}
