"""ImageNet-C on one device: the corruptions probe's inputs/s against bare forward passes, fp32 and bf16.

One run measures, for fp32 and for bf16 + channels_last, the full ``corruptions`` probe on the 15
benchmark corruptions x 5 severities (+ the clean pass) and the same model's bare forward passes on
tensors already on the device (``bench/corruptions_probe_throughput.py`` explains the baseline), and
projects the wall time of the full protocol: 50 000 validation images x (75 conditions + clean).
A ResNet-50 with seeded random weights by default (offline; speed does not depend on weights).

Usage (one command, a few minutes on an H100-class GPU):
    PYTHONPATH=src python bench/imagenet_c_throughput.py --device cuda [--data cue-conflict] [--json out.json]
On a CPU, use ``--max-images 16 --batch-size 16`` to check that it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corruptions_probe_throughput import bare_forward_rate, random_resnet50  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
os.environ.setdefault("VISAUDIT_DATA", str(SHARED / "data"))
os.environ.setdefault("VISAUDIT_WEIGHTS", str(SHARED / "models"))
FULL_IMAGES = 50_000


def measure(spec: str, args: argparse.Namespace, tmp: Path, amp: bool, channels_last: bool) -> dict:
    import visaudit
    from visaudit.perturb.corruption_names import BENCHMARK

    conds = len(BENCHMARK) * 5
    common = dict(
        models=spec,
        probes="corruptions",
        datasets=args.data,
        device=args.device,
        batch_size=args.batch_size,
        workers=args.workers,
        amp=amp,
        channels_last=channels_last,
        force=True,
        probe_config={"corruptions": {"corruptions": list(BENCHMARK), "examples": 0}},
    )
    tag = f"{'bf16' if amp else 'fp32'}{'-cl' if channels_last else ''}"
    visaudit.audit(store=tmp / f"warm-{tag}", max_images=args.batch_size, **common)  # kernels, textures, imports
    t = time.perf_counter()
    res = visaudit.audit(store=tmp / tag, max_images=args.max_images, **common)
    wall = time.perf_counter() - t
    rec = res.records[0]
    if rec.get("status") != "ok":
        raise SystemExit(f"probe failed: {rec.get('error')}")
    n, probe_s = rec["n_samples"], rec["timings"]["probe_s"]
    inputs = n * (1 + conds)
    rate = inputs / probe_s
    bare = bare_forward_rate(spec, args.device, inputs, args.batch_size, amp, channels_last)
    return {
        "precision": rec["run"]["precision"],
        "channels_last": channels_last,
        "images": n,
        "inputs": inputs,
        "probe_s": probe_s,
        "audit_wall_s": round(wall, 2),
        "probe_inputs_per_s": round(rate, 1),
        "bare_inputs_per_s": round(bare, 1),
        "probe_over_bare": round(rate / bare, 3),
        "projected_full_imagenet_c_min": round(FULL_IMAGES * (1 + conds) / rate / 60, 1),
        "bare_full_imagenet_c_min": round(FULL_IMAGES * (1 + conds) / bare / 60, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="cue-conflict", help="dataset name or image folder (224 px or larger)")
    ap.add_argument("--model", default="", help="model spec (default: random-weight ResNet-50)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--max-images", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--json", default="", help="write the figures here")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="visaudit-bench-"))
    spec = args.model or random_resnet50(tmp)
    rows = [measure(spec, args, tmp, amp=False, channels_last=False), measure(spec, args, tmp, True, True)]
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"cpu ({os.cpu_count()} cores)"
    print(f"device {name}; {args.model or 'timm resnet50 (random weights)'}; data {args.data}; batch {args.batch_size}")
    print(f"{rows[0]['images']} images x (1 clean + 75 corruption x severity) = {rows[0]['inputs']} inputs per run")
    print("| precision | probe inputs/s | bare forward inputs/s | probe / bare | full ImageNet-C (min) | bare (min) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        label = r["precision"] + (" + channels_last" if r["channels_last"] else "")
        print(
            f"| {label} | {r['probe_inputs_per_s']} | {r['bare_inputs_per_s']} | {r['probe_over_bare']} "
            f"| {r['projected_full_imagenet_c_min']} | {r['bare_full_imagenet_c_min']} |"
        )
    print(f"full ImageNet-C = {FULL_IMAGES} images x 76 inputs, projected from the probe's measured rate")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": name, "model": spec, "runs": rows}, indent=1))


if __name__ == "__main__":
    main()
