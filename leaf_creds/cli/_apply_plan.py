"""The run of ``apply``: a checked plan through ``LeafSession.bulk``, streamed and resumable."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import aclosing
from typing import Any, TextIO

import attrs
import cattrs

from .. import (
    APIError,
    ConflictError,
    Create,
    DecodeError,
    Delete,
    LeafSession,
    NotFoundError,
    Operation,
    Outcome,
    OutcomeUnknownError,
    Registry,
    Replace,
    TransportError,
)
from ._common import error_kind
from ._output import OP_NAMES, JsonLines, outcome_json, provider_slug
from ._plan import LineSet, PlanSummary, Shard, plan_operations
from ._progress import ProgressBar, ProgressMode
from ._resume import MAYBE_APPLIED_STATUSES, Resume

__all__ = ["ApplyCounts", "apply_plan", "maybe_applied"]


@attrs.define
class ApplyCounts:
    """How a run went.

    Attributes:
        ok: Lines that succeeded in this run.
        failed: Lines that failed in this run.
        recovered: Creates and replaces found already applied by an interrupted run.
        absent: Deletes (counted in ``ok``) of an interrupted run, found done (a 404).
        errors: The failures by kind (see ``_common.error_kind``).
    """

    ok: int = 0
    failed: int = 0
    recovered: int = 0
    absent: int = 0
    errors: Counter[str] = attrs.Factory(Counter)


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
    announce: bool = False,
) -> ApplyCounts:
    """Run the selected lines of a plan that passed :func:`check_plan`.

    Each outcome is written (and flushed) as it completes, with its line. A
    failed create's or replace's ``error`` says ``maybeApplied``: whether it
    may have been applied all the same (an unknown outcome, a 2xx that could
    not be read, an answer lost after sending; for a replace, only in its
    create: one that failed in its delete never sent the new credential).

    With ``resume``, lines recorded as done are skipped, and the creates
    and replaces that may have landed without an ok outcome are settled
    first, so nothing is applied twice and no line is stuck on a 409:

    - the lines ``previous`` says to check (in flight when the earlier run
      died, or failed with ``maybeApplied``) are first checked with a GET;
      a credential that is there with the plan's values is taken as that
      run's work (Leaf keeps one credential per provider and user, the rule
      the SDK also uses when a create's outcome is unknown), and recorded
      ok without a second request (for a replace, every value the plan
      sends must show: its old credential may share the others). Any other
      create is sent, for Leaf's own answer (a 409, say), and any other
      replace runs again;
    - a delete answered 404 is ok (``"result": {"alreadyAbsent": true}``)
      only when ``previous`` says the earlier run may have deleted it
      (started with no outcome, or failed in a way that may have landed):
      that 404 is the earlier run's work. Any other delete's 404 fails, as
      in a plain run: the credential was never there, and a plan that
      names a credential (or a user) that does not exist is a mistake to
      report, not a success, whether this is the first run or a retry.

    Each create, replace and delete is announced with a ``"started": true``
    line, written before it is sent, under ``resume`` or ``announce`` (a
    run to a results file), so the next resume checks only those in flight.

    Args:
        recorded: Lines with any outcome, when ``previous`` is not given:
            then every create with no outcome is checked (replaces are
            checked only when ``previous`` names them).
        previous: What the ``--resume`` file says (see :func:`read_done`).
        rate: For ``leaf.bulk()``: None when the session's ``rate_limit``
            already holds ``--rate`` (see ``_common.bulk_rate``).
        announce: Write the ``"started"`` lines without ``resume`` too: a
            results file is always cheap to resume from.

    Raises:
        PlanError: The plan file changed between the check and the run.
    """
    if previous is None:
        previous = Resume(done, recorded or LineSet(), 0, check_unrecorded=True)
    counts = ApplyCounts()
    untold = LineSet()  # checked creates whose GET could not tell
    if resume and (summary.by_op.get("create") or summary.by_op.get("replace")):
        # How many to check, for the progress bar (an upper bound).
        checks = sum(1 for line in previous.check if line not in done)
        if previous.check_unrecorded:
            checks += summary.by_op.get("create", 0)
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
    if resume or announce:
        operations = _announced(operations, lines, writer)
    total = summary.selected - counts.recovered
    with ProgressBar("apply", total, mode=progress, stream=err) as bar:
        async with aclosing(
            leaf.bulk(operations, concurrency=concurrency, rate=rate)
        ) as outcomes:
            async for outcome in outcomes:
                line = lines.pop(outcome.index)
                absent = (
                    resume and _already_deleted(outcome) and previous.delete_may_have_landed(line)
                )
                if absent:
                    outcome = attrs.evolve(outcome, error=None)
                bar.advance(failed=outcome.error is not None)
                data = outcome_json(outcome, converter, show_secrets=show_secrets, line=line)
                error = outcome.error
                if absent:
                    data["result"]["alreadyAbsent"] = True
                    counts.absent += 1
                if error is None:
                    counts.ok += 1
                else:
                    counts.failed += 1
                    counts.errors[error_kind(error)] += 1
                    if isinstance(outcome.operation, Create):
                        data["error"]["maybeApplied"] = maybe_applied(error) or (
                            # The check could not tell, and a credential is there.
                            line in untold and isinstance(error, ConflictError)
                        )
                    elif isinstance(outcome.operation, Replace):
                        # A replace that failed in its delete never sent its create.
                        data["error"]["maybeApplied"] = (
                            maybe_applied(error) and getattr(error, "method", None) != "DELETE"
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


# The operations whose request may leave something applied that a resume
# should find rather than repeat (or, for a delete, take its 404 as done).
_ANNOUNCED: tuple[type[Operation], ...] = (Create, Replace, Delete)


def _announced(
    operations: Iterator[Operation], lines: dict[int, int], writer: JsonLines
) -> Iterator[Operation]:
    """Write a ``"started"`` line for each create, replace and delete as bulk pulls it.

    ``LeafSession.bulk`` pulls an operation only when a slot frees and sends
    it at once, so a resume need check only the creates and replaces started
    with no outcome after: at most about ``--concurrency`` of them.
    """
    for index, operation in enumerate(operations):
        if type(operation) in _ANNOUNCED:
            writer.write(
                {
                    "line": lines[index],
                    "op": OP_NAMES[type(operation)],
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
    """GET each create or replace that may have landed; record the ones applied as done.

    Lines whose GET could not tell (neither the credential nor a 404) are
    put in ``untold``: sent again, a 409 on them may be the earlier run's.

    Returns:
        How many were found applied.
    """
    lines: dict[int, int] = {}
    bodies: dict[int, Any] = {}
    ops: dict[int, str] = {}
    checks = plan_operations(
        path, registry, converter, shard=shard, skip=LineSet(), lines=lines,
        only=("create", "replace"), bodies=bodies, select=previous.may_have_landed, ops=ops,
    )  # fmt: skip
    found: dict[str, int] = {}
    with ProgressBar("resume check", total, mode=progress, stream=err) as bar:
        async with aclosing(
            leaf.bulk(checks, concurrency=concurrency, rate=rate)
        ) as outcomes:
            async for outcome in outcomes:
                # A 404 is an answer here (the create never landed), not a failure.
                bar.advance(
                    failed=outcome.error is not None
                    and not isinstance(outcome.error, NotFoundError)
                )
                line = lines.pop(outcome.index)
                body = bodies.pop(outcome.index)
                op = ops.pop(outcome.index)
                if outcome.error is not None:
                    if not isinstance(outcome.error, NotFoundError):
                        untold.add(line)
                    continue  # not there (404) or unknown: the run pass sends it
                # A replace's old credential often shares every value the GET
                # shows (Sentera's GET has no password): only a record showing
                # every planned value proves the new one is there. Else the
                # replace runs again, which costs a DELETE and a POST, not a
                # rotation silently skipped.
                if not _stored_as_planned(
                    outcome, body, registry, converter, every_key=op == "replace"
                ):
                    continue  # someone else's (or the old) credential: the run pass sends it
                done.add(line)
                found[op] = found.get(op, 0) + 1
                data = outcome_json(outcome, converter, show_secrets=show_secrets, line=line)
                data["op"] = op
                writer.write(data)
    for op, count in found.items():
        err.write(
            f"resume: {count} {op}(s) of the interrupted run had been applied; "
            "recorded as ok, not sent again\n"
        )
    return sum(found.values())


def _stored_as_planned(
    outcome: Outcome,
    body: Any,
    registry: Registry,
    converter: cattrs.Converter,
    *,
    every_key: bool = False,
) -> bool:
    """Tell whether the stored credential holds the values the plan line sends.

    A value the record does not show (a password Leaf does not return) is
    passed over, unless ``every_key``: then it fails the check.
    """
    resource = registry.get(str(outcome.operation.provider))
    planned = converter.unstructure(
        resource.credentials_from_wire(body, converter=converter), resource.schema
    )
    stored = converter.unstructure(outcome.value)
    return all(
        stored[key] == value if key in stored else not every_key
        for key, value in planned.items()
    )
