"""Digital corruptions: contrast, elastic transform, pixelate, JPEG, and (extra) saturate."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
import torch.nn.functional as F

from visaudit.perturb.corruptions import _filters as flt
from visaudit.perturb.corruptions._common import pick, rand, uniform

CONTRAST = {"imagenet": [0.4, 0.3, 0.2, 0.1, 0.05], "cifar": [0.75, 0.5, 0.4, 0.3, 0.15]}
PIXELATE = {"imagenet": [0.6, 0.5, 0.4, 0.3, 0.25], "cifar": [0.95, 0.9, 0.85, 0.75, 0.65]}
JPEG = {"imagenet": [25, 18, 15, 10, 7], "cifar": [80, 65, 58, 50, 40]}
SATURATE = {
    "imagenet": [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)],
    "cifar": [(0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)],
}
# (alpha, sigma, affine jitter) as fractions of the image side. ImageNet-C writes them as
# multiples of 244 for 224 px images (a typo its authors kept), CIFAR-10-C as multiples of 32.
ELASTIC = {
    "imagenet": [
        (2 * 244 / 224, 0.7 * 244 / 224, 0.1 * 244 / 224),
        (2 * 244 / 224, 0.08 * 244 / 224, 0.2 * 244 / 224),
        (0.05 * 244 / 224, 0.01 * 244 / 224, 0.02 * 244 / 224),
        (0.07 * 244 / 224, 0.01 * 244 / 224, 0.02 * 244 / 224),
        (0.12 * 244 / 224, 0.01 * 244 / 224, 0.02 * 244 / 224),
    ],
    "cifar": [(0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03)],
}


def contrast(x: torch.Tensor, severity: int, gen: torch.Generator | None, params: str) -> torch.Tensor:
    """Scale deviations from each channel's mean by ``c``."""
    c = pick(CONTRAST, params, severity)
    mean = x.mean((2, 3), keepdim=True)
    return ((x - mean) * c + mean).clamp(0, 1)


