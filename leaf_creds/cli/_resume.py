"""``--resume`` for ``apply``: what a results file says an earlier run did.

A results file holds one outcome line per plan line that ended (``"line":
N``), and a ``"started": true`` line for each create, replace and delete
before it was sent (every ``--out`` file; files of older versions have
them only under ``--resume``, and only for creates and replaces). From those, :func:`read_done`
tells which lines are done (skipped), which creates and replaces may have
landed without an ok outcome (checked with a GET before they are sent
again), and which deletes may have (a 404 on those is the earlier run's work).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import attrs

from ._plan import WITH_CREDENTIALS, LineSet, PlanError

__all__ = ["MAYBE_APPLIED_STATUSES", "Resume", "maybe_applied_entry", "read_done"]


@attrs.frozen
class Resume:
    """What a results file says about an earlier run.

    Attributes:
        done: Lines recorded as ok: skipped.
        recorded: Lines with any outcome, ok or not.
        unreadable: Lines of the file that could not be read.
        check: Create and replace lines that may have been applied without
            an ok outcome: started with no outcome after (in flight when the
            run died), or failed in a way that says they may have been applied.
        check_unrecorded: The file was written by a run that did not record
            when its creates started (an older version, or a run to standard
            output), so every create with no outcome may have been in flight.
        deletes: Delete lines that may have landed without an ok outcome:
            started with no outcome after, or failed in a way that leaves
            them possibly applied.
    """

    done: LineSet
    recorded: LineSet
    unreadable: int
    check: LineSet = attrs.Factory(LineSet)
    check_unrecorded: bool = False
    deletes: LineSet = attrs.Factory(LineSet)

    def delete_may_have_landed(self, line: int) -> bool:
        """Tell whether a 404 on this delete line may be the earlier run's own delete.

        True when the file says so (see ``deletes``), or cannot say: it
        records no starts, and the line has no outcome.
        """
        return line in self.deletes or (self.check_unrecorded and line not in self.recorded)

    def may_have_landed(self, line: int, op: str | None = "create") -> bool:
        """Tell whether a line of ``op`` must be checked with a GET before it is sent again.

        ``op`` is ``"create"`` or ``"replace"``, or ``None`` for a line not
        read yet (true if it may be either). A replace is checked only when
        the file names it (started with no outcome, or a maybe-applied
        failure): sent again, it deletes and recreates, so a repeat costs
        two requests but cannot get stuck, and checking every unfinished
        replace of a file that did not record starts would send more GETs
        than the repeats it saves.
        """
        if line in self.done:
            return False
        if line in self.check:
            return True
        return op != "replace" and self.check_unrecorded and line not in self.recorded


# What a create's (or replace's) failed outcome line says, in results files
# written before the "maybeApplied" field: the errors that leave a create possibly applied
# (an unknown outcome, a 2xx it could not read, a lost answer), and the
# statuses whose answer does not say it was not processed (as in the SDK).
_MAYBE_APPLIED_TYPES: Final = frozenset(
    {"OutcomeUnknownError", "UnreadableCreateError", "DecodeError", "TransportError",
     "RequestTimeoutError"}
)  # fmt: skip
MAYBE_APPLIED_STATUSES: Final = frozenset({408, 500, 502, 504})
_DELETE: Final = frozenset({"delete"})


def maybe_applied_entry(entry: Mapping[str, Any], ops: frozenset[str] = WITH_CREDENTIALS) -> bool:
    """Tell whether a failed outcome line of a create or replace says it may have been applied.

    ``ops``: the operations to tell it of (a delete's line has no ``maybeApplied``:
    its error's type and status tell).
    """
    if entry.get("op") not in ops or entry.get("ok") is True:
        return False
    error = entry.get("error")
    if not isinstance(error, dict):
        return False
    flag = error.get("maybeApplied")
    if isinstance(flag, bool):
        return flag
    status = error.get("status")
    return error.get("type") in _MAYBE_APPLIED_TYPES or status in MAYBE_APPLIED_STATUSES


def read_done(path: str, *, max_line: int) -> Resume:
    """Read a results file: which lines are done, which have any outcome, which to check.

    A missing or empty file means nothing ran yet, so one command serves the
    first run and every rerun, and a first run checks nothing. A line cut
    short by a crash is unreadable, and its operation simply runs again.
    Line numbers past ``max_line`` (the plan's length) are ignored: they
    cannot be the plan's, and a bitmap sized by them could take any amount
    of memory.

    Besides outcome lines, a results file holds a ``{"line": N, ...,
    "started": true}`` line for each create, replace and delete, written
    before it was sent: one started with no outcome after it may have been
    applied. A file with no such line, but with any other, comes from a run
    that did not record starts: then every create with no outcome is
    checked (see :meth:`Resume.may_have_landed`).

    Raises:
        PlanError: The file exists but cannot be read.
    """
    done = LineSet()
    recorded = LineSet()
    check = LineSet()  # maybe-applied failures, then the starts with no outcome
    pending = LineSet()  # started, no outcome since
    deletes = LineSet()  # deletes that may have landed
    pending_deletes = LineSet()
    unreadable = 0
    starts = written = False
    try:
        with open(path, encoding="utf-8") as results:
            for text in results:
                written = written or not text.isspace()
                try:
                    entry = json.loads(text)
                except (ValueError, RecursionError):
                    unreadable += text.strip() != ""
                    continue
                if not isinstance(entry, dict):
                    unreadable += 1
                    continue
                line = entry.get("line")
                if not isinstance(line, int) or isinstance(line, bool) or not 0 < line <= max_line:
                    unreadable += 1
                    continue
                delete = entry.get("op") == "delete"
                if entry.get("started") is True and "ok" not in entry:
                    starts = True
                    (pending_deletes if delete else pending).add(line)
                    continue
                pending.discard(line)
                pending_deletes.discard(line)
                recorded.add(line)
                if entry.get("ok") is True:
                    done.add(line)
                elif maybe_applied_entry(entry):
                    check.add(line)
                elif delete and maybe_applied_entry(entry, _DELETE):
                    deletes.add(line)
    except FileNotFoundError:
        return Resume(done, recorded, 0)
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"cannot read the results {path}: {exc}") from None
    for line in pending:
        check.add(line)
    for line in pending_deletes:
        deletes.add(line)
    return Resume(
        done, recorded, unreadable, check, check_unrecorded=written and not starts,
        deletes=deletes,
    )  # fmt: skip
