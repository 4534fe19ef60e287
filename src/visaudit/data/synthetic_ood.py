"""Built-in far-OOD sets that need no download: noise, smooth blobs, solid colours.

Each image is generated at the bound model's input resolution from a seed and its index
(``numpy.random.default_rng([seed, set_id, index])``), so a set is reproducible, needs no
files and can be opened for any model. The sets follow the synthetic anomalies of Hendrycks
et al. (2019, "Deep Anomaly Detection with Outlier Exposure"): the parameters are our own.

- ``uniform-noise``: every pixel and channel i.i.d. uniform over 0..255.
- ``gaussian-noise``: i.i.d. N(0.5, 0.25^2) per pixel and channel, clipped to [0, 1].
- ``blobs``: 3-6 soft Gaussian blobs of random colour, size and position composited on a
  random background colour (smooth, low-frequency images).
- ``solid-colours``: one random RGB colour filling the image.

Example:
    >>> ds = synthetic_ood("blobs", n=10)
    >>> len(ds), ds.ids[0]
    (10, 'blobs/0')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from visaudit.data.base import ImageDataset
from visaudit.data.labels import LabelSpace
from visaudit.errors import UnknownNameError

GENERATOR_VERSION = 1
SYNTHETIC_SETS = ("uniform-noise", "gaussian-noise", "blobs", "solid-colours")
OOD_SPACE = LabelSpace("ood", ("ood",))


def _uniform(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return rng.integers(0, 256, size=(3, h, w), dtype=np.uint8)


def _gaussian(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    x = rng.normal(0.5, 0.25, size=(3, h, w))
    return np.round(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def _blobs(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    img = np.broadcast_to(rng.uniform(0, 1, size=(3, 1, 1)), (3, h, w)).copy()
    yy, xx = np.mgrid[0:h, 0:w]
    yy, xx = (yy + 0.5) / h, (xx + 0.5) / w  # relative coordinates: same look at any size
    for _ in range(int(rng.integers(3, 7))):
        cy, cx = rng.uniform(0, 1, size=2)
        sigma = rng.uniform(0.08, 0.3)
        alpha = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))[None]
        img = img * (1 - alpha) + rng.uniform(0, 1, size=(3, 1, 1)) * alpha
    return np.round(img * 255.0).astype(np.uint8)


def _solid(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return np.broadcast_to(rng.integers(0, 256, size=(3, 1, 1), dtype=np.uint8), (3, h, w)).copy()


_GENERATORS = {"uniform-noise": _uniform, "gaussian-noise": _gaussian, "blobs": _blobs, "solid-colours": _solid}


def generate(kind: str, index: int, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """One image of set ``kind`` as a uint8 (3, H, W) array."""
    if kind not in _GENERATORS:
        raise UnknownNameError(f"unknown synthetic OOD set {kind!r}; known: {', '.join(SYNTHETIC_SETS)}")
    rng = np.random.default_rng([seed, SYNTHETIC_SETS.index(kind), index])
    return _GENERATORS[kind](rng, size[0], size[1])


class _Loader:
    """index -> PIL image at a fixed size (for code that calls ``dataset.load``)."""

    def __init__(self, kind: str, seed: int, size: tuple[int, int] = (224, 224)) -> None:
        self.kind, self.seed, self.size = kind, seed, size

    def __call__(self, i: int) -> Any:
        from PIL import Image

        return Image.fromarray(generate(self.kind, i, self.size, self.seed).transpose(1, 2, 0))


@dataclass
class SyntheticOOD(ImageDataset):
    """A synthetic far-OOD set generated at the bound model's input resolution.

    Attributes:
        kind: one of :data:`SYNTHETIC_SETS`.
        seed: generation seed.
    """

    kind: str = "uniform-noise"
    seed: int = 0

    def __getitem__(self, i: int) -> tuple[np.ndarray | None, int, int]:
        if self.preprocess is None:
            raise RuntimeError("bind the dataset to a model's preprocessing first (dataset.bind(...))")
        _, h, w = self.preprocess.input_size
        return generate(self.kind, int(i), (h, w), self.seed), 0, int(i)


def synthetic_ood(kind: str, n: int = 1000, seed: int = 0) -> SyntheticOOD:
    """Open the synthetic OOD set ``kind`` with ``n`` images."""
    if kind not in _GENERATORS:
        raise UnknownNameError(f"unknown synthetic OOD set {kind!r}; known: {', '.join(SYNTHETIC_SETS)}")
    return SyntheticOOD(
        name=kind,
        label_space=OOD_SPACE,
        labels=np.zeros(n, dtype=np.int64),
        ids=[f"{kind}/{i}" for i in range(n)],
        load=_Loader(kind, seed),
        path=f"synthetic:{kind}",
        resize_policy="direct",
        fingerprint_parts=[("synthetic", kind, n, seed, GENERATOR_VERSION)],
        note=f"synthetic far-OOD set generated at the model's input size (seed {seed})",
        kind=kind,
        seed=seed,
    )
