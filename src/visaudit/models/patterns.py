"""Model lists for sweeps: glob patterns over the zoo, timm and torchvision, and model files.

``cifar10_resnet*`` expands over the offline zoo, ``timm:resnet*`` through ``timm.list_models``,
``tv:resnet*`` through ``torchvision.models.list_models``; a spec without ``*``, ``?`` or ``[``
is kept as it is. A pattern that matches nothing is an error, never an empty sweep.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

from visaudit.errors import VisauditError

_GLOB = set("*?[")


def is_pattern(spec: str) -> bool:
    """Whether a model spec is a glob pattern (paths and ``ARCH@PATH`` specs never are)."""
    return isinstance(spec, str) and "@" not in spec and "/" not in spec and bool(_GLOB & set(spec))


def expand_pattern(spec: str) -> list[str]:
    """The model names a pattern matches, sorted; raises when it matches none.

    Example:
        >>> expand_pattern("cifar10_resnet[23]*")
        ['cifar10_resnet20', 'cifar10_resnet32']
    """
    from visaudit.models import ZOO_NAMES

    if spec.startswith("timm:"):
        import timm

        names = [f"timm:{n}" for n in timm.list_models(spec[5:])]
        where = "timm.list_models"
    elif spec.startswith("tv:"):
        import torchvision

        names = [f"tv:{n}" for n in torchvision.models.list_models() if fnmatch.fnmatchcase(n, spec[3:])]
        where = "torchvision.models.list_models()"
    elif ":" in spec:
        raise VisauditError(f"model pattern {spec!r}: patterns work over the zoo, timm: and tv: names only")
    else:
        names = [n for n in ZOO_NAMES if fnmatch.fnmatchcase(n, spec)]
        where = f"the zoo ({', '.join(ZOO_NAMES)})"
    if not names:
        raise VisauditError(f"model pattern {spec!r} matches no model in {where}")
    return sorted(names)


def read_models_file(path: str | Path) -> list[str]:
    """Model specs from a file: one per line; blank lines and ``#`` comments are skipped."""
    p = Path(path)
    try:
        lines = p.read_text().splitlines()
    except OSError as err:
        raise VisauditError(f"cannot read the models file {p}: {err.strerror or err}") from err
    specs = [line.split("#", 1)[0].strip() for line in lines]
    specs = [s for s in specs if s]
    if not specs:
        raise VisauditError(f"the models file {p} names no model")
    return specs


def expand_models(specs: list, models_file: str | Path | None = None) -> list:
    """Specs with patterns expanded and a models file appended, duplicates dropped (order kept).

    Non-string specs (model objects) pass through untouched.
    """
    specs = list(specs) + (read_models_file(models_file) if models_file is not None else [])
    out: list = []
    seen: set[str] = set()
    for spec in specs:
        names = expand_pattern(spec) if isinstance(spec, str) and is_pattern(spec) else [spec]
        for name in names:
            if isinstance(name, str):
                if name in seen:
                    continue
                seen.add(name)
            out.append(name)
    return out
