"""visaudit: audit image classifiers the way robustness and interpretability research does.

Example:
    >>> import visaudit
    >>> res = visaudit.audit("cifar10_resnet20", "accuracy", "cifar10-test", max_images=1000)  # doctest: +SKIP
    >>> res.to_pandas()                                                                         # doctest: +SKIP
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["audit", "Results", "load_model", "open_dataset", "__version__"]


def __getattr__(name: str):  # lazy: `import visaudit` must stay cheap (no torch)
    if name in ("audit", "Results"):
        from visaudit import api

        return getattr(api, name)
    if name == "load_model":
        from visaudit.models import load_model

        return load_model
    if name == "open_dataset":
        from visaudit.data import open_dataset

        return open_dataset
    raise AttributeError(name)
