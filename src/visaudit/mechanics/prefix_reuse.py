"""Evaluate a model with one module's state swapped, reusing the unchanged prefix.

Changing the parameters of module ``M`` cannot change anything the forward pass computed
before ``M`` was called. :class:`ModuleSwapScanner` records once (per model) when every
submodule starts and finishes, and for each target ``M`` its *frontier*: the largest
submodules that finish before ``M`` starts. For a batch it runs the clean model once,
keeps the frontier outputs, and for every swapped state of ``M`` replays the forward with
the frontier modules answering from that cache, so only the part of the network from
``M`` on is recomputed (plus cheap functional glue in parent ``forward`` methods).

Targets are handled in groups (consecutive targets with the same parent module). One clean
"fill" pass records the frontier outputs for as many consecutive groups as fit in
``cache_mb``; the fill pass itself reuses the previous segment's cache, so it costs only a
suffix. With a large enough budget a batch needs a single clean pass; with a small one,
memory stays at about one frontier's activations.

Safety: modules called more than once per forward, modules whose parameters are shared
with another module, and outputs that are not tensors (or tuples/lists of tensors) are
never cached; targets affected fall back to a full forward. Cached tensors are cloned on
the way in and out because parent code may modify module outputs in place
(``out += identity``).

Example:
    >>> scanner = ModuleSwapScanner(model, model.net, x[:1])  # doctest: +SKIP
    >>> for target, key, logits in scanner.scan(x, {"fc": [("zeros", zero_state)]}):  # doctest: +SKIP
    ...     pass
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
from torch import nn

State = dict[str, torch.Tensor]


def _clone_out(out: Any) -> Any:
    if isinstance(out, torch.Tensor):
        return out.detach().clone()
    if isinstance(out, (tuple, list)):
        return type(out)(_clone_out(o) for o in out)
    raise TypeError(type(out))


def _cacheable(out: Any) -> bool:
    if isinstance(out, torch.Tensor):
        return True
    return isinstance(out, (tuple, list)) and all(isinstance(o, torch.Tensor) for o in out)


def _parent(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else ""


@dataclass
class CallInfo:
    """When a submodule ran during the traced forward (event counter values)."""

    start: int
    end: int
    calls: int
    cacheable: bool
    bytes_per_sample: int = 0


def _nbytes(out: Any) -> int:
    if isinstance(out, torch.Tensor):
        return out.numel() * out.element_size()
    if isinstance(out, (tuple, list)):
        return sum(_nbytes(o) for o in out)
    return 0


def trace_calls(model: nn.Module, net: nn.Module, x: torch.Tensor) -> dict[str, CallInfo]:
    """Run ``model(x)`` once and record start/end order, call counts and output sizes of
    ``net``'s submodules."""
    info: dict[str, CallInfo] = {}
    clock = [0]
    handles = []

    def pre(name: str) -> Callable:
        def hook(mod: nn.Module, args: Any) -> None:
            clock[0] += 1
            if name in info:
                info[name].calls += 1
            else:
                info[name] = CallInfo(clock[0], -1, 1, True)

        return hook

    def post(name: str) -> Callable:
        def hook(mod: nn.Module, args: Any, out: Any) -> None:
            clock[0] += 1
            info[name].end = clock[0]
            info[name].cacheable = info[name].cacheable and _cacheable(out)
            info[name].bytes_per_sample = _nbytes(out) // max(1, len(x))

        return hook

    for name, mod in net.named_modules():
        if name:
            handles.append(mod.register_forward_pre_hook(pre(name)))
            handles.append(mod.register_forward_hook(post(name)))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return info


