"""The field rules of a schema class: what a credential create body and app keys share.

Everything here is pure. A schema is a plain attrs class (see ``_fields``);
:class:`SchemaRules` reads its fields once and checks instances of it, or
builds one from a camelCase JSON body, listing every problem at once as
``"<what> @ $.<wireKey>"``. The owner of the rules (``CredentialResource``
for a provider's credentials, ``AppKeySpec`` for its app keys) words the
error around the problems: the rules raise nothing themselves.
"""

from __future__ import annotations

import enum
import re
import typing
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from ._exceptions import ValidationError
from ._fields import is_secret, wire_name

if TYPE_CHECKING:
    import cattrs

__all__ = ["CreateField", "SchemaRules"]

S = TypeVar("S")


@attrs.frozen
class CreateField:
    """How one create field of a provider looks on the wire.

    Attributes:
        name: The Python attribute name.
        wire: The JSON key.
        required: Whether Leaf requires it.
        secret: Whether its value is masked in reprs and CLI output.
        default: The default when not required (``None`` if there is none).
    """

    name: str
    wire: str
    required: bool
    secret: bool
    default: Any = None


class SchemaRules(Generic[S]):
    """The fields of one attrs schema class, and the checks of its values.

    Args:
        schema: The attrs class (its owner checks that it is one).
    """

    def __init__(self, schema: type[S]) -> None:
        self.schema = schema

    def __repr__(self) -> str:
        return f"<SchemaRules of {self.schema.__name__}>"

    @cached_property
    def _types(self) -> dict[str, Any]:
        return typing.get_type_hints(self.schema)

    @cached_property
    def fields(self) -> tuple[CreateField, ...]:
        """The schema's fields, in declaration order."""
        schema: Any = self.schema  # an attrs class, checked by the owner
        return tuple(
            CreateField(
                name=a.name,
                wire=wire_name(a),
                required=a.default is attrs.NOTHING,
                secret=is_secret(a),
                default=None if a.default is attrs.NOTHING else a.default,
            )
            for a in attrs.fields(schema)
        )

    @cached_property
    def checks(self) -> tuple[tuple[str, str, bool, bool], ...]:
        """(name, wire, required, must be a str) of each field, worked out once, not per create."""
        return tuple(
            (f.name, f.wire, f.required, _accepts_str(self._types.get(f.name))) for f in self.fields
        )

    @cached_property
    def secret_wires(self) -> tuple[str, ...]:
        """The JSON keys of the body that hold secrets."""
        return tuple(f.wire for f in self.fields if f.secret)

    def problems(self, instance: object) -> list[str]:
        """List what is wrong with the values of an instance of the schema (empty if nothing)."""
        problems = []
        for name, wire, required, wants_str in self.checks:
            problem = _value_problem(getattr(instance, name), required, wants_str)
            if problem is not None:
                problems.append(f"{problem} @ $.{wire}")
        return problems

    def from_wire(
        self, body: Mapping[str, Any], converter: cattrs.Converter
    ) -> tuple[S | None, list[str]]:
        """Build an instance of the schema from a camelCase JSON object.

        Returns:
            The instance and no problems, or ``None`` and every problem: a
            key unknown, a required one missing, a value invalid.
        """
        import cattrs  # loaded lazily, see _converter.py

        known = {f.wire for f in self.fields}
        problems = [f"unknown field @ $.{key}" for key in body if key not in known]
        problems += [
            f"required field missing @ $.{f.wire}"
            for f in self.fields
            if f.required and f.wire not in body
        ]
        failure: Exception | None = None
        if not problems:
            try:
                instance: S = converter.structure(dict(body), self.schema)
            except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
                failure = exc
            else:
                problems = self.problems(instance)  # lists every bad value at once
                return (None, problems) if problems else (instance, problems)
        problems += self._field_problems(body, converter)
        if not problems and failure is not None:
            problems = self._explain(failure)  # the class's own validators, say
        return None, problems

    def _field_problems(self, body: Mapping[str, Any], converter: cattrs.Converter) -> list[str]:
        """Check each field of a body on its own: one bad value must not hide the others."""
        import cattrs

        problems = []
        for name, wire, required, wants_str in self.checks:
            if wire not in body:
                continue
            type_ = self._types.get(name)
            value = body[wire]
            if type_ is not None:
                try:
                    value = converter.structure(value, type_)
                except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
                    problems += _explain_field(exc, wire, type_)
                    continue
            problem = _value_problem(value, required, wants_str)
            if problem is not None:
                problems.append(f"{problem} @ $.{wire}")
        return problems

    def _explain(self, exc: Exception) -> list[str]:
        import cattrs

        if isinstance(exc, cattrs.BaseValidationError):
            # transform_error names attributes; Leaf's users think in wire names.
            wires = {f.name: f.wire for f in self.fields}
            return [
                re.sub(r"@ \$\.(\w+)", lambda m: f"@ $.{wires.get(m[1], m[1])}", line)
                for line in cattrs.transform_error(exc, format_exception=_describe)
            ]
        return [str(exc)]


_UnionType = type(int | None)


def _value_problem(value: object, required: bool, wants_str: bool) -> str | None:
    """Say what is wrong with one field's value, or return None."""
    if value is None:
        return "required field is None" if required else None
    if wants_str and not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    if isinstance(value, str) and not value.strip():
        return "must not be empty"
    return None


def _explain_field(exc: Exception, wire: str, type_: Any) -> list[str]:
    import cattrs

    if isinstance(exc, cattrs.BaseValidationError):
        return cattrs.transform_error(exc, path=f"$.{wire}", format_exception=_describe)
    return [f"{_describe(exc, type_)} @ $.{wire}"]


def _describe(exc: BaseException, type_: type[Any] | None) -> str:
    # Our own messages are written for users; cattrs' generic ones otherwise.
    import cattrs

    if isinstance(exc, ValidationError):
        return str(exc)
    if isinstance(type_, type) and issubclass(type_, enum.Enum):
        return "must be one of " + ", ".join(str(member.value) for member in type_)
    return cattrs.v.format_exception(exc, type_)


def _accepts_str(annotation: Any) -> bool:
    return annotation is str or (
        typing.get_origin(annotation) in {typing.Union, _UnionType}
        and str in typing.get_args(annotation)
    )
