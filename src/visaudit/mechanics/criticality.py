"""Layer criticality (Gavrikov et al.): how much the function changes when one layer is reset.

For each selected module, its parameters are replaced by those of a freshly initialised
model of the same architecture (or by zeros) and the model is evaluated on a fixed sample.
Criticality = (1 - mean cosine similarity between the softmax outputs of the original and the
reset model) x 100, averaged over trials (one fresh initialisation per trial). Top-1 of the
reset model, its ratio to the original top-1 and KL(original || reset) are kept too.

Module selection follows the reference (github.com/paulgavrikov/layer_criticality,
``code/main.py``, ``TYPE_FILTER``): a module is taken when its type *is* ``nn.Conv2d``,
``nn.Linear`` or ``nn.BatchNorm2d``, not a subclass of one. On timm models this leaves out
``Conv2dSame`` (the stem and stride-2 depthwise convolutions of the ``tf_`` EfficientNets)
and ``BatchNormAct2d``: 45 modules on ``tf_efficientnet_lite0``. ``match="subclass"``
selects by ``isinstance`` over the wider families in :data:`KINDS` instead.

Example:
    >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(10))
    >>> select_modules(net, kinds=("conv", "norm"), match="exact")
    ['0', '1']
    >>> states, warning = fresh_states(net, ["0"], seed=0)
    >>> sorted(states["0"])
    ['bias', 'weight']
"""

from __future__ import annotations

import re
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

KINDS: dict[str, tuple[type, ...]] = {
    "conv": (nn.modules.conv._ConvNd,),
    "linear": (nn.Linear,),
    "norm": (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm),
}


#: the reference's exact types per kind (``type(m) in [Conv2d, Linear, BatchNorm2d]``)
EXACT_TYPES: dict[str, tuple[type, ...]] = {
    "conv": (nn.Conv2d,),
    "linear": (nn.Linear,),
    "norm": (nn.BatchNorm2d,),
}


def module_kind(mod: nn.Module) -> str | None:
    """``"conv"``, ``"linear"``, ``"norm"`` or ``None``."""
    for kind, types in KINDS.items():
        if isinstance(mod, types):
            return kind
    return None


def select_modules(
    net: nn.Module,
    kinds: tuple[str, ...] | list[str] = ("conv", "linear", "norm"),
    include: str | None = None,
    exclude: str | None = None,
    match: str = "subclass",
) -> list[str]:
    """Names of modules of the given kinds that own parameters, filtered by name regexes.

    Args:
        net: the network whose ``named_modules`` give the names.
        kinds: any of ``conv``, ``linear``, ``norm``.
        include: keep only names matching this regex (``re.search``).
        exclude: drop names matching this regex.
        match: ``"exact"`` (the layer-criticality reference: ``type(m)`` is one of
            :data:`EXACT_TYPES`) or ``"subclass"`` (``isinstance`` of :data:`KINDS`).
    """
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown module kinds {sorted(unknown)}; known: {sorted(KINDS)}")
    if match not in ("exact", "subclass"):
        raise ValueError(f"match must be 'exact' or 'subclass', not {match!r}")
    exact = tuple(t for k in kinds for t in EXACT_TYPES[k])
    out = []
    for name, mod in net.named_modules():
        if not name or module_kind(mod) not in kinds:
            continue
        if match == "exact" and type(mod) not in exact:
            continue
        if not any(True for _ in mod.parameters(recurse=False)):
            continue  # e.g. a norm layer without affine parameters
        if include and not re.search(include, name):
            continue
        if exclude and re.search(exclude, name):
            continue
        out.append(name)
    return out


def own_state(mod: nn.Module, buffers: bool = True) -> dict[str, torch.Tensor]:
    """The module's own parameters (and float buffers), detached copies."""
    st = {k: v.detach().clone() for k, v in mod.named_parameters(recurse=False)}
    if buffers:
        st.update({k: v.detach().clone() for k, v in mod.named_buffers(recurse=False) if v.is_floating_point()})
    return st


def zero_state(mod: nn.Module) -> dict[str, torch.Tensor]:
    """Zeros for the module's parameters; buffers (running statistics) are kept."""
    return {k: torch.zeros_like(v) for k, v in mod.named_parameters(recurse=False)}


