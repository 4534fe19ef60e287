"""Spatter (extra corruption): water drops (severities 1-3) or mud (4-5).

The water branch of the reference runs OpenCV's Canny edge detector, a distance transform,
histogram equalisation and a small emboss filter on a smoothed noise layer. Those steps are
re-expressed here as batched tensor operations: Sobel + non-maximum suppression + hysteresis
(Canny, L1 gradient as OpenCV's default), an exact Euclidean distance transform truncated at 20
pixels (OpenCV uses a 5x5 chamfer approximation of it), and a per-image histogram equalisation
with OpenCV's rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from visaudit.perturb.corruptions import _filters as flt
from visaudit.perturb.corruptions._common import pick, randn

# (loc, scale, blur sigma, threshold, strength, mud?)
SPATTER = {
    "imagenet": [
        (0.65, 0.3, 4, 0.69, 0.6, 0),
        (0.65, 0.3, 3, 0.68, 0.6, 0),
        (0.65, 0.3, 2, 0.68, 0.5, 0),
        (0.65, 0.3, 1, 0.65, 1.5, 1),
        (0.67, 0.4, 1, 0.65, 1.5, 1),
    ],
    "cifar": [
        (0.62, 0.1, 0.7, 0.7, 0.5, 0),
        (0.65, 0.1, 0.8, 0.7, 0.5, 0),
        (0.65, 0.3, 1, 0.69, 0.5, 0),
        (0.65, 0.1, 0.7, 0.69, 0.6, 1),
        (0.65, 0.1, 0.5, 0.68, 0.6, 1),
    ],
}
WATER = (175 / 255, 238 / 255, 238 / 255)
MUD = (63 / 255, 42 / 255, 20 / 255)
MAX_DIST = 20
HYSTERESIS_STEPS = 24


def canny(img: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Canny edges of (n, 1, h, w) images in 0..255: Sobel, L1 magnitude, NMS, hysteresis."""
    sob = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    p = flt.pad2d(img, 1, 1, "reflect101")
    gx = flt.correlate_small(p, sob)
    gy = flt.correlate_small(p, sob.t())
    mag = gx.abs() + gy.abs()
    m = F.pad(mag, (1, 1, 1, 1))
    h, w = img.shape[-2:]

    def nb(dy: int, dx: int) -> torch.Tensor:
        return m[..., 1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]

    ax, ay = gx.abs(), gy.abs()
    tan22 = 0.4142135623730951
    horiz = ay <= ax * tan22  # gradient along x: compare left/right
    vert = ay > ax / tan22  # gradient along y: compare up/down
    same_sign = (gx * gy) > 0
    keep_h = (mag > nb(0, -1)) & (mag >= nb(0, 1))
    keep_v = (mag > nb(-1, 0)) & (mag >= nb(1, 0))
    keep_d1 = (mag > nb(-1, -1)) & (mag > nb(1, 1))
    keep_d2 = (mag > nb(-1, 1)) & (mag > nb(1, -1))
    keep = torch.where(horiz, keep_h, torch.where(vert, keep_v, torch.where(same_sign, keep_d1, keep_d2)))
    cand = keep & (mag > low)
    strong = cand & (mag > high)
    # Hysteresis: grow strong edges into connected weak ones. OpenCV follows chains of any
    # length; here growth stops after HYSTERESIS_STEPS pixels (checked for convergence every 4).
    for step in range(HYSTERESIS_STEPS):
        grown = cand & dilate3(strong)
        if step % 4 == 3 and torch.equal(grown, strong):
            break
        strong = grown
    return strong


