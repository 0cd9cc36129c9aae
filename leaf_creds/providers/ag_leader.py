"""AgLeader: application key pair and a grower's refresh token."""

from __future__ import annotations

from urllib.parse import urlencode

import attrs

from .._app_key_spec import AppKeySpec
from .._fields import masked
from .._models import ClientEnvironment, CredentialRecord
from .._oauth_spec import OAuthCall, OAuthContext, OAuthSpec, OAuthTokens
from .._resource import CredentialResource

__all__ = ["AG_LEADER", "AgLeaderAppKeys", "AgLeaderCredentials", "AgLeaderRecord"]


@attrs.frozen(kw_only=True)
class AgLeaderCredentials:
    """The body that attaches AgLeader credentials to a Leaf user."""

    refresh_token: str = attrs.field(repr=masked)
    public_key: str
    private_key: str = attrs.field(repr=masked)
    access_token: str | None = attrs.field(repr=masked, default=None)


@attrs.frozen(kw_only=True)
class AgLeaderRecord(CredentialRecord):
    """AgLeader credentials as Leaf stores them."""

    access_token: str | None = attrs.field(repr=masked, default=None)
    refresh_token: str | None = attrs.field(repr=masked, default=None)
    public_key: str | None = None
    private_key: str | None = attrs.field(repr=masked, default=None)


@attrs.frozen(kw_only=True)
class AgLeaderAppKeys:
    """AgLeader's application key pair."""

    private_key: str = attrs.field(repr=masked)
    public_key: str


# No Leaf helper: AgLeader's own OAuth (onboarding.md §4.2). The consent
# page's URL is built here; the token call is AgFiniti's, with the key pair
# as Basic credentials. Add "fileupload" to the scopes for prescriptions.
AGFINITI = "https://www.agfiniti.com"
DEFAULT_SCOPES = ("read", "readwrite")


def _authorize(app: AgLeaderAppKeys, flow: OAuthContext) -> str:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": app.public_key,
            "redirect_uri": flow.redirect_url,
            "scope": " ".join(flow.scopes or DEFAULT_SCOPES),
            "state": flow.state,
        }
    )
    return f"{AGFINITI}/Account/Authorize?{query}"


def _exchange(app: AgLeaderAppKeys, flow: OAuthContext) -> OAuthCall:
    return OAuthCall(
        url=AGFINITI + "/api/token",
        form={
            "grant_type": "authorization_code",
            "code": flow.code,
            "redirect_uri": flow.redirect_url,
        },
        basic=(app.public_key, app.private_key),
    )


def _credentials(
    app: AgLeaderAppKeys, tokens: OAuthTokens, environment: ClientEnvironment | None
) -> AgLeaderCredentials:
    return AgLeaderCredentials(
        refresh_token=tokens.refresh_token,
        public_key=app.public_key,
        private_key=app.private_key,
        access_token=tokens.access_token,
    )


AG_LEADER = CredentialResource(
    "ag-leader",
    AgLeaderCredentials,
    AgLeaderRecord,
    name="AgLeader",
    app_key=AppKeySpec("AgLeader", AgLeaderAppKeys),
    link_name="AgLeader",
    oauth=OAuthSpec(
        app=AgLeaderAppKeys,
        client_id="public_key",
        authorize=_authorize,
        exchange=_exchange,
        credentials=_credentials,
        hosts=(AGFINITI,),
        scopes=True,
    ),
)
