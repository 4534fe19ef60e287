"""Where an adversarial perturbation's energy sits: image border band and YCbCr channels.

Pure functions on batches of perturbations ``delta`` (n,3,H,W) in RGB pixel units.
"""

from __future__ import annotations

import torch

# ITU-R BT.601 RGB -> YCbCr (the linear part; offsets do not matter for perturbations).
_YCBCR = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def border_mask(h: int, w: int, width: int, device: torch.device | None = None) -> torch.Tensor:
    """Bool (H,W): True in the band of ``width`` pixels along the image border."""
    m = torch.ones(h, w, dtype=torch.bool, device=device)
    if width > 0:
        m[width : h - width, width : w - width] = False
    return m


def border_energy_share(delta: torch.Tensor, width: int) -> torch.Tensor:
    """Per sample: squared-perturbation energy in the border band / total energy."""
    e = delta.float().pow(2).sum(1)  # (n,H,W)
    band = border_mask(e.shape[1], e.shape[2], width, e.device)
    total = e.flatten(1).sum(1)
    return e[:, band].sum(1) / total.clamp_min(1e-30)


def uniform_border_share(h: int, w: int, width: int) -> float:
    """The share a perturbation spread evenly over the pixels would put in the band."""
    return float(border_mask(h, w, width).float().mean())


def ycbcr_energy(delta: torch.Tensor) -> torch.Tensor:
    """(n,3) energy of the perturbation in the Y, Cb and Cr channels."""
    m = _YCBCR.to(delta.device)
    ycc = torch.einsum("kc,nchw->nkhw", m, delta.float())
    return ycc.pow(2).flatten(2).sum(2)


def y_energy_share(delta: torch.Tensor) -> torch.Tensor:
    """Per sample: Y-channel energy / (Y + Cb + Cr) energy."""
    e = ycbcr_energy(delta)
    return e[:, 0] / e.sum(1).clamp_min(1e-30)


def uniform_y_share() -> float:
    """Expected Y share of an isotropic (i.i.d. per RGB channel) perturbation."""
    rows = _YCBCR.pow(2).sum(1)
    return float(rows[0] / rows.sum())
