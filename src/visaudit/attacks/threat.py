"""Threat models: Lp balls intersected with the [0,1] pixel box, per-sample radii.

Every function takes ``eps`` as a per-sample tensor of shape ``(n,)`` so that minimal-eps
searches can give each image its own radius.

Random draws go through :mod:`visaudit.rng`: an attack takes ``generator`` as a plain
``torch.Generator`` (one stream for the batch) or :class:`~visaudit.rng.SampleGenerators`
(one stream per sample, so an image's attack does not depend on the rest of its batch), and
narrows it with :func:`narrow` wherever it narrows the batch.
"""

from __future__ import annotations

import torch

from visaudit.rng import Generators, SampleGenerators, rand, randn

NORMS = ("linf", "l2")
LINF_STARTS = ("surface", "uniform")


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


def narrow(gen: Generators, rows: torch.Tensor) -> Generators:
    """The generators of the samples ``rows`` (indices or a mask); a plain generator is shared, so unchanged."""
    return gen.select(rows) if isinstance(gen, SampleGenerators) else gen


def batch_uniforms(gen: Generators, m: int, shared: int, each: int, device: torch.device) -> torch.Tensor:
    """(m, shared + each) uniforms: the first ``shared`` columns are one draw for the batch.

    Where the reference draws a value once for the whole batch (Square's window position, its
    Linf signs, the L2 pattern's orientation), a plain generator does the same: the first
    ``shared`` values repeat on every row. Per-sample generators draw every value from the
    sample's own stream instead: each image then sees the reference's distribution for its own
    attack, and no image's draws depend on which other images share its batch.
    """
    if isinstance(gen, SampleGenerators):
        return rand(gen, (m, shared + each), device=device)
    parts = []
    if shared:
        parts.append(rand(gen, (1, shared), device=device).expand(m, shared))
    if each:
        parts.append(rand(gen, (m, each), device=device))
    return torch.cat(parts, 1) if parts else torch.empty(m, 0, device=device)


def random_start(
    x: torch.Tensor, eps: torch.Tensor, norm: str, gen: Generators, *, linf_start: str = "surface"
) -> torch.Tensor:
    """A random point of the eps-ball around ``x``, clipped to the [0,1] box.

    Linf, ``linf_start="surface"`` (AutoAttack's APGD and FAB): a uniform draw in [-1, 1]^d
    divided by its own Linf norm, so one coordinate lies on the ball's surface;
    ``"uniform"`` (Madry et al.'s PGD): uniform inside the ball. L2: a Gaussian draw scaled to
    the sphere of radius eps (both references).
    """
    if norm == "linf":
        if linf_start not in LINF_STARTS:
            raise ValueError(f"linf_start must be one of {LINF_STARTS}, not {linf_start!r}")
        u = rand(gen, x.shape, device=x.device, dtype=x.dtype) * 2 - 1
        if linf_start == "surface":
            u = u / _view(lp_norm(u, "linf") + 1e-12, u)
        return (x + u * _view(eps, x)).clamp(0.0, 1.0)
    t = randn(gen, x.shape, device=x.device, dtype=x.dtype)
    return (x + t / _view(lp_norm(t, "l2") + 1e-12, t) * _view(eps, x)).clamp(0.0, 1.0)


def inside(
    x_adv: torch.Tensor, x: torch.Tensor, eps: torch.Tensor | float, norm: str, tol: float = 1e-6
) -> torch.Tensor:
    """Per-sample bool: ``x_adv`` is in the [0,1] box and within ``eps`` (+tol) of ``x``."""
    eps_t = as_eps(eps, len(x), x.device)
    d = x_adv.float() - x.float()
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
