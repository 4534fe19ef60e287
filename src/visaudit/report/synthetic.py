"""Synthetic records in the store schema, one per probe, with every documented ``data`` layout.

For the report benchmark and the renderer's unit tests, and as a worked example of the
layouts listed in :mod:`visaudit.report.figures`. The numbers are random, not measurements.

Example:
    >>> recs = synthetic_records(n_models=2, seed=0)
    >>> sorted({r["probe"]["name"] for r in recs})[:3]
    ['accuracy', 'adversarial', 'calibration']
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

from visaudit.perturb.corruption_names import BENCHMARK
from visaudit.report.records import PROBE_ORDER

if TYPE_CHECKING:  # pragma: no cover - the declared layouts, for annotations only
    from visaudit.probes.accuracy import AccuracyData
    from visaudit.probes.calibration import CalibrationData, ReliabilityBins
    from visaudit.probes.confidence import ConfidenceData
    from visaudit.probes.corruptions import CorruptionsData
    from visaudit.probes.filters import FilterStatsData
    from visaudit.probes.human_likeness import HumanLikenessData, SubjectAgreement
    from visaudit.probes.nuisance_sweeps import NuisanceSweepsData
    from visaudit.probes.perturbation_anatomy import PerturbationAnatomyData
    from visaudit.probes.quantization import QuantizationSensitivityData
    from visaudit.probes.shape_bias import ShapeBiasData
    from visaudit.probes.solarization import SolarizationData

CORRUPTIONS = list(BENCHMARK)  # the 15 ImageNet-C corruptions in the benchmark's order
CATEGORIES = [
    "airplane",
    "bear",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "car",
    "cat",
    "chair",
    "clock",
    "dog",
    "elephant",
    "keyboard",
    "knife",
    "oven",
    "truck",
]
LAYERS = [f"layer{i}.{j}.conv{k}" for i in (1, 2, 3) for j in range(3) for k in (1, 2)]
LABEL_MAP = {
    "kind": "identity",
    "model_space": "cifar10",
    "data_space": "cifar10",
    "n_classes": 10,
    "protocol": "full (10 classes)",
}
N = 1000  # images per synthetic record


def _hib(*names: str, higher: bool = True) -> dict[str, dict[str, Any]]:
    return {n: {"higher_is_better": higher, "description": ""} for n in names}


def _probe_payload(probe: str, rnd: random.Random, skill: float) -> tuple[dict, dict, dict]:
    """(metrics, metric_info, data) of one synthetic probe result; ``skill`` in (0, 1).

    ``data`` follows the probe's declared layout (``<Probe>.Data``) where the probe has one.
    Typed payloads derive everything beyond the original draws from the drawn numbers, so
    the random stream (and every other record of a seed) stays as it was.
    """
    u = lambda a=0.0, b=1.0: rnd.uniform(a, b)  # noqa: E731
    m: dict[str, float] = {}
    data: dict[str, Any] = {}
    info: dict[str, dict[str, Any]] = {}
    if probe == "accuracy":
        m = {"top1": skill, "top5": min(1, skill + 0.05)}
        m.update({f"class_top1@{c}": min(1, max(0, skill + u(-0.1, 0.1))) for c in CATEGORIES[:10]})
        accuracy: AccuracyData = {
            "per_class": {c: {"n": N // 10, "top1": m[f"class_top1@{c}"]} for c in CATEGORIES[:10]},
            "label_map": dict(LABEL_MAP),
            "n": N,
        }
        data = dict(accuracy)
        info = _hib("top1", "top5", "class_top1")
    elif probe == "corruptions":
        for c in CORRUPTIONS:
            for s in range(1, 6):
                m[f"top1@{c}/{s}"] = max(0.0, skill * (1 - 0.15 * s * u(0.5, 1.2)))
        m["top1"] = skill
        m["corrupted_top1"] = sum(v for k, v in m.items() if "@" in k) / 75
        m["mce"] = 1.3 - skill + u(-0.05, 0.05)
        m["relative_mce"] = m["mce"] * 1.1
        corruptions: CorruptionsData = {
            "params": "cifar",
            "normalisation": "none",
            "grid": {c: {str(s): m[f"top1@{c}/{s}"] for s in range(1, 6)} for c in CORRUPTIONS},
            "families": {
                "noise": CORRUPTIONS[:3],
                "blur": CORRUPTIONS[3:7],
                "weather": CORRUPTIONS[7:11],
                "digital": CORRUPTIONS[11:],
            },
            "n": {f"{c}/{s}": float(N) for c in CORRUPTIONS for s in range(1, 6)},
            "source": {"kind": "generated", "params": "cifar", "storage": "uint8", "note": "synthetic"},
        }
        data = dict(corruptions)
        info = {**_hib("top1", "corrupted_top1"), **_hib("mce", "relative_mce", higher=False)}
    elif probe == "solarization":
        t = [i / 100 for i in range(101)]
        acc = [skill * (0.3 + 0.7 * abs(2 * x - 1)) for x in t]
        solarization: SolarizationData = {
            "sweep": {"threshold": t, "top1": acc},
            "randsol": {"iteration": list(range(1, 11)), "robust_top1": [skill * 0.8**i for i in range(1, 11)]},
            "rule": "pixels >= t are inverted (PIL ImageOps.solarize)",
            "n": float(N),
        }
        data = dict(solarization)
        m = {"sweep_worst_top1": min(acc), "sweep_worst_threshold": t[acc.index(min(acc))], "randsol_top1": skill * 0.2}
        info = _hib("sweep_worst_top1", "randsol_top1")
        info["sweep_worst_threshold"] = {"higher_is_better": True, "description": ""}
    elif probe == "nuisance-sweeps":
        nuisance: NuisanceSweepsData = {
            "curves": {
                k: {
                    "value": [i / 10 for i in range(11)],
                    "top1": [skill * math.exp(-i / (5 + 10 * u())) for i in range(11)],
                    "unit": "level",
                    "neutral": 0.0,
                }
                for k in ("brightness", "blur", "jpeg")
            },
            "shift_window": 1,
            "shifts": [[dy, dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)],
            "shift_border": "edge pixels repeated",
            "n": float(N),
        }
        data = dict(nuisance)
        m = {f"auc@{k}": u(0.3, 0.9) for k in nuisance["curves"]}
        m["shift_consistency"] = u(0.6, 0.95)
        info = _hib("auc", "shift_consistency")
    elif probe == "adversarial":
        m = {"clean_top1": skill}
        for e in (1, 2, 4, 8):
            m[f"robust_top1@autoattack/linf={e}/255"] = skill * math.exp(-e * u(0.3, 1.0))
            m[f"robust_top1@pgd20/linf={e}/255"] = skill * math.exp(-e * u(0.2, 0.8))
        for e in (0.25, 0.5):
            m[f"robust_top1@pgd20/l2={e}"] = skill * math.exp(-e * 4 * u())
        eps = [i / 255 / 4 for i in range(33)]
        data["curve"] = {
            "norm": "linf",
            "eps": eps,
            "top1": [skill * math.exp(-e * 255 / 3) for e in eps],
            "estimate": "synthetic",
        }
        data.update(
            table=[{"attack": "pgd20", "norm": "l2", "eps": "0.5", "robust_top1": m["robust_top1@pgd20/l2=0.5"]}],
            budget={"pgd20/l2=0.5": {"forward_images": 21000, "backward_images": 20000, "wall_s": 1.0}},
            n_images=1000,
            attack_settings={"autoattack": {}},
            passes={"forward_images": 1, "backward_images": 1},
        )
        info = _hib("clean_top1", "robust_top1")
    elif probe == "confidence":
        hists = {g: [float(rnd.randint(0, 50)) for _ in range(20)] for g in ("correct", "error", "adversarial")}
        confidence: ConfidenceData = {
            "bin_edges": [i / 20 for i in range(21)],
            "threshold": 0.9,
            "histograms": hists,
            "counts": {g: int(sum(h)) for g, h in hists.items()},
            "attack": {"name": "apgd-ce", "norm": "linf", "eps": "8/255", "options": {}},
        }
        data = dict(confidence)
        m = {"mean_confidence_on_errors": u(0.4, 0.8), "confident_error_rate": u(0, 0.3)}
        info = _hib("mean_confidence_on_errors", "confident_error_rate", higher=False)
    elif probe == "perturbation-anatomy":
        anatomy: PerturbationAnatomyData = {
            "uniform_border_share": 0.4375,
            "uniform_y_share": 0.353,
            "border_width_px": 4,
            "energy_map": [[u() for _ in range(32)] for _ in range(32)],
            "attack": {"name": "apgd-ce", "norm": "l2", "eps": "0.5", "options": {}},
        }
        data = dict(anatomy)
        m = {"border_energy_share": u(0.1, 0.4), "y_energy_share": u(0.3, 0.6)}
        info = _hib("border_energy_share", "y_energy_share")
    elif probe == "shape-bias":
        base = u(0.1, 0.6)
        for c in CATEGORIES:
            m[f"shape_bias@{c}"] = min(1, max(0, base + u(-0.2, 0.2)))
        m["shape_bias"] = base
        m["shape_match"], m["texture_match"] = base * 0.4, (1 - base) * 0.4
        n_conflict = 1200  # the 1280 cue-conflict images less the 80 whose cues agree
        shape_bias: ShapeBiasData = {
            "counts": {
                "n_conflict": n_conflict,
                "n_shape": round(m["shape_match"] * n_conflict),
                "n_texture": round(m["texture_match"] * n_conflict),
            },
            "prompt_steering": "skipped: not a zero-shot model",
        }
        data = dict(shape_bias)
        info = _hib("shape_bias", "shape_match", "texture_match")
    elif probe == "human-likeness":
        subjects = [f"subject-{i:02d}" for i in range(1, 6)]
        human_acc = {h: u(0.7, 0.95) for h in subjects}
        rows: list[SubjectAgreement] = []
        for h in subjects:
            ec = u(0.0, 0.5) * skill
            rows.append(
                {
                    "subject": h,
                    "n_trials": 160,
                    "subject_accuracy": human_acc[h],
                    "model_accuracy": skill * 0.6,
                    "observed_consistency": 0.5 + ec / 2,
                    "expected_consistency": 0.5,
                    "error_consistency": ec,
                }
            )
            m[f"error_consistency@{h}"] = ec
        pairs = {a: {b: u(0.3, 0.6) for b in subjects if b != a} for a in subjects}
        human: HumanLikenessData = {"subjects": rows, "human_pairs": pairs, "files": [], "n_images": 160}
        data = dict(human)
        m["error_consistency"] = sum(r["error_consistency"] for r in rows) / len(rows)
        m["accuracy_difference"] = sum((skill * 0.6 - a) ** 2 for a in human_acc.values()) / len(rows)
        info = _hib("error_consistency")
        info.update(_hib("accuracy_difference", higher=False))
    elif probe == "spectral-bias":
        cut = [0.1, 0.2, 0.3, 0.4, 0.5]
        data["cutoffs"] = cut
        data["lowpass_top1"] = [skill * min(1, c * 2.5) for c in cut]
        data["highpass_top1"] = [skill * u(0, 0.4) * (1 - c) for c in cut]
        data["fourier_map"] = {
            "f_y": list(range(-8, 8)),
            "f_x": list(range(-8, 8)),
            "error": [[u() for _ in range(16)] for _ in range(16)],
            "eps": 4.0,
            "n_images": 64,
        }
        data.update(
            n_images=1000, lpp_hpp={"lpp, hpp": "mean accuracy over the cutoffs"}, filters="reference square mask"
        )
        lpp, hpp = sum(data["lowpass_top1"]) / 5, sum(data["highpass_top1"]) / 5
        m = {"lpp": lpp, "hpp": hpp, "spectral_bias": hpp / (lpp + hpp)}
        for c, lo, hi in zip(cut, data["lowpass_top1"], data["highpass_top1"]):
            m[f"top1_lowpass@{c:g}"], m[f"top1_highpass@{c:g}"] = lo, hi
        info = _hib("lpp", "hpp", "spectral_bias")
    elif probe == "critical-band":
        grid = [[100 * skill] * 7] + [
            [100 * skill * math.exp(-sd * 20 * u(0.3, 1.5)) for _ in range(7)] for sd in (0.02, 0.04, 0.08, 0.16)
        ]
        data["grid_percent"] = grid
        data["rows_noise_sd"] = [0.0, 0.02, 0.04, 0.08, 0.16]
        data["thresholds"] = [rnd.randint(0, 4) for _ in range(7)]
        data["fit"] = {
            "A": u(1, 4),
            "mu": u(1, 5),
            "s": u(0.5, 2),
            "residuals": [0.0] * 7,
            "rmse": 0.0,
            "converged": True,
        }
        data.update(
            band_centre_frequencies=[1.75 * 2**k for k in range(7)],
            target="label",
            work_size=0,
            noise_pool=0,
            noise="fresh per image and (band, SD) cell",
            rescale="finest",
            out_of_range="shift",
            n_images=1000,
        )
        m = {
            "cb_center_frequency": 1.75 * 2 ** data["fit"]["mu"],
            "cb_bandwidth": 2 * math.sqrt(math.log(4)) * data["fit"]["s"],
            "cb_peak_noise_sensitivity": 2 ** (data["fit"]["A"] - 4),
        }
        info = _hib("cb_center_frequency", "cb_bandwidth", "cb_peak_noise_sensitivity")
    elif probe == "calibration":
        conf = [(i + 0.5) / 15 for i in range(15)]

        def rel(scale: float) -> ReliabilityBins:
            count = [0] + [rnd.randint(1, 100) for _ in conf[1:]]  # one empty bin, as real data has
            return {
                "lower": [i / 15 for i in range(15)],
                "upper": [(i + 1) / 15 for i in range(15)],
                "count": count,
                "confidence": [None] + conf[1:],
                "accuracy": [None, *(min(1, c * u(scale, 1.1)) for c in conf[1:])],
            }

        reliability, before, after = rel(0.7), rel(0.7), rel(0.95)
        m = {"ece": u(0.01, 0.15), "nll": u(0.2, 1.0), "brier": u(0.05, 0.3), "temperature": u(1, 2)}
        calibration: CalibrationData = {
            "n": N,
            "n_bins": 15,
            "binning": "equal-width, (lo, hi]",
            "reliability": reliability,
            "temperature_scaling": {
                "temperature": m["temperature"],
                "n_fit": N // 2,
                "n_held_out": N - N // 2,
                "seed": 0,
                "before": {"ece": m["ece"], "nll": m["nll"], "brier": m["brier"]},
                "after": {"ece": m["ece"] / 2, "nll": m["nll"] * 0.9, "brier": m["brier"] * 0.95},
                "reliability_before": before,
                "reliability_after": after,
            },
            "label_map": dict(LABEL_MAP),
        }
        data = dict(calibration)
        info = _hib("ece", "nll", "brier", higher=False)
    elif probe == "ood":
        edges = [i / 20 for i in range(21)]
        for det in ("msp", "energy", "mahalanobis"):
            for s in ("fashion-mnist", "silhouettes"):
                m[f"auroc@{det}/{s}"] = u(0.5, 0.99)
                m[f"fpr95@{det}/{s}"] = u(0.1, 0.9)
        data["histograms"] = {
            "msp/fashion-mnist": {
                "edges": edges,
                "id": [rnd.randint(0, 60) for _ in range(20)],
                "ood": [rnd.randint(0, 60) for _ in range(20)],
            }
        }
        data.update(
            sign_convention="score higher = more in-distribution; OOD is the positive class",
            table=[{"detector": "msp", "set": "fashion-mnist", "auroc": m["auroc@msp/fashion-mnist"]}],
            sanity_id_vs_id_auroc={"msp": 0.5},
            split={"n_fit": 500, "n_eval": 500},
            sets={"fashion-mnist": {"kind": "dataset", "n": 1000}, "silhouettes": {"kind": "dataset", "n": 160}},
            odin=None,
            fit_labels="true labels",
            fit={"on": "id-split", "n_fit": 500},
            fpr95_conventions={"fpr95": "ID positive", "fpr95_openood": "OOD positive"},
        )
        info = {**_hib("auroc"), **_hib("fpr95", higher=False)}
    elif probe == "layer-criticality":
        m = {f"criticality@{n}": u(0, 60) for n in LAYERS}
        data["layers"] = [
            {
                "module": n,
                "kind": "conv",
                "depth": i,
                "rel_depth": i / (len(LAYERS) - 1),
                "criticality": m[f"criticality@{n}"],
                "criticality_std": 0.0,
                "top1": u(),
                "top1_ratio": u(),
                "kl": u(),
            }
            for i, n in enumerate(LAYERS)
        ]
        data.update(
            clean_top1=skill,
            reset="fresh",
            trials=3,
            module_match="exact",
            kinds=["conv", "linear"],
            n_images=1000,
            most_critical=LAYERS[:5],
        )
        m["mean_criticality"] = sum(m.values()) / len(LAYERS)
        m["max_criticality"] = max(v for k, v in m.items() if "@" in k)
        info = _hib("criticality", "mean_criticality", "max_criticality", higher=False)
    elif probe == "filters":
        for n in LAYERS:
            m[f"sparsity@{n}"], m[f"variance_entropy@{n}"], m[f"orthogonality@{n}"] = u(0, 0.3), u(1, 2), u(0.6, 1)
            m[f"variance_entropy_norm@{n}"] = m[f"variance_entropy@{n}"] / 2.2
        filters: FilterStatsData = {
            "layers": [
                {
                    "module": n,
                    "depth": i,
                    "rel_depth": i / (len(LAYERS) - 1),
                    "shape": [16, 16, 3, 3],
                    "depthwise": False,
                    "n_filters": 256.0,
                    "sparsity": m[f"sparsity@{n}"],
                    "variance_entropy": m[f"variance_entropy@{n}"],
                    "variance_entropy_norm": m[f"variance_entropy_norm@{n}"],
                    "variance_entropy_clean": m[f"variance_entropy@{n}"],
                    "variance_entropy_clean_norm": m[f"variance_entropy_norm@{n}"],
                    "orthogonality": m[f"orthogonality@{n}"],
                    "hist": [[1 / 21] * 21 for _ in range(9)],
                }
                for i, n in enumerate(LAYERS)
            ],
            "hist_bins": 21,
            "basis": "dct3",
        }
        data = dict(filters)
        info = _hib("sparsity", "variance_entropy", "orthogonality")
    elif probe == "quantization-sensitivity":
        for n in LAYERS:
            for b in (4, 8):
                m[f"delta_top1@{n}/{b}bit"] = -u(0, 0.1 if b == 4 else 0.01)
        m["mixed_precision_top1"], m["uniform_top1"] = skill - 0.01, skill - 0.05
        numel = 16 * 16 * 9
        mb = len(LAYERS) * numel / 8 / 2**20  # size per bit of width
        # budget 6 bits: half the layers at 8, half at 4; ranked at 8 bits (the nearest tried width)
        quantization: QuantizationSensitivityData = {
            "layers": [
                {
                    "module": n,
                    "numel": numel,
                    "depth": i,
                    **{f"delta_top1_{b}bit": m[f"delta_top1@{n}/{b}bit"] for b in (8, 4)},
                }
                for i, n in enumerate(LAYERS)
            ],
            "bits": [8, 4],
            "float_top1": skill,
            "ranking": sorted(LAYERS, key=lambda n: m[f"delta_top1@{n}/8bit"]),
            "allocation": {n: 8 if i % 2 else 4 for i, n in enumerate(LAYERS)},
            "budget_bits": 6,
            "ranking_bits": 8,
            "size_mb": {"mixed": 6 * mb, "uniform_8bit": 8 * mb, "uniform_6bit": 6 * mb, "uniform_4bit": 4 * mb},
            "float_size_mb": 32 * mb,
            "whole_model_top1": {
                "mixed": m["mixed_precision_top1"],
                "uniform_8bit": skill,
                "uniform_6bit": m["uniform_top1"],
                "uniform_4bit": m["uniform_top1"] - 0.05,
            },
            "whole_model_kl": {"mixed": 0.02, "uniform_8bit": 0.001, "uniform_6bit": 0.03, "uniform_4bit": 0.08},
            "n_images": N,
        }
        data = dict(quantization)
        info = _hib("delta_top1", "mixed_precision_top1", "uniform_top1")
    return m, info, data


PROBES = list(PROBE_ORDER)
DATASET = {
    "human-likeness": "silhouettes",
    "shape-bias": "cue-conflict",
    "critical-band": "cue-conflict",
    "spectral-bias": "cue-conflict",
}


def synthetic_record(model: str, probe: str, rnd: random.Random, skill: float) -> dict[str, Any]:
    """One ok record of ``probe`` for ``model`` in the store schema."""
    metrics, info, data = _probe_payload(probe, rnd, skill)
    ds = DATASET.get(probe, "cifar10-test")
    key = hashlib.sha256(f"{model}|{probe}|{ds}".encode()).hexdigest()[:20]
    from visaudit.engine.record import Record

    return Record(
        key=key,
        status="ok",
        model={
            "name": model,
            "source": "synthetic",
            "arch": model.split("-")[0],
            "weights_sha256": key * 3,
            "n_params": rnd.randint(200_000, 30_000_000),
            "label_space": "cifar10",
            "num_classes": 10,
            "preprocess": {
                "input_size": [3, 32, 32],
                "interpolation": "bilinear",
                "crop_pct": 1.0,
                "mean": [0.5] * 3,
                "std": [0.5] * 3,
                "resize": 32,
            },
        },
        probe={"name": probe, "version": 1, "config": {}},
        dataset={
            "name": ds,
            "path": f"/data/{ds}",
            "fingerprint": "0" * 16,
            "label_space": "cifar10",
            "n_total": 10000,
        },
        label_map={
            "kind": "identity",
            "model_space": "cifar10",
            "data_space": "cifar10",
            "n_classes": 10,
            "protocol": "full (10 classes)",
        },
        label_protocol="full (10 classes)",
        seed=0,
        max_images=1000,
        metrics=metrics,
        metric_info=info,
        data=data,
        n_samples=1000,
        n_selected=1000,
        run={"device": "cpu"},
        timings={"total_s": rnd.uniform(1, 100)},
        provenance={"versions": {}, "git": None, "created_at": "2026-01-01T00:00:00+00:00"},
    ).to_dict()


def synthetic_records(n_models: int = 7, seed: int = 0, probes: list[str] | None = None) -> list[dict[str, Any]]:
    """Records of ``n_models`` synthetic models over ``probes`` (default: every probe)."""
    rnd = random.Random(seed)
    out = []
    for i in range(n_models):
        skill = rnd.uniform(0.5, 0.95)
        for p in probes or PROBES:
            out.append(synthetic_record(f"synthetic-model-{i:02d}", p, rnd, skill))
    return out


def write_store(records: list[dict[str, Any]], store_dir: str | Path) -> Path:
    """Write records as ``<store>/records/<key>.json``; returns the records folder."""
    folder = Path(store_dir, "records")
    folder.mkdir(parents=True, exist_ok=True)
    for r in records:
        (folder / f"{r['key']}.json").write_text(json.dumps(r), encoding="utf-8")
    return folder


# -- galleries (the gallery contract of visaudit.probes.gallery) ----------------------------------

GALLERY_PROBES = {
    "counterfactuals": ["original", "counterfactual", "difference"],
    "attributions": ["original", "saliency", "integrated gradients"],
    "disagreement": ["image"],
    "spurious-features": ["most activating", "least activating"],
}


def _pattern_png(rnd: random.Random, size: int = 32) -> bytes:
    """A small random colour pattern as PNG (stripes and a disc: visibly different per item)."""
    import io

    import numpy as np
    from PIL import Image

    yy, xx = np.mgrid[0:size, 0:size] / size
    f, phase = rnd.uniform(2, 8), rnd.uniform(0, 6.3)
    cx, cy, r = rnd.uniform(0.3, 0.7), rnd.uniform(0.3, 0.7), rnd.uniform(0.1, 0.3)
    stripes = 0.5 + 0.5 * np.sin(2 * math.pi * f * (xx + yy) + phase)
    disc = ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r).astype(float)
    rgb = np.stack([stripes, disc, 1 - stripes * disc], axis=-1)
    buf = io.BytesIO()
    Image.fromarray((rgb * 255).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def synthetic_gallery(
    probe: str, rnd: random.Random, n_items: int = 6
) -> tuple[list[dict[str, Any]], dict[str, bytes]]:
    """A ``data["gallery"]`` list and its PNG artifacts for one of :data:`GALLERY_PROBES`."""
    gallery, artifacts = [], {}
    for i in range(n_items):
        images = []
        for label in GALLERY_PROBES[probe]:
            name = f"g{i:02d}_{label.replace(' ', '_')}.png"
            artifacts[name] = _pattern_png(rnd)
            images.append({"artifact": name, "label": label})
        true, target = rnd.sample(CATEGORIES[:10], 2)
        gallery.append(
            {
                "sample": f"{true}/{i:04d}.jpg",
                "caption": f"true: {true} -> {target}, p={rnd.random():.2f}",
                "images": images,
            }
        )
    return gallery, artifacts


def write_gallery_store(store_dir: str | Path, n_models: int = 2, seed: int = 0) -> list[dict[str, Any]]:
    """Write gallery records of every probe in :data:`GALLERY_PROBES` (with artifacts) into a store.

    ``disagreement`` compares models, so it gets one record for the whole set; the others one
    per model. Returns the records as stored.
    """
    from visaudit.engine.store import Store

    rnd = random.Random(seed)
    store = Store(Path(store_dir))
    store.ensure_writable()
    out = []
    for probe in GALLERY_PROBES:
        models = (
            ["synthetic-models-00+01"]
            if probe == "disagreement"
            else [f"synthetic-model-{i:02d}" for i in range(n_models)]
        )
        for m in models:
            rec = synthetic_record(m, probe, rnd, 0.8)
            rec["data"] = {}
            rec["data"]["gallery"], artifacts = synthetic_gallery(probe, rnd)
            out.append(store.put(rec, artifacts=artifacts))
    return out
