"""Batched filtering and resampling helpers shared by the corruptions.

All functions take (N, C, H, W) float tensors and keep device and dtype. Border modes are
named after the library whose behaviour they reproduce:

- ``"nearest"``: repeat the edge pixel (scipy ``nearest``, skimage default),
- ``"symmetric"``: half-sample symmetric, ``dcba|abcd|dcba`` (scipy ``reflect``),
- ``"reflect101"``: whole-sample mirror, ``dcb|abcd|cba`` (OpenCV default, scipy ``mirror``).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F


def pad_index(n: int, before: int, after: int, mode: str, device: torch.device) -> torch.Tensor:
    """Source indices for padding a length-``n`` axis by ``before``/``after`` samples."""
    i = torch.arange(-before, n + after, device=device)
    if mode == "nearest":
        return i.clamp(0, n - 1)
    if mode == "symmetric":
        period = 2 * n
        i = i % period
        return torch.where(i >= n, period - 1 - i, i)
    if mode == "reflect101":
        if n == 1:
            return torch.zeros_like(i)
        period = 2 * n - 2
        i = i % period
        return torch.where(i >= n, period - i, i)
    raise ValueError(f"unknown border mode {mode!r}")


def pad2d(x: torch.Tensor, ph: int | tuple[int, int], pw: int | tuple[int, int], mode: str) -> torch.Tensor:
    """Pad the last two axes by ``ph`` rows and ``pw`` columns (a number: both sides; a pair: before, after)."""
    h, w = x.shape[-2:]
    (top, bottom), (left, right) = (p if isinstance(p, tuple) else (p, p) for p in (ph, pw))
    if not (top or bottom or left or right):
        return x
    # torch's own padding kernels copy in one pass, several times faster than two index_selects
    native = {"nearest": "replicate", "reflect101": "reflect"}.get(mode)
    fits = native == "replicate" or (max(top, bottom) < h and max(left, right) < w)  # torch's reflect limit
    if native and fits and x.dim() == 4 and x.is_floating_point():
        return F.pad(x, (left, right, top, bottom), mode=native)
    if top or bottom:
        x = x.index_select(-2, pad_index(h, top, bottom, mode, x.device))
    if left or right:
        x = x.index_select(-1, pad_index(w, left, right, mode, x.device))
    return x


def gaussian_kernel1d(sigma: float, truncate: float = 4.0, device: torch.device | None = None) -> torch.Tensor:
    """The 1-D Gaussian of ``scipy.ndimage.gaussian_filter`` (radius ``int(truncate*sigma+0.5)``)."""
    radius = int(truncate * float(sigma) + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64, device=device)
    k = torch.exp(-0.5 * (t / float(sigma)) ** 2)
    return k / k.sum()


@functools.lru_cache(maxsize=128)
def _filter_matrix_cached(n: int, taps: tuple[float, ...], mode: str, device: str) -> torch.Tensor:
    k = torch.tensor(taps, dtype=torch.float64)
    r = k.numel() // 2
    src = pad_index(n, r, r, mode, torch.device("cpu"))
    o = torch.arange(n).view(n, 1)
    t = torch.arange(k.numel()).view(1, -1)
    m = torch.zeros(n, n, dtype=torch.float64)
    m.index_put_((o.expand(n, k.numel()), src[o + t]), k.view(1, -1).expand(n, -1), accumulate=True)
    return m.to(device)


def filter_matrix(n: int, kernel: torch.Tensor, mode: str, device: torch.device) -> torch.Tensor:
    """(n x n) matrix of a 1-D correlation with an odd-length ``kernel`` including the border.

    Filtering an axis is then one matrix product, which on CPU is much faster than
    ``conv2d`` with a single input channel, and handles kernels longer than the axis.
    """
    taps = tuple(float(v) for v in kernel.detach().cpu().to(torch.float64).flatten())
    return _filter_matrix_cached(n, taps, mode, str(device))


def separable_filter(x: torch.Tensor, kh: torch.Tensor, kw: torch.Tensor, mode: str) -> torch.Tensor:
    """Correlate every channel with ``kh`` along H and ``kw`` along W (odd lengths)."""
    h, w = x.shape[-2:]
    mh = filter_matrix(h, kh, mode, x.device).to(x.dtype)
    mw = filter_matrix(w, kw, mode, x.device).to(x.dtype)
    return mh @ x @ mw.T


@functools.lru_cache(maxsize=256)
def fft_size(n: int) -> int:
    """The smallest even length >= ``n`` whose only prime factors are 2, 3 and 5.

    The FFT libraries are several times slower at lengths with large prime factors: on the CPU
    a 282 x 282 transform (2 * 3 * 47) took 2.7x as long as a 288 x 288 one.
    """
    m = max(n + n % 2, 2)
    while True:
        r = m
        for p in (2, 3, 5):
            while r % p == 0:
                r //= p
        if r == 1:
            return m
        m += 2


def fft_filter(x: torch.Tensor, kernel: torch.Tensor, mode: str, origin: tuple[int, int] | None = None) -> torch.Tensor:
    """Correlate each channel with a 2-D kernel via FFT, after padding with ``mode``.

    ``out[p] = sum over (a, b) of kernel[a, b] * x[p + (a, b) - origin]``, borders by ``mode``.

    Args:
        x: (n, c, h, w).
        kernel: (kh, kw) shared, or (n, kh, kw) one per image.
        origin: the kernel element over the output pixel; default the centre (odd sizes).
    """
    n, c, h, w = x.shape
    if kernel.dim() == 2:
        kernel = kernel.unsqueeze(0)
    kh, kw = kernel.shape[-2:]
    oy, ox = origin if origin is not None else (kh // 2, kw // 2)
    xp = pad2d(x, (oy, kh - 1 - oy), (ox, kw - 1 - ox), mode)
    # zeros beyond the padded image do not reach the outputs kept below: any size >= its own works
    size = (fft_size(xp.shape[-2]), fft_size(xp.shape[-1]))
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    spec = torch.fft.rfft2(xp.to(dtype), s=size)
    kf = torch.fft.rfft2(torch.flip(kernel.to(device=x.device, dtype=dtype), (-2, -1)), s=size)
    out = torch.fft.irfft2(spec.mul_(kf.unsqueeze(1)), s=size)
    return out[..., kh - 1 : kh - 1 + h, kw - 1 : kw - 1 + w].to(x.dtype)


def gaussian_blur(x: torch.Tensor, sigma: float, mode: str = "nearest", truncate: float = 4.0) -> torch.Tensor:
    """``skimage.filters.gaussian`` per channel (default border ``nearest``, truncate 4)."""
    k = gaussian_kernel1d(sigma, truncate, x.device)
    return separable_filter(x, k, k, mode)


def filter2d(x: torch.Tensor, kernel: torch.Tensor, mode: str = "reflect101") -> torch.Tensor:
    """``cv2.filter2D`` per channel: correlation with an odd-sized 2-D kernel (direct for 3x3, else FFT)."""
    kh, kw = kernel.shape
    if kh * kw > 9:
        return fft_filter(x, kernel, mode)
    return correlate_small(pad2d(x, kh // 2, kw // 2, mode), kernel)


def correlate_small(padded: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Valid correlation of every channel with a small 2-D kernel, as shifted multiply-adds.

    ``F.conv2d`` with one input channel is slow on CPU (oneDNN has no good kernel for it);
    a few shifted adds over the whole batch are several times faster and equal up to rounding.
    """
    kh, kw = kernel.shape
    h, w = padded.shape[-2] - kh + 1, padded.shape[-1] - kw + 1
    taps = kernel.detach().cpu().tolist()
    out = None
    for i in range(kh):
        for j in range(kw):
            if taps[i][j] == 0:
                continue
            term = padded[..., i : i + h, j : j + w]
            out = term * taps[i][j] if out is None else out.add_(term, alpha=taps[i][j])
    return out if out is not None else torch.zeros_like(padded[..., :h, :w])


