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
from typing import TYPE_CHECKING, Any, Final, TypeVar

import attrs

from ._fields import wire_name
from ._models import CredentialStatus

if TYPE_CHECKING:
    # cattrs is imported when the first converter is made, not with the
    # package: it is a third of what `import leaf_creds` would cost.
    import cattrs

__all__ = [
    "default_converter",
    "format_datetime",
    "make_converter",
    "parse_datetime",
    "plain_constructor",
]

T = TypeVar("T")


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


def _structure_bool(value: Any, _: type) -> bool:
    # cattrs would make bool("false") True. Leaf's Postman examples send the
    # strings "true"/"false" (its Java server reads them), so take those too.
    if type(value) is bool:
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise TypeError(f"expected a boolean, got {type(value).__name__}")


def _structure_int(value: Any, cls: type[int]) -> int:
    # What cattrs does for int and its subclasses (bool, IntEnum...):
    # cls(value), minus the call when the value already is one.
    return value if type(value) is cls else cls(value)


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
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(bool, _structure_bool)
    # StrEnum by name: its MRO puts `str` before `Enum`, so without this the
    # str hooks above would handle every string enum.
    converter.register_structure_hook(enum.StrEnum, _structure_str_enum)
    converter.register_unstructure_hook(enum.Enum, _enum_value)
    converter.register_unstructure_hook(enum.StrEnum, _enum_value)

    compiling: set[type[Any]] = set()

    def structure_factory(cls: type[Any]) -> Callable[[Any, type[Any]], Any]:
        overrides: dict[str, Any] = {
            a.name: override(rename=wire_name(a)) for a in attrs.fields(cls)
        }
        exact = make_dict_structure_fn(
            cls, converter, _cattrs_forbid_extra_keys=False, **overrides
        )
        if cls in compiling:
            # A class that contains itself: the inner one is cattrs' function
            # (which resolves the cycle); the outer one is still compiled.
            return exact
        compiling.add(cls)
        try:
            return _compiled_structure(cls, converter, exact, optional_hooks)
        finally:
            compiling.discard(cls)

    def unstructure_factory(cls: type[Any]) -> Callable[[Any], Any]:
        overrides: dict[str, Any] = {
            a.name: override(rename=wire_name(a), omit_if_default=a.default is None)
            for a in attrs.fields(cls)
        }
        return make_dict_unstructure_fn(cls, converter, **overrides)

    # The X | None hooks made below: a compiled class reads such a field
    # inline only while its hook is still one of these.
    optional_hooks: set[Callable[[Any, Any], Any]] = {_structure_optional_str}

    def optional_factory(type_: Any) -> Callable[[Any, Any], Any]:
        # cattrs' own Optional hook looks the inner hook up on every call;
        # every record field is optional, so resolve it once here.
        inner = _optional_inner(type_)
        if inner is str:
            return _structure_optional_str
        hook = converter.get_structure_hook(inner)

        def structure_optional(value: Any, _: Any) -> Any:
            return None if value is None else hook(value, inner)

        optional_hooks.add(structure_optional)
        return structure_optional

    converter.register_structure_hook_factory(
        lambda type_: _optional_inner(type_) is not None, optional_factory
    )
    converter.register_structure_hook_factory(attrs.has, structure_factory)
    converter.register_unstructure_hook_factory(attrs.has, unstructure_factory)
    return converter


# -- a one-call decoder per attrs class -------------------------------------
#
# cattrs' generated function calls one hook per field, and every record is
# mostly `str | None` fields: on a GET, those calls cost more than the rest of
# the SDK's own work. For each attrs class this builds one function that reads
# every field inline, for the field types whose hooks are the ones above, and
# calls the converter's hook for any other type. It only ever returns when
# every value is plainly right; anything unusual (a missing required key, a
# wrong type, a value a hook or the class rejects) goes to cattrs' own
# function, which then gives exactly the result or the detailed error it
# always gave.

_MISSING: Final = object()


class _Unusual(Exception):
    """Raised inside a compiled function to hand the value to cattrs."""


