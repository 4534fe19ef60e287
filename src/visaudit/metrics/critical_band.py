"""Critical-band masking analysis: thresholds, Gaussian fit and its derived parameters.

Definitions (Subramanian et al. 2023, as used by Gavrikov & Keuper 2024; reference code
``find_thresholds``, ``fit_gaussian`` and ``channel_props`` in github.com/ajaysub110/
critical-band-masking ``analysis/analysis.py``): the accuracy grid has 5 rows (noise SD 0,
.02, .04, .08, .16) and 7 columns (octave bands 0..6, centre frequencies 1.75 * 2**k
cycles/image). The threshold of a band counts, from the highest SD downwards, the rows with
accuracy <= 50 % until the first row above 50 % (capped at 4, as the reference's loop). A
Gaussian ``A * exp(-(x - mu)**2 / (2 s**2))`` with ``A`` in [0, 4] is fitted to the 7
thresholds (start A=1, mu=0, s=1). The bandwidth is reported from ``|s|``: the Gaussian does
not fix the sign of ``s``, and the reference's ``2 sqrt(ln 4) s`` would turn negative when the
optimiser lands on ``-s``.

Example:
    >>> import numpy as np
    >>> grid = np.full((5, 7), 90.0); grid[3:, 3] = 10.0
    >>> band_thresholds(grid).tolist()
    [0, 0, 0, 2, 0, 0, 0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NOISE_SDS = (0.0, 0.02, 0.04, 0.08, 0.16)
N_BANDS = 7
#: centre frequency of band k is BASE_FREQUENCY * 2**k cycles/image.
BASE_FREQUENCY = 1.75


def band_centre_frequencies(n_bands: int = N_BANDS) -> np.ndarray:
    """Centre frequencies (cycles/image) of the octave bands 0..n_bands-1."""
    return BASE_FREQUENCY * 2.0 ** np.arange(n_bands)


def band_thresholds(grid: np.ndarray, criterion: float = 50.0) -> np.ndarray:
    """Integer threshold per band from an accuracy grid in %.

    Args:
        grid: (5, n_bands) accuracies in %, rows ordered by increasing noise SD with the
            clean row first.
        criterion: accuracy (in %) at or below which a noise level counts as masking.

    Returns:
        int array (n_bands,), values 0..4: the number of consecutive noise rows, from the
        highest SD downwards, whose accuracy is <= ``criterion``.
    """
    grid = np.asarray(grid, dtype=float)
    thresholds = np.zeros(grid.shape[1], dtype=int)
    for band in range(grid.shape[1]):
        count = 0
        for row in range(grid.shape[0] - 1, 0, -1):  # the clean row 0 is never counted
            if grid[row, band] <= criterion:
                count += 1
            else:
                break
        thresholds[band] = count
    return thresholds


def gaussian(x: np.ndarray, a: float, mu: float, s: float) -> np.ndarray:
    """``a * exp(-(x - mu)**2 / (2 s**2))``."""
    return a * np.exp(-((x - mu) ** 2) / (2.0 * s**2))


@dataclass
class CriticalBandFit:
    """Fitted Gaussian and the derived critical-band parameters."""

    amplitude: float
    mu: float
    sigma: float
    center_frequency: float  # cycles/image: 1.75 * 2**mu
    bandwidth: float  # octaves: 2 * sqrt(ln 4) * |sigma|
    peak_noise_sensitivity: float  # 2**(A - 4)
    residual_rmse: float
    residuals: list[float]
    converged: bool


def fit_critical_band(thresholds: np.ndarray) -> CriticalBandFit:
    """Least-squares Gaussian fit to the band thresholds (A in [0, 4], start A=1, mu=0, s=1).

    Args:
        thresholds: (n_bands,) thresholds over band index x = 0..n_bands-1.

    Returns:
        The fit; ``converged`` is False when the optimiser failed (parameters then stay at
        the start values and the residual says how bad that is).
    """
    from scipy.optimize import curve_fit

    y = np.asarray(thresholds, dtype=float)
    x = np.arange(len(y), dtype=float)
    p0 = (1.0, 0.0, 1.0)
    converged = True
    try:
        popt, _ = curve_fit(
            gaussian,
            x,
            y,
            p0=p0,
            bounds=([0.0, -np.inf, -np.inf], [4.0, np.inf, np.inf]),
            maxfev=20000,
        )
    except (RuntimeError, ValueError):
        popt, converged = np.asarray(p0), False
    a, mu, s = (float(v) for v in popt)
    res = y - gaussian(x, a, mu, s)
    return CriticalBandFit(
        amplitude=a,
        mu=mu,
        sigma=s,
        center_frequency=BASE_FREQUENCY * 2.0**mu,
        bandwidth=2.0 * math.sqrt(math.log(4.0)) * abs(s),
        peak_noise_sensitivity=2.0 ** (a - 4.0),
        residual_rmse=float(np.sqrt(np.mean(res**2))),
        residuals=[float(r) for r in res],
        converged=converged,
    )
