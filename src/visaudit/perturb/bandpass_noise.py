"""Octave band-limited Gaussian noise and critical-band stimuli, batched on the device.

Follows ``solomon_filter`` of the critical-band masking code (Subramanian et al. 2023,
github.com/ajaysub110/critical-band-masking ``methods.py``; the same function is in Gavrikov
& Keuper's ``code/eval_criticalband.py``), which splits white Gaussian noise with pyrtools'
``LaplacianPyramid`` (5-tap binomial filter, ``reflect1`` edges, automatic height: 7 levels
at 224 px) and keeps the reconstruction of one level:

* band ``f`` (0 = coarsest, the low-pass residual) is pyramid level ``n_levels - 1 - f``;
  for a 224 px image and 7 levels the band centres are 1.75 * 2**f cycles/image;
* each band is rescaled to the RMS of the *finest* band (level 0) of the same noise image,
  as the reference does (``recon * rms(first_recon) / rms(recon)``); the finest band carries
  about 0.94 of the full noise's RMS. :func:`band_noise` with ``rescale="full"`` rescales to
  the full noise instead (a departure, not the reference);
* pixels pushed out of [0,1] are moved to ``epsilon`` (0.1) from the limit by shifting the
  image pixel, and where that shift would leave [0,1] the noise pixel is redrawn from the
  white noise ``N(0, sd)`` until the pixel lies in [0,1] (:func:`critical_band_stimulus`);
  clipping is available as a departure.

The pyramid here matches pyrtools' up to a scale per level (pyrtools' binomial filter sums to
sqrt(2), which cancels between the reduce and the expand): reduce = correlate with
``[1, 4, 6, 4, 1] / 16`` with mirror (reflect-without-repeat) padding, keep every second
pixel; expand = zero insertion to the finer size, mirror padding of the zero-filled signal,
correlate with ``[1, 4, 6, 4, 1] / 8`` (computed polyphase). The decomposition is exact: the
levels sum back to the noise.

Example:
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> bands = bandpass_noise_bands(4, 224, 224, n_levels=7, generator=g)
    >>> tuple(bands.shape)
    (7, 4, 1, 224, 224)
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from visaudit.rng import Generators, rand, randn

# 5-tap binomial kernel [1, 4, 6, 4, 1] / 16 (Burt & Adelson), applied separably by slicing:
# torch's conv2d with one channel is several times slower on CPU than these weighted sums.
_W = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)
#: the reference's minimum gap between a shifted out-of-range pixel and the limit (EPSILON)
OOB_EPSILON = 0.1


def _pad_mode(n: int) -> str:
    return "reflect" if n > 2 else "replicate"


def _down_last(x: torch.Tensor) -> torch.Tensor:
    """Blur and keep every second sample along the last axis (n -> ceil(n/2)), mirror edges."""
    n = x.shape[-1]
    m = (n + 1) // 2
    shape = x.shape
    xp = F.pad(x.reshape(-1, 1, n), (2, 2), mode=_pad_mode(n)).reshape(*shape[:-1], n + 4)
    return sum(w * xp[..., k : k + 2 * m - 1 : 2] for k, w in enumerate(_W))


def _up_last(x: torch.Tensor, n: int) -> torch.Tensor:
    """Expand along the last axis to length n = 2m or 2m - 1, as pyrtools' ``upConv`` with
    ``reflect1`` edges: zero insertion, mirror padding of the zero-filled signal, binomial blur x 2.

    Polyphase: even outputs ``(x[i-1] + 6 x[i] + x[i+1]) / 8``, odd ``(x[i] + x[i+1]) / 2``.
    Mirroring the zero-filled signal about its first sample gives ``x[-1] = x[1]``; about its
    last sample it gives ``x[m] = x[m-2]`` when n is odd (the last sample is a coefficient) and
    ``x[m] = x[m-1]`` when n is even (the last sample is an inserted zero).
    """
    m = x.shape[-1]
    if m < 2:
        return x.expand(*x.shape[:-1], n).clone()
    left = x[..., 1:2]
    right = x[..., m - 2 : m - 1] if n % 2 else x[..., m - 1 : m]
    xp = torch.cat((left, x, right), dim=-1)
    even = (xp[..., :-2] + 6.0 * xp[..., 1:-1] + xp[..., 2:]) * 0.125
    odd = (xp[..., 1:-1] + xp[..., 2:]) * 0.5
    return torch.stack((even, odd), dim=-1).flatten(-2)[..., :n]


def pyr_down(x: torch.Tensor) -> torch.Tensor:
    """Blur and subsample by 2 (size ``ceil(H/2) x ceil(W/2)``)."""
    x = _down_last(x)
    return _down_last(x.transpose(-1, -2)).transpose(-1, -2)


def pyr_up(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Expand to ``size`` (zero insertion and binomial blur, scaled to keep the mean)."""
    x = _up_last(x, int(size[1]))
    return _up_last(x.transpose(-1, -2), int(size[0])).transpose(-1, -2).contiguous()


