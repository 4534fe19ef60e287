"""The corruption functions' contract, generated per corruption from the registry.

Synthetic tensors are enough here: these are properties of pure functions (shape, range,
seeding, devices, bad input). Fidelity on real images is in ``test_corruptions_fidelity.py``.
"""

from __future__ import annotations

import pytest
import torch

from visaudit.errors import UnknownNameError, VisauditError
from visaudit.perturb.corruptions import BENCHMARK, CORRUPTIONS, EXTRA, FAMILIES, corrupt, prepare_batch, resolve_params

NAMES = CORRUPTIONS.names()


def _batch(n=2, h=40, w=48, seed=0):
    g = torch.Generator().manual_seed(seed)
    # smooth-ish images with structure (noise alone hides blur bugs)
    base = torch.rand(n, 3, h // 4, w // 4, generator=g)
    return torch.nn.functional.interpolate(base, size=(h, w), mode="bilinear", align_corners=False)


def test_registry_has_the_benchmark_and_the_extras():
    assert len(BENCHMARK) == 15 and len(EXTRA) == 4
    assert sorted(NAMES) == sorted(BENCHMARK + EXTRA)
    assert sum(len(v) for k, v in FAMILIES.items() if k != "extra") == 15
    assert all(CORRUPTIONS.get(n).benchmark for n in BENCHMARK)
    assert not any(CORRUPTIONS.get(n).benchmark for n in EXTRA)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("params", ["cifar", "imagenet"])
def test_shape_range_and_seeding(name, params):
    x = _batch()
    outs = {}
    for sev in (1, 5):
        a = corrupt(x, name, sev, generator=torch.Generator().manual_seed(7), params=params)
        b = corrupt(x, name, sev, generator=torch.Generator().manual_seed(7), params=params)
        assert a.shape == x.shape and a.dtype == x.dtype
        assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
        assert torch.isfinite(a).all()
        assert torch.equal(a, b), "same seed must give the same batch"
        outs[sev] = a
    if CORRUPTIONS.get(name).random:
        c = corrupt(x, name, 5, generator=torch.Generator().manual_seed(8), params=params)
        assert not torch.equal(c, outs[5]), "another seed must change a random corruption"
    # severity 5 changes the image more than severity 1 (mean absolute change)
    # saturate's severities 1-2 desaturate, 3-5 oversaturate; CIFAR-10-C's elastic severity 1
    # has the largest affine jitter of its table: neither grows monotonically
    if name not in ("saturate", "elastic_transform"):
        change1, change5 = float((outs[1] - x).abs().mean()), float((outs[5] - x).abs().mean())
        assert change5 >= change1 * 0.9, (change1, change5)


@pytest.mark.parametrize("name", NAMES)
def test_batched_equals_one_by_one(name):
    from visaudit.rng import SampleGenerators

    x = _batch(3)

    def gens(positions):  # random corruptions draw from one generator per image
        return SampleGenerators.for_positions(0, name, positions, "cpu") if CORRUPTIONS.get(name).random else None

    whole = corrupt(x, name, 3, params="imagenet", generator=gens([0, 1, 2]))
    parts = torch.cat([corrupt(x[i : i + 1], name, 3, params="imagenet", generator=gens([i])) for i in range(3)])
    assert torch.allclose(whole, parts, atol=1e-5)


def test_unknown_corruption_suggests_names():
    with pytest.raises(UnknownNameError, match="gaussian_noise"):
        corrupt(_batch(), "gausian_noise", 1)


@pytest.mark.parametrize("severity", [0, 6, 2.5, True, "3", -1])
def test_bad_severity(severity):
    with pytest.raises(VisauditError, match="severity"):
        corrupt(_batch(), "contrast", severity)


def test_tiny_images_are_refused():
    with pytest.raises(VisauditError, match="at least 32"):
        corrupt(torch.rand(1, 3, 28, 28), "contrast", 1)


def test_grayscale_is_replicated_to_rgb():
    g = torch.rand(2, 1, 32, 32)
    out = corrupt(g, "fog", 2, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 3, 32, 32)
    assert torch.equal(prepare_batch(g)[:, 0], prepare_batch(g)[:, 2])


def test_odd_non_square_sizes_work():
    x = _batch(1, 37, 53)
    for name in NAMES:
        assert corrupt(x, name, 3, generator=torch.Generator().manual_seed(0)).shape == (1, 3, 37, 53)


@pytest.mark.parametrize(
    "bad",
    [
        torch.zeros(1, 3, 32, 32, dtype=torch.int32),
        torch.zeros(1, 3, 32, 32, dtype=torch.bool),
        torch.zeros(1, 4, 32, 32),
        torch.zeros(32, 32),
    ],
)
def test_bad_tensors(bad):
    with pytest.raises(VisauditError):
        corrupt(bad, "contrast", 1)


@pytest.mark.parametrize("name", NAMES)
def test_uint8_in_uint8_out_quantised_like_the_benchmark(name):
    """uint8 batches come back uint8: the float result truncated as np.uint8 does (JPEG, pixelate: PIL's own)."""
    u8 = (_batch(n=2, h=48, w=40) * 255).round().to(torch.uint8)
    ours = corrupt(u8, name, 3, generator=torch.Generator().manual_seed(1))
    assert ours.dtype == torch.uint8 and ours.shape == u8.shape
    as_float = corrupt(u8.float() / 255, name, 3, generator=torch.Generator().manual_seed(1))
    if name == "jpeg_compression":  # the codec's own uint8 image, with no float step between
        assert torch.equal(ours, (as_float * 255).round().to(torch.uint8))
    elif name == "pixelate":  # PIL's 8-bit passes, rounded after each: within a level of the exact mean
        assert (ours.int() - as_float * 255).abs().max() <= 1
    else:
        assert torch.equal(ours, (as_float * 255).clamp(0, 255).to(torch.uint8))
    assert not torch.equal(ours, u8)


def test_uint8_grayscale_is_replicated():
    g = (_batch(n=1)[:, :1] * 255).to(torch.uint8)
    out = corrupt(g, "contrast", 2)
    assert out.dtype == torch.uint8 and out.shape[1] == 3 and torch.equal(out[:, 0], out[:, 2])


def test_param_table_selection():
    assert resolve_params(32, 32) == "cifar"
    assert resolve_params(224, 224) == "imagenet"
    assert resolve_params(32, 32, "imagenet") == "imagenet"
    with pytest.raises(VisauditError):
        resolve_params(32, 32, "tiny")


def test_cifar_tables_are_milder_than_imagenet_tables():
    x = _batch(4, 32, 32)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    for name in ("gaussian_noise", "contrast", "defocus_blur", "jpeg_compression"):
        mild = corrupt(x, name, 5, generator=g(), params="cifar")
        hard = corrupt(x, name, 5, generator=g(), params="imagenet")
        assert (mild - x).abs().mean() < (hard - x).abs().mean(), name


def test_frost_without_textures_says_what_to_install(monkeypatch):
    import importlib.util

    from visaudit.perturb.corruptions import weather

    monkeypatch.setattr(weather, "_FROST_CACHE", {})
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "imagecorruptions" else real(n, *a))
    with pytest.raises(VisauditError, match="imagecorruptions"):
        corrupt(_batch(), "frost", 1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", NAMES)
def test_cuda_matches_cpu_for_deterministic(name):
    if CORRUPTIONS.get(name).random:
        pytest.skip("random draws differ between devices")
    x = _batch(2, 64, 64)
    cpu = corrupt(x, name, 3)
    gpu = corrupt(x.cuda(), name, 3).cpu()
    if name == "jpeg_compression":  # the CPU codec and the GPU's tensor re-expression: the same uint8 image
        assert torch.equal((cpu * 255).round(), (gpu * 255).round())
        u8 = (x * 255).round().to(torch.uint8)
        assert torch.equal(corrupt(u8, name, 3), corrupt(u8.cuda(), name, 3).cpu())
    else:
        assert (cpu - gpu).abs().mean() <= 1e-4
    if name == "pixelate":  # integer sums: the GPU's atomic adds give the CPU's pixels exactly
        u8 = (x * 255).round().to(torch.uint8)
        assert torch.equal(corrupt(u8, name, 3), corrupt(u8.cuda(), name, 3).cpu())


def test_jpeg_threads_agree_and_respect_inference_mode():
    """The CPU codec spreads images over threads: same bytes as one thread, also under inference_mode."""
    x = _batch(n=5, h=64, w=64)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = corrupt(x, "jpeg_compression", 3)
        torch.set_num_threads(2)
        with torch.inference_mode():
            many = corrupt(x, "jpeg_compression", 3)
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, many)
    assert (one - x).abs().mean() > 1e-3  # it did compress


