"""Pieces that several providers' records share."""

from __future__ import annotations

import attrs

__all__ = ["TokenMetadata"]


@attrs.frozen(kw_only=True)
class TokenMetadata:
    """What Leaf tells about an OAuth provider's token.

    Attributes:
        scopes: The scopes the provider granted; empty when Leaf sent none.
    """

    # A tuple keeps the record frozen and hashable; JSON lists become tuples.
    scopes: tuple[str, ...] = ()
