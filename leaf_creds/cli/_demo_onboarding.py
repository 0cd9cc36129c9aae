"""The demo's onboarding act: app keys, Magic Links to growers without John Deere.

It registers the demo's John Deere app keys through ``leaf.app_keys``, runs
``invite --missing`` (the command's own code) so that every Leaf user
without a John Deere credential gets a Magic Link in a 0600 links file, and
lets a share of those growers open their link and sign in on the fake's
page, over plain HTTP with aiohttp, as a browser would (a few withhold
organization access, which leaves ``MISSING_PERMISSION``). The audit that
follows shows John Deere beside the other providers.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, TextIO

import aiohttp
import attrs

from .. import JOHN_DEERE, LeafSession, LinkSettings
from ._invite import invite
from ._invite_files import open_links
from ._output import JsonLines
from ._progress import ProgressMode

if TYPE_CHECKING:
    from leaf_creds.testing import FakeLeaf

__all__ = ["Onboarding", "onboarding_act"]

APP_NAME: Final = "LeafDemo"
LINK_PROVIDER: Final = "JohnDeere"
CONNECTING: Final = 0.4  # the share of invited growers who open their link and connect
WITHHOLDING: Final = 0.1  # of those, the share who do not grant organization access
_TIMEOUT: Final = aiohttp.ClientTimeout(total=30)


@attrs.frozen
class Onboarding:
    """How the onboarding act went.

    Attributes:
        connected_before: Users who had John Deere before the act.
        invited: Users who got a Magic Link.
        failed: Invitations or connections that went wrong.
        connected: Growers who connected through their link, permissions granted.
        limited: Growers who connected but withheld organization access.
        links: The links file.
    """

    connected_before: int
    invited: int
    failed: int
    connected: int
    limited: int
    links: Path


class _Links(JsonLines):
    """The links file's writer, remembering each link it wrote."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        self.links: list[str] = []

    def write(self, data: Any) -> None:
        super().write(data)
        if data.get("ok") and data.get("link"):
            self.links.append(data["link"])


class _Ids(HTMLParser):
    """The attributes of every element of a page that has an id."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.found: dict[str, dict[str, str]] = {}
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if values.get("id"):
            self.found[values["id"]] = values


async def _page(
    http: aiohttp.ClientSession, method: str, url: str, data: dict[str, str] | None = None
) -> _Ids:
    async with http.request(method, url, data=data, timeout=_TIMEOUT) as response:
        text = await response.text()
        response.raise_for_status()
    return _Ids(text)


async def connect_through_page(
    http: aiohttp.ClientSession, link: str, origin: str, *, grant: bool
) -> str:
    """Open a Magic Link, pick John Deere, sign in; return the status the page reports."""
    landing = await _page(http, "GET", link)
    consent = await _page(http, "GET", origin + landing.found[f"provider-{LINK_PROVIDER}"]["href"])
    form = {
        "session": consent.found["session"]["value"],
        "username": "grower@example.com",
        "password": "demo-grower-password",
    }
    if grant:
        form["permissions"] = "granted"
    action = origin + consent.found["consent-form"]["action"]
    result = await _page(http, "POST", action, data=form)
    return result.found["result"]["data-status"]


async def onboarding_act(
    fake: FakeLeaf,
    leaf: LeafSession,
    *,
    ids: list[str],
    rng: random.Random,
    links: Path,
    concurrency: int,
    progress: ProgressMode,
    err: TextIO,
    say: Callable[[str], None],
) -> Onboarding:
    """Register app keys, invite the users without John Deere, let a share connect."""
    secret = f"{rng.getrandbits(128):032x}"
    spec = JOHN_DEERE.app_key
    assert spec is not None  # John Deere's app keys are declared in its provider module
    keys = spec.schema(client_key="demo-jd-app-id", client_secret=secret)
    await leaf.app_keys.create(JOHN_DEERE, APP_NAME, keys, environment="PRODUCTION")
    # A fifth of the growers connected John Deere at an earlier onboarding.
    before = ids[::5]
    for user_id in before:
        fake.add_credential(
            user_id,
            JOHN_DEERE,
            {
                "clientKey": "demo-jd-app-id",
                "clientSecret": secret,
                "refreshToken": f"{rng.getrandbits(128):032x}",
                "clientEnvironment": "PRODUCTION",
            },
        )
    say(
        f"onboarding: John Deere app keys registered as {APP_NAME!r}; "
        f"{len(before)} growers have John Deere already"
    )
    with open_links(str(links), append=False) as stream:
        writer = _Links(stream)
        counts = await invite(
            leaf, resources=[JOHN_DEERE], users=None, authentication=False,
            expires_in=7 * 86_400, settings=LinkSettings(company_name="Demo Growers Co-op"),
            done=set(), writer=writer, err=err, concurrency=concurrency,
            rate=None, progress=progress,
        )  # fmt: skip
    chosen = rng.sample(writer.links, k=round(len(writer.links) * CONNECTING))
    grants = [rng.random() >= WITHHOLDING for _ in chosen]
    limit = asyncio.Semaphore(concurrency)

    async def one(http: aiohttp.ClientSession, link: str, grant: bool) -> str:
        async with limit:
            try:
                return await connect_through_page(http, link, fake.url, grant=grant)
            except (aiohttp.ClientError, TimeoutError, KeyError) as exc:
                return f"error: {type(exc).__name__}"

    async with aiohttp.ClientSession() as http:
        statuses = await asyncio.gather(
            *(one(http, link, grant) for link, grant in zip(chosen, grants, strict=True))
        )
    expected = ["OK" if grant else "MISSING_PERMISSION" for grant in grants]
    wrong = sum(got != want for got, want in zip(statuses, expected, strict=True))
    result = Onboarding(
        connected_before=counts.connected,
        invited=counts.invited,
        failed=counts.failed + wrong,
        connected=statuses.count("OK"),
        limited=statuses.count("MISSING_PERMISSION"),
        links=links,
    )
    say(
        f"onboarding: {result.invited} growers invited (links in {links}, 0600), "
        f"{result.connected + result.limited} connected through the fake's Magic Link page "
        f"({result.limited} without organization access), {result.failed} failed"
    )
    return result
