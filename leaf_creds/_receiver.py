"""The alert receiver: a framework-neutral core, and an aiohttp handler over it.

:class:`AlertReceiver` takes the headers and raw body of one delivery and
returns the status and body to answer; any web framework wraps it in a few
lines. :func:`aiohttp_handler` is that wrapping for ``aiohttp.web``.

What the receiver answers:

- 413 when the body is over the bound (checked first, so nothing is hashed);
- 401 when ``X-Leaf-Signature`` is missing or wrong; the callback does not
  run and the body is never logged;
- 400 for a signed body that is not a JSON object (a Leaf bug: nothing to run);
- 400 for an alert dated further from now than ``max_age``, when it is set
  (a replay of an old delivery: the callback does not run);
- 200 for the registration confirmation (passed to the callback only when
  asked for);
- 200 without running the callback for a delivery already handled (Leaf
  retries at 1, 30, 60 and 240 minutes); one that arrives while its twin is
  still being handled waits for the twin and answers as it did;
- 200 when the callback returns, 500 when it raises, so that Leaf delivers
  the alert again; a failed alert is not remembered as handled.

The aiohttp handler also answers 408 to a body that takes longer than
``read_timeout`` to arrive, and drops quietly a delivery whose peer hangs up
mid-body (there is no one left to answer).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol, runtime_checkable

import attrs
import cattrs

from ._alerts import (
    SIGNATURE_HEADER,
    Alert,
    CredentialAlert,
    UnknownAlert,
    WebhookConfirmation,
    delivery_key,
    parse_alert,
    verify_signature,
)
from ._exceptions import ValidationError
from ._failed_calls import FailedCall

if TYPE_CHECKING:
    # aiohttp.web is heavy; only an app that mounts the handler pays for it.
    from aiohttp import web

__all__ = [
    "DEFAULT_DEDUPE_SIZE",
    "DEFAULT_MAX_BODY",
    "DEFAULT_READ_TIMEOUT",
    "AlertCallback",
    "AlertEnricher",
    "AlertReceiver",
    "DeliveryStore",
    "MemoryDeliveryStore",
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
# Seconds a delivery's body may take to arrive. Leaf's are a few hundred
# bytes, sent at once; a peer trickling bytes would otherwise hold a
# connection (and a task) open for as long as it likes.
DEFAULT_READ_TIMEOUT: Final = 10.0
_CHUNK = 16 * 1024

AlertCallback = Callable[[Alert], Awaitable[object]]
AlertEnricher = Callable[[Alert], Awaitable[Alert]]

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
_STALE = _response(400, error="alert too old or too far in the future")
_TIMED_OUT = _response(408, error="body not received in time")


@runtime_checkable
class DeliveryStore(Protocol):
    """Where an :class:`AlertReceiver` remembers the deliveries it has handled.

    The default, :class:`MemoryDeliveryStore`, lives in one process's memory
    and is forgotten on restart. Give several workers one store backed by a
    shared database (Redis, a SQL table) so that a retry or a replay that
    reaches another worker, or comes after a restart, is still recognized.
    Keys are :func:`delivery_key` strings of at most a few hundred characters.
    """

    async def seen(self, key: str) -> bool:
        """Tell whether a delivery with this key was handled and is still remembered."""
        ...

    async def remember(self, key: str, ttl: float | None) -> None:
        """Remember that the delivery with this key was handled.

        Args:
            key: The delivery's key.
            ttl: Seconds after which it may be forgotten (the alert would then
                be refused as too old anyway), or ``None`` to keep it as long
                as the store can.
        """
        ...


class MemoryDeliveryStore:
    """Remember handled deliveries in this process's memory, the last ``size`` of them.

    The least recently seen are forgotten first, and each at the end of its
    ``ttl``.

    Args:
        size: How many deliveries are remembered.

    Raises:
        ValidationError: ``size`` is not a positive integer.
    """

    def __init__(self, size: int = DEFAULT_DEDUPE_SIZE) -> None:
        self._size = _check_size("size", size)
        # key -> the monotonic time it is forgotten at, or None.
        self._keys: OrderedDict[str, float | None] = OrderedDict()

    def __repr__(self) -> str:
        return f"<MemoryDeliveryStore size={self._size} handled={len(self._keys)}>"

    def __len__(self) -> int:
        return len(self._keys)

    async def seen(self, key: str) -> bool:
        """Tell whether the delivery was handled; it counts as seen again now."""
        if key not in self._keys:
            return False
        expires = self._keys[key]
        if expires is not None and expires <= time.monotonic():
            del self._keys[key]
            return False
        self._keys.move_to_end(key)
        return True

    async def remember(self, key: str, ttl: float | None) -> None:
        """Remember the delivery, for ``ttl`` seconds when given."""
        self._keys[key] = None if ttl is None else time.monotonic() + ttl
        self._keys.move_to_end(key)
        while len(self._keys) > self._size:
            self._keys.popitem(last=False)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # Multidicts (aiohttp, Starlette) are case-insensitive; a plain dict may not be.
    value: object = headers.get(name)
    if value is None:
        lowered = name.lower()
        items: Iterable[tuple[object, object]] = headers.items()
        value = next((v for k, v in items if isinstance(k, str) and k.lower() == lowered), None)
    return value if isinstance(value, str) else None


def _check_secrets(secret: object) -> tuple[str | bytes, ...]:
    # One secret, or several while a rotation is under way (any one verifies).
    listed = [secret] if isinstance(secret, str | bytes) else secret
    if not isinstance(listed, Iterable) or isinstance(listed, Mapping):
        raise ValidationError("secret must be a non-empty string, or a list of them")
    secrets = tuple(listed)
    if not secrets or not all(isinstance(s, str | bytes) and s for s in secrets):
        raise ValidationError("secret must be a non-empty string, or a list of them")
    return secrets


def _check_enrich(enrich: object) -> AlertEnricher | None:
    if enrich is not None and not callable(enrich):
        raise ValidationError("enrich must be an async callable taking and returning an alert")
    return enrich


def _check_callback(callback: object) -> AlertCallback:
    if not callable(callback):
        raise ValidationError("callback must be an async callable")
    return callback


def _check_size(option: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{option} must be a positive integer, got {value!r}")
    return value


def _check_store(store: object) -> DeliveryStore:
    if not isinstance(store, DeliveryStore):
        raise ValidationError("store must have async seen(key) and remember(key, ttl) methods")
    return store


def _check_seconds(option: str, value: object) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValidationError(f"{option} must be a positive number of seconds, got {value!r}")
    if value == float("inf"):
        raise ValidationError(f"{option} must be finite; pass None for no bound")
    return float(value)


def _dated(alert: Alert) -> datetime | None:
    """Return when the alert says it happened, or None when it does not say."""
    if isinstance(alert, CredentialAlert):
        return alert.timestamp
    if isinstance(alert, UnknownAlert):
        # Other events are not documented; read a `timestamp` like the
        # credential alerts' one when there is one, else accept the alert.
        stamp: Any = alert.raw.get("timestamp")
        if isinstance(stamp, str):
            try:
                parsed = datetime.fromisoformat(stamp)
            except ValueError:
                return None
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _describe(alert: Alert) -> str:
    if isinstance(alert, CredentialAlert):
        return f"{alert.type} for credential {alert.credential_id}"
    if isinstance(alert, WebhookConfirmation):
        return "the webhook confirmation"
    return f"an alert of type {alert.type!r}"


class AlertReceiver:
    """Verify, parse and deduplicate Leaf's deliveries, and run a callback on each alert.

    Mount :meth:`handle` in any web framework; :func:`aiohttp_handler`
    does it for aiohttp. The handled deliveries are remembered in ``store``:
    this process's memory unless you give one; with several workers or
    across restarts, give them one shared :class:`DeliveryStore` (and make
    the callback idempotent as well: two workers may get twins at once).

    Args:
        secret: The webhook's secret; or a list of secrets, any of which
            verifies a delivery (while the webhook's secret is rotated:
            the old one and the new one).
        callback: An async callable run once per alert, with a
            :class:`CredentialAlert` or an :class:`UnknownAlert` (and a
            :class:`WebhookConfirmation` if ``confirmations`` is true).
        max_body: The largest body accepted, in bytes.
        dedupe_size: How many handled deliveries the default in-memory store
            remembers (least recently seen forgotten first); see
            :func:`delivery_key`. Not used when ``store`` is given.
        confirmations: Also pass the registration confirmation to the callback.
        converter: The cattrs converter for Leaf's JSON.
        store: Where handled deliveries are remembered; a
            :class:`MemoryDeliveryStore` of ``dedupe_size`` by default.
        max_age: Refuse (400) an alert whose ``timestamp`` is further than
            this from now, past or future (seconds or a ``timedelta``; None,
            the default, accepts any date). Leaf retries for up to 4 hours
            after the first attempt, so keep it well above that: 6 hours or
            more. An alert with no timestamp is accepted.
        read_timeout: Seconds the whole body may take to arrive, for the
            framework that reads it (:func:`aiohttp_handler` answers 408
            past it); :attr:`read_timeout` tells it to a wrapper of your own.
        enrich: An async callable that each alert goes through before the
            callback, e.g. ``leaf.credential_owners.enrich``, which fills a
            credential alert's ``leaf_user_id`` and ``provider``. When it
            raises, the delivery is answered 500 (Leaf retries it).

    Raises:
        ValidationError: An option is invalid.
    """

    def __init__(
        self,
        secret: str | bytes | Sequence[str | bytes],
        callback: AlertCallback,
        *,
        max_body: int = DEFAULT_MAX_BODY,
        dedupe_size: int = DEFAULT_DEDUPE_SIZE,
        confirmations: bool = False,
        converter: cattrs.Converter | None = None,
        store: DeliveryStore | None = None,
        max_age: float | timedelta | None = None,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        enrich: AlertEnricher | None = None,
    ) -> None:
        self._secrets = _check_secrets(secret)
        self._callback = _check_callback(callback)
        self._enrich = _check_enrich(enrich)
        self._max_body = _check_size("max_body", max_body)
        dedupe_size = _check_size("dedupe_size", dedupe_size)
        self._confirmations = confirmations
        self._converter = converter
        self._store = MemoryDeliveryStore(dedupe_size) if store is None else _check_store(store)
        self._max_age = None if max_age is None else _check_seconds("max_age", max_age)
        self._read_timeout = _check_seconds("read_timeout", read_timeout)
        self._pending: dict[str, asyncio.Future[bool]] = {}

    def __repr__(self) -> str:
        store = self._store
        if isinstance(store, MemoryDeliveryStore):
            held = f"handled={len(store)}"
        else:
            held = f"store={type(store).__name__}"
        return f"<AlertReceiver max_body={self._max_body} {held}>"

    @property
    def max_body(self) -> int:
        """The largest body accepted, in bytes."""
        return self._max_body

    @property
    def read_timeout(self) -> float:
        """Seconds a delivery's body may take to arrive."""
        return self._read_timeout

    @property
    def store(self) -> DeliveryStore:
        """Where the handled deliveries are remembered."""
        return self._store

    async def handle(self, headers: Mapping[str, str], body: bytes) -> ReceiverResponse:
        """Answer one delivery, given its headers and raw body.

        Never raises for anything the peer sent; see the module's docstring
        for each answer.
        """
        if len(body) > self._max_body:
            return _TOO_LARGE
        signature = _header(headers, SIGNATURE_HEADER)
        if not any(verify_signature(body, secret, signature) for secret in self._secrets):
            log.warning(
                "refused a delivery with %s %s",
                "no" if signature is None else "a wrong",
                SIGNATURE_HEADER,
            )
            return _BAD_SIGNATURE
        return await self._verified(body, replayed=False)

    async def replay(self, call: FailedCall | bytes) -> ReceiverResponse:
        """Run the callback on an alert Leaf failed to deliver, unless it was handled already.

        The alert goes through the same de-duplication as a live delivery:
        one handled since (a later retry of Leaf's got through, or an earlier
        replay) answers ``duplicate`` and the callback does not run. There
        is no signature to check: a failed call is read from Leaf with your
        token, not signed again. ``max_age`` does not refuse a replay (an
        alert missed for longer is the point of replaying it); but the store
        forgets a handled alert ``max_age`` after its date, so an alert
        older than that may run the callback a second time.

        Args:
            call: A :class:`FailedCall` from ``leaf.webhooks.failed_calls()``,
                or the raw body of one (its ``requestBody``).

        Returns:
            What a live delivery would have been answered: ``accepted``,
            ``duplicate``, ``confirmed``, 400 for a body that is not a JSON
            object, 413 past ``max_body``, 500 when the callback raised.

        Raises:
            ValidationError: ``call`` is neither a failed call nor bytes.
        """
        if isinstance(call, FailedCall):
            body = call.body
        elif isinstance(call, bytes | bytearray):
            body = bytes(call)
        else:
            raise ValidationError(
                f"replay() takes a FailedCall or its body as bytes, got {type(call).__name__}"
            )
        if len(body) > self._max_body:
            return _TOO_LARGE
        return await self._verified(body, replayed=True)

    async def _verified(self, body: bytes, *, replayed: bool) -> ReceiverResponse:
        """Answer a delivery whose signature was checked (or that Leaf handed over)."""
        try:
            alert = parse_alert(body, converter=self._converter)
        except ValidationError:
            log.warning("refused a signed delivery that is not a JSON object (%d bytes)", len(body))
            return _NOT_JSON
        if isinstance(alert, WebhookConfirmation) and not self._confirmations:
            return _CONFIRMED
        ttl: float | None = None
        if self._max_age is not None and (dated := _dated(alert)) is not None:
            age = (datetime.now(UTC) - dated).total_seconds()
            if replayed:
                # Not refused; remembered a while, so a second replay is a duplicate.
                ttl = max(self._max_age - age, self._max_age)
            elif abs(age) > self._max_age:
                log.warning(
                    "refused %s dated %s, %s than max_age: a replay?",
                    _describe(alert),
                    dated.isoformat(),
                    "older" if age > 0 else "further in the future",
                )
                return _STALE
            else:
                # Past this it is refused as too old: the store may forget it.
                ttl = self._max_age - age
        key = delivery_key(alert, body)
        if key is None:
            return _CONFIRMED if await self._run(alert) else _FAILED
        try:
            seen = await self._store.seen(key)
        except Exception:
            log.exception("the delivery store failed; answering 500 so that Leaf delivers it again")
            return _FAILED
        if seen:
            log.debug("dropped a duplicate of %s", _describe(alert))
            return _DUPLICATE
        twin = self._pending.get(key)
        if twin is not None:
            # Shielded: a cancelled duplicate must not cancel its twin's outcome.
            return _DUPLICATE if await asyncio.shield(twin) else _FAILED
        # No await between the pending check above and this line, so two
        # concurrent deliveries of one alert cannot both get here.
        outcome = self._pending[key] = asyncio.get_running_loop().create_future()
        handled = False
        try:
            handled = await self._run(alert)
            if handled:
                await self._remember(key, ttl)
        finally:
            del self._pending[key]
            outcome.set_result(handled)
        return _ACCEPTED if handled else _FAILED

    async def _run(self, alert: Alert) -> bool:
        try:
            if self._enrich is not None:
                alert = await self._enrich(alert)
            await self._callback(alert)
        except Exception:
            log.exception(
                "the alert callback failed on %s; answering 500 so that Leaf delivers it again",
                _describe(alert),
            )
            return False
        return True

    async def _remember(self, key: str, ttl: float | None) -> None:
        try:
            await self._store.remember(key, ttl)
        except Exception:
            # The callback ran: answer 200. Forgetting risks a second run only.
            log.exception("the delivery store failed to remember a handled delivery")


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
    secret: str | bytes | Sequence[str | bytes],
    callback: AlertCallback,
    *,
    max_body: int = DEFAULT_MAX_BODY,
    dedupe_size: int = DEFAULT_DEDUPE_SIZE,
    confirmations: bool = False,
    converter: cattrs.Converter | None = None,
    store: DeliveryStore | None = None,
    max_age: float | timedelta | None = None,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    enrich: AlertEnricher | None = None,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Return an ``aiohttp.web`` handler that receives Leaf's alerts::

        app.router.add_post("/leaf/alerts", leaf_creds.aiohttp_handler(secret, on_alert))

    The body is read in chunks and never past ``max_body`` (a larger
    ``Content-Length`` is refused before reading anything), within
    ``read_timeout`` seconds (408 past it, and the connection is closed). A
    peer that hangs up mid-body gets no answer and one DEBUG log line.
    The other options are as for :class:`AlertReceiver`.

    Args:
        secret: The webhook's secret, or a list of secrets any of which verifies.
        callback: The async callable run once per alert.

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
        store=store,
        max_age=max_age,
        read_timeout=read_timeout,
        enrich=enrich,
    )

    async def receive_leaf_alert(request: web.Request) -> web.StreamResponse:
        close = False
        try:
            async with asyncio.timeout(receiver.read_timeout):
                body = await _read_bounded(request, receiver.max_body)
        except web.RequestPayloadError:  # a broken chunked encoding or a cut-off body
            answer = _MALFORMED
        except TimeoutError:
            # Trickled or stalled: answer, and close rather than linger
            # reading the rest of it.
            log.info("dropped a delivery whose body took over %gs", receiver.read_timeout)
            answer, close = _TIMED_OUT, True
        except ConnectionError:
            # The peer hung up mid-body: no one is left to answer, and an
            # unauthenticated peer's broken upload is no error of ours.
            log.debug("a delivery was cut off before its body ended")
            answer = _MALFORMED
        else:
            answer = _TOO_LARGE if body is None else await receiver.handle(request.headers, body)
        response = web.Response(
            status=answer.status, body=answer.body, content_type=answer.content_type
        )
        if close:
            # Answer, then hang up: aiohttp would otherwise linger for up to
            # 10 s reading the rest of a body nobody wants.
            response.force_close()
            await response.prepare(request)
            await response.write_eof()
            request.protocol.force_close()
        return response

    return receive_leaf_alert
