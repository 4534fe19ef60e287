"""ImageNet-C / CIFAR-10-C corruptions as batched tensor functions.

All 15 benchmark corruptions and the 4 extra (validation) ones of Hendrycks & Dietterich
(2019), 5 severities each, with the benchmark's parameters: the ImageNet-C tables, or the
CIFAR-10-C tables for small inputs. Every function works on a whole (N, 3, H, W) batch in
[0, 1] on any device; randomness comes from one ``torch.Generator`` so a seed fixes the batch.

Behaviour on unusual inputs (tested in ``tests/test_corruptions_api.py``):

- uint8 batches (0..255) give uint8 results, quantised as the benchmark saved its images
  (``np.uint8`` of the float result: truncation); JPEG then never leaves uint8;
- grayscale (N, 1, H, W) batches are replicated to 3 channels and the result has 3 channels
  (as ``imagecorruptions`` does);
- images smaller than 32 px on a side are refused (the benchmark does not define them);
- non-square and odd sizes are supported; parameters given in pixels (elastic) scale with
  the shorter side;
- ``params="auto"`` picks the CIFAR-10-C table when both sides are at most 48 px, else ImageNet-C;
- unknown names raise with a did-you-mean hint, severities must be integers 1..5.

Example:
    >>> import torch
    >>> from visaudit.perturb.corruptions import corrupt
    >>> x = torch.rand(4, 3, 224, 224)
    >>> y = corrupt(x, "gaussian_noise", 3, generator=torch.Generator().manual_seed(0))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from visaudit.errors import VisauditError
from visaudit.registry import Registry

CorruptionFn = Callable[[torch.Tensor, int, "torch.Generator | None", str], torch.Tensor]

from visaudit.perturb.corruption_names import BENCHMARK, EXTRA, FAMILIES  # noqa: E402,F401

SEVERITIES = (1, 2, 3, 4, 5)
MIN_SIDE = 32
CIFAR_MAX_SIDE = 48


@dataclass(frozen=True)
class Corruption:
    """One registered corruption: the function and what kind of corruption it is."""

    name: str
    family: str
    fn: CorruptionFn
    random: bool
    benchmark: bool
    fn_uint8: CorruptionFn | None = None  # a native uint8 -> uint8 version, where one is faster

    def __call__(
        self, x: torch.Tensor, severity: int, generator: torch.Generator | None = None, params: str = "auto"
    ) -> torch.Tensor:
        return corrupt(x, self.name, severity, generator=generator, params=params)


CORRUPTIONS: Registry[Corruption] = Registry("corruption")

_DETERMINISTIC = {
    "defocus_blur",
    "zoom_blur",
    "brightness",
    "contrast",
    "pixelate",
    "jpeg_compression",
    "gaussian_blur",
    "saturate",
}


def _register_all() -> None:
    from visaudit.perturb.corruptions import blur, digital, noise, spatter, weather

    modules = {"noise": noise, "blur": blur, "weather": weather, "digital": digital}
    family_of = {n: f for f, names in FAMILIES.items() if f != "extra" for n in names}
    family_of.update({"speckle_noise": "noise", "gaussian_blur": "blur", "spatter": "weather", "saturate": "digital"})
    for name in BENCHMARK + EXTRA:
        fam = family_of[name]
        fn = getattr(spatter, name) if name == "spatter" else getattr(modules[fam], name)
        CORRUPTIONS.register(name, (fn.__doc__ or "").strip().splitlines()[0])(
            Corruption(
                name,
                fam,
                fn,
                name not in _DETERMINISTIC,
                name in BENCHMARK,
                getattr(modules[fam], f"{name}_uint8", None),
            )
        )


_register_all()


def resolve_params(height: int, width: int, params: str = "auto") -> str:
    """The parameter table used for an image size: ``"cifar"`` for small images, else ``"imagenet"``."""
    if params == "auto":
        return "cifar" if max(height, width) <= CIFAR_MAX_SIDE else "imagenet"
    if params not in ("imagenet", "cifar"):
        raise VisauditError(f"params must be 'auto', 'imagenet' or 'cifar', not {params!r}")
    return params


def check_severity(severity: object) -> int:
    """Validate a severity (an integer 1..5)."""
    if isinstance(severity, bool) or not isinstance(severity, int) or severity not in SEVERITIES:
        raise VisauditError(f"corruption severity must be an integer from 1 to 5, got {severity!r}")
    return severity


def prepare_batch(x: torch.Tensor) -> torch.Tensor:
    """Validate a batch and bring it to (N, 3, H, W), float or uint8; see the module doc for the rules."""
    if not isinstance(x, torch.Tensor):
        raise VisauditError(f"corruptions take a torch.Tensor batch, got {type(x).__name__}")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise VisauditError(f"expected a batch of shape (N, C, H, W), got shape {tuple(x.shape)}")
    if not (x.is_floating_point() or x.dtype == torch.uint8):
        raise VisauditError(f"expected float pixels in [0, 1] or uint8 pixels, got dtype {x.dtype}")
    n, c, h, w = x.shape
    if c == 1:
        x = x.expand(n, 3, h, w)
    elif c != 3:
        raise VisauditError(f"expected 1 (grayscale) or 3 (RGB) channels, got {c}")
    if min(h, w) < MIN_SIDE:
        raise VisauditError(
            f"images of {h}x{w} px are too small for the corruption benchmark (at least {MIN_SIDE} px per side); "
            "upsample them first"
        )
    return x.contiguous()


def corrupt(
    x: torch.Tensor, name: str, severity: int, *, generator: torch.Generator | None = None, params: str = "auto"
) -> torch.Tensor:
    """Corrupt a batch.

    Args:
        x: (N, 3, H, W) or (N, 1, H, W) float images in [0, 1], or uint8 images, any device.
        name: a corruption name (``CORRUPTIONS.names()``).
        severity: 1..5.
        generator: source of randomness (same seed, same output); ``None`` uses torch's global RNG.
        params: ``"auto"``, ``"imagenet"`` (ImageNet-C tables) or ``"cifar"`` (CIFAR-10-C tables).

    Returns:
        The corrupted batch, same dtype (float in [0, 1], or uint8 quantised like the benchmark's
        stored images), same shape (3 channels) and device.
    """
    spec = CORRUPTIONS.get(name)
    severity = check_severity(severity)
    x = prepare_batch(x)
    table = resolve_params(x.shape[-2], x.shape[-1], params)
    if x.dtype == torch.uint8:
        if spec.fn_uint8 is not None:
            return spec.fn_uint8(x, severity, generator, table)
        return quantize_like_reference(spec.fn(x.float().div_(255), severity, generator, table))
    out = spec.fn(x, severity, generator, table)
    return out.to(x.dtype)


def quantize_like_reference(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] floats to uint8 as the benchmark's generators stored them (``np.uint8``: truncation)."""
    return (x * 255).clamp_(0, 255).to(torch.uint8)


def to_uint8_like_reference(x: torch.Tensor) -> torch.Tensor:
    """:func:`quantize_like_reference`, back in ``x``'s dtype (values k / 255)."""
    return quantize_like_reference(x).to(x.dtype) / 255
