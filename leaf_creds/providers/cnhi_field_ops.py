"""CNHI FieldOps: CNH Industrial's newer API; existing CNHI keys do not work."""

from __future__ import annotations

import attrs

from .._app_key_spec import AppKeySpec
from .._fields import masked
from .._models import ClientEnvironment, CredentialRecord
from .._resource import CredentialResource, to_client_environment
from .cnhi import helper_flow

__all__ = ["CNHI_FIELD_OPS", "CnhiFieldOpsAppKeys", "CnhiFieldOpsCredentials", "CnhiFieldOpsRecord"]


@attrs.frozen(kw_only=True)
class CnhiFieldOpsCredentials:
    """The body that attaches CNHI FieldOps credentials to a Leaf user."""

    client_id: str
    client_secret: str = attrs.field(repr=masked)
    subscription_key: str = attrs.field(repr=masked)
    refresh_token: str = attrs.field(repr=masked)
    # Required, as for CNHI: Leaf's providers reference says FieldOps
    # "requires clientEnvironment" (its provider page says optional), and a
    # STAGE sent unasked would attach a production grower to the wrong host.
    client_environment: ClientEnvironment = attrs.field(converter=to_client_environment)


@attrs.frozen(kw_only=True)
class CnhiFieldOpsRecord(CredentialRecord):
    """CNHI FieldOps credentials as Leaf stores them."""

    client_id: str | None = None
    client_secret: str | None = attrs.field(repr=masked, default=None)
    refresh_token: str | None = attrs.field(repr=masked, default=None)
    client_environment: ClientEnvironment | None = None
    subscription_key: str | None = attrs.field(repr=masked, default=None)


@attrs.frozen(kw_only=True)
class CnhiFieldOpsAppKeys:
    """CNHI FieldOps' application keys, per client environment.

    Leaf does not show this path or body; taken to be CNHI's (INF).
    """

    client_id: str
    client_secret: str = attrs.field(repr=masked)
    subscription_key: str = attrs.field(repr=masked)


CNHI_FIELD_OPS = CredentialResource(
    "cnhi-field-ops",
    CnhiFieldOpsCredentials,
    CnhiFieldOpsRecord,
    name="CNHI FieldOps",
    app_key=AppKeySpec("CNHIFieldOps", CnhiFieldOpsAppKeys, per_environment=True),
    link_name="CNHIFieldOps",
    # The same helper and bodies as CNHI's, under /fieldops (INF for the bodies).
    oauth=helper_flow(CnhiFieldOpsAppKeys, CnhiFieldOpsCredentials, "/fieldops"),
)
