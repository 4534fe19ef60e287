"""Sanity of the attacks on the real CIFAR-10 ResNet-20 (akamaster weights) and CIFAR-10 test JPEGs.

Small budgets (few images, fewer iterations) where a test is about a property rather than the
protocol; every adversarial batch is checked against the eps-ball and the [0,1] box.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visaudit.attacks import ATTACKS
from visaudit.attacks.autoattack import compose, standard_config
from visaudit.attacks.masking import masking_flags, zero_gradient_share
from visaudit.attacks.minimal_eps import minimal_eps
from visaudit.attacks.oracle import Oracle
from visaudit.attacks.threat import inside

SMALL = {  # property tests: same algorithms, smaller budgets
    "fgsm": {},
    "pgd": {"steps": 10},
    "apgd-ce": {"n_iter": 20},
    "apgd-dlr": {"n_iter": 20},
    "apgd-t": {"n_iter": 10, "n_target_classes": 3},
    "fab-t": {"n_iter": 10, "n_target_classes": 3},
    "square": {"n_queries": 100},
}
AA_SMALL = {
    "apgd-ce": {"n_iter": 20},
    "apgd-t": {"n_iter": 10, "n_target_classes": 3},
    "fab-t": {"n_iter": 10, "n_target_classes": 3},
    "square": {"n_queries": 100},
}


@pytest.fixture(scope="module")
def model():
    from visaudit.models import load_model

    return load_model("cifar10_resnet20").eval()


@pytest.fixture(scope="module")
def correct_batch(model):
    """16 correctly classified CIFAR-10 test images (seeded subset of the real JPEGs)."""
    from visaudit.data import open_dataset
    from visaudit.data.base import Preprocess
    from visaudit.engine.subset import select_indices

    ds = open_dataset("cifar10-test").bind(Preprocess((3, 32, 32), "bilinear", 1.0))
    idx = select_indices(len(ds), 48, 7)
    x = torch.stack([torch.from_numpy(np.ascontiguousarray(ds[int(i)][0])).float() / 255 for i in idx])
    y = torch.tensor([ds[int(i)][1] for i in idx])
    with torch.no_grad():
        ok = model(x).argmax(1) == y
    assert ok.float().mean() > 0.6  # the real weights and data are loaded
    return x[ok][:16], y[ok][:16]


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("norm,eps", [("linf", 2 / 255), ("l2", 0.25)])
def test_every_attack_stays_in_ball_and_box(model, correct_batch, name, norm, eps):
    assert name in ATTACKS
    x, y = correct_batch
    oracle = Oracle(model)
    out = ATTACKS.get(name)(oracle, x, y, norm=norm, eps=eps, generator=gen(), **SMALL[name])
    assert out.x_adv.dtype == torch.float32
    assert inside(out.x_adv, x, eps, norm).all()
    with torch.no_grad():
        fooled = model(out.x_adv).argmax(1) != y
    assert torch.equal(fooled, out.success)  # reported success is real
    assert out.success.any()  # these radii break an undefended ResNet
    assert oracle.n_forward > 0


def test_robust_accuracy_falls_with_eps_and_reaches_zero(model, correct_batch):
    x, y = correct_batch
    robust = []
    for eps in [0.5 / 255, 1 / 255, 2 / 255, 4 / 255, 32 / 255]:
        out = ATTACKS.get("apgd-ce")(Oracle(model), x, y, norm="linf", eps=eps, generator=gen(), n_iter=20)
        assert inside(out.x_adv, x, eps, "linf").all()
        robust.append(int((~out.success).sum()))
    assert robust == sorted(robust, reverse=True), robust
    assert robust[0] > 0 and robust[-1] == 0


@pytest.mark.slow
def test_apgd_ce_at_least_as_strong_as_pgd20(model, correct_batch):
    x, y = correct_batch
    for norm, eps in [("linf", 1 / 255), ("l2", 0.1)]:
        pgd = ATTACKS.get("pgd")(Oracle(model), x, y, norm=norm, eps=eps, steps=20, generator=gen(1))
        apgd = ATTACKS.get("apgd-ce")(Oracle(model), x, y, norm=norm, eps=eps, n_iter=100, generator=gen(1))
        assert inside(apgd.x_adv, x, eps, norm).all() and inside(pgd.x_adv, x, eps, norm).all()
        assert int(apgd.success.sum()) >= int(pgd.success.sum()), (norm, apgd.success.sum(), pgd.success.sum())


@pytest.mark.slow
def test_autoattack_at_least_as_strong_as_each_part(model, correct_batch):
    x, y = correct_batch
    eps = 1 / 255
    res = compose(Oracle(model), x, y, norm="linf", eps=eps, config=AA_SMALL, generator=gen(2))
    assert inside(res.x_adv, x, eps, "linf").all()
    with torch.no_grad():
        still = model(res.x_adv).argmax(1) == y
    assert torch.equal(still, res.robust)  # worst case per sample is what the model does
    n_aa = int(res.robust.sum())
    # cumulative robust masks only shrink
    masks = [res.robust_after[p] for p in res.attacks]
    assert all(bool((b <= a).all()) for a, b in zip(masks, masks[1:]))
    for part, opts in AA_SMALL.items():
        alone = ATTACKS.get(part)(Oracle(model), x, y, norm="linf", eps=eps, generator=gen(3), **opts)
        assert n_aa <= int((~alone.success).sum()), part
    assert res.budget["total"]["backward_images"] > 0
    assert set(res.config) == set(AA_SMALL)


def test_standard_config_is_the_reference_protocol():
    cfg = standard_config(10)
    assert cfg["apgd-ce"]["n_iter"] == 100 and cfg["apgd-t"]["n_iter"] == 100
    assert cfg["apgd-t"]["n_target_classes"] == 9 and cfg["fab-t"]["n_target_classes"] == 9
    assert cfg["square"]["n_queries"] == 5000
    assert standard_config(5)["apgd-t"]["n_target_classes"] == 4  # capped by the model's classes
    assert standard_config(1000)["apgd-t"]["n_target_classes"] == 9


def test_half_precision_model_keeps_constraints(model, correct_batch):
    """The model runs under autocast (bfloat16 on CPU); iterates and outputs stay float32 in the ball."""
    x, y = correct_batch
    oracle = Oracle(model, amp_dtype=torch.bfloat16)
    for name, norm, eps in [("apgd-ce", "linf", 2 / 255), ("square", "l2", 0.25), ("fab-t", "linf", 2 / 255)]:
        out = ATTACKS.get(name)(oracle, x, y, norm=norm, eps=eps, generator=gen(), **SMALL[name])
        assert out.x_adv.dtype == torch.float32
        assert inside(out.x_adv, x, eps, norm).all()
        assert out.success.any()


def test_seeded_attacks_are_deterministic(model, correct_batch):
    x, y = correct_batch
    a = ATTACKS.get("apgd-ce")(Oracle(model), x, y, norm="l2", eps=0.1, n_iter=10, generator=gen(5))
    b = ATTACKS.get("apgd-ce")(Oracle(model), x, y, norm="l2", eps=0.1, n_iter=10, generator=gen(5))
    assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.success, b.success)


class _Quantised(torch.nn.Module):
    """Input quantisation with round(): a non-differentiable layer (zero gradient everywhere)."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(torch.round(x * 15) / 15)


