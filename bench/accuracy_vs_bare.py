"""Harness overhead: the ``accuracy`` probe against a bare torch loop, measured side by side.

Baseline: a plain PyTorch evaluation loop (torchvision ``ImageFolder`` + ``ToTensor``/``Normalize``,
the same ``DataLoader`` batch size and worker count, the same model in ``inference_mode``, softmax and
top-1 in the dataset's label space). Both include building the model; the harness also plans, hashes,
checkpoints chunks and writes the record and per-sample Parquet.

Usage: python bench/accuracy_vs_bare.py [--model efficientnet_lite0] [--data cue-conflict] [--n 640]
Needs VISAUDIT_DATA / VISAUDIT_WEIGHTS (defaults to ../shared beside the checkout).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
os.environ.setdefault("VISAUDIT_DATA", str(SHARED / "data"))
os.environ.setdefault("VISAUDIT_WEIGHTS", str(SHARED / "models"))


def bare_loop(model_name: str, data: str, n: int, batch_size: int, workers: int, device: str) -> tuple[float, float]:
    import torch
    import torchvision.transforms as T
    from torchvision.datasets import ImageFolder

    from visaudit.data import open_dataset
    from visaudit.data.labels import label_map
    from visaudit.engine.subset import select_indices
    from visaudit.models import load_model

    t0 = time.perf_counter()
    model = load_model(model_name).to(device).eval()
    info = model.info
    ds_info = open_dataset(data)
    lmap = label_map(info.label_space, info.num_classes, ds_info.label_space)
    size = info.input_size[1]
    tf = T.Compose(
        [
            T.Resize((size, size), interpolation=T.InterpolationMode.BICUBIC),
            T.ToTensor(),
            T.Normalize(info.mean, info.std),
        ]
    )
    folder = ImageFolder(ds_info.path, transform=tf)
    # same images as the harness: the same seeded subset of the same sorted file list
    idx = select_indices(len(folder), n, 0)
    subset = torch.utils.data.Subset(folder, idx.tolist())
    loader = torch.utils.data.DataLoader(subset, batch_size=batch_size, num_workers=workers)
    net = model.net
    remap = torch.tensor([ds_info.label_space.index_of(c) for c in folder.classes])
    correct = 0
    with torch.inference_mode():
        for x, y in loader:
            probs = lmap.probs(net(x.to(device)))
            correct += int((probs.argmax(1).cpu() == remap[y]).sum())
    return time.perf_counter() - t0, correct / len(idx)


def harness(model_name: str, data: str, n: int, batch_size: int, workers: int, device: str) -> tuple[float, float]:
    import visaudit

    with tempfile.TemporaryDirectory() as store:
        t0 = time.perf_counter()
        res = visaudit.audit(
            model_name,
            "accuracy",
            data,
            store=store,
            max_images=n,
            batch_size=batch_size,
            workers=workers,
            device=device,
            quiet=True,
        )
        return time.perf_counter() - t0, res.metric("top1")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="efficientnet_lite0")
    ap.add_argument("--data", default="cue-conflict")
    ap.add_argument("--n", type=int, default=640)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    import torch

    print(
        f"model {a.model}, data {a.data}, {a.n} images, batch {a.batch_size}, workers {a.workers}, "
        f"device {a.device}, torch threads {torch.get_num_threads()}"
    )
    args = (a.model, a.data, a.n, a.batch_size, a.workers, a.device)
    bare_loop(*args[:1], a.data, 64, a.batch_size, a.workers, a.device)  # warm caches (files, kernels)
    best = {"bare": float("inf"), "harness": float("inf")}
    acc = {}
    for r in range(a.repeats):  # interleaved so that load drifts hit both alike
        for name, fn in (("bare", bare_loop), ("harness", harness)):
            seconds, top1 = fn(*args)
            best[name] = min(best[name], seconds)
            acc[name] = top1
            print(f"  run {r + 1} {name:8s} {seconds:7.2f} s  {a.n / seconds:8.1f} img/s  top1 {top1:.4f}")
    bare_rate, harness_rate = a.n / best["bare"], a.n / best["harness"]
    print(f"bare torch loop : {bare_rate:8.1f} img/s (best of {a.repeats})")
    print(f"visaudit accuracy: {harness_rate:8.1f} img/s (best of {a.repeats})")
    print(
        f"ratio harness / bare = {harness_rate / bare_rate:.3f}  (goal >= 0.95); top1 equal: {abs(acc['bare'] - acc['harness']) < 1e-9}"
    )


if __name__ == "__main__":
    main()
