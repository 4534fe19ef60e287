"""Small Fashion-MNIST CNNs, trained here: ``fmnist_cnn`` (standard) and ``fmnist_cnn_robust`` (L2 PGD).

Visual counterfactuals are meaningful only for robust models, and none can be downloaded
offline, so visaudit trains two on the Fashion-MNIST training set (60 000 IDX images, read
through the ``fashion-mnist`` resolver: ``VISAUDIT_DATA``, the cache or a checked download):
once with plain cross-entropy and once adversarially (Madry et al.'s PGD in the L2 ball of
radius ``eps`` in the adapter's [0,1] RGB pixel space, the space every probe attacks in).

Training is seeded and runs on the CPU. The weights are cached as safetensors under
``<visaudit cache>/fmnist-cnn/<name>-<key>.safetensors`` (a ``VISAUDIT_WEIGHTS`` root holding
the same relative file is used first), where the key hashes this file's
source, the hyper-parameters and the training files' sha256, so changing any of them trains
anew instead of returning stale weights. Training happens on the first use (one log line says
so) or ahead of time with ``python scripts/train_fmnist.py``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from visaudit import settings
from visaudit.models.checkpoints import file_memo_key, load_state_dict
from visaudit.models.info import ModelInfo
from visaudit.models.source import ModelSource

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from torch import nn

log = logging.getLogger(__name__)

MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class TrainSpec:
    """Hyper-parameters of one training run (all of them enter the weights' cache key).

    Attributes:
        epochs: passes over the 60 000 training images.
        batch_size: images per step.
        lr: Adam learning rate (cosine-decayed to 0 over the run).
        seed: seeds the initialisation, the data order and the PGD starts.
        adv_eps: L2 radius of training PGD in [0,1] RGB pixel space (0: standard training).
        adv_steps: PGD steps per batch.
        adv_step_size: PGD step as a multiple of ``adv_eps``.
    """

    epochs: int = 2
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0
    adv_eps: float = 0.0
    adv_steps: int = 0
    adv_step_size: float = 0.5


SPECS = {
    "fmnist_cnn": TrainSpec(),
    "fmnist_cnn_robust": TrainSpec(epochs=2, adv_eps=2.0, adv_steps=3, adv_step_size=2.5 / 3),
}


def build_net() -> "nn.Module":
    """The CNN: channel mean (the images are grey), two 5x5 conv blocks, a linear head."""
    from torch import nn

    class _Grey(nn.Module):
        def forward(self, x):  # noqa: ANN001, ANN202 - the three channels are copies of one
            return x.mean(1, keepdim=True)

    return nn.Sequential(
        _Grey(),
        nn.Conv2d(1, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 10),
    )


def _files(split: str = "train") -> tuple[Path, Path]:
    from visaudit.data.builtin import _FMNIST, FASHION_MNIST_FILES
    from visaudit.data.resolver import Remote, resolve

    out = []
    for kind, n in (("images", 3), ("labels", 1)):
        fname = f"{split}-{kind}-idx{n}-ubyte.gz"
        out.append(
            resolve(
                f"fashion-mnist/{fname}",
                kind="data",
                what=f"Fashion-MNIST {split} set (for the fmnist_cnn models)",
                remote=Remote(_FMNIST + fname, sha256=FASHION_MNIST_FILES[fname]),
            )
        )
    return out[0], out[1]


def cache_key(spec: TrainSpec) -> str:
    """sha256 over this module's source, the hyper-parameters and the training files' content."""
    from visaudit.data.fingerprint import file_digest

    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(json.dumps(asdict(spec), sort_keys=True).encode())
    for f in _files("train"):
        h.update(file_digest(f).encode())
    return h.hexdigest()


def weights_file(name: str) -> Path:
    """Where the weights of ``name`` are: ``fmnist-cnn/<name>-<key>.safetensors`` under a
    ``VISAUDIT_WEIGHTS`` root if one holds it (trained elsewhere, same key), else in the cache
    (where they may not exist yet)."""
    rel = Path("fmnist-cnn") / f"{name}-{cache_key(SPECS[name])[:16]}.safetensors"
    for root in settings.weights_roots():
        if (root / rel).is_file():
            return root / rel
    return settings.cache_dir() / rel


def load_split(split: str) -> tuple["np.ndarray", "np.ndarray"]:
    """(images uint8 (n, 28, 28), labels int64) of the ``train`` or ``t10k`` IDX files."""
    from visaudit.data.builtin import read_idx

    img_f, lab_f = _files(split)
    return read_idx(img_f), read_idx(lab_f).astype("int64")


def _as_rgb(images: "np.ndarray"):  # noqa: ANN202 - a torch tensor
    import torch

    x = torch.from_numpy(images.copy()).float().div_(255.0)[:, None]
    return x.expand(-1, 3, -1, -1)


def l2_pgd(model: Callable, x: "Any", y: "Any", eps: float, steps: int, step_size: float, gen: "Any") -> "Any":
    """Madry et al.'s L2 PGD (cross-entropy ascent, random start in the ball, [0,1] box)."""
    import torch
    import torch.nn.functional as F

    from visaudit.attacks.threat import as_eps, normalize_l2, project

    e = as_eps(eps, len(x), x.device)
    delta = torch.randn(x.shape, generator=gen)
    r = torch.rand(len(x), generator=gen).view(-1, 1, 1, 1)
    delta = delta / delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * eps * r
    x_adv = project(x + delta, x, e, "l2")
    for _ in range(steps):
        x_adv = x_adv.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(x_adv), y), x_adv)
        x_adv = project(x_adv.detach() + step_size * eps * normalize_l2(g), x, e, "l2")
    return x_adv.detach()


