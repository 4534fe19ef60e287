"""Prefix reuse gives exactly the outputs of full forwards, and only reuses what is safe."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from visaudit.mechanics.criticality import select_modules, zero_state
from visaudit.mechanics.prefix_reuse import ModuleSwapScanner


class Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.bn = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn(self.conv(x))
        out += x  # in place on the bn output: a cache must not see this
        return self.relu(out)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.Sequential(Block(8), Block(8), Block(8))
        self.shared = nn.Conv2d(8, 8, 1)  # called twice: never cached
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(torch.relu(self.stem(x)))
        x = self.shared(self.shared(x))
        return self.head(x.mean((2, 3)))


def _net() -> Net:
    torch.manual_seed(0)
    net = Net().eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2)
    return net


def test_frontier_and_groups():
    net = _net()
    sc = ModuleSwapScanner(net, net, torch.rand(1, 3, 8, 8))
    assert sc.frontier("blocks.2.bn") == ["stem", "blocks.0", "blocks.1", "blocks.2.conv"]
    assert sc.frontier("stem") == []
    assert sc.frontier("shared") == []  # called twice
    assert sc.frontier("head") == ["stem", "blocks"]  # after the shared module: recomputed from there
    names = select_modules(net)
    assert sc.groups(names)[:2] == [["stem"], ["blocks.0.conv", "blocks.0.bn"]]
    assert sc.order(["head", "stem"]) == ["stem", "head"]


@pytest.mark.parametrize("cache_mb", [512.0, 0.0])  # one fill pass per batch / one per group
def test_reuse_equals_full_forward_and_restores_weights(cache_mb):
    net = _net()
    x = torch.rand(4, 3, 8, 8)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    names = select_modules(net)
    g = torch.Generator().manual_seed(3)
    variants = {
        n: [
            ("zeros", zero_state(m)),
            ("noise", {k: torch.randn(v.shape, generator=g) for k, v in m.named_parameters()}),
        ]
        for n, m in net.named_modules()
        if n in names
    }
    fast_scanner = ModuleSwapScanner(net, net, x[:1], True, cache_mb=cache_mb)
    n_segments = len(fast_scanner.segments(names, len(x)))
    assert n_segments == (1 if cache_mb else len(fast_scanner.groups(names)))
    fast = {(t, k): o for t, k, o in fast_scanner.scan(x, variants)}
    slow = {(t, k): o for t, k, o in ModuleSwapScanner(net, net, x[:1], False).scan(x, variants)}
    assert fast.keys() == slow.keys() and len(fast) == 1 + 2 * len(names)
    for key in slow:
        torch.testing.assert_close(fast[key], slow[key], rtol=0, atol=0)
    # variants really change the output (the comparison above is not vacuous)
    assert not torch.allclose(fast[("blocks.1.conv", "noise")], fast[(None, None)])
    with torch.no_grad():
        torch.testing.assert_close(fast[(None, None)], net(x))
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
