"""Climate FieldView: OAuth client, API key and a grower's refresh token."""

from __future__ import annotations

import attrs

from .._app_key_spec import AppKeySpec
from .._fields import masked
from .._models import CredentialRecord
from .._resource import CredentialResource
from ._common import TokenMetadata, scopes

__all__ = [
    "CLIMATE_FIELD_VIEW",
    "ClimateFieldViewAppKeys",
    "ClimateFieldViewCredentials",
    "ClimateFieldViewRecord",
]


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


@attrs.frozen(kw_only=True)
class ClimateFieldViewAppKeys:
    """Climate FieldView's application keys."""

    api_key: str = attrs.field(repr=masked)
    client_id: str
    client_secret: str = attrs.field(repr=masked)
    # Leaf product scopes (FIELDS:READ...); unset, Leaf grants its default.
    # Documented for POST; sent on PUT too when set (INF).
    scopes: tuple[str, ...] | None = attrs.field(default=None, converter=scopes)


CLIMATE_FIELD_VIEW = CredentialResource(
    "climate-field-view",
    ClimateFieldViewCredentials,
    ClimateFieldViewRecord,
    name="Climate FieldView",
    app_key=AppKeySpec("ClimateFieldView", ClimateFieldViewAppKeys),
    link_name="ClimateFieldView",
)
