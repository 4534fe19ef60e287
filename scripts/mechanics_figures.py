"""Run the inner-mechanics probes once for the report figures and print them as tables.

Runs ``layer-criticality`` (cifar10_resnet20 on CIFAR-10 test, efficientnet_lite0 on
cue-conflict), ``filters`` (the four CIFAR ResNets and efficientnet_lite0) and
``quantization-sensitivity`` (cifar10_resnet20) through :func:`visaudit.audit`, stores the
records in ``--store`` and prints: the criticality profiles, the filter statistics per depth
bin with the between-model divergence, and the mixed-precision versus uniform comparison.
The report (`visaudit report`) draws the figures from these records.

Usage:
    PYTHONPATH=src python scripts/mechanics_figures.py --store /tmp/mech-store
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("VISAUDIT_DATA", str(REPO.parent / "shared" / "data"))
os.environ.setdefault("VISAUDIT_WEIGHTS", str(REPO.parent / "shared" / "models"))

CIFAR = ["cifar10_resnet20", "cifar10_resnet32", "cifar10_resnet44", "cifar10_resnet56"]


def _rec(res, probe: str, model: str) -> dict:
    for r in res.records:
        if r["probe"]["name"] == probe and r["model"]["name"] == model:
            if r["status"] != "ok":
                raise SystemExit(f"{probe} on {model} failed: {r.get('error')}")
            return r
    raise SystemExit(f"no record for {probe} on {model}")


def criticality(store: Path, args: argparse.Namespace) -> None:
    import visaudit

    runs = [
        ("cifar10_resnet20", "cifar10-test", args.cifar_images, args.trials),
        ("efficientnet_lite0", "cue-conflict", args.imagenet_images, args.imagenet_trials),
    ]
    for model, ds, n, trials in runs:
        res = visaudit.audit(
            model,
            "layer-criticality",
            ds,
            store=store,
            max_images=n,
            quiet=False,
            probe_config={"layer-criticality": {"n_images": n, "trials": trials}},
        )
        rec = _rec(res, "layer-criticality", model)
        d = rec["data"]
        print(
            f"\n## Criticality profile: {model} on {ds} ({d['n_images']} images, {d['trials']} trial(s), "
            f"reset={d['reset']}, clean top-1 {d['clean_top1']:.3f}, probe {rec['timings']['probe_s']:.0f} s)"
        )
        print(
            f"mean {rec['metrics']['mean_criticality']:.1f}, max {rec['metrics']['max_criticality']:.1f}; "
            f"most critical: {', '.join(d['most_critical'])}"
        )
        print("| depth | module | kind | criticality | ±sd | top-1 | ratio | KL |")
        print("|---|---|---|---|---|---|---|---|")
        for r in d["layers"]:
            print(
                f"| {r['depth']} | {r['module']} | {r['kind']} | {r['criticality']:.1f} | {r['criticality_std']:.1f} "
                f"| {r['top1']:.3f} | {r['top1_ratio']:.2f} | {r['kl']:.2f} |"
            )
        # by kind and depth third, the shape of the profile in one glance
        rows = d["layers"]
        print("| kind | first third | middle third | last third |")
        print("|---|---|---|---|")
        for kind in ("conv", "norm", "linear"):
            cells = []
            for lo, hi in ((0, 1 / 3), (1 / 3, 2 / 3), (2 / 3, 1.01)):
                v = [r["criticality"] for r in rows if r["kind"] == kind and lo <= r["rel_depth"] < hi]
                cells.append(f"{np.mean(v):.1f} (n={len(v)})" if v else "-")
            print(f"| {kind} | " + " | ".join(cells) + " |")
        print("artifacts:", rec["artifacts"])


def filters(store: Path) -> None:
    import visaudit
    from visaudit.mechanics.filter_stats import depth_divergence

    models = CIFAR + ["efficientnet_lite0"]
    res = visaudit.audit(models, "filters", store=store, quiet=False)
    recs = {m: _rec(res, "filters", m) for m in models}
    bins = 5
    print(f"\n## 3x3 filter statistics per relative-depth bin ({bins} bins; mean over the layers in a bin)")
    print("| model | stat | " + " | ".join(f"bin {k}" for k in range(bins)) + " |")
    print("|---|---|" + "---|" * bins)
    for m in models:
        rows = recs[m]["data"]["layers"]
        b = np.minimum((np.array([r["rel_depth"] for r in rows]) * bins).astype(int), bins - 1)
        for key in ("sparsity", "variance_entropy_norm", "orthogonality"):
            v = [
                np.mean([r[key] for r, bb in zip(rows, b) if bb == k]) if (b == k).any() else float("nan")
                for k in range(bins)
            ]
            print(f"| {m} | {key} | " + " | ".join(f"{x:.3f}" for x in v) + " |")
    print("\n## Filter-distribution divergence to cifar10_resnet20 (Jensen-Shannon, bits, per depth bin)")
    print("| model | " + " | ".join(f"bin {k}" for k in range(bins)) + " |")
    print("|---|" + "---|" * bins)
    ref = recs["cifar10_resnet20"]["data"]["layers"]
    for m in models[1:]:
        rows = recs[m]["data"]["layers"]
        div = depth_divergence(
            [np.array(r["hist"]) for r in ref],
            [r["rel_depth"] for r in ref],
            [np.array(r["hist"]) for r in rows],
            [r["rel_depth"] for r in rows],
            n_bins=bins,
        )
        print(f"| {m} | " + " | ".join("-" if v is None else f"{v:.3f}" for v in div) + " |")


def quantization(store: Path, args: argparse.Namespace) -> None:
    import visaudit

    model = "cifar10_resnet20"
    res = visaudit.audit(
        model,
        "quantization-sensitivity",
        "cifar10-test",
        store=store,
        max_images=args.cifar_images,
        quiet=False,
        probe_config={
            "quantization-sensitivity": {
                "n_images": args.cifar_images,
                "budget_bits": args.budget_bits,
                "hessian_iters": args.hessian_iters,
                "hessian_images": 64,
            }
        },
    )
    rec = _rec(res, "quantization-sensitivity", model)
    d, m = rec["data"], rec["metrics"]
    print(
        f"\n## Quantization sensitivity: {model} ({d['n_images']} images, float top-1 {d['float_top1']:.3f}, "
        f"probe {rec['timings']['probe_s']:.0f} s)"
    )
    print(
        "| module | weights | Δtop1 8b | Δtop1 6b | Δtop1 4b | Δtop1 2b | KL 4b | KL 2b | bits (mixed) | Hessian tr |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in d["layers"]:
        print(
            f"| {r['module']} | {r['numel']} | {r['delta_top1_8bit']:+.3f} | {r['delta_top1_6bit']:+.3f} | "
            f"{r['delta_top1_4bit']:+.3f} | {r['delta_top1_2bit']:+.3f} | {r['kl_4bit']:.4f} | {r['kl_2bit']:.3f} | "
            f"{d['allocation'][r['module']]} | {r.get('hessian_trace', float('nan')):.3g} |"
        )
    print("\n| model | weight size (MB) | top-1 | KL to float |")
    print("|---|---|---|---|")
    print(f"| float32 | {d['float_size_mb']:.3f} | {d['float_top1']:.3f} | 0 |")
    for k in sorted(d["size_mb"], key=lambda k: -d["size_mb"][k]):
        print(f"| {k} | {d['size_mb'][k]:.4f} | {d['whole_model_top1'][k]:.3f} | {d['whole_model_kl'][k]:.4f} |")
    print(
        f"mixed_precision_top1 {m['mixed_precision_top1']:.3f} vs uniform_top1 ({d['budget_bits']} bit) "
        f"{m['uniform_top1']:.3f}; ranking at {d['ranking_bits']} bit: {', '.join(d['ranking'][:6])} ..."
    )
    if "hessian" in d:
        h = d["hessian"]
        print(
            f"Hutchinson ({h['iters']} probes, {h['n_images']} images): Spearman(HAWQ score, measured KL) = "
            f"{h['rank_corr_hawq']:.3f}; Spearman(trace/param, measured KL) = {h['rank_corr_trace_per_param']:.3f}"
        )
    print("artifacts:", rec["artifacts"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, default=Path("mechanics-store"))
    ap.add_argument("--cifar-images", type=int, default=500)
    ap.add_argument("--imagenet-images", type=int, default=64)
    ap.add_argument("--trials", type=int, default=2)
    ap.add_argument("--imagenet-trials", type=int, default=1)
    ap.add_argument("--budget-bits", type=int, default=3)
    ap.add_argument("--hessian-iters", type=int, default=4)
    ap.add_argument("--only", choices=["criticality", "filters", "quantization"], nargs="*")
    args = ap.parse_args()
    parts = args.only or ["filters", "criticality", "quantization"]
    if "filters" in parts:
        filters(args.store)
    if "criticality" in parts:
        criticality(args.store, args)
    if "quantization" in parts:
        quantization(args.store, args)


if __name__ == "__main__":
    main()
