"""Raven: OAuth client and a grower's refresh token."""

from __future__ import annotations

import attrs

from .._fields import masked
from .._models import CredentialRecord
from .._resource import CredentialResource
from ._common import TokenMetadata

__all__ = ["RAVEN", "RavenCredentials", "RavenRecord"]


@attrs.frozen(kw_only=True)
class RavenCredentials:
    """The body that attaches Raven credentials to a Leaf user."""

    client_id: str
    client_secret: str = attrs.field(repr=masked)
    refresh_token: str = attrs.field(repr=masked)


@attrs.frozen(kw_only=True)
class RavenRecord(CredentialRecord):
    """Raven credentials as Leaf stores them."""

    token_metadata: TokenMetadata | None = None
    client_id: str | None = None
    client_secret: str | None = attrs.field(repr=masked, default=None)
    refresh_token: str | None = attrs.field(repr=masked, default=None)
    access_token: str | None = attrs.field(repr=masked, default=None)


RAVEN = CredentialResource("raven", RavenCredentials, RavenRecord, name="Raven")
