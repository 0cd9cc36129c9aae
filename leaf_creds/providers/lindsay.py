"""Lindsay: OAuth client and a grower's refresh token."""

from __future__ import annotations

import attrs

from .._app_key_spec import AppKeySpec
from .._fields import masked
from .._models import ClientEnvironment, CredentialRecord
from .._oauth_spec import OAuthCall, OAuthContext, OAuthSpec, OAuthTokens
from .._resource import CredentialResource, to_client_environment
from ._common import TokenMetadata

__all__ = ["LINDSAY", "LindsayAppKeys", "LindsayCredentials", "LindsayRecord"]


@attrs.frozen(kw_only=True)
class LindsayCredentials:
    """The body that attaches Lindsay credentials to a Leaf user."""

    client_id: str
    client_secret: str = attrs.field(repr=masked)
    refresh_token: str = attrs.field(repr=masked)
    client_environment: ClientEnvironment = attrs.field(converter=to_client_environment)


@attrs.frozen(kw_only=True)
class LindsayRecord(CredentialRecord):
    """Lindsay credentials as Leaf stores them."""

    token_metadata: TokenMetadata | None = None
    client_id: str | None = None
    client_secret: str | None = attrs.field(repr=masked, default=None)
    client_environment: ClientEnvironment | None = None
    access_token: str | None = attrs.field(repr=masked, default=None)
    refresh_token: str | None = attrs.field(repr=masked, default=None)


@attrs.frozen(kw_only=True)
class LindsayAppKeys:
    """Lindsay's application keys, for Leaf Link.

    Leaf names the fields but not the segment (``Lindsay`` is INF), nor an
    environment; Magic Links are not documented for Lindsay.
    """

    client_id: str
    client_secret: str = attrs.field(repr=masked)


# Leaf's helper (onboarding.md §4.2), PKCE: step 1 answers `signInUrl` and
# `codeVerifier`, which step 2 sends back with the whole redirect URL.
HELPER = "https://oauth2-helper.withleaf.io"


def _authorize(app: LindsayAppKeys, flow: OAuthContext) -> OAuthCall:
    assert flow.environment is not None  # required by the spec
    return OAuthCall(
        url=HELPER + "/lindsay/url",
        json={
            "clientId": app.client_id,
            "redirectUri": flow.redirect_url,
            "environment": flow.environment.value,
        },
    )


def _exchange(app: LindsayAppKeys, flow: OAuthContext) -> OAuthCall:
    assert flow.environment is not None
    return OAuthCall(
        url=HELPER + "/lindsay/token",
        json={
            "clientId": app.client_id,
            "clientSecret": app.client_secret,
            "redirectUri": flow.redirect_url,
            "responseUrl": flow.response_url,
            "codeVerifier": flow.code_verifier,
            "environment": flow.environment.value,
        },
    )


def _credentials(
    app: LindsayAppKeys, tokens: OAuthTokens, environment: ClientEnvironment | None
) -> LindsayCredentials:
    assert environment is not None
    return LindsayCredentials(
        client_id=app.client_id,
        client_secret=app.client_secret,
        refresh_token=tokens.refresh_token,
        client_environment=environment,
    )


LINDSAY = CredentialResource(
    "lindsay",
    LindsayCredentials,
    LindsayRecord,
    name="Lindsay",
    app_key=AppKeySpec("Lindsay", LindsayAppKeys),
    link_name=None,
    oauth=OAuthSpec(
        app=LindsayAppKeys,
        authorize=_authorize,
        exchange=_exchange,
        credentials=_credentials,
        hosts=(HELPER,),
        environments=True,
    ),
)
