"""FarmEngage: PTx/AGCO's OAuth client (AGCO ID) and a grower's refresh token.

Leaf's table lists the create fields without saying which are required.
Assumption: all three are, as Leaf's FarmEngage guide needs each of them
(an AGCO client id and secret, and a grower's refresh token), like Trimble.
The response is undocumented: the record takes the create fields plus the
usual OAuth ones, all optional.
"""

from __future__ import annotations

import attrs

from .._app_key_spec import AppKeySpec
from .._fields import masked
from .._models import CredentialRecord
from .._oauth_spec import OAuthSpec
from .._resource import CredentialResource
from ._common import TokenMetadata

__all__ = ["FARM_ENGAGE", "FarmEngageAppKeys", "FarmEngageCredentials", "FarmEngageRecord"]


@attrs.frozen(kw_only=True)
class FarmEngageCredentials:
    """The body that attaches FarmEngage credentials to a Leaf user."""

    client_id: str
    client_secret: str = attrs.field(repr=masked)
    refresh_token: str = attrs.field(repr=masked)


@attrs.frozen(kw_only=True)
class FarmEngageRecord(CredentialRecord):
    """FarmEngage credentials as Leaf stores them (response undocumented)."""

    token_metadata: TokenMetadata | None = None
    client_id: str | None = None
    client_secret: str | None = attrs.field(repr=masked, default=None)
    access_token: str | None = attrs.field(repr=masked, default=None)
    refresh_token: str | None = attrs.field(repr=masked, default=None)


@attrs.frozen(kw_only=True)
class FarmEngageAppKeys:
    """FarmEngage's application keys (AGCO ID).

    Leaf documents only the POST path; the body is taken to be an OAuth
    client (INF).
    """

    client_id: str
    client_secret: str = attrs.field(repr=masked)


FARM_ENGAGE = CredentialResource(
    "farm-engage",
    FarmEngageCredentials,
    FarmEngageRecord,
    name="FarmEngage",
    app_key=AppKeySpec("FarmEngage", FarmEngageAppKeys),
    link_name=None,
    oauth=OAuthSpec.undocumented(
        "Leaf does not document FarmEngage's OAuth helper (its host and paths could not be "
        "read), so leaf_creds cannot run its flow"
    ),
)