def box_blur3(x: torch.Tensor) -> torch.Tensor:
    """``cv2.blur(x, (3, 3))`` (normalised box, reflect-101 border)."""
    k = torch.full((3,), 1.0 / 3.0, dtype=torch.float64)
    return separable_filter(x, k, k, "reflect101")


@functools.lru_cache(maxsize=64)
def pil_box_spans(n_in: int, n_out: int) -> tuple[tuple[int, int], ...]:
    """Input spans ``[lo, hi)`` averaged by PIL's ``Image.BOX`` filter for each output sample.

    PIL evaluates the box filter (1 on ``(-0.5, 0.5]``) at input pixel centres, so every output
    is the plain mean of a contiguous run of input pixels. The arithmetic is PIL's own
    (``precompute_coeffs`` in ``Resample.c``), double for double, so ties at the span edges fall
    the same way.
    """
    scale = n_in / n_out
    filterscale = max(scale, 1.0)
    support = 0.5 * filterscale
    ss = 1.0 / filterscale
    spans = []
    for o in range(n_out):  # once per size, cached; not per image
        center = (o + 0.5) * scale
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        inside = [j for j in range(lo, hi) if -0.5 < (j - center + 0.5) * ss <= 0.5]
        spans.append((inside[0], inside[-1] + 1) if inside else (lo, lo + 1))
    return tuple(spans)


