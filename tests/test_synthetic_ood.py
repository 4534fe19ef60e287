"""The built-in synthetic far-OOD sets: seeded, generated at the model's resolution, loadable by the core."""

from __future__ import annotations

import numpy as np
import pytest

from visaudit.data.base import Preprocess, collate
from visaudit.data.synthetic_ood import SYNTHETIC_SETS, SyntheticOOD, synthetic_ood
from visaudit.errors import UnknownNameError


@pytest.mark.parametrize("kind", SYNTHETIC_SETS)
@pytest.mark.parametrize("size", [32, 224])
def test_images_are_seeded_and_at_the_model_resolution(kind, size):
    ds = synthetic_ood(kind, n=6, seed=3).bind(Preprocess((3, size, size)))
    x, y, i = ds[4]
    assert x.shape == (3, size, size) and x.dtype == np.uint8 and (y, i) == (0, 4)
    assert np.array_equal(x, ds[4][0])  # same seed and index -> same image
    assert not np.array_equal(x, ds[5][0])
    other = synthetic_ood(kind, n=6, seed=4).bind(Preprocess((3, size, size)))
    assert not np.array_equal(x, other[4][0])
    assert ds.fingerprint() != other.fingerprint()


def test_each_set_has_its_character():
    pre = Preprocess((3, 64, 64))

    def imgs(kind):
        ds = synthetic_ood(kind, n=20).bind(pre)
        return np.stack([ds[i][0] for i in range(20)]).astype(float)

    u, g, b, s = (imgs(k) for k in SYNTHETIC_SETS)
    assert abs(u.mean() - 127.5) < 3 and abs(u.std() - 73.9) < 3  # uniform on 0..255
    assert abs(g.mean() - 127.5) < 3 and 55 < g.std() < 65  # N(0.5, 0.25) clipped
    assert (s.reshape(20, 3, -1).std(axis=2) == 0).all()  # one colour per image

    def neighbour(a):
        return np.abs(np.diff(a, axis=3)).mean()

    assert neighbour(b) < 5 < neighbour(u)  # blobs are smooth


def test_core_collate_and_loader_read_it():
    ds = synthetic_ood("blobs", n=8).bind(Preprocess((3, 32, 32)))
    assert isinstance(ds, SyntheticOOD) and len(ds) == 8 and ds.resize_policy == "direct"
    batch = collate([ds[i] for i in range(8)])
    assert tuple(batch["x"].shape) == (8, 3, 32, 32) and batch["failed"] == []
    assert ds.load(0).size == (224, 224)


def test_unbound_and_unknown():
    with pytest.raises(RuntimeError):
        synthetic_ood("blobs", n=2)[0]
    with pytest.raises(UnknownNameError):
        synthetic_ood("pink-noise")
