"""Filter statistics: hand-made cases, the published reference implementation, real weights."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from visaudit.mechanics.filter_stats import (
    dct3_basis,
    depth_divergence,
    filter_histograms,
    filter_stats,
    js_divergence,
    orthogonality,
    random_entropy_level,
    sparsity,
    variance_entropy,
)


def test_sparsity_counts_filters_below_one_percent_of_layer_max():
    w = torch.randn(4, 2, 3, 3)
    w[0, 0] = 0.0
    w[1, 1] = 0.001 * w.abs().max() * torch.sign(torch.randn(3, 3))  # below 1 %
    w[2, 0] = 0.0
    w[2, 0, 1, 1] = 0.5 * w.abs().max()  # one large value: not sparse
    s, mask = sparsity(w)
    assert s == pytest.approx(2 / 8)
    assert mask.tolist() == [True, False, False, True, False, False, False, False]


def test_variance_entropy_zero_for_degenerate_and_high_for_random_filters():
    base = torch.randn(9)
    w = (torch.randn(64, 1, 1, 1) * base.view(1, 1, 3, 3)).expand(64, 1, 3, 3).clone()
    h, hn = variance_entropy(w)
    assert h == pytest.approx(0.0, abs=1e-9) and hn == pytest.approx(0.0, abs=1e-9)
    g = torch.Generator().manual_seed(0)
    h, hn = variance_entropy(torch.randn(64, 64, 3, 3, generator=g))
    assert h == pytest.approx(np.log10(9), abs=0.01)  # isotropic: all 9 directions equal
    assert hn == pytest.approx(1.0, abs=0.05)  # the normaliser is the random-filter level
    assert random_entropy_level(4096) == pytest.approx(h, abs=0.02)


def test_orthogonality_extremes():
    eye = torch.eye(9).reshape(9, 1, 3, 3)
    assert orthogonality(eye) == pytest.approx(1.0)
    same = torch.randn(1, 1, 3, 3).repeat(5, 1, 1, 1)
    assert orthogonality(same) == pytest.approx(0.0, abs=1e-12)
    flipped = same.clone()
    flipped[::2] *= -1  # |cos| ignores the sign
    assert orthogonality(flipped) == pytest.approx(0.0, abs=1e-12)


def test_matches_reference_implementation_on_random_weights():
    tcq = pytest.importorskip("torchconvquality")
    g = torch.Generator().manual_seed(1)
    for shape in [(16, 3, 3, 3), (32, 16, 3, 3), (64, 1, 3, 3)]:
        w = torch.randn(*shape, generator=g) * torch.rand(shape[0], 1, 1, 1, generator=g)
        w[: shape[0] // 4] *= 1e-4  # some sparse filters
        ref = tcq.measure_conv_weight_quality(w)
        ours = filter_stats(w)
        for key in (
            "sparsity",
            "variance_entropy",
            "variance_entropy_norm",
            "variance_entropy_clean",
            "variance_entropy_clean_norm",
            "orthogonality",
        ):
            assert ours[key] == pytest.approx(ref[key], rel=1e-4, abs=1e-5), key


def _resnet20_state() -> dict[str, torch.Tensor]:
    root = Path(os.environ.get("VISAUDIT_WEIGHTS", Path(__file__).resolve().parents[1].parent / "shared" / "models"))
    files = sorted((root / "cifar10-resnet-akamaster").glob("resnet20-*.th"))
    if not files:
        pytest.skip("cifar10 resnet20 weights not found (set VISAUDIT_WEIGHTS)")
    return torch.load(files[0], map_location="cpu", weights_only=True)["state_dict"]


def test_matches_reference_on_real_resnet20_weights():
    tcq = pytest.importorskip("torchconvquality")
    convs = {k: v for k, v in _resnet20_state().items() if v.ndim == 4 and v.shape[2:] == (3, 3)}
    assert len(convs) == 19
    for k, w in convs.items():
        ref = tcq.measure_conv_weight_quality(w.float())
        ours = filter_stats(w)
        for key in ("sparsity", "variance_entropy", "variance_entropy_norm", "orthogonality"):
            assert ours[key] == pytest.approx(ref[key], rel=1e-4, abs=1e-5), (k, key)


def test_dct_basis_is_orthonormal_and_histograms_normalised():
    b = dct3_basis()
    assert torch.allclose(b @ b.T, torch.eye(9, dtype=b.dtype), atol=1e-12)
    assert torch.allclose(b[0], torch.full((9,), 1 / 3, dtype=b.dtype))  # DC filter
    h = filter_histograms(torch.randn(8, 4, 3, 3), bins=11)
    assert h.shape == (9, 11)
    assert np.allclose(h.sum(axis=1), 1.0)


def test_js_divergence_and_depth_divergence():
    p = np.array([[1.0, 0, 0], [0.5, 0.5, 0]])
    assert js_divergence(p, p) == pytest.approx(0.0)
    assert js_divergence(np.array([1.0, 0]), np.array([0, 1.0])) == pytest.approx(1.0)
    g = torch.Generator().manual_seed(0)
    smooth = [filter_histograms(torch.randn(32, 32, 3, 3, generator=g)) for _ in range(4)]
    dc = torch.ones(32, 32, 3, 3) + 0.01 * torch.randn(32, 32, 3, 3, generator=g)
    spiky = [filter_histograms(dc) for _ in range(4)]
    depths = [0.0, 0.3, 0.7, 1.0]
    same = depth_divergence(smooth, depths, smooth[::-1], depths, n_bins=2)
    diff = depth_divergence(smooth, depths, spiky, depths, n_bins=2)
    assert all(s < 0.05 for s in same) and all(d > 0.5 for d in diff)
    assert depth_divergence(smooth[:1], [0.0], smooth[:1], [0.0], n_bins=2)[1] is None
