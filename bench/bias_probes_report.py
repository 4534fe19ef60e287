"""Run the bias probes on the real models and data once and print the figures of issue 5.

Usage (data/weights through the usual settings)::

    VISAUDIT_DATA=... VISAUDIT_WEIGHTS=... python bench/bias_probes_report.py OUT_DIR [--quick]

Writes ``OUT_DIR/store`` (the records), ``OUT_DIR/summary.json`` (after every step, so a
partial run still leaves its numbers) and PNG figures; prints each table as it goes.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import visaudit

STEPS = [
    # (models, probe, datasets, max_images, probe config); sized for a shared 2-core CPU
    (["efficientnet_lite0"], "shape-bias", ["cue-conflict", "edges", "silhouettes"], None, {}),
    (["cifar10_resnet20"], "spectral-bias", ["cifar10-test"], 500, {"fourier_images": 32}),
    (["cifar10_resnet20"], "critical-band", ["cifar10-test"], 256, {"contrast": 1.0}),
    (["cifar10_resnet20"], "critical-band", ["cifar10-test"], 256, {}),
    (["efficientnet_lite0"], "accuracy", ["silhouettes"], 64, {}),  # images/s baseline: clean forward only
    (["efficientnet_lite0"], "spectral-bias", ["silhouettes"], 64, {"fourier_images": 16, "fourier_steps": 3}),
    (["efficientnet_lite0"], "critical-band", ["silhouettes"], 24, {"target": "clean_prediction", "noise_pool": 24}),
    (["efficientnet_lite1", "efficientnet_lite2"], "shape-bias", ["cue-conflict"], 320, {}),
]

HEAD = {
    "accuracy": ["top1"],
    "shape-bias": ["shape_bias", "shape_match", "texture_match", "top1_16class"],
    "spectral-bias": ["top1_clean", "lpp", "hpp", "spectral_bias", "fourier_error_mean"],
    "critical-band": [
        "top1_clean_gray",
        "cb_center_frequency",
        "cb_bandwidth",
        "cb_peak_noise_sensitivity",
        "cb_fit_rmse",
    ],
}


def main(out: Path, quick: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    summary: list[dict] = []
    for models, probe, datasets, max_images, cfg in STEPS:
        if quick:
            max_images = 16
        t0 = time.perf_counter()
        res = visaudit.audit(
            models,
            probe,
            datasets,
            store=out / "store",
            max_images=max_images,
            probe_config={probe: cfg} if cfg else None,
        )
        for r in res.records:
            m = r["metrics"]
            row = {
                "model": r["model"]["name"],
                "probe": probe,
                "dataset": r["dataset"]["name"],
                "config": cfg,
                "n": r.get("n_samples"),
                "status": r["status"],
                "images_per_s": (r.get("timings") or {}).get("images_per_s"),
                "probe_s": (r.get("timings") or {}).get("probe_s"),
                "metrics": {k: m[k] for k in HEAD[probe] if k in m},
                "per_category": {k: v for k, v in m.items() if k.startswith("shape_bias@")},
                "data": {
                    k: r["data"][k]
                    for k in ("grid_percent", "thresholds", "fit", "lowpass_top1", "highpass_top1", "cutoffs")
                    if k in r["data"]
                },
                "warnings": r.get("warnings"),
                "artifacts": [str(out / "store" / a) for a in r.get("artifacts", [])],
            }
            summary.append(row)
            print(
                json.dumps(
                    {k: row[k] for k in ("model", "probe", "dataset", "config", "n", "images_per_s", "metrics")}
                ),
                flush=True,
            )
        print(f"# step {probe} {models} took {time.perf_counter() - t0:.0f} s", flush=True)
        (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    figures(summary, out)


def figures(summary: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sb = [r for r in summary if r["probe"] == "shape-bias" and r["dataset"] == "cue-conflict"]
    if sb:
        fig, ax = plt.subplots(figsize=(7, 4))
        cats = sorted({k.split("@")[1] for r in sb for k in r["per_category"]})
        for i, r in enumerate(sb):
            ax.scatter(
                [r["per_category"].get(f"shape_bias@{c}", float("nan")) for c in cats],
                range(len(cats)),
                label=f"{r['model']} ({r['metrics']['shape_bias']:.3f})",
                marker="os^"[i % 3],
            )
        ax.set_yticks(range(len(cats)), cats)
        ax.set_xlim(0, 1)
        ax.set_xlabel("fraction of shape decisions")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "shape_bias.png", dpi=100)
    for r in summary:
        if r["probe"] == "critical-band" and "grid_percent" in r["data"]:
            fig, ax = plt.subplots(figsize=(5, 3))
            im = ax.imshow(r["data"]["grid_percent"], vmin=0, vmax=100, cmap="magma")
            ax.set_xlabel("band (1.75 * 2^k cycles/image)")
            ax.set_ylabel("noise SD row")
            ax.set_title(f"{r['model']} {r['config']}", fontsize=8)
            fig.colorbar(im, ax=ax, label="accuracy %")
            fig.tight_layout()
            tag = "_".join(f"{k}-{v}" for k, v in r["config"].items()) or "default"
            fig.savefig(out / f"critical_band_{r['model']}_{tag}.png", dpi=100)


if __name__ == "__main__":
    main(Path(sys.argv[1]), "--quick" in sys.argv)
