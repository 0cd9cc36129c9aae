"""CNHI: OAuth client and refresh token of CNH Industrial's API."""

from __future__ import annotations

from typing import Any, Protocol

import attrs

from .._app_key_spec import AppKeySpec
from .._fields import masked
from .._models import ClientEnvironment, CredentialRecord
from .._oauth_spec import OAuthCall, OAuthContext, OAuthSpec, OAuthTokens
from .._resource import CredentialResource, to_client_environment

__all__ = ["CNHI", "CnhiAppKeys", "CnhiCredentials", "CnhiRecord"]


@attrs.frozen(kw_only=True)
class CnhiCredentials:
    """The body that attaches CNHI credentials to a Leaf user."""

    client_id: str
    client_secret: str = attrs.field(repr=masked)
    subscription_key: str = attrs.field(repr=masked)
    refresh_token: str = attrs.field(repr=masked)
    client_environment: ClientEnvironment = attrs.field(converter=to_client_environment)


@attrs.frozen(kw_only=True)
class CnhiRecord(CredentialRecord):
    """CNHI credentials as Leaf stores them."""

    client_id: str | None = None
    client_secret: str | None = attrs.field(repr=masked, default=None)
    refresh_token: str | None = attrs.field(repr=masked, default=None)
    client_environment: ClientEnvironment | None = None
    subscription_key: str | None = attrs.field(repr=masked, default=None)


@attrs.frozen(kw_only=True)
class CnhiAppKeys:
    """CNHI's application keys, per client environment."""

    client_id: str
    client_secret: str = attrs.field(repr=masked)
    subscription_key: str = attrs.field(repr=masked)


# Leaf's helper (onboarding.md §4.2): snake_case bodies, `production`
# choosing CNH's environment (it becomes clientEnvironment). Leaf's newer docs
# send `subscription_key` (the Postman collection does not): it is sent.
HELPER = "https://cnhi-oauth2-helper.withleaf.io"


class _Keys(Protocol):
    client_id: str
    client_secret: str
    subscription_key: str


def helper_flow(app: type[Any], credentials: type[Any], path: str) -> OAuthSpec[Any]:
    """Return the consent flow of CNH's helper at ``path`` (``""`` or ``"/fieldops"``)."""

    def body(keys: _Keys, flow: OAuthContext) -> dict[str, object]:
        return {
            "client_id": keys.client_id,
            "client_secret": keys.client_secret,
            "subscription_key": keys.subscription_key,
            "client_redirect_url": flow.redirect_url,
            "production": flow.environment is ClientEnvironment.PRODUCTION,
        }

    def authorize(keys: _Keys, flow: OAuthContext) -> OAuthCall:
        return OAuthCall(url=f"{HELPER}{path}/get_url", json=body(keys, flow))

    def exchange(keys: _Keys, flow: OAuthContext) -> OAuthCall:
        sent = {**body(keys, flow), "response_url": flow.response_url}
        return OAuthCall(url=f"{HELPER}{path}/get_token", json=sent)

    def made(keys: _Keys, tokens: OAuthTokens, environment: ClientEnvironment | None) -> object:
        return credentials(
            client_id=keys.client_id,
            client_secret=keys.client_secret,
            subscription_key=keys.subscription_key,
            refresh_token=tokens.refresh_token,
            client_environment=environment,
        )

    return OAuthSpec(
        app=app,
        authorize=authorize,
        exchange=exchange,
        credentials=made,
        hosts=(HELPER,),
        environments=True,
    )


CNHI = CredentialResource(
    "cnhi",
    CnhiCredentials,
    CnhiRecord,
    name="CNHI",
    app_key=AppKeySpec("CNHI", CnhiAppKeys, per_environment=True),
    link_name="CNHI",
    oauth=helper_flow(CnhiAppKeys, CnhiCredentials, ""),
)
