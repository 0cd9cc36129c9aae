"""Leaf's ``expiresIn``: how long a Magic Link or an API key works, checked before it is sent.

Pure: ``_magic_links`` and ``_api_keys`` share it (and the CLI's ``invite``
checks its ``--expires-in`` with it).
"""

from __future__ import annotations

from typing import Final

from ._exceptions import ValidationError

__all__ = ["MAX_EXPIRES_IN", "MIN_EXPIRES_IN", "check_expires_in"]

# Leaf's documented bounds of `expiresIn` for Magic Links and API keys:
# 900 s (15 minutes) up to about a year (the 2023 text says 31536000).
MIN_EXPIRES_IN: Final = 900
MAX_EXPIRES_IN: Final = 365 * 24 * 3600


def check_expires_in(value: object) -> int | None:
    """Return ``value`` if it is a lifetime Leaf accepts, in seconds.

    Raises:
        ValidationError: It is not ``None`` or an int from 900 (15 minutes)
            to 31536000 (a year).
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"expires_in must be an int of seconds, got {value!r}")
    if not MIN_EXPIRES_IN <= value <= MAX_EXPIRES_IN:
        raise ValidationError(
            f"expires_in must be from {MIN_EXPIRES_IN} (15 minutes) to {MAX_EXPIRES_IN} "
            f"(a year) seconds, got {value}"
        )
    return value
