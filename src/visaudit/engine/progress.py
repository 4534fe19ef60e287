"""rich progress bars with images/s and ETA; a silent stand-in for quiet mode."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from rich.text import Text


class _Silent:
    def add(self, total: int, description: str, unit: str = "img") -> "_Handle":
        return _Handle(None, None)

    def __enter__(self) -> "_Silent":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def log(self, message: str) -> None:
        return None


class _Handle:
    def __init__(self, progress: Any, task: Any) -> None:
        self.progress, self.task = progress, task

    def advance(self, n: int) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, n)

    def done(self) -> None:
        if self.progress is not None:
            self.progress.update(self.task, visible=False)


class Bars:
    """One live display for a whole audit; each pass over data gets a bar."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        class _Rate(TextColumn):
            def render(self, task: Any) -> "Text":  # units per second
                from rich.text import Text

                speed = task.finished_speed or task.speed
                unit = task.fields.get("unit", "img")
                return Text(f"{speed:,.0f} {unit}/s" if speed else f"- {unit}/s", style="cyan")

        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
            _Rate(""), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), transient=False,
        )

    def add(self, total: int, description: str, unit: str = "img") -> _Handle:
        return _Handle(self.progress, self.progress.add_task(description, total=total, unit=unit))

    def log(self, message: str) -> None:
        self.progress.console.print(message)

    def __enter__(self) -> "Bars":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)


def make_bars(quiet: bool) -> "_Silent | Bars":
    return _Silent() if quiet else Bars()
