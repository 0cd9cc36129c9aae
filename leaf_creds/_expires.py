"""Leaf's ``expiresIn``: how long a Magic Link or an API key works, checked before it is sent.

Pure: ``_magic_links`` and ``_api_keys`` share it (and the CLI's ``invite``
checks its ``--expires-in`` with it).
"""

from __future__ import annotations

from typing import Final

from ._exceptions import ValidationError

__all__ = ["MAX_EXPIRES_IN", "MIN_EXPIRES_IN", "check_expires_in"]

# Leaf documents a minimum of 900 s (15 minutes) for both. Only Magic Links
# have a maximum, about a year (the 2023 text says 31536000); API keys have
# none (a year is their default), so they are checked with capped=False.
MIN_EXPIRES_IN: Final = 900
MAX_EXPIRES_IN: Final = 365 * 24 * 3600


def check_expires_in(value: object, *, capped: bool = True) -> int | None:
    """Return ``value`` if it is a lifetime Leaf accepts, in seconds.

    Args:
        value: The lifetime, or None for Leaf's default.
        capped: Whether Leaf caps it at a year (Magic Links); API keys
            have no documented maximum.

    Raises:
        ValidationError: It is not ``None`` or an int of at least 900 (15
            minutes), and at most 31536000 (a year) when capped.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"expires_in must be an int of seconds, got {value!r}")
    if capped and not MIN_EXPIRES_IN <= value <= MAX_EXPIRES_IN:
        raise ValidationError(
            f"expires_in must be from {MIN_EXPIRES_IN} (15 minutes) to {MAX_EXPIRES_IN} "
            f"(a year) seconds, got {value}"
        )
    if value < MIN_EXPIRES_IN:
        raise ValidationError(
            f"expires_in must be at least {MIN_EXPIRES_IN} (15 minutes) seconds, got {value}"
        )
    return value
