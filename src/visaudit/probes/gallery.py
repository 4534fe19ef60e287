"""The gallery contract: images a probe shows, stored as PNG artifacts and listed in ``data``.

A probe with images to show stores them as small PNG artifacts (at most 128 px on the long
side, at most ~32 items per record) and lists them under ``data["gallery"]``; the report's
failure browser (:mod:`visaudit.report.browser`) builds its pages from exactly this layout.

Example:
    >>> item: GalleryItem = {"sample": "cat/0001.jpg", "caption": "true: cat, p=0.93",
    ...     "images": [{"artifact": "g000_original.png", "label": "original"}]}
"""

from __future__ import annotations

import io
from typing import Any, TypedDict

import numpy as np

THUMB_MAX = 128  # px on the long side
MAX_ITEMS = 32  # gallery items per record


class GalleryImage(TypedDict):
    """One image of a gallery item."""

    artifact: str  # the artifact's file name (``ProbeResult.artifacts`` key)
    label: str  # what it shows: "original", "counterfactual", "difference", "saliency", ...


class GalleryItem(TypedDict):
    """One sample of a gallery: its images and a short caption."""

    sample: str  # the dataset's sample id
    caption: str  # e.g. "true: coat -> target: shirt, p=0.93"
    images: list[GalleryImage]


def thumbnail_png(image: Any, max_side: int = THUMB_MAX) -> bytes:
    """Encode a (3, H, W) tensor or HxWx3 array in [0, 1] as PNG, shrunk to ``max_side``.

    Images at most ``max_side`` px are kept pixel for pixel (quantised by rounding, so an
    image that was already quantised to 8 bits comes back exactly); larger ones are shrunk
    with a box filter, keeping the aspect ratio.
    """
    from PIL import Image

    arr = image.detach().float().cpu().permute(1, 2, 0).numpy() if hasattr(image, "detach") else np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise ValueError(f"thumbnail_png wants an HxWx3 or (3, H, W) image, got shape {arr.shape}")
    u8 = (np.clip(arr, 0.0, 1.0) * 255).round().astype(np.uint8)
    img = Image.fromarray(u8[..., 0] if u8.shape[2] == 1 else u8)
    if max(img.size) > max_side:
        scale = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))), Image.Resampling.BOX)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
