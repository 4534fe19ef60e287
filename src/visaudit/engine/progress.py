"""Progress of an audit: rich bars on a terminal, plain periodic lines elsewhere, nothing when quiet.

Rates and ETAs are the work done so far over the time since the pass began (not rich's moving
window, which shows nothing until several updates have arrived: slow probes advance once a batch).
When stdout is not a terminal (logs, CI, ``nohup``), a line is printed when a pass starts, every
``VISAUDIT_PROGRESS_EVERY`` seconds (default 30) and when it ends. A job that fails closes its bars.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from rich.text import Text


def rate_and_eta(done: float, total: float, elapsed: float) -> tuple[float | None, float | None]:
    """(units per second, seconds left) from the work done since the start; None until known.

    Example:
        >>> rate_and_eta(50, 200, 10.0)
        (5.0, 30.0)
        >>> rate_and_eta(0, 200, 3.0)
        (None, None)
    """
    if done <= 0 or elapsed <= 0:
        return None, None
    rate = done / elapsed
    return rate, max(0.0, (total - done) / rate)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class _Handle:
    """One pass's progress; ``advance(n)`` and ``done()`` (also ``failed()``)."""

    def __init__(
        self, on_advance: Callable[[int], None] | None = None, on_done: Callable[[bool], None] | None = None
    ) -> None:
        self._advance, self._done, self.closed = on_advance, on_done, False

    def advance(self, n: int) -> None:
        if self._advance is not None and not self.closed:
            self._advance(n)

    def done(self) -> None:
        if not self.closed:
            self.closed = True
            if self._done is not None:
                self._done(True)

    def failed(self) -> None:
        if not self.closed:
            self.closed = True
            if self._done is not None:
                self._done(False)


class _Base:
    def __init__(self) -> None:
        self.open: list[_Handle] = []

    def add(self, total: int, description: str, unit: str = "img") -> _Handle:
        raise NotImplementedError

    def fail_open(self) -> None:
        """Close every pass still open (its job failed)."""
        for h in self.open:
            h.failed()
        self.open = []

    def log(self, message: str) -> None:
        return None

    def __enter__(self) -> "_Base":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.fail_open()


class Silent(_Base):
    def add(self, total: int, description: str, unit: str = "img") -> _Handle:
        return _Handle()


class PlainLines(_Base):
    """Plain lines for logs: start, every ``every`` seconds, end (with rate and ETA in the pass's unit)."""

    def __init__(self, every: float = 30.0, write: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.every = every
        self.write = write or (lambda text: print(text, flush=True))

    def add(self, total: int, description: str, unit: str = "img") -> _Handle:
        start = time.monotonic()
        state = {"done": 0, "last": start}

        def line(tag: str) -> str:
            elapsed = time.monotonic() - start
            rate, eta = rate_and_eta(state["done"], total, elapsed)
            speed = f"{rate:,.1f} {unit}/s" if rate else f"- {unit}/s"
            return (
                f"[{tag}] {description}: {state['done']}/{total} {unit} ({100 * state['done'] / max(total, 1):.0f}%),"
                f" {speed}, elapsed {_clock(elapsed)}, ETA {_clock(eta) if tag == 'progress' else '0:00:00'}"
            )

        def advance(n: int) -> None:
            state["done"] += n
            now = time.monotonic()
            if now - state["last"] >= self.every:
                state["last"] = now
                self.write(line("progress"))

        def done(ok: bool) -> None:
            self.write(line("done" if ok else "failed"))

        self.write(f"[start] {description}: {total} {unit}")
        handle = _Handle(advance, done)
        self.open.append(handle)
        return handle

    def log(self, message: str) -> None:
        from rich.console import Console

        Console(file=sys.stdout, no_color=True, highlight=False).print(message)


class Bars(_Base):
    """One live rich display for a whole audit; each pass over data gets a bar."""

    def __init__(self) -> None:
        super().__init__()
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn

        class _Rate(TextColumn):
            def render(self, task: Any) -> "Text":
                from rich.text import Text

                rate, eta = rate_and_eta(task.completed, task.total or 0, task.elapsed or 0.0)
                unit = task.fields.get("unit", "img")
                left = "done" if task.finished else f"ETA {_clock(eta)}"
                speed = f"{rate:,.1f} {unit}/s" if rate else f"- {unit}/s"
                return Text(f"{speed}  {_clock(task.elapsed)}  {left}", style="cyan")

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            _Rate(""),
            transient=False,
        )

    def add(self, total: int, description: str, unit: str = "img") -> _Handle:
        task = self.progress.add_task(description, total=total, unit=unit)

        def done(ok: bool) -> None:
            if ok:
                self.progress.update(task, visible=False)
            else:
                self.progress.update(task, description=f"[red]failed[/] {description}")
                self.progress.stop_task(task)

        handle = _Handle(lambda n: self.progress.advance(task, n), done)
        self.open.append(handle)
        return handle

    def log(self, message: str) -> None:
        self.progress.console.print(message)

    def __enter__(self) -> "Bars":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.fail_open()
        self.progress.__exit__(*exc)


def make_bars(quiet: bool) -> _Base:
    """Silent when quiet, rich bars on a terminal, plain periodic lines otherwise."""
    if quiet:
        return Silent()
    if sys.stdout.isatty():
        return Bars()
    return PlainLines(every=float(os.environ.get("VISAUDIT_PROGRESS_EVERY", "30")))
