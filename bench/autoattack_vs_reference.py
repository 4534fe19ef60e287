"""Our AutoAttack 'standard' against torchattacks' configured identically: one run, same model, same images.

Baseline: torchattacks 3.5.1 ``MultiAttack([APGD, APGDT, FAB, Square])`` with the reference
settings spelled out (100 APGD/APGD-T/FAB iterations, 1 restart, 9 target classes via
``n_classes=10``, multi-targeted FAB, Square 5000 queries). torchattacks' own ``AutoAttack``
class is *not* used as is: it leaves APGD/APGD-T/FAB at their default of 10 steps, which is
not the reference protocol. Prints wall time, robust accuracy and passes side by side.

Usage:
    PYTHONPATH=src:bench:/path/to/torchattacks python bench/autoattack_vs_reference.py \
        --model cifar10_resnet20 --n 500 --norm linf --eps 8/255
"""
from __future__ import annotations

import argparse
import json
import time

import torch
from _cifar_subset import cifar_subset

from visaudit.attacks.autoattack import autoattack
from visaudit.attacks.oracle import Oracle
from visaudit.attacks.threat import inside, parse_eps
from visaudit.models import load_model


class CountingModule(torch.nn.Module):
    """Counts images through forward (the baseline's passes, for the side-by-side)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.images = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.images += len(x)
        return self.model(x)


def reference(model: torch.nn.Module, norm: str, eps: float, seed: int):
    import torchattacks

    tnorm = "Linf" if norm == "linf" else "L2"
    attacks = [
        torchattacks.APGD(model, norm=tnorm, eps=eps, steps=100, n_restarts=1, loss="ce", seed=seed),
        torchattacks.APGDT(model, norm=tnorm, eps=eps, steps=100, n_restarts=1, n_classes=10, seed=seed),
        torchattacks.FAB(model, norm=tnorm, eps=eps, steps=100, n_restarts=1, multi_targeted=True, n_classes=10,
                         seed=seed),
        torchattacks.Square(model, norm=tnorm, eps=eps, n_queries=5000, n_restarts=1, seed=seed),
    ]
    return torchattacks.MultiAttack(attacks)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="cifar10_resnet20")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--norm", default="linf")
    ap.add_argument("--eps", default="8/255")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import torchattacks

    eps = parse_eps(args.eps)
    x, y, _ = cifar_subset(args.n, args.seed)
    model = load_model(args.model).eval()

    oracle = Oracle(model, max_batch=500)
    t0 = time.perf_counter()
    ours = autoattack(oracle, x, y, norm=args.norm, eps=eps, generator=torch.Generator().manual_seed(args.seed))
    t_ours = time.perf_counter() - t0
    assert bool(inside(ours.x_adv, x, eps, args.norm).all())
    ours_acc = float(ours.robust.float().mean())

    counting = CountingModule(model).eval()
    ref = reference(counting, args.norm, eps, args.seed)
    t0 = time.perf_counter()
    x_ref = ref(x, y)
    t_ref = time.perf_counter() - t0
    with torch.no_grad():
        ref_robust = model(x_ref).argmax(1) == y
    ref_acc = float(ref_robust.float().mean())
    ref_inside = bool(inside(x_ref, x, eps, args.norm, tol=1e-5).all())

    clean = float(ours.clean_correct.float().mean())
    after = {k: round(float(v.float().mean()) * 100, 2) for k, v in ours.robust_after.items()}
    print(f"model {args.model}, {args.n} CIFAR-10 test images (seed {args.seed}), {args.norm} eps={args.eps}, "
          f"torch threads {torch.get_num_threads()}, torchattacks {torchattacks.__version__}")
    print(f"clean top-1: {clean * 100:.2f}%")
    print(f"{'':28s}{'ours':>14s}{'torchattacks':>16s}")
    print(f"{'robust top-1 (%)':28s}{ours_acc * 100:14.2f}{ref_acc * 100:16.2f}")
    print(f"{'wall time (s)':28s}{t_ours:14.1f}{t_ref:16.1f}")
    print(f"{'forward images':28s}{ours.budget['total']['forward_images']:14d}{counting.images:16d}")
    print(f"{'backward images':28s}{ours.budget['total']['backward_images']:14d}{'n/a':>16s}")
    print(f"wall time ratio ours/torchattacks: {t_ours / t_ref:.3f}; robust accuracy difference "
          f"{(ours_acc - ref_acc) * 100:+.2f} points; baseline examples inside ball+box: {ref_inside}")
    print(f"ours robust after each part (%): {after}")
    print(f"ours wall time per part (s): { {k: round(v, 1) for k, v in ours.wall_s.items()} }")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"model": args.model, "n": args.n, "norm": args.norm, "eps": args.eps, "clean": clean,
                       "ours": {"robust": ours_acc, "wall_s": t_ours, "budget": ours.budget, "after": after,
                                "wall_s_per_part": ours.wall_s, "config": ours.config},
                       "torchattacks": {"robust": ref_acc, "wall_s": t_ref, "forward_images": counting.images,
                                        "inside": ref_inside}}, f, indent=1)


if __name__ == "__main__":
    main()
