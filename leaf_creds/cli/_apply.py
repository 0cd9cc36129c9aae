"""``leaf-creds apply``: run a checked plan through ``LeafSession.bulk``, streamed."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any, TextIO

import attrs
import cattrs

from .._bulk import Delete, Outcome
from .._exceptions import NotFoundError
from .._registry import Registry
from .._session import LeafSession
from ._output import JsonLines, outcome_json
from ._plan import LineSet, PlanSummary, Shard, plan_operations
from ._progress import ProgressBar, ProgressMode

__all__ = ["ApplyCounts", "apply_plan"]


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
    recorded: LineSet,
    writer: JsonLines,
    err: TextIO,
    concurrency: int,
    rate: float | None,
    show_secrets: bool,
    resume: bool,
    progress: ProgressMode,
) -> ApplyCounts:
    """Run the selected lines of a plan that passed :func:`check_plan`.

    Each outcome is written (and flushed) as it completes, with its line.

    With ``resume``, lines recorded as done are skipped, and the
    interrupted run's operations that may have landed without their outcome
    being written are settled first, so nothing is applied twice:

    - each create with no recorded outcome (the interrupted run may have
      sent it) is first checked with a GET; a credential that is there with
      the plan's values is taken as that run's work (Leaf keeps one
      credential per provider and user, the rule the SDK also uses when a
      create's outcome is unknown), and recorded ok without a second POST.
      A create recorded as failed, or a stored credential with other
      values, is sent again for Leaf's own answer (a 409, say);
    - a delete whose credential is already gone (404) is ok.

    Raises:
        PlanError: The plan file changed between the check and the run.
    """
    counts = ApplyCounts()
    if resume and summary.by_op.get("create"):
        counts.recovered = await _settle_creates(
            leaf, path, registry, converter, shard, done, recorded, writer, err,
            concurrency, rate, show_secrets, progress, summary.by_op["create"],
        )  # fmt: skip
        counts.ok += counts.recovered
    lines: dict[int, int] = {}
    operations = plan_operations(
        path, registry, converter, shard=shard, skip=done, lines=lines
    )
    total = summary.selected - counts.recovered
    with ProgressBar("apply", total, mode=progress, stream=err) as bar:
        async with aclosing(
            leaf.bulk(operations, concurrency=concurrency, rate=rate, on_progress=bar.update)
        ) as outcomes:
            async for outcome in outcomes:
                if resume and _already_deleted(outcome):
                    outcome = attrs.evolve(outcome, error=None)
                writer.write(
                    outcome_json(
                        outcome, converter, show_secrets=show_secrets, line=lines.pop(outcome.index)
                    )
                )
                if outcome.error is None:
                    counts.ok += 1
                else:
                    counts.failed += 1
    return counts


def _already_deleted(outcome: Outcome) -> bool:
    return isinstance(outcome.operation, Delete) and isinstance(outcome.error, NotFoundError)


async def _settle_creates(
    leaf: LeafSession,
    path: str,
    registry: Registry,
    converter: cattrs.Converter,
    shard: Shard | None,
    done: LineSet,
    recorded: LineSet,
    writer: JsonLines,
    err: TextIO,
    concurrency: int,
    rate: float | None,
    show_secrets: bool,
    progress: ProgressMode,
    total: int,
) -> int:
    """GET each create with no outcome; record the ones already applied as done.

    Returns:
        How many were found applied.
    """
    lines: dict[int, int] = {}
    bodies: dict[int, Any] = {}
    checks = plan_operations(
        path, registry, converter, shard=shard, skip=recorded, lines=lines, only="create",
        bodies=bodies,
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
                    continue  # not there (404) or unknown: the run pass creates it
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
