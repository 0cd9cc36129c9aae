"""Stara: API key with the grower's and the client's tokens."""

from __future__ import annotations

import attrs

from .._app_key_spec import AppKeySpec
from .._exceptions import ValidationError
from .._fields import masked
from .._models import CredentialRecord
from .._oauth_spec import OAuthSpec
from .._resource import CredentialResource

__all__ = ["STARA", "StaraAppKeys", "StaraCredentials", "StaraRecord"]


@attrs.frozen(kw_only=True)
class StaraCredentials:
    """The body that attaches Stara credentials to a Leaf user."""

    api_key: str = attrs.field(repr=masked)
    access_token: str = attrs.field(repr=masked)
    access_token_client: str = attrs.field(repr=masked)
    refresh_token: str = attrs.field(repr=masked)


@attrs.frozen(kw_only=True)
class StaraRecord(CredentialRecord):
    """Stara credentials as Leaf stores them."""

    access_token_client: str | None = attrs.field(repr=masked, default=None)
    refresh_token: str | None = attrs.field(repr=masked, default=None)
    access_token: str | None = attrs.field(repr=masked, default=None)
    api_key: str | None = attrs.field(repr=masked, default=None)


@attrs.frozen(kw_only=True)
class StaraAppKeys:
    """Stara's application keys: ``user`` and ``pwd``, or ``access_token_client``.

    Leaf's docs show ``user`` and ``pwd`` for POST and ``accessTokenClient``
    for PUT, and a POST example that sends the latter; either shape is taken
    (INF), and only what is set is sent.
    """

    user: str | None = None
    pwd: str | None = attrs.field(repr=masked, default=None)
    access_token_client: str | None = attrs.field(repr=masked, default=None)

    def __attrs_post_init__(self) -> None:
        if self.access_token_client is None and (self.user is None or self.pwd is None):
            raise ValidationError(
                "Stara app keys need user and pwd, or accessTokenClient"
            )


STARA = CredentialResource(
    "stara",
    StaraCredentials,
    StaraRecord,
    name="Stara",
    app_key=AppKeySpec("Stara", StaraAppKeys),
    link_name="Stara",
    oauth=OAuthSpec.undocumented(
        "Stara has no OAuth consent flow: its telemetry API trades the grower's user and "
        "password for tokens, and Leaf documents no helper for it"
    ),
)
