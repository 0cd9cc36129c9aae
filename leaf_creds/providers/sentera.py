"""Sentera: username and password of a Sentera organization."""

from __future__ import annotations

import attrs

from .._fields import masked
from .._models import CredentialRecord
from .._resource import CredentialResource

__all__ = ["SENTERA", "SenteraCredentials", "SenteraRecord"]


@attrs.frozen(kw_only=True)
class SenteraCredentials:
    """The body that attaches Sentera credentials to a Leaf user."""

    username: str
    password: str = attrs.field(repr=masked)
    organization_name: str


@attrs.frozen(kw_only=True)
class SenteraRecord(CredentialRecord):
    """Sentera credentials as Leaf stores them."""

    username: str | None = None
    auth_token: str | None = attrs.field(repr=masked, default=None)
    organization_id: str | None = None
    organization_name: str | None = None


SENTERA = CredentialResource("sentera", SenteraCredentials, SenteraRecord, name="Sentera")
