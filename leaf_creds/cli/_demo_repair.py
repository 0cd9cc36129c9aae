"""`leaf-creds demo`'s repair act: credentials break, links go out, growers reconnect, cases close.

The growers' John Deere credentials break in the fake; Leaf's alerts reach
a receiver of :class:`leaf_creds.repair.Repairs` on 127.0.0.1; each case's
link is handed to a hook standing in for the app's mailer; two growers in
three reconnect through their link on the fake's page; the status reads
``OK`` again, and after the quiet period the cases close (the others stay
open, their reminders scheduled). The repair clock is the demo's own and
jumps over the waits, so the act takes a second. The report is written to
``report.html``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

import attrs
from aiohttp import web

from .. import JOHN_DEERE, LeafSession
from ..repair import (
    CaseState,
    LinkDelivery,
    RepairPolicy,
    Repairs,
    SQLiteStore,
    build_report,
    render_html,
)

if TYPE_CHECKING:
    from leaf_creds.testing import FakeLeaf

__all__ = ["Repaired", "repair_act"]

_MOST: Final = 12  # credentials broken: enough to show, few enough to stay quick


@attrs.frozen
class Repaired:
    """What the repair act did."""

    broken: int
    cases: int
    links: int
    reconnected: int
    resolved: int


class _Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def repair_act(
    fake: FakeLeaf,
    leaf: LeafSession,
    *,
    rng: random.Random,
    directory: Path,
    say: Callable[[str], None],
) -> Repaired:
    """Break some John Deere credentials and let Repairs bring them back."""
    holders = sorted(u for u in fake.users if fake.credential(u, JOHN_DEERE) is not None)
    broken = rng.sample(holders, k=min(_MOST, len(holders)))
    handed: list[LinkDelivery] = []

    async def mailer(delivery: LinkDelivery) -> None:  # the app would email the link
        handed.append(delivery)

    clock = _Clock()
    policy = RepairPolicy(quiet_period=600)
    secret = f"{rng.getrandbits(128):032x}"
    async with SQLiteStore(directory / "cases.db") as store:
        repairs = Repairs(leaf, store=store, deliver=mailer, clock=clock, policy=policy)
        app = web.Application()
        app.router.add_post("/leaf/alerts", repairs.aiohttp_handler(secret))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/leaf/alerts"
            webhook = await leaf.register_webhook(name="demo repairs", url=url, secret=secret)
            for user_id in broken:
                fake.set_status(user_id, JOHN_DEERE, "UNAUTHENTICATED")
            await fake.alerts.drain()
            cases = await store.count()
            while await repairs.run_once():
                pass
            say(
                f"repair: {len(broken)} John Deere credentials broke; Leaf's alerts opened "
                f"{cases} cases and {len(handed)} links went out through the hook"
            )
            back = [d for d in handed if rng.random() < 2 / 3]
            for delivery in back:
                fake.onboarding.connect(delivery.url, "JohnDeere")
            for wait in (policy.first_check, policy.quiet_period):
                clock.advance(wait)
                while await repairs.run_once():
                    pass
            resolved = await store.count(state=CaseState.RESOLVED)
            # The audit `watch` runs every hour: the statuses for the report, and cases for
            # the other broken credentials no alert told of (the demo broke them earlier).
            audit = await repairs.audit()
            report = await build_report(store, now=clock())
            await leaf.delete_webhook(webhook.id)
        finally:
            await runner.cleanup()
    page = directory / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    say(
        f"repair: {len(back)} growers reconnected through their link; {resolved} cases resolved "
        f"after the quiet period, {cases - resolved} still open (reminders scheduled); the "
        f"audit found {audit.opened} more broken credentials no alert told of; report {page}"
    )
    return Repaired(
        broken=len(broken), cases=cases, links=len(handed), reconnected=len(back),
        resolved=resolved,
    )  # fmt: skip
