"""Raven: OAuth client and a grower's refresh token."""

from __future__ import annotations

import attrs

from .._fields import masked
from .._models import ClientEnvironment, CredentialRecord
from .._oauth_spec import OAuthCall, OAuthContext, OAuthSpec, OAuthTokens
from .._resource import CredentialResource
from ._common import TokenMetadata

__all__ = ["RAVEN", "RavenAppKeys", "RavenCredentials", "RavenRecord"]


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


@attrs.frozen(kw_only=True)
class RavenAppKeys:
    """Raven's OAuth application, for ``leaf.oauth`` (Leaf stores no Raven app keys)."""

    client_id: str
    client_secret: str = attrs.field(repr=masked)


# Leaf's helper (onboarding.md §4.2, the Postman collection): snake_case
# bodies; step 2 takes the code itself, not the redirect URL.
HELPER = "https://raven-oauth2-helper.withleaf.io"


def _authorize(app: RavenAppKeys, flow: OAuthContext) -> OAuthCall:
    return OAuthCall(
        url=HELPER + "/get_url",
        json={"client_id": app.client_id, "client_redirect_url": flow.redirect_url},
    )


def _exchange(app: RavenAppKeys, flow: OAuthContext) -> OAuthCall:
    return OAuthCall(
        url=HELPER + "/get_token",
        json={
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "redirect_url": flow.redirect_url,
            "code": flow.code,
        },
    )


def _credentials(
    app: RavenAppKeys, tokens: OAuthTokens, environment: ClientEnvironment | None
) -> RavenCredentials:
    return RavenCredentials(
        client_id=app.client_id,
        client_secret=app.client_secret,
        refresh_token=tokens.refresh_token,
    )


RAVEN = CredentialResource(
    "raven",
    RavenCredentials,
    RavenRecord,
    name="Raven",
    oauth=OAuthSpec(
        app=RavenAppKeys,
        authorize=_authorize,
        exchange=_exchange,
        credentials=_credentials,
        hosts=(HELPER,),
    ),
)
