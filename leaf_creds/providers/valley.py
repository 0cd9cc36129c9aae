"""Valley: APID, encryption key and initialization vector, and a login."""

from __future__ import annotations

import attrs

from .._fields import masked
from .._models import CredentialRecord
from .._resource import CredentialResource

__all__ = ["VALLEY", "ValleyCredentials", "ValleyRecord"]


@attrs.frozen(kw_only=True)
class ValleyCredentials:
    """The body that attaches Valley credentials to a Leaf user."""

    # Valley's application id identifies the caller; it is not a secret.
    apid: str
    initialization_vector: str = attrs.field(repr=masked)
    key: str = attrs.field(repr=masked)
    username: str
    password: str = attrs.field(repr=masked)


@attrs.frozen(kw_only=True)
class ValleyRecord(CredentialRecord):
    """Valley credentials as Leaf stores them."""

    apid: str | None = None
    key: str | None = attrs.field(repr=masked, default=None)
    initialization_vector: str | None = attrs.field(repr=masked, default=None)
    username: str | None = None


VALLEY = CredentialResource("valley", ValleyCredentials, ValleyRecord, name="Valley")
