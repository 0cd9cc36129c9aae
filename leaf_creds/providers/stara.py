"""Stara: API key with the grower's and the client's tokens."""

from __future__ import annotations

import attrs

from .._fields import masked
from .._models import CredentialRecord
from .._resource import CredentialResource

__all__ = ["STARA", "StaraCredentials", "StaraRecord"]


@attrs.frozen(kw_only=True)
class StaraCredentials:
    """The body that attaches Stara credentials to a Leaf user."""

    api_key: str = attrs.field(repr=masked)
    access_token: str = attrs.field(repr=masked)
    access_token_client: str = attrs.field(repr=masked)
    refresh_token: str = attrs.field(repr=masked)


@attrs.frozen(kw_only=True)
class StaraRecord(CredentialRecord):
    """Stara credentials as Leaf stores them."""

    access_token_client: str | None = attrs.field(repr=masked, default=None)
    refresh_token: str | None = attrs.field(repr=masked, default=None)
    access_token: str | None = attrs.field(repr=masked, default=None)
    api_key: str | None = attrs.field(repr=masked, default=None)


STARA = CredentialResource("stara", StaraCredentials, StaraRecord, name="Stara")
