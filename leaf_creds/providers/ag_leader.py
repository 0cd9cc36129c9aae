"""AgLeader: application key pair and a grower's refresh token."""

from __future__ import annotations

import attrs

from .._app_key_spec import AppKeySpec
from .._fields import masked
from .._models import CredentialRecord
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


AG_LEADER = CredentialResource(
    "ag-leader",
    AgLeaderCredentials,
    AgLeaderRecord,
    name="AgLeader",
    app_key=AppKeySpec("AgLeader", AgLeaderAppKeys),
    link_name="AgLeader",
)