def laplacian_pyramid(x: torch.Tensor, n_levels: int) -> list[torch.Tensor]:
    """Levels 0 (finest band) .. n_levels-1 (low-pass residual) of (N, 1, H, W)."""
    levels: list[torch.Tensor] = []
    cur = x
    for _ in range(n_levels - 1):
        down = pyr_down(cur)
        levels.append(cur - pyr_up(down, cur.shape[-2:]))
        cur = down
    levels.append(cur)
    return levels


def reconstruct_level(levels: list[torch.Tensor], level: int, size: tuple[int, int]) -> torch.Tensor:
    """Full-resolution image of pyramid level ``level`` alone (all other levels zero)."""
    out = levels[level]
    for j in range(level - 1, -1, -1):
        out = pyr_up(out, levels[j].shape[-2:])
    if tuple(out.shape[-2:]) != tuple(size):  # pragma: no cover - sizes are consistent by construction
        raise RuntimeError("pyramid sizes do not match")
    return out


def max_levels(h: int, w: int) -> int:
    """Most pyramid levels whose residual is still at least 2 px on the short side."""
    n, s = 1, min(h, w)
    while s > 3:
        s = (s + 1) // 2
        n += 1
    return n


def _rms(x: torch.Tensor) -> torch.Tensor:
    return x.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()


