"""Data that flows through the SDK: statuses, environments, records, events."""

from __future__ import annotations

import enum
from datetime import datetime

import attrs

__all__ = [
    "ClientEnvironment",
    "CredentialEvent",
    "CredentialRecord",
    "CredentialStatus",
    "OpenStrEnum",
]


class OpenStrEnum(enum.StrEnum):
    """A string enum open to values it does not list, as Leaf's statuses are.

    An unknown value becomes a pseudo-member (``name`` and ``value`` the
    string), as ``enum.Flag`` makes for unnamed combinations; not cached, so a
    misbehaving server cannot grow the class without bound.
    """

    @classmethod
    def _missing_(cls, value: object) -> OpenStrEnum | None:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member


class CredentialStatus(OpenStrEnum):
    """The health of a stored credential, as Leaf reports it.

    Leaf's ``status`` is an open string: Leaf changes it in the background and
    may add values. Known values are members; any other string still becomes a
    ``CredentialStatus`` (a pseudo-member) instead of failing, and every value
    compares equal to its plain string.
    """

    OK = "OK"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    MISSING_PERMISSION = "MISSING_PERMISSION"
    TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"



class ClientEnvironment(enum.StrEnum):
    """The provider environment of an OAuth-style credential."""

    STAGE = "STAGE"
    PRODUCTION = "PRODUCTION"


@attrs.frozen(kw_only=True)
class CredentialRecord:
    """A provider credential as stored on a Leaf user (what GET and POST return).

    Every provider's record extends this class with its own fields.

    Attributes:
        id: The credential's id (a UUID string).
        status: Its health; see :class:`CredentialStatus`.
        created_time: When it was created, as an aware UTC datetime.
    """

    id: str
    status: CredentialStatus
    created_time: datetime | None = None


@attrs.frozen(kw_only=True)
class CredentialEvent:
    """One entry of a credential's troubleshooting log.

    Attributes:
        id: The event's id.
        body: The provider's answer body, as text.
        headers: The provider's answer headers, as text.
        status_code: The provider's HTTP status code.
        created_date: When it happened, as an aware UTC datetime.
    """

    id: str
    body: str | None = None
    headers: str | None = None
    status_code: int | None = None
    created_date: datetime | None = None
