"""Agvance: API key with a database's username and password."""

from __future__ import annotations

import attrs

from .._fields import masked
from .._models import ClientEnvironment, CredentialRecord
from .._resource import CredentialResource, to_client_environment

__all__ = ["AGVANCE", "AgvanceCredentials", "AgvanceRecord"]


@attrs.frozen(kw_only=True)
class AgvanceCredentials:
    """The body that attaches Agvance credentials to a Leaf user."""

    api_key: str = attrs.field(repr=masked)
    database_id: str
    username: str
    password: str = attrs.field(repr=masked)
    # Leaf defaults it to STAGE; we send the default explicitly.
    client_environment: ClientEnvironment = attrs.field(
        converter=to_client_environment, default=ClientEnvironment.STAGE
    )


@attrs.frozen(kw_only=True)
class AgvanceRecord(CredentialRecord):
    """Agvance credentials as Leaf stores them."""

    client_environment: ClientEnvironment | None = None
    username: str | None = None
    password: str | None = attrs.field(repr=masked, default=None)
    database_id: str | None = None
    session_id: str | None = attrs.field(repr=masked, default=None)
    api_key: str | None = attrs.field(repr=masked, default=None)


AGVANCE = CredentialResource("agvance", AgvanceCredentials, AgvanceRecord, name="Agvance")
