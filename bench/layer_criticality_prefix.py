"""Layer criticality wall time with and without prefix reuse (same model, sample, resets; one run).

Baseline: a full forward pass for every (layer, trial) reset. Prefix reuse: the activations
computed before the reset layer are cached per batch and only the rest of the network runs
(:mod:`visaudit.mechanics.prefix_reuse`), in two cache regimes: ``cache_mb=0`` (one clean
fill pass per group of layers, least memory) and ``cache_mb=512`` (one fill pass per batch
when the activations fit). The modes are timed batch by batch, alternating, so machine load
affects them alike; the outputs are checked to be identical.

Usage:
    PYTHONPATH=src python bench/layer_criticality_prefix.py [--models cifar10_resnet20 efficientnet_lite0]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("VISAUDIT_DATA", str(REPO.parent / "shared" / "data"))
os.environ.setdefault("VISAUDIT_WEIGHTS", str(REPO.parent / "shared" / "models"))


def sample(model, n: int, seed: int = 0) -> torch.Tensor:
    from visaudit.data import open_dataset
    from visaudit.data.base import Preprocess

    info = model.info
    name = "cifar10-test" if info.label_space == "cifar10" else "cue-conflict"
    ds = open_dataset(name).bind(Preprocess(tuple(info.input_size), info.interpolation, info.crop_pct))
    pos = np.sort(np.random.default_rng(seed).choice(len(ds), n, replace=False))
    return torch.from_numpy(np.stack([ds[int(i)][0] for i in pos])).float() / 255


def bench(name: str, n_images: int, batch: int, trials: int, repeats: int = 2) -> dict:
    from visaudit.mechanics.criticality import fresh_states, select_modules
    from visaudit.mechanics.prefix_reuse import ModuleSwapScanner
    from visaudit.models import load_model

    model = load_model(name)
    x = sample(model, n_images)
    names = select_modules(model.net)
    variants: dict = {n: [] for n in names}
    for k in range(trials):
        states, _ = fresh_states(model, names, seed=k)
        for n in names:
            variants[n].append((k, states[n]))
    modes = {"full": (False, 0.0), "reuse_group_fill": (True, 0.0), "reuse_512mb": (True, 512.0)}
    scanners = {
        m: ModuleSwapScanner(model, model.net, x[:1], prefix_reuse=r, cache_mb=c) for m, (r, c) in modes.items()
    }
    times = {m: 0.0 for m in modes}
    max_diff = 0.0
    for rep in range(repeats):
        # alternate the order between repeats so a load trend on a shared machine favours no mode
        order = list(modes) if rep % 2 == 0 else list(modes)[::-1]
        for s in range(0, len(x), batch):
            xb = x[s : s + batch]
            outs = {}
            for mode in order:
                t = time.perf_counter()
                outs[mode] = [o for _, _, o in scanners[mode].scan(xb, variants)]
                times[mode] += time.perf_counter() - t
            for mode in modes:
                max_diff = max(max_diff, max(float((a - b).abs().max()) for a, b in zip(outs[mode], outs["full"])))
    return {
        "model": name,
        "layers": len(names),
        "trials": trials,
        "images": len(x) * repeats,
        **{f"{m}_s": t for m, t in times.items()},
        "max_abs_diff": max_diff,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["cifar10_resnet20", "efficientnet_lite0"])
    ap.add_argument("--cifar-images", type=int, default=256)
    ap.add_argument("--imagenet-images", type=int, default=16)
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="passes over the sample, mode order alternating")
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device cpu")
    print(
        f"{'model':20s} {'layers':>6s} {'trials':>6s} {'images':>6s} {'full fwd (s)':>12s} "
        f"{'reuse, group fill (s)':>22s} {'reuse, 512 MB (s)':>18s} {'max |diff|':>10s}"
    )
    for name in args.models:
        cifar = name.startswith("cifar10")
        r = bench(
            name, args.cifar_images if cifar else args.imagenet_images, 128 if cifar else 16, args.trials, args.repeats
        )
        f, g, c = r["full_s"], r["reuse_group_fill_s"], r["reuse_512mb_s"]
        print(
            f"{r['model']:20s} {r['layers']:6d} {r['trials']:6d} {r['images']:6d} {f:12.1f} "
            f"{g:13.1f} ({f / g:4.2f}x) {c:10.1f} ({f / c:4.2f}x) {r['max_abs_diff']:10.2e}"
        )


if __name__ == "__main__":
    main()
