"""Trimble: OAuth client and a grower's refresh token (the legacy PTx API)."""

from __future__ import annotations

import attrs

from .._app_key_spec import AppKeySpec
from .._fields import masked
from .._models import CredentialRecord
from .._resource import CredentialResource
from ._common import TokenMetadata

__all__ = ["TRIMBLE", "TrimbleAppKeys", "TrimbleCredentials", "TrimbleRecord"]


@attrs.frozen(kw_only=True)
class TrimbleCredentials:
    """The body that attaches Trimble credentials to a Leaf user."""

    client_id: str
    client_secret: str = attrs.field(repr=masked)
    refresh_token: str = attrs.field(repr=masked)


@attrs.frozen(kw_only=True)
class TrimbleRecord(CredentialRecord):
    """Trimble credentials as Leaf stores them."""

    token_metadata: TokenMetadata | None = None
    client_id: str | None = None
    client_secret: str | None = attrs.field(repr=masked, default=None)
    access_token: str | None = attrs.field(repr=masked, default=None)
    refresh_token: str | None = attrs.field(repr=masked, default=None)


@attrs.frozen(kw_only=True)
class TrimbleAppKeys:
    """Trimble's application keys."""

    application_name: str
    client_id: str
    client_secret: str = attrs.field(repr=masked)


TRIMBLE = CredentialResource(
    "trimble",
    TrimbleCredentials,
    TrimbleRecord,
    name="Trimble",
    app_key=AppKeySpec("Trimble", TrimbleAppKeys),
    link_name="Trimble",
)
