"""Per-sample random streams on the real CIFAR-10 ResNet-20 and CIFAR-10 test JPEGs.

With :class:`visaudit.rng.SampleGenerators`, an image's adversarial example and success must be
exactly those of attacking it alone or in a batch of another size and order. The model is
queried one image at a time (``Oracle(max_batch=1)``) on every side, so that the comparison is
about the attacks' own draws and bookkeeping and not about the CPU kernels' batch-size-dependent
rounding (torch's convolutions give a single image slightly different logits in a batch of 1
than in a batch of 16). Budgets are small; the algorithms are the same as at full budget.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from visaudit.attacks import ATTACKS
from visaudit.attacks.autoattack import compose
from visaudit.attacks.oracle import Oracle
from visaudit.attacks.threat import inside
from visaudit.rng import SampleGenerators

CASES = {  # name: (attack, norm, eps, options)
    "apgd-ce": ("apgd-ce", "linf", 1 / 255, {"n_iter": 10}),
    "apgd-ce-l2": ("apgd-ce", "l2", 0.1, {"n_iter": 10}),
    "apgd-t": ("apgd-t", "linf", 0.5 / 255, {"n_iter": 6, "n_target_classes": 3}),
    "fab-t": ("fab-t", "linf", 1 / 255, {"n_iter": 8, "n_target_classes": 2, "n_restarts": 2}),
    "square-linf": ("square", "linf", 6 / 255, {"n_queries": 60}),
    "square-l2": ("square", "l2", 1.0, {"n_queries": 60}),
    "pgd": ("pgd", "linf", 1 / 255, {"steps": 5, "restarts": 2}),
}
AA_SMALL = {
    "apgd-ce": {"n_iter": 5},
    "apgd-t": {"n_iter": 3, "n_target_classes": 2},
    "fab-t": {"n_iter": 3, "n_target_classes": 2},
    "square": {"n_queries": 40},
}
SEED = 11


@pytest.fixture(scope="module")
def model():
    from visaudit.models import load_model

    return load_model("cifar10_resnet20").eval()


@pytest.fixture(scope="module")
def images(model):
    """Six correctly classified CIFAR-10 test images and their dataset positions."""
    from visaudit.data import open_dataset
    from visaudit.data.base import Preprocess
    from visaudit.engine.context import select_indices

    ds = open_dataset("cifar10-test").bind(Preprocess((3, 32, 32), "bilinear", 1.0))
    idx = select_indices(len(ds), 24, 3)
    x = torch.stack([torch.from_numpy(np.ascontiguousarray(ds[int(i)][0])).float() / 255 for i in idx])
    y = torch.tensor([ds[int(i)][1] for i in idx])
    with torch.no_grad():
        ok = (model(x).argmax(1) == y).numpy()
    keep = np.flatnonzero(ok)[:6]
    assert len(keep) == 6
    return x[keep], y[keep], idx[keep]


def _gens(positions, tag: str) -> SampleGenerators:
    return SampleGenerators.for_positions(SEED, tag, [int(p) for p in positions], "cpu")


def _run(model, name, x, y, positions, generator=None):
    attack, norm, eps, opts = CASES[name]
    gen = generator if generator is not None else _gens(positions, name)
    return ATTACKS.get(attack)(Oracle(model, max_batch=1), x, y, norm=norm, eps=eps, generator=gen, **opts)


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_image_gets_the_same_attack_in_any_batch(model, images, name):
    x, y, pos = images
    whole = _run(model, name, x, y, pos)
    _, norm, eps, _ = CASES[name]
    assert inside(whole.x_adv, x, eps, norm).all()
    assert whole.success.any(), "the radius must break some images, else the test compares clean images"
    order = [4, 1, 2]  # another batch size and order
    part = _run(model, name, x[order], y[order], pos[order])
    for j, i in enumerate(order):
        assert torch.equal(part.x_adv[j], whole.x_adv[i]) and bool(part.success[j]) == bool(whole.success[i]), (name, i)
    for i in (0, 3, 5):
        alone = _run(model, name, x[i : i + 1], y[i : i + 1], pos[i : i + 1])
        assert torch.equal(alone.x_adv[0], whole.x_adv[i]) and bool(alone.success[0]) == bool(whole.success[i]), (
            name,
            i,
        )


def test_autoattack_standard_gives_each_image_the_same_result_in_any_batch(model, images):
    x, y, pos = images
    eps = 0.5 / 255  # APGD-CE breaks some images; the others go through all four parts

    def run(rows):
        res = compose(
            Oracle(model, max_batch=1),
            x[rows],
            y[rows],
            norm="linf",
            eps=eps,
            config=AA_SMALL,
            generator=_gens(pos[rows], "aa"),
        )
        return res

    whole = run(list(range(6)))
    assert (~whole.robust).any() and whole.robust.any()
    for rows in ([5, 0, 3], [2]):
        part = run(rows)
        for j, i in enumerate(rows):
            assert torch.equal(part.x_adv[j], whole.x_adv[i])
            assert bool(part.robust[j]) == bool(whole.robust[i]) and int(part.broken_by[j]) == int(whole.broken_by[i])


def test_minimal_eps_of_an_image_does_not_depend_on_its_batch(model, images):
    """The robustness curve's bisection narrows the batch at every step; each image keeps its stream."""
    from visaudit.attacks.minimal_eps import minimal_eps

    x, y, pos = images

    def run(rows):
        return minimal_eps(
            Oracle(model, max_batch=1),
            x[rows],
            y[rows],
            norm="linf",
            eps_max=4 / 255,
            steps=3,
            n_iter=5,
            generator=_gens(pos[rows], "curve"),
        )

    whole = run(list(range(6)))
    assert torch.isfinite(whole).any() and len(set(whole.tolist())) > 1
    part = run([3, 0])
    assert torch.equal(part, whole[[3, 0]])


@pytest.mark.parametrize("name", ["apgd-ce", "square-l2", "fab-t"])
def test_plain_generator_stays_seeded_and_reproducible(model, images, name):
    x, y, pos = images
    a = _run(model, name, x, y, pos, generator=torch.Generator().manual_seed(5))
    b = _run(model, name, x, y, pos, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.success, b.success)


class _Recorder(torch.nn.Module):
    """Keeps every batch the attack queries."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net, self.seen = net, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return self.net(x)


def _window_span(first: torch.Tensor, second: torch.Tensor) -> int:
    """Side of the bounding box of every pixel that any row changed between two queries."""
    changed = (first != second).any(1).any(0)  # (H, W)
    rows, cols = changed.any(1).nonzero()[:, 0], changed.any(0).nonzero()[:, 0]
    return int(max(rows.max() - rows.min(), cols.max() - cols.min()) + 1)


def test_square_draws_one_window_per_iteration_for_a_batch_as_the_reference(model, images):
    """A plain generator: every image's first proposal changes the same window (the reference's
    shared draw). Per-sample generators: each image its own window."""
    from visaudit.attacks.square import p_schedule, side_length

    x, y, pos = images
    s = side_length(p_schedule(0.8, 0, 1000), 32, 32, "linf")
    for gen, shared in [(torch.Generator().manual_seed(0), True), (_gens(pos, "sq"), False)]:
        rec = _Recorder(model).eval()
        ATTACKS.get("square")(Oracle(rec), x, y, norm="linf", eps=1 / 255, n_queries=1, generator=gen)
        init, first = rec.seen[0], rec.seen[1]
        assert len(first) == 6
        span = _window_span(init, first)
        assert (span <= s) if shared else (span > s), (shared, span, s)
