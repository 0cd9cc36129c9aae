"""CredentialResource: one provider's slug, schemas, paths and input checks.

Everything here is pure: it builds paths and bodies and checks input, and
never does I/O. ``LeafSession`` sends what this module builds.
"""

from __future__ import annotations

import enum
import re
import typing
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote

import attrs

from ._converter import default_converter
from ._exceptions import ValidationError
from ._fields import is_secret, wire_name
from ._models import ClientEnvironment, CredentialRecord

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "CreateField",
    "CredentialResource",
    "to_client_environment",
    "user_path",
]

S = TypeVar("S")
R = TypeVar("R", bound=CredentialRecord)

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# What quote(safe="") leaves as is: ids made only of these (UUIDs) skip it.
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")
_DOTS = frozenset({".", ".."})


def user_path(user_id: object) -> str:
    """Return ``/users/{user_id}`` with the id percent-encoded as one segment.

    Raises:
        ValidationError: The id is not a non-empty string, is ``.``/``..``,
            which no encoding can keep from changing the URL's meaning, or
            holds a lone surrogate, which UTF-8 cannot encode.
    """
    if type(user_id) is str and _UNRESERVED.fullmatch(user_id) and user_id not in _DOTS:
        return "/users/" + user_id  # the common case (UUIDs): one regex, no quoting
    if not isinstance(user_id, str):
        raise ValidationError(
            f"a Leaf user id must be a string, got {type(user_id).__name__}"
        )
    if not user_id.strip():
        raise ValidationError("a Leaf user id must not be empty")
    if user_id in _DOTS:
        raise ValidationError(f"{user_id!r} is not a valid Leaf user id")
    # safe="" makes "/", "?", "#" and "%" escapes too, so the id is always
    # exactly one path segment of the URL that was meant.
    try:
        return "/users/" + quote(user_id, safe="")
    except UnicodeEncodeError as exc:
        # A lone surrogate (json.loads('"\\ud800"'), or a non-UTF-8 byte of
        # argv) has no UTF-8 form, so no URL can carry it.
        raise ValidationError(
            "a Leaf user id must be valid Unicode text "
            f"(a lone surrogate at position {exc.start})"
        ) from None


def to_client_environment(value: ClientEnvironment | str) -> ClientEnvironment:
    """Accept a :class:`ClientEnvironment` or its plain string name.

    Raises:
        ValidationError: The value is neither ``STAGE`` nor ``PRODUCTION``.
    """
    try:
        return ClientEnvironment(value)
    except ValueError:
        allowed = ", ".join(member.value for member in ClientEnvironment)
        raise ValidationError(
            f"client_environment must be one of {allowed}, got {value!r}"
        ) from None


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


