"""Speed: our batched corruptions vs ``imagecorruptions`` 1.1.2 on the same 224 px images.

One run, same cue-conflict stimuli, CPU (or ``--device cuda`` for ours). For every corruption
the 5 severities are timed: ours on a batch of ``--n`` images per severity, the reference one
image at a time on the same images (or the first ``--n-ref``; ``--n-glass`` for glass blur, whose
per-pixel Python loop takes seconds per image). Images/s = images corrupted / seconds, over the 5 severities; each
side's time is the fastest of ``--repeats`` passes, the two sides' passes alternating (shared
VMs are noisy; the minimum is the least disturbed run, taken the same way for both sides). Also reported: our time to corrupt a
batch as a fraction of efficientnet_lite0's forward pass on it. ``--uint8`` gives ours the uint8
batch and takes uint8 back (quantised like the benchmark's stored images), the reference's own
input and output; by default ours works on floats in [0, 1].

Usage: ``PYTHONPATH=src:<oracle site> python bench/corruptions_speed.py``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.corruption_fixtures import cue_conflict_images, reference_outputs  # noqa: E402
from tests.corruption_oracle import load_reference  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=32, help="images per batch for ours")
    ap.add_argument("--n-ref", type=int, default=0, help="images for the reference (0: the same --n images)")
    ap.add_argument("--n-glass", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--no-ref", action="store_true", help="skip the reference (GPU runs)")
    ap.add_argument(
        "--uint8", action="store_true", help="give ours the uint8 batch and take uint8 back, as the reference does"
    )
    ap.add_argument("--repeats", type=int, default=3, help="passes per side; the fastest counts")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="time only these corruptions")
    ap.add_argument("--threads", type=int, default=0, help="torch threads for ours (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from visaudit.models import load_model
    from visaudit.perturb.corruptions import BENCHMARK, CORRUPTIONS, corrupt

    dev = torch.device(args.device)
    ref = None if args.no_ref else load_reference()
    args.n_ref = args.n_ref or args.n
    imgs = cue_conflict_images(max(args.n, args.n_ref))
    x8 = torch.from_numpy(imgs[: args.n]).permute(0, 3, 1, 2).contiguous().to(dev)
    xf = x8.float() / 255
    x = x8 if args.uint8 else xf
    # warm-up at the timed batch size, every severity: caches, kernels, texture files, lazy
    # imports, and on CUDA the cuFFT plans (one per padded size, built on first use; a probe
    # builds them on its first batch and reuses them for every later one)
    for name in args.only or CORRUPTIONS.names():
        for sev in range(1, 6):
            corrupt(x, name, sev, generator=torch.Generator(device=dev).manual_seed(0))
    print(
        f"device {dev}, torch threads {torch.get_num_threads()}, batch {args.n} x 224 px cue-conflict, "
        f"{'uint8' if args.uint8 else 'float [0, 1]'} in and out for ours, fastest of {args.repeats} passes per side"
    )
    print("| corruption | ours img/s | imagecorruptions img/s | ratio |")
    print("|---|---|---|---|")
    t_ours, t_ref, per_batch = {}, {}, []
    names = args.only or CORRUPTIONS.names()
    for name in names:
        # the two sides' passes alternate, so a slow phase of a shared machine hits both alike
        passes, ref_passes = [], []
        n_ref = args.n_glass if name == "glass_blur" else args.n_ref
        for _ in range(args.repeats):
            sync(dev)
            t = time.perf_counter()
            batch_times = []
            for sev in range(1, 6):
                t0 = time.perf_counter()
                corrupt(x, name, sev, generator=torch.Generator(device=dev).manual_seed(sev))
                sync(dev)
                batch_times.append(time.perf_counter() - t0)
            passes.append((time.perf_counter() - t, batch_times))
            if ref is not None:
                t = time.perf_counter()
                for sev in range(1, 6):
                    reference_outputs(ref, imgs[:n_ref], name, sev, seed=sev)
                ref_passes.append(time.perf_counter() - t)
        best, batch_times = min(passes)
        t_ours[name] = best / (5 * args.n)
        if name in BENCHMARK:
            per_batch.extend(batch_times)
        if ref_passes:
            t_ref[name] = min(ref_passes) / (5 * n_ref)
        r = f"{1 / t_ref[name]:.1f}" if name in t_ref else "-"
        ratio = f"{t_ref[name] / t_ours[name]:.1f}x" if name in t_ref else "-"
        print(f"| {name} | {1 / t_ours[name]:.1f} | {r} | {ratio} |", flush=True)
    suite_ours = sum(t_ours[c] for c in BENCHMARK if c in t_ours)
    if t_ref and not args.only:
        suite_ref = sum(t_ref[c] for c in BENCHMARK)
        print(
            f"\n15 x 5 benchmark suite, seconds per image (all 75 conditions): ours {suite_ours:.3g}, "
            f"imagecorruptions {suite_ref:.3g}, ratio {suite_ref / suite_ours:.1f}x"
        )
    if t_ref:
        slower = [c for c in t_ref if t_ref[c] < t_ours[c]]
        print(f"corruptions where ours is slower than the reference: {slower or 'none'}")
    model = load_model("efficientnet_lite0", device=str(dev)).eval()
    with torch.inference_mode():
        model(xf)
        sync(dev)
        t = time.perf_counter()
        for _ in range(3):
            model(xf)
        sync(dev)
        fwd = (time.perf_counter() - t) / 3
    if not per_batch:
        return
    mean_batch = float(np.mean(per_batch))
    suite = "15 x 5" if len(per_batch) == 75 else str(len(per_batch))
    print(
        f"\nefficientnet_lite0 forward on the batch of {args.n}: {fwd:.3f} s; mean time to corrupt the batch "
        f"({suite} conditions): {mean_batch:.3f} s = {mean_batch / fwd:.2f} x the forward pass "
        f"(median {float(np.median(per_batch)) / fwd:.2f} x)"
    )


if __name__ == "__main__":
    main()
