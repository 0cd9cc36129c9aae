"""AppKeySpec: where Leaf keeps a provider application's own keys, and their shape.

Everything here is pure. A provider's ``CredentialResource`` carries its
spec as ``app_key``; ``leaf.app_keys`` (``_app_keys``) sends the body this
module checks and builds. The keys' field rules are the same as a
credential create body's: both are :class:`~leaf_creds._schema.SchemaRules`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from ._exceptions import ValidationError
from ._schema import CreateField, SchemaRules

if TYPE_CHECKING:
    import cattrs

__all__ = ["AppKeySpec"]

K = TypeVar("K")

_SEGMENT = re.compile(r"[A-Za-z][A-Za-z0-9]*")


@attrs.frozen
class AppKeySpec(Generic[K]):
    """Where Leaf keeps a provider application's own keys, and their shape.

    App keys are the API owner's, once per provider and app (not a grower's):
    Leaf's hosted Magic Link and Leaf Link pages need them to run the
    provider's sign-in.

    Args:
        provider: Leaf's path segment for the provider, e.g. ``"JohnDeere"``
            in ``/app-keys/JohnDeere/{appName}``.
        schema: The frozen attrs class of the keys (secrets declared with
            ``attrs.field(repr=masked)``, as in credential schemas).
        per_environment: Whether the keys live per ``clientEnvironment``
            (``STAGE``/``PRODUCTION``), as for JohnDeere and CNHI.

    Raises:
        ValidationError: The segment is not a name like ``JohnDeere``, or the
            schema is not an attrs class.
    """

    provider: str
    schema: type[K]
    per_environment: bool = False

    def __attrs_post_init__(self) -> None:
        provider: object = self.provider
        if not isinstance(provider, str) or not _SEGMENT.fullmatch(provider):
            raise ValidationError(
                f"an app-key provider segment is a name like 'JohnDeere', got {provider!r}"
            )
        if not attrs.has(self.schema):
            raise ValidationError(f"app-key schema {self.schema!r} is not an attrs class")
        if not isinstance(self.per_environment, bool):
            raise ValidationError("per_environment must be a bool")

    @cached_property
    def _rules(self) -> SchemaRules[K]:
        return SchemaRules(self.schema)

    @property
    def fields(self) -> tuple[CreateField, ...]:
        """The keys' fields (:class:`CreateField`), in declaration order."""
        return self._rules.fields

    def body(self, keys: object, converter: cattrs.Converter) -> tuple[dict[str, Any], list[str]]:
        """Check app keys and return their JSON body and secret values; nothing is sent.

        Args:
            keys: An instance of :attr:`schema`, or its camelCase JSON body.
            converter: The converter that writes the body.

        Raises:
            ValidationError: A key is unknown, missing, empty or of the wrong
                type, or a list is empty (leave it unset for Leaf's default);
                never with a secret's value.
        """
        rules = self._rules
        checked: K | None
        if isinstance(keys, self.schema):
            checked, problems = keys, rules.problems(keys)
        elif isinstance(keys, Mapping):
            checked, problems = rules.from_wire(keys, converter)
        else:
            raise self._invalid([f"expects {self.schema.__name__}, got {type(keys).__name__}"])
        if problems or checked is None:
            raise self._invalid(problems)
        body: dict[str, Any] = converter.unstructure(checked, self.schema)
        # An empty `scopes` list would change what Leaf grants; unset is the default.
        empty = [
            f"must not be empty; leave it unset for Leaf's default @ $.{key}"
            for key, value in body.items()
            if isinstance(value, list) and not value
        ]
        if empty:
            raise self._invalid(empty)
        secrets = [value for wire in rules.secret_wires if isinstance(value := body.get(wire), str)]
        return body, secrets

    def _invalid(self, problems: list[str]) -> ValidationError:
        return ValidationError(
            f"invalid {self.provider} app keys: " + "; ".join(problems), errors=problems
        )
