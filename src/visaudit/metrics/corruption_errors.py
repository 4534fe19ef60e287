"""Corruption error (CE), mCE and relative mCE (Hendrycks & Dietterich 2019).

``CE_c = mean_s E(c, s) / mean_s E_AlexNet(c, s)``; ``mCE`` is the mean over the 15 benchmark
corruptions. Relative CE subtracts the clean error of each model first. The AlexNet errors are
the published per-corruption means over severities 1..5 on ImageNet-C.

Example:
    >>> round(corruption_error([0.5] * 5, baseline=0.5), 3)
    1.0
"""

from __future__ import annotations

from typing import Mapping, Sequence

ALEXNET_ERRORS: dict[str, float] = {
    "gaussian_noise": 0.886428,
    "shot_noise": 0.894468,
    "impulse_noise": 0.922640,
    "defocus_blur": 0.819880,
    "glass_blur": 0.826268,
    "motion_blur": 0.785948,
    "zoom_blur": 0.798360,
    "snow": 0.866816,
    "frost": 0.826572,
    "fog": 0.819324,
    "brightness": 0.564592,
    "contrast": 0.853204,
    "elastic_transform": 0.646056,
    "pixelate": 0.717840,
    "jpeg_compression": 0.606500,
}
ALEXNET_CLEAN_ERROR = 0.43477  # AlexNet top-1 error on clean ImageNet val (for relative mCE)


def corruption_error(errors: Sequence[float], baseline: float = 1.0) -> float:
    """Mean error over severities divided by the baseline's mean error."""
    return sum(errors) / len(errors) / baseline


def relative_corruption_error(
    errors: Sequence[float], clean_error: float, baseline: float = 1.0, baseline_clean: float = 0.0
) -> float:
    """Mean of (error - clean error) divided by the baseline's (mean error - clean error)."""
    return (sum(errors) / len(errors) - clean_error) / (baseline - baseline_clean)


def mean_corruption_error(per_corruption: Mapping[str, Sequence[float]], *, normalise: bool = True) -> dict[str, float]:
    """CE for every corruption and their mean (``mce``); AlexNet-normalised when ``normalise``."""
    out = {}
    for name, errs in per_corruption.items():
        out[name] = corruption_error(errs, ALEXNET_ERRORS[name] if normalise else 1.0)
    out_mean = sum(out.values()) / len(out) if out else float("nan")
    return {"mce": out_mean, **{f"ce@{k}": v for k, v in out.items()}}


def relative_mce(per_corruption: Mapping[str, Sequence[float]], clean_error: float, *, normalise: bool = True) -> float:
    """Relative mCE: mean over corruptions of the AlexNet-normalised error increase."""
    vals = [
        relative_corruption_error(errs, clean_error, ALEXNET_ERRORS[name], ALEXNET_CLEAN_ERROR)
        if normalise
        else relative_corruption_error(errs, clean_error)
        for name, errs in per_corruption.items()
    ]
    return sum(vals) / len(vals) if vals else float("nan")
