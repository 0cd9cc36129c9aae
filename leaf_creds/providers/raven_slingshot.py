"""Raven Slingshot: API key, access key and shared secret."""

from __future__ import annotations

import attrs

from .._app_key_spec import AppKeySpec
from .._fields import masked
from .._models import CredentialRecord
from .._resource import CredentialResource

__all__ = [
    "RAVEN_SLINGSHOT",
    "RavenSlingshotAppKeys",
    "RavenSlingshotCredentials",
    "RavenSlingshotRecord",
]


@attrs.frozen(kw_only=True)
class RavenSlingshotCredentials:
    """The body that attaches Raven Slingshot credentials to a Leaf user."""

    api_key: str = attrs.field(repr=masked)
    access_key: str = attrs.field(repr=masked)
    shared_secret: str = attrs.field(repr=masked)


@attrs.frozen(kw_only=True)
class RavenSlingshotRecord(CredentialRecord):
    """Raven Slingshot credentials as Leaf stores them."""

    api_key: str | None = attrs.field(repr=masked, default=None)
    access_key: str | None = attrs.field(repr=masked, default=None)
    # Leaf may or may not send it back.
    shared_secret: str | None = attrs.field(repr=masked, default=None)


@attrs.frozen(kw_only=True)
class RavenSlingshotAppKeys:
    """Raven Slingshot's application keys.

    The grower still types their own access key in Leaf's page.
    """

    api_key: str = attrs.field(repr=masked)
    shared_secret: str = attrs.field(repr=masked)


RAVEN_SLINGSHOT = CredentialResource(
    "raven-slingshot",
    RavenSlingshotCredentials,
    RavenSlingshotRecord,
    name="Raven Slingshot",
    app_key=AppKeySpec("RavenSlingshot", RavenSlingshotAppKeys),
    link_name="RavenSlingshot",
)
