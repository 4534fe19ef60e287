"""PNG thumbnails for gallery artifacts: images and heat maps, at most 128 px on the long side.

Small images (32 px CIFAR) are enlarged by an integer factor (nearest neighbour, so pixels stay
pixels); large ones are shrunk (bilinear). PIL and numpy only; no torch at import.
"""

from __future__ import annotations

import io

import numpy as np

from visaudit.probes.gallery import GalleryImage, GalleryItem

__all__ = ["GalleryImage", "GalleryItem", "heatmap_png", "image_png"]

MAX_SIDE = 128


def _encode(rgb: np.ndarray) -> bytes:
    from PIL import Image

    img = Image.fromarray(rgb)
    side = max(img.width, img.height)
    if side * 2 <= MAX_SIDE:
        f = MAX_SIDE // side
        img = img.resize((img.width * f, img.height * f), Image.NEAREST)
    elif side > MAX_SIDE:
        s = MAX_SIDE / side
        img = img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), Image.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def image_png(hwc: np.ndarray) -> bytes:
    """An HxWx3 float image in [0, 1] as a PNG thumbnail."""
    return _encode((np.clip(np.asarray(hwc, dtype=np.float64), 0, 1) * 255).round().astype(np.uint8))


def heatmap_png(values: np.ndarray, *, signed: bool = False) -> bytes:
    """An HxW map as a PNG thumbnail, colour-mapped.

    Args:
        values: the map; scaled by its largest absolute value (a constant map is drawn flat).
        signed: diverging colours around zero (``RdBu_r``) instead of ``inferno`` over [min, max].
    """
    import matplotlib

    v = np.nan_to_num(np.asarray(values, dtype=np.float64))
    if signed:
        scale = float(np.abs(v).max()) or 1.0
        u, cmap = 0.5 + 0.5 * v / scale, matplotlib.colormaps["RdBu_r"]
    else:
        lo, hi = float(v.min()), float(v.max())
        u, cmap = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v), matplotlib.colormaps["inferno"]
    rgb = (cmap(np.clip(u, 0, 1))[..., :3] * 255).round().astype(np.uint8)
    return _encode(rgb)
