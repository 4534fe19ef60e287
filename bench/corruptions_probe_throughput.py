"""Throughput of the full ``corruptions`` probe against the model's own forward passes.

The probe decodes each batch once and makes every corruption x severity from it on the device,
then classifies each variant. Its cost floor is the model's forward passes over
``images x (1 + conditions)`` inputs; the baseline here is exactly those passes on tensors already
on the device (no decoding, no corruption). The ratio says how close the probe is to being bound
by the model's own compute.

The default model is a ResNet-50 (timm ``resnet50``) with random weights written to a local
safetensors file, so the bench runs offline; throughput does not depend on the weights.

Usage: ``PYTHONPATH=src python bench/corruptions_probe_throughput.py --data <image folder> --device cuda``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch


def random_resnet50(folder: Path) -> str:
    """``timm:resnet50@<file>`` with seeded random weights (no download)."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(0)
    net = timm.create_model("resnet50", pretrained=False)
    path = folder / "resnet50_random.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path))
    return f"timm:resnet50@{path}"


def bare_forward_rate(spec: str, device: str, n_inputs: int, batch: int, amp: bool, channels_last: bool) -> float:
    """Images/s of the model alone on ``n_inputs`` random [0,1] inputs already on the device."""
    from visaudit.models import load_model

    model = load_model(spec, device=device).eval()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    size = model.info.input_size
    x = torch.rand(batch, *size, device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float16

    def fwd() -> None:
        if amp:
            with torch.autocast(torch.device(device).type, dtype=dtype):
                model(x).float().argmax(1)
        else:
            model(x).float().argmax(1)

    with torch.inference_mode():
        for _ in range(3):
            fwd()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        steps = max(1, n_inputs // batch)
        t = time.perf_counter()
        for _ in range(steps):
            fwd()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return steps * batch / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="image folder (class sub-folders)")
    ap.add_argument("--model", default="", help="model spec (default: random-weight ResNet-50)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--max-images", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--amp", action="store_true")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--storage", default="auto", help="corruptions probe storage option")
    ap.add_argument("--json", default="", help="write the figures here")
    args = ap.parse_args()

    import visaudit
    from visaudit.perturb.corruption_names import ALL

    tmp = Path(tempfile.mkdtemp(prefix="visaudit-bench-"))
    spec = args.model or random_resnet50(tmp)
    conds = len(ALL) * 5
    common = dict(
        models=spec,
        probes="corruptions",
        datasets=args.data,
        device=args.device,
        batch_size=args.batch_size,
        workers=args.workers,
        amp=args.amp,
        channels_last=args.channels_last,
        force=True,
        probe_config={"corruptions": {"storage": args.storage, "examples": 0}},
    )
    # warm-up: kernels, textures, lazy imports, cudnn autotuning
    visaudit.audit(store=tmp / "warm", max_images=args.batch_size, **common)
    t = time.perf_counter()
    res = visaudit.audit(store=tmp / "store", max_images=args.max_images, **common)
    wall = time.perf_counter() - t
    rec = res.records[0]
    if rec.get("status") != "ok":
        raise SystemExit(f"probe failed: {rec.get('error')}")
    n = rec["n_samples"]
    probe_s = rec["timings"]["probe_s"]
    inputs = n * (1 + conds)
    probe_rate = inputs / probe_s
    bare = bare_forward_rate(spec, args.device, inputs, args.batch_size, args.amp, args.channels_last)
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    out = {
        "device": name,
        "model": "timm resnet50 (random weights)" if not args.model else spec,
        "images": n,
        "conditions": conds,
        "batch_size": args.batch_size,
        "amp": args.amp,
        "channels_last": args.channels_last,
        "storage": rec["data"]["source"]["storage"],
        "probe_seconds": probe_s,
        "audit_wall_seconds": round(wall, 2),
        "probe_inputs_per_s": round(probe_rate, 1),
        "probe_source_images_per_s": round(n / probe_s, 2),
        "bare_forward_inputs_per_s": round(bare, 1),
        "probe_over_bare": round(probe_rate / bare, 3),
        "corrupted_top1": rec["metrics"].get("corrupted_top1"),
    }
    print(
        f"device {name}; {out['model']}; {n} images x (1 clean + {conds} corruption x severity) = {inputs} "
        f"classified inputs; batch {args.batch_size}, amp {args.amp}, channels_last {args.channels_last}, "
        f"storage {out['storage']}"
    )
    print("| | inputs/s | source images/s |")
    print("|---|---|---|")
    print(f"| full corruptions probe | {probe_rate:.1f} | {n / probe_s:.2f} |")
    print(f"| bare forward passes (baseline) | {bare:.1f} | {bare / (1 + conds):.2f} |")
    print(f"probe / bare = {probe_rate / bare:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
