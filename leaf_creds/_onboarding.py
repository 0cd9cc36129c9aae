"""Connecting growers: app-key specs, and the records of app keys, Magic Links and API keys.

Everything here is pure. A provider's :class:`AppKeySpec` (on its
``CredentialResource``) says where Leaf keeps the provider application's own
keys and what they look like; the resources in ``_app_keys``,
``_magic_links`` and ``_api_keys`` send what this module checks and builds,
and decode Leaf's answers into :class:`AppKey`, :class:`MagicLink` and
:class:`ApiKey`.

What Leaf leaves undocumented (see the README's "Connecting growers"),
the SDK is lenient about: every answer field but an id is optional,
unknown keys are ignored, and timestamps with 3, 6 or 9 fractional digits,
with or without a zone, are read as UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final
from urllib.parse import urlencode

import attrs

from ._app_key_spec import AppKeySpec
from ._exceptions import ValidationError
from ._fields import masked

__all__ = [
    "API_KEYS_PATH",
    "APP_KEYS_PATH",
    "LIST_PAGE_SIZE",
    "MAX_EXPIRES_IN",
    "MIN_EXPIRES_IN",
    "WIDGETS_SERVICE",
    "ApiKey",
    "AppKey",
    "AppKeySpec",
    "LinkSettings",
    "MagicLink",
    "check_expires_in",
    "list_query",
]

# Leaf's Magic Links live in their own service; app keys and API keys under
# User Management (the session's `_user_management`).
WIDGETS_SERVICE: Final = "/services/widgets/api"
APP_KEYS_PATH: Final = "/app-keys"
API_KEYS_PATH: Final = "/api-keys"

# Leaf's documented bounds of `expiresIn` for Magic Links and API keys:
# 900 s (15 minutes) up to about a year (the 2023 text says 31536000).
MIN_EXPIRES_IN: Final = 900
MAX_EXPIRES_IN: Final = 365 * 24 * 3600

# These lists are not documented as paged. Leaf's general rule (page, size,
# X-Total-Count, Link) may apply, so the SDK asks for pages of 100; see
# `_service.list_all` for when the walk ends.
LIST_PAGE_SIZE: Final = 100


@attrs.frozen(kw_only=True)
class AppKey:
    """A provider application's keys as Leaf lists them: metadata only.

    Leaf never returns the secrets of app keys, so none are kept here.

    Attributes:
        provider: Leaf's provider name, e.g. ``"JohnDeere"``.
        app_name: The app's name, your own label (e.g. ``"LeafWidget"``).
        client_environment: ``STAGE`` or ``PRODUCTION``; Leaf also fills it
            for providers without environments.
        created_time: When the keys were stored, as an aware UTC datetime.
    """

    provider: str | None = None
    app_name: str | None = None
    # A plain string, not ClientEnvironment: Leaf fills a default for
    # providers without environments, and its docs show placeholders.
    client_environment: str | None = None
    created_time: datetime | None = None


@attrs.frozen(kw_only=True)
class LinkSettings:
    """How a Magic Link's page looks (Leaf's "Link customization").

    Every field is optional; the ones left ``None`` are not sent, and Leaf
    uses its defaults.

    Attributes:
        background_color: A hex colour, e.g. ``"#c0392b"`` (Leaf's default
            ``#F5F5F5``).
        company_logo: The URL of your logo.
        company_name: Your company's name.
        header_image: The URL of a header image.
        show_leaf_user_name: Show the Leaf user's name on the page.
        disconnect_enabled: Let the grower disconnect a provider (provider
            and authentication links only).
    """

    background_color: str | None = None
    company_logo: str | None = None
    company_name: str | None = None
    header_image: str | None = None
    show_leaf_user_name: bool | None = None
    disconnect_enabled: bool | None = None


@attrs.frozen(kw_only=True)
class MagicLink:
    """A Magic Link: a page at Leaf where a grower connects providers.

    Creating one returns only ``id``, ``leaf_user_id``, ``link`` and
    ``expires_at``; a GET or list adds the rest.

    Attributes:
        id: The link's id.
        link: The page's URL; whoever holds it can attach credentials to
            the Leaf user, so hand it only to that grower.
        leaf_user_id: The Leaf user the credentials go to.
        expires_at: When the link stops working.
        created_at: When it was created.
        last_accessed_at: When it was last opened.
        max_usage: How many times it may be used.
        usage_count: How many times it was used.
        widget: ``PROVIDER``, ``AUTHENTICATION`` or ``FILEUPLOAD``.
        allowed_providers: Leaf's names of the providers a provider link
            offers (``"Other"`` or ``"All"`` mean every one).
        provider: The one provider of an authentication link.
        settings: The page's look.
    """

    id: str
    link: str | None = None
    leaf_user_id: str | None = None
    expires_at: datetime | None = None
    created_at: datetime | None = None
    last_accessed_at: datetime | None = None
    max_usage: int | None = None
    usage_count: int | None = None
    widget: str | None = None
    allowed_providers: tuple[str, ...] | None = None
    provider: str | None = None
    settings: LinkSettings | None = None


@attrs.frozen(kw_only=True)
class ApiKey:
    """A Leaf Link API key: lets Leaf's widget act for one Leaf user.

    Creating one answers only ``key``, ``expires_at`` and ``valid`` (no
    id: list the user's keys to find it); a list adds the rest. Revoked keys
    stay in the list with ``valid`` false.

    Attributes:
        key: The key itself, a live secret (``'***'`` in reprs).
        expires_at: When it stops working.
        valid: Whether it still works.
        id: Its id, to revoke it.
        leaf_user_id: The Leaf user it acts for.
        description: Your label.
        revoked_at: When it was revoked.
    """

    key: str | None = attrs.field(default=None, repr=masked)
    expires_at: datetime | None = None
    valid: bool | None = None
    id: str | None = None
    leaf_user_id: str | None = None
    description: str | None = None
    revoked_at: datetime | None = None


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


def list_query(page: int, params: Mapping[str, str] | None = None) -> str:
    """Return the query string of one page of an onboarding list, with its ``?``."""
    return "?" + urlencode({**(params or {}), "page": page, "size": LIST_PAGE_SIZE})
