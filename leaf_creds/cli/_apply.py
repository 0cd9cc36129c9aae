"""``leaf-creds apply``: run a checked plan through ``LeafSession.bulk``, streamed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import aclosing
from typing import Any, TextIO

import attrs
import cattrs

from .._bulk import Create, Delete, Operation, Outcome
from .._exceptions import (
    APIError,
    ConflictError,
    DecodeError,
    NotFoundError,
    OutcomeUnknownError,
    TransportError,
)
from .._registry import Registry
from .._session import LeafSession
from ._output import JsonLines, outcome_json, provider_slug
from ._plan import MAYBE_APPLIED_STATUSES, LineSet, PlanSummary, Resume, Shard, plan_operations
from ._progress import ProgressBar, ProgressMode

__all__ = ["ApplyCounts", "apply_plan", "maybe_applied"]


@attrs.define
class ApplyCounts:
    """How a run went.

    Attributes:
        ok: Lines that succeeded in this run.
        failed: Lines that failed in this run.
        recovered: Creates found already applied by an interrupted run.
    """

    ok: int = 0
    failed: int = 0
    recovered: int = 0


async def apply_plan(
    leaf: LeafSession,
    path: str,
    *,
    registry: Registry,
    converter: cattrs.Converter,
    summary: PlanSummary,
    shard: Shard | None,
    done: LineSet,
    recorded: LineSet | None = None,
    previous: Resume | None = None,
    writer: JsonLines,
    err: TextIO,
    concurrency: int,
    rate: float | None,
    show_secrets: bool,
    resume: bool,
    progress: ProgressMode,
) -> ApplyCounts:
    """Run the selected lines of a plan that passed :func:`check_plan`.

    Each outcome is written (and flushed) as it completes, with its line. A
    failed create's ``error`` says ``maybeApplied``: whether it may have
    been applied all the same (an unknown outcome, a 2xx that could not be
    read, an answer lost after sending).

    With ``resume``, lines recorded as done are skipped, and the creates
    that may have landed without an ok outcome are settled first, so
    nothing is applied twice and no line is stuck on a 409:

    - the creates ``previous`` says to check (in flight when the earlier
      run died, or failed with ``maybeApplied``) are first checked with a
      GET; a credential that is there with the plan's values is taken as
      that run's work (Leaf keeps one credential per provider and user, the
      rule the SDK also uses when a create's outcome is unknown), and
      recorded ok without a second POST. Any other create is sent, for
      Leaf's own answer (a 409, say);
    - each create is announced with a ``"started": true`` line, written
      before it is sent, so the next resume checks only those in flight;
    - a delete whose credential is already gone (404) is ok.

    Args:
        recorded: Lines with any outcome, when ``previous`` is not given:
            then every create with no outcome is checked.
        previous: What the ``--resume`` file says (see :func:`read_done`).

    Raises:
        PlanError: The plan file changed between the check and the run.
    """
    if previous is None:
        previous = Resume(done, recorded or LineSet(), 0, check_unrecorded=True)
    counts = ApplyCounts()
    untold = LineSet()  # checked creates whose GET could not tell
    if resume and summary.by_op.get("create"):
        if previous.check_unrecorded:
            checks = summary.by_op["create"]
        else:
            checks = sum(1 for line in previous.check if line not in done)
        if checks:
            counts.recovered = await _settle_creates(
                leaf, path, registry, converter, shard, done, previous, untold, writer, err,
                concurrency, rate, show_secrets, progress, checks,
            )  # fmt: skip
        counts.ok += counts.recovered
    lines: dict[int, int] = {}
    operations: Iterator[Operation] = plan_operations(
        path, registry, converter, shard=shard, skip=done, lines=lines
    )
    if resume:
        operations = _announced(operations, lines, writer)
    total = summary.selected - counts.recovered
    with ProgressBar("apply", total, mode=progress, stream=err) as bar:
        async with aclosing(
            leaf.bulk(operations, concurrency=concurrency, rate=rate, on_progress=bar.update)
        ) as outcomes:
            async for outcome in outcomes:
                if resume and _already_deleted(outcome):
                    outcome = attrs.evolve(outcome, error=None)
                line = lines.pop(outcome.index)
                data = outcome_json(outcome, converter, show_secrets=show_secrets, line=line)
                error = outcome.error
                if error is None:
                    counts.ok += 1
                else:
                    counts.failed += 1
                    if isinstance(outcome.operation, Create):
                        data["error"]["maybeApplied"] = maybe_applied(error) or (
                            # The check could not tell, and a credential is there.
                            line in untold and isinstance(error, ConflictError)
                        )
                writer.write(data)
    return counts


def maybe_applied(error: BaseException) -> bool:
    """Tell whether a create that failed with ``error`` may have been applied all the same."""
    if isinstance(error, TransportError):
        return error.sent is not False  # False: it provably never left
    return isinstance(error, OutcomeUnknownError | DecodeError) or (
        isinstance(error, APIError) and error.status in MAYBE_APPLIED_STATUSES
    )


def _announced(
    operations: Iterator[Operation], lines: dict[int, int], writer: JsonLines
) -> Iterator[Operation]:
    """Write a ``"started"`` line for each create as bulk pulls it, before it is sent.

    ``LeafSession.bulk`` pulls an operation only when a slot frees and sends
    it at once, so a resume need check only the creates started with no
    outcome after: at most about ``--concurrency`` of them.
    """
    for index, operation in enumerate(operations):
        if type(operation) is Create:
            writer.write(
                {
                    "line": lines[index],
                    "op": "create",
                    "provider": provider_slug(operation.provider),
                    "leafUserId": operation.user_id,
                    "started": True,
                }
            )
        yield operation


def _already_deleted(outcome: Outcome) -> bool:
    return isinstance(outcome.operation, Delete) and isinstance(outcome.error, NotFoundError)


async def _settle_creates(
    leaf: LeafSession,
    path: str,
    registry: Registry,
    converter: cattrs.Converter,
    shard: Shard | None,
    done: LineSet,
    previous: Resume,
    untold: LineSet,
    writer: JsonLines,
    err: TextIO,
    concurrency: int,
    rate: float | None,
    show_secrets: bool,
    progress: ProgressMode,
    total: int,
) -> int:
    """GET each create that may have landed; record the ones applied as done.

    Lines whose GET could not tell (neither the credential nor a 404) are
    put in ``untold``: sent again, a 409 on them may be the earlier run's.

    Returns:
        How many were found applied.
    """
    lines: dict[int, int] = {}
    bodies: dict[int, Any] = {}
    checks = plan_operations(
        path, registry, converter, shard=shard, skip=LineSet(), lines=lines, only="create",
        bodies=bodies, select=previous.may_have_landed,
    )  # fmt: skip
    found = 0
    with ProgressBar("resume check", total, mode=progress, stream=err) as bar:
        async with aclosing(
            leaf.bulk(checks, concurrency=concurrency, rate=rate, on_progress=bar.update)
        ) as outcomes:
            async for outcome in outcomes:
                line = lines.pop(outcome.index)
                body = bodies.pop(outcome.index)
                if outcome.error is not None:
                    if not isinstance(outcome.error, NotFoundError):
                        untold.add(line)
                    continue  # not there (404) or unknown: the run pass sends it
                if not _stored_as_planned(outcome, body, registry, converter):
                    continue  # someone else's credential: the run pass gets Leaf's answer
                done.add(line)
                found += 1
                data = outcome_json(outcome, converter, show_secrets=show_secrets, line=line)
                data["op"] = "create"
                writer.write(data)
    if found:
        err.write(
            f"resume: {found} create(s) of the interrupted run had been applied; "
            "recorded as ok, not sent again\n"
        )
    return found


def _stored_as_planned(
    outcome: Outcome, body: Any, registry: Registry, converter: cattrs.Converter
) -> bool:
    """Tell whether the stored credential holds the values the plan line sends."""
    resource = registry.get(str(outcome.operation.provider))
    planned = converter.unstructure(
        resource.credentials_from_wire(body, converter=converter), resource.schema
    )
    stored = converter.unstructure(outcome.value)
    return all(stored[key] == value for key, value in planned.items() if key in stored)