def saturate(x: torch.Tensor, severity: int, gen: torch.Generator | None, params: str) -> torch.Tensor:
    """HSV saturation ``S * a + b`` (closed form; grey pixels get hue 0 as in skimage)."""
    a, b = pick(SATURATE, params, severity)
    v = x.amax(1, keepdim=True)
    delta = v - x.amin(1, keepdim=True)
    s = torch.where(v > 0, delta / v.clamp_min(1e-12), torch.zeros_like(v))
    s_new = (s * a + b).clamp(0, 1)
    coloured = v - (v - x) * (s_new * v / delta.clamp_min(1e-12))
    red_hue = torch.tensor([0.0, 1.0, 1.0], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    grey = v - v * s_new * red_hue
    return torch.where(delta > 0, coloured, grey).clamp(0, 1)


@functools.lru_cache(maxsize=64)
def _pixelate_operators(h: int, w: int, c: float, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(box-down matrix along H, down-then-up matrix along W (transposed), nearest row index)."""
    sh, sw = int(h * c), int(w * c)
    down_h = flt.pil_box_matrix(h, sh).to(torch.float32)
    along_w = (flt.pil_box_matrix(sw, w) @ flt.pil_box_matrix(w, sw)).T.contiguous().to(torch.float32)
    rows = flt.pil_box_matrix(sh, h).argmax(1)  # upsampling rows: one source row each
    return down_h.to(device), along_w.to(device), rows.to(device)


@functools.lru_cache(maxsize=64)
def _box_segments(n_in: int, n_out: int, device: str) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """PIL's box spans as (input indices or None for all in order, their output index, 1 / width).

    At most sizes the spans partition the input and every pixel is read once in place; at some
    they skip a pixel or (rarely: 15 px at 0.95) share one, and the pixels are gathered first.
    """
    spans = flt.pil_box_spans(n_in, n_out)
    src = [j for lo, hi in spans for j in range(lo, hi)]
    dst = torch.tensor([o for o, (lo, hi) in enumerate(spans) for _ in range(lo, hi)], device=device)
    inv_width = torch.tensor([1 / (hi - lo) for lo, hi in spans], dtype=torch.float64, device=device)
    gather = None if src == list(range(n_in)) else torch.tensor(src, device=device)
    return gather, dst, inv_width


def _box_down(x: torch.Tensor, dim: int, n_out: int) -> torch.Tensor:
    """Sums over PIL's box spans along ``dim`` (not yet divided by their widths)."""
    gather, dst, _ = _box_segments(x.shape[dim], n_out, str(x.device))
    if gather is not None:
        x = x.index_select(dim, gather)
    shape = list(x.shape)
    shape[dim] = n_out
    return x.new_zeros(shape).index_add_(dim, dst, x)


def pixelate(x: torch.Tensor, severity: int, gen: torch.Generator | None, params: str) -> torch.Tensor:
    """Box-downsample by ``c`` and box-upsample back (PIL ``BOX`` both ways, as ImageNet-C)."""
    c = pick(PIXELATE, params, severity)
    # index_add_ is made of atomic adds on CUDA, whose order (and last bit) changes from run to run
    return pixelate_by_segments(x, c) if x.device.type == "cpu" else pixelate_by_products(x, c)


def pixelate_by_segments(x: torch.Tensor, c: float) -> torch.Tensor:
    """Pixelate as sums over PIL's box spans (segments of rows, then of columns).

    One pass over the rows, one over the fewer columns, then nearest-neighbour upsampling by
    gathers: about half the time of :func:`pixelate_by_products` on the CPU, where the products
    are bound by their mostly-zero multiply-adds.
    """
    n, ch, h, w = x.shape
    sh, sw = int(h * c), int(w * c)
    inv_area = _box_segments(h, sh, str(x.device))[2].view(-1, 1) * _box_segments(w, sw, str(x.device))[2]
    small = _box_down(_box_down(x, 2, sh), 3, sw).mul_(inv_area.to(x.dtype)).clamp_(0, 1)
    # both upsamplings in one gather from the flattened small image (3x faster than two)
    src = _nearest_up_flat(sh, sw, h, w, str(x.device)).expand(n, ch, h * w)
    return torch.gather(small.view(n, ch, sh * sw), -1, src).view(n, ch, h, w)


@functools.lru_cache(maxsize=64)
def _nearest_up_flat(sh: int, sw: int, h: int, w: int, device: str) -> torch.Tensor:
    """Flat source index in the (sh x sw) image of each pixel of PIL's box upsampling to (h x w).

    Enlarging, PIL's box filter takes exactly one source pixel per output pixel.
    """
    rows, cols = flt.pil_box_matrix(sh, h).argmax(1), flt.pil_box_matrix(sw, w).argmax(1)
    return (rows.view(-1, 1) * sw + cols).view(-1).to(device)


def pixelate_uint8(x: torch.Tensor, severity: int, gen: torch.Generator | None, params: str) -> torch.Tensor:
    """:func:`pixelate` of a uint8 batch, uint8 out: PIL's own 8-bit result, bit for bit.

    ImageNet-C resizes the uint8 image with PIL, which rounds to uint8 after each pass with its
    fixed-point weights; on uint8 input this reproduces that in integers (sums of integers are
    order-free, so atomic adds are fine on CUDA). The horizontal pass goes first, as in PIL's
    two-pass resampler: bit-identical to today's Pillow on square images (the benchmarks'), while
    on some non-square sizes Pillow 13 takes the vertical pass first and pixels differ by one level.
    """
    c = pick(PIXELATE, params, severity)
    n, ch, h, w = x.shape
    sh, sw = int(h * c), int(w * c)
    wide = x.to(torch.int16 if 255 * _widest_span(h, sh, w, sw) < 2**15 else torch.int32)
    small = _pil_box_pass(_pil_box_pass(wide, 3, sw), 2, sh).to(torch.uint8)
    src = _nearest_up_flat(sh, sw, h, w, str(x.device)).expand(n, ch, h * w)
    return torch.gather(small.view(n, ch, sh * sw), -1, src).view(n, ch, h, w)


def _widest_span(h: int, sh: int, w: int, sw: int) -> int:
    return max(hi - lo for n_in, n_out in ((h, sh), (w, sw)) for lo, hi in flt.pil_box_spans(n_in, n_out))


# PIL's 8-bit resampling: weights are integers scaled by 2**22, results rounded by adding 2**21
_PIL_BITS = 22


@functools.lru_cache(maxsize=64)
def _pil_fixed_weights(n_in: int, n_out: int, device: str) -> torch.Tensor:
    """PIL's fixed-point weight of each output sample of a box pass (all pixels of a span weigh the same)."""
    spans = flt.pil_box_spans(n_in, n_out)
    return torch.tensor(
        [int(0.5 + 1.0 / (hi - lo) * (1 << _PIL_BITS)) for lo, hi in spans], dtype=torch.int32, device=device
    )


def _pil_box_pass(x: torch.Tensor, dim: int, n_out: int) -> torch.Tensor:
    """One 8-bit PIL box pass along ``dim`` of integer pixels; int32 values in 0..255 out."""
    weights = _pil_fixed_weights(x.shape[dim], n_out, str(x.device))
    shape = [1] * x.dim()
    shape[dim] = n_out
    sums = _box_down(x, dim, n_out).to(torch.int32)
    # no clamp needed: a span of m pixels sums to at most 255 m, and m * weight <= 2**22 + m / 2
    return sums.mul_(weights.view(shape)).add_(1 << (_PIL_BITS - 1)).bitwise_right_shift_(_PIL_BITS)


def pixelate_by_products(x: torch.Tensor, c: float) -> torch.Tensor:
    """Pixelate as banded matrix products (deterministic on every device)."""
    h, w = x.shape[-2:]
    down_h, along_w, rows = _pixelate_operators(h, w, c, str(x.device))
    # rows go down first (an (h*c x h) product), then columns down and up in one (w x w)
    # product on the fewer rows, then rows are repeated: about 2.5x fewer multiply-adds than
    # two full (size x size) products, and the row repeat is a contiguous copy
    small = down_h.to(x.dtype) @ x @ along_w.to(x.dtype)
    return small.index_select(-2, rows).clamp(0, 1)


def jpeg_compression(x: torch.Tensor, severity: int, gen: torch.Generator | None, params: str) -> torch.Tensor:
    """Encode as JPEG at quality ``c`` and decode (PIL / libjpeg-turbo's output, bit for bit)."""
    q = pick(JPEG, params, severity)
    return jpeg_roundtrip(x, q)


def jpeg_compression_uint8(x: torch.Tensor, severity: int, gen: torch.Generator | None, params: str) -> torch.Tensor:
    """:func:`jpeg_compression` of a uint8 batch, uint8 out: no float conversion on either side."""
    return jpeg_roundtrip_uint8(x, int(pick(JPEG, params, severity)))


def _pil_roundtrip(images: list[np.ndarray], quality: int) -> list[np.ndarray]:
    """PIL's encode and decode of uint8 (H, W, 3) images, as ImageNet-C saved JPEGs."""
    import io

    from PIL import Image

    out = []
    for img in images:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=quality)
        with Image.open(buf) as im:
            out.append(np.asarray(im.convert("RGB")))
    return out


def _torchvision_roundtrip(images: list[np.ndarray], quality: int) -> list[np.ndarray]:
    """torchvision's libjpeg-turbo encode and decode of uint8 (H, W, 3) images.

    Given CHW views of HWC memory, the encoder reads the pixels in place (a contiguous CHW
    image would be transposed first), the decoder returns such views, and unlike PIL's codec
    both run without the GIL.
    """
    from torchvision.io import decode_jpeg, encode_jpeg

    encoded = encode_jpeg([torch.from_numpy(img).permute(2, 0, 1) for img in images], quality=quality)
    return [img.permute(1, 2, 0).numpy() for img in decode_jpeg(encoded)]


@functools.lru_cache(maxsize=1)
def _jpeg_codec():
    """The CPU codec: torchvision's where it gives PIL's pixels (checked once per process on a
    small odd-sized image at two qualities), else PIL's.

    torchvision 0.29 deprecated its image codecs in favour of TorchCodec; while they exist they
    are about 2x faster here (no PIL image objects, and encoding runs without the GIL).
    """
    import warnings

    try:
        import torchvision.io  # noqa: F401
    except ImportError:
        return _pil_roundtrip
    warnings.filterwarnings(
        "ignore", message="The image decoding and encoding capabilities of TorchVision", category=DeprecationWarning
    )
    rng = np.random.default_rng(0)
    # smooth gradients plus noise: non-trivial coefficients in every band, odd sizes for the chroma edges
    ramp = np.linspace(0, 255, 61).reshape(1, 61, 1) * np.linspace(0.2, 1, 37).reshape(37, 1, 1)
    probe = list(np.clip(ramp + rng.integers(0, 60, (2, 37, 61, 3)), 0, 255).astype(np.uint8))
    try:
        same = all(
            np.array_equal(a, b)
            for q in (10, 85)
            for a, b in zip(_torchvision_roundtrip(probe, q), _pil_roundtrip(probe, q), strict=True)
        )
    except (ImportError, RuntimeError, AttributeError):  # codecs removed, or a build without libjpeg
        same = False
    return _torchvision_roundtrip if same else _pil_roundtrip


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[0,1] floats to uint8 with rounding (clamp first, then in-place scaling: fastest on CPU)."""
    return x.clamp(0, 1).mul_(255).add_(0.5).to(torch.uint8)


def jpeg_roundtrip(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG encode/decode of a [0,1] batch at ``quality`` (baseline, 4:2:0, as PIL saves it).

    Rounded to uint8 (:func:`to_uint8`), through :func:`jpeg_roundtrip_uint8`, and back to
    ``x``'s dtype; float32 CPU batches take the same steps image by image on the codec threads.
    """
    x = x.detach()
    if x.device.type == "cpu" and x.dtype == torch.float32:
        return _codec_roundtrip(x, int(quality))
    return jpeg_roundtrip_uint8(to_uint8(x), int(quality)).to(x.dtype).div_(255)


def jpeg_roundtrip_uint8(u8: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG encode/decode of a uint8 (N, 3, H, W) batch; uint8 (N, 3, H, W) out.

    Off the CPU the whole batch goes through :func:`._jpeg.jpeg_roundtrip_exact`, libjpeg-turbo's
    integer arithmetic as tensor operations (bit-identical to PIL; nvJPEG is not). On the CPU the
    codec itself is faster: the images are encoded and decoded on ``torch.get_num_threads()``
    threads.
    """
    if u8.device.type == "mps":  # no float64 there: the CPU codec, then back
        return jpeg_roundtrip_uint8(u8.cpu(), quality).to(u8.device)
    if u8.device.type != "cpu":
        from visaudit.perturb.corruptions._jpeg import jpeg_roundtrip_exact

        return jpeg_roundtrip_exact(u8, quality)
    return _codec_roundtrip(u8, quality)


def _codec_roundtrip(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG round trip of a uint8 or float32 (N, 3, H, W) CPU batch; same dtype, contiguous NCHW out.

    Each thread takes a contiguous share of the batch and, image by image, converts it to the
    codec's interleaved uint8 (floats rounded as :func:`to_uint8`), then encodes and decodes its
    share and writes it back (floats as ``u8 / 255``). Image by image the conversions stay in the
    core's cache; whole-batch torch conversions and transposes took as long as the codec itself
    on a 2-core machine. Only NumPy and the codec run on these threads, and both release the GIL
    (PIL's ``merge``, used here before, holds it: two threads ran slower than one). Torch
    operations there would start OpenMP teams of their own and oversubscribe the cores.
    """
    codec = _jpeg_codec()
    n, _, h, w = x.shape
    src = x.contiguous().numpy()
    out = torch.empty((n, 3, h, w), dtype=x.dtype)
    dst = out.numpy()
    as_float = x.dtype == torch.float32

    def run(part: range) -> None:
        if as_float:
            scaled, planes = np.empty((3, h, w), np.float32), np.empty((3, h, w), np.uint8)
        interleaved = []
        for i in part:
            if as_float:
                np.clip(src[i], 0, 1, out=scaled)
                scaled *= 255
                scaled += 0.5
                np.copyto(planes, scaled, casting="unsafe")  # truncates, as .to(torch.uint8)
            chw = planes if as_float else src[i]
            hwc = np.empty((h, w, 3), np.uint8)
            for c in range(3):  # a contiguous cast, then strided copies: a strided cast took 2x longer
                hwc[:, :, c] = chw[c]
            interleaved.append(hwc)
        for i, decoded in zip(part, codec(interleaved, quality), strict=True):
            for c in range(3):
                if as_float:
                    np.divide(decoded[:, :, c], np.float32(255), out=dst[i, c])
                else:
                    dst[i, c] = decoded[:, :, c]

    workers = max(1, min(torch.get_num_threads(), n))
    parts = [range(p[0], p[-1] + 1) for p in np.array_split(np.arange(n), workers) if len(p)]
    if len(parts) > 1:
        with ThreadPoolExecutor(len(parts)) as pool:
            list(pool.map(run, parts))
    elif parts:
        run(parts[0])
    return out


def affine_from_points(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """2x3 affine matrices mapping 3 ``src`` points onto 3 ``dst`` points (batched, (n, 3, 2))."""
    n = src.shape[0]
    a = torch.cat([src, torch.ones(n, 3, 1, dtype=src.dtype, device=src.device)], 2)  # (n,3,3)
    m = torch.linalg.solve(a, dst)  # (n, 3, 2): [x y 1] @ m = dst
    return m.transpose(1, 2)


def elastic_warp(x: torch.Tensor, affine: torch.Tensor, dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
    """Affine warp (``cv2.warpAffine``, reflect-101), then a displacement field (``map_coordinates``, reflect).

    Args:
        x: images (n, c, h, w).
        affine: (n, 2, 3) forward matrices mapping source (x, y) to destination (x, y).
        dx, dy: (n, h, w) column and row displacements in pixels.
    """
    n, c, h, w = x.shape
    dt = torch.float64
    full = torch.cat([affine.to(dt), torch.tensor([0, 0, 1], dtype=dt, device=x.device).expand(n, 1, 3)], 1)
    inv = torch.linalg.inv(full)[:, :2]
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=dt, device=x.device), torch.arange(w, dtype=dt, device=x.device), indexing="ij"
    )
    pts = torch.stack([xs, ys, torch.ones_like(xs)], -1).view(1, h * w, 3)
    src = (pts @ inv.transpose(1, 2)).view(n, h, w, 2)
    grid = torch.stack([src[..., 0] / max(w - 1, 1) * 2 - 1, src[..., 1] / max(h - 1, 1) * 2 - 1], -1)
    y = F.grid_sample(x, grid.to(x.dtype), mode="bilinear", padding_mode="reflection", align_corners=True)
    sx = xs.unsqueeze(0) + dx.to(dt)
    sy = ys.unsqueeze(0) + dy.to(dt)
    grid = torch.stack([(2 * sx + 1) / w - 1, (2 * sy + 1) / h - 1], -1)
    return F.grid_sample(y, grid.to(x.dtype), mode="bilinear", padding_mode="reflection", align_corners=False)


def elastic_transform(x: torch.Tensor, severity: int, gen: torch.Generator | None, params: str) -> torch.Tensor:
    """Random affine jitter of three anchor points plus a smoothed random displacement field."""
    n, _, h, w = x.shape
    side = min(h, w)
    alpha, sigma, jitter = (v * side for v in pick(ELASTIC, params, severity))
    cy, cx = float(h // 2), float(w // 2)
    sq = float(side // 3)
    # anchor points written as ImageNet-C does: (size0, size1) pairs used as cv2 (x, y) points
    src = torch.tensor(
        [[cy + sq, cx + sq], [cy + sq, cx - sq], [cy - sq, cx - sq]], dtype=torch.float64, device=x.device
    )
    src = src.expand(n, 3, 2)
    dst = src + uniform(gen, (n, 6), -jitter, jitter, x).view(n, 3, 2)
    affine = affine_from_points(src, dst)
    fields = []
    for _ in range(2):
        u = (2 * rand(gen, (n, 1, h, w), x) - 1).to(torch.float64)
        if sigma > 0:
            u = flt.gaussian_blur(u, sigma, mode="symmetric", truncate=3.0)
        fields.append((u * alpha)[:, 0].to(torch.float32))
    return elastic_warp(x, affine, fields[0], fields[1]).clamp(0, 1)
