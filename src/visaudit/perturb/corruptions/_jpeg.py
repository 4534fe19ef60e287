"""Baseline JPEG round trip as batched tensor arithmetic, reproducing libjpeg-turbo's integer path.

ImageNet-C's JPEG corruption (and ImageNet-C's stored files) come from PIL, i.e. libjpeg-turbo with
its defaults: 4:2:0 chroma subsampling, the Annex K tables scaled by ``quality`` and clamped to
baseline, the "islow" integer DCT, reciprocal-multiply quantisation, fancy (triangle) chroma
upsampling and fixed-point colour conversion. Each of those steps is integer arithmetic, so it can
be re-expressed exactly on whole batches on any device; this module does that.

Why not the codecs: on the GPU, nvJPEG (torchvision's batched path) is another encoder and
decoder; on an H100 its round trip differed from PIL's by more than 2/255 on average, and it
needs the encoded bytes back in host memory, which made the corruption probe's JPEG-85 storage
step cost as much as the model's forward pass. On the CPU the per-image codec is
faster and gives the same bytes, so ``digital.jpeg_roundtrip`` keeps it there (tests check both
against PIL).

Layout: a plane is (n, H, W) with H, W multiples of 8; a block's DCT coefficients stay where its
pixels were (coefficient (v, u) of block (by, bx) at row ``8*by+v``, column ``8*bx+u``), so every
step is a reshape plus a small matrix product or an elementwise operation.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

# Annex K example tables, natural (row-major) order
LUMA_TABLE = (
    16,
    11,
    10,
    16,
    24,
    40,
    51,
    61,
    12,
    12,
    14,
    19,
    26,
    58,
    60,
    55,
    14,
    13,
    16,
    24,
    40,
    57,
    69,
    56,
    14,
    17,
    22,
    29,
    51,
    87,
    80,
    62,
    18,
    22,
    37,
    56,
    68,
    109,
    103,
    77,
    24,
    35,
    55,
    64,
    81,
    104,
    113,
    92,
    49,
    64,
    78,
    87,
    103,
    121,
    120,
    101,
    72,
    92,
    95,
    98,
    112,
    100,
    103,
    99,
)
CHROMA_TABLE = (
    17,
    18,
    24,
    47,
    99,
    99,
    99,
    99,
    18,
    21,
    26,
    66,
    99,
    99,
    99,
    99,
    24,
    26,
    56,
    99,
    99,
    99,
    99,
    99,
    47,
    66,
    99,
    99,
    99,
    99,
    99,
    99,
) + (99,) * 32

CONST_BITS, PASS1_BITS = 13, 2


def _fix(x: float) -> int:
    return int(x * (1 << CONST_BITS) + 0.5)


C0_298, C0_390, C0_541, C0_765 = _fix(0.298631336), _fix(0.390180644), _fix(0.541196100), _fix(0.765366865)
C0_899, C1_175, C1_501, C1_847 = _fix(0.899976223), _fix(1.175875602), _fix(1.501321110), _fix(1.847759065)
C1_961, C2_053, C2_562, C3_072 = _fix(1.961570560), _fix(2.053119869), _fix(2.562915447), _fix(3.072711026)


def quant_table(base: tuple[int, ...], quality: int) -> list[int]:
    """libjpeg's ``jpeg_set_quality(quality, force_baseline=TRUE)`` scaling of a base table."""
    quality = min(max(int(quality), 1), 100)
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(max((b * scale + 50) // 100, 1), 255) for b in base]


def _reciprocal(divisor: int) -> tuple[int, int, int]:
    """(multiplier, correction, shift) of libjpeg-turbo's 16-bit reciprocal quantisation.

    ``((|x| + correction) * multiplier) >> shift`` is what the SIMD builds (PIL's wheels) compute
    in place of rounding division by ``divisor``; it can differ from true division by one step.
    """
    b = divisor.bit_length() - 1
    r = 16 + b
    fq, fr = divmod(1 << r, divisor)
    c = divisor // 2
    if fr == 0:
        fq >>= 1
        r -= 1
    elif fr <= divisor // 2:
        c += 1
    else:
        fq += 1
    return fq, c, r


def _fdct_1d(d: list[int], last_pass: bool) -> tuple[list[int], list[int]]:
    """One pass of libjpeg's islow forward DCT before its final descale: (sums, right shifts).

    Every output is an integer linear combination of the inputs followed by a rounding shift,
    so running this on unit vectors gives the pass as an integer matrix (see ``_matrices``).
    """
    tmp0, tmp7 = d[0] + d[7], d[0] - d[7]
    tmp1, tmp6 = d[1] + d[6], d[1] - d[6]
    tmp2, tmp5 = d[2] + d[5], d[2] - d[5]
    tmp3, tmp4 = d[3] + d[4], d[3] - d[4]
    tmp10, tmp13, tmp11, tmp12 = tmp0 + tmp3, tmp0 - tmp3, tmp1 + tmp2, tmp1 - tmp2
    out = [0] * 8
    if last_pass:
        out[0], out[4] = tmp10 + tmp11, tmp10 - tmp11
    else:  # the first pass scales DC and the middle term up instead of descaling them
        out[0], out[4] = (tmp10 + tmp11) << PASS1_BITS, (tmp10 - tmp11) << PASS1_BITS
    z1 = (tmp12 + tmp13) * C0_541
    out[2] = z1 + tmp13 * C0_765
    out[6] = z1 - tmp12 * C1_847
    z1, z2, z3, z4 = tmp4 + tmp7, tmp5 + tmp6, tmp4 + tmp6, tmp5 + tmp7
    z5 = (z3 + z4) * C1_175
    tmp4, tmp5, tmp6, tmp7 = tmp4 * C0_298, tmp5 * C2_053, tmp6 * C3_072, tmp7 * C1_501
    z1, z2, z3, z4 = -z1 * C0_899, -z2 * C2_562, -z3 * C1_961 + z5, -z4 * C0_390 + z5
    out[7], out[5] = tmp4 + z1 + z3, tmp5 + z2 + z4
    out[3], out[1] = tmp6 + z2 + z3, tmp7 + z1 + z4
    odd = CONST_BITS + PASS1_BITS if last_pass else CONST_BITS - PASS1_BITS
    shifts = [PASS1_BITS if last_pass else 0] + [odd] * 3 + [PASS1_BITS if last_pass else 0] + [odd] * 3
    return out, shifts


def _idct_1d(c: list[int]) -> list[int]:
    """One pass of libjpeg's islow inverse DCT before its descale (same shift for all outputs)."""
    z2, z3 = c[2], c[6]
    z1 = (z2 + z3) * C0_541
    tmp2, tmp3 = z1 - z3 * C1_847, z1 + z2 * C0_765
    tmp0, tmp1 = (c[0] + c[4]) << CONST_BITS, (c[0] - c[4]) << CONST_BITS
    tmp10, tmp13, tmp11, tmp12 = tmp0 + tmp3, tmp0 - tmp3, tmp1 + tmp2, tmp1 - tmp2
    t0, t1, t2, t3 = c[7], c[5], c[3], c[1]
    z1, z2, z3, z4 = t0 + t3, t1 + t2, t0 + t2, t1 + t3
    z5 = (z3 + z4) * C1_175
    t0, t1, t2, t3 = t0 * C0_298, t1 * C2_053, t2 * C3_072, t3 * C1_501
    z1, z2, z3, z4 = -z1 * C0_899, -z2 * C2_562, -z3 * C1_961 + z5, -z4 * C0_390 + z5
    t0, t1, t2, t3 = t0 + z1 + z3, t1 + z2 + z4, t2 + z2 + z3, t3 + z1 + z4
    return [tmp10 + t3, tmp11 + t2, tmp12 + t1, tmp13 + t0, tmp13 - t0, tmp12 - t1, tmp11 - t2, tmp10 - t3]


def _as_matrix(fn) -> torch.Tensor:
    cols = [fn([int(i == j) for i in range(8)]) for j in range(8)]
    return torch.tensor(cols, dtype=torch.float64).T  # out = M @ in


@functools.lru_cache(maxsize=8)
def _matrices(device: str) -> dict[str, torch.Tensor]:
    """The four DCT passes as float64 integer matrices (exact: every partial sum is below 2**53)."""
    mats = {
        "fdct_rows": _as_matrix(lambda d: _fdct_1d(d, False)[0]),
        "fdct_cols": _as_matrix(lambda d: _fdct_1d(d, True)[0]),
        "idct": _as_matrix(_idct_1d),
    }
    mats = {k: v.to(device) for k, v in mats.items()}
    mats["fdct_rows_shift"] = _shift_table(_fdct_1d([0] * 8, False)[1], device)  # per output column
    mats["fdct_cols_shift"] = _shift_table(_fdct_1d([0] * 8, True)[1], device).view(8, 1, 2)  # per output row
    return mats


@functools.lru_cache(maxsize=64)
def _quant(quality: int, device: str) -> dict[str, torch.Tensor]:
    """Per-table (2, 8, 1, 8) tensors: quantiser step, reciprocal, correction, 2**shift."""
    steps, recips, corrs, scales = [], [], [], []
    for base in (LUMA_TABLE, CHROMA_TABLE):
        q = quant_table(base, quality)
        rc = [_reciprocal(8 * v) for v in q]  # the islow DCT leaves its outputs scaled by 8
        steps.append(q)
        recips.append([m for m, _, _ in rc])
        corrs.append([c for _, c, _ in rc])
        scales.append([float(2**s) for _, _, s in rc])

    def shape(v) -> torch.Tensor:
        return torch.tensor(v, dtype=torch.float64).view(2, 8, 1, 8).to(device)

    return {"step": shape(steps), "recip": shape(recips), "corr": shape(corrs), "scale": shape(scales)}


def _descale(x: torch.Tensor, shift: torch.Tensor | int) -> torch.Tensor:
    """libjpeg's DESCALE: add half, arithmetic shift right (exact in float64).

    The powers of two are made on the host: CUDA's ``exp2`` need not return them exactly.
    """
    if isinstance(shift, int):
        return torch.floor((x + (1 << shift >> 1)) / float(1 << shift))
    half, div = shift.unbind(-1)
    return torch.floor((x + half) / div)


def _shift_table(shifts: list[int], device: str) -> torch.Tensor:
    """(8, 2) rows of (half, 2**shift) for :func:`_descale` (half is 0 where nothing is shifted)."""
    return torch.tensor([[float(1 << s >> 1), float(1 << s)] for s in shifts], dtype=torch.float64, device=device)


def _code_planes(planes: torch.Tensor, which: torch.Tensor, quality: int) -> torch.Tensor:
    """Forward DCT, quantise, dequantise and inverse DCT of (n, H, W) sample planes (multiples of 8).

    ``which`` is (n,) with 0 for luma planes, 1 for chroma planes (selects the table).
    """
    n, h, w = planes.shape
    m = _matrices(str(planes.device))
    qt = _quant(int(quality), str(planes.device))
    x = planes.to(torch.float64) - 128
    # pass 1: each block row; pass 2: each block column (libjpeg's order, which fixes the rounding)
    x = _descale(x.view(n, h, w // 8, 8) @ m["fdct_rows"].T, m["fdct_rows_shift"])
    x = _descale(m["fdct_cols"] @ x.view(n, h // 8, 8, w), m["fdct_cols_shift"])
    x = x.view(n, h // 8, 8, w // 8, 8)
    sel = which.long()

    def table(key: str) -> torch.Tensor:
        return qt[key][sel].unsqueeze(1)  # (n, 1, 8, 1, 8)

    step, recip, corr, scale = table("step"), table("recip"), table("corr"), table("scale")
    level = torch.floor((x.abs() + corr) * recip / scale)
    coef = torch.where(x < 0, -level, level) * step
    x = coef.view(n, h // 8, 8, w)
    x = _descale(m["idct"] @ x, CONST_BITS - PASS1_BITS)
    x = _descale(x.view(n, h, w // 8, 8) @ m["idct"].T, CONST_BITS + PASS1_BITS + 3)
    return (x + 128).clamp_(0, 255).view(n, h, w)


def _replicate(x: torch.Tensor, top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    """Edge replication of (n, H, W) integer planes (exact: the values are small integers)."""
    if top == bottom == left == right == 0:
        return x
    return F.pad(x.unsqueeze(1).float(), (left, right, top, bottom), mode="replicate").squeeze(1).to(x.dtype)


def _pad_to(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Replicate the last row / column out to (h, w) (libjpeg's edge expansion)."""
    return _replicate(x, 0, h - x.shape[-2], 0, w - x.shape[-1])


def _ceil_to(v: int, m: int) -> int:
    return -(-v // m) * m


def _fancy_upsample(c: torch.Tensor) -> torch.Tensor:
    """libjpeg's h2v2 "fancy" upsampling: 3:1 triangle filter both ways, its rounding biases."""
    n, h, w = c.shape
    if w <= 2:  # libjpeg-turbo falls back to plain replication for such narrow chroma planes
        return c.repeat_interleave(2, 1).repeat_interleave(2, 2)
    p = _replicate(c, 1, 1, 0, 0)
    near = 3 * p[:, 1:-1]
    rows = torch.stack([near + p[:, :-2], near + p[:, 2:]], 2).view(n, 2 * h, w)  # column sums
    q = _replicate(rows, 0, 0, 1, 1)
    mid = 3 * q[..., 1:-1]
    out = torch.stack([(mid + q[..., :-2] + 8) >> 4, (mid + q[..., 2:] + 7) >> 4], -1)
    return out.view(n, 2 * h, 2 * w)


def jpeg_roundtrip_exact(u8: torch.Tensor, quality: int) -> torch.Tensor:
    """Baseline 4:2:0 JPEG encode + decode of an (N, 3, H, W) uint8 batch, as PIL / libjpeg-turbo.

    Returns uint8 of the same shape, on the same device.
    """
    n, _, h, w = u8.shape
    rgb = u8.to(torch.int32)
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    # RGB -> YCbCr with libjpeg's 16-bit fixed-point coefficients
    y = (19595 * r + 38470 * g + 7471 * b + 32768) >> 16
    cb = (-11059 * r - 21709 * g + 32768 * b + (128 << 16) + 32767) >> 16
    cr = (32768 * r - 27439 * g - 5329 * b + (128 << 16) + 32767) >> 16
    # luma: edges replicated out to whole blocks
    hl, wl = _ceil_to(h, 8), _ceil_to(w, 8)
    ch, cw = -(-h // 2), -(-w // 2)  # chroma size the decoder keeps
    hc, wc = _ceil_to(ch, 8), _ceil_to(cw, 8)
    # chroma: full-res rows padded to even, columns to twice the block width, then 2x2 means with
    # libjpeg's alternating 1, 2 rounding bias, then chroma rows padded to whole blocks
    crcb = _pad_to(torch.stack([cb, cr], 1).view(2 * n, h, w), 2 * ch, 2 * wc)
    sums = crcb.view(2 * n, ch, 2, wc, 2).sum((2, 4))
    bias = torch.tensor([1, 2], dtype=sums.dtype, device=sums.device).repeat(wc // 2)
    small = _pad_to((sums + bias) >> 2, hc, wc)
    luma = _code_planes(_pad_to(y, hl, wl), torch.zeros(n, device=u8.device), quality)
    chroma = _code_planes(small, torch.ones(2 * n, device=u8.device), quality)
    y = luma[:, :h, :w].to(torch.int32)
    up = _fancy_upsample(chroma[:, :ch, :cw].to(torch.int32))[:, :h, :w].view(n, 2, h, w)
    cb, cr = up[:, 0] - 128, up[:, 1] - 128
    out = torch.stack(
        [
            y + ((91881 * cr + 32768) >> 16),
            y + ((-22554 * cb - 46802 * cr + 32768) >> 16),
            y + ((116130 * cb + 32768) >> 16),
        ],
        1,
    )
    return out.clamp_(0, 255).to(torch.uint8)