def train(name: str, log_every: int = 0) -> tuple["nn.Module", dict[str, float]]:
    """Train ``name`` (``fmnist_cnn`` or ``fmnist_cnn_robust``) from scratch; (net, stats)."""
    import torch

    spec = SPECS[name]
    threads = torch.get_num_threads()
    # one thread: these tiny convolutions run ~7x faster than on two busy cores, and the
    # summation order (so the weights) no longer depends on the machine's core count
    torch.set_num_threads(1)
    try:
        return _train(name, spec, log_every)
    finally:
        torch.set_num_threads(threads)


def _train(name: str, spec: TrainSpec, log_every: int) -> tuple["nn.Module", dict[str, float]]:
    import torch
    import torch.nn.functional as F

    from visaudit.models.classifier import Classifier

    images, labels = load_split("train")
    x_all, y_all = _as_rgb(images), torch.from_numpy(labels)
    torch.manual_seed(spec.seed)
    net = build_net()
    model = Classifier(net, info_for(name, "untrained"))
    gen = torch.Generator().manual_seed(spec.seed)
    steps_per_epoch = (len(x_all) + spec.batch_size - 1) // spec.batch_size
    opt = torch.optim.Adam(net.parameters(), lr=spec.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=spec.lr, total_steps=spec.epochs * steps_per_epoch, pct_start=0.15
    )
    t0 = time.perf_counter()
    step = 0
    for _ in range(spec.epochs):
        order = torch.randperm(len(x_all), generator=gen)
        for i in range(steps_per_epoch):
            idx = order[i * spec.batch_size : (i + 1) * spec.batch_size]
            xb, yb = x_all[idx].contiguous(), y_all[idx]
            if spec.adv_eps > 0:
                model.eval()
                xb = l2_pgd(model, xb, yb, spec.adv_eps, spec.adv_steps, spec.adv_step_size, gen)
            model.train()
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if log_every and step % log_every == 0:
                log.info("%s: step %d/%d, loss %.3f", name, step, spec.epochs * steps_per_epoch, float(loss))
    model.eval()
    return net.eval(), {"train_seconds": time.perf_counter() - t0}


def evaluate(model: Callable, spec: TrainSpec, n: int = 10000, batch: int = 500) -> dict[str, float]:
    """Clean test accuracy and accuracy under the training PGD (L2, ``spec.adv_eps`` or 2.0, 10 steps)."""
    import torch

    images, labels = load_split("t10k")
    x_all, y_all = _as_rgb(images[:n]), torch.from_numpy(labels[:n])
    eps = spec.adv_eps or SPECS["fmnist_cnn_robust"].adv_eps
    gen = torch.Generator().manual_seed(1)
    clean = robust = 0
    for i in range(0, len(x_all), batch):
        xb, yb = x_all[i : i + batch].contiguous(), y_all[i : i + batch]
        with torch.no_grad():
            clean += int((model(xb).argmax(1) == yb).sum())
        with torch.enable_grad():
            xa = l2_pgd(model, xb, yb, eps, 10, 2.5 / 10, gen)
        with torch.no_grad():
            robust += int((model(xa).argmax(1) == yb).sum())
    return {"clean_top1": clean / len(x_all), "pgd_top1": robust / len(x_all), "pgd_eps": eps, "n": len(x_all)}


def info_for(name: str, weights: str) -> ModelInfo:
    """The zoo metadata of ``name`` (28x28, fashion-mnist labels, mean = std = 0.5)."""
    return ModelInfo(
        name=name,
        source="zoo",
        arch="fmnist_cnn",
        num_classes=10,
        label_space="fashion-mnist",
        input_size=(3, 28, 28),
        interpolation="bilinear",
        crop_pct=1.0,
        mean=MEAN,
        std=STD,
        weights=weights,
    )


def ensure_weights(name: str) -> Path:
    """The cached weight file of ``name``, trained and written first if missing."""
    import torch
    from safetensors.torch import save_file

    path = weights_file(name)
    if path.is_file():
        return path
    spec = SPECS[name]
    kind = f"adversarially (L2 PGD, eps={spec.adv_eps}, {spec.adv_steps} steps)" if spec.adv_eps else "normally"
    log.warning(
        "training %s %s on Fashion-MNIST for %d epochs (CPU, once; cached at %s)", name, kind, spec.epochs, path
    )
    with torch.enable_grad(), torch.inference_mode(False):
        net, stats = train(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    meta = {"arch": "fmnist_cnn", "train_seconds": f"{stats['train_seconds']:.1f}", "spec": json.dumps(asdict(spec))}
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp), metadata=meta)
    tmp.replace(path)
    log.warning("trained %s in %.0f s", name, stats["train_seconds"])
    return path


class FmnistCnnSource(ModelSource):
    """``fmnist_cnn`` / ``fmnist_cnn_robust``: trained on first use, cached by the training key."""

    example = "fmnist_cnn"
    example_builds_offline = True

    def __init__(self, name: str, robust: bool) -> None:
        self.name, self.robust = name, robust

    def info(self) -> ModelInfo:
        return info_for(self.name, str(weights_file(self.name)))

    def memo_key(self) -> str | None:
        path = weights_file(self.name)
        return file_memo_key(path, "fmnist-v1") if path.is_file() else None

    def factory(self) -> Callable[[], "nn.Module"]:
        return build_net

    def build(self) -> "nn.Module":
        net = build_net()
        net.load_state_dict(load_state_dict(ensure_weights(self.name)))
        return net.eval()
