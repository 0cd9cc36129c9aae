"""CLAAS: OAuth application key and secret with a grower's refresh token."""

from __future__ import annotations

import attrs

from .._fields import masked
from .._models import ClientEnvironment, CredentialRecord
from .._resource import CredentialResource, to_client_environment

__all__ = ["CLAAS", "ClaasCredentials", "ClaasRecord"]


@attrs.frozen(kw_only=True)
class ClaasCredentials:
    """The body that attaches CLAAS credentials to a Leaf user."""

    # The application's client id, which CLAAS calls a key.
    client_key: str
    client_secret: str = attrs.field(repr=masked)
    refresh_token: str = attrs.field(repr=masked)
    # Leaf defaults it to STAGE; we send the default explicitly.
    client_environment: ClientEnvironment = attrs.field(
        converter=to_client_environment, default=ClientEnvironment.STAGE
    )


@attrs.frozen(kw_only=True)
class ClaasRecord(CredentialRecord):
    """CLAAS credentials as Leaf stores them."""

    client_key: str | None = None
    client_secret: str | None = attrs.field(repr=masked, default=None)
    refresh_token: str | None = attrs.field(repr=masked, default=None)
    client_environment: ClientEnvironment | None = None


CLAAS = CredentialResource("claas", ClaasCredentials, ClaasRecord, name="CLAAS")
