"""The fake's Integrations service: what Leaf has synced, per Leaf user and provider.

Leaf's one path (``../shared/leaf-api/operations.md`` section 1):
``GET /services/integrations/api/resources`` with optional ``leafUserId``,
``provider``, ``page`` and ``size`` (20), answered ``{"message": "SUCCESS",
"summaries": [...]}`` with Leaf's CamelCase provider names.

State that moves: a summary appears once a credential has been ``OK`` for
:attr:`FakeIntegrations.sync_delay` seconds of the fake's clock (move it
with ``fake.advance_clock``), and only while data can flow: the user's
configuration has ``fieldsAutoSync`` or ``operationsAutoSync`` on, and for
John Deere an organization is shared and not ``BLOCKED`` (and ``SELECTED``
under ``organizationDataSync: SELECTED_ONLY``). Its ``syncReferenceTime``
is when that delay ended; it counts 1 grower, 2 farms and 100 fields per
organization synced (one for the other providers), with no ``growers`` for
Climate FieldView and neither ``growers`` nor ``farms`` for Stara, as Leaf
documents. The ``provider`` filter is matched without regard to case.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from aiohttp import web

from ._configurations import FakeConfigurations
from ._organizations import FakeOrganizations
from ._state import State
from ._web import allow, paged
from ._wire import Problem, timestamp

__all__ = ["INTEGRATIONS_PATH", "LEAF_NAMES", "FakeIntegrations"]

INTEGRATIONS_PATH: Final = "/services/integrations/api/resources"
# Our slug -> the name Leaf's summaries give the provider (operations.md section 1).
LEAF_NAMES: Final[Mapping[str, str]] = {
    "john-deere": "JohnDeere",
    "climate-field-view": "ClimateFieldView",
    "cnhi": "CNHI",
    "trimble": "Trimble",
    "stara": "Stara",
    "raven": "Raven",
    "agvance": "AgVance",
    "panorama": "Panorama",
    "ag-leader": "AgLeader",
}
_NO_GROWERS: Final = frozenset({"ClimateFieldView", "Stara"})
_NO_FARMS: Final = frozenset({"Stara"})
DEFAULT_SYNC_DELAY: Final = 3600.0


def _seconds(stamp: str) -> float:
    # The fake's own timestamps (format_datetime): always ISO 8601.
    return datetime.fromisoformat(stamp).timestamp()


class FakeIntegrations:
    """The integrations summaries of a fake Leaf; ``fake.integrations``.

    Args:
        state: The users and credentials.
        organizations: Which John Deere organizations are synced.
        configurations: Whether auto-sync is on.
        clock: The fake's clock (seconds since the epoch).

    Attributes:
        sync_delay: Seconds a credential must be ``OK`` before Leaf has synced it.
    """

    def __init__(
        self,
        state: State,
        organizations: FakeOrganizations,
        configurations: FakeConfigurations,
        clock: Callable[[], float],
    ) -> None:
        self._state = state
        self._organizations = organizations
        self._configurations = configurations
        self._clock = clock
        self.sync_delay = DEFAULT_SYNC_DELAY

    def __repr__(self) -> str:
        return f"<FakeIntegrations sync_delay={self.sync_delay:g}>"

    def ok_since(self, user_id: str, slug: str) -> float | None:
        """Return since when a credential has been ``OK``, or None when it is not."""
        record = self._state.peek(user_id, slug)
        if record is None or record.get("status") != "OK":
            return None
        since = _seconds(record["createdTime"])
        # The fake's events are its own JSON: a status change names the status.
        for event in self._state.events(user_id, slug):
            if json.loads(event["body"]).get("status") == "OK":
                since = _seconds(event["createdDate"])
        return since

    def summary(self, user_id: str, slug: str) -> dict[str, Any] | None:
        """Return the summary Leaf would answer for one credential now, or None."""
        name = LEAF_NAMES.get(slug)
        since = self.ok_since(user_id, slug) if name else None
        if name is None or since is None or self._clock() < since + self.sync_delay:
            return None
        config = self._configurations.effective(user_id)
        if not (config.get("fieldsAutoSync") or config.get("operationsAutoSync")):
            return None
        count = 1
        if slug == "john-deere":
            selected_only = config.get("organizationDataSync") == "SELECTED_ONLY"
            count = self._organizations.syncing(user_id, slug, selected_only)
            if not count:
                return None
        summary: dict[str, Any] = {"provider": name, "leafUserId": user_id}
        if name not in _NO_GROWERS:
            summary["growers"] = count
        if name not in _NO_FARMS:
            summary["farms"] = 2 * count
        summary["fields"] = 100 * count
        summary["syncReferenceTime"] = timestamp(since + self.sync_delay, 6)
        return summary

    def summaries(self, user_id: str | None = None) -> list[dict[str, Any]]:
        """Return every summary Leaf would answer now, of one user when given."""
        users = [user_id] if user_id is not None else list(self._state.users)
        found = []
        for user in users:
            for slug in LEAF_NAMES:
                summary = self.summary(user, slug)
                if summary is not None:
                    found.append(summary)
        return found

    async def answer(self, request: web.Request, rest: str) -> web.Response:
        """Answer ``GET /resources``.

        Raises:
            Problem: Leaf's error answer.
        """
        if rest not in ("", "/"):
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        allow(request, "GET")
        user_id = request.query.get("leafUserId") or None
        if user_id is not None:
            self._state.user(user_id)
        found = self.summaries(user_id)
        provider = request.query.get("provider")
        if provider:
            found = [s for s in found if s["provider"].lower() == provider.lower()]
        page, headers = paged(request, found)
        return web.json_response({"message": "SUCCESS", "summaries": page}, headers=headers)
