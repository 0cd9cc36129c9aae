"""Field conventions for credential schemas and records: secrets and wire names.

A schema or record is a plain attrs class, typed with ordinary
``attrs.field`` calls so mypy's attrs support sees every default. Two facts
about a field matter to leaf_creds:

- a secret is declared with ``attrs.field(repr=masked)``: its value shows as
  ``'***'`` in reprs and is masked in CLI output;
- a JSON key that is not the camelCase of the attribute name is declared
  with ``attrs.field(metadata=wire("apid"))``.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

__all__ = ["MASK", "camel_case", "is_secret", "masked", "wire", "wire_name"]

MASK = "***"
_META_KEY = "leaf_creds.wire"

# Used only for plain attrs classes whose author said nothing: a field whose
# name looks like a secret is treated as one (masking too much is the safe error).
# `token_metadata` (scopes), `client_key` (an app id) and `public_key` are
# not secrets; `access_token_client`, `api_key` and `subscription_key` are.
_SECRET_NAME = re.compile(
    r"password|secret|private|initialization_vector|(^|_)token$|_token_"
    r"|^key$|(?<!client)(?<!public)_key$"
)
_CAMEL_BOUNDARY = re.compile(r"_([a-z0-9])")


def masked(value: object) -> str:
    """Return the repr of a secret value: ``'***'``, or ``None`` when unset.

    Pass it as ``attrs.field(repr=masked)`` to declare a field secret.
    """
    return "None" if value is None else repr(MASK)


def wire(name: str) -> dict[str, Any]:
    """Return field metadata naming the field's JSON key on Leaf's wire.

    Use it as ``attrs.field(metadata=wire("apid"))`` when the key is not the
    camelCase of the attribute name.
    """
    return {_META_KEY: name}


def is_secret(attribute: attrs.Attribute[Any]) -> bool:
    """Tell whether a field holds a secret.

    A field declared with ``repr=masked`` or hidden from its repr is one; so
    is a field whose name looks like a secret (``password``, ``*_token``,
    ``*_key``...), in case its author forgot.
    """
    return attribute.repr is not True or bool(_SECRET_NAME.search(attribute.name))


def camel_case(name: str) -> str:
    """Return the camelCase of a snake_case attribute name."""
    return _CAMEL_BOUNDARY.sub(lambda match: match.group(1).upper(), name)


def wire_name(attribute: attrs.Attribute[Any]) -> str:
    """Return the JSON key of a field on Leaf's wire."""
    name: str | None = attribute.metadata.get(_META_KEY)
    return name or camel_case(attribute.name)

