"""Agrimatics: OAuth client with an access token.

Leaf's table lists the create fields without saying which are required.
Assumption: all four are. Leaf's Postman example sends every one of them,
and no default is documented for ``clientEnvironment``; requiring it avoids
silently attaching a production account to STAGE. The response is
undocumented: the record takes the create fields plus the usual OAuth ones,
all optional.
"""

from __future__ import annotations

import attrs

from .._fields import masked
from .._models import ClientEnvironment, CredentialRecord
from .._resource import CredentialResource, to_client_environment
from ._common import TokenMetadata

__all__ = ["AGRIMATICS", "AgrimaticsCredentials", "AgrimaticsRecord"]


@attrs.frozen(kw_only=True)
class AgrimaticsCredentials:
    """The body that attaches Agrimatics credentials to a Leaf user."""

    client_id: str
    client_secret: str = attrs.field(repr=masked)
    access_token: str = attrs.field(repr=masked)
    client_environment: ClientEnvironment = attrs.field(converter=to_client_environment)


@attrs.frozen(kw_only=True)
class AgrimaticsRecord(CredentialRecord):
    """Agrimatics credentials as Leaf stores them (response undocumented)."""

    token_metadata: TokenMetadata | None = None
    client_id: str | None = None
    client_secret: str | None = attrs.field(repr=masked, default=None)
    access_token: str | None = attrs.field(repr=masked, default=None)
    refresh_token: str | None = attrs.field(repr=masked, default=None)
    client_environment: ClientEnvironment | None = None


AGRIMATICS = CredentialResource(
    "agrimatics", AgrimaticsCredentials, AgrimaticsRecord, name="Agrimatics"
)
