"""Octave band-limited Gaussian noise from a Laplacian pyramid, batched on the device.

The critical-band masking protocol (Subramanian et al. 2023) splits white Gaussian noise
into octave bands with a Laplacian pyramid, keeps one band, and rescales it to the RMS of
the full-band noise. Band 0 is the coarsest (the pyramid's low-pass residual), band
``n_levels - 1`` the finest; for a 224 px image and 7 levels the band centres are
1.75 * 2**k cycles/image.

The pyramid here uses the 5-tap binomial kernel ``[1, 4, 6, 4, 1] / 16``; reduce = blur (reflect
padding) then keep every second pixel, expand = zero insertion then blur x 4 (computed polyphase).
The decomposition is exact: the bands of a noise image sum back to it.

Example:
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> bands = bandpass_noise_bands(4, 224, 224, n_levels=7, generator=g)
    >>> tuple(bands.shape)
    (7, 4, 1, 224, 224)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# 5-tap binomial kernel [1, 4, 6, 4, 1] / 16 (Burt & Adelson), applied separably by slicing:
# torch's conv2d with one channel is several times slower on CPU than these weighted sums.
_W = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)
# ITU-R 601 luma weights, as PIL's "L" conversion.
_LUMA = (0.299, 0.587, 0.114)


def _pad_mode(n: int) -> str:
    return "reflect" if n > 2 else "replicate"


def _down_last(x: torch.Tensor) -> torch.Tensor:
    """Blur and keep every second sample along the last axis (n -> ceil(n/2))."""
    n = x.shape[-1]
    m = (n + 1) // 2
    shape = x.shape
    xp = F.pad(x.reshape(-1, 1, n), (2, 2), mode=_pad_mode(n)).reshape(*shape[:-1], n + 4)
    return sum(w * xp[..., k:k + 2 * m - 1:2] for k, w in enumerate(_W))


def _up_last(x: torch.Tensor, n: int) -> torch.Tensor:
    """Expand along the last axis to length n: zero insertion + binomial blur x 2, computed
    polyphase (even outputs (x[i-1] + 6 x[i] + x[i+1]) / 8, odd outputs (x[i] + x[i+1]) / 2)."""
    m = x.shape[-1]
    shape = x.shape
    xp = F.pad(x.reshape(-1, 1, m), (1, 1), mode="replicate").reshape(*shape[:-1], m + 2)
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


def bandpass_noise_bands(
    n: int,
    h: int,
    w: int,
    n_levels: int = 7,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Unit-SD white noise split into octave bands, each rescaled to the full noise's RMS.

    Args:
        n: number of noise images.
        h, w: size.
        n_levels: number of bands.
        generator: seeded generator (on ``device``).
        device: where to generate.

    Returns:
        (n_levels, n, 1, h, w); index 0 = the coarsest band. Multiply by an SD to get
        noise of that RMS.
    """
    if n_levels > max_levels(h, w):
        raise ValueError(f"{n_levels} pyramid levels do not fit a {h}x{w} image (max {max_levels(h, w)})")
    if device is None and generator is not None:
        device = generator.device
    noise = torch.randn(n, 1, h, w, generator=generator, device=device)
    levels = laplacian_pyramid(noise, n_levels)
    rms_full = noise.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
    bands = []
    for k in range(n_levels):
        b = reconstruct_level(levels, n_levels - 1 - k, (h, w))
        rms = b.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt().clamp_min(1e-12)
        bands.append(b * (rms_full / rms))
    return torch.stack(bands)


def low_contrast_gray(x: torch.Tensor, contrast: float = 0.2, mean_level: float = 0.449) -> torch.Tensor:
    """Grayscale (N,1,H,W) of an RGB batch in [0,1], contrast reduced: ``(g - mean) * c + m``.

    The mean is each image's own mean luminance.
    """
    w = torch.tensor(_LUMA, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    g = (x * w).sum(dim=1, keepdim=True) if x.shape[1] == 3 else x[:, :1]
    return (g - g.mean(dim=(2, 3), keepdim=True)) * contrast + mean_level


def critical_band_stimulus(gray: torch.Tensor, band_noise: torch.Tensor, sd: float) -> torch.Tensor:
    """``clip(gray + sd * band_noise)`` replicated to 3 channels."""
    return (gray + sd * band_noise).clamp(0.0, 1.0).expand(-1, 3, -1, -1)


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