@functools.lru_cache(maxsize=16)
def _axis_operators(n: int, n_levels: int) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """Per level L, 1-D matrices (P_L, Q_L) (float64, CPU) with ``Q_L`` = L reduces and ``P_L`` =
    L expands along one axis of length n, built by applying :func:`_down_last` / :func:`_up_last`
    to the identity (so the filters have one definition). Level 0 is the identity."""
    sizes = [n]
    for _ in range(n_levels - 1):
        sizes.append((sizes[-1] + 1) // 2)
    eye = torch.eye(n, dtype=torch.float64)
    ops = [(eye, eye)]
    p, q = eye, eye
    for lev in range(1, n_levels):
        fine, coarse = torch.eye(sizes[lev - 1], dtype=torch.float64), torch.eye(sizes[lev], dtype=torch.float64)
        down = _down_last(fine).T  # (coarse, fine): column j is the reduce of unit vector j
        up = _up_last(coarse, sizes[lev - 1]).T  # (fine, coarse)
        q, p = down @ q, p @ up
        ops.append((p.contiguous(), q.contiguous()))
    return tuple(ops)


def _operators(n: int, n_levels: int, like: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(p.to(like.device, like.dtype), q.to(like.device, like.dtype)) for p, q in _axis_operators(n, n_levels)]


def _blur_projection(
    x: torch.Tensor, rows: tuple[torch.Tensor, torch.Tensor], cols: tuple[torch.Tensor, torch.Tensor]
) -> torch.Tensor:
    """``Expand^L(Reduce^L(x))`` as ``P_h (Q_h x Q_w^T) P_w^T`` (one level's Gaussian image, full size)."""
    (ph, qh), (pw, qw) = rows, cols
    return ph @ (qh @ x @ qw.T) @ pw.T


def band_noise(
    noise: torch.Tensor, n_levels: int = 7, bands: list[int] | None = None, rescale: str = "finest"
) -> torch.Tensor:
    """Split noise (N, 1, H, W) into octave bands, each rescaled per image.

    Level L of the Laplacian pyramid, reconstructed alone, is ``E^L R^L x - E^(L+1) R^(L+1) x``
    (R = reduce, E = expand; the top level is the residual ``E^L R^L x``): the same linear maps
    as :func:`laplacian_pyramid` + :func:`reconstruct_level`, applied as small matrix products,
    which is several times faster on the CPU than filtering level by level.

    Args:
        noise: the noise images (any SD: the rescaling keeps their scale).
        n_levels: pyramid levels (bands).
        bands: which bands (0 = coarsest) to return; all by default.
        rescale: ``"finest"`` (the reference): every band gets the RMS of the finest band of the
            same noise image; ``"full"``: the RMS of the whole noise image.

    Returns:
        (len(bands), N, 1, H, W).
    """
    if rescale not in ("finest", "full"):
        raise ValueError(f"rescale must be 'finest' or 'full', not {rescale!r}")
    h, w = noise.shape[-2:]
    if n_levels > max_levels(h, w):
        raise ValueError(f"{n_levels} pyramid levels do not fit a {h}x{w} image (max {max_levels(h, w)})")
    rows, cols = _operators(h, n_levels, noise), _operators(w, n_levels, noise)
    proj: dict[int, torch.Tensor] = {0: noise}

    def gauss(lev: int) -> torch.Tensor:
        if lev not in proj:
            proj[lev] = _blur_projection(noise, rows[lev], cols[lev])
        return proj[lev]

    def level(lev: int) -> torch.Tensor:
        return gauss(lev) if lev == n_levels - 1 else gauss(lev) - gauss(lev + 1)

    target = _rms(level(0)) if rescale == "finest" else _rms(noise)
    out = []
    for k in range(n_levels) if bands is None else bands:
        b = level(n_levels - 1 - int(k))
        out.append(b * (target / _rms(b).clamp_min(1e-12)))
    return torch.stack(out)


def bandpass_noise_bands(
    n: int,
    h: int,
    w: int,
    n_levels: int = 7,
    generator: Generators = None,
    device: torch.device | str | None = None,
    rescale: str = "finest",
) -> torch.Tensor:
    """Unit-SD white noise split into octave bands (see :func:`band_noise`).

    Args:
        n: number of noise images.
        h, w: size.
        n_levels: number of bands.
        generator: a seeded ``torch.Generator`` or per-sample generators (:mod:`visaudit.rng`).
        device: where to generate.
        rescale: ``"finest"`` or ``"full"`` (see :func:`band_noise`).

    Returns:
        (n_levels, n, 1, h, w); index 0 = the coarsest band. Multiply by an SD to get
        noise of that SD (as the reference scales its white noise before splitting).
    """
    if n_levels > max_levels(h, w):
        raise ValueError(f"{n_levels} pyramid levels do not fit a {h}x{w} image (max {max_levels(h, w)})")
    noise = randn(generator, (n, 1, h, w), device=device)
    return band_noise(noise, n_levels, rescale=rescale)


def pil_gray(x: torch.Tensor) -> torch.Tensor:
    """(N,1,H,W) luma in [0,1] exactly as PIL's ``convert("L")`` of the 8-bit image.

    The reference converts the 8-bit RGB image with PIL: ``L = (19595 R + 38470 G + 7471 B
    + 2**15) >> 16`` in integers (ITU-R 601 weights, rounded), then divides by 255. ``x`` is
    first rounded to 8 bits as ``ToTensor`` inverted (a 1-channel batch is only rounded).
    """
    q = (x.clamp(0.0, 1.0) * 255.0).round().to(torch.int32)
    if q.shape[1] == 3:
        q = (q[:, 0:1] * 19595 + q[:, 1:2] * 38470 + q[:, 2:3] * 7471 + 0x8000) >> 16
    else:
        q = q[:, :1]
    return q.to(torch.float32) / 255.0


def low_contrast_gray(x: torch.Tensor, contrast: float = 0.2, mean_level: float = 0.449) -> torch.Tensor:
    """Grayscale (N,1,H,W) of a batch in [0,1] (PIL's "L"), contrast reduced: ``(g - mean) * c + m``.

    The mean is each image's own mean luminance.
    """
    g = pil_gray(x)
    return (g - g.mean(dim=(2, 3), keepdim=True)) * contrast + mean_level


def _truncated_normal(gen: Generators, low: torch.Tensor, high: torch.Tensor, sd: float) -> torch.Tensor:
    """``N(0, sd)`` draws conditioned on ``[low, high]`` (inverse CDF; the same law as redrawing
    until the value falls inside, which the reference does). First axis: the samples."""
    u = rand(gen, tuple(low.shape), device=low.device).double()
    a = torch.special.ndtr(low.double() / sd)
    b = torch.special.ndtr(high.double() / sd)
    z = torch.special.ndtri((a + u * (b - a)).clamp(1e-300, 1 - 1e-16))
    return (sd * z).clamp(low.double(), high.double()).to(low.dtype)


def critical_band_stimulus(
    gray: torch.Tensor,
    band_noise: torch.Tensor,
    sd: float,
    out_of_range: str = "shift",
    epsilon: float = OOB_EPSILON,
    generator: Generators = None,
) -> torch.Tensor:
    """``gray + sd * band_noise`` brought into [0,1], replicated to 3 channels.

    Args:
        gray: (N,1,H,W) low-contrast gray images.
        band_noise: (N,1,H,W) band noise of the white noise's unit SD.
        sd: noise SD.
        out_of_range: ``"shift"`` (the reference): a pixel below 0 becomes ``epsilon``, one
            above 1 becomes ``1 - epsilon`` (the image pixel is moved, the noise kept); where that
            image pixel would itself leave [0,1], the noise pixel is redrawn from ``N(0, sd)``
            until the sum lies in [0,1]. ``"clip"``: clip to [0,1] (a departure).
        epsilon: the reference's gap (0.1).
        generator: draws for the redrawn noise pixels (rarely needed: the noise must exceed
            ``1 - epsilon`` in magnitude).
    """
    noise = sd * band_noise
    noisy = gray + noise
    if out_of_range == "clip":
        return noisy.clamp(0.0, 1.0).expand(-1, 3, -1, -1)
    if out_of_range != "shift":
        raise ValueError(f"out_of_range must be 'shift' or 'clip', not {out_of_range!r}")
    below, above = noisy < 0, noisy > 1
    redraw = (below & (epsilon - noise > 1)) | (above & (1 - epsilon - noise < 0))
    out = torch.where(below, torch.full_like(noisy, epsilon), noisy)
    out = torch.where(above, torch.full_like(noisy, 1 - epsilon), out)
    if bool(redraw.any()):
        fresh = _truncated_normal(generator, -gray, 1 - gray, sd)
        out = torch.where(redraw, gray + fresh, out)
    return out.expand(-1, 3, -1, -1)


def spectral_downsample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize (…, H, W) down to ``size`` by keeping only the frequencies the smaller grid can hold.

    An ideal low-pass: unlike area averaging (a box filter with strong side lobes), content
    above the new Nyquist frequency is removed instead of aliased into lower frequencies.
    Pixel amplitudes are preserved (a constant image stays the same constant).
    """
    H, W = x.shape[-2:]
    h, w = int(size[0]), int(size[1])
    if (h, w) == (H, W):
        return x
    spec = torch.fft.fft2(x.float())
    fy = torch.fft.fftfreq(h, d=1.0 / h).round().long() % H
    fx = torch.fft.fftfreq(w, d=1.0 / w).round().long() % W
    small = spec.index_select(-2, fy.to(x.device)).index_select(-1, fx.to(x.device))
    return torch.fft.ifft2(small).real * (h * w) / (H * W)
