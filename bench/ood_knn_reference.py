"""KNN's AUROC and both FPR@95 conventions: ours with the old and the new default k, against pytorch-ood
and OpenOOD's formulas, on the same split.

The split is the ``ood`` probe's default: ``n_id`` seeded CIFAR-10 test images, half of them (by
``visaudit.ood.evaluate.fit_mask`` of their dataset positions) fit the detectors, the rest are
scored against each OOD set (a seeded ``n_ood`` subset). Features come from one pass of the model.

- ours: ``visaudit.ood.evaluate.evaluate`` with ``knn`` at k = 0 (the old default,
  round(n_fit / 1000), at least 1) and k = 50 (the new default).
- pytorch-ood (installed package, if importable): ``pytorch_ood.detector.KNN(None, k)``,
  ``fit_features`` / ``predict_features``, ``pytorch_ood.metrics.functional.auroc`` and ``fpr_at_tpr``.
- OpenOOD's formulas (re-implemented: ``x / ||x|| + 1e-10``, squared L2 distance to the k-th
  neighbour; ``roc_curve(is_ood, -score)``, FPR at the first point with TPR >= 0.95).

Usage: PYTHONPATH=src:bench python bench/ood_knn_reference.py [--n-id 1000] [--n-ood 500]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
os.environ.setdefault("VISAUDIT_DATA", str(SHARED / "data"))
os.environ.setdefault("VISAUDIT_WEIGHTS", str(SHARED / "models"))

OOD_SETS = ["fashion-mnist", "silhouettes", "edges"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="cifar10_resnet20")
    ap.add_argument("--n-id", type=int, default=1000)
    ap.add_argument("--n-ood", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import numpy as np
    import torch
    from sklearn.metrics import roc_auc_score, roc_curve

    from visaudit.data import open_dataset
    from visaudit.data.base import Preprocess, collate
    from visaudit.engine.context import select_indices
    from visaudit.models import load_model
    from visaudit.ood.evaluate import StoredSet, evaluate, fit_mask

    model = load_model(args.model).eval()
    pre = Preprocess(tuple(model.info.input_size), model.info.interpolation, model.info.crop_pct)

    def stored(name: str, n: int, seed: int) -> StoredSet:
        ds = open_dataset(name).bind(pre)
        idx = select_indices(len(ds), n, seed)
        feats, logits = [], []
        for s in range(0, len(idx), 250):
            batch = collate([ds[int(i)] for i in idx[s : s + 250]])
            with torch.no_grad():
                f, z = model.penultimate(batch["x"].float() / 255)
            feats.append(f.numpy())
            logits.append(z.numpy())
        labels = np.asarray(ds.labels)[idx]
        return StoredSet(np.concatenate(logits), np.concatenate(feats), labels, idx)

    id_set = stored("cifar10-test", args.n_id, args.seed)
    oods = {name: stored(name, args.n_ood, args.seed + 1) for name in OOD_SETS}
    in_fit = fit_mask(id_set.index, 0.5, args.seed)
    f_fit, f_id = id_set.features[in_fit], id_set.features[~in_fit]
    n_fit = int(in_fit.sum())
    old_k = max(1, round(n_fit / 1000))
    print(
        f"{args.model}: {args.n_id} CIFAR-10 test images, {n_fit} fit / {len(f_id)} scored; "
        f"old default k = {old_k}, new default k = 50"
    )

    def openood_knn(bank: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
        def norm(x):
            return x / np.linalg.norm(x, axis=-1, keepdims=True) + 1e-10

        b, qq = norm(bank.astype(np.float64)), norm(q.astype(np.float64))
        d2 = (qq * qq).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * qq @ b.T
        return -np.sort(d2, axis=1)[:, k - 1]

    def openood_metrics(s_id: np.ndarray, s_ood: np.ndarray) -> tuple[float, float]:
        conf = np.r_[s_id, s_ood]
        is_ood = np.r_[np.zeros(len(s_id)), np.ones(len(s_ood))]
        fpr, tpr, _ = roc_curve(is_ood, -conf)
        return float(roc_auc_score(is_ood, -conf)), float(fpr[np.argmax(tpr >= 0.95)])

    try:
        import pytorch_ood
        from pytorch_ood.detector import KNN as PodKNN
        from pytorch_ood.metrics.functional import auroc as pod_auroc
        from pytorch_ood.metrics.functional import fpr_at_tpr as pod_fpr

        pod = pytorch_ood.__version__
    except ImportError:
        pod = None

    header = (
        f"{'set':<15}{'k':>4}{'ours AUROC':>12}{'OpenOOD':>10}{'pyt-ood':>10}{'fpr95':>8}{'fpr95_oo':>10}"
        f"{'OpenOOD':>9}{'pyt-ood':>9}"
    )
    print(f"pytorch-ood: {pod or 'not installed'}")
    print(header)
    worst = {"auroc": 0.0, "fpr95_openood": 0.0}
    for k_cfg, k in ((0, old_k), (50, 50)):
        rep = evaluate(
            id_set,
            oods,
            ["knn"],
            None,
            None,
            fit_labels=id_set.labels,
            fit_fraction=0.5,
            seed=args.seed,
            params={"knn": {"k": k_cfg}},
        )
        assert rep.info["resolved_params"]["knn"]["k"] == k
        for name, a in oods.items():
            o_auc, o_fpr = openood_metrics(openood_knn(f_fit, f_id, k), openood_knn(f_fit, a.features, k))
            p_auc = p_fpr = float("nan")
            if pod:
                det = PodKNN(None, k=k).fit_features(torch.from_numpy(f_fit), torch.zeros(n_fit, dtype=torch.long))
                sc = torch.cat(
                    [det.predict_features(torch.from_numpy(f_id)), det.predict_features(torch.from_numpy(a.features))]
                )
                lab = torch.cat([torch.zeros(len(f_id)), -torch.ones(len(a.features))])
                p_auc, p_fpr = float(pod_auroc(sc, lab)), float(pod_fpr(sc, lab, 0.95))
            m = rep.metrics
            for ref_auc, ref_fpr in ((o_auc, o_fpr), (p_auc, p_fpr)):
                if ref_auc == ref_auc:  # not NaN
                    worst["auroc"] = max(worst["auroc"], abs(m[f"auroc@knn/{name}"] - ref_auc))
                    worst["fpr95_openood"] = max(worst["fpr95_openood"], abs(m[f"fpr95_openood@knn/{name}"] - ref_fpr))
            print(
                f"{name:<15}{k:>4}{m[f'auroc@knn/{name}']:>12.4f}{o_auc:>10.4f}{p_auc:>10.4f}"
                f"{m[f'fpr95@knn/{name}']:>8.3f}{m[f'fpr95_openood@knn/{name}']:>10.3f}{o_fpr:>9.3f}{p_fpr:>9.3f}"
            )
    print(f"largest |ours - reference|: AUROC {worst['auroc']:.2e}, fpr95_openood {worst['fpr95_openood']:.2e}")


if __name__ == "__main__":
    main()
