"""The alert receiver: a framework-neutral core, and an aiohttp handler over it.

:class:`AlertReceiver` takes the headers and raw body of one delivery and
returns the status and body to answer; any web framework wraps it in a few
lines. :func:`aiohttp_handler` is that wrapping for ``aiohttp.web``.

What the receiver answers:

- 413 when the body is over the bound (checked first, so nothing is hashed);
- 401 when ``X-Leaf-Signature`` is missing or wrong; the callback does not
  run and the body is never logged;
- 400 for a signed body that is not a JSON object (a Leaf bug: nothing to run);
- 200 for the registration confirmation (passed to the callback only when
  asked for);
- 200 without running the callback for a delivery already handled (Leaf
  retries at 1, 30, 60 and 240 minutes); one that arrives while its twin is
  still being handled waits for the twin and answers as it did;
- 200 when the callback returns, 500 when it raises, so that Leaf delivers
  the alert again; a failed alert is not remembered as handled.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Final

import attrs
import cattrs

from ._alerts import (
    SIGNATURE_HEADER,
    Alert,
    CredentialAlert,
    WebhookConfirmation,
    delivery_key,
    parse_alert,
    verify_signature,
)
from ._exceptions import ValidationError

if TYPE_CHECKING:
    # aiohttp.web is heavy; only an app that mounts the handler pays for it.
    from aiohttp import web

__all__ = [
    "DEFAULT_DEDUPE_SIZE",
    "DEFAULT_MAX_BODY",
    "AlertCallback",
    "AlertReceiver",
    "ReceiverResponse",
    "aiohttp_handler",
]

# Leaf's credential alerts are a few hundred bytes; 64 KiB leaves room for
# other events while bounding what an unauthenticated peer makes us buffer.
DEFAULT_MAX_BODY: Final = 64 * 1024
# Deliveries remembered for deduplication; a key is ~100 bytes, so the
# default costs about 1 MB and spans Leaf's 4-hour retry window at a rate of
# ~40 alerts a minute.
DEFAULT_DEDUPE_SIZE: Final = 10_000
_CHUNK = 16 * 1024

AlertCallback = Callable[[Alert], Awaitable[object]]

log = logging.getLogger("leaf_creds.alerts")


@attrs.frozen
class ReceiverResponse:
    """What to answer to one delivery.

    Attributes:
        status: The HTTP status.
        body: A short JSON body saying what happened.
        content_type: The body's media type.
    """

    status: int
    body: bytes
    content_type: str = "application/json"


def _response(status: int, **fields: str) -> ReceiverResponse:
    return ReceiverResponse(status, json.dumps(fields).encode())


_TOO_LARGE = _response(413, error="body too large")
_BAD_SIGNATURE = _response(401, error="missing or invalid X-Leaf-Signature")
_NOT_JSON = _response(400, error="not a JSON object")
_MALFORMED = _response(400, error="malformed body")
_CONFIRMED = _response(200, result="confirmed")
_ACCEPTED = _response(200, result="accepted")
_DUPLICATE = _response(200, result="duplicate")
_FAILED = _response(500, error="alert not handled")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # Multidicts (aiohttp, Starlette) are case-insensitive; a plain dict may not be.
    value: object = headers.get(name)
    if value is None:
        lowered = name.lower()
        items: Iterable[tuple[object, object]] = headers.items()
        value = next((v for k, v in items if isinstance(k, str) and k.lower() == lowered), None)
    return value if isinstance(value, str) else None


def _check_secret(secret: object) -> str | bytes:
    if not isinstance(secret, str | bytes) or not secret:
        raise ValidationError("secret must be a non-empty string")
    return secret


def _check_callback(callback: object) -> AlertCallback:
    if not callable(callback):
        raise ValidationError("callback must be an async callable")
    return callback


def _check_size(option: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{option} must be a positive integer, got {value!r}")
    return value


def _describe(alert: Alert) -> str:
    if isinstance(alert, CredentialAlert):
        return f"{alert.type} for credential {alert.credential_id}"
    if isinstance(alert, WebhookConfirmation):
        return "the webhook confirmation"
    return f"an alert of type {alert.type!r}"


class AlertReceiver:
    """Verify, parse and deduplicate Leaf's deliveries, and run a callback on each alert.

    Mount :meth:`handle` in any web framework; :func:`aiohttp_handler`
    does it for aiohttp. The handled deliveries are remembered in this
    process's memory only: with several workers, make the callback
    idempotent as well.

    Args:
        secret: The webhook's secret.
        callback: An async callable run once per alert, with a
            :class:`CredentialAlert` or an :class:`UnknownAlert` (and a
            :class:`WebhookConfirmation` if ``confirmations`` is true).
        max_body: The largest body accepted, in bytes.
        dedupe_size: How many handled deliveries are remembered (least
            recently seen forgotten first); see :func:`delivery_key`.
        confirmations: Also pass the registration confirmation to the callback.
        converter: The cattrs converter for Leaf's JSON.

    Raises:
        ValidationError: An option is invalid.
    """

    def __init__(
        self,
        secret: str | bytes,
        callback: AlertCallback,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        dedupe_size: int = DEFAULT_DEDUPE_SIZE,
        confirmations: bool = False,
        converter: cattrs.Converter | None = None,
    ) -> None:
        self._secret = _check_secret(secret)
        self._callback = _check_callback(callback)
        self._max_body = _check_size("max_body", max_body)
        self._dedupe_size = _check_size("dedupe_size", dedupe_size)
        self._confirmations = confirmations
        self._converter = converter
        self._handled: OrderedDict[str, None] = OrderedDict()
        self._pending: dict[str, asyncio.Future[bool]] = {}

    def __repr__(self) -> str:
        return f"<AlertReceiver max_body={self._max_body} handled={len(self._handled)}>"

    @property
    def max_body(self) -> int:
        """The largest body accepted, in bytes."""
        return self._max_body

    async def handle(self, headers: Mapping[str, str], body: bytes) -> ReceiverResponse:
        """Answer one delivery, given its headers and raw body.

        Never raises for anything the peer sent; see the module's docstring
        for each answer.
        """
        if len(body) > self._max_body:
            return _TOO_LARGE
        signature = _header(headers, SIGNATURE_HEADER)
        if not verify_signature(body, self._secret, signature):
            log.warning(
                "refused a delivery with %s %s",
                "no" if signature is None else "a wrong",
                SIGNATURE_HEADER,
            )
            return _BAD_SIGNATURE
        try:
            alert = parse_alert(body, converter=self._converter)
        except ValidationError:
            log.warning("refused a signed delivery that is not a JSON object (%d bytes)", len(body))
            return _NOT_JSON
        if isinstance(alert, WebhookConfirmation) and not self._confirmations:
            return _CONFIRMED
        key = delivery_key(alert, body)
        if key is None:
            return _CONFIRMED if await self._run(alert) else _FAILED
        if key in self._handled:
            self._handled.move_to_end(key)
            log.debug("dropped a duplicate of %s", _describe(alert))
            return _DUPLICATE
        twin = self._pending.get(key)
        if twin is not None:
            # Shielded: a cancelled duplicate must not cancel its twin's outcome.
            return _DUPLICATE if await asyncio.shield(twin) else _FAILED
        # No await between the checks above and this line, so two concurrent
        # deliveries of one alert cannot both get here.
        outcome = self._pending[key] = asyncio.get_running_loop().create_future()
        handled = False
        try:
            handled = await self._run(alert)
        finally:
            del self._pending[key]
            if handled:
                self._remember(key)
            outcome.set_result(handled)
        return _ACCEPTED if handled else _FAILED

    async def _run(self, alert: Alert) -> bool:
        try:
            await self._callback(alert)
        except Exception:
            log.exception(
                "the alert callback failed on %s; answering 500 so that Leaf delivers it again",
                _describe(alert),
            )
            return False
        return True

    def _remember(self, key: str) -> None:
        self._handled[key] = None
        while len(self._handled) > self._dedupe_size:
            self._handled.popitem(last=False)


async def _read_bounded(request: web.Request, limit: int) -> bytes | None:
    """Read the body, or return None as soon as it is over ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    body = bytearray()
    async for chunk in request.content.iter_chunked(_CHUNK):
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def aiohttp_handler(
    secret: str | bytes,
    callback: AlertCallback,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    dedupe_size: int = DEFAULT_DEDUPE_SIZE,
    confirmations: bool = False,
    converter: cattrs.Converter | None = None,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Return an ``aiohttp.web`` handler that receives Leaf's alerts::

        app.router.add_post("/leaf/alerts", leaf_creds.aiohttp_handler(secret, on_alert))

    The body is read in chunks and never past ``max_body`` (a larger
    ``Content-Length`` is refused before reading anything).

    Args:
        secret: The webhook's secret.
        callback: The async callable run once per alert.
        max_body, dedupe_size, confirmations, converter: As for
            :class:`AlertReceiver`.

    Raises:
        ValidationError: An option is invalid.
    """
    from aiohttp import web  # (see the TYPE_CHECKING import)

    receiver = AlertReceiver(
        secret,
        callback,
        max_body=max_body,
        dedupe_size=dedupe_size,
        confirmations=confirmations,
        converter=converter,
    )

    async def receive_leaf_alert(request: web.Request) -> web.StreamResponse:
        try:
            body = await _read_bounded(request, receiver.max_body)
        except web.RequestPayloadError:  # a broken chunked encoding or a cut-off body
            answer = _MALFORMED
        else:
            answer = _TOO_LARGE if body is None else await receiver.handle(request.headers, body)
        return web.Response(
            status=answer.status, body=answer.body, content_type=answer.content_type
        )

    return receive_leaf_alert
