"""CNHI: OAuth client and refresh token of CNH Industrial's API."""

from __future__ import annotations

import attrs

from .._app_key_spec import AppKeySpec
from .._fields import masked
from .._models import ClientEnvironment, CredentialRecord
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


CNHI = CredentialResource(
    "cnhi",
    CnhiCredentials,
    CnhiRecord,
    name="CNHI",
    app_key=AppKeySpec("CNHI", CnhiAppKeys, per_environment=True),
    link_name="CNHI",
)
