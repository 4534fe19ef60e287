"""Fourier-domain filters and Fourier basis perturbations on batches in [0,1].

``lowpass`` / ``highpass`` keep (or remove) a centred square of the shifted 2D spectrum:
at cutoff ``c`` (fraction of the half size) the square holds the frequencies with
``|f_y| <= c * H/2`` and ``|f_x| <= c * W/2`` (in cycles/image); the high-pass keeps exactly
the complement, so low + high reproduces the image. Results are clipped to [0,1].

``fourier_basis`` builds the real, unit-L2-norm Fourier basis image ``U_{i,j}`` of Yin et
al. 2019 ("A Fourier perspective on model robustness") for the frequency (i, j).

Example:
    >>> import torch
    >>> x = torch.rand(2, 3, 32, 32)
    >>> y = lowpass(x, 0.5)
    >>> tuple(y.shape)
    (2, 3, 32, 32)
"""
from __future__ import annotations

import torch


def square_mask(h: int, w: int, cutoff: float, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean (h, w) mask of the low frequencies in unshifted FFT layout.

    Args:
        h, w: image size.
        cutoff: fraction of the half size, in (0, 1]; 1 keeps every frequency.
    """
    fy = torch.fft.fftfreq(h, d=1.0 / h, device=device).abs()  # cycles/image
    fx = torch.fft.fftfreq(w, d=1.0 / w, device=device).abs()
    return (fy[:, None] <= cutoff * h / 2.0) & (fx[None, :] <= cutoff * w / 2.0)


def _filter(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    spec = torch.fft.fft2(x.float())
    out = torch.fft.ifft2(spec * keep.to(spec.dtype)).real
    return out.clamp_(0.0, 1.0).to(x.dtype)


def lowpass(x: torch.Tensor, cutoff: float) -> torch.Tensor:
    """Keep the frequencies inside the centred square at ``cutoff``; clip to [0,1]."""
    return _filter(x, square_mask(x.shape[-2], x.shape[-1], cutoff, x.device))


def highpass(x: torch.Tensor, cutoff: float) -> torch.Tensor:
    """Remove the frequencies inside the centred square at ``cutoff``; clip to [0,1]."""
    return _filter(x, ~square_mask(x.shape[-2], x.shape[-1], cutoff, x.device))


def fourier_basis(h: int, w: int, fy: int, fx: int, device: torch.device | str | None = None) -> torch.Tensor:
    """Real Fourier basis image of unit L2 norm for frequency (fy, fx) in cycles/image.

    Built as the inverse FFT of a spectrum that is 1 at (fy, fx) and at its mirror
    (-fy, -fx), so the image is real; normalised to L2 norm 1.
    """
    spec = torch.zeros(h, w, dtype=torch.complex64, device=device)
    spec[fy % h, fx % w] = 1.0
    spec[(-fy) % h, (-fx) % w] = 1.0
    img = torch.fft.ifft2(spec).real
    return img / img.norm().clamp_min(1e-12)


def add_fourier_basis(x: torch.Tensor, basis: torch.Tensor, eps: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """``clip(x + r * eps * U)`` with a random sign ``r`` per image and channel (Yin et al.).

    Args:
        x: (N, C, H, W) in [0,1].
        basis: (H, W) unit-norm basis image.
        eps: L2 norm of the perturbation per channel.
        generator: seeded generator on ``x.device`` for the signs.
    """
    n, c = x.shape[:2]
    signs = torch.randint(0, 2, (n, c, 1, 1), generator=generator, device=x.device).to(x.dtype) * 2 - 1
    return (x + signs * eps * basis.to(x.dtype)).clamp_(0.0, 1.0)


def fourier_grid_frequencies(size: int, steps: int) -> list[int]:
    """Evenly spaced non-negative frequencies 0..size//2 (``steps`` of them, deduplicated)."""
    top = size // 2
    if steps <= 1:
        return [0]
    vals = sorted({round(i * top / (steps - 1)) for i in range(steps)})
    return [int(v) for v in vals]
