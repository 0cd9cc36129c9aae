"""What the command line prints: JSON on stdout, secrets masked by field metadata."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import IO, Any

import attrs
import cattrs

from .. import (
    MASK,
    Create,
    CredentialResource,
    Delete,
    Events,
    Get,
    Operation,
    Outcome,
    Replace,
    is_secret,
)
from .._fields import wire_name
from .._redaction import mask_text

__all__ = [
    "OP_NAMES",
    "JsonLines",
    "error_json",
    "events_json",
    "outcome_json",
    "provider_slug",
    "read_error",
    "record_json",
    "result_json",
]

OP_NAMES: dict[type[Operation], str] = {
    Create: "create",
    Replace: "replace",
    Delete: "delete",
    Get: "get",
    Events: "events",
}


_SECRET_KEYS: dict[type[Any], tuple[str, ...]] = {}


def _secret_keys(record_type: type[Any]) -> tuple[str, ...]:
    """The wire keys of a record type's secret fields (masked unless asked)."""
    keys = _SECRET_KEYS.get(record_type)
    if keys is None:
        keys = tuple(wire_name(a) for a in attrs.fields(record_type) if is_secret(a))
        _SECRET_KEYS[record_type] = keys
    return keys


def record_json(
    record: Any, converter: cattrs.Converter, *, show_secrets: bool
) -> dict[str, Any]:
    """Return a record as Leaf's camelCase JSON, its secret fields as ``"***"``."""
    data: dict[str, Any] = converter.unstructure(record, type(record))
    if not show_secrets:
        for key in _secret_keys(type(record)):
            if data.get(key) is not None:
                data[key] = MASK
    return data


def error_json(error: BaseException) -> dict[str, Any]:
    """Return ``{"type", "status", "message"}`` for a failed operation.

    Our exceptions' messages never hold a secret (see ``_exceptions.py``).
    """
    status = getattr(error, "status", None)
    return {
        "type": type(error).__name__,
        "status": status if isinstance(status, int) else None,
        "message": str(error),
    }


def read_error(what: str, exc: OSError | UnicodeDecodeError) -> str:
    """Return ``"cannot read WHAT: REASON"``, the one form of every unreadable input file.

    The reason is the system's words (``No such file or directory``), without
    Python's exception name or errno, which mean nothing to a command-line user.
    """
    if isinstance(exc, UnicodeDecodeError):
        reason = "not UTF-8 text"
    else:
        reason = exc.strerror or type(exc).__name__
    return f"cannot read {what}: {reason}"


def provider_slug(provider: str | CredentialResource[Any, Any]) -> str:
    """Return the slug of a provider given as a slug or a resource."""
    return provider.slug if isinstance(provider, CredentialResource) else provider


def result_json(
    value: Any, converter: cattrs.Converter, *, show_secrets: bool
) -> dict[str, Any]:
    """Return an operation's value as the ``result`` object of its outcome."""
    # A record: a CredentialRecord, or any attrs class of a provider of one's own.
    if attrs.has(type(value)):
        return record_json(value, converter, show_secrets=show_secrets)
    if isinstance(value, list):
        return {"events": events_json(value, converter, show_secrets=show_secrets)}
    return {}


# The fields of a troubleshooting-log entry that hold a provider's answer.
_EVENT_TEXTS = ("body", "headers")


def events_json(
    events: list[Any], converter: cattrs.Converter, *, show_secrets: bool
) -> list[dict[str, Any]]:
    """Return a credential's events as Leaf's JSON, secrets in ``body`` and ``headers`` masked.

    Leaf's troubleshooting log records providers' answers as text, which can
    hold an ``access_token``, a ``refresh_token`` or an ``Authorization``
    header; those values print as ``"***"`` unless ``show_secrets``.
    """
    data: list[dict[str, Any]] = converter.unstructure(events)
    if show_secrets:
        return data
    for event in data:
        for key in _EVENT_TEXTS:
            if isinstance(event.get(key), str):
                event[key] = mask_text(event[key])
    return data


def outcome_json(
    outcome: Outcome,
    converter: cattrs.Converter,
    *,
    show_secrets: bool,
    line: int | None = None,
) -> dict[str, Any]:
    """Return one outcome as the JSON object that ``apply`` writes."""
    operation = outcome.operation
    data: dict[str, Any] = {} if line is None else {"line": line}
    data["op"] = OP_NAMES.get(type(operation), type(operation).__name__.lower())
    data["provider"] = provider_slug(operation.provider)
    data["leafUserId"] = operation.user_id
    data["ok"] = outcome.error is None
    data["attempts"] = outcome.attempts
    if outcome.error is None:
        data["result"] = result_json(outcome.value, converter, show_secrets=show_secrets)
    else:
        data["error"] = error_json(outcome.error)
    return data


class JsonLines:
    """Write JSON objects one per line, each flushed at once (a crash loses nothing)."""

    def __init__(self, stream: IO[str]) -> None:
        self._write: Callable[[str], object] = stream.write
        self._flush = stream.flush

    def write(self, data: Any) -> None:
        self._write(json.dumps(data) + "\n")
        self._flush()
