"""PNG figures for the inner-mechanics probes (matplotlib, Agg backend, bytes out)."""
from __future__ import annotations

import io
from typing import Any, Sequence


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def criticality_profile_png(rows: Sequence[dict], title: str) -> bytes:
    """Criticality per layer against depth, coloured by module kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, len(rows) * 0.12), 3.2))
    colours = {"conv": "tab:blue", "linear": "tab:red", "norm": "tab:green"}
    for kind, c in colours.items():
        pts = [r for r in rows if r["kind"] == kind]
        if pts:
            ax.bar([r["depth"] for r in pts], [r["criticality"] for r in pts], color=c, label=kind, width=0.8)
    ax.set_xlabel("layer (execution order)")
    ax.set_ylabel("criticality (1 - cos) x 100")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _png(fig)


def filter_stats_png(rows: Sequence[dict], title: str) -> bytes:
    """Sparsity, normalised variance entropy and orthogonality per 3x3 conv layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    d = [r["rel_depth"] for r in rows]
    for key in ("sparsity", "variance_entropy_norm", "orthogonality"):
        ax.plot(d, [r[key] for r in rows], marker="o", ms=3, label=key)
    ax.set_xlabel("relative depth of the 3x3 conv")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _png(fig)


def quantization_png(sizes: dict[str, float], top1: dict[str, float], title: str) -> bytes:
    """Top-1 against weight size for uniform widths and the mixed-precision allocation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    uni = sorted((sizes[k], top1[k], k) for k in sizes if k.startswith("uniform"))
    ax.plot([u[0] for u in uni], [u[1] for u in uni], marker="o", label="uniform")
    for s, t, k in uni:
        ax.annotate(k.split("_")[1], (s, t), fontsize=7)
    if "mixed" in sizes:
        ax.scatter([sizes["mixed"]], [top1["mixed"]], color="tab:red", zorder=3, label="mixed precision")
    ax.set_xlabel("quantised weight size (MB)")
    ax.set_ylabel("top-1")
    ax.set_title(title)
    ax.legend(fontsize=7)
    return _png(fig)
