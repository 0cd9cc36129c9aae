"""Helpers of the repair tests: a clock, a recording hook, growers on the fake, a local app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from aiohttp import web

import leaf_creds as lc
from leaf_creds.repair import LinkDelivery
from leaf_creds.testing import FakeLeaf

SECRET = "repair-webhook-S3cret-1234"


class Clock:
    """A clock the test moves: real time at the start, then only by advance()."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += timedelta(seconds=seconds)


class Recorder:
    """A delivery hook that keeps every delivery, and fails while told to."""

    def __init__(self) -> None:
        self.deliveries: list[LinkDelivery] = []
        self.failing = 0

    async def __call__(self, delivery: LinkDelivery) -> None:
        if self.failing:
            self.failing -= 1
            raise RuntimeError(f"mail server down (tried {delivery.url})")
        self.deliveries.append(delivery)


def add_john_deere_app(fake: FakeLeaf) -> None:
    """Register the John Deere app keys a Magic Link page needs."""
    fake.onboarding.add_app_key(
        "JohnDeere", "LeafWidget", {"clientKey": "jd-app", "clientSecret": "jd-app-secret"},
        environment="PRODUCTION",
    )  # fmt: skip


async def connected_grower(fake: FakeLeaf, leaf: lc.LeafSession, user_id: str) -> str:
    """Add a user connected to John Deere through a link, as a grower would; return its id."""
    fake.add_user(id=user_id, name=f"Grower {user_id}")
    link = await leaf.magic_links.create(user_id, provider=lc.JOHN_DEERE)
    assert link.link is not None
    fake.onboarding.connect(link.link, "JohnDeere")
    return user_id


@asynccontextmanager
async def app_on_loopback(
    routes: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]],
) -> AsyncIterator[str]:
    """Serve POST routes in a real aiohttp app on 127.0.0.1; yield its base URL."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_post(path, handler)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