def softmax_agreement(clean_logits: torch.Tensor, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample: cosine similarity of the softmax outputs and KL(clean || other) in nats."""
    lp = torch.log_softmax(clean_logits.float(), dim=1)
    lq = torch.log_softmax(logits.float(), dim=1)
    p, q = lp.exp(), lq.exp()
    cos = torch.nn.functional.cosine_similarity(p, q, dim=1)
    kl = (p * (lp - lq)).sum(dim=1)
    return cos, kl


def summarise(
    names: list[str],
    kinds: list[str],
    sums: dict[str, np.ndarray],
    n: int,
) -> list[dict[str, float | str | int]]:
    """Per-module rows (in the given, execution, order) from summed statistics.

    ``sums`` holds ``cos``, ``kl``, ``correct`` of shape (modules, trials) and
    ``clean_correct`` (scalar), summed over ``n`` samples.
    """
    clean_top1 = float(np.asarray(sums["clean_correct"]).sum()) / n
    rows = []
    t = len(names)
    for i, name in enumerate(names):
        crit = (1.0 - sums["cos"][i] / n) * 100.0  # per trial
        top1 = sums["correct"][i] / n
        rows.append(
            {
                "module": name,
                "kind": kinds[i],
                "depth": i,
                "rel_depth": i / (t - 1) if t > 1 else 0.0,
                "criticality": float(crit.mean()),
                "criticality_std": float(crit.std()),
                "top1": float(top1.mean()),
                "top1_ratio": float(top1.mean() / clean_top1) if clean_top1 > 0 else float("nan"),
                "kl": float((sums["kl"][i] / n).mean()),
            }
        )
    return rows


def fresh_states(
    model: nn.Module,
    targets: list[str],
    seed: int,
    buffers: bool = True,
) -> tuple[dict[str, dict[str, torch.Tensor]], str | None]:
    """Per target, the parameters (and float buffers) of a freshly initialised model.

    Uses ``model.fresh(seed)`` (the architecture's own initialisation). A model without it
    is copied and every submodule's ``reset_parameters`` is called under ``seed``, which
    ignores any architecture-specific init; a warning string says so.

    Returns:
        ``({target: state}, warning or None)``.
    """
    warning = None
    try:
        fresh = model.fresh(seed)  # type: ignore[operator]
        net = getattr(fresh, "net", fresh)
    except (AttributeError, NotImplementedError):
        import copy

        warning = "model has no fresh(); reset_parameters() defaults used as the fresh initialisation"
        net = copy.deepcopy(getattr(model, "net", model))
        rng = torch.random.get_rng_state()
        try:
            torch.manual_seed(seed)
            for m in net.modules():
                if hasattr(m, "reset_parameters"):
                    m.reset_parameters()
                if buffers and hasattr(m, "reset_running_stats"):
                    m.reset_running_stats()
        finally:
            torch.random.set_rng_state(rng)
    mods = dict(net.named_modules())
    out = {}
    for t in targets:
        if t not in mods:
            raise KeyError(f"fresh model has no module {t!r}")
        out[t] = own_state(mods[t], buffers=buffers)
    return out, warning


def accumulate(
    scan_outputs: Iterator[tuple[str | None, object, torch.Tensor]],
    index: dict[str, int],
    y: torch.Tensor,
    predict: Callable[[torch.Tensor], torch.Tensor],
    sums: dict[str, np.ndarray],
) -> None:
    """Add one batch of scanner outputs into ``sums`` (``cos``, ``kl``, ``correct``, ``clean_correct``).

    ``predict`` maps logits to predicted labels in the dataset's label space.
    """
    clean = None
    for target, key, logits in scan_outputs:
        if target is None:
            clean = logits
            sums["clean_correct"] += float((predict(logits) == y).sum())
            continue
        assert clean is not None
        cos, kl = softmax_agreement(clean, logits)
        i, k = index[target], int(key)  # type: ignore[arg-type]
        sums["cos"][i, k] += float(cos.sum())
        sums["kl"][i, k] += float(kl.sum())
        sums["correct"][i, k] += float((predict(logits) == y).sum())


def scan_chunk_fn(ctx, scanner, variants: dict, names: list[str], n_variants: int) -> Callable:
    """A ``map_chunks`` function: for each batch, swap in every module variant and accumulate
    cosine, KL and top-1 sums (shared by layer criticality and quantization sensitivity)."""
    from visaudit.engine.types import ChunkResult

    index = {n: i for i, n in enumerate(names)}

    def predict(logits: torch.Tensor) -> torch.Tensor:
        return ctx.scores(logits).argmax(dim=1)

    def chunk(batches: Iterator) -> ChunkResult:
        z = np.zeros((len(names), n_variants))
        sums = {"cos": z.copy(), "kl": z.copy(), "correct": z.copy(), "clean_correct": np.zeros(())}
        n = 0
        for b in batches:
            accumulate(scanner.scan(b.x, variants, forward=ctx.logits), index, b.y, predict, sums)
            n += len(b.y)
        return ChunkResult(sums=sums, n=n)

    return chunk