# 224 and 32: the spans partition the image; at 61, 127 and 153 some skip a pixel, at 15, 30, 127 and 153 some share one
@pytest.mark.parametrize("size", [(224, 224), (32, 32), (37, 61), (15, 127), (153, 30)])
def test_pixelate_segment_sums_match_the_banded_products(size):
    """The CPU path (segment sums) and the one used elsewhere (matrix products) give one image."""
    from visaudit.perturb.corruptions.digital import PIXELATE, pixelate_by_products, pixelate_by_segments

    x = _batch(n=2, h=size[0], w=size[1])
    for c in PIXELATE["imagenet"] + PIXELATE["cifar"]:
        seg, prod = pixelate_by_segments(x, c), pixelate_by_products(x, c)
        assert seg.shape == prod.shape == x.shape
        assert (seg - prod).abs().max() <= 1e-6
        assert (seg - x).abs().mean() > 1e-4 or c > 0.9  # it did pixelate


def _pil_pixelate(images, c):
    import numpy as np
    from PIL import Image

    h, w = images.shape[1:3]
    return np.stack(
        [
            np.asarray(Image.fromarray(im).resize((int(w * c), int(h * c)), Image.BOX).resize((w, h), Image.BOX))
            for im in images
        ]
    )


@pytest.mark.parametrize("table", ["imagenet", "cifar"])
def test_uint8_pixelate_is_pils_image(table):
    """On uint8 input, pixelate returns PIL's own 8-bit result (ImageNet-C's), bit for bit, on real images."""
    import numpy as np

    from tests.corruption_fixtures import cifar_images, cue_conflict_images
    from visaudit.perturb.corruptions.digital import PIXELATE

    images = cue_conflict_images(4) if table == "imagenet" else cifar_images(16)[0]
    u8 = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    for severity in range(1, 6):
        ours = corrupt(u8, "pixelate", severity, params=table)
        assert ours.dtype == torch.uint8
        assert np.array_equal(ours.permute(0, 2, 3, 1).numpy(), _pil_pixelate(images, PIXELATE[table][severity - 1]))


