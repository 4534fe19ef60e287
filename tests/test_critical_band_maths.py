"""Critical-band maths: thresholds, Gaussian fit, Laplacian-pyramid band noise, stimuli."""

import glob
import math
import os

import numpy as np
import pytest
import torch
from PIL import Image

from tests import cb_oracle
from visaudit.metrics.critical_band import band_thresholds, fit_critical_band, gaussian
from visaudit.perturb.bandpass_noise import (
    band_noise,
    bandpass_noise_bands,
    critical_band_stimulus,
    laplacian_pyramid,
    low_contrast_gray,
    pil_gray,
    reconstruct_level,
)


def test_thresholds_walk_from_highest_sd_until_first_row_above_50():
    grid = np.full((5, 7), 90.0)
    grid[1:, 0] = 10.0  # all four noise rows masked -> 4
    grid[2:, 1] = 50.0  # 50 counts as masked (<=) -> 3
    grid[4, 2] = 20.0  # only the highest SD -> 1
    grid[3, 3] = 20.0  # highest SD above 50 -> walk stops at once -> 0
    grid[0, :] = 0.0  # the clean row never counts
    assert band_thresholds(grid).tolist() == [4, 3, 1, 0, 0, 0, 0]


def _grid_from_gaussian(a, mu, s):
    """Accuracy grid whose thresholds are round(g(x)) for the known Gaussian."""
    target = np.rint(gaussian(np.arange(7.0), a, mu, s)).astype(int)
    grid = np.full((5, 7), 95.0)
    for band, t in enumerate(target):
        if t:
            grid[5 - t :, band] = 5.0
    return grid, target


def test_fit_reproduces_known_parameters_on_synthetic_grid():
    # thresholds that are exactly a sampled Gaussian: the fit must recover it
    a, mu, s = 3.2, 3.4, 1.1
    y = gaussian(np.arange(7.0), a, mu, s)
    fit = fit_critical_band(y)
    assert fit.converged
    assert fit.amplitude == pytest.approx(a, abs=1e-4)
    assert fit.mu == pytest.approx(mu, abs=1e-4)
    assert abs(fit.sigma) == pytest.approx(s, abs=1e-4)
    assert fit.center_frequency == pytest.approx(1.75 * 2**mu, rel=1e-4)
    assert fit.bandwidth == pytest.approx(2 * math.sqrt(math.log(4)) * s, rel=1e-4)
    assert fit.peak_noise_sensitivity == pytest.approx(2 ** (a - 4), rel=1e-4)
    assert fit.residual_rmse < 1e-5


def test_fit_on_integer_grid_built_from_known_gaussian():
    grid, target = _grid_from_gaussian(3.6, 2.5, 1.4)
    th = band_thresholds(grid)
    assert th.tolist() == target.tolist()
    fit = fit_critical_band(th)
    # integer rounding of the thresholds moves the optimum only a little
    assert fit.mu == pytest.approx(2.5, abs=0.15)
    assert abs(fit.sigma) == pytest.approx(1.4, abs=0.25)
    assert 0 <= fit.amplitude <= 4
    assert fit.residual_rmse < 0.5


def test_amplitude_bound_is_respected():
    fit = fit_critical_band(np.array([0, 2, 8, 8, 2, 0, 0.0]))
    assert fit.amplitude <= 4.0 + 1e-9


def test_pyramid_bands_sum_back_to_the_noise():
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(3, 1, 224, 224, generator=g)
    levels = laplacian_pyramid(noise, 7)
    total = sum(reconstruct_level(levels, i, (224, 224)) for i in range(7))
    assert torch.allclose(total, noise, atol=1e-4)


def test_band_noise_rms_and_octave_ordering():
    g = torch.Generator().manual_seed(2)
    bands = bandpass_noise_bands(4, 224, 224, 7, generator=g)
    rms = bands.pow(2).mean(dim=(2, 3, 4)).sqrt()
    # every band carries the RMS of the finest band, about 0.943 of the unit noise (the reference)
    assert torch.allclose(rms, rms[6:7].expand_as(rms), rtol=1e-5)
    assert torch.allclose(rms, torch.full_like(rms, 0.943), atol=0.01)
    full = bandpass_noise_bands(4, 224, 224, 7, generator=torch.Generator().manual_seed(2), rescale="full")
    assert torch.allclose(full.pow(2).mean(dim=(2, 3, 4)).sqrt(), torch.ones_like(rms), atol=0.02)
    f = torch.fft.fftfreq(224, 1 / 224).abs()
    radius = torch.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    centres = []
    for k in range(7):
        power = torch.fft.fft2(bands[k, :, 0]).abs().pow(2).mean(0)
        centres.append(float((power * radius).sum() / power.sum()))
    assert all(b > a for a, b in zip(centres, centres[1:]))  # increasing
    assert all(b > 1.5 * a for a, b in zip(centres[1:], centres[2:]))  # about octave steps
    assert centres[6] / centres[1] > 16
    assert 0.7 < centres[4] / 14.0 < 1.4  # band 4 sits at ~14 cycles/image


def test_band_noise_is_seeded():
    a = bandpass_noise_bands(2, 64, 64, 5, generator=torch.Generator().manual_seed(3))
    b = bandpass_noise_bands(2, 64, 64, 5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError):
        bandpass_noise_bands(1, 32, 32, 7)


