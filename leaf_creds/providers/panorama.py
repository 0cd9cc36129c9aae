"""Panorama (Precision Planting): Cognito client, login, organization and token.

Leaf's table lists the create fields without saying which are required.
Assumption: all six are. Leaf's manual-creation guide sends every one of
them, and documents no default for ``clientEnvironment``; requiring it
avoids silently attaching a production grower to STAGE.
"""

from __future__ import annotations

import attrs

from .._fields import masked
from .._models import ClientEnvironment, CredentialRecord
from .._oauth_spec import OAuthSpec
from .._resource import CredentialResource, to_client_environment

__all__ = ["PANORAMA", "PanoramaCredentials", "PanoramaRecord"]


@attrs.frozen(kw_only=True)
class PanoramaCredentials:
    """The body that attaches Panorama credentials to a Leaf user."""

    client_id: str
    username: str
    password: str = attrs.field(repr=masked)
    organization_code: str
    refresh_token: str = attrs.field(repr=masked)
    client_environment: ClientEnvironment = attrs.field(converter=to_client_environment)


@attrs.frozen(kw_only=True)
class PanoramaRecord(CredentialRecord):
    """Panorama credentials as Leaf stores them."""

    client_id: str | None = None
    username: str | None = None
    organization_code: str | None = None
    client_environment: ClientEnvironment | None = None
    access_token: str | None = attrs.field(repr=masked, default=None)
    refresh_token: str | None = attrs.field(repr=masked, default=None)


PANORAMA = CredentialResource(
    "panorama",
    PanoramaCredentials,
    PanoramaRecord,
    name="Panorama",
    oauth=OAuthSpec.undocumented(
        "Panorama connects through Leaf's one-click integration (POST /users/{id}/"
        "one-click-integration/Panorama, then the grower authorizes in the Panorama Portal), "
        "whose answer Leaf does not document, so leaf_creds does not run it"
    ),
)