def pil_box_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out x n_in) float64 matrix of PIL's ``BOX`` resampling along one axis."""
    m = torch.zeros(n_out, n_in, dtype=torch.float64)
    for o, (lo, hi) in enumerate(pil_box_spans(n_in, n_out)):
        m[o, lo:hi] = 1.0 / (hi - lo)
    return m


def rgb_to_gray(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma (``cv2.COLOR_RGB2GRAY``), shape (N, 1, H, W)."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def shift_clamped(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Translate each image by integer (dy, dx) (per image), repeating the edge pixels.

    ``out[n, :, h, w] = x[n, :, clamp(h - dy[n]), clamp(w - dx[n])]``.
    """
    n, c, h, w = x.shape
    rows = (torch.arange(h, device=x.device).view(1, h) - dy.view(n, 1)).clamp(0, h - 1)
    cols = (torch.arange(w, device=x.device).view(1, w) - dx.view(n, 1)).clamp(0, w - 1)
    x = torch.gather(x, 2, rows.view(n, 1, h, 1).expand(n, c, h, w))
    return torch.gather(x, 3, cols.view(n, 1, 1, w).expand(n, c, h, w))


def motion_blur(
    x: torch.Tensor,
    radius: int,
    sigma: float,
    angle_deg: torch.Tensor,
    angle_range: tuple[float, float] = (-180.0, 180.0),
) -> torch.Tensor:
    """Line blur of ``imagecorruptions`` (its replacement for ImageMagick's motion blur).

    A one-sided Gaussian of ``2*radius+1`` taps along the direction ``angle_deg`` (one angle per
    image, degrees, all within ``angle_range``); taps are edge-clamped integer shifts, and taps
    from the first one that would leave the image on are dropped, as in the reference. The taps
    of each image are gathered into one sparse 2-D kernel and applied to the edge-padded batch
    with one FFT.
    """
    n, _, h, w = x.shape
    width = 2 * radius + 1
    t = torch.arange(width, dtype=torch.float64)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = (k / k.sum()).to(x.device)
    a = torch.deg2rad(angle_deg.to(device=x.device, dtype=torch.float64))
    i = t.to(x.device).view(1, -1)
    dy = -torch.ceil(i * torch.sin(a).view(-1, 1) - 0.5).long()  # (n, width)
    dx = -torch.ceil(i * torch.cos(a).view(-1, 1) - 0.5).long()
    alive = torch.cumprod(((dy.abs() < h) & (dx.abs() < w)).long(), 1).to(torch.float64)
    size = 2 * width + 1
    kern = torch.zeros(n, size * size, dtype=torch.float64, device=x.device)
    # output(h, w) takes x(h - dy, w - dx): a correlation tap at offset (-dy, -dx)
    flat = (width - dy) * size + (width - dx)
    kern.scatter_add_(1, flat, k.view(1, -1) * alive)
    # transform only the box the taps can reach for these angles (about half the square for a
    # 90-degree range), found from the geometry rather than the angles: no device sync
    r0, r1, c0, c1 = _motion_tap_box(width, angle_range)
    return fft_filter(
        x, kern.view(n, size, size)[:, r0 : r1 + 1, c0 : c1 + 1], "nearest", origin=(width - r0, width - c0)
    )


def _motion_tap_box(width: int, angle_range: tuple[float, float]) -> tuple[int, int, int, int]:
    """Rows and columns (first, last) of the (2 width + 1)^2 motion kernel that taps can reach."""
    lo, hi = (math.radians(a) for a in angle_range)
    # extremes of sin and cos over [lo, hi]: at its ends or at the multiples of 90 degrees inside
    angles = [lo, hi] + [k * math.pi / 2 for k in range(-8, 9) if lo <= k * math.pi / 2 <= hi]
    box = []
    for f in (math.sin, math.cos):
        v = [f(a) for a in angles]
        # offset -ceil(i v - 0.5), i in [0, width - 1], lies within 0.5 of -i v
        d_lo = math.floor(-(width - 1) * max(max(v), 0.0) - 0.5)
        d_hi = math.ceil(-(width - 1) * min(min(v), 0.0) + 0.5)
        box += [max(width - d_hi, 0), min(width - d_lo, 2 * width)]  # kernel index = width - offset
    return box[0], box[1], box[2], box[3]
