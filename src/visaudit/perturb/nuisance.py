"""Continuous nuisance transforms for accuracy sweeps, batched on any device.

Each knob maps a scalar strength to a transform of a (N, 3, H, W) batch in [0, 1]. Colour
knobs use torchvision's tensor functional ops (the same definitions as its transforms).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from visaudit.perturb.corruptions import _filters as flt
from visaudit.perturb.corruptions.digital import jpeg_roundtrip
from visaudit.rng import Generators


def _tvf():
    import torchvision.transforms.v2.functional as F

    return F


def brightness(x: torch.Tensor, factor: float, gen: torch.Generator | None = None) -> torch.Tensor:
    """Multiply intensities by ``factor`` (1 = unchanged)."""
    return (x * factor).clamp(0, 1)


def contrast(x: torch.Tensor, factor: float, gen: torch.Generator | None = None) -> torch.Tensor:
    """Blend with the mean grey level (torchvision ``adjust_contrast``; 1 = unchanged)."""
    return _tvf().adjust_contrast(x, factor)


def saturation(x: torch.Tensor, factor: float, gen: torch.Generator | None = None) -> torch.Tensor:
    """Blend with the greyscale image (torchvision ``adjust_saturation``; 1 = unchanged, 0 = grey)."""
    return _tvf().adjust_saturation(x, factor)


def hue(x: torch.Tensor, shift: float, gen: torch.Generator | None = None) -> torch.Tensor:
    """Rotate the hue by ``shift`` turns in [-0.5, 0.5] (torchvision ``adjust_hue``)."""
    return _tvf().adjust_hue(x, shift)


def blur(x: torch.Tensor, sigma: float, gen: torch.Generator | None = None) -> torch.Tensor:
    """Gaussian blur with standard deviation ``sigma`` pixels (0 = unchanged)."""
    return x if sigma <= 0 else flt.gaussian_blur(x, sigma).clamp(0, 1)


def noise(x: torch.Tensor, sigma: float, gen: "Generators" = None) -> torch.Tensor:
    """Additive Gaussian noise of standard deviation ``sigma`` (seeded by ``gen``: a generator
    or :class:`~visaudit.rng.SampleGenerators`, one stream per image)."""
    if sigma <= 0:
        return x
    from visaudit.rng import randn

    z = randn(gen, x.shape, device=x.device).to(x.dtype)
    return (x + sigma * z).clamp(0, 1)


def jpeg(x: torch.Tensor, quality: float, gen: torch.Generator | None = None) -> torch.Tensor:
    """JPEG round trip at ``quality`` (1..100)."""
    return jpeg_roundtrip(x, int(quality))


def rotate(x: torch.Tensor, degrees: float, gen: torch.Generator | None = None) -> torch.Tensor:
    """Rotate about the centre (bilinear, black corners)."""
    if degrees == 0:
        return x
    from torchvision.transforms import InterpolationMode

    return _tvf().rotate(x, float(degrees), interpolation=InterpolationMode.BILINEAR, fill=0.0)


def translate(x: torch.Tensor, pixels: float, gen: torch.Generator | None = None) -> torch.Tensor:
    """Shift right and down by ``pixels`` (integer, black fill)."""
    p = int(round(pixels))
    if p == 0:
        return x
    out = torch.zeros_like(x)
    h, w = x.shape[-2:]
    if abs(p) >= min(h, w):
        return out
    if p > 0:
        out[..., p:, p:] = x[..., : h - p, : w - p]
    else:
        out[..., : h + p, : w + p] = x[..., -p:, -p:]
    return out


def shift_replicate(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Integer shift with the edge pixels repeated (for shift-consistency checks)."""
    n = x.shape[0]
    dev = x.device
    return flt.shift_clamped(x, torch.full((n,), dy, device=dev), torch.full((n,), dx, device=dev))


@dataclass(frozen=True)
class Knob:
    """A swept nuisance: its transform, the grid of strengths (in ``unit``) and its neutral value."""

    name: str
    fn: Callable[..., torch.Tensor]
    unit: str
    neutral: float


KNOBS: dict[str, Knob] = {
    "brightness": Knob("brightness", brightness, "factor", 1.0),
    "contrast": Knob("contrast", contrast, "factor", 1.0),
    "saturation": Knob("saturation", saturation, "factor", 1.0),
    "hue": Knob("hue", hue, "turns", 0.0),
    "blur": Knob("blur", blur, "sigma px", 0.0),
    "noise": Knob("noise", noise, "sigma", 0.0),
    "jpeg": Knob("jpeg", jpeg, "quality", 100.0),
    "rotation": Knob("rotation", rotate, "degrees", 0.0),
    "translation": Knob("translation", translate, "pixels", 0.0),
}


def default_grid(knob: str, side: int, steps: int = 9) -> list[float]:
    """The default sweep grid of a knob for images of ``side`` pixels."""
    import numpy as np

    lin = lambda a, b: [round(float(v), 6) for v in np.linspace(a, b, steps)]  # noqa: E731
    if knob == "brightness":
        return lin(0.2, 1.8)
    if knob == "contrast":
        return lin(0.1, 1.9)
    if knob == "saturation":
        return lin(0.0, 2.0)
    if knob == "hue":
        return lin(-0.5, 0.5)
    if knob == "blur":
        return lin(0.0, 6.0 * side / 224)  # ImageNet-C's strongest Gaussian blur, scaled to the side
    if knob == "noise":
        return lin(0.0, 0.4)
    if knob == "jpeg":
        return [100.0, 90.0, 75.0, 60.0, 45.0, 30.0, 20.0, 10.0, 5.0][: max(steps, 2)]
    if knob == "rotation":
        return lin(-45.0, 45.0)
    if knob == "translation":
        return [float(round(v)) for v in np.linspace(-side / 4, side / 4, steps)]
    raise KeyError(knob)


def normalised_auc(values: list[float], accuracies: list[float]) -> float:
    """Area under accuracy-vs-strength divided by the strength range (the mean accuracy over the range)."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    a = np.asarray(accuracies, dtype=float)
    order = np.argsort(v)
    v, a = v[order], a[order]
    span = v[-1] - v[0]
    if span <= 0:
        return float(a.mean())
    return float(np.sum((a[1:] + a[:-1]) / 2 * np.diff(v)) / span)