@pytest.mark.parametrize("size", [(37, 61), (61, 127), (153, 40), (100, 75)])
def test_uint8_pixelate_at_odd_sizes_is_within_one_level_of_pil(size):
    """PIL's spans at sizes that skip or share pixels; Pillow 13 sometimes resizes columns first there."""
    import numpy as np

    from tests.corruption_fixtures import cue_conflict_images
    from visaudit.perturb.corruptions.digital import PIXELATE

    images = np.ascontiguousarray(cue_conflict_images(2)[:, : size[0], : size[1]])
    u8 = torch.from_numpy(images).permute(0, 3, 1, 2)
    for severity in range(1, 6):
        ours = corrupt(u8, "pixelate", severity).permute(0, 2, 3, 1).numpy().astype(int)
        gap = np.abs(ours - _pil_pixelate(images, PIXELATE["imagenet"][severity - 1]))
        assert gap.max() <= 1
        assert (ours != images).mean() > 0.1  # it did pixelate


def test_large_cpu_poisson_draws_do_not_depend_on_the_thread_count():
    """Large CPU Poisson draws are made in seeded chunks across threads: same seed, same batch, any threads."""
    from visaudit.perturb.corruptions._common import _CHUNK

    x = _batch(n=2, h=160, w=160)
    assert x.numel() > 4 * _CHUNK  # the chunked path is the one under test
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = corrupt(x, "shot_noise", 3, generator=torch.Generator().manual_seed(5))
        torch.set_num_threads(2)
        two = corrupt(x, "shot_noise", 3, generator=torch.Generator().manual_seed(5))
        other = corrupt(x, "shot_noise", 3, generator=torch.Generator().manual_seed(6))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(one, two)
    assert not torch.equal(one, other)


def test_chunked_poisson_draws_have_poisson_moments():
    """Mean and variance of the chunked CPU Poisson sampler match the rate (real draws, 4 sigma)."""
    from visaudit.perturb.corruptions._common import poisson

    rate = torch.full((400_000,), 7.5)
    k = poisson(torch.Generator().manual_seed(0), rate)
    assert torch.equal(k, k.round()) and k.min() >= 0
    se = (7.5 / rate.numel()) ** 0.5
    assert abs(k.mean().item() - 7.5) < 4 * se
    assert abs(k.var().item() / 7.5 - 1) < 0.01  # its standard error is 0.0023
    assert len(set(k[:1000].tolist())) > 5  # chunks are not repeats of one another
    assert not torch.equal(k[: 1 << 15], k[1 << 15 : 2 << 15])
