"""John Deere: OAuth application key and secret with a grower's refresh token."""

from __future__ import annotations

import attrs

from .._app_key_spec import AppKeySpec
from .._fields import masked
from .._models import ClientEnvironment, CredentialRecord
from .._oauth_spec import OAuthCall, OAuthContext, OAuthSpec, OAuthTokens
from .._resource import CredentialResource, to_client_environment
from ._common import TokenMetadata, scopes

__all__ = ["JOHN_DEERE", "JohnDeereAppKeys", "JohnDeereCredentials", "JohnDeereRecord"]


@attrs.frozen(kw_only=True)
class JohnDeereCredentials:
    """The body that attaches John Deere credentials to a Leaf user."""

    # The application's client id, which John Deere calls a key.
    client_key: str
    client_secret: str = attrs.field(repr=masked)
    refresh_token: str = attrs.field(repr=masked)
    client_environment: ClientEnvironment = attrs.field(converter=to_client_environment)


@attrs.frozen(kw_only=True)
class JohnDeereRecord(CredentialRecord):
    """John Deere credentials as Leaf stores them."""

    token_metadata: TokenMetadata | None = None
    client_key: str | None = None
    client_secret: str | None = attrs.field(repr=masked, default=None)
    access_token: str | None = attrs.field(repr=masked, default=None)
    refresh_token: str | None = attrs.field(repr=masked, default=None)
    client_environment: ClientEnvironment | None = None


@attrs.frozen(kw_only=True)
class JohnDeereAppKeys:
    """John Deere's application keys, per client environment."""

    # John Deere's "Application Id".
    client_key: str
    # John Deere's "Secret".
    client_secret: str = attrs.field(repr=masked)
    # Leaf product scopes (FIELDS:READ...); unset, Leaf grants its default.
    scopes: tuple[str, ...] | None = attrs.field(default=None, converter=scopes)


# Leaf's helper (onboarding.md §4.2): camelCase bodies. The Postman
# collection sends the Leaf token on get_token; Leaf's newer docs send none,
# and none is sent (INF: the helper needs no Leaf auth).
HELPER = "https://johndeere-oauth2-helper.withleaf.io"


def _authorize(app: JohnDeereAppKeys, flow: OAuthContext) -> OAuthCall:
    return OAuthCall(
        url=HELPER + "/get_url",
        json={
            "clientKey": app.client_key,
            "clientSecret": app.client_secret,
            "clientRedirectUrl": flow.redirect_url,
        },
    )


def _exchange(app: JohnDeereAppKeys, flow: OAuthContext) -> OAuthCall:
    return OAuthCall(
        url=HELPER + "/get_token",
        json={
            "clientKey": app.client_key,
            "clientSecret": app.client_secret,
            "responseUrl": flow.response_url,
            "clientRedirectUrl": flow.redirect_url,
        },
    )


def _credentials(
    app: JohnDeereAppKeys, tokens: OAuthTokens, environment: ClientEnvironment | None
) -> JohnDeereCredentials:
    assert environment is not None  # required by the spec
    return JohnDeereCredentials(
        client_key=app.client_key,
        client_secret=app.client_secret,
        refresh_token=tokens.refresh_token,
        client_environment=environment,
    )


JOHN_DEERE = CredentialResource(
    "john-deere",
    JohnDeereCredentials,
    JohnDeereRecord,
    name="John Deere",
    app_key=AppKeySpec("JohnDeere", JohnDeereAppKeys, per_environment=True),
    link_name="JohnDeere",
    oauth=OAuthSpec(
        app=JohnDeereAppKeys,
        client_id="client_key",
        authorize=_authorize,
        exchange=_exchange,
        credentials=_credentials,
        hosts=(HELPER,),
        environments=True,
    ),
)
