"""Quality measures of 3x3 convolution filters (CNN Filter DB, Gavrikov & Keuper 2022).

All functions take a conv weight of shape ``(out, in/groups, 3, 3)``. A "2D filter" is one
``(out, in)`` slice of 9 values. Definitions (numbers follow the authors' public code,
``torchconvquality``; the code here is our own):

- sparsity: share of 2D filters whose absolute values are all below ``eps`` (1 %) of the
  layer's max ``|w|``;
- variance entropy: Shannon entropy (base 10) of the explained-variance ratios of the
  centred ``(n x 9)`` filter matrix, i.e. of its normalised squared singular values; the
  normalised form divides by the entropy that random filters reach for that ``n`` (a
  logistic fit in ``log2 n`` published with the paper), so ~1 means "as diverse as noise"
  and ~0 means degenerate (all filters along one direction);
- orthogonality: 1 - mean ``|cos|`` between distinct output filters (each output channel's
  flattened ``in*9`` weights).

For comparing two models, :func:`filter_histograms` summarises a layer's filter distribution
as per-coefficient histograms in a fixed orthonormal 3x3 basis (the 2D DCT-II) and
:func:`depth_divergence` gives the Jensen-Shannon divergence between two models per depth bin.

Example:
    >>> w = torch.randn(16, 8, 3, 3)
    >>> s = filter_stats(w)
    >>> sorted(s)[:3]
    ['n_filters', 'orthogonality', 'sparsity']
"""

from __future__ import annotations

import math

import numpy as np
import torch

# Logistic fit of the variance entropy of random (Gaussian) filter sets versus log2(n),
# published with CNN Filter DB (torchconvquality). Facts, used as constants.
_L, _X0, _K, _B = 1.2618047, 2.30436435, 0.88767525, -0.31050834


def _as_2d_filters(w: torch.Tensor) -> torch.Tensor:
    if w.ndim != 4 or tuple(w.shape[2:]) != (3, 3):
        raise ValueError(f"expected a (out, in, 3, 3) conv weight, got shape {tuple(w.shape)}")
    return w.detach().to(torch.float64).reshape(-1, 9)


def sparsity(w: torch.Tensor, eps: float = 0.01) -> tuple[float, torch.Tensor]:
    """Share of 2D filters with all ``|w| < eps * max|w|``, and the boolean mask of them."""
    f = _as_2d_filters(w).abs()
    t = float(f.max()) * eps
    if t == 0.0:  # an all-zero layer: every filter is sparse
        mask = torch.ones(f.shape[0], dtype=torch.bool)
    else:
        mask = (f < t).all(dim=1)
    return float(mask.float().mean()), mask


def random_entropy_level(n: int) -> float:
    """Variance entropy that ``n`` random 3x3 filters reach (the normaliser)."""
    return _L / (1.0 + math.exp(-_K * (math.log2(max(n, 1)) - _X0))) + _B