class ModuleSwapScanner:
    """Runs a model with one target module's state replaced at a time, reusing prefixes.

    Args:
        model: the callable model (e.g. a Classifier, normalising inside).
        net: the submodule tree whose module names are used (``model.net``; may be ``model``).
        example: a small input batch used once to trace the execution order.
        prefix_reuse: ``False`` recomputes the full forward for every swap (the baseline).
        cache_mb: memory budget for cached activations per batch.
    """

    def __init__(
        self,
        model: nn.Module,
        net: nn.Module,
        example: torch.Tensor,
        prefix_reuse: bool = True,
        cache_mb: float = 512.0,
    ) -> None:
        self.model = model
        self.net = net
        self.prefix_reuse = prefix_reuse
        self.cache_bytes = cache_mb * 2**20
        self.modules = dict(net.named_modules())
        self.info = trace_calls(model, net, example)
        self._shared = self._modules_with_shared_params()

    def _modules_with_shared_params(self) -> set[str]:
        owners: dict[int, set[str]] = {}
        for name, mod in self.modules.items():
            for p in list(mod.parameters(recurse=False)) + list(mod.buffers(recurse=False)):
                owners.setdefault(id(p), set()).add(name)
        return {n for names in owners.values() if len(names) > 1 for n in names}

    def order(self, names: list[str]) -> list[str]:
        """``names`` sorted by execution order; modules never called are dropped."""
        return sorted((n for n in names if n in self.info), key=lambda n: self.info[n].start)

    def frontier(self, target: str) -> list[str]:
        """Largest submodules that finish before ``target`` starts (their outputs are reusable)."""
        if not self.prefix_reuse:
            return []
        t = self.info.get(target)
        if t is None or t.calls != 1 or target in self._shared:
            return []
        cand = {n for n, i in self.info.items() if i.calls == 1 and i.cacheable and 0 < i.end < t.start}
        return sorted((n for n in cand if _parent(n) not in cand), key=lambda n: self.info[n].start)

    def groups(self, targets: list[str]) -> list[list[str]]:
        """Consecutive (in execution order) targets sharing a parent module."""
        out: list[list[str]] = []
        for t in self.order(targets):
            if out and _parent(out[-1][-1]) == _parent(t):
                out[-1].append(t)
            else:
                out.append([t])
        return out

    def segments(self, targets: list[str], batch: int) -> list[list[list[str]]]:
        """Consecutive groups whose frontier outputs fit in the cache budget together."""
        out: list[list[list[str]]] = []
        names: set[str] = set()
        for g in self.groups(targets):
            need = set().union(*(self.frontier(t) for t in g))
            merged = names | need
            size = sum(self.info[n].bytes_per_sample for n in merged) * batch
            if out and size <= self.cache_bytes:
                out[-1].append(g)
                names = merged
            else:
                out.append([g])
                names = need
        return out

    @contextlib.contextmanager
    def _patched(self, cache: dict[str, Any], names: list[str]) -> Iterator[None]:
        patched = []
        try:
            for n in names:
                if n in cache:
                    val = cache[n]
                    self.modules[n].forward = lambda *a, _v=val, **k: _clone_out(_v)  # type: ignore[method-assign]
                    patched.append(n)
            yield
        finally:
            for n in patched:
                del self.modules[n].forward

    @contextlib.contextmanager
    def _recording(self, cache: dict[str, Any], names: set[str]) -> Iterator[None]:
        handles = []

        def rec(name: str) -> Callable:
            def hook(mod: nn.Module, args: Any, out: Any) -> None:
                cache[name] = _clone_out(out)

            return hook

        try:
            for n in names:
                handles.append(self.modules[n].register_forward_hook(rec(n)))
            yield
        finally:
            for h in handles:
                h.remove()

    @contextlib.contextmanager
    def swapped(self, target: str, state: State) -> Iterator[None]:
        """Temporarily copy ``state`` (names of the module's own params/buffers) into ``target``."""
        mod = self.modules[target]
        own = dict(mod.named_parameters(recurse=False))
        own.update(dict(mod.named_buffers(recurse=False)))
        saved = {k: own[k].detach().clone() for k in state}
        try:
            with torch.no_grad():
                for k, v in state.items():
                    own[k].copy_(v)
            yield
        finally:
            with torch.no_grad():
                for k, v in saved.items():
                    own[k].copy_(v)

    def scan(
        self,
        x: torch.Tensor,
        variants: dict[str, list[tuple[Any, State]]],
        forward: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> Iterator[tuple[str | None, Any, torch.Tensor]]:
        """Yield ``(None, None, clean_out)`` then ``(target, key, out)`` for every variant.

        Args:
            x: input batch.
            variants: target module name -> list of ``(key, state)`` to evaluate.
            forward: how to call the model (default ``self.model``), e.g. ``ctx.logits``.
        """
        fwd = forward or self.model
        if not self.prefix_reuse:
            with torch.no_grad():
                yield None, None, fwd(x)
                for t in self.order(list(variants)):
                    for key, state in variants[t]:
                        with self.swapped(t, state):
                            out = fwd(x)
                        yield t, key, out
            return
        with torch.no_grad():
            prev_cache: dict[str, Any] = {}
            prev_first: list[str] = []
            first = True
            for segment in self.segments(list(variants), len(x)):
                need = set().union(*(self.frontier(t) for g in segment for t in g))
                cache: dict[str, Any] = {}
                with self._patched(prev_cache, prev_first), self._recording(cache, need):
                    clean = fwd(x)
                if first:
                    yield None, None, clean
                    first = False
                for group in segment:
                    for t in group:
                        front = self.frontier(t)
                        for key, state in variants[t]:
                            with self.swapped(t, state), self._patched(cache, front):
                                out = fwd(x)
                            yield t, key, out
                prev_cache, prev_first = cache, self.frontier(segment[0][0])
            if first:  # no targets: still report the clean output
                yield None, None, fwd(x)
