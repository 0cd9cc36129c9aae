"""OAuthSpec: how a provider's consent flow goes, as pure request builders.

Everything here is pure. A provider's ``CredentialResource`` carries its
spec as ``oauth``; ``leaf.oauth`` (``_oauth``) sends the calls this module's
builders return, to the host configured for each (every host is
configurable), and reads their answers. The builders live with each
provider (``providers/*.py``): the registry stays the one place that knows
how a provider connects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any, Generic, TypeVar

import attrs

from ._exceptions import ValidationError
from ._fields import masked
from ._models import ClientEnvironment
from ._schema import SchemaRules

__all__ = ["OAuthCall", "OAuthContext", "OAuthSpec", "OAuthTokens"]

A = TypeVar("A")


@attrs.frozen(kw_only=True)
class OAuthCall:
    """One HTTP call of a consent flow (always a POST), built purely.

    Attributes:
        url: The whole URL at the provider's default host; ``leaf.oauth``
            sends it to the host configured in its place, if any.
        json: A JSON body.
        form: A form body (``application/x-www-form-urlencoded``).
        basic: The (user, password) of an ``Authorization: Basic`` header.
    """

    url: str
    json: Mapping[str, Any] | None = attrs.field(default=None, repr=False)
    form: Mapping[str, str] | None = attrs.field(default=None, repr=False)
    basic: tuple[str, str] | None = attrs.field(default=None, repr=False)


@attrs.frozen(kw_only=True)
class OAuthContext:
    """What a flow's builders are given besides the application's keys.

    Attributes:
        redirect_url: Where the provider sends the grower back, exactly as
            registered with the provider.
        state: The value the redirect must carry back.
        environment: ``STAGE`` or ``PRODUCTION``, for providers that have one.
        scopes: The OAuth scopes asked for; None for the flow's default.
        response_url: The whole redirect URL (with the code), when finishing.
        code: The authorization code of the redirect, when finishing.
        code_verifier: The PKCE verifier the first step gave, if any.
    """

    redirect_url: str
    state: str
    environment: ClientEnvironment | None = None
    scopes: tuple[str, ...] | None = None
    response_url: str = attrs.field(default="", repr=False)  # holds the code
    code: str = attrs.field(default="", repr=masked)
    code_verifier: str | None = attrs.field(default=None, repr=masked)


@attrs.frozen(kw_only=True)
class OAuthTokens:
    """The grower's tokens, as the exchange answered them."""

    refresh_token: str = attrs.field(repr=masked)
    access_token: str | None = attrs.field(default=None, repr=masked)


@attrs.frozen(kw_only=True)
class OAuthSpec(Generic[A]):
    """How a provider's consent flow goes: its two calls and the credential they make.

    Args:
        app: The attrs class of the application's keys that ``start`` and
            ``finish`` take (secrets declared ``repr=masked``).
        client_id: The attribute of ``app`` holding its public id, kept in
            the ``OAuthStart`` to check that ``finish`` gets the same app.
        authorize: Build step 1: the call whose answer holds the URL to send
            the grower to, or that URL itself when the provider needs no call.
        exchange: Build step 2: the call that trades the code for tokens.
        credentials: Build the provider's credential schema from the app's
            keys, the tokens and the environment.
        hosts: The default origins the flow calls (``https://host``), for
            documentation and for the CLI's host options.
        environments: Whether the flow takes ``STAGE``/``PRODUCTION``
            (then one is required: it becomes the credential's
            ``clientEnvironment``).
        scopes: Whether the flow takes OAuth scopes.
        unavailable: Why there is no flow for the provider (its steps are not
            documented); then no other argument is given, and ``start``
            raises ``OAuthUnavailableError`` with this text.

    Raises:
        ValidationError: A required piece is missing or of the wrong kind.
    """

    app: type[A] | None = None
    client_id: str = "client_id"
    authorize: Callable[[A, OAuthContext], OAuthCall | str] | None = None
    exchange: Callable[[A, OAuthContext], OAuthCall] | None = None
    credentials: Callable[[A, OAuthTokens, ClientEnvironment | None], object] | None = None
    hosts: tuple[str, ...] = ()
    environments: bool = False
    scopes: bool = False
    unavailable: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.unavailable is not None:
            if self.app is not None:
                raise ValidationError("an unavailable OAuthSpec takes only its reason")
            return
        if self.app is None or not attrs.has(self.app):
            raise ValidationError(f"OAuthSpec app {self.app!r} is not an attrs class")
        if self.client_id not in attrs.fields_dict(self.app):
            raise ValidationError(f"OAuthSpec client_id {self.client_id!r} is not a field of app")
        for name in ("authorize", "exchange", "credentials"):
            if not callable(getattr(self, name)):
                raise ValidationError(f"OAuthSpec {name} must be callable")

    @classmethod
    def undocumented(cls, reason: str) -> OAuthSpec[Any]:
        """Return the spec of a provider whose flow leaf_creds cannot run, saying why."""
        return cls(unavailable=reason)

    @cached_property
    def _rules(self) -> SchemaRules[A]:
        assert self.app is not None
        return SchemaRules(self.app)

    @property
    def secret_wires(self) -> tuple[str, ...]:
        """The JSON keys of ``app`` that hold secrets."""
        return self._rules.secret_wires

    def app_from(self, keys: object, converter: Any) -> A:
        """Return the app's keys checked: an instance of ``app`` or its camelCase JSON object.

        Raises:
            ValidationError: They are neither, or a value is missing or wrong;
                never with a secret's value.
        """
        assert self.app is not None
        rules = self._rules
        if isinstance(keys, self.app):
            checked: A | None = keys
            problems = rules.problems(keys)
        elif isinstance(keys, Mapping):
            checked, problems = rules.from_wire(keys, converter)
        else:
            problems = [f"expects {self.app.__name__}, got {type(keys).__name__}"]
            checked = None
        if problems or checked is None:
            raise ValidationError(
                f"invalid {self.app.__name__}: " + "; ".join(problems), errors=problems
            )
        return checked

    def public_id(self, app: A) -> str:
        """Return the app's public id (its ``client_id`` attribute)."""
        value: str = getattr(app, self.client_id)
        return value