def test_gradient_masking_is_flagged(model, correct_batch):
    x, y = correct_batch
    masked = _Quantised(model).eval()
    with torch.no_grad():
        keep = masked(x).argmax(1) == y
    x, y = x[keep], y[keep]
    eps = 8 / 255
    z_masked = zero_gradient_share(Oracle(masked), x, y)
    z_plain = zero_gradient_share(Oracle(model), x, y)
    assert z_masked == 1.0 and z_plain == 0.0
    res = compose(
        Oracle(masked),
        x,
        y,
        norm="linf",
        eps=eps,
        attacks=["apgd-ce", "square"],
        config={"apgd-ce": {"n_iter": 20}, "square": {"n_queries": 300}},
        generator=gen(),
    )
    white = res.robust_after["apgd-ce"]
    extra = int((white & ~res.robust_after["square"]).sum())
    assert extra > 0  # the black box finds what the white box cannot
    flags = masking_flags(
        zero_grad_share=z_masked, randomized=False, white_box_robust=int(white.sum()), black_box_extra=extra
    )
    assert len(flags) == 2
    assert masking_flags(zero_grad_share=z_plain, randomized=False, white_box_robust=0, black_box_extra=0) == []


def test_minimal_eps_brackets_the_attack(model, correct_batch):
    x, y = correct_batch
    x, y = x[:12], y[:12]
    m = minimal_eps(Oracle(model), x, y, norm="linf", eps_max=8 / 255, steps=4, n_iter=10, generator=gen())
    assert torch.isfinite(m).all() and (m > 0).all() and (m <= 8 / 255).all()
    # at each image's estimate the attack succeeds again (same seeded attack, own radius)
    out = ATTACKS.get("apgd-ce")(Oracle(model), x, y, norm="linf", eps=m, n_iter=10, generator=gen())
    assert inside(out.x_adv, x, m, "linf").all()
    assert out.success.float().mean() >= 0.75


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_constraints(model, correct_batch):
    x, y = (t.cuda() for t in correct_batch)
    m = model.cuda()
    try:
        out = ATTACKS.get("apgd-t")(
            Oracle(m), x, y, norm="linf", eps=2 / 255, generator=torch.Generator("cuda"), **SMALL["apgd-t"]
        )
        assert inside(out.x_adv, x, 2 / 255, "linf").all()
    finally:
        model.cpu()
