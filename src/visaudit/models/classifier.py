"""The one model adapter every probe sees: [0,1] RGB in, logits out, normalisation inside."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from visaudit.models.info import ModelInfo


class Classifier(nn.Module):
    """Wraps a network so that attacks, corruptions and filters all work in [0,1] pixel space.

    Example:
        >>> model = load_model("cifar10_resnet20")          # doctest: +SKIP
        >>> logits = model(torch.rand(8, 3, 32, 32))        # doctest: +SKIP
    """

    def __init__(self, net: nn.Module, info: ModelInfo, factory: Callable[[], nn.Module] | None = None) -> None:
        super().__init__()
        self.net = net
        self.info = info
        self._factory = factory
        self.register_buffer("mean", torch.tensor(info.mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(info.std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        if info.n_params is None:
            info.n_params = self.n_params

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.net.parameters())

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a float batch (N, 3, H, W) in [0, 1]."""
        return self.net(self.normalize(x))

    logits = forward

    def features(self, x: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        """Outputs of the named modules of ``net`` (forward hooks), for one forward pass."""
        modules = dict(self.net.named_modules())
        missing = [name for name in layers if name not in modules]
        if missing:
            raise KeyError(f"no module(s) {missing} in {self.info.arch}; see model.net.named_modules()")
        out: dict[str, torch.Tensor] = {}
        handles = [
            modules[name].register_forward_hook(lambda _m, _i, o, name=name: out.__setitem__(name, o))
            for name in layers
        ]
        try:
            self.forward(x)
        finally:
            for h in handles:
                h.remove()
        return out

    def head(self) -> nn.Linear:
        """The final linear classifier layer."""
        get = getattr(self.net, "get_classifier", None)
        if callable(get) and isinstance(get(), nn.Linear):
            return get()
        linears = [m for m in self.net.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ValueError(f"{self.info.arch} has no linear head")
        return linears[-1]

    @property
    def head_weight(self) -> torch.Tensor:
        return self.head().weight

    @property
    def head_bias(self) -> torch.Tensor | None:
        return self.head().bias

    def penultimate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pre-logit features, logits): the input of the final linear layer and the output."""
        store: dict[str, torch.Tensor] = {}
        h = self.head().register_forward_pre_hook(lambda _m, args: store.__setitem__("f", args[0]))
        try:
            logits = self.forward(x)
        finally:
            h.remove()
        return store["f"].flatten(1), logits

    def fresh(self, seed: int = 0) -> "Classifier":
        """A freshly initialised (untrained) model of the same architecture, seeded."""
        if self._factory is None:
            raise NotImplementedError(f"{self.info.source} models cannot be re-initialised")
        state = torch.random.get_rng_state()
        try:
            torch.manual_seed(seed)
            net = self._factory()
        finally:
            torch.random.set_rng_state(state)
        device = next(self.parameters()).device
        info = ModelInfo(**{**self.info.__dict__, "weights": "fresh-init", "weights_sha256": f"fresh:{seed}"})
        return Classifier(net, info, self._factory).to(device).eval()
