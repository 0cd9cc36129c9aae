"""Pieces that several providers' records share."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

__all__ = ["TokenMetadata", "scopes"]


@attrs.frozen(kw_only=True)
class TokenMetadata:
    """What Leaf tells about an OAuth provider's token.

    Attributes:
        scopes: The scopes the provider granted; empty when Leaf sent none.
    """

    # A tuple keeps the record frozen and hashable; JSON lists become tuples.
    scopes: tuple[str, ...] = ()


def scopes(value: Iterable[str] | None) -> tuple[str, ...] | None:
    """Return app-key scopes as a tuple: a list given in Python, as JSON lists become."""
    return None if value is None else tuple(value)
