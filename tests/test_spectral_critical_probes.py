"""spectral-bias and critical-band end to end on cifar10_resnet20 / CIFAR-10 test."""
import io

import numpy as np
import pytest
import torch

import visaudit
from visaudit.metrics.critical_band import band_thresholds


def _numpy_filter(x: np.ndarray, cutoff: float, keep_low: bool) -> np.ndarray:
    """Independent square-mask filter with numpy's FFT and fftshift."""
    h, w = x.shape[-2:]
    spec = np.fft.fftshift(np.fft.fft2(x), axes=(-2, -1))
    fy = np.abs(np.arange(h) - h // 2)[:, None]
    fx = np.abs(np.arange(w) - w // 2)[None, :]
    mask = (fy <= cutoff * h / 2) & (fx <= cutoff * w / 2)
    mask = mask if keep_low else ~mask
    out = np.fft.ifft2(np.fft.ifftshift(spec * mask, axes=(-2, -1))).real
    return np.clip(out, 0, 1)


def test_spectral_bias_resnet20_against_numpy_reference(tmp_path):
    n = 96
    res = visaudit.audit("cifar10_resnet20", "spectral-bias", "cifar10-test", store=tmp_path, max_images=n,
                         probe_config={"spectral-bias": {"fourier_images": 8, "fourier_steps": 3}})
    (rec,) = res.records
    assert rec["status"] == "ok", rec.get("error")
    m, d = rec["metrics"], rec["data"]
    assert m["lpp"] == pytest.approx(np.mean(d["lowpass_top1"]))
    assert m["hpp"] == pytest.approx(np.mean(d["highpass_top1"]))
    assert m["spectral_bias"] == pytest.approx(m["hpp"] / (m["lpp"] + m["hpp"]))
    assert m["top1_clean"] > 0.7
    assert m["top1_lowpass@0.1"] < m["top1_clean"]

    # the same images through an independent numpy implementation of the filters
    from visaudit.data.base import Preprocess
    from visaudit.engine.subset import select_indices

    model = visaudit.load_model("cifar10_resnet20")
    ds = visaudit.open_dataset("cifar10-test").bind(Preprocess((3, 32, 32), "bilinear", 1.0, "direct"))
    pos = select_indices(len(ds), n, 0)
    x = np.stack([ds[int(p)][0] for p in pos]).astype(np.float32) / 255
    y = np.array([ds[int(p)][1] for p in pos])
    for cutoff in (0.2, 0.4):
        for low in (True, False):
            xf = torch.from_numpy(_numpy_filter(x, cutoff, low).astype(np.float32))
            with torch.no_grad():
                acc = float((model(xf).argmax(1).numpy() == y).mean())
            key = f"top1_{'lowpass' if low else 'highpass'}@{cutoff:g}"
            assert m[key] == pytest.approx(acc, abs=1.5 / n), key

    fmap = d["fourier_map"]
    arr = np.load(io.BytesIO((tmp_path / [a for a in rec["artifacts"] if a.endswith(".npy")][0]).read_bytes()))
    assert arr.shape == (5, 3) == np.asarray(fmap["error"]).shape
    assert ((arr >= 0) & (arr <= 1)).all()
    assert any(a.endswith(".png") for a in rec["artifacts"])


def test_critical_band_resnet20_grid_thresholds_and_nyquist(tmp_path):
    res = visaudit.audit("cifar10_resnet20", "critical-band", "cifar10-test", store=tmp_path, max_images=64,
                         probe_config={"critical-band": {"contrast": 1.0, "noise_pool": 64}})
    (rec,) = res.records
    assert rec["status"] == "ok", rec.get("error")
    d = rec["data"]
    grid = np.asarray(d["grid_percent"])
    assert grid.shape == (5, 7)
    assert (grid[0] == grid[0, 0]).all()  # one clean row
    assert d["thresholds"] == band_thresholds(grid).tolist()
    assert rec["metrics"]["top1_clean_gray"] == pytest.approx(grid[0, 0])
    # band 6 (56-112+ cycles/image) lies above the 16 cycles/image a 32 px image can hold: no masking
    assert np.all(np.abs(grid[1:, 6] - grid[0, 6]) <= 6.5)
    # mid bands at the highest SD do mask
    assert grid[4, 2:5].min() < grid[0, 0] - 20
    fit = d["fit"]
    assert 0 <= fit["A"] <= 4 and len(fit["residuals"]) == 7
    for k in ("cb_center_frequency", "cb_bandwidth", "cb_peak_noise_sensitivity"):
        assert k in rec["metrics"]
