"""The progress bar of long commands: rich, on standard error, only on a terminal.

rich comes with the ``cli`` extra; without it there is simply no bar.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, Literal, TextIO

from .._bulk import Progress

__all__ = ["ProgressBar", "ProgressMode"]

ProgressMode = Literal["auto", "always", "never"]


class ProgressBar:
    """Show done/total, rate, ETA and failures of a bulk run, or nothing.

    Args:
        description: What is being done, e.g. ``"apply"``.
        total: The number of operations, when known.
        mode: ``auto`` shows the bar only when ``stream`` is a terminal;
            ``always`` forces it, ``never`` hides it.
        stream: Where to draw; standard error by default.
    """

    def __init__(
        self,
        description: str,
        total: int | None,
        *,
        mode: ProgressMode = "auto",
        stream: TextIO | None = None,
    ) -> None:
        self._description = description
        self._total = total
        self._stream = sys.stderr if stream is None else stream
        self._progress: Any = None
        self._task: Any = None
        if mode == "never" or (mode == "auto" and not self._stream.isatty()):
            return
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress
        except ImportError:  # the cli extra is not installed: no bar
            return
        console = Console(file=self._stream, force_terminal=mode == "always" or None)
        self._progress = RichProgress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TextColumn("[red]{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task = self._progress.add_task(description, total=total, failed=0, rate="")

    def __enter__(self) -> ProgressBar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, progress: Progress) -> None:
        """Take the counts of a :class:`~leaf_creds.Progress`."""
        if self._progress is None:
            return
        task = self._progress.tasks[0]
        speed = task.speed
        self._progress.update(
            self._task,
            completed=progress.done,
            failed=progress.failed,
            rate=f"{speed:.0f}/s" if speed else "",
        )
