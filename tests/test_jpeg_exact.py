"""The tensor JPEG round trip (used off the CPU) against PIL, the codec ImageNet-C used, on real images.

The CPU runs it too (it is device-independent arithmetic), so this holds without a GPU.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from tests.corruption_fixtures import cifar_images, cue_conflict_images
from visaudit.perturb.corruptions._jpeg import _reciprocal, jpeg_roundtrip_exact, quant_table
from visaudit.perturb.corruptions.digital import JPEG, jpeg_roundtrip


def _pil(images: np.ndarray, quality: int) -> np.ndarray:
    out = []
    for im in images:
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format="JPEG", quality=quality)
        with Image.open(io.BytesIO(buf.getvalue())) as dec:
            out.append(np.asarray(dec.convert("RGB")))
    return np.stack(out)


def _ours(images: np.ndarray, quality: int) -> np.ndarray:
    u8 = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()
    return jpeg_roundtrip_exact(u8, quality).permute(0, 2, 3, 1).numpy()


@pytest.fixture(scope="module")
def stimuli() -> np.ndarray:
    return cue_conflict_images(6)


@pytest.mark.parametrize("quality", JPEG["imagenet"] + [85])
def test_bit_identical_to_pil_at_224(stimuli, quality):
    ours = _ours(stimuli, quality)
    assert np.array_equal(ours, _pil(stimuli, quality))
    assert np.abs(ours.astype(int) - stimuli).mean() > 1  # it did compress


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_uint8_corruption_is_pils_image(stimuli, severity):
    """``corrupt`` on a uint8 batch (the codec on the CPU, no float step) returns PIL's pixels."""
    from visaudit.perturb.corruptions import corrupt

    u8 = torch.from_numpy(np.ascontiguousarray(stimuli)).permute(0, 3, 1, 2)
    ours = corrupt(u8, "jpeg_compression", severity).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(ours, _pil(stimuli, JPEG["imagenet"][severity - 1]))


@pytest.mark.parametrize("quality", [7, 85])
def test_both_cpu_codecs_give_pils_pixels(stimuli, quality):
    """torchvision's codec (used when its one-time check passes) and the PIL fallback, on real images."""
    from visaudit.perturb.corruptions.digital import _pil_roundtrip, _torchvision_roundtrip

    hwc = np.ascontiguousarray(stimuli[:, :150, :97])  # odd sizes: partial blocks and chroma
    expected = _pil(hwc, quality)
    for codec in (_pil_roundtrip, _torchvision_roundtrip):
        out = np.stack(codec(list(hwc), quality))
        assert out.shape == hwc.shape and np.array_equal(out, expected)


def test_cpu_path_uses_torchvision_codec_when_it_has_one():
    """The one-time check picks torchvision's codec (it agrees with PIL, as the test above shows)."""
    import torchvision.io

    from visaudit.perturb.corruptions.digital import _jpeg_codec, _pil_roundtrip, _torchvision_roundtrip

    has_codec = hasattr(torchvision.io, "encode_jpeg")
    assert _jpeg_codec() is (_torchvision_roundtrip if has_codec else _pil_roundtrip)


@pytest.mark.parametrize("quality", JPEG["cifar"])
def test_bit_identical_to_pil_on_cifar(quality):
    images, _ = cifar_images(16)
    assert np.array_equal(_ours(images, quality), _pil(images, quality))


@pytest.mark.parametrize("size", [(1, 1), (2, 3), (3, 4), (17, 9), (33, 47), (100, 75)])
def test_bit_identical_to_pil_at_odd_sizes(stimuli, size):
    """Edge padding, odd chroma sizes and libjpeg's plain upsampling of 1-2 px wide chroma."""
    crops = np.ascontiguousarray(stimuli[:3, : size[0], : size[1]])
    for quality in (10, 85):
        assert np.array_equal(_ours(crops, quality), _pil(crops, quality))


def test_same_as_the_cpu_codec_path(stimuli):
    x = torch.from_numpy(stimuli).permute(0, 3, 1, 2).float() / 255
    tensor_path = jpeg_roundtrip_exact((x * 255 + 0.5).to(torch.uint8), 18).float() / 255
    assert torch.equal(tensor_path, jpeg_roundtrip(x, 18))


def test_quant_tables_and_reciprocals():
    assert quant_table((16, 99), 50) == [16, 99]
    assert quant_table((16, 99), 7) == [114, 255]  # 5000 // 7 = 714 %, clamped to baseline
    assert quant_table((16, 99), 100) == [1, 1]
    # the 16-bit reciprocal rounds |x| / d to nearest for the DCT's range, except where
    # libjpeg-turbo's own shortcut does not (those are what PIL's output contains)
    for d in (8, 16, 88, 200, 792, 2040):
        m, c, r = _reciprocal(d)
        for v in range(0, 4096, 7):
            assert abs(((v + c) * m >> r) - (v + d // 2) // d) <= 1
