"""Names of the ImageNet-C corruptions (no torch import: used to check configs cheaply)."""

from __future__ import annotations

import difflib

BENCHMARK = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
)
EXTRA = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
ALL = BENCHMARK + EXTRA
FAMILIES = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
    "extra": EXTRA,
}


def unknown_names(names: list[str]) -> list[str]:
    """Error lines (with did-you-mean hints) for names that are not corruptions."""
    out = []
    for n in names:
        if n not in ALL:
            close = difflib.get_close_matches(n, ALL, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            out.append(f"unknown corruption {n!r}.{hint}")
    return out
