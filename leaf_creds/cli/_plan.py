"""Plan files for ``apply``: parsing, the validation pass and shards.

A plan is JSON lines; each line is one operation::

    {"op": "create", "provider": "sentera", "leafUserId": "...", "credentials": {...}}

The plan is read twice and never held in memory: a first pass checks every
line (and counts), a second pass feeds the operations to ``LeafSession.bulk``
as it asks for them. What is kept between passes is small: counts, and the
set of lines a ``--resume`` file says are done (``_resume``), as a bitmap.

``--shard K/N`` keeps the lines whose user id falls in shard K (0-based,
``0 <= K < N``): the first 8 bytes of the SHA-256 of the UTF-8 user id, read
as a big-endian unsigned integer, modulo N. The hash is stable across
machines, Python versions and runs, and every line of one user lands in the
same shard, so N workers split one plan with no overlap.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, Final

import attrs
import cattrs

from .. import Create, Delete, Events, Get, LeafError, Operation, Registry, Replace
from .._resource import user_path
from ._common import UsageError

__all__ = [
    "KEYS",
    "OPS",
    "WITH_CREDENTIALS",
    "LineSet",
    "PlanError",
    "PlanSummary",
    "Shard",
    "check_plan",
    "count_lines",
    "parse_entry",
    "plan_lines",
    "plan_operations",
    "shard_of",
]

OPS: Final[Mapping[str, type[Operation]]] = {
    "create": Create,
    "replace": Replace,
    "delete": Delete,
    "get": Get,
    "events": Events,
}
WITH_CREDENTIALS: Final = frozenset({"create", "replace"})
KEYS: Final = frozenset({"op", "provider", "leafUserId", "credentials"})


class PlanError(UsageError):
    """A plan line, or a plan file, that cannot be used; the message names no secret."""


@attrs.frozen
class Shard:
    """Shard ``index`` (0-based) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """Read ``K/N``.

        Raises:
            PlanError: It is not two integers with ``0 <= K < N``.
        """
        index, slash, count = text.partition("/")
        try:
            shard = cls(int(index), int(count))
        except ValueError:
            raise PlanError(f"--shard must be K/N, got {text!r}") from None
        if not slash or shard.count < 1 or not 0 <= shard.index < shard.count:
            raise PlanError(
                f"--shard K/N needs N >= 1 and 0 <= K < N (K is 0-based), got {text!r}"
            )
        return shard

    def keeps(self, user_id: str) -> bool:
        """Tell whether a line of this user belongs to this shard."""
        return self.count == 1 or shard_of(user_id, self.count) == self.index


def shard_of(user_id: str, count: int) -> int:
    """Return the 0-based shard of a user id among ``count`` shards (stable)."""
    digest = hashlib.sha256(user_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


class LineSet:
    """A set of line numbers as a bitmap: 1,000,000 lines take 125 kB."""

    __slots__ = ("_bits",)

    def __init__(self) -> None:
        self._bits = bytearray()

    def add(self, number: int) -> None:
        byte, bit = divmod(number, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(byte + 1 - len(self._bits)))
        self._bits[byte] |= 1 << bit

    def discard(self, number: int) -> None:
        byte, bit = divmod(number, 8)
        if byte < len(self._bits):
            self._bits[byte] &= ~(1 << bit)

    def __contains__(self, number: int) -> bool:
        byte, bit = divmod(number, 8)
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << bit))

    def __iter__(self) -> Iterator[int]:
        for byte, bits in enumerate(self._bits):
            if bits:
                yield from (byte * 8 + bit for bit in range(8) if bits & (1 << bit))


def plan_lines(path: str) -> Iterator[tuple[int, str]]:
    """Yield ``(line number from 1, text)`` of a plan's non-blank lines, streamed.

    Raises:
        PlanError: The file cannot be read.
    """
    try:
        with open(path, encoding="utf-8") as plan:
            for number, text in enumerate(plan, 1):
                if text.strip():
                    yield number, text
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"cannot read the plan {path}: {exc}") from None


