"""The operator's report: where the fleet's credentials and their repairs stand, from the store.

:func:`build_report` reads a :class:`~leaf_creds.repair.CaseStore` with
aggregate queries only (the database counts; this process holds a few
numbers and at most ``limit`` cases), so its time and memory do not grow
with the fleet. :func:`render_html` makes one self-contained page: its CSS
inline, its charts plain HTML, no script, and a Content-Security-Policy of
``default-src 'none'``, so that opening it requests nothing from anywhere.
:func:`report_json` is the same, as data.

Nothing secret is in either: no link, link id, token or credential; a
credential id shows its last four characters; a delivery error was masked
when it was recorded.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import attrs

from ._store import CaseStore, moment, transition_from_row

__all__ = [
    "AGE_BUCKETS",
    "REPAIR_BUCKETS",
    "BrokenCase",
    "Report",
    "build_report",
    "duration_text",
    "render_html",
    "report_json",
]

HOUR: Final = 3600.0
DAY: Final = 86400.0
# (label, upper bound in seconds) of the open cases' ages and of the repairs' times.
AGE_BUCKETS: Final = (("< 1 h", HOUR), ("1-24 h", DAY), ("1-7 d", 7 * DAY), ("> 7 d", None))
REPAIR_BUCKETS: Final = (
    ("< 1 h", HOUR), ("1-6 h", 6 * HOUR), ("6-24 h", DAY), ("1-3 d", 3 * DAY), ("> 3 d", None),
)  # fmt: skip
# A delivery still "sending" this long after it began: its watcher died mid-hook.
_UNKNOWN_AFTER: Final = 600.0
_LAST_EVENTS: Final = 3


def _masked_id(value: str | None) -> str:
    return "" if not value else "…" + value[-4:]


@attrs.frozen(kw_only=True)
class BrokenCase:
    """An open case, as the report lists it (the oldest first).

    Attributes:
        user_id: The Leaf user.
        provider: The provider slug.
        cause: Why it is open.
        status: The status last read, if any.
        credential: The credential id's last four characters.
        opened_at: When this episode opened.
        sends: Links and reminders sent.
        muted: Whether it is muted.
        events: Its last transitions, newest first: (when, what, a short detail).
    """

    user_id: str
    provider: str
    cause: str
    status: str | None
    credential: str
    opened_at: datetime
    sends: int
    muted: bool
    events: tuple[tuple[datetime, str, str], ...] = ()


@attrs.frozen(kw_only=True)
class Report:
    """The fleet's credentials and repairs, counted.

    Attributes:
        generated_at: When the report was made.
        store: The store it was read from (never a password).
        credentials: provider -> status -> how many credentials (as last read).
        open_by_age: cause -> one count per :data:`AGE_BUCKETS` entry.
        repairs: How many episodes resolved.
        repair_p50: The median time to repair, in seconds (None: none yet).
        repair_p90: The 90th percentile.
        repair_buckets: One count per :data:`REPAIR_BUCKETS` entry.
        cases: Cases in all; open; resolved; muted.
        invited: Cases whose grower was sent a link (this episode).
        link_used: Of those, cases whose link was opened.
        connected: Of those, cases resolved.
        reminders: Reminders sent (this episode of each case).
        unknown_deliveries: Deliveries begun by a watcher that died mid-hook.
        broken: The oldest open cases, at most ``limit``.
    """

    generated_at: datetime
    store: str
    credentials: Mapping[str, Mapping[str, int]]
    open_by_age: Mapping[str, tuple[int, ...]]
    repairs: int
    repair_p50: float | None
    repair_p90: float | None
    repair_buckets: tuple[int, ...]
    cases: int
    open: int
    resolved: int
    muted: int
    invited: int
    link_used: int
    connected: int
    reminders: int
    unknown_deliveries: int
    broken: tuple[BrokenCase, ...]


def _buckets_sql(column: str, bounds: Sequence[tuple[str, float | None]]) -> tuple[str, int]:
    """Return SUM(CASE ...) columns b0..bn counting ``column`` into the bounds (one ? each)."""
    parts = []
    lower: float | None = None
    for index, (_, upper) in enumerate(bounds):
        test = []
        if lower is not None:
            test.append(f"{column} >= {lower!r}")
        if upper is not None:
            test.append(f"{column} < {upper!r}")
        when = " AND ".join(test) or "1 = 1"
        parts.append(f"SUM(CASE WHEN {when} THEN 1 ELSE 0 END) AS b{index}")
        lower = upper
    return ", ".join(parts), len(bounds)


async def _percentile(store: CaseStore, count: int, share: float) -> float | None:
    if not count:
        return None
    offset = max(0, math.ceil(share * count) - 1)  # the nearest-rank percentile
    rows = await store.fetch(
        "SELECT duration FROM repair_transitions WHERE kind = 'resolved' "
        "ORDER BY duration LIMIT 1 OFFSET ?",
        offset,
    )
    value = rows[0]["duration"] if rows else None
    return None if value is None else float(value)


async def build_report(store: CaseStore, *, now: datetime, limit: int = 100) -> Report:
    """Count the fleet's credentials and repairs in the store; list the ``limit`` oldest open cases.

    Raises:
        StoreError: The store failed.
    """
    at = now.timestamp()
    credentials: dict[str, dict[str, int]] = {}
    for row in await store.fetch(
        "SELECT provider, status, COUNT(*) AS n FROM repair_credentials "
        "GROUP BY provider, status ORDER BY provider, status"
    ):
        credentials.setdefault(row["provider"], {})[row["status"]] = int(row["n"])

    ages, width = _buckets_sql("(? - opened_at)", AGE_BUCKETS)
    open_by_age: dict[str, tuple[int, ...]] = {}
    for row in await store.fetch(
        f"SELECT cause, {ages} FROM repair_cases "  # noqa: S608 - built from constants only
        "WHERE state = 'open' GROUP BY cause ORDER BY cause",
        *([at] * ages.count("?")),
    ):
        open_by_age[row["cause"]] = tuple(int(row[f"b{i}"] or 0) for i in range(width))

    durations, count = _buckets_sql("duration", REPAIR_BUCKETS)
    [row] = await store.fetch(
        f"SELECT COUNT(*) AS n, {durations} FROM repair_transitions WHERE kind = 'resolved'"  # noqa: S608
    )
    repairs = int(row["n"])
    repair_buckets = tuple(int(row[f"b{i}"] or 0) for i in range(count))

    [totals] = await store.fetch(
        "SELECT COUNT(*) AS cases, "
        "SUM(CASE WHEN state = 'open' THEN 1 ELSE 0 END) AS open, "
        "SUM(CASE WHEN muted = 1 THEN 1 ELSE 0 END) AS muted, "
        "SUM(CASE WHEN sends > 0 THEN 1 ELSE 0 END) AS invited, "
        "SUM(CASE WHEN sends > 0 AND link_usage_count > 0 THEN 1 ELSE 0 END) AS used, "
        "SUM(CASE WHEN sends > 0 AND state = 'resolved' THEN 1 ELSE 0 END) AS connected, "
        "SUM(CASE WHEN sends > 1 THEN sends - 1 ELSE 0 END) AS reminders "
        "FROM repair_cases"
    )
    [unknown] = await store.fetch(
        "SELECT COUNT(*) AS n FROM repair_deliveries WHERE state = 'sending' AND started_at < ?",
        at - _UNKNOWN_AFTER,
    )

    rows = await store.fetch(
        "SELECT c.*, r.status AS seen_status FROM repair_cases c LEFT JOIN repair_credentials r "
        "ON r.user_id = c.user_id AND r.provider = c.provider WHERE c.state = 'open' "
        "ORDER BY c.opened_at, c.id LIMIT ?",
        limit,
    )
    events: dict[str, list[tuple[datetime, str, str]]] = {row["id"]: [] for row in rows}
    if rows:
        marks = ", ".join("?" * len(rows))
        for found in await store.fetch(
            f"SELECT * FROM repair_transitions WHERE case_id IN ({marks}) ORDER BY id DESC",  # noqa: S608
            *events,
        ):
            listed = events[found["case_id"]]
            if len(listed) < _LAST_EVENTS:
                transition = transition_from_row(found)
                listed.append((transition.at, str(transition.kind), _detail(transition.detail)))
    broken = tuple(
        BrokenCase(
            user_id=row["user_id"], provider=row["provider"], cause=row["cause"],
            status=row["last_status"] or row["seen_status"],
            credential=_masked_id(row["credential_id"]),
            opened_at=moment(row["opened_at"]) or now, sends=int(row["sends"]),
            muted=bool(row["muted"]), events=tuple(events[row["id"]]),
        )
        for row in rows
    )
    return Report(
        generated_at=now, store=repr(store), credentials=credentials, open_by_age=open_by_age,
        repairs=repairs, repair_p50=await _percentile(store, repairs, 0.5),
        repair_p90=await _percentile(store, repairs, 0.9), repair_buckets=repair_buckets,
        cases=int(totals["cases"]), open=int(totals["open"] or 0),
        resolved=int(totals["cases"]) - int(totals["open"] or 0), muted=int(totals["muted"] or 0),
        invited=int(totals["invited"] or 0), link_used=int(totals["used"] or 0),
        connected=int(totals["connected"] or 0), reminders=int(totals["reminders"] or 0),
        unknown_deliveries=int(unknown["n"]), broken=broken,
    )  # fmt: skip


def _detail(detail: Mapping[str, Any]) -> str:
    # The facts worth a glance; an error was masked when it was recorded.
    shown = [
        f"{key} {detail[key]}" for key in ("status", "reminder", "reason", "error") if key in detail
    ]
    return "; ".join(shown)[:160]


# -- JSON ------------------------------------------------------------------------


def duration_text(seconds: float | None) -> str:
    """Return a duration as a person says it: ``"45 s"``, ``"12 min"``, ``"3.5 h"``, ``"2.1 d"``."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < HOUR:
        return f"{seconds / 60:.0f} min"
    if seconds < DAY:
        return f"{seconds / HOUR:.1f} h"
    return f"{seconds / DAY:.1f} d"


