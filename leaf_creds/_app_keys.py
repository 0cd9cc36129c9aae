"""``leaf.app_keys``: a provider application's own keys, stored at Leaf once per app.

Leaf's hosted pages (Magic Links, Leaf Link) can only offer a provider whose
app keys are registered. Paths, under User Management::

    GET                      /app-keys/{Provider}
    GET POST PUT DELETE      /app-keys/{Provider}/{appName}[/{clientEnvironment}]

The environment segment exists only where the provider's
:class:`AppKeySpec` says ``per_environment`` (JohnDeere, CNHI, CNHIFieldOps).

What Leaf leaves undocumented (see the README's "Connecting growers"), the
SDK is lenient about: every answer field is optional, unknown keys are
ignored, and timestamps with 3, 6 or 9 fractional digits, with or
without a zone, are read as UTC.
"""

from __future__ import annotations

import builtins
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import attrs

from ._app_key_spec import AppKeySpec
from ._exceptions import (
    DecodeError,
    LeafError,
    NotFoundError,
    OutcomeUnknownError,
    UnreadableCreateError,
    ValidationError,
)
from ._http import parse_json
from ._models import ClientEnvironment
from ._resource import CredentialResource, path_segment, to_client_environment
from ._transport import Answer, Transport

if TYPE_CHECKING:
    from ._registry import Registry

__all__ = ["APP_KEYS_PATH", "AppKey", "AppKeys"]

# Under User Management (the transport's `user_management`).
APP_KEYS_PATH: Final = "/app-keys"


@attrs.frozen(kw_only=True)
class AppKey:
    """A provider application's keys as Leaf lists them: metadata only.

    Leaf never returns the secrets of app keys, so none are kept here.

    Attributes:
        provider: Leaf's provider name, e.g. ``"JohnDeere"``.
        app_name: The app's name, your own label (e.g. ``"LeafWidget"``).
        client_environment: ``STAGE`` or ``PRODUCTION``; Leaf also fills it
            for providers without environments.
        created_time: When the keys were stored, as an aware UTC datetime.
    """

    provider: str | None = None
    app_name: str | None = None
    # A plain string, not ClientEnvironment: Leaf fills a default for
    # providers without environments, and its docs show placeholders.
    client_environment: str | None = None
    created_time: datetime | None = None


