"""Climate FieldView: OAuth client, API key and a grower's refresh token."""

from __future__ import annotations

import attrs

from .._fields import masked
from .._models import CredentialRecord
from .._resource import CredentialResource
from ._common import TokenMetadata

__all__ = ["CLIMATE_FIELD_VIEW", "ClimateFieldViewCredentials", "ClimateFieldViewRecord"]


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


CLIMATE_FIELD_VIEW = CredentialResource(
    "climate-field-view",
    ClimateFieldViewCredentials,
    ClimateFieldViewRecord,
    name="Climate FieldView",
)