def test_stimulus_is_gray_low_contrast_and_clipped():
    x = torch.rand(2, 3, 16, 16)
    gray = low_contrast_gray(x)
    assert torch.allclose(gray.mean(dim=(1, 2, 3)), torch.full((2,), 0.449), atol=1e-5)
    assert gray.max() - gray.min() <= 0.2 + 1e-6
    stim = critical_band_stimulus(gray, torch.randn(2, 1, 16, 16) * 10, 0.16)
    assert stim.shape == (2, 3, 16, 16)
    assert stim.min() >= 0 and stim.max() <= 1
    assert torch.equal(stim[:, 0], stim[:, 2])


def test_spectral_downsample_keeps_low_and_drops_high_frequencies():
    from visaudit.perturb.bandpass_noise import spectral_downsample
    from visaudit.perturb.spectral import fourier_basis

    low = fourier_basis(224, 224, 3, 5)
    high = fourier_basis(224, 224, 0, 40)  # above the 16 cycles/image Nyquist of 32 px
    const = torch.full((1, 1, 224, 224), 0.3)
    assert torch.allclose(spectral_downsample(const, (32, 32)), torch.full((1, 1, 32, 32), 0.3), atol=1e-6)
    assert spectral_downsample(high[None, None], (32, 32)).abs().max() < 1e-6
    small = spectral_downsample(low[None, None], (32, 32))[0, 0]
    # same sinusoid sampled on the coarse grid: amplitude kept
    assert torch.allclose(small, low[::7, ::7], atol=1e-5)


def test_band_noise_matrix_form_equals_the_filtering_pyramid():
    noise = torch.randn(2, 1, 224, 224, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    levels = laplacian_pyramid(noise, 7)
    bands = band_noise(noise, 7)
    finest = levels[0].pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
    for k in range(7):
        rec = reconstruct_level(levels, 6 - k, (224, 224))
        rec = rec * finest / rec.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
        torch.testing.assert_close(bands[k], rec, rtol=0, atol=1e-12)
    torch.testing.assert_close(band_noise(noise, 7, bands=[2, 5]), bands[[2, 5]])


def _stimuli_images() -> np.ndarray:
    root = os.environ["VISAUDIT_DATA"]
    files = sorted(glob.glob(f"{root}/cue-conflict/*/*.png"))[::400] + sorted(glob.glob(f"{root}/edges/*/*.png"))[:1]
    return np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])


def test_stimuli_match_the_reference_definition_on_real_images():
    """Gray conversion, band split, finest-band rescale and out-of-range shift against
    the reference's definition (tests/cb_oracle.py), same unit noise, all 28 cells."""
    rgb = _stimuli_images()
    x = torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255
    gray = low_contrast_gray(x)
    ref_gray = np.stack([cb_oracle.gray_low_contrast(im) for im in rgb])
    assert np.abs(gray[:, 0].double().numpy() - ref_gray).max() < 1e-6
    z = np.random.default_rng(5).standard_normal((len(rgb), 224, 224))
    bands = band_noise(torch.from_numpy(z)[:, None].float(), 7)
    shifted = 0
    for f in range(7):
        ref_band = np.stack([cb_oracle.band(zi, f) for zi in z])
        assert np.abs(bands[f, :, 0].double().numpy() - ref_band).max() < 2e-5, f
        for sd in cb_oracle.SDS:
            stim = critical_band_stimulus(gray, bands[f], sd)
            assert stim.shape == (len(rgb), 3, 224, 224) and torch.equal(stim[:, 0], stim[:, 2])
            ref = np.stack([cb_oracle.shift_into_range(g, sd * b, sd) for g, b in zip(ref_gray, ref_band)])
            assert np.abs(stim[:, 0].double().numpy() - ref).max() < 1e-5, (f, sd)
            shifted += int(((ref_gray + sd * ref_band < 0) | (ref_gray + sd * ref_band > 1)).sum())
    assert shifted > 100  # the out-of-range rule was exercised


def test_pil_gray_is_pil_convert_L():
    rgb = np.random.default_rng(6).integers(0, 256, (2, 17, 19, 3), dtype=np.uint8)
    x = torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255
    ref = np.stack([np.asarray(Image.fromarray(im).convert("L")) for im in rgb]) / 255
    assert np.array_equal(pil_gray(x)[:, 0].numpy(), ref.astype(np.float32))


def test_out_of_range_redraw_and_clip():
    gray = torch.tensor([[0.05, 0.5, 0.95, 0.5]]).repeat(4000, 1).view(4000, 1, 1, 4)
    noise = torch.tensor([[-1.0, -0.6, 1.0, 0.2]]).repeat(4000, 1).view(4000, 1, 1, 4)
    out = critical_band_stimulus(gray, noise, 1.0, generator=torch.Generator().manual_seed(7))[:, 0, 0]
    assert torch.all(out[:, 1] == 0.1) and torch.allclose(out[:, 3], torch.tensor(0.7))
    # pixels 0 and 2: the shift would leave [0, 1], so the noise is redrawn from N(0, 1) given the sum in [0, 1]
    for i, g in ((0, 0.05), (2, 0.95)):
        v = out[:, i].double() - g
        assert (out[:, i] >= 0).all() and (out[:, i] <= 1).all() and v.std() > 0.2
        from scipy.stats import truncnorm

        assert float(v.mean()) == pytest.approx(truncnorm.mean(-g, 1 - g), abs=0.02)
    clipped = critical_band_stimulus(gray[:1], noise[:1], 1.0, out_of_range="clip")[0, 0, 0]
    assert clipped.tolist() == pytest.approx([0.0, 0.0, 1.0, 0.7])
