"""Fourier-domain filters and Fourier basis perturbations on batches in [0,1].

``lowpass`` / ``highpass`` follow ``bandpass_filter`` in Gavrikov & Keuper's public code
(github.com/paulgavrikov/biases_vs_generalization, ``code/eval_spectral.py``), the protocol
behind the published spectral-bias numbers:

* the mask is a square of the centred (fftshifted) spectrum with half sizes
  ``r_y = int(c * (H // 2))`` and ``r_x = int(c * (W // 2))`` (truncated), covering the
  shifted rows ``H//2 - r_y .. H//2 + r_y - 1``: frequencies ``-r_y .. r_y - 1`` cycles/image,
  one more negative than positive, exactly as the reference slices it;
* the low-pass at cutoff ``c`` keeps that square at ``c``; the high-pass at cutoff ``c``
  removes the square at ``1 - c``, so it keeps roughly the highest fraction ``c`` of the
  frequencies (``c`` is "how much passes" for both filters);
* the result is the real part of the inverse FFT, clipped to [0,1].

``fourier_basis`` builds the real, unit-L2-norm Fourier basis image ``U_{i,j}`` of Yin et
al. 2019 ("A Fourier perspective on model robustness") for the frequency (i, j).

Example:
    >>> import torch
    >>> x = torch.rand(2, 3, 32, 32)
    >>> y = lowpass(x, 0.5)
    >>> tuple(y.shape)
    (2, 3, 32, 32)
    >>> int(square_mask(32, 32, 0.5).sum())  # frequencies -8..7 on each axis
    256
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.rng import Generators


def square_mask(h: int, w: int, cutoff: float, device: torch.device | str | None = None) -> torch.Tensor:
    """Boolean (h, w) mask, unshifted FFT layout, of the reference's centred square at ``cutoff``.

    Holds the frequencies ``f_y`` in ``-r_y .. r_y - 1`` and ``f_x`` in ``-r_x .. r_x - 1``
    (cycles/image) with ``r = int(cutoff * (size // 2))``: the slice
    ``[size//2 - r : size//2 + r]`` of the fftshifted spectrum.

    Args:
        h, w: image size.
        cutoff: fraction of the half size, in [0, 1]; 0 gives an empty mask.
    """
    if not 0.0 <= cutoff <= 1.0:
        raise ValueError(f"cutoff must be in [0, 1], got {cutoff}")
    ry, rx = int(cutoff * (h // 2)), int(cutoff * (w // 2))  # Python float product, truncated as the reference
    fy = torch.fft.fftfreq(h, d=1.0 / h, device=device).round()  # integer cycles/image, fft order
    fx = torch.fft.fftfreq(w, d=1.0 / w, device=device).round()
    # fftfreq puts +n/2 at -n/2 for even n, which is where fftshift puts it too
    return ((fy >= -ry) & (fy <= ry - 1))[:, None] & ((fx >= -rx) & (fx <= rx - 1))[None, :]


def _filter(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    spec = torch.fft.fft2(x.float())
    out = torch.fft.ifft2(spec * keep.to(spec.dtype)).real
    return out.clamp_(0.0, 1.0).to(x.dtype)


def lowpass(x: torch.Tensor, cutoff: float) -> torch.Tensor:
    """Keep the centred square at ``cutoff`` (see :func:`square_mask`); clip to [0,1]."""
    return _filter(x, square_mask(x.shape[-2], x.shape[-1], cutoff, x.device))


def highpass(x: torch.Tensor, cutoff: float) -> torch.Tensor:
    """Remove the centred square at ``1 - cutoff``, keeping about the highest fraction ``cutoff``
    of the frequencies (the reference filters at ``1 - c``); clip to [0,1]."""
    return _filter(x, ~square_mask(x.shape[-2], x.shape[-1], 1.0 - cutoff, x.device))


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


def add_fourier_basis(x: torch.Tensor, basis: torch.Tensor, eps: float, generator: "Generators" = None) -> torch.Tensor:
    """``clip(x + r * eps * U)`` with a random sign ``r`` per image and channel (Yin et al.).

    Args:
        x: (N, C, H, W) in [0,1].
        basis: (H, W) unit-norm basis image.
        eps: L2 norm of the perturbation per channel.
        generator: a seeded generator, or :class:`~visaudit.rng.SampleGenerators` (one per image).
    """
    from visaudit.rng import randint

    n, c = x.shape[:2]
    signs = randint(generator, 0, 2, (n, c, 1, 1), device=x.device).to(x.dtype) * 2 - 1
    return (x + signs * eps * basis.to(x.dtype)).clamp_(0.0, 1.0)


def fourier_grid_frequencies(size: int, steps: int) -> list[int]:
    """Evenly spaced non-negative frequencies 0..size//2 (``steps`` of them, deduplicated)."""
    top = size // 2
    if steps <= 1:
        return [0]
    vals = sorted({round(i * top / (steps - 1)) for i in range(steps)})
    return [int(v) for v in vals]
