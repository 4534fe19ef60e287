"""Blur corruptions: defocus, glass, motion, zoom and (extra) gaussian blur."""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

from visaudit.perturb.corruptions import _filters as flt
from visaudit.perturb.corruptions._common import pick, rand, randint, uniform

GAUSSIAN_BLUR = {"imagenet": [1, 2, 3, 4, 6], "cifar": [0.4, 0.6, 0.7, 0.8, 1]}
# (sigma, max_delta, iterations)
GLASS = {
    "imagenet": [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)],
    "cifar": [(0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2)],
}
GLASS_EXTRA_MOVE = 0.5
# (disk radius, alias blur sigma)
DEFOCUS = {
    "imagenet": [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)],
    "cifar": [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)],
}
# (radius, sigma) of the line kernel
MOTION = {
    "imagenet": [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)],
    "cifar": [(6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5)],
}
# zoom factors as (start, stop, step) of np.arange
ZOOM = {
    "imagenet": [(1, 1.11, 0.01), (1, 1.16, 0.01), (1, 1.21, 0.02), (1, 1.26, 0.02), (1, 1.31, 0.03)],
    "cifar": [(1, 1.06, 0.01), (1, 1.11, 0.01), (1, 1.16, 0.01), (1, 1.21, 0.01), (1, 1.26, 0.01)],
}


def gaussian_blur(x: torch.Tensor, severity: int, gen: torch.Generator | None, params: str) -> torch.Tensor:
    """Gaussian blur of standard deviation ``c`` pixels."""
    return flt.gaussian_blur(x, pick(GAUSSIAN_BLUR, params, severity)).clamp(0, 1)


def glass_blur(x: torch.Tensor, severity: int, gen: torch.Generator | None, params: str) -> torch.Tensor:
    """Blur, locally scramble pixels, blur again.

    The reference swaps pixels one at a time in a Python loop (its known bottleneck). Here each
    scramble pass moves every interior pixel to a random offset in ``[-delta, delta)`` at
    once (a gather per pass, same offset for all channels), which scrambles the same
    neighbourhood; it agrees with the reference in distribution, not pixel by pixel.
    The intermediate uint8 truncation of the reference is kept.
    """
    sigma, delta, iters = pick(GLASS, params, severity)
    n, c, h, w = x.shape
    y = torch.floor(flt.gaussian_blur(x, sigma) * 255) / 255
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    # the reference visits rows and columns delta+1 .. size-delta
    interior = (rows > delta) & (rows <= h - delta) & (cols > delta) & (cols <= w - delta)
    # A pixel swapped towards a position the reference has not visited yet is moved again, so
    # for delta >= 2 a value travels about 1.5 offsets per iteration: emulated by a second
    # pass in which each pixel moves with probability GLASS_EXTRA_MOVE (calibrated on the
    # mean squared change against the reference; see tests/test_corruptions_fidelity.py).
    passes = []
    for _ in range(iters):
        passes.append(1.0)
        if delta >= 2:
            passes.append(GLASS_EXTRA_MOVE)
    for p_move in passes:
        dy = randint(gen, (n, h, w), 2 * delta, x) - delta
        dx = randint(gen, (n, h, w), 2 * delta, x) - delta
        move = interior
        if p_move < 1.0:
            move = interior & (rand(gen, (n, h, w), x) < p_move)
        src_r = torch.where(move, rows + dy, rows).clamp(0, h - 1)
        src_c = torch.where(move, cols + dx, cols).clamp(0, w - 1)
        idx = (src_r * w + src_c).view(n, 1, h * w).expand(n, c, h * w)
        y = torch.gather(y.reshape(n, c, h * w), 2, idx).view(n, c, h, w)
    return flt.gaussian_blur(y, sigma).clamp(0, 1)


@functools.lru_cache(maxsize=32)
def _disk_kernel(radius: float, alias_blur: float) -> torch.Tensor:
    """The anti-aliased disk of ImageNet-C (a Gaussian-blurred binary disk, reflect-101 border)."""
    half = 8 if radius <= 8 else int(radius)
    ksize = 3 if radius <= 8 else 5
    t = torch.arange(-half, half + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    disk = ((xx**2 + yy**2) <= radius**2).to(torch.float64)
    disk /= disk.sum()
    g = torch.arange(ksize, dtype=torch.float64) - (ksize - 1) / 2
    g = torch.exp(-(g**2) / (2 * alias_blur**2))
    g /= g.sum()
    out = flt.separable_filter(disk.view(1, 1, *disk.shape), g, g, "reflect101")
    return out[0, 0].to(torch.float32)


def defocus_blur(x: torch.Tensor, severity: int, gen: torch.Generator | None, params: str) -> torch.Tensor:
    """Convolution with an anti-aliased disk (reflect-101 border, as ``cv2.filter2D``)."""
    radius, alias = pick(DEFOCUS, params, severity)
    return flt.filter2d(x, _disk_kernel(float(radius), float(alias))).clamp(0, 1)


def motion_blur(x: torch.Tensor, severity: int, gen: torch.Generator | None, params: str) -> torch.Tensor:
    """Line blur in a random direction in [-45, 45] degrees, one direction per image."""
    radius, sigma = pick(MOTION, params, severity)
    angle = uniform(gen, x.shape[0], -45.0, 45.0, x)
    return flt.motion_blur(x, radius, sigma, angle, angle_range=(-45.0, 45.0)).clamp(0, 1)


def zoom_factors(params: str, severity: int) -> list[float]:
    """The zoom factors averaged by zoom blur (``np.arange`` as in the benchmark)."""
    start, stop, step = pick(ZOOM, params, severity)
    return [float(z) for z in np.arange(start, stop, step)]


def clipped_zoom(x: torch.Tensor, zoom: float) -> torch.Tensor:
    """Zoom into the centre by ``zoom`` keeping the size (``scipy.ndimage.zoom(order=1)`` of a centre crop).

    scipy's order-1 zoom maps output ``o`` to input ``o * (crop-1)/(out-1)``, which is bilinear
    interpolation with ``align_corners=True``.
    """
    h, w = x.shape[-2:]
    z = zoom_centre(x, zoom)
    th, tw = (z.shape[-2] - h) // 2, (z.shape[-1] - w) // 2
    return z[..., th : th + h, tw : tw + w]


def zoom_centre(x: torch.Tensor, zoom: float) -> torch.Tensor:
    """The centre crop of ``1/zoom`` of the size, zoomed by ``zoom`` (scipy order 1), not trimmed:
    its size is ``round(ceil(side / zoom) * zoom)``, a few pixels over the input's."""
    h, w = x.shape[-2:]
    ch, cw = math.ceil(h / zoom), math.ceil(w / zoom)
    top, left = (h - ch) // 2, (w - cw) // 2
    zh, zw = int(round(ch * zoom)), int(round(cw * zoom))
    return F.interpolate(x[..., top : top + ch, left : left + cw], size=(zh, zw), mode="bilinear", align_corners=True)


def zoom_blur(x: torch.Tensor, severity: int, gen: torch.Generator | None, params: str) -> torch.Tensor:
    """Average of the image and centred zooms of it."""
    zooms = zoom_factors(params, severity)
    out = x.clone()
    for z in zooms:
        out += clipped_zoom(x, z)
    return (out / (len(zooms) + 1)).clamp(0, 1)