def _field_code(
    value: str,
    type_: Any,
    converter: cattrs.Converter,
    optional_hooks: set[Callable[[Any, Any], Any]],
    names: dict[str, Any],
    i: int,
) -> list[str]:
    """Return the lines that check or convert ``value`` (a local) in place."""
    hook = full = converter.get_structure_hook(type_)
    inner = _optional_inner(type_)
    base = type_
    if inner is not None and hook in optional_hooks:
        # Still our own X | None hook (not one registered for the union
        # itself): read X inline, and let None through.
        base = inner
        hook = converter.get_structure_hook(inner)
    else:
        inner = None
    if hook is _structure_str:
        lines = [f"if type({value}) is not str: raise Unusual"]
    elif hook is _structure_int:
        names[f"type{i}"] = base
        lines = [f"if type({value}) is not type{i}: {value} = type{i}({value})"]
    elif hook is _structure_datetime:
        lines = [
            f"if type({value}) is not str: raise Unusual",
            f"{value} = fromisoformat({value})",
            f"if {value}.tzinfo is not UTC: {value} = parse_datetime({value})",
        ]
    elif hook is _structure_status or hook is _structure_str_enum:
        names[f"members{i}"] = {member.value: member for member in base}
        lines = [
            f"{value} = members{i}.get({value})",
            f"if {value} is None: raise Unusual",
        ]
    else:
        names[f"hook{i}"] = full
        names[f"type{i}"] = type_
        return [f"{value} = hook{i}({value}, type{i})"]
    if inner is None:
        return lines
    return [f"if {value} is not None:", *(f"  {line}" for line in lines)]


@attrs.frozen
class _Frozen:
    pass


# What __init__ calls to store a value when the class has no __setattr__ of
# its own: object's, or the one attrs gives every frozen class.
_PLAIN_SETATTRS: Final = (object.__setattr__, _Frozen.__setattr__)


def _has_type_variable(type_: Any) -> bool:
    return isinstance(type_, typing.TypeVar) or any(
        _has_type_variable(arg) for arg in typing.get_args(type_)
    )


def _slot_setters(cls: type[Any]) -> list[Callable[[Any, Any], None]] | None:
    """Return each field's slot setter if ``__init__`` would only store them.

    A frozen class's ``__init__`` stores each value through
    ``object.__setattr__``; the slot's own setter does the same job in about
    half the time. Only for a plain slotted attrs class: no validator,
    converter, init hook, ``init=False`` field or extra slot (a cached hash),
    and the ``__init__`` attrs wrote.
    """
    fields = attrs.fields(cls)
    code = getattr(cls.__init__, "__code__", None)
    new: Any = cls.__new__
    setattr_: Any = cls.__setattr__
    if (
        code is None
        or not code.co_filename.startswith("<attrs generated")
        or new is not object.__new__
        or setattr_ not in _PLAIN_SETATTRS
        or hasattr(cls, "__attrs_pre_init__")
        or hasattr(cls, "__attrs_post_init__")
        or any(not a.init or a.validator or a.converter for a in fields)
    ):
        return None
    slots: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        names = klass.__dict__.get("__slots__", ())
        for name in (names,) if isinstance(names, str) else names:
            descriptor = klass.__dict__.get(name)
            if name != "__weakref__" and isinstance(descriptor, types.MemberDescriptorType):
                slots[name] = descriptor
    if slots.keys() != {a.name for a in fields}:
        return None
    return [slots[a.name].__set__ for a in fields]


def plain_constructor(cls: type[T]) -> Callable[..., T]:
    """Return a function of ``cls``'s fields, in order, that builds one.

    For a plain slotted attrs class it fills the slots directly (see
    :func:`_slot_setters`); for any other class it is the class itself.
    """
    setters = _slot_setters(cls)
    if setters is None:
        return cls
    params = ", ".join(f"v{i}" for i in range(len(setters)))
    names: dict[str, Any] = {"cls": cls}
    lines = [f"def make_{cls.__name__}({params}):"]
    lines += (f"  {line}" for line in _filled_instance(setters, names))
    exec(compile("\n".join(lines), f"<leaf_creds constructor {cls.__qualname__}>", "exec"), names)  # noqa: S102
    made: Callable[..., T] = names[f"make_{cls.__name__}"]
    return made


