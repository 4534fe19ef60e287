"""Images per second of the bias probes, side by side with the plain clean forward pass.

Baseline: the ``accuracy`` probe (one clean forward pass per image) on the same model,
dataset, device and image subset, measured in the same run. Each bias probe needs several
forward passes per image (shape-bias 1, spectral-bias 11 + the Fourier map, critical-band
29), so its images/s is expected at about baseline / passes.

Usage::

    python bench/bias_probes_speed.py [--model efficientnet_lite0] [--images 32] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import visaudit

PROBES = [
    ("accuracy", "silhouettes", {}, "1 (baseline)"),
    ("shape-bias", "cue-conflict", {}, "1"),
    ("spectral-bias", "silhouettes", {"fourier_map": False}, "11"),
    ("spectral-bias", "silhouettes", {"fourier_images": 8, "fourier_steps": 3}, "11 + 13 per map image"),
    ("critical-band", "silhouettes", {"noise_pool": 32}, "29"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--device", default=None)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as store:
        for probe, dataset, cfg, passes in PROBES:
            t0 = time.perf_counter()
            res = visaudit.audit(
                args.model,
                probe,
                dataset,
                store=store,
                max_images=args.images,
                device=args.device,
                probe_config={probe: cfg} if cfg else None,
                force=True,
            )
            wall = time.perf_counter() - t0
            rec = res.records[0]
            probe_s = rec["timings"]["probe_s"]
            rows.append(
                (
                    probe,
                    dataset,
                    str(cfg or ""),
                    passes,
                    rec["n_samples"],
                    probe_s,
                    rec["n_samples"] / probe_s,
                    wall,
                    rec["device"],
                )
            )
    base = rows[0][6]
    print(f"model {args.model}; baseline = accuracy probe (clean forward only)")
    print(
        f"{'probe':14s} {'dataset':13s} {'passes/img':>22s} {'n':>4s} {'probe s':>8s} {'img/s':>7s} {'x base':>7s}  config"
    )
    for probe, dataset, cfg, passes, n, ps, ips, _wall, dev in rows:
        print(f"{probe:14s} {dataset:13s} {passes:>22s} {n:4d} {ps:8.1f} {ips:7.2f} {ips / base:7.3f}  {cfg} [{dev}]")


if __name__ == "__main__":
    main()
