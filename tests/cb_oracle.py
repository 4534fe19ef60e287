"""Critical-band masking as the reference defines it, written out in numpy for the tests.

Independent of :mod:`visaudit.perturb.bandpass_noise` (no code shared): a Laplacian pyramid
with pyrtools' conventions (filter sqrt(2) * [1, 4, 6, 4, 1] / 16, ``reflect1`` edges, height
1 + the number of reductions that leave at least 5 px, here 7 at 224 px), the reconstruction
of one level as pyrtools' ``recon_pyr(levels=k)``, the rescaling to the finest level's RMS,
the shift of out-of-range pixels (``solomon_filter`` in Subramanian et al.'s ``methods.py``),
PIL's gray conversion, and the analysis of ``analysis/analysis.py`` (``find_thresholds``,
``fit_gaussian``, ``channel_props``).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

FILT = np.sqrt(2) * np.array([1, 4, 6, 4, 1]) / 16
SDS = (0.02, 0.04, 0.08, 0.16)


def _corr_down(x: np.ndarray, axis: int) -> np.ndarray:
    """Correlate with FILT, mirror edges (no repeat), keep samples 0, 2, 4, ..."""
    x = np.moveaxis(x, axis, -1)
    n = x.shape[-1]
    xp = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(2, 2)], mode="reflect")
    full = sum(FILT[k] * xp[..., k : k + n] for k in range(5))
    return np.moveaxis(full[..., ::2], -1, axis)


def _up_conv(x: np.ndarray, n: int, axis: int) -> np.ndarray:
    """Insert zeros to length n, mirror the zero-filled signal, correlate with FILT."""
    x = np.moveaxis(x, axis, -1)
    u = np.zeros(x.shape[:-1] + (n,))
    u[..., ::2] = x[..., : (n + 1) // 2]
    up = np.pad(u, [(0, 0)] * (u.ndim - 1) + [(2, 2)], mode="reflect")
    return np.moveaxis(sum(FILT[k] * up[..., k : k + n] for k in range(5)), -1, axis)


def _height(n: int) -> int:
    h = 0
    while n >= 5:
        h, n = h + 1, n // 2
    return h + 1


def laplacian_levels(img: np.ndarray) -> list[np.ndarray]:
    """pyrtools' LaplacianPyramid(img) coefficients, level 0 (finest) .. top (low-pass)."""
    levels, cur = [], img.astype(np.float64)
    for _ in range(_height(min(img.shape)) - 1):
        nxt = _corr_down(_corr_down(cur, 1), 0)
        levels.append(cur - _up_conv(_up_conv(nxt, cur.shape[0], 0), cur.shape[1], 1))
        cur = nxt
    return levels + [cur]


def recon_level(levels: list[np.ndarray], k: int) -> np.ndarray:
    """pyrtools' recon_pyr(levels=k): expand from the top, adding only level k."""
    rec = np.zeros_like(levels[-1])
    for lev in range(len(levels) - 1, -1, -1):
        if rec.shape != levels[lev].shape:
            rec = _up_conv(_up_conv(rec, levels[lev].shape[0], 0), levels[lev].shape[1], 1)
        if lev == k:
            rec = rec + levels[lev]
    return rec


def rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(a))))


def band(noise: np.ndarray, f: int, n_freqs: int = 7) -> np.ndarray:
    """Band f (0 = coarsest) of the noise, rescaled to its finest band's RMS."""
    levels = laplacian_levels(noise)
    rec = recon_level(levels, n_freqs - (f + 1))
    return rec * rms(recon_level(levels, 0)) / rms(rec)


def gray_low_contrast(rgb_u8: np.ndarray, contrast: float = 0.2, mean: float = 0.449) -> np.ndarray:
    """PIL "L" of the 8-bit RGB image, / 255, ``(g - g.mean()) * contrast + mean``."""
    g = np.asarray(Image.fromarray(rgb_u8).convert("L"), dtype=np.float64) / 255.0
    return (g - g.mean()) * contrast + mean


def shift_into_range(
    image: np.ndarray, noise: np.ndarray, sd: float, u: np.ndarray | None = None, eps: float = 0.1
) -> np.ndarray:
    """The reference's out-of-range rule: a pixel below 0 becomes eps, above 1 becomes 1 - eps
    (the image pixel is moved); where that moved pixel would leave [0, 1], the noise pixel is
    redrawn from N(0, sd) until the sum lies in [0, 1]. The redraw is the truncated normal's
    quantile at the uniforms ``u`` (the probe's stream); without ``u`` none may be needed."""
    from scipy.stats import truncnorm

    noisy = image + noise
    out = noisy.copy()
    out[noisy < 0] = eps
    out[noisy > 1] = 1 - eps
    redraw = ((noisy < 0) & (eps - noise > 1)) | ((noisy > 1) & (1 - eps - noise < 0))
    if redraw.any():
        assert u is not None, "a pixel needs a noise redraw"
        g = image[redraw]
        out[redraw] = g + sd * truncnorm.ppf(u[redraw], -g / sd, (1 - g) / sd)
    return out


def spectral_crop(img: np.ndarray, size: int) -> np.ndarray:
    """Keep the DFT coefficients of the frequencies a size x size grid holds; amplitude kept."""
    n = img.shape[-1]
    f = np.round(np.fft.fftfreq(size, 1 / size)).astype(int) % n
    spec = np.fft.fft2(img)[np.ix_(f, f)]
    return np.fft.ifft2(spec).real * size * size / (n * n)


def find_thresholds(acc: np.ndarray, criterion: float = 50.0) -> np.ndarray:
    """Per band, rows from the highest SD down with accuracy <= criterion before the first above."""
    out = []
    for i in range(acc.shape[1]):
        j = 0
        for j in range(acc.shape[0]):
            if acc[acc.shape[0] - 1 - j, i] > criterion:
                break
        out.append(j)
    return np.array(out)


def channel_props(thresholds: np.ndarray) -> tuple[float, float, float]:
    """Bounded Gaussian fit (A in [0, 4], start 1, 0, 1) -> (bandwidth, centre, peak sensitivity)."""
    from scipy.optimize import curve_fit

    def gauss(x, a, mu, s):
        return a * np.exp(-((x - mu) ** 2) / (2.0 * s**2))

    (a, mu, s), _ = curve_fit(
        gauss,
        np.arange(len(thresholds)),
        thresholds,
        p0=[1.0, 0.0, 1.0],
        bounds=((0, -np.inf, -np.inf), (4, np.inf, np.inf)),
    )
    return 2 * np.sqrt(np.log(4)) * abs(s), 1.75 * 2**mu, 2 ** (a - 4)