def _filled_instance(setters: list[Callable[[Any, Any], None]], names: dict[str, Any]) -> list[str]:
    """Return the lines that make ``cls`` from the locals ``v0``, ``v1``... and return it."""
    names["new"] = object.__new__
    lines = ["instance = new(cls)"]
    for i, setter in enumerate(setters):
        names[f"set{i}"] = setter
        lines.append(f"set{i}(instance, v{i})")
    return [*lines, "return instance"]


def _compiled_structure(
    cls: type[Any],
    converter: cattrs.Converter,
    exact: Callable[[Any, Any], Any],
    optional_hooks: set[Callable[[Any, Any], Any]],
) -> Callable[[Any, Any], Any]:
    """Return a one-call structure function for ``cls``; ``exact`` decides the rest.

    Generic classes (their fields' types depend on the parameters) and
    anything this cannot read inline are left to ``exact`` whole.
    """
    parameters: Any = getattr(cls, "__parameters__", None)
    if typing.get_origin(cls) is not None or parameters:
        return exact
    # cattrs resolved the class's string annotations when it built `exact`.
    fields = attrs.fields(cls)
    if any(isinstance(a.type, str) or _has_type_variable(a.type) for a in fields):
        return exact
    try:
        return _compile(cls, converter, exact, optional_hooks, fields)
    except Exception:  # a field type with no hook of its own yet: cattrs copes
        return exact


def _compile(
    cls: type[Any],
    converter: cattrs.Converter,
    exact: Callable[[Any, Any], Any],
    optional_hooks: set[Callable[[Any, Any], Any]],
    fields: tuple[Any, ...],
) -> Callable[[Any, Any], Any]:
    names: dict[str, Any] = {
        "cls": cls,
        "exact": exact,
        "MISSING": _MISSING,
        "Unusual": _Unusual,
        "UTC": UTC,
        "fromisoformat": datetime.fromisoformat,
        "parse_datetime": parse_datetime,
    }
    body: list[str] = []
    arguments: list[str] = []
    for i, a in enumerate(fields):
        if not a.init:
            continue
        value, key = f"v{i}", wire_name(a)
        checks = _field_code(value, a.type, converter, optional_hooks, names, i)
        if a.default is attrs.NOTHING:
            body += [f"{value} = o[{key!r}]", *checks]
        else:
            if isinstance(a.default, attrs.Factory):  # type: ignore[arg-type]
                if a.default.takes_self:
                    return exact
                names[f"default{i}"] = a.default.factory
                fill = f"{value} = default{i}()"
            else:
                names[f"default{i}"] = a.default
                fill = f"{value} = default{i}"
            body += [
                f"{value} = o.get({key!r}, MISSING)",
                f"if {value} is MISSING: {fill}",
                "else:",
                *(f"  {line}" for line in checks),
            ]
        arguments.append(f"{a.alias}={value}")
    setters = _slot_setters(cls)
    if setters is None:
        body.append(f"return cls({', '.join(arguments)})")
    else:
        body += _filled_instance(setters, names)
    source = "\n".join(
        [
            f"def structure_{cls.__name__}(o, t):",
            "  try:",
            *(f"    {line}" for line in body),
            "  except Exception:",
            "    pass",
            "  return exact(o, t)",
        ]
    )
    # Generated code, as cattrs and attrs do; every name in it is ours.
    exec(compile(source, f"<leaf_creds structure {cls.__qualname__}>", "exec"), names)  # noqa: S102
    compiled: Callable[[Any, Any], Any] = names[f"structure_{cls.__name__}"]
    return compiled


@functools.cache
def default_converter() -> cattrs.Converter:
    """Return the converter shared by code that runs without a session.

    Building bodies in the CLI, parsing webhook deliveries, the fake server:
    made on first use, so ``import leaf_creds`` does not pay for it.
    """
    return make_converter()
