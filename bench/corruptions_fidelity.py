"""Fidelity table: our batched corruptions vs ``imagecorruptions`` 1.1.2, per corruption x severity.

Columns: PSNR (deterministic corruptions) or the paired mean-squared-change ratio (random ones)
on 224 px cue-conflict stimuli and on CIFAR-10 test images, and ``cifar10_resnet20`` top-1 under
our corruption and under the reference's on the same CIFAR-10 images (difference in points).
For random corruptions each side's top-1 is the mean over ``--seeds`` independent draws (the
expected accuracy is what is compared; one draw moves by up to ~2 points). Frost and snow are
run twice: as the benchmark defines them (ours by default) and as imagecorruptions computes them
(``frost@pkg``: textures zoomed 1.1; ``snow@pkg``: flake layer blurred untrimmed, top-left kept).

Usage: ``PYTHONPATH=src:<oracle site> python bench/corruptions_fidelity.py --cifar 1000 --cue 16``
(``VISAUDIT_DATA`` / ``VISAUDIT_WEIGHTS`` must point at the data and weights).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.corruption_fixtures import cifar_images, cue_conflict_images, mse_ratio, ours_uint8, psnr, reference_outputs  # noqa: E402

TOL = 1.5  # points
from tests.corruption_oracle import load_reference  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cifar", type=int, default=1000)
    ap.add_argument("--cue", type=int, default=16)
    ap.add_argument("--glass-cue", type=int, default=2, help="cue-conflict images for glass blur (slow reference)")
    ap.add_argument("--only", default="", help="comma-separated corruptions")
    ap.add_argument("--seeds", type=int, default=3, help="draws averaged per side for random corruptions")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from visaudit.models import load_model
    from visaudit.perturb.corruptions import CORRUPTIONS

    ref = load_reference()
    model = load_model("cifar10_resnet20").eval()

    def predict(u8):
        x = torch.from_numpy(u8).permute(0, 3, 1, 2).float() / 255
        with torch.inference_mode():
            return torch.cat([model(x[i : i + 500]).argmax(1) for i in range(0, len(x), 500)]).numpy()

    cimgs, labels = cifar_images(args.cifar)
    print(f"clean resnet20 top-1 on {len(cimgs)} CIFAR-10 test images: {(predict(cimgs) == labels).mean():.4f}")
    names = args.only.split(",") if args.only else CORRUPTIONS.names()
    for variant in ("frost", "snow"):  # imagecorruptions' own departures from the benchmark
        if variant in names:
            names.insert(names.index(variant) + 1, f"{variant}@pkg")
    print(f"random corruptions: top-1 averaged over {args.seeds} draws per side")
    print("| corruption | sev | kind | 224 px stat | CIFAR stat | top-1 ours | top-1 ref | diff (pt) |")
    print("|---|---|---|---|---|---|---|---|")
    worst: dict[str, float] = {}
    for label in names:
        name, pkg = label.split("@")[0], label.endswith("@pkg")
        if name == "elastic_transform":
            print("| elastic_transform | 1-5 | n/a | imagecorruptions implements a different elastic transform |||||")
            continue
        random = CORRUPTIONS.get(name).random
        cue = cue_conflict_images(args.cue)
        if name == "glass_blur":
            cue = cue[: args.glass_cue]
        for sev in range(1, 6):
            o224 = ours_uint8(cue, name, sev, seed=sev, package_variant=pkg)
            r224 = reference_outputs(ref, cue, name, sev, seed=sev)
            draws = args.seeds if random else 1
            oc = [ours_uint8(cimgs, name, sev, seed=1000 * k + sev, package_variant=pkg) for k in range(draws)]
            rc = [reference_outputs(ref, cimgs, name, sev, seed=1000 * k + sev) for k in range(draws)]
            if random:
                s224, sc, kind = (
                    f"{mse_ratio(cue, o224, r224):+.3f}",
                    f"{mse_ratio(cimgs, oc[0], rc[0]):+.3f}",
                    "mse ratio",
                )
            else:
                s224, sc, kind = f"{psnr(o224, r224):.1f} dB", f"{psnr(oc[0], rc[0]):.1f} dB", "PSNR"
            ao = float(np.mean([(predict(d) == labels).mean() for d in oc]))
            ar = float(np.mean([(predict(d) == labels).mean() for d in rc]))
            worst[label] = max(worst.get(label, 0.0), abs(100 * (ao - ar)))
            print(
                f"| {label} | {sev} | {kind} | {s224} | {sc} | {ao:.3f} | {ar:.3f} | {100 * (ao - ar):+.1f} |",
                flush=True,
            )
    over = {k: round(v, 2) for k, v in worst.items() if v > TOL}
    print(
        f"\nlargest |top-1 difference| over the severities, per corruption (points): "
        f"{ {k: round(v, 2) for k, v in worst.items()} }"
    )
    print(f"over {TOL} points: {over or 'none'}")


if __name__ == "__main__":
    main()
