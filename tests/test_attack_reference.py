"""The AutoAttack reference settings, each against an independent re-implementation written here
from fra31/auto-attack (commit a392200, ``autoattack/square.py``, ``autopgd_base.py``,
``fab_base.py``, ``autoattack.py``): Square's square-size schedule and side, its L2 pattern,
APGD's checkpoints, the Linf/L2 random starts, and which draws are shared by a batch.

Synthetic tensors: these are pure functions of their arguments and the random stream.
"""

from __future__ import annotations

import math

import pytest
import torch

from visaudit.attacks.apgd import checkpoints
from visaudit.attacks.autoattack import standard_config
from visaudit.attacks.square import _corner, meta_pseudo_gaussian, p_schedule, side_length
from visaudit.attacks.threat import batch_uniforms, inside, narrow, random_start
from visaudit.rng import SampleGenerators


def ref_p_selection(p_init: float, it: int, n_queries: int, rescale: bool) -> float:
    """``SquareAttack.p_selection``: the if/elif ladder on the iteration count."""
    if rescale:
        it = int(it / n_queries * 10000)
    if 10 < it <= 50:
        return p_init / 2
    if 50 < it <= 200:
        return p_init / 4
    if 200 < it <= 500:
        return p_init / 8
    if 500 < it <= 1000:
        return p_init / 16
    if 1000 < it <= 2000:
        return p_init / 32
    if 2000 < it <= 4000:
        return p_init / 64
    if 4000 < it <= 6000:
        return p_init / 128
    if 6000 < it <= 8000:
        return p_init / 256
    if 8000 < it:
        return p_init / 512
    return p_init


def ref_side(p: float, c: int, h: int, w: int, norm: str) -> int:
    """The side ``s`` in ``attack_single_run`` (n_features / c = h * w)."""
    n_features = c * h * w
    if norm == "linf":
        s = max(int(round(math.sqrt(p * n_features / c))), 1)
    else:
        s = max(int(round(math.sqrt(p * n_features / c))), 3)
        if s % 2 == 0:
            s += 1
    return min(s, min(h, w))


def ref_checkpoints(n_iter: int) -> list[int]:
    """Simulate APGD's ``counter3 == k`` test and its ``k = max(k - size_decr, n_iter_min)`` update."""
    k = max(int(0.22 * n_iter), 1)
    size_decr, n_iter_min = max(int(0.03 * n_iter), 1), max(int(0.06 * n_iter), 1)
    out, counter3 = [], 0
    for i in range(n_iter):
        counter3 += 1
        if counter3 == k:
            out.append(i + 1)
            k = max(k - size_decr, n_iter_min)
            counter3 = 0
    return out


def ref_eta_rectangles(x: int, y: int) -> torch.Tensor:
    delta = torch.zeros(x, y, dtype=torch.float64)
    x_c, y_c = x // 2 + 1, y // 2 + 1
    c0, c1 = x_c - 1, y_c - 1
    for counter in range(max(x_c, y_c)):
        delta[max(c0, 0) : min(c0 + (2 * counter + 1), x), max(0, c1) : min(c1 + (2 * counter + 1), y)] += (
            1.0 / (counter + 1) ** 2
        )
        c0 -= 1
        c1 -= 1
    return delta / delta.pow(2).sum().sqrt()


def ref_eta(s: int) -> torch.Tensor:
    delta = torch.zeros(s, s, dtype=torch.float64)
    delta[: s // 2] = ref_eta_rectangles(s // 2, s)
    delta[s // 2 :] = -ref_eta_rectangles(s - s // 2, s)
    return delta / delta.pow(2).sum().sqrt()


@pytest.mark.parametrize("n_queries", [100, 1000, 5000])
@pytest.mark.parametrize("rescale", [False, True])
def test_square_schedule_is_the_reference(n_queries, rescale):
    for it in range(n_queries):
        assert p_schedule(0.8, it, n_queries, rescale) == ref_p_selection(0.8, it, n_queries, rescale), it
    assert p_schedule(0.8, 3000, 5000) == ref_p_selection(0.8, 3000, 5000, False)  # default: not rescaled


def test_autoattack_standard_does_not_rescale_the_schedule():
    """At 5000 queries the rescaled schedule halves the squares about twice as early."""
    assert standard_config(10)["square"]["rescale_schedule"] is False
    assert standard_config(10)["square"]["redraw_noop"] is False
    first_small = {r: next(i for i in range(5000) if p_schedule(0.8, i, 5000, r) <= 0.8 / 64) for r in (False, True)}
    assert first_small == {False: 2001, True: 1001}


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("hw", [(32, 32), (7, 7), (224, 224), (28, 20)])
def test_square_side_is_the_reference(norm, hw):
    h, w = hw
    for p in [0.8 / d for d in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)] + [1.0]:
        assert side_length(p, h, w, norm) == ref_side(p, 3, h, w, norm), (p, hw)


def test_window_corner_range_is_the_references():
    """``random_int(0, h - s)`` = int((h - s) * U): corners 0 .. h - s - 1, never h - s; 0 when s = h."""
    u = torch.tensor([0.0, 0.3, 0.999999, 1 - 2**-24])
    assert _corner(u, 4).tolist() == [0, 1, 3, 3]
    assert _corner(u, 0).tolist() == [0, 0, 0, 0]
    g = torch.Generator().manual_seed(0)
    got = _corner(torch.rand(20000, generator=g), 5)
    assert set(got.tolist()) == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("s", [1, 3, 5, 6, 9, 13, 29, 31, 45])
def test_l2_pattern_is_the_references(s):
    ours = meta_pseudo_gaussian(s, False).double()
    assert torch.allclose(ours, ref_eta(s), atol=1e-6)
    assert torch.allclose(meta_pseudo_gaussian(s, True).double(), ref_eta(s).t(), atol=1e-6)


@pytest.mark.parametrize("n_iter", [1, 5, 10, 20, 37, 50, 100, 250, 1000])
def test_apgd_checkpoints_are_the_reference_codes(n_iter):
    assert checkpoints(n_iter) == ref_checkpoints(n_iter)


def test_apgd_checkpoints_at_100_iterations():
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]


