"""Climate FieldView: OAuth client, API key and a grower's refresh token."""

from __future__ import annotations

import attrs

from .._app_key_spec import AppKeySpec
from .._fields import masked
from .._models import ClientEnvironment, CredentialRecord
from .._oauth_spec import OAuthCall, OAuthContext, OAuthSpec, OAuthTokens
from .._resource import CredentialResource
from ._common import TokenMetadata, scopes

__all__ = [
    "CLIMATE_FIELD_VIEW",
    "ClimateFieldViewAppKeys",
    "ClimateFieldViewCredentials",
    "ClimateFieldViewRecord",
]


@attrs.frozen(kw_only=True)
class ClimateFieldViewCredentials:
    """The body that attaches Climate FieldView credentials to a Leaf user."""

    client_id: str
    client_secret: str = attrs.field(repr=masked)
    api_key: str = attrs.field(repr=masked)
    refresh_token: str = attrs.field(repr=masked)


@attrs.frozen(kw_only=True)
class ClimateFieldViewRecord(CredentialRecord):
    """Climate FieldView credentials as Leaf stores them."""

    token_metadata: TokenMetadata | None = None
    client_id: str | None = None
    client_secret: str | None = attrs.field(repr=masked, default=None)
    api_key: str | None = attrs.field(repr=masked, default=None)
    refresh_token: str | None = attrs.field(repr=masked, default=None)
    access_token: str | None = attrs.field(repr=masked, default=None)


@attrs.frozen(kw_only=True)
class ClimateFieldViewAppKeys:
    """Climate FieldView's application keys."""

    api_key: str = attrs.field(repr=masked)
    client_id: str
    client_secret: str = attrs.field(repr=masked)
    # Leaf product scopes (FIELDS:READ...); unset, Leaf grants its default.
    # Documented for POST; sent on PUT too when set (INF).
    scopes: tuple[str, ...] | None = attrs.field(default=None, converter=scopes)


# Step 1 is Leaf's helper (snake_case body; `pass_through` is echoed back as
# the state), step 2 Climate's own token endpoint (onboarding.md §4.2). The
# scopes are Climate's (`fields:read`...), not the app keys' Leaf scopes.
HELPER = "https://cfv-oauth2-helper.withleaf.io"
CLIMATE = "https://api.climate.com"


def _authorize(app: ClimateFieldViewAppKeys, flow: OAuthContext) -> OAuthCall:
    body: dict[str, object] = {
        "client_id": app.client_id,
        "redirect_uri": flow.redirect_url,
        "pass_through": flow.state,
    }
    if flow.scopes is not None:
        body["scope"] = list(flow.scopes)
    return OAuthCall(url=HELPER + "/url", json=body)


def _exchange(app: ClimateFieldViewAppKeys, flow: OAuthContext) -> OAuthCall:
    return OAuthCall(
        url=CLIMATE + "/api/oauth/token",
        form={
            "grant_type": "authorization_code",
            "code": flow.code,
            "redirect_uri": flow.redirect_url,
        },
        basic=(app.client_id, app.client_secret),
    )


def _credentials(
    app: ClimateFieldViewAppKeys, tokens: OAuthTokens, environment: ClientEnvironment | None
) -> ClimateFieldViewCredentials:
    return ClimateFieldViewCredentials(
        client_id=app.client_id,
        client_secret=app.client_secret,
        api_key=app.api_key,
        refresh_token=tokens.refresh_token,
    )


CLIMATE_FIELD_VIEW = CredentialResource(
    "climate-field-view",
    ClimateFieldViewCredentials,
    ClimateFieldViewRecord,
    name="Climate FieldView",
    app_key=AppKeySpec("ClimateFieldView", ClimateFieldViewAppKeys),
    link_name="ClimateFieldView",
    oauth=OAuthSpec(
        app=ClimateFieldViewAppKeys,
        authorize=_authorize,
        exchange=_exchange,
        credentials=_credentials,
        hosts=(HELPER, CLIMATE),
        scopes=True,
    ),
)