def variance_entropy(w: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[float, float]:
    """Variance entropy of the 2D filters (optionally a subset) and its normalised form.

    Returns:
        ``(entropy, entropy / random_entropy_level(n))``; ``(0, 0)`` for fewer than two
        filters or a layer without variance.
    """
    f = _as_2d_filters(w)
    if mask is not None:
        f = f[mask]
    n = f.shape[0]
    if n < 2:
        return 0.0, 0.0
    s = torch.linalg.svdvals(f - f.mean(dim=0, keepdim=True))
    var = s**2
    total = float(var.sum())
    if total == 0.0:
        return 0.0, 0.0
    p = var / total
    p = p[p > 0]
    h = float(-(p * torch.log10(p)).sum())
    return h, h / random_entropy_level(n)


def orthogonality(w: torch.Tensor) -> float:
    """1 - mean |cosine similarity| between distinct output filters (1 = orthogonal)."""
    f = w.detach().to(torch.float64).reshape(w.shape[0], -1)
    n = f.shape[0]
    if n < 2:
        return 1.0
    norm = f.norm(dim=1, keepdim=True)
    norm[norm == 0] = 1.0
    u = f / norm
    c = (u @ u.T).abs()
    off = c.sum() - c.diagonal().sum()
    return float(1.0 - off / (n * (n - 1)))


def filter_stats(w: torch.Tensor, eps: float = 0.01) -> dict[str, float]:
    """All statistics of one 3x3 conv weight."""
    sp, mask = sparsity(w, eps)
    ve, ve_norm = variance_entropy(w)
    vc, vc_norm = variance_entropy(w, ~mask)
    return {
        "n_filters": float(w.shape[0] * w.shape[1]),
        "sparsity": sp,
        "variance_entropy": ve,
        "variance_entropy_norm": ve_norm,
        "variance_entropy_clean": vc,
        "variance_entropy_clean_norm": vc_norm,
        "orthogonality": orthogonality(w),
    }


def dct3_basis() -> torch.Tensor:
    """Orthonormal 2D DCT-II basis of 3x3 patches as a (9, 9) matrix, one basis filter per row."""
    k = torch.arange(3, dtype=torch.float64)
    c = torch.cos(math.pi * (k[None, :] + 0.5) * k[:, None] / 3)  # (freq, pos)
    c[0] *= 1 / math.sqrt(3)
    c[1:] *= math.sqrt(2 / 3)
    return torch.einsum("ax,by->abxy", c, c).reshape(9, 9)


def filter_histograms(w: torch.Tensor, bins: int = 21, eps: float = 0.01) -> np.ndarray:
    """Distribution of a layer's 2D filters: per DCT coefficient, a histogram over [-1, 1].

    Each non-sparse 2D filter is scaled to unit L2 norm (so the distribution describes
    shape, not scale) and projected on the fixed DCT basis; the coefficients then lie in
    [-1, 1]. Returns counts normalised per coefficient, shape ``(9, bins)``.
    """
    _, mask = sparsity(w, eps)
    f = _as_2d_filters(w)[~mask]
    out = np.zeros((9, bins))
    if f.shape[0] == 0:
        return out
    f = f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)
    coef = (f @ dct3_basis().T).clamp(-1, 1).numpy()
    edges = np.linspace(-1.0, 1.0, bins + 1)
    for j in range(9):
        out[j] = np.histogram(coef[:, j], bins=edges)[0]
    return out / f.shape[0]


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) between two histograms along the last axis,
    averaged over the leading axes. JS rather than KL because it is symmetric and finite when
    one model has empty bins where the other has mass."""
    p = np.asarray(p, float)
    q = np.asarray(q, float)
    p = p / np.clip(p.sum(-1, keepdims=True), 1e-300, None)
    q = q / np.clip(q.sum(-1, keepdims=True), 1e-300, None)
    m = 0.5 * (p + q)

    def _kl(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(a > 0, a * np.log2(a / np.where(b > 0, b, 1.0)), 0.0)
        return t.sum(-1)

    return float(np.mean(0.5 * _kl(p, m) + 0.5 * _kl(q, m)))


def depth_bins(rel_depth: list[float] | np.ndarray, n_bins: int) -> np.ndarray:
    """Index of the depth bin (0..n_bins-1) of each relative depth in [0, 1]."""
    d = np.asarray(rel_depth, float)
    return np.minimum((d * n_bins).astype(int), n_bins - 1)


def depth_divergence(
    hists_a: list[np.ndarray],
    depth_a: list[float],
    hists_b: list[np.ndarray],
    depth_b: list[float],
    n_bins: int = 5,
) -> list[float | None]:
    """JS divergence between two models' filter distributions, per relative-depth bin.

    Layers of each model are pooled into ``n_bins`` bins by relative depth (0 = first 3x3
    conv, 1 = last), histograms are averaged within a bin, and the bins are compared.
    A bin where either model has no layer gives ``None``.
    """
    ba, bb = depth_bins(depth_a, n_bins), depth_bins(depth_b, n_bins)
    out: list[float | None] = []
    for k in range(n_bins):
        ha = [h for h, b in zip(hists_a, ba) if b == k]
        hb = [h for h, b in zip(hists_b, bb) if b == k]
        if not ha or not hb:
            out.append(None)
            continue
        out.append(js_divergence(np.mean(ha, axis=0), np.mean(hb, axis=0)))
    return out


def compare_filter_records(data_a: dict, data_b: dict, n_bins: int = 5) -> list[float | None]:
    """Per-depth JS divergence between the filter distributions of two ``filters`` records.

    Args:
        data_a, data_b: the ``data`` field of two ``filters`` probe records.
        n_bins: relative-depth bins.
    """
    rows_a, rows_b = data_a["layers"], data_b["layers"]
    return depth_divergence(
        [np.asarray(r["hist"]) for r in rows_a],
        [r["rel_depth"] for r in rows_a],
        [np.asarray(r["hist"]) for r in rows_b],
        [r["rel_depth"] for r in rows_b],
        n_bins=n_bins,
    )
