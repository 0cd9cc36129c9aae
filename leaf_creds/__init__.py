"""leaf_creds: an async SDK for the provider credentials of the Leaf Agriculture API.

Start with :class:`LeafSession`; every provider is a :class:`CredentialResource`
in a :class:`Registry`.
"""

from __future__ import annotations

from ._converter import make_converter
from ._exceptions import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DecodeError,
    FieldError,
    LeafError,
    NotFoundError,
    OutcomeUnknownError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    UnknownProviderError,
    ValidationError,
)
from ._fields import MASK, field, is_secret
from ._models import ClientEnvironment, CredentialEvent, CredentialRecord, CredentialStatus
from ._registry import ENTRY_POINT_GROUP, Registry, default_registry
from ._resource import CreateField, CredentialResource
from ._retry import RetryPolicy
from ._session import DEFAULT_BASE_URL, LeafSession
from ._version import __version__
from .providers import (
    CNHI,
    SENTERA,
    CnhiCredentials,
    CnhiRecord,
    SenteraCredentials,
    SenteraRecord,
)

__all__ = [
    "CNHI",
    "DEFAULT_BASE_URL",
    "ENTRY_POINT_GROUP",
    "MASK",
    "SENTERA",
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ClientEnvironment",
    "CnhiCredentials",
    "CnhiRecord",
    "ConflictError",
    "CreateField",
    "CredentialEvent",
    "CredentialRecord",
    "CredentialResource",
    "CredentialStatus",
    "DecodeError",
    "FieldError",
    "LeafError",
    "LeafSession",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "RateLimitError",
    "Registry",
    "RequestTimeoutError",
    "RetryPolicy",
    "SenteraCredentials",
    "SenteraRecord",
    "ServerError",
    "TransportError",
    "UnknownProviderError",
    "ValidationError",
    "__version__",
    "default_registry",
    "field",
    "is_secret",
    "make_converter",
]
