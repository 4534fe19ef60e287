"""Fidelity table: our batched corruptions vs ``imagecorruptions`` 1.1.2, per corruption x severity.

Columns: PSNR (deterministic corruptions) or the paired mean-squared-change ratio (random ones)
on 224 px cue-conflict stimuli and on CIFAR-10 test images, and ``cifar10_resnet20`` top-1 under
our corruption and under the reference's on the same CIFAR-10 images (difference in points).

Usage: ``PYTHONPATH=src:<oracle site> python bench/corruptions_fidelity.py --cifar 1000 --cue 16``
(``VISAUDIT_DATA`` / ``VISAUDIT_WEIGHTS`` must point at the data and weights).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.corruption_fixtures import (cifar_images, cue_conflict_images, mse_ratio, ours_uint8, psnr,  # noqa: E402
                                       reference_outputs)
from tests.corruption_oracle import load_reference  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cifar", type=int, default=1000)
    ap.add_argument("--cue", type=int, default=16)
    ap.add_argument("--glass-cue", type=int, default=2, help="cue-conflict images for glass blur (slow reference)")
    ap.add_argument("--only", default="", help="comma-separated corruptions")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from visaudit.models import load_model
    from visaudit.perturb.corruptions import CORRUPTIONS

    ref = load_reference()
    model = load_model("cifar10_resnet20").eval()

    def predict(u8):
        x = torch.from_numpy(u8).permute(0, 3, 1, 2).float() / 255
        with torch.inference_mode():
            return torch.cat([model(x[i:i + 500]).argmax(1) for i in range(0, len(x), 500)]).numpy()

    cimgs, labels = cifar_images(args.cifar)
    print(f"clean resnet20 top-1 on {len(cimgs)} CIFAR-10 test images: {(predict(cimgs) == labels).mean():.4f}")
    names = args.only.split(",") if args.only else CORRUPTIONS.names()
    print("| corruption | sev | kind | 224 px stat | CIFAR stat | top-1 ours | top-1 ref | diff (pt) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        if name == "elastic_transform":
            print("| elastic_transform | 1-5 | n/a | imagecorruptions implements a different elastic transform |||||")
            continue
        random = CORRUPTIONS.get(name).random
        cue = cue_conflict_images(args.cue)
        if name == "glass_blur":
            cue = cue[: args.glass_cue]
        for sev in range(1, 6):
            t = time.time()
            o224, r224 = ours_uint8(cue, name, sev, seed=sev), reference_outputs(ref, cue, name, sev, seed=sev)
            oc, rc = ours_uint8(cimgs, name, sev, seed=sev), reference_outputs(ref, cimgs, name, sev, seed=sev)
            if random:
                s224, sc, kind = f"{mse_ratio(cue, o224, r224):+.3f}", f"{mse_ratio(cimgs, oc, rc):+.3f}", "mse ratio"
            else:
                s224, sc, kind = f"{psnr(o224, r224):.1f} dB", f"{psnr(oc, rc):.1f} dB", "PSNR"
            ao, ar = float((predict(oc) == labels).mean()), float((predict(rc) == labels).mean())
            print(f"| {name} | {sev} | {kind} | {s224} | {sc} | {ao:.3f} | {ar:.3f} | {100 * (ao - ar):+.1f} |", flush=True)
            del t


if __name__ == "__main__":
    main()
