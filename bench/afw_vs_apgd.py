"""Auto-Frank-Wolfe against APGD (and against the AFW of the paper's authors) for counterfactuals.

On the two Fashion-MNIST zoo models (standard and L2-PGD trained) and real Fashion-MNIST test
images, every optimiser maximises the log-probability of the model's runner-up class inside the
same Lp ball and box with the same number of gradient evaluations (``n_iter + 1``). Printed per
model, norm and budget: the mean target confidence reached, the mean distance used and the
seconds taken, side by side, with the largest distance over the radius and the pixel range (a
point of the set has ``max d/r <= 1`` and pixels in [0,1]):

- ``apgd``: :func:`visaudit.attacks.apgd.apgd_ascent`;
- ``afw``: :func:`visaudit.attacks.afw.afw` as the probe runs it (gradient momentum 0.5);
- ``afw_b0``: the same with no momentum (the authors' default ``fw_momentum=0``, no random start);
- ``afw_ref``: the authors' ``AFWAttack`` (SVCEs_code, ``utils/adversarial_attacks/afw.py``,
  loss ``log_conf``, targeted; it starts from a random point of the set, seeded), when ``--svce``
  names a checkout of github.com/valentyn1boreiko/SVCEs_code. Its ``maxlin`` oracle needs a finite
  p, so it has no Linf column.

Usage:
    VISAUDIT_DATA=../shared/data PYTHONPATH=src python bench/afw_vs_apgd.py \
        --n 200 --offset 100 --iters 30 100 [--svce /path/to/SVCEs_code]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.machinery
import importlib.util
import sys
import time
from pathlib import Path
from typing import Any

import torch

from visaudit.attacks import lp_balls
from visaudit.attacks.afw import afw
from visaudit.attacks.apgd import apgd_ascent
from visaudit.attacks.losses import ranked_targets, target_log_prob
from visaudit.attacks.oracle import Oracle
from visaudit.models import load_model
from visaudit.models.fmnist import _as_rgb, load_split

RADIUS = {"l1.5": 8.0, "l2": 3.0, "linf": 0.15}  # the radii of tests/test_counterfactuals.py


def reference_afw(checkout: Path) -> Any:
    """The authors' ``AFWAttack``, imported from their package directory without running its
    ``__init__`` (which pulls in every attack of the repository and their dependencies)."""
    folder = checkout / "utils" / "adversarial_attacks"
    if not (folder / "afw.py").is_file():
        raise SystemExit(f"{folder / 'afw.py'} not found: --svce must name a SVCEs_code checkout")
    spec = importlib.machinery.ModuleSpec("svce_attacks", None, is_package=True)
    package = importlib.util.module_from_spec(spec)
    package.__path__ = [str(folder)]
    sys.modules["svce_attacks"] = package
    return importlib.import_module("svce_attacks.afw").AFWAttack


def optimise(
    method: str,
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    t: torch.Tensor,
    norm: str,
    eps: float,
    n_iter: int,
    AFWAttack: Any,
) -> torch.Tensor:
    """The counterfactuals of ``x`` for targets ``t`` by one of the compared optimisers."""
    if method == "apgd":
        return apgd_ascent(Oracle(model), x, y, target_log_prob(t), norm=norm, eps=eps, n_iter=n_iter)[0]
    if method in ("afw", "afw_b0"):
        beta = 0.0 if method == "afw_b0" else 0.5
        return afw(Oracle(model), x, target_log_prob(t), norm=norm, eps=eps, n_iter=n_iter, beta=beta)[0]
    torch.manual_seed(0)  # the authors' code draws its random start from the global generator
    return AFWAttack(model, 10, eps, n_iter=n_iter, norm=norm, loss="log_conf").perturb(x, t, targeted=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200, help="test images")
    ap.add_argument("--offset", type=int, default=100, help="first test image")
    ap.add_argument("--iters", type=int, nargs="+", default=[30, 100])
    ap.add_argument("--norms", nargs="+", default=list(RADIUS))
    ap.add_argument("--svce", type=Path, default=None, help="a checkout of SVCEs_code (adds afw_ref)")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    AFWAttack = reference_afw(args.svce) if args.svce else None

    images, labels = load_split("t10k")
    x = _as_rgb(images[args.offset : args.offset + args.n]).contiguous()
    y = torch.from_numpy(labels[args.offset : args.offset + args.n]).long()
    print(f"Fashion-MNIST test images {args.offset}..{args.offset + len(x) - 1}, target: the runner-up class")
    print(
        f"{'model':18} {'norm':5} {'radius':>6} {'iters':>5}  {'method':8} {'confidence':>10} {'distance':>9} {'max d/r':>8} {'min x':>6} {'max x':>6} {'s':>6}"
    )
    for name in ("fmnist_cnn", "fmnist_cnn_robust"):
        model = load_model(name).eval()
        with torch.no_grad():
            t = ranked_targets(model(x), 2)
        for norm in args.norms:
            eps, p = RADIUS[norm], lp_balls.norm_p(norm)
            for n_iter in args.iters:
                methods = ["apgd", "afw", "afw_b0"] + (["afw_ref"] if AFWAttack is not None and norm != "linf" else [])
                for method in methods:
                    start = time.perf_counter()
                    x_cf = optimise(method, model, x, y, t, norm, eps, n_iter, AFWAttack).detach()
                    seconds = time.perf_counter() - start
                    with torch.no_grad():
                        conf = torch.softmax(model(x_cf), 1).gather(1, t[:, None])[:, 0].mean()
                    dist = lp_balls.lp((x_cf - x).double(), p)
                    print(
                        f"{name:18} {norm:5} {eps:6g} {n_iter:5d}  {method:8} {float(conf):10.4f} "
                        f"{float(dist.mean()):9.4f} {float(dist.max()) / eps:8.6f} {float(x_cf.min()):6.3f} "
                        f"{float(x_cf.max()):6.3f} {seconds:6.1f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
