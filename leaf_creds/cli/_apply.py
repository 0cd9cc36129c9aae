"""``leaf-creds apply``: run a checked plan through ``LeafSession.bulk``, streamed."""

from __future__ import annotations

from contextlib import aclosing
from typing import TextIO

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

    - each create not yet done is first checked with a GET; a credential
      that is there is taken as that run's work (Leaf keeps one credential
      per provider and user, the rule the SDK also uses when a create's
      outcome is unknown), and recorded ok without a second POST;
    - a delete whose credential is already gone (404) is ok.

    Raises:
        PlanError: The plan file changed between the check and the run.
    """
    counts = ApplyCounts()
    if resume and summary.by_op.get("create"):
        counts.recovered = await _settle_creates(
            leaf, path, registry, converter, shard, done, writer, err,
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
    writer: JsonLines,
    err: TextIO,
    concurrency: int,
    rate: float | None,
    show_secrets: bool,
    progress: ProgressMode,
    total: int,
) -> int:
    """GET each create not done; record the ones already there as done. Return how many."""
    lines: dict[int, int] = {}
    checks = plan_operations(
        path, registry, converter, shard=shard, skip=done, lines=lines, only="create"
    )
    found = 0
    with ProgressBar("resume check", total, mode=progress, stream=err) as bar:
        async with aclosing(
            leaf.bulk(checks, concurrency=concurrency, rate=rate, on_progress=bar.update)
        ) as outcomes:
            async for outcome in outcomes:
                line = lines.pop(outcome.index)
                if outcome.error is not None:
                    continue  # not there (404) or unknown: the run pass creates it
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
