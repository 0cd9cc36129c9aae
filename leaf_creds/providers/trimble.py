"""Trimble: OAuth client and a grower's refresh token (the legacy PTx API)."""

from __future__ import annotations

import attrs

from .._app_key_spec import AppKeySpec
from .._fields import masked
from .._models import ClientEnvironment, CredentialRecord
from .._oauth_spec import OAuthCall, OAuthContext, OAuthSpec, OAuthTokens
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


# Leaf's helper (onboarding.md §4.2). Its two sources spell the bodies
# differently: the newer docs' keys are sent, and the Postman collection's
# other spelling of the same values alongside (INF: the helper ignores keys
# it does not read). The redirect URL must match the registered one exactly.
HELPER = "https://trimble-oauth2-helper.withleaf.io"


def _authorize(app: TrimbleAppKeys, flow: OAuthContext) -> OAuthCall:
    return OAuthCall(
        url=HELPER + "/get_url",
        json={
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "client_redirect_url": flow.redirect_url,
            "application_name": app.application_name,
        },
    )


def _exchange(app: TrimbleAppKeys, flow: OAuthContext) -> OAuthCall:
    return OAuthCall(
        url=HELPER + "/get_token",
        json={
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "code": flow.code,
            "client_redirect_url": flow.redirect_url,
            "redirect_url": flow.redirect_url,
        },
    )


def _credentials(
    app: TrimbleAppKeys, tokens: OAuthTokens, environment: ClientEnvironment | None
) -> TrimbleCredentials:
    return TrimbleCredentials(
        client_id=app.client_id,
        client_secret=app.client_secret,
        refresh_token=tokens.refresh_token,
    )


TRIMBLE = CredentialResource(
    "trimble",
    TrimbleCredentials,
    TrimbleRecord,
    name="Trimble",
    app_key=AppKeySpec("Trimble", TrimbleAppKeys),
    link_name="Trimble",
    oauth=OAuthSpec(
        app=TrimbleAppKeys,
        authorize=_authorize,
        exchange=_exchange,
        credentials=_credentials,
        hosts=(HELPER,),
    ),
)
