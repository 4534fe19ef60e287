"""Neural PCA of a linear head's class contributions (Neuhaus et al. 2023, "Spurious ImageNet").

For a linear head ``logit_k(x) = w_k . phi(x) + b_k`` the contribution vector of an image is
``v(x) = w_k * phi(x)`` (elementwise), so ``logit_k(x) = sum(v(x)) + b_k``. Over the images of
class k, the principal directions ``u_1, u_2, ...`` of ``v`` (eigenvectors of its covariance,
largest variance first) form an orthonormal basis, and

    logit_k(x) = sum_l alpha_l(x) + b_k,    alpha_l(x) = <v(x), u_l> <u_l, 1>,

exactly (``sum_l u_l u_l^T = I``). ``alpha_l`` is the part of the class logit carried by
component l; ``<v(x), u_l>`` is how strongly the image activates it. Each ``u_l`` is signed so
that ``<u_l, 1> >= 0``: a positive activation then raises the logit.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> phi, w = rng.random((50, 6)), rng.normal(size=6)
    >>> pca = class_components(phi, w)
    >>> bool(np.allclose(pca.alpha.sum(1), phi @ w))
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ClassComponents:
    """Neural PCA of one class.

    Attributes:
        components: (D, D) rows ``u_l``, by decreasing variance.
        variance: (D,) variance of the contributions along each component.
        activation: (n, D) ``<v(x), u_l>`` per image.
        alpha: (n, D) ``alpha_l(x)``, the component's part of the class logit (bias excluded).
    """

    components: np.ndarray
    variance: np.ndarray
    activation: np.ndarray
    alpha: np.ndarray


def contributions(phi: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(n, D) contribution vectors ``w * phi(x)`` in float64."""
    phi, w = np.asarray(phi, dtype=np.float64), np.asarray(w, dtype=np.float64)
    if phi.ndim != 2 or w.shape != (phi.shape[1],):
        raise ValueError(f"features (n, D) and a weight row (D,) needed, got {phi.shape} and {w.shape}")
    return phi * w[None, :]


def class_components(phi: np.ndarray, w: np.ndarray) -> ClassComponents:
    """Principal components of the contributions of one class's images (at least one image)."""
    v = contributions(phi, w)
    if len(v) == 0:
        raise ValueError("no image of the class")
    centred = v - v.mean(0, keepdims=True)
    cov = centred.T @ centred / max(len(v) - 1, 1)
    vals, vecs = np.linalg.eigh(cov)  # ascending; symmetric, so an orthonormal basis
    order = np.argsort(vals)[::-1]
    u = vecs[:, order].T
    u = u * np.where(u.sum(1) < 0, -1.0, 1.0)[:, None]
    act = v @ u.T
    alpha = act * u.sum(1)[None, :]
    return ClassComponents(components=u, variance=np.clip(vals[order], 0, None), activation=act, alpha=alpha)
