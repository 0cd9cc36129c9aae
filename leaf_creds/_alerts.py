"""Credential alerts: webhook registrations, signatures and deliveries.

Everything here is pure. Leaf's Alerts service POSTs signed JSON to a
registered URL; :func:`verify_signature` checks the ``X-Leaf-Signature``
header over the raw body, and :func:`parse_alert` turns the body into one of
three frozen records:

- :class:`WebhookConfirmation`, sent once right after registration;
- :class:`CredentialAlert`, for ``credentialsUnauthenticated`` and
  ``credentialsLimitedPermission``;
- :class:`UnknownAlert`, any other event, kept whole rather than rejected.

``LeafSession`` registers webhooks under ``ALERTS_SERVICE + WEBHOOKS_PATH``
with what :func:`webhook_body` and :func:`webhook_path` build;
``_receiver`` serves deliveries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final, TypeAlias
from urllib.parse import quote

import attrs
import cattrs
from yarl import URL

from ._converter import default_converter
from ._exceptions import ValidationError
from ._fields import masked
from ._models import CredentialStatus
from ._redaction import mask_secrets

__all__ = [
    "ALERTS_SERVICE",
    "CONFIRMATION_MESSAGE",
    "CREDENTIALS_LIMITED_PERMISSION",
    "CREDENTIALS_UNAUTHENTICATED",
    "CREDENTIAL_EVENTS",
    "SIGNATURE_HEADER",
    "WEBHOOKS_PATH",
    "Alert",
    "CredentialAlert",
    "UnknownAlert",
    "Webhook",
    "WebhookConfirmation",
    "delivery_key",
    "mask_secrets",
    "parse_alert",
    "sign",
    "verify_signature",
    "webhook_body",
    "webhook_path",
]

ALERTS_SERVICE: Final = "/services/alerts/api"
WEBHOOKS_PATH: Final = "/alerts/webhooks"
SIGNATURE_HEADER: Final = "X-Leaf-Signature"
CONFIRMATION_MESSAGE: Final = "confirmation of webhook upon registration"

CREDENTIALS_UNAUTHENTICATED: Final = "credentialsUnauthenticated"
CREDENTIALS_LIMITED_PERMISSION: Final = "credentialsLimitedPermission"
CREDENTIAL_EVENTS: Final = frozenset({CREDENTIALS_UNAUTHENTICATED, CREDENTIALS_LIMITED_PERMISSION})

# -- webhook registrations -------------------------------------------------


@attrs.frozen(kw_only=True)
class Webhook:
    """A webhook registered with Leaf's Alerts service.

    Leaf does not document its answer beyond the request's fields, so all but
    ``id`` are optional and unknown keys are ignored.

    Attributes:
        id: The webhook's id.
        name: Its name.
        url: Where Leaf POSTs the alerts.
        events: The event types it receives.
        secret: The signing secret, when Leaf echoes it (prints as ``'***'``).
    """

    id: str
    name: str | None = None
    url: str | None = None
    events: tuple[str, ...] = ()
    secret: str | None = attrs.field(repr=masked, default=None)


def webhook_body(*, name: object, url: object, secret: object, events: object) -> dict[str, Any]:
    """Check a registration and return its JSON body.

    Raises:
        ValidationError: Listing every problem as ``... @ $.field``; never
            the secret or the URL (which may carry a token of its own).
    """
    problems: list[str] = []
    if not isinstance(name, str) or not name.strip():
        problems.append("name must be a non-empty string @ $.name")
    if not _is_http_url(url):
        problems.append("url must be an absolute http:// or https:// URL @ $.url")
    if not isinstance(secret, str) or not secret:
        problems.append("secret must be a non-empty string @ $.secret")
    event_names: list[str] = []
    if isinstance(events, str) or not isinstance(events, Iterable):
        problems.append("events must be a list of event names, not a single string @ $.events")
    else:
        listed = list(events)
        if not listed:
            problems.append("events must name at least one event @ $.events")
        for index, event in enumerate(listed):
            if isinstance(event, str) and event.strip():
                event_names.append(str(event))  # a StrEnum member is sent as its value
            else:
                problems.append(f"an event must be a non-empty string @ $.events[{index}]")
    if problems:
        raise ValidationError("invalid webhook: " + "; ".join(problems), errors=problems)
    return {
        "name": name,
        "url": url,
        "secret": secret,
        # Leaf refuses an event registered twice; the same name twice in one
        # list is never what was meant.
        "events": list(dict.fromkeys(event_names)),
    }


def _is_http_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        url = URL(value)
    except (TypeError, ValueError):
        return False
    return url.scheme in {"http", "https"} and bool(url.host)


def webhook_path(webhook_id: object) -> str:
    """Return ``/alerts/webhooks/{webhook_id}`` with the id percent-encoded as one segment.

    Raises:
        ValidationError: The id is not a non-empty string, is ``.``/``..``,
            or holds a lone surrogate.
    """
    if not isinstance(webhook_id, str):
        raise ValidationError(f"a webhook id must be a string, got {type(webhook_id).__name__}")
    if not webhook_id.strip():
        raise ValidationError("a webhook id must not be empty")
    if webhook_id in {".", ".."}:
        raise ValidationError(f"{webhook_id!r} is not a valid webhook id")
    # As for user ids: safe="" keeps "/", "?", "#" and "%" inside the segment.
    try:
        return f"{WEBHOOKS_PATH}/{quote(webhook_id, safe='')}"
    except UnicodeEncodeError as exc:
        # A lone surrogate has no UTF-8 form, so no URL can carry it.
        raise ValidationError(
            f"a webhook id must be valid Unicode text (a lone surrogate at position {exc.start})"
        ) from None


# -- signatures --------------------------------------------------------------


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else bytes(secret)


def sign(body: bytes, secret: str | bytes) -> str:
    """Return the ``X-Leaf-Signature`` Leaf sends for a body: base64 of its HMAC-SHA256."""
    digest = hmac.digest(_key(secret), body, hashlib.sha256)
    return base64.b64encode(digest).decode("ascii")


def verify_signature(body: bytes, secret: str | bytes, signature: str | None) -> bool:
    """Tell whether ``signature`` is Leaf's signature of the raw ``body``.

    The digests are compared in constant time. Any garbage (no header, a
    value that is not base64, wrong types) is a refusal, never an exception;
    so is an empty secret, which anyone could sign with.

    Args:
        body: The request body exactly as received, before any parsing.
        secret: The webhook's secret (text is UTF-8 encoded).
        signature: The ``X-Leaf-Signature`` header, or None when missing.

    Returns:
        True only for a valid signature.
    """
    # Typed for callers, checked for whatever a framework actually passes.
    raw: object = body
    key: object = secret
    header: object = signature
    if not isinstance(raw, bytes | bytearray | memoryview):
        return False
    if not isinstance(key, str | bytes) or not key:
        return False
    if not isinstance(header, str):
        return False
    try:
        given = base64.b64decode(header.strip().encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return False
    expected = hmac.digest(_key(key), bytes(raw), hashlib.sha256)
    return hmac.compare_digest(expected, given)


# -- deliveries --------------------------------------------------------------


def _keys_repr(value: Mapping[str, Any]) -> str:
    # The whole payload is not printed: Leaf may add fields we cannot vet.
    return "<" + ", ".join(map(str, value)) + ">"


def _credential_repr(value: Any) -> str:
    # Leaf documents an alert's `credential` only as "identifies the client",
    # so what looks secret in it is masked (the one rule of _redaction).
    return repr(mask_secrets(value))


@attrs.frozen(kw_only=True)
class WebhookConfirmation:
    """The message Leaf POSTs once, right after a webhook is registered.

    Attributes:
        message: ``"confirmation of webhook upon registration"``.
        raw: The whole JSON object.
    """

    message: str
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=_keys_repr, hash=False)


@attrs.frozen(kw_only=True)
class CredentialAlert:
    """A credential stopped working: Leaf changed its status.

    Attributes:
        type: ``credentialsUnauthenticated`` or ``credentialsLimitedPermission``.
        provider: The provider, as Leaf names it in the alert; our slug
            (``"john-deere"``) once enriched (``AlertReceiver(enrich=...)``).
        credential_id: The credential's id (``credentialId``).
        status: Its new status.
        timestamp: When Leaf noticed, as an aware UTC datetime.
        message: Leaf's explanation, if any.
        credential: "The client identification", as Leaf sent it: a string
            in Leaf's docs, though any JSON (an object too) is kept as it
            came; values under secret-looking keys print as ``'***'``.
        raw: The whole JSON object, with any field not listed here.
        leaf_user_id: The Leaf user the credential belongs to. Leaf's alert
            does not carry it: ``leaf.credential_owners.enrich`` fills it in
            (None when no user was found).
    """

    type: str
    provider: str
    credential_id: str
    status: CredentialStatus
    timestamp: datetime
    message: str | None = None
    credential: Any = attrs.field(default=None, repr=_credential_repr, hash=False)
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=_keys_repr, hash=False)
    leaf_user_id: str | None = None


@attrs.frozen(kw_only=True)
class UnknownAlert:
    """Any other delivery, kept whole: an event this SDK does not model.

    A credential event missing one of the fields :class:`CredentialAlert`
    needs (or holding one of the wrong type) lands here too, so it is never
    lost.

    Attributes:
        type: The ``type`` field, when it is a string.
        raw: The whole JSON object.
    """

    type: str | None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=_keys_repr, hash=False)


Alert: TypeAlias = CredentialAlert | UnknownAlert | WebhookConfirmation


def parse_alert(body: bytes, *, converter: cattrs.Converter | None = None) -> Alert:
    """Parse a delivery's body into a record.

    Verify the signature first: this trusts the body.

    Args:
        body: The raw request body.
        converter: The cattrs converter for Leaf's JSON; a default
            :func:`make_converter` when not given.

    Raises:
        ValidationError: The body is not a JSON object.
    """
    try:
        data = json.loads(body)
    # RecursionError: deeply nested arrays, which a bounded body still allows.
    except (ValueError, TypeError, RecursionError):
        raise ValidationError(
            f"an alert must be a JSON object; got {len(body)} bytes that are not JSON"
        ) from None
    if not isinstance(data, dict):
        kind = "array" if isinstance(data, list) else "null" if data is None else "scalar"
        raise ValidationError(f"an alert must be a JSON object, got a JSON {kind}")
    return _alert_from_json(data, converter or default_converter())


def _alert_from_json(data: dict[str, Any], converter: cattrs.Converter) -> Alert:
    kind = data.get("type")
    if kind is None and data.get("message") == CONFIRMATION_MESSAGE:
        return WebhookConfirmation(message=CONFIRMATION_MESSAGE, raw=data)
    if not isinstance(kind, str):
        return UnknownAlert(type=None, raw=data)  # a list or an object cannot name an event
    if kind in CREDENTIAL_EVENTS:
        try:
            alert = converter.structure(data, CredentialAlert)
        except (cattrs.BaseValidationError, ValueError, TypeError, KeyError):
            pass  # kept whole below, rather than refused
        else:
            return attrs.evolve(alert, raw=data)
    return UnknownAlert(type=kind, raw=data)


def delivery_key(alert: Alert, body: bytes) -> str | None:
    """Return the key that identifies a delivery across Leaf's retries (None: never dropped).

    A credential alert is identified by its type, credential id and
    timestamp rather than by its bytes, so a retry that re-serializes the
    same event (another key order, other spacing) is still recognized; two
    different status changes of one credential carry different timestamps.
    Any other event is identified by a digest of its body. Confirmations are
    never deduplicated: acknowledging one twice is harmless.
    """
    if isinstance(alert, WebhookConfirmation):
        return None
    if isinstance(alert, CredentialAlert):
        return f"{alert.type}\x00{alert.credential_id}\x00{alert.timestamp.isoformat()}"
    return "sha256:" + hashlib.sha256(body).hexdigest()
