"""spectral-bias and critical-band end to end on cifar10_resnet20 / CIFAR-10 test."""

import io

import numpy as np
import pytest
import torch

import visaudit
from tests import cb_oracle
from visaudit.metrics.critical_band import band_thresholds


def _reference_filter(x: np.ndarray, cutoff: float, keep_low: bool) -> np.ndarray:
    """Gavrikov & Keuper's square mask, written out with numpy: in the fftshifted spectrum the
    slice [s//2 - int(c s//2) : s//2 + int(c s//2)] per axis; the high-pass zeroes it at 1 - c."""
    c = cutoff if keep_low else 1 - cutoff
    h, w = x.shape[-2:]
    spec = np.fft.fftshift(np.fft.fft2(x), axes=(-2, -1))
    ry, rx = int(c * (h // 2)), int(c * (w // 2))
    mask = np.zeros((h, w)) if keep_low else np.ones((h, w))
    mask[h // 2 - ry : h // 2 + ry, w // 2 - rx : w // 2 + rx] = 1.0 if keep_low else 0.0
    out = np.fft.ifft2(np.fft.ifftshift(spec * mask, axes=(-2, -1))).real
    return np.clip(out, 0, 1)


def _cifar(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The job's images (positions as the runner selects them for max_images=n), in [0,1]."""
    from visaudit.data.base import Preprocess
    from visaudit.engine.subset import select_indices

    ds = visaudit.open_dataset("cifar10-test").bind(Preprocess((3, 32, 32), "bilinear", 1.0, "direct"))
    pos = select_indices(len(ds), n, seed)
    x = np.stack([ds[int(p)][0] for p in pos]).astype(np.float64) / 255
    return x, np.array([ds[int(p)][1] for p in pos]), np.asarray(pos)


@pytest.mark.slow
def test_spectral_bias_resnet20_against_the_reference_definition(tmp_path):
    n = 200
    res = visaudit.audit(
        "cifar10_resnet20",
        "spectral-bias",
        "cifar10-test",
        store=tmp_path,
        max_images=n,
        probe_config={"spectral-bias": {"fourier_images": 8, "fourier_steps": 3}},
    )
    (rec,) = res.records
    assert rec["status"] == "ok", rec.get("error")
    m, d = rec["metrics"], rec["data"]

    # the same images through the paper's definition, computed here
    model = visaudit.load_model("cifar10_resnet20")
    x, y, _ = _cifar(n)

    def acc(images: np.ndarray) -> float:
        with torch.no_grad():
            return float((model(torch.from_numpy(images).float()).argmax(1).numpy() == y).mean())

    cutoffs = [0.1, 0.2, 0.3, 0.4, 0.5]
    low = [acc(_reference_filter(x, c, True)) for c in cutoffs]
    high = [acc(_reference_filter(x, c, False)) for c in cutoffs]
    clean = acc(x)
    lpp, hpp = np.mean(low), np.mean(high)
    tol = 1.01 / n  # float error may flip at most a borderline decision
    assert m["top1_clean"] == pytest.approx(clean, abs=tol)
    for c, lo, hi in zip(cutoffs, low, high):
        assert m[f"top1_lowpass@{c:g}"] == pytest.approx(lo, abs=tol), c
        assert m[f"top1_highpass@{c:g}"] == pytest.approx(hi, abs=tol), c
    assert m["lpp"] == pytest.approx(lpp, abs=tol) and m["hpp"] == pytest.approx(hpp, abs=tol)
    assert m["spectral_bias"] == pytest.approx(hpp / (lpp + hpp), abs=0.01)
    assert m["lpp_relative"] == pytest.approx(lpp / clean, abs=0.01)
    assert m["hpp_relative"] == pytest.approx(hpp / clean, abs=0.01)
    # and exactly consistent within the record
    assert m["spectral_bias"] == pytest.approx(m["hpp"] / (m["lpp"] + m["hpp"]), rel=1e-12)
    assert m["hpp_relative"] == pytest.approx(m["hpp"] / m["top1_clean"], rel=1e-12)
    assert d["lowpass_top1"] == [m[f"top1_lowpass@{c:g}"] for c in cutoffs]

    fmap = d["fourier_map"]
    arr = np.load(io.BytesIO((tmp_path / [a for a in rec["artifacts"] if a.endswith(".npy")][0]).read_bytes()))
    assert arr.shape == (5, 3) == np.asarray(fmap["error"]).shape
    assert ((arr >= 0) & (arr <= 1)).all()
    from visaudit.report.figures.bias import spectral_bias as figures

    assert len(figures(rec)) == 2, "the report draws the curves and the map from the record's data"


def _job_images(model_name: str, dataset: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 HWC images, labels and dataset positions of a max_images=n job (seed 0)."""
    from visaudit.data.base import Preprocess
    from visaudit.engine.subset import select_indices

    info = visaudit.load_model(model_name).info
    raw = visaudit.open_dataset(dataset)
    ds = raw.bind(Preprocess(tuple(info.input_size), info.interpolation, info.crop_pct, raw.resize_policy))
    pos = np.asarray(select_indices(len(ds), n, 0))
    items = [ds[int(p)] for p in pos]
    return np.stack([it[0] for it in items]).transpose(0, 2, 3, 1), np.array([it[1] for it in items]), pos


def _reference_grid(model_name: str, dataset: str, n: int, contrast: float) -> np.ndarray:
    """The 5 x 7 accuracy grid by the reference's definition (tests/cb_oracle.py), from the same
    unit noise the probe draws (one stream per image and (band, SD) cell)."""
    from visaudit.data.labels import label_map
    from visaudit.rng import SampleGenerators, rand, randn

    model = visaudit.load_model(model_name)
    lmap = label_map(model.info.label_space, model.info.num_classes, visaudit.open_dataset(dataset).label_space)
    rgb, y, pos = _job_images(model_name, dataset, n)
    size = rgb.shape[1]
    gray = np.stack([cb_oracle.gray_low_contrast(im, contrast) for im in rgb])

    def acc(images: np.ndarray) -> float:
        x = torch.from_numpy(np.repeat(images[:, None], 3, axis=1)).float()
        with torch.no_grad():
            scores = lmap.probs(model(x))  # the dataset's label space (16 classes for the stimuli)
        return 100.0 * float((scores.argmax(1).numpy() == y).mean())

    grid = np.zeros((5, 7))
    grid[0] = acc(gray)
    for k in range(7):
        for r, sd in enumerate(cb_oracle.SDS, start=1):
            gens = SampleGenerators.for_positions(0, f"critical-band/band{k}/sd{sd:g}", pos, "cpu")
            z = randn(gens, (len(pos), 1, 224, 224))[:, 0].double().numpy()
            u = rand(gens, (len(pos), 1, size, size))[:, 0].double().numpy()  # for redrawn noise pixels
            noise = np.stack([cb_oracle.band(zi, k) for zi in z])
            if size != 224:
                noise = np.stack([cb_oracle.spectral_crop(b, size) for b in noise])
            grid[r, k] = acc(
                np.stack([cb_oracle.shift_into_range(g, sd * b, sd, ui) for g, b, ui in zip(gray, noise, u)])
            )
    return grid


@pytest.mark.parametrize(
    "model_name,dataset,n,contrast",
    [
        # 32 px: the 224 px bands cropped to the model's grid
        pytest.param("cifar10_resnet20", "cifar10-test", 32, 1.0, marks=pytest.mark.slow),
        # the paper's setting: 224 px, contrast 0.2 (29 passes of lite0 twice: minutes on a 2-core CPU)
        pytest.param("efficientnet_lite0", "cue-conflict", 8, 0.2, marks=pytest.mark.slow),
    ],
)
def test_critical_band_against_the_reference_definition(tmp_path, model_name, dataset, n, contrast):
    res = visaudit.audit(
        model_name,
        "critical-band",
        dataset,
        store=tmp_path,
        max_images=n,
        probe_config={"critical-band": {"contrast": contrast}},
    )
    (rec,) = res.records
    assert rec["status"] == "ok", rec.get("error")
    d, m = rec["data"], rec["metrics"]
    grid = np.asarray(d["grid_percent"])
    ref = _reference_grid(model_name, dataset, n, contrast)
    # float error may flip at most one borderline decision in a cell
    assert np.abs(grid - ref).max() <= 100.0 / n + 1e-9, np.abs(grid - ref).max()
    assert np.abs(grid - ref).sum() <= 2 * 100.0 / n + 1e-9
    assert d["thresholds"] == cb_oracle.find_thresholds(grid).tolist()
    assert m["top1_clean_gray"] == pytest.approx(grid[0, 0])
    if len(set(d["thresholds"])) > 1:
        bw, cf, pns = cb_oracle.channel_props(np.asarray(d["thresholds"], float))
        assert m["cb_bandwidth"] == pytest.approx(bw, rel=1e-6)
        assert m["cb_center_frequency"] == pytest.approx(cf, rel=1e-6)
        assert m["cb_peak_noise_sensitivity"] == pytest.approx(pns, rel=1e-6)
    assert (d["noise_pool"], d["rescale"], d["out_of_range"]) == (0, "finest", "shift")


@pytest.mark.slow
def test_critical_band_resnet20_grid_thresholds_and_nyquist(tmp_path):
    res = visaudit.audit(
        "cifar10_resnet20",
        "critical-band",
        "cifar10-test",
        store=tmp_path,
        max_images=64,
        probe_config={"critical-band": {"contrast": 1.0, "noise_pool": 64}},
    )
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