def parse_entry(
    text: str, registry: Registry, converter: cattrs.Converter, *, check: bool
) -> dict[str, Any]:
    """Parse one plan line; with ``check``, verify it fully (provider, id, credentials).

    Raises:
        PlanError: The line is not a valid operation; every problem is named.
    """
    # Without its line break: a line cut short would otherwise be reported at
    # column 1 of the "next line" json.loads sees after it.
    text = text.rstrip("\r\n")
    try:
        entry = json.loads(text)
    except json.JSONDecodeError as exc:
        # The position only: the text may hold a secret.
        where = f"column {exc.colno}"
        if exc.pos >= len(text.rstrip()):
            where += ", the end of the line: is it cut short?"
        # Some of json's messages already end in "at" ("Unterminated string starting at").
        raise PlanError(f"not JSON ({exc.msg.removesuffix(' at')} at {where})") from None
    except RecursionError:  # arrays or objects nested past Python's recursion limit
        raise PlanError("JSON nested too deeply to read") from None
    if not isinstance(entry, dict):
        raise PlanError(f"expected a JSON object, got {type(entry).__name__}")
    if not check:
        return entry
    problems = [f"unknown key {key!r}" for key in entry if key not in KEYS]
    raw_op = entry.get("op")
    # `in OPS` on a list or an object would raise (unhashable), not report.
    op = raw_op if isinstance(raw_op, str) and raw_op in OPS else None
    if op is None:
        problems.append(f"op must be one of {', '.join(OPS)}, got {_short(raw_op)}")
    user_id = entry.get("leafUserId")
    try:
        user_path(user_id)
    except LeafError as exc:
        problems.append(f"leafUserId: {exc}")
    slug = entry.get("provider")
    resource = registry.get(slug) if isinstance(slug, str) and slug in registry else None
    if resource is None:
        problems.append(f"unknown provider {_short(slug)}")
    if op in WITH_CREDENTIALS:
        credentials = entry.get("credentials")
        if credentials is None:
            problems.append(f"{op} needs credentials")
        elif resource is not None:
            try:
                resource.credentials_from_wire(credentials, converter=converter)
            except LeafError as exc:
                problems.append(str(exc))
    elif "credentials" in entry and op is not None:
        problems.append(f"{op} takes no credentials")
    if problems:
        raise PlanError("; ".join(problems))
    return entry


def _short(value: object) -> str:
    # Enough to recognise a typo, never a whole (possibly secret) value.
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


@attrs.define
class PlanSummary:
    """What the validation pass found."""

    lines: int = 0
    bad: int = 0
    selected: int = 0
    done: int = 0
    other_shards: int = 0
    by_op: dict[str, int] = attrs.Factory(dict)


def check_plan(
    path: str,
    registry: Registry,
    converter: cattrs.Converter,
    *,
    shard: Shard | None,
    done: LineSet,
    report: Any,
) -> PlanSummary:
    """Check every line of a plan (the first pass), reporting each bad one as it is found.

    Args:
        report: Called with ``(line number, message)`` for each bad line.

    Raises:
        PlanError: The file cannot be read.
    """
    summary = PlanSummary()
    for number, text in plan_lines(path):
        summary.lines += 1
        try:
            entry = parse_entry(text, registry, converter, check=True)
        except PlanError as exc:
            summary.bad += 1
            report(number, str(exc))
            continue
        if number in done:
            summary.done += 1
        elif shard is not None and not shard.keeps(entry["leafUserId"]):
            summary.other_shards += 1
        else:
            summary.selected += 1
            op = entry["op"]
            summary.by_op[op] = summary.by_op.get(op, 0) + 1
    return summary


def plan_operations(
    path: str,
    registry: Registry,
    converter: cattrs.Converter,
    *,
    shard: Shard | None,
    skip: LineSet,
    lines: dict[int, int],
    only: str | Collection[str] | None = None,
    bodies: dict[int, Any] | None = None,
    select: Callable[[int, str | None], bool] | None = None,
    ops: dict[int, str] | None = None,
) -> Iterator[Operation]:
    """Yield the operations of a checked plan (the second pass), streamed.

    Each operation's line number is put in ``lines`` under the index that
    ``LeafSession.bulk`` will give it; the caller pops it from there.

    Args:
        skip: Line numbers to leave out (already done).
        only: Keep only this op (or these ops), and yield each line as a
            :class:`Get` (the ``--resume`` check of creates and replaces).
        bodies: With ``only``, filled like ``lines`` with each line's
            credentials, so the check can compare them with what is stored.
        select: Keep only the lines it is true for: asked ``(number,
            None)`` before the line is read (so most lines need not be),
            and with ``only`` again ``(number, op)`` once its op is known.
        ops: With ``only``, filled like ``lines`` with each line's op.

    Raises:
        PlanError: A line no longer parses (the file changed since the check).
    """
    index = 0
    kept = (only,) if isinstance(only, str) else only
    for number, text in plan_lines(path):
        if number in skip or (select is not None and not select(number, None)):
            continue
        try:
            entry = parse_entry(text, registry, converter, check=False)
            op, slug, user_id = entry["op"], entry["provider"], entry["leafUserId"]
        except (PlanError, KeyError):
            raise PlanError(f"{path}:{number}: the plan changed while it ran") from None
        if shard is not None and not shard.keeps(user_id):
            continue
        if kept is not None:
            if op not in kept or (select is not None and not select(number, op)):
                continue
            operation: Operation = Get(slug, user_id)
            if bodies is not None:
                bodies[index] = entry.get("credentials")
            if ops is not None:
                ops[index] = op
        elif op in WITH_CREDENTIALS:
            operation = OPS[op](slug, user_id, entry.get("credentials"))  # type: ignore[call-arg]
        else:
            operation = OPS[op](slug, user_id)
        lines[index] = number
        index += 1
        yield operation


def count_lines(path: str) -> int:
    """Return how many lines a file has (streamed).

    Raises:
        PlanError: The file cannot be read.
    """
    try:
        with open(path, "rb") as file:
            return sum(1 for _ in file)
    except OSError as exc:
        raise PlanError(f"cannot read the plan {path}: {exc}") from None
