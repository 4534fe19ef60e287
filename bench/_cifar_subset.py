"""Shared helper of the adversarial bench scripts: a seeded CIFAR-10 test subset as tensors."""

from __future__ import annotations

import numpy as np
import torch

from visaudit.data import open_dataset
from visaudit.data.base import Preprocess
from visaudit.engine.subset import select_indices


def cifar_subset(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """(x in [0,1], y, dataset positions) of the seeded subset the runner would pick for max_images=n."""
    ds = open_dataset("cifar10-test").bind(Preprocess((3, 32, 32), "bilinear", 1.0))
    idx = select_indices(len(ds), n, seed)
    xs, ys = [], []
    for i in idx:
        img, label, _ = ds[int(i)]
        xs.append(torch.from_numpy(np.ascontiguousarray(img)).float() / 255.0)
        ys.append(label)
    return torch.stack(xs), torch.tensor(ys), idx
