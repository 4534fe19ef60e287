"""Robust accuracy table: CIFAR-10 ResNets, Linf and L2 radii, AutoAttack standard parts stage by stage.

Each stage runs one AutoAttack part on the points still robust after the previous stages,
over all cells, before the next stage starts, so an interrupted run still reports every
cell with the exact list of parts that ran. Results are written after every stage.

Usage:
    PYTHONPATH=src python bench/robust_table.py --n 500 --out robust_table.json \
        [--parts apgd-ce,apgd-t,fab-t,square] [--models cifar10_resnet20,cifar10_resnet56]
        [--slice 1/2]

``--slice k/K`` attacks only the k-th of K interleaved slices of the seeded subset (AutoAttack's
outcome is per image, so slices run in parallel processes and their robust counts add up);
every row lists the dataset positions of the images still robust.
"""

from __future__ import annotations

import argparse
import json
import time
import zlib
from pathlib import Path

import torch
from _cifar_subset import cifar_subset

from visaudit.attacks.autoattack import standard_config
from visaudit.attacks.oracle import Oracle
from visaudit.attacks.runs import parse_cells
from visaudit.attacks.threat import inside
from visaudit.models import load_model

LINF = ["1/255", "2/255", "4/255", "8/255"]
L2 = ["0.1", "0.25", "0.5"]


def _write(out: Path, state: dict, args, parts: list[str]) -> None:
    rows = [
        {
            "model": m,
            "norm": n,
            "eps": t,
            "clean_top1": s["clean"],
            "robust_top1": float(s["robust"].float().mean()),
            "parts": s["parts"],
            "passes": s["passes"],
            "wall_s": round(s["wall_s"], 1),
            "n_images": len(s["robust"]),
            "robust_positions": [int(p) for p in s["positions"][s["robust"]]],
        }
        for (m, n, t), s in state.items()
    ]
    out.write_text(
        json.dumps(
            {
                "n_images": args.n,
                "seed": args.seed,
                "slice": args.slice,
                "rows": rows,
                "config": {p: standard_config(10)[p] for p in parts},
            },
            indent=1,
        )
    )


def merge(paths: list[str]) -> None:
    """Print the combined table of slice files (robust counts add up; parts must agree)."""
    cells: dict = {}
    for path in paths:
        for r in json.loads(Path(path).read_text())["rows"]:
            c = cells.setdefault(
                (r["model"], r["norm"], r["eps"]),
                {"n": 0, "robust": 0, "clean": 0.0, "parts": [], "wall_s": 0.0, "passes": 0},
            )
            c["n"] += r["n_images"]
            c["robust"] += len(r["robust_positions"])
            c["clean"] += r["clean_top1"] * r["n_images"]
            c["parts"].append(tuple(r["parts"]))
            c["wall_s"] += r["wall_s"]
            c["passes"] += r["passes"]
    print("| model | cell | images | clean top-1 % | robust top-1 % | parts | passes | wall s (summed) |")
    print("|---|---|---|---|---|---|---|---|")
    for (m, norm, eps), c in cells.items():
        parts = sorted(set(c["parts"]), key=len)[0]  # the parts every slice finished
        print(
            f"| {m} | {norm}={eps} | {c['n']} | {100 * c['clean'] / c['n']:.1f} | {100 * c['robust'] / c['n']:.1f} | "
            f"{'+'.join(parts)} | {c['passes']} | {c['wall_s']:.0f} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--merge", nargs="+", default=None, help="print the combined table of these slice files")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", default="cifar10_resnet20,cifar10_resnet56")
    ap.add_argument("--parts", default="apgd-ce,apgd-t,fab-t,square")
    ap.add_argument("--out", default="robust_table.json")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--cells", default="", help="subset, e.g. linf=1/255,l2=0.1 (default: all)")
    ap.add_argument("--slice", default="1/1", help="k/K: attack the k-th of K interleaved slices of the images")
    args = ap.parse_args()
    if args.merge:
        merge(args.merge)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    from visaudit.attacks import ATTACKS

    x, y, idx = cifar_subset(args.n, args.seed)
    k, parts_total = (int(v) for v in args.slice.split("/"))
    x, y, idx = x[k - 1 :: parts_total], y[k - 1 :: parts_total], idx[k - 1 :: parts_total]
    cells = parse_cells(LINF, L2)
    if args.cells:
        wanted = set(args.cells.split(","))
        cells = [c for c in cells if f"{c[0]}={c[1]}" in wanted]
    models = {m: load_model(m).eval() for m in args.models.split(",")}
    state: dict = {}
    for mname, model in models.items():
        correct = Oracle(model).logits(x).argmax(1) == y
        for norm, text, _ in cells:
            state[(mname, norm, text)] = {
                "robust": correct.clone(),
                "parts": [],
                "passes": 0,
                "wall_s": 0.0,
                "clean": float(correct.float().mean()),
                "positions": torch.as_tensor(idx),
            }
    out = Path(args.out)
    for part in args.parts.split(","):
        for mname, model in models.items():
            cfg = standard_config(10)[part]
            for norm, text, eps in cells:
                st = state[(mname, norm, text)]
                rob = st["robust"]
                ids = rob.nonzero()[:, 0]
                t0 = time.perf_counter()
                oracle = Oracle(model, max_batch=500)
                if len(ids):
                    key = f"{args.seed}:{mname}:{norm}={text}:{part}" + (
                        "" if args.slice == "1/1" else f":{args.slice}"
                    )
                    gen = torch.Generator().manual_seed(zlib.crc32(key.encode()))
                    res = ATTACKS.get(part)(oracle, x[ids], y[ids], norm=norm, eps=eps, generator=gen, **cfg)
                    ok = res.success & inside(res.x_adv, x[ids], eps, norm)
                    assert bool(inside(res.x_adv, x[ids], eps, norm).all()), "adversarial outside ball/box"
                    if ok.any():
                        ok[ok.clone()] = oracle.logits(res.x_adv[ok]).argmax(1) != y[ids][ok]
                    rob[ids[ok]] = False
                st["parts"].append(part)
                st["passes"] += oracle.n_forward + oracle.n_backward
                st["wall_s"] += time.perf_counter() - t0
                print(
                    f"{mname} {norm}={text} after {part}: robust {float(rob.float().mean()):.3f} "
                    f"({time.perf_counter() - t0:.1f}s, {oracle.budget()})",
                    flush=True,
                )
                _write(out, state, args, args.parts.split(","))
    print("\nmodel | " + " | ".join(f"{n}={t}" for n, t, _ in cells))
    for mname in models:
        print(
            mname
            + " | "
            + " | ".join(f"{float(state[(mname, n, t)]['robust'].float().mean()) * 100:.1f}" for n, t, _ in cells)
        )


if __name__ == "__main__":
    main()
