"""Post-hoc OOD detectors computed from stored arrays (logits, penultimate features).

Every detector returns a score that is **higher for in-distribution** samples (see
:mod:`visaudit.metrics.ood`). Detectors that need statistics of in-distribution data
(Mahalanobis, ViM, KNN, ReAct) are fitted on a *fit split* of the in-distribution set that
is disjoint from the samples they are evaluated on.

The maths is our own, written from the papers:

- ``msp``: max softmax probability (Hendrycks & Gimpel 2017).
- ``maxlogit``: max logit (Hendrycks et al. 2022).
- ``energy``: negative free energy T * logsumexp(logits / T), T = 1 (Liu et al. 2020).
- ``odin``: temperature-scaled MSP of an input perturbed against the gradient (Liang et al.
  2018). The one detector that re-runs the model; see :mod:`visaudit.ood.odin`.
- ``mahalanobis``: class-conditional Gaussians with one shared covariance on penultimate
  features, score = -min_c Mahalanobis distance (Lee et al. 2018, without input
  pre-processing or feature ensembles, like OpenOOD's "MDS").
- ``vim``: virtual-logit matching (Wang et al. 2022): residual norm of the features outside
  the principal subspace around the origin u = -pinv(W) b, scaled to the logits' size.
- ``knn``: distance to the k-th nearest L2-normalised fit feature (Sun et al. 2022), k = 50 as
  OpenOOD's ``configs/postprocessors/knn.yml`` and pytorch-ood's ``KNN`` default (OpenOOD scores
  with the squared distance, pytorch-ood with the distance: the same ranking as ours).
- ``react``: energy of logits recomputed from features clipped at the fit set's
  90th percentile (Sun et al. 2021).
- ``ash``: ASH-S activation shaping: keep each sample's top (100 - p) % activations, scale
  them by exp(sum_all / sum_kept), energy of the recomputed logits (Djurisic et al. 2023).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from visaudit.errors import VisauditError
from visaudit.ood import DETECTORS


@dataclass
class FitData:
    """In-distribution statistics a detector may fit on.

    Attributes:
        logits: (N, C) logits of the fit split.
        features: (N, D) penultimate features of the fit split.
        labels: (N,) class labels in 0..C-1 (true labels where the dataset shares the
            model's label space, else the model's predictions).
        head_weight: (C, D) final linear layer weight; ``logits = features @ W.T + b``.
        head_bias: (C,) final linear layer bias.
    """

    logits: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    head_weight: np.ndarray | None = None
    head_bias: np.ndarray | None = None


@dataclass
class Arrays:
    """What a detector scores: stored logits, features and precomputed extras (e.g. ODIN)."""

    logits: np.ndarray
    features: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.logits)


class Detector:
    """Base class: ``fit`` on in-distribution statistics, then ``score`` stored arrays."""

    name: ClassVar[str] = ""
    needs_fit: ClassVar[bool] = False
    needs_head: ClassVar[bool] = False
    runs_model: ClassVar[bool] = False  # True: scores come from an extra model pass (ODIN)

    def __init__(self, **params: Any) -> None:
        self.params = params

    def fit(self, fit: FitData) -> "Detector":
        """Fit statistics (no-op for detectors that need none); returns self."""
        return self

    def resolved(self) -> dict[str, Any]:
        """The parameters the fitted detector actually uses (defaults filled in), for the record."""
        return dict(self.params)

    def score(self, arrays: Arrays) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


def _register(cls: type[Detector]) -> type[Detector]:
    return DETECTORS.register(cls.name)(cls)


def _f64(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def logsumexp(z: np.ndarray) -> np.ndarray:
    """Row-wise log-sum-exp in float64."""
    z = _f64(z)
    m = z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]


def _head(fit: FitData, name: str) -> tuple[np.ndarray, np.ndarray]:
    if fit.head_weight is None:
        raise VisauditError(f"detector {name!r} needs the model's final linear layer (head_weight/head_bias)")
    w = _f64(fit.head_weight)
    b = _f64(fit.head_bias) if fit.head_bias is not None else np.zeros(len(w))
    return w, b


@_register
class MSP(Detector):
    """Maximum softmax probability."""

    name = "msp"

    def score(self, arrays: Arrays) -> np.ndarray:
        z = _f64(arrays.logits)
        return np.exp(z.max(1) - logsumexp(z))


@_register
class MaxLogit(Detector):
    """Maximum logit."""

    name = "maxlogit"

    def score(self, arrays: Arrays) -> np.ndarray:
        return _f64(arrays.logits).max(1)


@_register
class Energy(Detector):
    """Negative free energy T * logsumexp(logits / T)."""

    name = "energy"

    def score(self, arrays: Arrays) -> np.ndarray:
        t = float(self.params.get("temperature", 1.0))
        return t * logsumexp(_f64(arrays.logits) / t)


@_register
class ODIN(Detector):
    """ODIN: max softmax at temperature T of an input perturbed by eps * sign(gradient).

    Needs a model pass per input (computed during the probe's data pass and passed in as
    ``arrays.extra['odin']``); it cannot be computed from logits and features alone.
    """

    name = "odin"
    runs_model = True

    def score(self, arrays: Arrays) -> np.ndarray:
        if "odin" not in arrays.extra:
            raise VisauditError("odin scores need the input-perturbation pass (visaudit.ood.odin.odin_scores)")
        return _f64(arrays.extra["odin"])


@_register
class Mahalanobis(Detector):
    """Class-conditional Gaussians with a shared covariance; score = -min class distance."""

    name = "mahalanobis"
    needs_fit = True

    def fit(self, fit: FitData) -> "Mahalanobis":
        x, y = _f64(fit.features), np.asarray(fit.labels)
        classes = np.unique(y)
        self.means = np.stack([x[y == c].mean(0) for c in classes])
        centred = x - self.means[np.searchsorted(classes, y)]
        cov = centred.T @ centred / len(x)
        self.precision = np.linalg.pinv(cov, hermitian=True)
        self._mu_term = np.einsum("cd,de,ce->c", self.means, self.precision, self.means)
        return self

    def score(self, arrays: Arrays) -> np.ndarray:
        f = _f64(arrays.features)
        fp = f @ self.precision
        d = np.sum(fp * f, 1)[:, None] - 2.0 * fp @ self.means.T + self._mu_term[None, :]
        return -d.min(1)


@_register
class ViM(Detector):
    """Virtual-logit matching: energy minus the scaled residual norm outside the principal subspace.

    ``dim`` (principal subspace size): default half the feature dimension (the original uses
    1000 of 2048 for ResNet-50; OpenOOD 256 of 512 for CIFAR ResNet-18).
    """

    name = "vim"
    needs_fit = True
    needs_head = True

    def fit(self, fit: FitData) -> "ViM":
        w, b = _head(fit, self.name)
        x = _f64(fit.features)
        d_feat = x.shape[1]
        dim = int(self.params.get("dim") or d_feat // 2)
        if not 0 < dim < d_feat:
            raise VisauditError(f"vim: principal dimension {dim} must be in 1..{d_feat - 1}")
        self.dim = dim
        self.origin = -np.linalg.pinv(w) @ b
        xc = x - self.origin
        eigval, eigvec = np.linalg.eigh(xc.T @ xc / len(xc))
        order = np.argsort(eigval)[::-1]
        self.null_space = np.ascontiguousarray(eigvec[:, order[dim:]])
        residual = np.linalg.norm(xc @ self.null_space, axis=1)
        self.alpha = float(_f64(fit.logits).max(1).mean() / max(residual.mean(), 1e-12))
        return self

    def resolved(self) -> dict[str, Any]:
        return {**self.params, "dim": self.dim}

    def score(self, arrays: Arrays) -> np.ndarray:
        residual = np.linalg.norm((_f64(arrays.features) - self.origin) @ self.null_space, axis=1)
        return logsumexp(arrays.logits) - self.alpha * residual


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


@_register
class KNN(Detector):
    """Negative distance to the k-th nearest L2-normalised fit feature.

    ``k``: default 50 (OpenOOD, pytorch-ood; the paper's choice for CIFAR-10), capped at the
    number of fit samples. ``k=0`` departs from the references: ``max(1, round(n_fit / 1000))``,
    the paper's k = 50 for 50k CIFAR-10 training images scaled to the fit set's size.
    """

    name = "knn"
    needs_fit = True
    default_k: ClassVar[int] = 50

    def fit(self, fit: FitData) -> "KNN":
        self.bank = _normalise(fit.features)
        k = self.params.get("k", self.default_k)
        if k is None:
            k = self.default_k
        k = int(k) if int(k) > 0 else max(1, round(len(self.bank) / 1000))
        self.k = min(k, len(self.bank))
        return self

    def resolved(self) -> dict[str, Any]:
        return {**self.params, "k": self.k, "n_fit": len(self.bank)}

    def score(self, arrays: Arrays, chunk: int = 4096) -> np.ndarray:
        q = _normalise(arrays.features)
        out = np.empty(len(q), dtype=np.float64)
        for s in range(0, len(q), chunk):
            sim = q[s : s + chunk] @ self.bank.T
            # k-th largest cosine similarity = k-th nearest neighbour
            kth = -np.partition(-sim, self.k - 1, axis=1)[:, self.k - 1]
            out[s : s + chunk] = -np.sqrt(np.clip(2.0 - 2.0 * kth.astype(np.float64), 0.0, None))
        return out


@_register
class ReAct(Detector):
    """Energy of logits recomputed from features clipped at the fit set's p-th percentile (p = 90)."""

    name = "react"
    needs_fit = True
    needs_head = True

    def fit(self, fit: FitData) -> "ReAct":
        self.w, self.b = _head(fit, self.name)
        self.threshold = float(np.percentile(_f64(fit.features), float(self.params.get("percentile", 90.0))))
        return self

    def score(self, arrays: Arrays) -> np.ndarray:
        f = np.minimum(_f64(arrays.features), self.threshold)
        return logsumexp(f @ self.w.T + self.b)


def ash_s(features: np.ndarray, percentile: float = 90.0) -> np.ndarray:
    """ASH-S: zero all but each row's top (100 - percentile) % values, scale the kept ones by
    exp(row sum before / row sum after)."""
    f = _f64(features)
    n = f.shape[1]
    keep = n - int(np.round(n * percentile / 100.0))
    keep = min(max(keep, 1), n)
    s1 = f.sum(1)
    idx = np.argpartition(-f, keep - 1, axis=1)[:, :keep]
    out = np.zeros_like(f)
    rows = np.arange(len(f))[:, None]
    out[rows, idx] = f[rows, idx]
    s2 = out.sum(1)
    scale = np.where(s2 > 0, s1 / np.where(s2 > 0, s2, 1.0), 0.0)
    return out * np.exp(scale)[:, None]


@_register
class ASH(Detector):
    """ASH-S activation shaping (percentile p = 90) followed by the energy score."""

    name = "ash"
    needs_head = True

    def fit(self, fit: FitData) -> "ASH":
        self.w, self.b = _head(fit, self.name)
        return self

    def score(self, arrays: Arrays) -> np.ndarray:
        f = ash_s(arrays.features, float(self.params.get("percentile", 90.0)))
        return logsumexp(f @ self.w.T + self.b)


def make_detector(name: str, params: dict[str, Any] | None = None) -> Detector:
    """Instantiate a registered detector by name (unknown names raise with suggestions)."""
    return DETECTORS.get(name)(**(params or {}))


def score_all(
    names: list[str],
    fit: FitData,
    sets: dict[str, Arrays],
    params: dict[str, dict[str, Any]] | None = None,
    resolved: dict[str, dict[str, Any]] | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Fit each detector once, then score every set: ``{detector: {set: scores}}``.

    ``resolved``, if given, receives each fitted detector's :meth:`Detector.resolved` parameters.
    """
    params = params or {}
    out: dict[str, dict[str, np.ndarray]] = {}
    for name in names:
        det = make_detector(name, params.get(name)).fit(fit)
        out[name] = {s: det.score(a) for s, a in sets.items()}
        if resolved is not None:
            resolved[name] = det.resolved()
    return out
