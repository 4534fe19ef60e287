"""OOD scoring: every detector from one stored pass versus re-running the model per detector.

Baseline ("naive", how per-detector wrappers work): for each detector, run the model over the
in-distribution and every OOD set again to get the logits/features that detector needs, then
fit and score it. Ours: one pass per dataset stores logits and penultimate features (ODIN's
perturbed passes run inside that same pass), then all detectors are fitted and scored from the
arrays. Both use the same batches, model and detector code, and the script checks that they
give the same AUROCs. One run, CPU by default.

Usage: python bench/ood_detectors.py [--model cifar10_resnet20] [--n-id 1000] [--n-ood 500] [--no-odin]
Needs VISAUDIT_DATA / VISAUDIT_WEIGHTS (defaults to ../shared beside the checkout).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
os.environ.setdefault("VISAUDIT_DATA", str(SHARED / "data"))
os.environ.setdefault("VISAUDIT_WEIGHTS", str(SHARED / "models"))

DETECTORS = ["msp", "maxlogit", "energy", "odin", "mahalanobis", "vim", "knn", "react", "ash"]
OOD_SETS = ["fashion-mnist", "blobs"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="cifar10_resnet20")
    ap.add_argument("--n-id", type=int, default=1000)
    ap.add_argument("--n-ood", type=int, default=500)
    ap.add_argument("--batch-size", type=int, default=250)
    ap.add_argument("--no-odin", action="store_true")
    args = ap.parse_args()

    import numpy as np
    import torch

    from visaudit.data import open_dataset
    from visaudit.data.base import Preprocess, collate
    from visaudit.data.synthetic_ood import synthetic_ood
    from visaudit.engine.subset import select_indices
    from visaudit.models import load_model
    from visaudit.ood.evaluate import StoredSet, collect_chunk, evaluate
    from visaudit.probes.base import Batch

    dets = [d for d in DETECTORS if not (args.no_odin and d == "odin")]
    model = load_model(args.model).eval()
    pre = Preprocess(tuple(model.info.input_size), model.info.interpolation, model.info.crop_pct)
    id_ds = open_dataset("cifar10-test").bind(pre)
    sets = {"id": (id_ds, select_indices(len(id_ds), args.n_id, 0))}
    for name in OOD_SETS:
        ds = synthetic_ood(name, args.n_ood).bind(pre) if name == "blobs" else open_dataset(name).bind(pre)
        sets[name] = (ds, select_indices(len(ds), args.n_ood, 1))
    # decode once, outside both timings: the comparison is about model passes, not JPEG decoding
    cached = {k: collate([ds[int(i)] for i in idx]) for k, (ds, idx) in sets.items()}
    head_w = model.head_weight.detach().numpy()
    head_b = model.head_bias.detach().numpy()

    def batches(key: str):
        raw = cached[key]
        for s in range(0, len(raw["index"]), args.batch_size):
            yield Batch(
                raw["x"][s : s + args.batch_size].float() / 255,
                raw["y"][s : s + args.batch_size],
                raw["index"][s : s + args.batch_size],
                [],
            )

    def one_run(detectors: list[str]) -> tuple[dict, int, float]:
        views = {"all": None} if "odin" in detectors else {}
        stored = {
            k: StoredSet.from_stacks(
                collect_chunk(model, batches(k), views, fit_split=(0.5, 0) if k == "id" else None).stacks
            )
            for k in sets
        }
        rep = evaluate(
            stored["id"],
            {k: v for k, v in stored.items() if k != "id"},
            detectors,
            head_w,
            head_b,
            fit_labels=stored["id"].labels,
            fit_fraction=0.5,
            seed=0,
        )
        return rep.metrics, len(sets), rep.info["scoring_seconds"]

    n_images = sum(len(c["index"]) for c in cached.values())
    torch.manual_seed(0)
    with torch.no_grad():  # warm-up (thread pools, allocator) outside both timings
        model(cached["id"]["x"][: args.batch_size].float() / 255)
    t0 = time.perf_counter()
    ours, passes, scoring_s = one_run(dets)
    t_ours = time.perf_counter() - t0

    t0 = time.perf_counter()
    naive: dict = {}
    naive_passes = 0
    for d in dets:
        m, p, _ = one_run([d])
        naive.update(m)
        naive_passes += p
    t_naive = time.perf_counter() - t0

    diff = max(abs(ours[k] - naive[k]) for k in ours)
    print(
        f"model {args.model}, {torch.get_num_threads()} CPU threads, {n_images} images "
        f"({args.n_id} CIFAR-10 test ID + {args.n_ood} each of {', '.join(OOD_SETS)}), detectors: {', '.join(dets)}"
    )
    print(f"{'method':<44}{'dataset passes':>16}{'seconds':>10}")
    print(f"{'naive: re-run the model per detector':<44}{naive_passes:>16}{t_naive:>10.2f}")
    print(f"{'visaudit: one stored pass, all detectors':<44}{passes:>16}{t_ours:>10.2f}")
    print(f"{'  of which: fit + score all from arrays':<44}{0:>16}{scoring_s:>10.2f}")
    print(f"speed-up (naive / stored): {t_naive / t_ours:.2f}x;  max |metric difference|: {diff:.2e}")
    assert diff < 1e-3, "stored-array scoring must give the naive results (up to float noise of batching)"
    assert np.isfinite(t_ours)


if __name__ == "__main__":
    main()
