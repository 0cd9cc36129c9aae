"""The fake's Alerts service: webhook registrations and signed deliveries.

Leaf's Alerts service stores webhooks (``POST``/``GET``/``DELETE`` under
``/services/alerts/api/alerts/webhooks``), POSTs a confirmation right after a
registration, and POSTs an alert signed with the webhook's secret whenever an
event happens, retrying a delivery that did not get a 2xx at 1, 30, 60 and
240 minutes after the first failure. The fake does the same with the
schedule shortened for tests (:data:`DEFAULT_RETRY_DELAYS`).

Choices Leaf leaves undocumented: a registration answers 201 with the
webhook (its secret echoed, as the request had it); the confirmation is sent
once, signed, and not retried. A credential alert holds exactly the keys
Leaf documents (``credential``, ``provider``, ``credentialId``, ``message``,
``status``, ``type``, ``timestamp``), and no Leaf user id; the caller gives
Leaf's provider name and "the client identification" (see ``_credentials``).

A delivery that gets no 2xx (an error status, or no answer at all) is
recorded as a failed call, one per attempt, and served at ``GET
.../webhooks/failed-calls`` as Leaf documents (``operations.md`` section 2):
``{"items": [{"apiOwner", "createdAt", "url", "status", "response",
"requestBody", "connectionError"}]}``, ``status`` and ``response`` (cut to
1000 characters) when the receiver answered, ``connectionError`` when it
could not be reached; paged only when ``page`` or ``size`` is given.

Deliveries run as background tasks that the fake owns: :meth:`FakeAlerts.drain`
waits for them, closing the fake cancels and awaits them. The routes are
:func:`answer_webhooks`, over a :class:`FakeAlerts`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple
from urllib.parse import unquote

import aiohttp
import attrs
from aiohttp import web

from leaf_creds import (
    CREDENTIALS_LIMITED_PERMISSION,
    CREDENTIALS_UNAUTHENTICATED,
    SIGNATURE_HEADER,
    sign,
)

from .._alerts import ALERTS_SERVICE, CONFIRMATION_MESSAGE, WEBHOOKS_PATH
from .._converter import format_datetime
from ._web import allow, paged, read_json
from ._wire import Problem

__all__ = [
    "ALERTS_PREFIX",
    "CONFIRMATION",
    "DEFAULT_RETRY_DELAYS",
    "Delivery",
    "FakeAlerts",
    "answer_webhooks",
]

ALERTS_PREFIX: Final = ALERTS_SERVICE + WEBHOOKS_PATH
# Leaf's 1, 30, 60 and 240 minutes after the first failure, read as centiseconds.
DEFAULT_RETRY_DELAYS: Final = (0.01, 0.3, 0.6, 2.4)
# The `event` of a confirmation in the deliveries log.
CONFIRMATION: Final = "confirmation"
# The credential statuses Leaf sends an alert for, and the event of each.
STATUS_EVENTS: Final[Mapping[str, str]] = {
    "UNAUTHENTICATED": CREDENTIALS_UNAUTHENTICATED,
    "MISSING_PERMISSION": CREDENTIALS_LIMITED_PERMISSION,
}
# The path of the failed calls, under ALERTS_PREFIX.
FAILED_CALLS: Final = "failed-calls"
# How much of a receiver's answer a failed call keeps.
_RESPONSE_KEPT: Final = 1000
_MESSAGES = {
    CREDENTIALS_UNAUTHENTICATED: "the provider refused the credential",
    CREDENTIALS_LIMITED_PERMISSION: "the credential lacks a permission it needs",
}


class Delivery(NamedTuple):
    """One POST the fake made to a webhook: never its body or secret.

    Attributes:
        webhook_id: The webhook delivered to.
        event: The event type, or ``"confirmation"``.
        attempt: 1 for the first try, then one more per retry.
        status: The status the receiver answered, or None when it could not
            be reached.
    """

    webhook_id: str
    event: str
    attempt: int
    status: int | None


@attrs.frozen(kw_only=True)
class _Webhook:
    id: str
    name: str
    url: str
    secret: str = attrs.field(repr=False)
    events: tuple[str, ...]

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "secret": self.secret,
            "events": list(self.events),
        }


def _registration(body: Any) -> tuple[str, str, str, tuple[str, ...]]:
    """Check a registration body as Leaf would; return name, url, secret and events."""
    if not isinstance(body, dict):
        raise Problem(400, "the body must be a JSON object")
    errors = [
        {"objectName": "webhook", "field": key, "message": "must be a non-empty string"}
        for key in ("name", "secret")
        if not isinstance(body.get(key), str) or not body[key].strip()
    ]
    url = body.get("url")
    if not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        errors.append({"objectName": "webhook", "field": "url", "message": "must be an HTTP URL"})
    events = body.get("events")
    listed: list[Any] = events if isinstance(events, list) else []
    if not listed or not all(isinstance(event, str) and event for event in listed):
        errors.append(
            {"objectName": "webhook", "field": "events", "message": "must list event names"}
        )
    if errors:
        raise Problem(400, "Method argument not valid", field_errors=errors)
    return body["name"], body["url"], body["secret"], tuple(dict.fromkeys(listed))


class FakeAlerts:
    """The webhooks of a fake Leaf, and the deliveries to them.

    Args:
        retry_delays: Seconds after a first failed delivery at which it is
            tried again; ``()`` never retries.
        timeout: Seconds one delivery attempt may take.
        clock: The fake's clock, for the failed calls' ``createdAt``.
        api_owner: The failed calls' ``apiOwner``.
    """

    def __init__(
        self,
        *,
        retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        api_owner: str = "user@example.com",
    ) -> None:
        self.retry_delays = tuple(retry_delays)
        self.timeout = timeout
        self._clock = clock
        self.api_owner = api_owner
        self._webhooks: dict[str, _Webhook] = {}
        self._deliveries: list[Delivery] = []
        self._failed: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"<FakeAlerts webhooks={len(self._webhooks)} pending={len(self._tasks)}>"

    # -- inspection --------------------------------------------------------

    @property
    def webhooks(self) -> list[dict[str, Any]]:
        """Copies of the registered webhooks' wire JSON, oldest first."""
        return [webhook.wire() for webhook in self._webhooks.values()]

    @property
    def deliveries(self) -> list[Delivery]:
        """Every delivery attempt so far, in order."""
        return list(self._deliveries)

    @property
    def failed_calls(self) -> list[dict[str, Any]]:
        """Copies of the failed calls as Leaf lists them, oldest first."""
        return [dict(call) for call in self._failed]

    async def drain(self) -> None:
        """Wait until every delivery, retries included, has ended."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- events ------------------------------------------------------------

    def send(self, event: str, payload: Mapping[str, Any]) -> int:
        """Deliver an alert to every webhook subscribed to ``event``; return how many.

        ``payload`` is sent as given, with ``type`` set to ``event``.
        """
        body = {**payload, "type": event}
        targets = [webhook for webhook in self._webhooks.values() if event in webhook.events]
        for webhook in targets:
            self._start(webhook, event, body, retry=True)
        return len(targets)

    def credential_status_changed(
        self, provider: str, record: Mapping[str, Any], *, credential: str, now: float
    ) -> None:
        """Send the alert Leaf sends when a credential's status becomes ``record["status"]``.

        Args:
            provider: Leaf's name for the provider, e.g. ``JohnDeere``.
            record: The credential's stored record.
            credential: The alert's ``credential``, "the client identification".
            now: The fake's clock (seconds since the epoch).
        """
        status = str(record.get("status"))
        event = STATUS_EVENTS.get(status)
        if event is None:
            return
        # Leaf's documented body (alerts_events.md), key for key; `type` is
        # added by send(). No leafUserId: Leaf sends none.
        self.send(
            event,
            {
                "credential": credential,
                "provider": provider,
                "credentialId": record.get("id"),
                "message": _MESSAGES[event],
                "status": status,
                "timestamp": format_datetime(datetime.fromtimestamp(now, UTC)),
            },
        )

    # -- the Alerts endpoints (the server routes and parses) ------------------

    def register(self, body: Any) -> dict[str, Any]:
        """Store a webhook from a registration body, send its confirmation; return its JSON.

        Raises:
            Problem: 400 for an invalid body, or an event another webhook has
                (Leaf's ``eventRegisteredTwice``).
        """
        name, url, secret, events = _registration(body)
        # Leaf: "It's not possible to create different webhooks that listen
        # to the same events."
        taken = sorted({e for w in self._webhooks.values() for e in w.events} & set(events))
        if taken:
            raise Problem(
                400, f"already registered: {', '.join(taken)}", error_key="eventRegisteredTwice"
            )
        webhook = _Webhook(id=str(uuid.uuid4()), name=name, url=url, secret=secret, events=events)
        self._webhooks[webhook.id] = webhook
        self._start(webhook, CONFIRMATION, {"message": CONFIRMATION_MESSAGE}, retry=False)
        return webhook.wire()

    def webhook(self, webhook_id: str) -> dict[str, Any]:
        """Return a webhook's JSON.

        Raises:
            Problem: 404 when there is no such webhook.
        """
        return self._get(webhook_id).wire()

    def delete(self, webhook_id: str) -> None:
        """Delete a webhook; its retries stop.

        Raises:
            Problem: 404 when there is no such webhook.
        """
        del self._webhooks[self._get(webhook_id).id]

    def _get(self, webhook_id: str) -> _Webhook:
        webhook = self._webhooks.get(webhook_id)
        if webhook is None:
            raise Problem(404, f"no webhook with id {webhook_id}")
        return webhook

    # -- deliveries --------------------------------------------------------

    def _start(
        self, webhook: _Webhook, event: str, payload: Mapping[str, Any], *, retry: bool
    ) -> None:
        # Leaf signs a compact JSON with spaces after ":" and ",": json.dumps' default.
        body = json.dumps(payload).encode()
        task = asyncio.get_running_loop().create_task(
            self._deliver(webhook, event, body, self.retry_delays if retry else ())
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(
        self, webhook: _Webhook, event: str, body: bytes, delays: Iterable[float]
    ) -> None:
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, webhook.secret)}
        loop = asyncio.get_running_loop()
        failed_at = 0.0
        for attempt, offset in enumerate((None, *delays), start=1):
            if offset is not None:
                # Leaf counts its retries from the first failure.
                await asyncio.sleep(max(0.0, failed_at + offset - loop.time()))
                if webhook.id not in self._webhooks:
                    return  # deleted meanwhile: Leaf stops delivering
            status, response, error = await self._post(webhook.url, body, headers)
            self._deliveries.append(Delivery(webhook.id, event, attempt, status))
            if status is not None and 200 <= status < 300:
                return
            self._failed_call(webhook.url, body, status, response, error)
            if attempt == 1:
                failed_at = loop.time()

    def _failed_call(
        self, url: str, body: bytes, status: int | None, response: str | None, error: str | None
    ) -> None:
        call: dict[str, Any] = {
            "apiOwner": self.api_owner,
            "createdAt": format_datetime(datetime.fromtimestamp(self._clock(), UTC)),
            "url": url,
        }
        if status is not None:
            call["status"] = status
            call["response"] = response
        call["requestBody"] = body.decode()
        if error is not None:
            call["connectionError"] = error
        self._failed.append(call)

    async def _post(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int | None, str | None, str | None]:
        """POST one delivery; return the status and body answered, or why there was none."""
        if self._client is None:
            self._client = aiohttp.ClientSession()
        try:
            async with self._client.post(
                url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,
            ) as response:
                text = (await response.read())[:_RESPONSE_KEPT].decode(errors="replace")
                return response.status, text, None
        except TimeoutError:
            return None, None, f"no answer within {self.timeout:g}s"
        except aiohttp.ClientConnectorError:
            return None, None, "connection refused"
        except ValueError:  # aiohttp's InvalidURL too
            return None, None, "not a URL that can be posted to"
        except aiohttp.ClientError as exc:
            return None, None, f"connection failed: {type(exc).__name__}"

    # -- lifecycle ---------------------------------------------------------

    def reset(self) -> None:
        """Forget every webhook and delivery; cancel deliveries under way."""
        self._webhooks.clear()
        self._deliveries.clear()
        self._failed.clear()
        for task in self._tasks:
            task.cancel()

    async def aclose(self) -> None:
        """Cancel and await the deliveries under way, and close the HTTP client."""
        for task in self._tasks:
            task.cancel()
        await self.drain()
        client, self._client = self._client, None
        if client is not None:
            await client.close()


async def answer_webhooks(alerts: FakeAlerts, request: web.Request, rest: str) -> web.Response:
    """Answer a path under ``/services/alerts/api/alerts/webhooks``.

    Raises:
        Problem: Leaf's error answer.
    """
    parts = [part for part in rest.split("/") if part]
    if not parts:
        allow(request, "GET", "POST")
        if request.method == "GET":
            return web.json_response(alerts.webhooks)
        webhook = alerts.register(await read_json(request))
        location = f"{ALERTS_PREFIX}/{webhook['id']}"
        return web.json_response(webhook, status=201, headers={"Location": location})
    if len(parts) > 1:
        raise Problem(404, f"no such path: {request.rel_url.raw_path}")
    if parts[0] == FAILED_CALLS:
        # Before the webhook-by-id route, which would read it as an id.
        allow(request, "GET")
        calls = alerts.failed_calls
        headers: dict[str, str] = {}
        if "page" in request.query or "size" in request.query:
            calls, headers = paged(request, calls)
        return web.json_response({"items": calls}, headers=headers)
    allow(request, "GET", "DELETE")
    webhook_id = unquote(parts[0])
    if request.method == "DELETE":
        alerts.delete(webhook_id)
        return web.Response(status=204)
    return web.json_response(alerts.webhook(webhook_id))