def truncated_distance(edges: torch.Tensor, limit: int = MAX_DIST) -> torch.Tensor:
    """Euclidean distance to the nearest edge pixel, capped at ``limit`` (separable exact EDT).

    Along rows the nearest edge on each side comes from a running maximum of edge positions;
    across rows the squared distances are combined over offsets up to ``limit``.
    """
    n, c, h, w = edges.shape
    big = float(limit + 1)
    pos = torch.arange(w, device=edges.device, dtype=torch.float32).expand_as(edges)
    left = torch.where(edges, pos, torch.full_like(pos, -1e6)).cummax(3).values
    right = w - 1 - torch.where(edges.flip(3), pos, torch.full_like(pos, -1e6)).cummax(3).values.flip(3)
    g = torch.minimum(pos - left, right - pos).clamp(max=big)
    d2 = (g**2).to(torch.int16)  # exact: at most (limit + 1)^2; half the memory traffic of float32
    best = d2.clone()
    tmp = torch.empty_like(d2)
    for d in range(1, limit + 1):
        if d >= h:
            break
        # in place: this loop dominated spatter's run time when it allocated per offset
        shifted = torch.add(d2[..., :-d, :], d * d, out=tmp[..., :-d, :])
        torch.minimum(best[..., d:, :], shifted, out=best[..., d:, :])
        shifted = torch.add(d2[..., d:, :], d * d, out=tmp[..., d:, :])
        torch.minimum(best[..., :-d, :], shifted, out=best[..., :-d, :])
    return best.to(torch.float32).sqrt_().clamp_(max=float(limit))


def dilate3(mask: torch.Tensor) -> torch.Tensor:
    """3x3 binary dilation of a bool (n, 1, h, w) mask (zero border), as separable shifted ORs.

    Bool shifts are several times faster on CPU than ``max_pool2d`` on a float copy.
    """
    rows = mask.clone()
    rows[..., 1:, :] |= mask[..., :-1, :]
    rows[..., :-1, :] |= mask[..., 1:, :]
    out = rows.clone()
    out[..., :, 1:] |= rows[..., :, :-1]
    out[..., :, :-1] |= rows[..., :, 1:]
    return out


def equalize_hist(img: torch.Tensor) -> torch.Tensor:
    """``cv2.equalizeHist`` per image for integer-valued (n, 1, h, w) tensors in 0..255."""
    n = img.shape[0]
    v = img.reshape(n, -1).long()
    hist = torch.zeros(n, 256, dtype=torch.float64, device=img.device).scatter_add_(
        1, v, torch.ones_like(v, dtype=torch.float64)
    )
    total = hist.sum(1, keepdim=True)
    first = (hist > 0).float().argmax(1, keepdim=True)
    h0 = hist.gather(1, first)
    cdf = hist.cumsum(1)
    scale = 255.0 / (total - h0).clamp_min(1)
    lut = torch.round((cdf - h0) * scale).clamp(0, 255)
    lut = torch.where(torch.arange(256, device=img.device).view(1, -1) < first, torch.zeros_like(lut), lut)
    lut = torch.where(total - h0 == 0, first.expand_as(lut).double(), lut)  # one grey level only
    return lut.gather(1, v).view_as(img).to(img.dtype)


def spatter(x: torch.Tensor, severity: int, gen: torch.Generator | None, params: str) -> torch.Tensor:
    """Water drops with bright rims (severities 1-3) or opaque mud blobs (4-5)."""
    loc, scale, sigma, thr, strength, mud = pick(SPATTER, params, severity)
    n, _, h, w = x.shape
    liquid = loc + scale * randn(gen, (n, 1, h, w), x)
    liquid = flt.gaussian_blur(liquid, sigma)
    liquid = torch.where(liquid < thr, torch.zeros_like(liquid), liquid)
    if not mud:
        l8 = torch.floor(liquid * 255).clamp(0, 255)
        edges = canny(l8, 50, 150)
        dist = truncated_distance(edges)
        dist = torch.floor(flt.box_blur3(dist))
        dist = equalize_hist(dist)
        ker = torch.tensor([[-2.0, -1.0, 0.0], [-1.0, 1.0, 1.0], [0.0, 1.0, 2.0]])
        dist = torch.round(flt.filter2d(dist, ker)).clamp(0, 255)
        dist = flt.box_blur3(dist)
        m = l8 * dist
        m = m / m.amax((2, 3), keepdim=True).clamp_min(1e-12) * strength
        color = torch.tensor(WATER, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x + m * color).clamp(0, 1)
    m = (liquid > thr).to(x.dtype)
    m = flt.gaussian_blur(m, strength)
    m = torch.where(m < 0.8, torch.zeros_like(m), m)
    color = torch.tensor(MUD, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * (1 - m) + color * m).clamp(0, 1)
