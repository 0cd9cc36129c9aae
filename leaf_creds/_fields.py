"""Field metadata for credential schemas and records: secrets and wire names.

A schema or record is a plain attrs class. Two facts about a field matter to
leaf_creds, and both live in the field's metadata under one key so that no
other library's metadata is disturbed:

- ``secret``: the value is masked as ``'***'`` in reprs and in CLI output.
- ``wire``: the JSON key on Leaf's wire, when it is not the camelCase of the
  attribute name.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

__all__ = ["MASK", "field", "is_secret", "secret_repr", "wire_name"]

MASK = "***"
_META_KEY = "leaf_creds"

# Used only for plain attrs classes whose author said nothing: a field whose
# name looks like a secret is treated as one (masking too much is the safe error).
_SECRET_NAME = re.compile(
    r"(password|secret|token|(^|_)key$|api_key|private|initialization_vector|credential)"
)
_CAMEL_BOUNDARY = re.compile(r"_([a-z0-9])")


def secret_repr(value: object) -> str:
    """Return the repr of a secret value: ``'***'``, or ``None`` when unset."""
    return "None" if value is None else repr(MASK)


def field(
    *,
    secret: bool = False,
    wire: str | None = None,
    default: Any = attrs.NOTHING,
    **kwargs: Any,
) -> Any:
    """Return an attrs field carrying leaf_creds metadata.

    Args:
        secret: Mask the value in reprs and CLI output.
        wire: The JSON key on Leaf's wire, when not the camelCase of the name.
        default: The attribute's default; without one the field is required.
        **kwargs: Passed on to :func:`attrs.field`.
    """
    metadata = dict(kwargs.pop("metadata", None) or {})
    metadata[_META_KEY] = {"secret": secret, "wire": wire}
    if secret:
        kwargs.setdefault("repr", secret_repr)
    return attrs.field(default=default, metadata=metadata, **kwargs)


def _options(attribute: attrs.Attribute[Any]) -> dict[str, Any]:
    options: dict[str, Any] = attribute.metadata.get(_META_KEY, {})
    return options


def is_secret(attribute: attrs.Attribute[Any]) -> bool:
    """Tell whether a field holds a secret.

    An explicit ``field(secret=...)`` decides; otherwise a field hidden from
    its repr, or one whose name looks like a secret, counts as one.
    """
    options = _options(attribute)
    if "secret" in options and (options["secret"] or attribute.repr is True):
        return bool(options["secret"])
    return attribute.repr is not True or bool(_SECRET_NAME.search(attribute.name))


def camel_case(name: str) -> str:
    """Return the camelCase of a snake_case attribute name."""
    return _CAMEL_BOUNDARY.sub(lambda match: match.group(1).upper(), name)


def wire_name(attribute: attrs.Attribute[Any]) -> str:
    """Return the JSON key of a field on Leaf's wire."""
    wire: str | None = _options(attribute).get("wire")
    return wire or camel_case(attribute.name)
