"""Threat models: Lp balls intersected with the [0,1] pixel box, per-sample radii.

Every function takes ``eps`` as a per-sample tensor of shape ``(n,)`` so that minimal-eps
searches can give each image its own radius.
"""
from __future__ import annotations

import torch

NORMS = ("linf", "l2")


def check_norm(norm: str) -> str:
    """Normalise a norm name (``Linf``/``linf``/``L2``) and reject others."""
    n = norm.lower()
    if n not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; known: {NORMS}")
    return n


def as_eps(eps: float | torch.Tensor, n: int, device: torch.device) -> torch.Tensor:
    """Per-sample radius tensor of shape (n,), float32."""
    e = torch.as_tensor(eps, dtype=torch.float32, device=device)
    return e.expand(n).clone() if e.ndim == 0 else e.to(torch.float32).clone()


def _view(e: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return e.view(-1, *([1] * (like.ndim - 1)))


def lp_norm(d: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-sample Linf or L2 norm of a batch of perturbations."""
    flat = d.flatten(1)
    return flat.abs().amax(1) if norm == "linf" else flat.norm(p=2, dim=1)


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: torch.Tensor, norm: str) -> torch.Tensor:
    """Project onto the eps-ball around ``x`` and then the [0,1] box.

    Clipping to the box after the ball projection keeps the point inside the ball, because
    ``x`` lies in the box and clipping moves every coordinate towards it.
    """
    d = x_adv - x
    if norm == "linf":
        e = _view(eps, d)
        d = torch.maximum(torch.minimum(d, e), -e)
    else:
        n = lp_norm(d, "l2")
        scale = torch.clamp(eps / n.clamp_min(1e-12), max=1.0)
        d = d * _view(scale, d)
    return (x + d).clamp(0.0, 1.0)


def normalize_l2(g: torch.Tensor) -> torch.Tensor:
    """Divide each sample by its L2 norm (zero stays zero)."""
    return g / _view(lp_norm(g, "l2").clamp_min(1e-12), g)


def random_start(x: torch.Tensor, eps: torch.Tensor, norm: str, gen: torch.Generator | None) -> torch.Tensor:
    """Uniform point in the Linf ball, or a point on the L2 sphere, clipped to the box."""
    if norm == "linf":
        u = torch.rand(x.shape, generator=gen, device=x.device, dtype=x.dtype) * 2 - 1
        return (x + u * _view(eps, x)).clamp(0.0, 1.0)
    t = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    return (x + normalize_l2(t) * _view(eps, x)).clamp(0.0, 1.0)


def inside(x_adv: torch.Tensor, x: torch.Tensor, eps: torch.Tensor | float, norm: str, tol: float = 1e-6) -> torch.Tensor:
    """Per-sample bool: ``x_adv`` is in the [0,1] box and within ``eps`` (+tol) of ``x``."""
    eps_t = as_eps(eps, len(x), x.device)
    d = (x_adv.float() - x.float())
    in_box = (x_adv >= 0).flatten(1).all(1) & (x_adv <= 1).flatten(1).all(1)
    return in_box & (lp_norm(d, norm) <= eps_t + tol)


def parse_eps(text: str | float) -> float:
    """``"8/255"`` -> 0.03137..., ``"0.5"`` -> 0.5 (no eval)."""
    if isinstance(text, (int, float)):
        return float(text)
    s = str(text).strip()
    if "/" in s:
        a, b = s.split("/", 1)
        return float(a) / float(b)
    return float(s)
