"""The one cattrs converter: every wire rule of Leaf's JSON lives here.

Schemas and records are plain attrs classes that know nothing about the wire.
This module owns the camelCase renames, the datetime forms and the enums, so
a plugin author's attrs classes work with no converter code of their own.
"""

from __future__ import annotations

import enum
import functools
import types
import typing
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

from ._fields import wire_name
from ._models import CredentialStatus

if TYPE_CHECKING:
    # cattrs is imported when the first converter is made, not with the
    # package: it is a third of what `import leaf_creds` would cost.
    import cattrs

__all__ = ["default_converter", "format_datetime", "make_converter", "parse_datetime"]


def parse_datetime(value: str | datetime) -> datetime:
    """Parse one of Leaf's timestamps into an aware UTC datetime.

    Leaf documents ``yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'``; 3-digit, no-fraction
    and ``+00:00`` forms are accepted too. A timestamp without any offset is
    taken as UTC, which is what Leaf's documented form means.

    Raises:
        ValueError: The text is not an ISO 8601 timestamp.
    """
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    tzinfo = moment.tzinfo
    if tzinfo is UTC:
        # Leaf's own "...Z" form: already what we return.
        return moment
    if tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """Format a datetime in Leaf's own form, ``2024-01-02T03:04:05.000006Z``."""
    return parse_datetime(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _structure_datetime(value: Any, _: type) -> datetime:
    if not isinstance(value, str | datetime):
        raise TypeError(f"expected a timestamp string, got {type(value).__name__}")
    return parse_datetime(value)


# Every record has a status: a dict lookup is several calls shorter than
# EnumType.__call__ for the known values.
_STATUSES: dict[str, CredentialStatus] = {member.value: member for member in CredentialStatus}


def _structure_status(value: Any, _: type) -> CredentialStatus:
    if not isinstance(value, str):
        raise TypeError(f"expected a status string, got {type(value).__name__}")
    member = _STATUSES.get(value)
    return member if member is not None else CredentialStatus(value)


def _structure_str(value: Any, _: type) -> str:
    # cattrs would turn 123 into "123"; a credential field of the wrong JSON
    # type is more likely a mistake than something to coerce.
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _structure_optional_str(value: Any, _: Any) -> str | None:
    # Most record fields are `str | None`: one call instead of two.
    if value is None or type(value) is str:
        return value
    return _structure_str(value, str)


def _structure_str_enum(value: Any, cls: type[enum.StrEnum]) -> enum.StrEnum:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return cls(value)


def _enum_value(member: enum.Enum) -> Any:
    return member.value


def _optional_inner(type_: Any) -> Any:
    """Return ``X`` of ``X | None`` (one type and None), else None."""
    if typing.get_origin(type_) not in (typing.Union, types.UnionType):
        return None
    args = typing.get_args(type_)
    if len(args) != 2 or type(None) not in args:
        return None
    return args[0] if args[1] is type(None) else args[1]


def make_converter() -> cattrs.Converter:
    """Return a new converter configured for Leaf's JSON.

    Every attrs class is read and written with the camelCase of its attribute
    names (or a field's explicit ``wire`` name); unknown keys are ignored when
    reading, and optional fields left at ``None`` are not written.
    """
    import cattrs
    from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

    converter = cattrs.Converter()
    converter.register_structure_hook(datetime, _structure_datetime)
    converter.register_unstructure_hook(datetime, format_datetime)
    converter.register_structure_hook(CredentialStatus, _structure_status)
    converter.register_structure_hook(str, _structure_str)
    # StrEnum by name: its MRO puts `str` before `Enum`, so without this the
    # str hooks above would handle every string enum.
    converter.register_structure_hook(enum.StrEnum, _structure_str_enum)
    converter.register_unstructure_hook(enum.Enum, _enum_value)
    converter.register_unstructure_hook(enum.StrEnum, _enum_value)

    def structure_factory(cls: type[Any]) -> Callable[[Any, type[Any]], Any]:
        overrides: dict[str, Any] = {
            a.name: override(rename=wire_name(a)) for a in attrs.fields(cls)
        }
        return make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=False, **overrides)

    def unstructure_factory(cls: type[Any]) -> Callable[[Any], Any]:
        overrides: dict[str, Any] = {
            a.name: override(rename=wire_name(a), omit_if_default=a.default is None)
            for a in attrs.fields(cls)
        }
        return make_dict_unstructure_fn(cls, converter, **overrides)

    def optional_factory(type_: Any) -> Callable[[Any, Any], Any]:
        # cattrs' own Optional hook looks the inner hook up on every call;
        # every record field is optional, so resolve it once here.
        inner = _optional_inner(type_)
        if inner is str:
            return _structure_optional_str
        hook = converter.get_structure_hook(inner)

        def structure_optional(value: Any, _: Any) -> Any:
            return None if value is None else hook(value, inner)

        return structure_optional

    converter.register_structure_hook_factory(
        lambda type_: _optional_inner(type_) is not None, optional_factory
    )
    converter.register_structure_hook_factory(attrs.has, structure_factory)
    converter.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    return converter


@functools.cache
def default_converter() -> cattrs.Converter:
    """Return the converter shared by code that runs without a session.

    Building bodies in the CLI, parsing webhook deliveries, the fake server:
    made on first use, so ``import leaf_creds`` does not pay for it.
    """
    return make_converter()