def report_json(report: Report) -> dict[str, Any]:
    """Return the report as JSON data (``leaf-creds report --json``)."""
    return {
        "generatedAt": report.generated_at.isoformat(),
        "store": report.store,
        "credentials": {provider: dict(counts) for provider, counts in report.credentials.items()},
        "openCasesByAge": {
            "buckets": [label for label, _ in AGE_BUCKETS],
            "byCause": {cause: list(counts) for cause, counts in report.open_by_age.items()},
        },
        "timeToRepair": {
            "repairs": report.repairs, "p50Seconds": report.repair_p50,
            "p90Seconds": report.repair_p90, "buckets": [label for label, _ in REPAIR_BUCKETS],
            "counts": list(report.repair_buckets),
        },
        "cases": {
            "all": report.cases, "open": report.open, "resolved": report.resolved,
            "muted": report.muted, "reminders": report.reminders,
            "unknownDeliveries": report.unknown_deliveries,
        },
        "funnel": {
            "invited": report.invited, "linkUsed": report.link_used,
            "connected": report.connected,
        },
        "broken": [
            {
                "leafUserId": case.user_id, "provider": case.provider, "cause": case.cause,
                "status": case.status, "credential": case.credential,
                "openedAt": case.opened_at.isoformat(), "sends": case.sends, "muted": case.muted,
                "events": [
                    {"at": at.isoformat(), "event": kind, "detail": detail}
                    for at, kind, detail in case.events
                ],
            }
            for case in report.broken
        ],
    }


