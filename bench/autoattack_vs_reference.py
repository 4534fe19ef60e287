"""Our AutoAttack 'standard' (or some of its parts) against a reference on the same model and images.

References (``--reference``):

- ``autoattack``: fra31/auto-attack itself (``AutoAttack(version='standard')``; with ``--parts`` its
  ``attacks_to_run`` is narrowed after ``set_version``, so every part keeps the standard settings).
  Install from its source, e.g. a checkout on ``PYTHONPATH``.
- ``torchattacks``: torchattacks 3.5.1 ``MultiAttack([APGD, APGDT, FAB, Square])`` with the reference
  settings spelled out (100 APGD/APGD-T/FAB iterations, 1 restart, 9 target classes via
  ``n_classes=10``, multi-targeted FAB, Square 5000 queries). torchattacks' own ``AutoAttack``
  class is *not* used as is: it leaves APGD/APGD-T/FAB at their default of 10 steps.
- ``none``: ours only (e.g. to run an older checkout of visaudit on the same images).

Ours draws from one plain ``torch.Generator`` (``--streams plain``: the batch shares the draws the
reference shares) or from one stream per image (``--streams per-sample``: what the adversarial
probe does). The script uses only APIs that older visaudit versions also have when
``--streams plain``, so ``PYTHONPATH=<old checkout>/src`` measures the code before a change.

Usage:
    PYTHONPATH=src:bench:/path/to/auto-attack python bench/autoattack_vs_reference.py \
        --reference autoattack --n 200 --norm linf --eps 1/255 [--parts square] [--out result.json]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from _cifar_subset import cifar_subset

from visaudit.attacks.autoattack import STANDARD_ATTACKS, compose
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


def run_torchattacks(model: torch.nn.Module, x, y, norm: str, eps: float, seed: int) -> torch.Tensor:
    import torchattacks

    tnorm = "Linf" if norm == "linf" else "L2"
    attacks = [
        torchattacks.APGD(model, norm=tnorm, eps=eps, steps=100, n_restarts=1, loss="ce", seed=seed),
        torchattacks.APGDT(model, norm=tnorm, eps=eps, steps=100, n_restarts=1, n_classes=10, seed=seed),
        torchattacks.FAB(
            model, norm=tnorm, eps=eps, steps=100, n_restarts=1, multi_targeted=True, n_classes=10, seed=seed
        ),
        torchattacks.Square(model, norm=tnorm, eps=eps, n_queries=5000, n_restarts=1, seed=seed),
    ]
    return torchattacks.MultiAttack(attacks)(x, y)


def run_fra31(model: torch.nn.Module, x, y, norm: str, eps: float, seed: int, parts: list[str]) -> torch.Tensor:
    from autoattack import AutoAttack

    adversary = AutoAttack(
        model,
        norm="Linf" if norm == "linf" else "L2",
        eps=eps,
        version="standard",
        seed=seed,
        verbose=False,
        device=str(x.device),
    )
    adversary.attacks_to_run = list(parts)  # after set_version: the standard settings stay
    return adversary.run_standard_evaluation(x, y, bs=250)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="cifar10_resnet20")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--norm", default="linf")
    ap.add_argument("--eps", default="1/255")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--parts", default=",".join(STANDARD_ATTACKS), help="comma-separated AutoAttack parts")
    ap.add_argument("--reference", choices=["autoattack", "torchattacks", "none"], default="autoattack")
    ap.add_argument("--streams", choices=["plain", "per-sample"], default="plain")
    ap.add_argument(
        "--config", default="", help='per-part overrides as JSON, e.g. {"square": {"rescale_schedule": true}}'
    )
    ap.add_argument("--label", default="ours")
    ap.add_argument("--out", default="")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import visaudit

    eps = parse_eps(args.eps)
    parts = [p for p in args.parts.split(",") if p]
    x, y, idx = cifar_subset(args.n, args.seed)
    model = load_model(args.model).eval()
    if args.streams == "plain":
        gen = torch.Generator().manual_seed(args.seed)
    else:
        from visaudit.rng import SampleGenerators

        gen = SampleGenerators.for_positions(args.seed, "bench", idx, "cpu")

    oracle = Oracle(model, max_batch=500)
    t0 = time.perf_counter()
    ours = compose(
        oracle,
        x,
        y,
        norm=args.norm,
        eps=eps,
        attacks=parts,
        generator=gen,
        config=json.loads(args.config) if args.config else None,
    )
    t_ours = time.perf_counter() - t0
    assert bool(inside(ours.x_adv, x, eps, args.norm).all())
    ours_acc = float(ours.robust.float().mean())
    clean = float(ours.clean_correct.float().mean())
    after = {k: round(float(v.float().mean()) * 100, 2) for k, v in ours.robust_after.items()}
    result = {
        "model": args.model,
        "n": args.n,
        "norm": args.norm,
        "eps": args.eps,
        "seed": args.seed,
        "parts": parts,
        "clean": clean,
        "visaudit_file": visaudit.__file__,
        args.label: {
            "streams": args.streams,
            "robust": ours_acc,
            "wall_s": t_ours,
            "budget": ours.budget,
            "after": after,
            "wall_s_per_part": ours.wall_s,
            "config": ours.config,
            "robust_mask": ours.robust.int().tolist(),
        },
    }
    print(
        f"model {args.model}, {args.n} CIFAR-10 test images (seed {args.seed}), {args.norm} eps={args.eps}, "
        f"parts {parts}, torch threads {torch.get_num_threads()}, visaudit from {visaudit.__file__}"
    )
    print(f"clean top-1: {clean * 100:.2f}%")
    print(
        f"{args.label} ({args.streams} streams): robust top-1 {ours_acc * 100:.2f}% in {t_ours:.1f} s, "
        f"{ours.budget['total']['forward_images']} forward images; after each part (%): {after}"
    )

    if args.reference != "none":
        counting = CountingModule(model).eval()
        t0 = time.perf_counter()
        if args.reference == "autoattack":
            x_ref = run_fra31(counting, x, y, args.norm, eps, args.seed, parts)
        else:
            x_ref = run_torchattacks(counting, x, y, args.norm, eps, args.seed)
        t_ref = time.perf_counter() - t0
        with torch.no_grad():
            ref_robust = model(x_ref).argmax(1) == y
        ref_acc = float(ref_robust.float().mean())
        ref_inside = bool(inside(x_ref, x, eps, args.norm, tol=1e-5).all())
        both = (ours.robust & ref_robust).sum().item()
        print(
            f"{args.reference}: robust top-1 {ref_acc * 100:.2f}% in {t_ref:.1f} s, {counting.images} forward "
            f"images, examples inside ball+box: {ref_inside}"
        )
        print(
            f"difference ours - reference: {(ours_acc - ref_acc) * 100:+.2f} points; robust in both: {both}, "
            f"only ours: {int(ours.robust.sum()) - both}, only reference: {int(ref_robust.sum()) - both}"
        )
        result[args.reference] = {
            "robust": ref_acc,
            "wall_s": t_ref,
            "forward_images": counting.images,
            "inside": ref_inside,
            "robust_mask": ref_robust.int().tolist(),
        }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
