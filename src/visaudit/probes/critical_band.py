"""Critical-band masking (Subramanian et al. 2023; Gavrikov & Keuper 2024).

Reference: ``solomon_filter`` in github.com/ajaysub110/critical-band-masking ``methods.py``
(the same code runs in Gavrikov & Keuper's ``code/eval_criticalband.py``) and, for the
analysis, ``find_thresholds`` / ``fit_gaussian`` / ``channel_props`` in that repository's
``analysis/analysis.py``. Each image is converted to 8-bit gray as PIL's "L", its contrast
reduced to ``(x - mean) * 0.2 + 0.449``; white Gaussian noise of SD 0.02, 0.04, 0.08 or 0.16
is split into 7 octave bands by a Laplacian pyramid, one band is kept and rescaled to the RMS
of the finest band of the same noise, and added; pixels pushed out of [0,1] are brought back
as the reference does (moved to 0.1 from the limit, :mod:`visaudit.perturb.bandpass_noise`);
the image is replicated to 3 channels. As in the reference, every image gets fresh noise for
every (band, SD) cell, drawn from its own per-sample stream, so results do not depend on the
batch size. The accuracy grid (5 x 7, in %, clean row first) gives per-band thresholds, a
bounded Gaussian fit, and from it the centre frequency (cycles/image), bandwidth (octaves)
and peak noise sensitivity.

The bands are defined in cycles/image for a ``work_size`` x ``work_size`` noise image (224,
as in the original). For a model with another input size the band noise is resized to the
model's size by spectral cropping (an ideal low-pass) before it is added, so a 32 px CIFAR
model gets the same cycles/image bands; bands above its Nyquist frequency (16 cycles/image)
vanish, which is what such a model can see. The reference has no such case (224 px only).

Departures from the reference, each off by default and recorded with the config:
``noise_pool > 0`` (a seeded pool of band-split noise images shared by dataset position and
across SDs, faster), ``rescale="full"`` (bands rescaled to the full noise's RMS) and
``out_of_range="clip"`` (clip to [0,1]).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from visaudit.errors import VisauditError
from visaudit.probes.base import ChunkResult, MetricSpec, Probe, ProbeConfig, ProbeResult, register_probe

if TYPE_CHECKING:  # pragma: no cover
    from visaudit.probes.base import ProbeContext


@dataclass
class CriticalBandConfig(ProbeConfig):
    """Options of the critical-band probe.

    Attributes:
        noise_sds: noise SDs of the 4 noise rows (pixel units, [0,1] scale).
        n_bands: octave bands (pyramid levels).
        contrast: contrast factor applied around the image mean.
        mean_level: luminance the image mean is moved to.
        criterion: accuracy (%) at or below which a noise level masks the band.
        work_size: side length the bands are defined at; 0 = the model's input size.
        target: ``"label"`` (accuracy against the dataset label, the protocol) or
            ``"clean_prediction"`` (agreement with the model's own decision on the original
            colour image, for data where the model's accuracy is far below 50 %).
        noise_pool: 0 (the reference): fresh noise per image and (band, SD) cell; N > 0: a pool
            of N band-split noise images drawn once per job, image ``p`` uses member ``p % N``
            for every band and SD (a departure; about 28x less noise to generate).
        rescale: ``"finest"`` (the reference: each band to the RMS of the finest band of its
            noise) or ``"full"`` (to the RMS of the whole noise image; a departure).
        out_of_range: ``"shift"`` (the reference's handling of pixels pushed out of [0,1]) or
            ``"clip"`` (clip to [0,1]; a departure).
        oob_epsilon: the reference's gap to the limit for shifted pixels.
    """

    noise_sds: list[float] = field(default_factory=lambda: [0.02, 0.04, 0.08, 0.16])
    n_bands: int = 7
    contrast: float = 0.2
    mean_level: float = 0.449
    criterion: float = 50.0
    work_size: int = 224
    target: str = "label"
    noise_pool: int = 0
    rescale: str = "finest"
    out_of_range: str = "shift"
    oob_epsilon: float = 0.1


class CriticalBandFit(TypedDict):
    """The Gaussian fit of the thresholds over band index (A, mu, s of the paper)."""

    A: float
    mu: float
    s: float
    residuals: list[float]
    rmse: float
    converged: bool


class CriticalBandData(TypedDict):
    """The 5 x 7 accuracy grid, its thresholds, the fit and the protocol's settings."""

    grid_percent: list[list[float]]  # rows: noise SD 0, .02, .04, .08, .16; columns: bands
    rows_noise_sd: list[float]
    band_centre_frequencies: list[float]
    thresholds: list[float]
    fit: CriticalBandFit
    target: str
    work_size: int
    noise_pool: int
    noise: str
    rescale: str
    out_of_range: str
    n_images: int


@register_probe
class CriticalBandProbe(Probe):
    """Critical-band masking: accuracy grid, thresholds, Gaussian fit, centre frequency, bandwidth."""

    name = "critical-band"
    version = 4
    random = True  # band-limited noise, per image
    Data = CriticalBandData
    Config = CriticalBandConfig
    headline = "cb_bandwidth"
    metrics = {
        "cb_center_frequency": MetricSpec(
            True, "centre frequency of the fitted critical band, 1.75 * 2^mu cycles/image"
        ),
        "cb_bandwidth": MetricSpec(False, "critical-band width, 2 sqrt(ln 4) s octaves"),
        "cb_peak_noise_sensitivity": MetricSpec(False, "2^(A - 4): how low a noise SD masks the most sensitive band"),
        "cb_fit_rmse": MetricSpec(False, "RMS residual of the Gaussian fit to the thresholds"),
        "top1_clean_gray": MetricSpec(True, "accuracy (%) on the gray low-contrast images without noise"),
    }

    def check(self, model: Any, dataset: Any) -> None:
        cfg = self.config
        if cfg.target not in ("label", "clean_prediction"):
            raise VisauditError(f"critical-band target must be 'label' or 'clean_prediction', not {cfg.target!r}")
        if len(cfg.noise_sds) != 4:
            raise VisauditError("critical-band uses 4 noise SDs (thresholds are 0..4)")
        if cfg.rescale not in ("finest", "full"):
            raise VisauditError(f"critical-band rescale must be 'finest' or 'full', not {cfg.rescale!r}")
        if cfg.out_of_range not in ("shift", "clip"):
            raise VisauditError(f"critical-band out_of_range must be 'shift' or 'clip', not {cfg.out_of_range!r}")
        if cfg.noise_pool < 0:
            raise VisauditError("critical-band noise_pool must be >= 0")

    def run(self, ctx: "ProbeContext") -> ProbeResult:
        import numpy as np

        from visaudit.metrics.critical_band import band_centre_frequencies, band_thresholds, fit_critical_band
        from visaudit.perturb.bandpass_noise import (
            band_noise,
            bandpass_noise_bands,
            critical_band_stimulus,
            low_contrast_gray,
            spectral_downsample,
        )
        from visaudit.rng import randn

        cfg: CriticalBandConfig = ctx.config  # type: ignore[assignment]
        self.config = cfg
        self.check(None, None)
        sds = [float(s) for s in cfg.noise_sds]
        nb = int(cfg.n_bands)

        def decide(x: Any) -> Any:
            return ctx.scores(ctx.logits(x)).argmax(dim=1)

        h, w = (int(v) for v in ctx.model.info.input_size[-2:])
        size = int(cfg.work_size) or min(h, w)

        def to_model(bands: Any) -> Any:
            """Band noise at the work size -> the model's resolution."""
            return bands if (size, size) == (h, w) else spectral_downsample(bands, (h, w))

        pool = None
        if cfg.noise_pool > 0:  # one fixed tag: the pool does not depend on batches
            pool = to_model(
                bandpass_noise_bands(
                    int(cfg.noise_pool),
                    size,
                    size,
                    nb,
                    ctx.generator("critical-band/pool"),
                    ctx.device,
                    rescale=cfg.rescale,
                )
            )

        def fn(batches: Any) -> ChunkResult:
            import torch

            correct = np.zeros((len(sds) + 1, nb))
            n = 0
            for b in batches:
                target = b.y if cfg.target == "label" else decide(b.x)
                gray = low_contrast_gray(b.x, cfg.contrast, cfg.mean_level)
                correct[0, :] += float((decide(gray.expand(-1, 3, -1, -1)) == target).sum())
                if pool is not None:
                    pick = torch.as_tensor(np.asarray(b.index) % pool.shape[1], device=pool.device)
                    pooled = pool.index_select(1, pick)
                for k in range(nb):
                    for r, sd in enumerate(sds, start=1):
                        # the reference draws new noise for every image and cell: one stream per sample and cell
                        gens = ctx.sample_rng(f"critical-band/band{k}/sd{sd:g}", b.index)
                        if pool is not None:
                            bands = pooled[k]
                        else:
                            z = randn(gens, (len(b.y), 1, size, size), device=ctx.device)
                            bands = to_model(band_noise(z, nb, bands=[k], rescale=cfg.rescale)[0])
                        stim = critical_band_stimulus(gray, bands, sd, cfg.out_of_range, cfg.oob_epsilon, gens)
                        correct[r, k] += float((decide(stim) == target).sum())
                n += len(b.y)
            return ChunkResult(sums={"correct": correct}, n=n)

        first = 2 if cfg.target == "prediction" else 1  # the gray image (and the clean one it is judged against)
        merged = ctx.map_chunks(fn, tag="critical-band", passes=first + nb * len(sds))
        grid = 100.0 * merged.sums["correct"] / max(merged.n, 1)
        thresholds = band_thresholds(grid, cfg.criterion)
        fit = fit_critical_band(thresholds)
        warnings = []
        if not fit.converged:
            warnings.append("Gaussian fit did not converge; parameters are the start values")
        if grid[0, 0] <= cfg.criterion:
            warnings.append(
                f"clean gray accuracy {grid[0, 0]:.1f} % is at or below the {cfg.criterion:g} % "
                "criterion: every threshold saturates; consider target='clean_prediction'"
            )
        flat = bool(np.all(thresholds == thresholds[0]))
        if flat:
            warnings.append(
                f"all band thresholds equal {int(thresholds[0])}: no band tuning, the Gaussian fit is "
                "degenerate and centre frequency / bandwidth are reported as NaN"
            )
        nan = float("nan")
        metrics = {
            "cb_center_frequency": nan if flat else fit.center_frequency,
            "cb_bandwidth": nan if flat else fit.bandwidth,
            "cb_peak_noise_sensitivity": fit.peak_noise_sensitivity,
            "cb_fit_rmse": fit.residual_rmse,
            "top1_clean_gray": float(grid[0, 0]),
        }
        data: CriticalBandData = {
            "grid_percent": grid.round(4).tolist(),
            "rows_noise_sd": [0.0] + sds,
            "band_centre_frequencies": band_centre_frequencies(nb).tolist(),
            "thresholds": thresholds.tolist(),
            "fit": {
                "A": fit.amplitude,
                "mu": fit.mu,
                "s": fit.sigma,
                "residuals": fit.residuals,
                "rmse": fit.residual_rmse,
                "converged": fit.converged,
            },
            "target": cfg.target,
            "work_size": int(cfg.work_size),
            "noise_pool": int(cfg.noise_pool),
            "noise": (
                "fresh per image and (band, SD) cell"
                if cfg.noise_pool == 0
                else f"pool of {int(cfg.noise_pool)} shared by dataset position and across SDs"
            ),
            "rescale": cfg.rescale,
            "out_of_range": cfg.out_of_range,
            "n_images": int(merged.n),
        }
        return ProbeResult(metrics=metrics, data=data, warnings=warnings)