def _images(n: int = 6, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 8, 8, generator=g) * 0.8 + 0.1  # away from the box so nothing clips


def test_linf_start_is_on_the_surface_as_the_reference():
    """``x + eps * t / (max|t| + 1e-12)`` with ``t = 2U - 1``, drawn from the same stream."""
    x = _images()
    eps = torch.full((6,), 0.05)
    ours = random_start(x, eps, "linf", torch.Generator().manual_seed(3))
    t = 2 * torch.rand(x.shape, generator=torch.Generator().manual_seed(3)) - 1
    ref = (x + 0.05 * t / (t.abs().flatten(1).amax(1).view(-1, 1, 1, 1) + 1e-12)).clamp(0, 1)
    assert torch.allclose(ours, ref, atol=1e-7)
    d = (ours - x).abs().flatten(1)
    assert torch.allclose(d.amax(1), eps, atol=1e-6)  # one coordinate on the surface
    assert inside(ours, x, eps, "linf", tol=1e-6).all()
    # the departure, uniform inside the ball, is only taken on request
    uni = random_start(x, eps, "linf", torch.Generator().manual_seed(3), linf_start="uniform")
    assert torch.allclose(uni, (x + 0.05 * t).clamp(0, 1))
    with pytest.raises(ValueError):
        random_start(x, eps, "linf", None, linf_start="ball")


def test_l2_start_is_on_the_sphere_as_the_reference():
    x = _images()
    eps = torch.linspace(0.05, 0.3, 6)  # small enough that the box clips nothing
    ours = random_start(x, eps, "l2", torch.Generator().manual_seed(4))
    t = torch.randn(x.shape, generator=torch.Generator().manual_seed(4))
    ref = (x + eps.view(-1, 1, 1, 1) * t / (t.flatten(1).norm(dim=1).view(-1, 1, 1, 1) + 1e-12)).clamp(0, 1)
    assert torch.allclose(ours, ref, atol=1e-7)
    assert torch.allclose((ours - x).flatten(1).norm(dim=1), eps, atol=1e-5)


def test_per_sample_start_does_not_depend_on_the_batch():
    x = _images()
    eps = torch.full((6,), 0.05)
    gens = SampleGenerators.for_positions(0, "start", list(range(6)), "cpu")
    whole = random_start(x, eps, "linf", gens)
    for i in range(6):
        alone = random_start(
            x[i : i + 1], eps[i : i + 1], "linf", SampleGenerators.for_positions(0, "start", [i], "cpu")
        )
        assert torch.equal(whole[i : i + 1], alone)
    # narrowing keeps the streams: the rows' next draws equal those of the full batch
    again = SampleGenerators.for_positions(0, "start", list(range(6)), "cpu")
    random_start(x, eps, "linf", again)
    rows = torch.tensor([4, 1])
    sub = random_start(x[rows], eps[rows], "linf", narrow(again, rows))
    full = random_start(x, eps, "linf", gens)
    assert torch.equal(sub, full[rows])


def test_batch_draws_are_shared_by_a_plain_generator_and_own_per_sample():
    u = batch_uniforms(torch.Generator().manual_seed(0), 5, 2, 3, torch.device("cpu"))
    assert u.shape == (5, 5)
    assert (u[:, :2] == u[:1, :2]).all()  # the reference's one draw per iteration
    assert len(set(u[:, 2].tolist())) == 5  # per-image draws
    gens = SampleGenerators.for_positions(1, "sq", [10, 11, 12], "cpu")
    v = batch_uniforms(gens, 3, 2, 3, torch.device("cpu"))
    for i, pos in enumerate([10, 11, 12]):
        own = batch_uniforms(SampleGenerators.for_positions(1, "sq", [pos], "cpu"), 1, 2, 3, torch.device("cpu"))
        assert torch.equal(v[i : i + 1], own)
    assert narrow(torch.Generator(), torch.tensor([0])) is not None
