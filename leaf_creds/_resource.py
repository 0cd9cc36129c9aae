"""CredentialResource: one provider's slug, schemas, paths and input checks.

Everything here is pure: it builds paths and bodies and checks input, and
never does I/O. ``LeafSession`` sends what this module builds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar
from urllib.parse import quote

import attrs

from ._app_key_spec import AppKeySpec
from ._converter import default_converter
from ._exceptions import ValidationError
from ._fields import is_secret
from ._models import ClientEnvironment
from ._oauth_spec import OAuthSpec
from ._schema import CreateField, SchemaRules

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "CreateField",
    "CredentialResource",
    "path_segment",
    "to_client_environment",
    "user_path",
]

S = TypeVar("S")


class RecordLike(Protocol):
    """What a record class offers: Leaf's ``id`` and ``status`` (``CredentialRecord`` has both)."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...


R = TypeVar("R", bound=RecordLike)

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# What quote(safe="") leaves as is: ids made only of these (UUIDs) skip it.
_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")
_DOTS = frozenset({".", ".."})
_RECORD_FIELDS = frozenset({"id", "status"})
# Leaf's Magic Link provider names: JohnDeere, CNHIFieldOps...
_LINK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")


def user_path(user_id: object) -> str:
    """Return ``/users/{user_id}`` with the id percent-encoded as one segment.

    Raises:
        ValidationError: The id is not a non-empty string, or is ``.``/``..``,
            which no encoding can keep from changing the URL's meaning.
    """
    if type(user_id) is str and _UNRESERVED.fullmatch(user_id) and user_id not in _DOTS:
        return "/users/" + user_id  # the common case (UUIDs): one regex, no quoting
    return "/users/" + path_segment(user_id, "Leaf user id")


def path_segment(value: object, what: str) -> str:
    """Return ``value`` percent-encoded as exactly one path segment.

    Args:
        value: The id or name to put in a path.
        what: What it is, for the error message (e.g. ``"Leaf user id"``).

    Raises:
        ValidationError: The value is not a non-empty string, is
            ``.``/``..``, which no encoding can keep from changing the URL's
            meaning, or holds a lone surrogate, which UTF-8 cannot encode.
    """
    article = "an" if what[:1].lower() in "aeiou" else "a"
    if not isinstance(value, str):
        raise ValidationError(f"{article} {what} must be a string, got {type(value).__name__}")
    if not value.strip():
        raise ValidationError(f"{article} {what} must not be empty")
    if value in _DOTS:
        raise ValidationError(f"{value!r} is not a valid {what}")
    # safe="" makes "/", "?", "#" and "%" escapes too, so the value is always
    # exactly one path segment of the URL that was meant.
    try:
        return quote(value, safe="")
    except UnicodeEncodeError as exc:
        # A lone surrogate (json.loads('"\\ud800"'), or a non-UTF-8 byte of
        # argv) has no UTF-8 form, so no URL can carry it.
        raise ValidationError(
            f"{article} {what} must be valid Unicode text "
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


@attrs.frozen(repr=False)
class CredentialResource(Generic[S, R]):
    """One provider's credentials endpoint, parameterized by slug and schemas.

    Args:
        slug: The provider's slug in Leaf's paths, e.g. ``"sentera"`` for
            ``/users/{id}/sentera-credentials``.
        schema: The attrs class of the create body.
        record: The attrs class of what GET and POST return: any attrs
            class with ``id`` and ``status`` fields, such as a subclass of
            :class:`CredentialRecord` (which adds ``created_time``).
        name: A display name; the slug when not given.
        app_key: How the provider's application keys are stored at Leaf
            (:class:`AppKeySpec`), or ``None`` when Leaf takes none.
        link_name: Leaf's name for the provider in Magic Links (e.g.
            ``"JohnDeere"``), or ``None`` when Leaf offers no Magic Link.
        oauth: How a grower's consent flow goes (:class:`OAuthSpec`, for
            ``leaf.oauth``), or ``None`` when the provider has none.

    Raises:
        ValidationError: The slug is not lowercase words joined by ``-``, or
            the classes are not attrs classes, or the record lacks ``id`` or
            ``status``, or ``app_key``, ``link_name`` or ``oauth`` is of
            the wrong kind.
    """

    slug: str
    schema: type[S]
    record: type[R]
    name: str = attrs.field(default="")
    app_key: AppKeySpec[Any] | None = attrs.field(default=None, kw_only=True)
    link_name: str | None = attrs.field(default=None, kw_only=True)
    oauth: OAuthSpec[Any] | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        slug: object = self.slug
        if not isinstance(slug, str) or not _SLUG.fullmatch(slug):
            raise ValidationError(
                f"a provider slug is lowercase words joined by '-', got {self.slug!r}"
            )
        if not attrs.has(self.schema):
            raise ValidationError(f"schema {self.schema!r} is not an attrs class")
        # Any attrs class with Leaf's two always-present fields will do;
        # subclassing CredentialRecord is the easy way to get them.
        record: Any = self.record
        if not (attrs.has(record) and attrs.fields_dict(record).keys() >= _RECORD_FIELDS):
            raise ValidationError(
                f"record {self.record!r} must be an attrs class with 'id' and 'status' "
                "fields (e.g. a subclass of CredentialRecord)"
            )
        if not self.name:
            object.__setattr__(self, "name", self.slug)
        if self.app_key is not None and not isinstance(self.app_key, AppKeySpec):
            raise ValidationError(f"app_key must be an AppKeySpec, got {self.app_key!r}")
        link: object = self.link_name
        if link is not None and not (isinstance(link, str) and _LINK_NAME.fullmatch(link)):
            raise ValidationError(f"link_name must be a name like 'JohnDeere', got {link!r}")
        if self.oauth is not None and not isinstance(self.oauth, OAuthSpec):
            raise ValidationError(f"oauth must be an OAuthSpec, got {self.oauth!r}")

    def __repr__(self) -> str:
        return f"<CredentialResource {self.slug!r}>"

    @cached_property
    def _rules(self) -> SchemaRules[S]:
        return SchemaRules(self.schema)

    @cached_property
    def fields(self) -> tuple[CreateField, ...]:
        """The create body's fields, in declaration order."""
        return self._rules.fields

    @cached_property
    def _secret_wires(self) -> tuple[str, ...]:
        # The JSON keys of the create body that hold secrets (`_credentials` reads them).
        return self._rules.secret_wires

    @cached_property
    def record_secrets(self) -> frozenset[str]:
        """The attribute names of the record that hold secrets."""
        record: Any = self.record  # an attrs class, checked in __attrs_post_init__
        return frozenset(a.name for a in attrs.fields(record) if is_secret(a))

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
        credentials, problems = self._rules.from_wire(body, converter or default_converter())
        if credentials is None:
            raise self._invalid(problems)
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
        problems = self._rules.problems(credentials)
        if problems:
            raise self._invalid(problems)
        return credentials

    def _invalid(self, problems: list[str]) -> ValidationError:
        return ValidationError(
            f"invalid {self.slug} credentials: " + "; ".join(problems), errors=problems
        )
