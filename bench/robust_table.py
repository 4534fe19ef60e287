"""Robust accuracy table: CIFAR-10 ResNets, Linf and L2 radii, AutoAttack standard parts stage by stage.

Each stage runs one AutoAttack part on the points still robust after the previous stages,
over all cells, before the next stage starts, so an interrupted run still reports every
cell with the exact list of parts that ran. Results are written after every stage.

Usage:
    PYTHONPATH=src python bench/robust_table.py --n 500 --out robust_table.json \
        [--parts apgd-ce,apgd-t,fab-t,square] [--models cifar10_resnet20,cifar10_resnet56]
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
    rows = [{"model": m, "norm": n, "eps": t, "clean_top1": s["clean"],
             "robust_top1": float(s["robust"].float().mean()), "parts": s["parts"], "passes": s["passes"],
             "wall_s": round(s["wall_s"], 1)} for (m, n, t), s in state.items()]
    out.write_text(json.dumps({"n_images": args.n, "seed": args.seed, "rows": rows,
                               "config": {p: standard_config(10)[p] for p in parts}}, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models", default="cifar10_resnet20,cifar10_resnet56")
    ap.add_argument("--parts", default="apgd-ce,apgd-t,fab-t,square")
    ap.add_argument("--out", default="robust_table.json")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--cells", default="", help="subset, e.g. linf=1/255,l2=0.1 (default: all)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from visaudit.attacks import ATTACKS

    x, y, idx = cifar_subset(args.n, args.seed)
    cells = parse_cells(LINF, L2)
    if args.cells:
        wanted = set(args.cells.split(","))
        cells = [c for c in cells if f"{c[0]}={c[1]}" in wanted]
    models = {m: load_model(m).eval() for m in args.models.split(",")}
    state: dict = {}
    for mname, model in models.items():
        correct = Oracle(model).logits(x).argmax(1) == y
        for norm, text, _ in cells:
            state[(mname, norm, text)] = {"robust": correct.clone(), "parts": [], "passes": 0, "wall_s": 0.0,
                                          "clean": float(correct.float().mean())}
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
                    gen = torch.Generator().manual_seed(zlib.crc32(f"{args.seed}:{mname}:{norm}={text}:{part}".encode()))
                    res = ATTACKS.get(part)(oracle, x[ids], y[ids], norm=norm, eps=eps, generator=gen, **cfg)
                    ok = res.success & inside(res.x_adv, x[ids], eps, norm)
                    assert bool(inside(res.x_adv, x[ids], eps, norm).all()), "adversarial outside ball/box"
                    if ok.any():
                        ok[ok.clone()] = oracle.logits(res.x_adv[ok]).argmax(1) != y[ids][ok]
                    rob[ids[ok]] = False
                st["parts"].append(part)
                st["passes"] += oracle.n_forward + oracle.n_backward
                st["wall_s"] += time.perf_counter() - t0
                print(f"{mname} {norm}={text} after {part}: robust {float(rob.float().mean()):.3f} "
                      f"({time.perf_counter() - t0:.1f}s, {oracle.budget()})", flush=True)
                _write(out, state, args, args.parts.split(","))
    print("\nmodel | " + " | ".join(f"{n}={t}" for n, t, _ in cells))
    for mname in models:
        print(mname + " | " + " | ".join(f"{float(state[(mname, n, t)]['robust'].float().mean()) * 100:.1f}"
                                        for n, t, _ in cells))


if __name__ == "__main__":
    main()