# -- HTML ------------------------------------------------------------------------

_COLOURS: Final = {
    "OK": "#2e7d32", "UNAUTHENTICATED": "#c62828", "MISSING_PERMISSION": "#ef6c00",
    "MISSING": "#757575", "TEMPORARILY_UNAVAILABLE": "#1565c0",
}  # fmt: skip
_OTHER: Final = "#6a1b9a"
_CSS: Final = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2329;
background:#f4f6f8}
header{background:#1b3a2b;color:#fff;padding:20px 32px}
header h1{margin:0;font-size:22px}header p{margin:4px 0 0;opacity:.8;font-size:13px}
main{padding:16px 32px 40px;max-width:1200px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:16px 20px;
margin:16px 0}
h2{font-size:17px;margin:0 0 12px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{flex:1 1 150px;background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.12);
padding:14px 16px}
.card b{display:block;font-size:28px}.card span{color:#56616b;font-size:13px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;
border-bottom:1px solid #e3e7eb;vertical-align:top}th{font-size:12px;color:#56616b;
text-transform:uppercase;letter-spacing:.04em}
td.n{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:flex;height:18px;border-radius:4px;overflow:hidden;background:#e3e7eb;min-width:200px}
.bar i{display:block;height:100%}
.legend span{display:inline-block;margin-right:14px;font-size:13px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
.hbar{background:#2e7d32;height:16px;border-radius:3px}th.n{text-align:right}
.muted{color:#56616b}.tag{font-size:12px;padding:1px 6px;border-radius:9px;color:#fff}
ul.events{margin:0;padding-left:16px;font-size:13px}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _colour(status: str) -> str:
    return _COLOURS.get(status, _OTHER)


def _card(ident: str, value: object, label: str) -> str:
    return f'<div class="card" id="{ident}"><b>{_e(value)}</b><span>{_e(label)}</span></div>'


def _credentials_section(report: Report) -> str:
    statuses = sorted({s for counts in report.credentials.values() for s in counts})
    legend = "".join(
        f'<span><i style="background:{_colour(s)}"></i>{_e(s)}</span>' for s in statuses
    )
    rows = []
    for provider, counts in report.credentials.items():
        total = sum(counts.values()) or 1
        segments = "".join(
            f'<i style="width:{100 * counts[s] / total:.2f}%;background:{_colour(s)}" '
            f'title="{_e(s)}: {counts[s]}"></i>'
            for s in statuses
            if counts.get(s)
        )
        cells = "".join(f'<td class="n">{counts.get(s, 0)}</td>' for s in statuses)
        rows.append(
            f'<tr data-provider="{_e(provider)}"><td>{_e(provider)}</td>'
            f'<td><div class="bar">{segments}</div></td>{cells}'
            f'<td class="n">{sum(counts.values())}</td></tr>'
        )
    heads = "".join(f'<th class="n">{_e(s)}</th>' for s in statuses)
    body = "".join(rows) or '<tr><td colspan="3" class="muted">No audit yet.</td></tr>'
    return (
        '<section id="credentials"><h2>Credentials by provider and status</h2>'
        f'<p class="legend">{legend}</p><table><tr><th>Provider</th><th></th>{heads}'
        f'<th class="n">All</th></tr>{body}</table></section>'
    )


def _bars(labels: Sequence[str], counts: Sequence[int], ident: str) -> str:
    top = max(counts, default=0) or 1
    rows = "".join(
        f'<tr data-bucket="{_e(label)}"><td>{_e(label)}</td><td style="width:70%">'
        f'<div class="hbar" style="width:{100 * count / top:.1f}%"></div></td>'
        f'<td class="n">{count}</td></tr>'
        for label, count in zip(labels, counts, strict=True)
    )
    return f'<table id="{ident}">{rows}</table>'


def _open_section(report: Report) -> str:
    labels = [label for label, _ in AGE_BUCKETS]
    totals = [sum(counts[i] for counts in report.open_by_age.values()) for i in range(len(labels))]
    heads = "".join(f'<th class="n">{_e(label)}</th>' for label in labels)
    rows = "".join(
        f'<tr data-cause="{_e(cause)}"><td>{_e(cause)}</td>'
        + "".join(f'<td class="n">{count}</td>' for count in counts)
        + "</tr>"
        for cause, counts in report.open_by_age.items()
    )
    return (
        '<section id="open-cases"><h2>Open cases by age</h2>'
        + _bars(labels, totals, "open-ages")
        + f"<table><tr><th>Cause</th>{heads}</tr>{rows}</table></section>"
    )


def _repair_section(report: Report) -> str:
    labels = [label for label, _ in REPAIR_BUCKETS]
    return (
        '<section id="time-to-repair"><h2>Time to repair</h2>'
        f'<p><b id="repair-count">{report.repairs}</b> repaired; median '
        f'<b id="repair-p50">{_e(duration_text(report.repair_p50))}</b>, 90% within '
        f'<b id="repair-p90">{_e(duration_text(report.repair_p90))}</b></p>'
        + _bars(labels, list(report.repair_buckets), "repair-times")
        + "</section>"
    )


def _funnel_section(report: Report) -> str:
    steps = (("Invited", report.invited), ("Link used", report.link_used),
             ("Connected", report.connected))  # fmt: skip
    top = steps[0][1] or 1
    rows = "".join(
        f'<tr data-step="{_e(name)}"><td>{_e(name)}</td><td style="width:70%">'
        f'<div class="hbar" style="width:{100 * count / top:.1f}%;background:#1565c0"></div></td>'
        f'<td class="n">{count}</td><td class="n muted">{100 * count / top:.0f}%</td></tr>'
        for name, count in steps
    )
    return (
        '<section id="funnel"><h2>Invite funnel</h2>'
        f"<table>{rows}</table><p class=\"muted\">{report.reminders} reminders sent; "
        f"{report.unknown_deliveries} deliveries of unknown outcome (a watcher died "
        "mid-delivery; not sent again).</p></section>"
    )


def _broken_section(report: Report) -> str:
    rows = []
    for case in report.broken:
        age = duration_text((report.generated_at - case.opened_at).total_seconds())
        events = "".join(
            f"<li>{_e(at.strftime('%Y-%m-%d %H:%M'))} <b>{_e(kind)}</b> {_e(detail)}</li>"
            for at, kind, detail in case.events
        )
        muted = ' <span class="tag" style="background:#757575">muted</span>' if case.muted else ""
        status = case.status or "—"
        rows.append(
            f'<tr data-user="{_e(case.user_id)}"><td>{_e(case.user_id)}</td>'
            f"<td>{_e(case.provider)}</td><td>{_e(case.cause)}{muted}</td>"
            f'<td><span class="tag" style="background:{_colour(status)}">{_e(status)}</span></td>'
            f"<td>{_e(case.credential)}</td><td>{_e(age)}</td><td class=\"n\">{case.sends}</td>"
            f'<td><ul class="events">{events}</ul></td></tr>'
        )
    body = "".join(rows) or '<tr><td colspan="8" class="muted">Nothing is broken.</td></tr>'
    return (
        '<section id="broken"><h2>Broken credentials, oldest first</h2><table><tr>'
        "<th>Leaf user</th><th>Provider</th><th>Cause</th><th>Status</th><th>Credential</th>"
        f"<th>Open for</th><th>Links sent</th><th>Last events</th></tr>{body}</table></section>"
    )


def render_html(report: Report) -> str:
    """Return the report as one self-contained HTML page (nothing loads from anywhere)."""
    broken = sum(
        count for counts in report.credentials.values()
        for status, count in counts.items() if status != "OK"
    )  # fmt: skip
    known = sum(sum(counts.values()) for counts in report.credentials.values())
    cards = "".join((
        _card("card-credentials", known, "credentials known"),
        _card("card-broken", broken, "not OK"),
        _card("card-open", report.open, "open cases"),
        _card("card-resolved", report.resolved, "resolved cases"),
        _card("card-p50", duration_text(report.repair_p50), "median time to repair"),
    ))  # fmt: skip
    when = report.generated_at.strftime("%Y-%m-%d %H:%M:%S %Z")
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Credential repairs — {_e(when)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>Credential repairs</h1><p>{_e(when)} · {_e(report.store)}</p></header>"
        f'<main><div class="cards">{cards}</div>'
        + _credentials_section(report) + _open_section(report) + _repair_section(report)
        + _funnel_section(report) + _broken_section(report)
        + "</main></body></html>\n"
    )  # fmt: skip
