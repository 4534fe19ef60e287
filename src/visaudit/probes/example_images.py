"""Small PNG contact sheets of perturbed images for reports (PIL only, no torch at import)."""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np


def grid_png(tiles: Sequence[Sequence[np.ndarray]], scale: int = 1, pad: int = 2) -> bytes:
    """Lay out HxWx3 float images in [0, 1] as rows of tiles and encode as PNG.

    Args:
        tiles: rows of images (all the same size).
        scale: integer upscaling (nearest) so that 32 px images stay visible.
        pad: white pixels between tiles.
    """
    from PIL import Image

    rows = [list(r) for r in tiles if len(r)]
    h, w = rows[0][0].shape[:2]
    ncol = max(len(r) for r in rows)
    sheet = np.ones(((h + pad) * len(rows) + pad, (w + pad) * ncol + pad, 3), dtype=np.float32)
    for i, r in enumerate(rows):
        for j, t in enumerate(r):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            sheet[y : y + h, x : x + w] = np.clip(t, 0, 1)
    img = Image.fromarray((sheet * 255).round().astype(np.uint8))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def to_hwc(t) -> np.ndarray:
    """(3, H, W) tensor -> HxWx3 float numpy array."""
    return t.detach().float().cpu().permute(1, 2, 0).numpy()
