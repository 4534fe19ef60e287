"""Real images and the reference oracle's outputs for the corruption fidelity tests.

The reference (``imagecorruptions`` 1.1.2) always uses the ImageNet-C parameter table, so our
side is run with ``params="imagenet"`` when compared with it, on 224 px cue-conflict stimuli
and on 32 px CIFAR-10 test images alike.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def data_root() -> Path:
    return Path(os.environ["VISAUDIT_DATA"])


@functools.lru_cache(maxsize=4)
def cifar_images(n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` CIFAR-10 test images (uint8 NHWC) spread evenly over the classes, and their labels."""
    from PIL import Image

    per = -(-n // 10)
    imgs, labels = [], []
    for k, cls in enumerate(CIFAR_CLASSES):
        files = sorted((data_root() / "cifar10-test" / cls).glob("*.jpg"))[:per]
        for f in files:
            with Image.open(f) as im:
                imgs.append(np.asarray(im.convert("RGB")))
            labels.append(k)
    return np.stack(imgs[:n]), np.asarray(labels[:n])


@functools.lru_cache(maxsize=4)
def cue_conflict_images(n: int) -> np.ndarray:
    """``n`` 224 px cue-conflict stimuli (uint8 NHWC), one from each shape class in turn."""
    from PIL import Image

    folders = sorted(p for p in (data_root() / "cue-conflict").iterdir() if p.is_dir())
    files = []
    i = 0
    while len(files) < n:
        pngs = sorted(folders[i % len(folders)].glob("*.png"))
        files.append(pngs[(i // len(folders)) * 7 % len(pngs)])
        i += 1
    out = []
    for f in files:
        with Image.open(f) as im:
            out.append(np.asarray(im.convert("RGB")))
    return np.stack(out)


def reference_outputs(ref, images: np.ndarray, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """The oracle's uint8 outputs for a stack of images (global NumPy RNG seeded first)."""
    import warnings

    np.random.seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.stack([ref.corrupt(im, severity=severity, corruption_name=name) for im in images])


# Where imagecorruptions departs from the benchmark on purpose, our function can be run with
# that package's variant so that the rest of the code path is still compared exactly.
PACKAGE_VARIANTS = {
    "frost": "textures enlarged by 1.1 (bicubic) before cropping; ImageNet-C crops at native scale",
    "snow": "zoomed flake layer blurred untrimmed, top-left corner kept; ImageNet-C trims it centred first",
}


def ours_uint8(
    images: np.ndarray, name: str, severity: int, seed: int = 0, package_variant: bool = False
) -> np.ndarray:
    """Our outputs for the same images, quantised like the reference (``np.uint8``: truncation).

    ``package_variant``: use imagecorruptions' own departure from the benchmark where it has
    one (:data:`PACKAGE_VARIANTS`), to compare like with like.
    """
    import torch

    from visaudit.perturb.corruptions import corrupt
    from visaudit.perturb.corruptions.weather import frost_blend, snow_flakes

    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    gen = torch.Generator().manual_seed(seed)
    if package_variant and name == "frost":
        y = frost_blend(x, severity, gen, "imagenet", texture_zoom=1.1)
    elif package_variant and name == "snow":
        y = snow_flakes(x, severity, gen, "imagenet", untrimmed_zoom=True)
    else:
        y = corrupt(x, name, severity, generator=gen, params="imagenet")
    return torch.floor(y * 255).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 stacks (capped at 100 dB for identical stacks)."""
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return 100.0 if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def mse_ratio(clean: np.ndarray, ours: np.ndarray, ref: np.ndarray) -> float:
    """Distribution statistic for random corruptions: mean squared change from the clean images,
    ours over the reference's, minus one (paired: the same images on both sides)."""
    c = clean.astype(np.float64)
    m_ours = float(((ours.astype(np.float64) - c) ** 2).mean())
    m_ref = float(((ref.astype(np.float64) - c) ** 2).mean())
    return m_ours / max(m_ref, 1e-12) - 1.0
