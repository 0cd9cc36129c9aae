"""Leaf's built-in providers, one small module each, all of the same shape.

Each module defines the create schema, the record and the
:class:`~leaf_creds.CredentialResource` that ties them to a slug.
``BUILTIN`` lists them in the order of Leaf's provider table.
"""

from __future__ import annotations

from ._common import TokenMetadata
from .ag_leader import AG_LEADER, AgLeaderAppKeys, AgLeaderCredentials, AgLeaderRecord
from .agrimatics import AGRIMATICS, AgrimaticsCredentials, AgrimaticsRecord
from .agvance import AGVANCE, AgvanceCredentials, AgvanceRecord
from .claas import CLAAS, ClaasCredentials, ClaasRecord
from .climate_field_view import (
    CLIMATE_FIELD_VIEW,
    ClimateFieldViewAppKeys,
    ClimateFieldViewCredentials,
    ClimateFieldViewRecord,
)
from .cnhi import CNHI, CnhiAppKeys, CnhiCredentials, CnhiRecord
from .cnhi_field_ops import (
    CNHI_FIELD_OPS,
    CnhiFieldOpsAppKeys,
    CnhiFieldOpsCredentials,
    CnhiFieldOpsRecord,
)
from .farm_engage import FARM_ENGAGE, FarmEngageAppKeys, FarmEngageCredentials, FarmEngageRecord
from .john_deere import JOHN_DEERE, JohnDeereAppKeys, JohnDeereCredentials, JohnDeereRecord
from .lindsay import LINDSAY, LindsayAppKeys, LindsayCredentials, LindsayRecord
from .panorama import PANORAMA, PanoramaCredentials, PanoramaRecord
from .raven import RAVEN, RavenAppKeys, RavenCredentials, RavenRecord
from .raven_slingshot import (
    RAVEN_SLINGSHOT,
    RavenSlingshotAppKeys,
    RavenSlingshotCredentials,
    RavenSlingshotRecord,
)
from .sentera import SENTERA, SenteraCredentials, SenteraRecord
from .stara import STARA, StaraAppKeys, StaraCredentials, StaraRecord
from .trimble import TRIMBLE, TrimbleAppKeys, TrimbleCredentials, TrimbleRecord
from .valley import VALLEY, ValleyCredentials, ValleyRecord

__all__ = [
    "AGRIMATICS",
    "AGVANCE",
    "AG_LEADER",
    "BUILTIN",
    "CLAAS",
    "CLIMATE_FIELD_VIEW",
    "CNHI",
    "CNHI_FIELD_OPS",
    "FARM_ENGAGE",
    "JOHN_DEERE",
    "LINDSAY",
    "PANORAMA",
    "RAVEN",
    "RAVEN_SLINGSHOT",
    "SENTERA",
    "STARA",
    "TRIMBLE",
    "VALLEY",
    "AgLeaderAppKeys",
    "AgLeaderCredentials",
    "AgLeaderRecord",
    "AgrimaticsCredentials",
    "AgrimaticsRecord",
    "AgvanceCredentials",
    "AgvanceRecord",
    "ClaasCredentials",
    "ClaasRecord",
    "ClimateFieldViewAppKeys",
    "ClimateFieldViewCredentials",
    "ClimateFieldViewRecord",
    "CnhiAppKeys",
    "CnhiCredentials",
    "CnhiFieldOpsAppKeys",
    "CnhiFieldOpsCredentials",
    "CnhiFieldOpsRecord",
    "CnhiRecord",
    "FarmEngageAppKeys",
    "FarmEngageCredentials",
    "FarmEngageRecord",
    "JohnDeereAppKeys",
    "JohnDeereCredentials",
    "JohnDeereRecord",
    "LindsayAppKeys",
    "LindsayCredentials",
    "LindsayRecord",
    "PanoramaCredentials",
    "PanoramaRecord",
    "RavenAppKeys",
    "RavenCredentials",
    "RavenRecord",
    "RavenSlingshotAppKeys",
    "RavenSlingshotCredentials",
    "RavenSlingshotRecord",
    "SenteraCredentials",
    "SenteraRecord",
    "StaraAppKeys",
    "StaraCredentials",
    "StaraRecord",
    "TokenMetadata",
    "TrimbleAppKeys",
    "TrimbleCredentials",
    "TrimbleRecord",
    "ValleyCredentials",
    "ValleyRecord",
]

BUILTIN = (
    SENTERA,
    CNHI,
    JOHN_DEERE,
    CLIMATE_FIELD_VIEW,
    CNHI_FIELD_OPS,
    TRIMBLE,
    FARM_ENGAGE,
    AG_LEADER,
    RAVEN,
    RAVEN_SLINGSHOT,
    STARA,
    AGVANCE,
    LINDSAY,
    VALLEY,
    PANORAMA,
    CLAAS,
    AGRIMATICS,
)
