"""AUROC and FPR@95 of every OOD detector for the CIFAR-10 ResNets (run once; prints Markdown).

In-distribution: a seeded subset of CIFAR-10 test (half fits the detectors, half is scored);
OOD: the four synthetic sets, Fashion-MNIST, the silhouettes, the held-out-classes split
(ID classes 0-5 vs 6-9 with outputs restricted to 0-5) and, as a sanity row, other CIFAR-10
test images given as "OOD" (should be 0.5 / 0.95). Runs through ``visaudit.audit``.

Usage: python scripts/ood_table.py [--models cifar10_resnet20 cifar10_resnet56] [--n-id 1000] [--n-ood 500]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
os.environ.setdefault("VISAUDIT_DATA", str(SHARED / "data"))
os.environ.setdefault("VISAUDIT_WEIGHTS", str(SHARED / "models"))

SETS = [
    "uniform-noise",
    "gaussian-noise",
    "blobs",
    "solid-colours",
    "fashion-mnist",
    "silhouettes",
    "heldout-classes",
    "cifar10-test",
]
SHORT = {
    "uniform-noise": "uniform",
    "gaussian-noise": "gauss",
    "solid-colours": "solid",
    "fashion-mnist": "f-mnist",
    "silhouettes": "silh.",
    "heldout-classes": "held-out 6-9",
    "cifar10-test": "ID copy",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["cifar10_resnet20", "cifar10_resnet56"])
    ap.add_argument("--n-id", type=int, default=1000)
    ap.add_argument("--n-ood", type=int, default=500)
    ap.add_argument("--store", default="/tmp/visaudit-ood-table")
    args = ap.parse_args()

    import visaudit

    for model in args.models:
        t0 = time.perf_counter()
        res = visaudit.audit(
            model,
            "ood",
            "cifar10-test",
            store=args.store,
            max_images=args.n_id,
            probe_config={"ood": {"ood_sets": ["auto", "cifar10-test"], "max_ood_images": args.n_ood}},
        )
        (rec,) = res.records
        if rec["status"] != "ok":
            raise SystemExit(rec["error"])
        m = rec["metrics"]
        split = rec["data"]["split"]
        print(
            f"\n### {model}: {split['n_fit']} fit / {split['n_id_eval']} scored ID images, "
            f"OOD n = {split['n_ood']}, held-out split {split.get('heldout', {})} "
            f"({time.perf_counter() - t0:.0f} s)\n"
        )
        for metric, title in (("auroc", "AUROC (higher is better)"), ("fpr95", "FPR@95%TPR (lower is better)")):
            print(f"{title}\n")
            print("| detector | " + " | ".join(SHORT.get(s, s) for s in SETS) + " | mean far |")
            print("|---" * (len(SETS) + 2) + "|")
            for det in rec["probe"]["config"]["detectors"]:
                vals = [m.get(f"{metric}@{det}/{s}", float("nan")) for s in SETS]
                print(f"| {det} | " + " | ".join(f"{v:.3f}" for v in vals) + f" | {m[f'{metric}@{det}/mean']:.3f} |")
            print()
        print(
            "sanity (ID eval halves against each other):",
            {k: round(v, 3) for k, v in rec["data"]["sanity_id_vs_id_auroc"].items()},
        )


if __name__ == "__main__":
    main()
