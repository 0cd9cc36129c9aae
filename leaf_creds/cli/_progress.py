"""The progress bar of long commands: rich, on standard error, only on a terminal.

rich comes with the ``cli`` extra; without it there is simply no bar.

What counts as failed is the caller's call (:meth:`ProgressBar.advance`):
for ``audit`` a missing credential is a finding, not a failure. Lines the
command prints on standard output while the bar is drawn on the same
terminal go through the bar's console (:func:`above_bar`), so they land
above the bar instead of in the middle of it.
"""

from __future__ import annotations

import os
import sys
from types import TracebackType
from typing import IO, Any, Literal, TextIO

from .. import Progress

__all__ = ["ProgressBar", "ProgressMode", "above_bar"]

ProgressMode = Literal["auto", "always", "never"]

# The bars being drawn right now (at most one in practice), for above_bar().
_LIVE: list[ProgressBar] = []

# Columns the bar leaves free at the end of its line. A line exactly as wide
# as the terminal leaves the cursor past the last column, and the "^C" the
# terminal echoes on Ctrl-C would wrap onto a line of its own, where the
# bar's last redraw lands: two copies of the bar. Three columns hold "^C".
_MARGIN = 3


class _Narrower:
    """A renderable drawn ``_MARGIN`` columns narrower than the terminal (resizes followed)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __rich_console__(self, console: Any, options: Any) -> Any:
        yield from console.render(
            self._inner, options.update_width(max(options.max_width - _MARGIN, 10))
        )


class ProgressBar:
    """Show done/total, rate, ETA and failures of a bulk run, or nothing.

    With an unknown total (``audit`` over every user of the account) there
    is no bar to fill and no ETA: a spinner and the count done instead.

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
        self._done = self._failed = 0
        if mode == "never" or (mode == "auto" and not self._stream.isatty()):
            return
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress
        except ImportError:  # the cli extra is not installed: no bar
            return
        console = Console(file=self._stream, force_terminal=mode == "always" or None)
        failed = TextColumn("[red]{task.fields[failed]} failed")
        rate = TextColumn("{task.fields[rate]}")
        columns: tuple[Any, ...]
        if total is None:
            columns = (
                SpinnerColumn(finished_text="✓"),
                TextColumn("[progress.description]{task.description}"),
                TextColumn("{task.completed} done"),
                rate, failed, TimeElapsedColumn(),
            )  # fmt: skip
        else:
            columns = (
                TextColumn("[progress.description]{task.description}"),
                BarColumn(), MofNCompleteColumn(), rate, failed, TimeElapsedColumn(),
                TextColumn("ETA"), TimeRemainingColumn(),
            )  # fmt: skip
        # Not redirect_stdout: rich would send whatever is written to
        # sys.stdout to this console, that is to stderr, even when stdout is
        # a pipe; above_bar() does that only for the same terminal.
        class _Progress(RichProgress):
            def get_renderable(self) -> Any:
                return _Narrower(super().get_renderable())

        self._progress = _Progress(
            *columns, console=console, transient=False, redirect_stdout=False
        )
        self._task = self._progress.add_task(description, total=total, failed=0, rate="")

    def __enter__(self) -> ProgressBar:
        if self._progress is not None:
            self._progress.start()
            _LIVE.append(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is None:
            return
        _LIVE.remove(self)
        if self._total is None and exc_type is None:
            # Now the total is known: the spinner shows its finished mark.
            self._progress.update(self._task, total=self._done)
        self._progress.stop()

    def update(self, progress: Progress) -> None:
        """Take the counts of a :class:`~leaf_creds.Progress` (every error a failure)."""
        self._done, self._failed = progress.done, progress.failed
        self._show()

    def advance(self, *, failed: bool) -> None:
        """Count one outcome, judged by the caller as failed or not."""
        self._done += 1
        self._failed += failed
        self._show()

    def _show(self) -> None:
        if self._progress is None:
            return
        speed = self._progress.tasks[0].speed
        self._progress.update(
            self._task,
            completed=self._done,
            failed=self._failed,
            rate=f"{speed:.0f}/s" if speed else "",
        )

    def _shares_terminal(self, stream: IO[str]) -> bool:
        return stream is self._stream or _same_terminal(stream, self._stream)

    def _print(self, text: str) -> None:
        # Through the console, which clears the bar, prints, and draws it again.
        self._progress.console.out(text, end="", highlight=False)


def _same_terminal(a: IO[str], b: IO[str]) -> bool:
    try:
        return a.isatty() and b.isatty() and os.path.samestat(
            os.fstat(a.fileno()), os.fstat(b.fileno())
        )
    except (OSError, ValueError):  # no file descriptor (a StringIO), or closed
        return False


class _AboveBar:
    """A text stream that writes above a bar drawn on the same terminal."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        for bar in _LIVE:
            if bar._shares_terminal(self._stream):
                bar._print(text)
                return len(text)
        return self._stream.write(text)

    def flush(self) -> None:
        self._stream.flush()


def above_bar(stream: IO[str]) -> Any:
    """Wrap ``stream`` (standard output) so that its lines never break a live bar.

    While a :class:`ProgressBar` is drawn on the terminal ``stream`` also
    writes to, each write goes through the bar's console, above the bar;
    otherwise (a pipe, a file, no bar) it goes to ``stream`` as is, so piped
    output stays exactly the JSON lines.

    Returns:
        An object with ``write`` and ``flush``, for :class:`JsonLines`.
    """
    return _AboveBar(stream)
