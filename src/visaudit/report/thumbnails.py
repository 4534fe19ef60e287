"""Thumbnails of dataset samples for the failure browser, verified against the record.

A per-sample table names its images by sample id only (the accuracy probe stores no pixels).
The report reopens the dataset the record names (its registered name and path) and draws a
thumbnail only when the dataset's content fingerprint today equals the one stored in the
record: the fingerprint covers the sha256 of every file, so a changed, added or missing
file makes every thumbnail of that dataset a placeholder with the reason, never a wrong
image. Fingerprints are remembered per file (``visaudit.data.fingerprint``), so a dataset
that was audited on this machine is only stat-ed.

Example:
    >>> images = DatasetImages()                                     # doctest: +SKIP
    >>> thumb = images.thumbnail(record["dataset"], "cat/0001.jpg")  # doctest: +SKIP
    >>> thumb.uri[:22], thumb.reason                                 # doctest: +SKIP
    ('data:image/png;base64,', '')
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

THUMB_MAX = 128


@dataclass(frozen=True)
class Thumbnail:
    """A PNG data URI, or an empty ``uri`` and the reason no image is shown."""

    uri: str
    reason: str = ""


def png_uri(data: bytes) -> str:
    """``data:image/png;base64,...`` for PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


class DatasetImages:
    """Reopens the datasets records name, once each, and serves verified thumbnails."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str, str, str], tuple[Any, dict[str, int], str]] = {}

    def _dataset(self, desc: dict[str, Any]) -> tuple[Any, dict[str, int], str]:
        name, path = str(desc.get("name") or ""), str(desc.get("path") or "")
        want, subset = str(desc.get("fingerprint") or ""), str(desc.get("label_subset") or "")
        key = (name, path, want, subset)
        if key in self._open:
            return self._open[key]
        found: tuple[Any, dict[str, int], str]
        try:
            found = self._reopen(name, path, want, subset)
        except Exception as exc:  # noqa: BLE001 - any failure to reopen is a placeholder, not a crash
            found = (None, {}, f"dataset {name} not readable at {path}: {type(exc).__name__}: {exc}"[:300])
        self._open[key] = found
        return found

    @staticmethod
    def _reopen(name: str, path: str, want: str, subset: str) -> tuple[Any, dict[str, int], str]:
        from visaudit.data import open_dataset

        if not want:
            return None, {}, "the record holds no dataset fingerprint"
        p = Path(path) if path else None
        if p is not None and not p.exists():
            return None, {}, f"dataset {name} no longer at {path}"
        if p is not None and p.is_file():  # array datasets record their image file; their loader takes the folder
            p = p.parent
        try:
            ds = open_dataset(name, p) if p is not None else open_dataset(name)
        except Exception:  # noqa: BLE001 - a path dataset (no registered name) opens by its path
            if p is None:
                raise
            ds = open_dataset(str(p))
        if subset == "requested":
            ds = ds.with_label_subset()
        if ds.fingerprint() != want:
            return None, {}, f"dataset {name} at {path} changed since the run (content fingerprint differs)"
        return ds, {sid: i for i, sid in enumerate(ds.ids)}, ""

    def thumbnail(self, desc: dict[str, Any], sample_id: str, max_side: int = THUMB_MAX) -> Thumbnail:
        """The sample's image as a PNG data URI (at most ``max_side`` px), or a reason why not."""
        ds, index, reason = self._dataset(desc)
        if ds is None:
            return Thumbnail("", reason)
        pos = index.get(str(sample_id))
        if pos is None:
            return Thumbnail("", f"sample {sample_id} is not in dataset {desc.get('name')}")
        try:
            img = ds.load(pos).convert("RGB")
        except Exception as exc:  # noqa: BLE001 - an undecodable file is a placeholder
            return Thumbnail("", f"{sample_id}: cannot be decoded ({exc})"[:300])
        import io

        from PIL import Image

        if max(img.size) > max_side:
            scale = max_side / max(img.size)
            img = img.resize(
                (max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.BOX
            )
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=True)
        return Thumbnail(png_uri(buf.getvalue()))