class AppKeys:
    """App keys of provider applications, reached as ``leaf.app_keys``.

    Each method takes the provider as a slug or ``CredentialResource`` whose
    :attr:`~CredentialResource.app_key` is set, and sends through the
    transport (auth, retries, errors, redaction, logging).
    """

    def __init__(self, transport: Transport, registry: Registry) -> None:
        self._transport = transport
        self._registry = registry

    def __repr__(self) -> str:
        return f"<AppKeys of {self._transport!r}>"

    # -- building (pure) ---------------------------------------------------

    def _spec(self, provider: str | CredentialResource[Any, Any]) -> AppKeySpec[Any]:
        resource = self._registry.resolve(provider)
        if resource.app_key is None:
            raise ValidationError(f"Leaf stores no app keys for {resource.slug}")
        return resource.app_key

    def _url(
        self, spec: AppKeySpec[Any], app_name: object, environment: object
    ) -> tuple[str, ClientEnvironment | None]:
        url = self._transport.user_management + APP_KEYS_PATH + "/" + spec.provider
        url += "/" + path_segment(app_name, "app name")
        if spec.per_environment:
            if environment is None:
                raise ValidationError(
                    f"{spec.provider} app keys live per environment: pass "
                    "environment='STAGE' or 'PRODUCTION'"
                )
            try:
                env = to_client_environment(environment)  # type: ignore[arg-type]
            except ValidationError:
                raise ValidationError(
                    f"environment must be STAGE or PRODUCTION, got {environment!r}"
                ) from None
            return url + "/" + env.value, env
        if environment is not None:
            raise ValidationError(
                f"{spec.provider} app keys have no environment; do not pass environment="
            )
        return url, None

    # -- the calls ---------------------------------------------------------

    async def create(
        self,
        provider: str | CredentialResource[Any, Any],
        app_name: str,
        keys: object,
        *,
        environment: ClientEnvironment | str | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> AppKey:
        """Store a provider application's keys at Leaf (``POST``).

        Args:
            provider: The provider's slug or resource.
            app_name: Your name for the app, e.g. ``"LeafWidget"``.
            keys: The provider's app-key schema instance
                (``provider.app_key.schema(...)``), or its camelCase JSON
                body as a mapping. Optional fields left unset are not sent.
            environment: ``STAGE`` or ``PRODUCTION``, where the provider's
                app keys live per environment (and only there).
            timeout: Seconds one attempt may take, for this call.
            connect_timeout: Seconds to open a new connection, for this call.

        Returns:
            What Leaf answered, or, when its answer has no body, the app key
            as sent (``created_time`` then ``None``).

        Raises:
            ValidationError: The input is invalid; nothing was sent.
            BadRequestError, ConflictError: Leaf refused it, e.g. the app
                exists already (use :meth:`update`).
            OutcomeUnknownError: The create may have been applied and Leaf
                cannot say with what keys (it never returns them): check with
                :meth:`get`, then :meth:`update`.
            UnreadableCreateError: Leaf answered 2xx with a JSON object that
                is not an app key: the keys were stored or may have been
                (never sent again); an ``OutcomeUnknownError`` and a
                ``DecodeError``.
            LeafError: Any other failure; see the exception tree.
        """
        return await self._write("POST", provider, app_name, keys, environment, timeout,
                                 connect_timeout)  # fmt: skip

    async def update(
        self,
        provider: str | CredentialResource[Any, Any],
        app_name: str,
        keys: object,
        *,
        environment: ClientEnvironment | str | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> AppKey:
        """Replace a provider application's keys at Leaf (``PUT``, retried safely).

        Takes the same arguments as :meth:`create`.

        Raises:
            ValidationError: The input is invalid; nothing was sent.
            NotFoundError: No such app keys.
            LeafError: Any other failure; see the exception tree.
        """
        return await self._write("PUT", provider, app_name, keys, environment, timeout,
                                 connect_timeout)  # fmt: skip

    async def get(
        self,
        provider: str | CredentialResource[Any, Any],
        app_name: str,
        *,
        environment: ClientEnvironment | str | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> AppKey:
        """Return one app's key metadata (Leaf never returns the secrets).

        Raises:
            ValidationError: The input is invalid; nothing was sent.
            NotFoundError: No such app keys.
            LeafError: Any other failure; see the exception tree.
        """
        answer, url = await self._send(
            "GET", provider, app_name, environment, timeout, connect_timeout
        )
        return self._transport.decode_object(AppKey, answer, "GET", url)

    async def list(
        self,
        provider: str | CredentialResource[Any, Any],
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> builtins.list[AppKey]:
        """Return every app's key metadata for a provider, all environments.

        Raises:
            ValidationError: The provider stores no app keys; nothing was sent.
            DecodeError: The answer is not a JSON array of app keys.
            LeafError: Any other failure; see the exception tree.
        """
        spec = self._spec(provider)
        transport = self._transport
        url = transport.user_management + APP_KEYS_PATH + "/" + spec.provider
        return await transport.list_all(
            url, AppKey, "app keys", transport.timeouts_for(timeout, connect_timeout)
        )

    async def delete(
        self,
        provider: str | CredentialResource[Any, Any],
        app_name: str,
        *,
        environment: ClientEnvironment | str | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        """Delete an app's keys at Leaf.

        Raises:
            ValidationError: The input is invalid; nothing was sent.
            NotFoundError: There were no such app keys.
            LeafError: Any other failure; see the exception tree.
        """
        await self._send("DELETE", provider, app_name, environment, timeout, connect_timeout)

    async def _send(
        self,
        method: str,
        provider: str | CredentialResource[Any, Any],
        app_name: str,
        environment: object,
        timeout: float | None,
        connect_timeout: float | None,
    ) -> tuple[Answer, str]:
        # A body-less call on one app's keys: what get and delete share.
        url, _ = self._url(self._spec(provider), app_name, environment)
        timeouts = self._transport.timeouts_for(timeout, connect_timeout)
        return await self._transport.request(method, url, timeouts), url

    async def _write(
        self,
        method: str,
        provider: str | CredentialResource[Any, Any],
        app_name: str,
        keys: object,
        environment: object,
        timeout: float | None,
        connect_timeout: float | None,
    ) -> AppKey:
        spec = self._spec(provider)
        url, env = self._url(spec, app_name, environment)
        transport = self._transport
        body, secrets = spec.body(keys, transport.converter)
        timeouts = transport.timeouts_for(timeout, connect_timeout)

        async def existing(failure: LeafError, attempts: int) -> Answer | None:
            # A POST with an unknown outcome: a GET tells whether the app
            # exists, but not with which keys (Leaf never returns them).
            try:
                await transport.request("GET", url, timeouts)
            except NotFoundError:
                return None  # not stored: the POST may be sent again
            except LeafError:
                pass
            raise OutcomeUnknownError(
                f"storing {spec.provider} app keys {app_name!r} may or may not have been "
                f"applied ({type(failure).__name__}), and Leaf cannot show which keys an app "
                "holds: check with app_keys.get(), then set them with app_keys.update()",
                provider=spec.provider,
                user_id="",
                attempts=attempts,
            ) from failure

        answer = await transport.request(
            method,
            url,
            timeouts,
            data=json.dumps(body).encode(),
            secrets=secrets,
            reconcile=existing if method == "POST" else None,
        )
        try:
            data = parse_json(answer.body, method=method, url=url, status=answer.status)
        except DecodeError:
            data = None  # a 2xx all the same: the keys are stored
        if isinstance(data, dict):
            try:
                return transport.decode_object(AppKey, answer, method, url)
            except DecodeError as exc:
                if method != "POST":
                    raise  # an update may simply be sent again
                raise UnreadableCreateError(
                    f"storing {spec.provider} app keys {app_name!r} was answered "
                    f"{answer.status}, so it was applied or may have been, but its answer is "
                    f"not the app key ({exc}). Do not store them again: check with "
                    "app_keys.get(), and change them with app_keys.update().",
                    provider=spec.provider,
                    user_id="",
                    attempts=answer.attempts,
                    method=method,
                    url=url,
                    status=answer.status,
                ) from exc
        # Leaf documents no answer for POST and PUT (INF: any 2xx, maybe no
        # body): describe what was stored.
        return AppKey(
            provider=spec.provider,
            app_name=app_name,
            client_environment=None if env is None else env.value,
        )