@attrs.frozen(repr=False)
class CredentialResource(Generic[S, R]):
    """One provider's credentials endpoint, parameterized by slug and schemas.

    Args:
        slug: The provider's slug in Leaf's paths, e.g. ``"sentera"`` for
            ``/users/{id}/sentera-credentials``.
        schema: The attrs class of the create body.
        record: The attrs class of what GET and POST return; a subclass of
            :class:`CredentialRecord`.
        name: A display name; the slug when not given.

    Raises:
        ValidationError: The slug is not lowercase words joined by ``-``, or
            the classes are not attrs classes.
    """

    slug: str
    schema: type[S]
    record: type[R]
    name: str = attrs.field(default="")

    def __attrs_post_init__(self) -> None:
        slug: object = self.slug
        if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
            raise ValidationError(
                f"a provider slug is lowercase words joined by '-', got {self.slug!r}"
            )
        if not attrs.has(self.schema):
            raise ValidationError(f"schema {self.schema!r} is not an attrs class")
        if not (attrs.has(self.record) and issubclass(self.record, CredentialRecord)):
            raise ValidationError(
                f"record {self.record!r} must be an attrs subclass of CredentialRecord"
            )
        if not self.name:
            object.__setattr__(self, "name", self.slug)

    def __repr__(self) -> str:
        return f"<CredentialResource {self.slug!r}>"

    @property
    def _schema_class(self) -> type[attrs.AttrsInstance]:
        return self.schema  # type: ignore[return-value]  # checked in __attrs_post_init__

    @cached_property
    def _types(self) -> dict[str, Any]:
        return typing.get_type_hints(self.schema)

    @cached_property
    def fields(self) -> tuple[CreateField, ...]:
        """The create body's fields, in declaration order."""
        return tuple(
            CreateField(
                name=a.name,
                wire=wire_name(a),
                required=a.default is attrs.NOTHING,
                secret=is_secret(a),
                default=None if a.default is attrs.NOTHING else a.default,
            )
            for a in attrs.fields(self._schema_class)
        )

    @cached_property
    def _checks(self) -> tuple[tuple[str, str, bool, bool], ...]:
        # (name, wire, required, must be a str), worked out once, not per create.
        return tuple(
            (f.name, f.wire, f.required, _accepts_str(self._types.get(f.name)))
            for f in self.fields
        )

    @cached_property
    def _secret_wires(self) -> tuple[str, ...]:
        # The JSON keys of the create body that hold secrets.
        return tuple(f.wire for f in self.fields if f.secret)

    @cached_property
    def record_secrets(self) -> frozenset[str]:
        """The attribute names of the record that hold secrets."""
        return frozenset(a.name for a in attrs.fields(self.record) if is_secret(a))

    def path(self, user_id: str) -> str:
        """Return the credential's path under the User Management API.

        Raises:
            ValidationError: The user id is not valid.
        """
        if type(user_id) is str and _UNRESERVED.fullmatch(user_id) and user_id not in _DOTS:
            # user_path's common case, inline: this runs on every request.
            return "/users/" + user_id + self._suffix
        return user_path(user_id) + self._suffix

    @cached_property
    def _suffix(self) -> str:
        return f"/{self.slug}-credentials"

    def events_path(self, user_id: str) -> str:
        """Return the path of the credential's troubleshooting log."""
        return self.path(user_id) + "/events"

    def credentials_from_wire(
        self, body: Mapping[str, Any], *, converter: cattrs.Converter | None = None
    ) -> S:
        """Build the create schema from a camelCase JSON body.

        Raises:
            ValidationError: A key is unknown, a required one is missing, or a
                value is invalid; every problem is listed.
        """
        if not isinstance(body, Mapping):
            raise ValidationError(
                f"{self.slug} credentials must be a JSON object, got {type(body).__name__}"
            )
        known = {f.wire for f in self.fields}
        problems = [f"unknown field @ $.{key}" for key in body if key not in known]
        problems += [
            f"required field missing @ $.{f.wire}"
            for f in self.fields
            if f.required and f.wire not in body
        ]
        if problems:
            raise self._invalid(problems)
        import cattrs  # loaded lazily, see _converter.py

        try:
            credentials: S = (converter or default_converter()).structure(dict(body), self.schema)
        except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
            raise self._invalid(self._explain(exc)) from None
        self.validate(credentials)
        return credentials

    def validate(self, credentials: object) -> S:
        """Check a create schema instance before it is sent.

        Returns:
            The same instance, typed as this provider's schema.

        Raises:
            ValidationError: It is another provider's schema, or a required
                field is missing or empty, or a value has the wrong type.
        """
        if not isinstance(credentials, self.schema):
            raise ValidationError(
                f"{self.slug} expects {self.schema.__name__}, "
                f"got {type(credentials).__name__}"
            )
        problems = []
        for name, wire, required, wants_str in self._checks:
            value = getattr(credentials, name)
            if value is None:
                if required:
                    problems.append(f"required field is None @ $.{wire}")
            elif wants_str and not isinstance(value, str):
                problems.append(f"expected a string, got {type(value).__name__} @ $.{wire}")
            elif isinstance(value, str) and not value.strip():
                problems.append(f"must not be empty @ $.{wire}")
        if problems:
            raise self._invalid(problems)
        return credentials

    def _invalid(self, problems: list[str]) -> ValidationError:
        return ValidationError(
            f"invalid {self.slug} credentials: " + "; ".join(problems), errors=problems
        )

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

