"""A generic registry with lazy ``"module:attr"`` entries and did-you-mean errors.

Example:
    >>> PROBES = Registry("probe")
    >>> PROBES.add_lazy("accuracy", "visaudit.probes.accuracy:AccuracyProbe")
    >>> "accuracy" in PROBES
    True
"""

from __future__ import annotations

import difflib
import importlib
from typing import Callable, Generic, Iterator, TypeVar

from visaudit.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects, importing lazy entries only when first looked up."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._lazy: dict[str, str] = {}
        self._loaded: dict[str, T] = {}
        self._help: dict[str, str] = {}

    def add_lazy(self, name: str, target: str, help: str = "") -> None:
        """Register ``name`` to be imported from ``"package.module:attr"`` on first use."""
        self._check_new(name)
        self._lazy[name] = target
        self._help[name] = help

    def register(self, name: str, help: str = "") -> Callable[[T], T]:
        """Decorator form: ``@REG.register("name")``.

        A lazy entry of the same name is replaced by the object it pointed to, which is
        what happens when the lazy entry's module is imported and registers itself.
        """

        def deco(obj: T) -> T:
            if name in self._loaded and self._loaded[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._loaded[name] = obj
            if help or not self._help.get(name):
                doc = (getattr(obj, "__doc__", None) or "").strip()
                self._help[name] = help or (doc.splitlines()[0] if doc else "")
            return obj

        return deco

    def unregister(self, name: str) -> None:
        """Remove an entry (plugins and tests that register something for a while)."""
        if name not in self:
            raise UnknownNameError(self.unknown_message(name))
        self._lazy.pop(name, None)
        self._loaded.pop(name, None)
        self._help.pop(name, None)

    def _check_new(self, name: str) -> None:
        if name in self._lazy or name in self._loaded:
            raise ValueError(f"{self.kind} {name!r} is registered twice")

    def names(self) -> list[str]:
        """All registered names, sorted, without importing anything."""
        return sorted(set(self._lazy) | set(self._loaded))

    def help(self, name: str) -> str:
        """One-line description of an entry (empty if none was given)."""
        return self._help.get(name, "") or ""

    def __contains__(self, name: object) -> bool:
        return name in self._lazy or name in self._loaded

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def get(self, name: str) -> T:
        """Return the entry, importing it if lazy; unknown names raise with suggestions."""
        if name in self._loaded:
            return self._loaded[name]
        if name not in self._lazy:
            raise UnknownNameError(self.unknown_message(name))
        module_name, _, attr = self._lazy[name].partition(":")
        module = importlib.import_module(module_name)
        obj = getattr(module, attr)
        self._loaded.setdefault(name, obj)
        return self._loaded[name]

    def unknown_message(self, name: str) -> str:
        """The error text for an unknown name, with close matches."""
        close = difflib.get_close_matches(name, self.names(), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        return (
            f"unknown {self.kind} {name!r}.{hint} "
            f"Known {self.kind}s: {', '.join(self.names())} (see `visaudit list {self.kind}s`)."
        )
