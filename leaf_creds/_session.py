"""LeafSession: the facade. Options, lifecycle, resources, and thin delegating methods.

Data flows one way: a public method (or a service resource reached as a
property: ``leaf.credentials``, ``leaf.users``, ``leaf.webhooks``,
``leaf.app_keys``, ``leaf.magic_links``, ``leaf.api_keys``) builds the path
and checks the input (pure); the one :class:`~leaf_creds._transport.Transport`
sends it with auth, pacing and retries; ``_http`` turns the answer into data
or an exception; the converter turns data into records. What is retried is
``_retry.decide``'s, and the README's "Retries" section.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, TypeVar, overload

import aiohttp

from ._auth import Auth
from ._bulk import DEFAULT_CONCURRENCY, Operation, Outcome, Progress, run_bulk
from ._converter import make_converter
from ._credentials import Credentials
from ._exceptions import ValidationError
from ._models import CredentialEvent, CredentialRecord
from ._options import DEFAULT_BASE_URL, check_base_url, check_byte_count, check_rate, make_auth
from ._pacing import Pacer
from ._registry import Registry, default_registry
from ._resource import CredentialResource, RecordLike
from ._retry import RetryPolicy
from ._transport import LOGIN_PATH, USER_MANAGEMENT, Transport, make_timeouts
from ._users import Users
from ._version import __version__

if TYPE_CHECKING:
    import cattrs

    from ._alerts import Webhook
    from ._api_keys import ApiKeys
    from ._app_keys import AppKeys
    from ._configurations import Configurations
    from ._diagnose import Diagnosis
    from ._integrations import Integrations
    from ._magic_links import MagicLinks
    from ._oauth import OAuth
    from ._offboard import Offboarding
    from ._organizations import Organizations
    from ._owners import CredentialOwners
    from ._webhooks import Webhooks

__all__ = ["DEFAULT_BASE_URL", "LOGIN_PATH", "USER_MANAGEMENT", "LeafSession"]

# Leaf's largest answers (30 days of events, a page of 100 users) are far
# smaller; the cap only bounds what a broken or hostile server can make us hold.
DEFAULT_MAX_RESPONSE_BYTES: Final = 16 * 1024 * 1024

S = TypeVar("S")
R = TypeVar("R", bound=RecordLike)

class LeafSession:
    """An async client for Leaf's provider-credentials endpoints.

    Use it as an async context manager, or call :meth:`aclose` when done::

        async with LeafSession(token="...") as leaf:
            record = await leaf.get(leaf_creds.SENTERA, user_id)

    Args:
        token: A fixed bearer token.
        username: Log in with this Leaf account (with ``password``).
        password: The account's password.
        remember_me: Ask for a 30-day token instead of a 24-hour one.
        token_provider: An async callable returning a bearer token, asked
            before every request (it should cache).
        base_url: The API host; the SDK appends the service paths itself.
        session: An ``aiohttp.ClientSession`` to use; it is never closed by
            us. Without one, the session creates its own and closes it.
        timeout: Seconds one attempt may take in all.
        connect_timeout: Seconds to open a new connection (a pooled one is
            reused without waiting on it).
        retry: How transient failures are retried.
        registry: The providers that slugs resolve to; a new
            :func:`default_registry` when not given.
        converter: The cattrs converter for Leaf's JSON; a new
            :func:`make_converter` when not given. Register any hooks of
            your own before the first request: the session looks each
            type's hook up once and keeps it.
        allow_http: Allow a plain ``http://`` base URL on a non-loopback host.
        max_response_bytes: The longest answer body read, counted after
            decompression (16 MiB by default, far above any Leaf answer); a
            2xx past it raises ``ResponseTooLargeError``, an error answer is
            cut at it.
        rate_limit: The most requests per second the session ever starts,
            retries and 429 resends included (starts spaced ``1/rate``
            apart). Below it, the session paces itself after Leaf's 429s
            either way (see the README's "Rate limits").

    Exactly one of ``token``, ``username``/``password`` and
    ``token_provider`` must be given, or none to read the CLI's ``LEAF_TOKEN``
    or ``LEAF_USERNAME``/``LEAF_PASSWORD`` (and ``LEAF_BASE_URL``, always).

    Raises:
        ValidationError: The options are invalid.
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        remember_me: bool = False,
        token_provider: Callable[[], Awaitable[str]] | None = None,
        base_url: str = DEFAULT_BASE_URL,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        registry: Registry | None = None,
        converter: cattrs.Converter | None = None,
        allow_http: bool = False,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        rate_limit: float | None = None,
    ) -> None:
        url = check_base_url(base_url, allow_http)
        self._max_response_bytes = check_byte_count("max_response_bytes", max_response_bytes)
        self._base_url = str(url).rstrip("/")
        # The transport is made right after the auth, and does the login exchange.
        auth = make_auth(
            token=token, username=username, password=password, remember_me=remember_me,
            token_provider=token_provider, login=lambda body: self._transport.login(body),
        )  # fmt: skip
        self._auth: Auth = auth
        self._closed = False
        timeouts = make_timeouts(timeout, connect_timeout)
        self._retry = retry if retry is not None else RetryPolicy()
        if not isinstance(self._retry, RetryPolicy):
            raise ValidationError("retry must be a RetryPolicy")
        self._registry = registry if registry is not None else default_registry()
        self._converter = converter if converter is not None else make_converter()
        # One transport, and so one pacing and one retry budget, for every
        # request of the session, whichever service sends it.
        self._transport = Transport(
            base_url=self._base_url, auth=auth, fixed_token=token, session=session,
            timeouts=timeouts, retry=self._retry,
            pacer=Pacer(None if rate_limit is None else check_rate("rate_limit", rate_limit)),
            converter=self._converter, max_response_bytes=self._max_response_bytes,
            user_agent=f"leaf-creds/{__version__} aiohttp/{aiohttp.__version__}",
        )  # fmt: skip
        self._credentials = Credentials(self._transport, self._registry)

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<LeafSession base_url={self._base_url!r} auth={self._auth.kind}{state}>"

    # -- lifecycle ---------------------------------------------------------

    async def __aenter__(self) -> LeafSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the aiohttp session if this object created it; idempotent."""
        self._closed = True
        await self._transport.aclose()

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    @property
    def base_url(self) -> str:
        """The API host this session talks to."""
        return self._base_url

    @property
    def registry(self) -> Registry:
        """The providers that slugs resolve to."""
        return self._registry

    @property
    def converter(self) -> cattrs.Converter:
        """The cattrs converter that reads and writes Leaf's JSON."""
        return self._converter

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy."""
        return self._retry

    @property
    def rate_limit(self) -> float | None:
        """The hard ceiling on requests started per second, or None."""
        return self._transport.pacer.ceiling

    @property
    def max_response_bytes(self) -> int:
        """The longest answer body this session reads, after decompression."""
        return self._max_response_bytes

    @property
    def transport(self) -> Transport:
        """The one transport every service of this session sends through.

        Its public members (``request``, ``decode_object``, ``list_all``,
        ``timeouts_for``, ``pacer``, ``budget``...) are what a service module
        of your own (a Leaf service leaf_creds does not cover yet) builds on.
        """
        return self._transport

    # -- Leaf's services: small resources over the one transport -----------

    @property
    def credentials(self) -> Credentials:
        """Provider credentials of Leaf users: :class:`~leaf_creds._credentials.Credentials`."""
        return self._credentials

    @functools.cached_property
    def users(self) -> Users:
        """The account's Leaf users (``leaf.users(...)`` lists them): :class:`Users`."""
        return Users(self._transport)

    @functools.cached_property
    def webhooks(self) -> Webhooks:
        """Leaf's alert webhooks (``await leaf.webhooks()`` lists them): :class:`Webhooks`."""
        from ._webhooks import Webhooks  # alerts load on first use
        return Webhooks(self._transport)

    @functools.cached_property
    def app_keys(self) -> AppKeys:
        """Provider applications' keys stored at Leaf: :class:`~leaf_creds._app_keys.AppKeys`."""
        from ._app_keys import AppKeys
        return AppKeys(self._transport, self._registry)

    @functools.cached_property
    def magic_links(self) -> MagicLinks:
        """Magic Links for growers: :class:`~leaf_creds._magic_links.MagicLinks`."""
        from ._magic_links import MagicLinks
        return MagicLinks(self._transport, self._registry)

    @functools.cached_property
    def api_keys(self) -> ApiKeys:
        """Leaf Link API keys of Leaf users: :class:`~leaf_creds._api_keys.ApiKeys`."""
        from ._api_keys import ApiKeys
        return ApiKeys(self._transport)

    @functools.cached_property
    def oauth(self) -> OAuth:
        """Growers' consent flows, to connect them yourself: :class:`~leaf_creds.OAuth`."""
        from ._oauth import OAuth
        return OAuth(self._transport, self._registry, self._credentials)

    @functools.cached_property
    def organizations(self) -> Organizations:
        """Growers' John Deere and Trimble organizations: :class:`~leaf_creds.Organizations`."""
        from ._organizations import Organizations
        return Organizations(self._transport, self._registry)

    @functools.cached_property
    def configurations(self) -> Configurations:
        """The owner's and users' configurations: :class:`~leaf_creds.Configurations`."""
        from ._configurations import Configurations
        return Configurations(self._transport)

    @functools.cached_property
    def integrations(self) -> Integrations:
        """What Leaf synced per user and provider: :class:`~leaf_creds.Integrations`."""
        from ._integrations import Integrations
        return Integrations(self._transport, self._registry)

    @functools.cached_property
    def credential_owners(self) -> CredentialOwners:
        """Credential ids mapped to user and provider: :class:`~leaf_creds.CredentialOwners`."""
        from ._owners import CredentialOwners
        return CredentialOwners(self.users, self._registry)

    async def diagnose(
        self, user_id: str, provider: str | CredentialResource[Any, Any] | None = None, *,
        timeout: float | None = None, connect_timeout: float | None = None,
    ) -> Diagnosis:  # fmt: skip
        """Judge each credential of a Leaf user, with its next step: ``_diagnose.diagnose``."""
        from ._diagnose import diagnose
        return await diagnose(
            users=self.users, registry=self._registry, credentials=self._credentials,
            organizations=self.organizations, configurations=self.configurations,
            integrations=self.integrations, owners=self.credential_owners, user_id=user_id,
            provider=provider, timeout=timeout, connect_timeout=connect_timeout,
        )  # fmt: skip

    async def offboard(
        self, user_id: str, *, delete_user: bool = False, dry_run: bool = False,
        timeout: float | None = None, connect_timeout: float | None = None,
    ) -> Offboarding:  # fmt: skip
        """Remove a user's credentials, API keys, open links (and user): ``_offboard.offboard``."""
        from ._offboard import offboard
        return await offboard(
            user_id, delete_user=delete_user, dry_run=dry_run, credentials=self._credentials,
            users=self.users, api_keys=self.api_keys, magic_links=self.magic_links,
            registry=self._registry, timeout=timeout, connect_timeout=connect_timeout,
        )  # fmt: skip

    # -- providers ---------------------------------------------------------

    @overload
    def resource(self, provider: CredentialResource[S, R]) -> CredentialResource[S, R]: ...
    @overload
    def resource(self, provider: str) -> CredentialResource[Any, CredentialRecord]: ...
    def resource(
        self, provider: str | CredentialResource[Any, Any]
    ) -> CredentialResource[Any, Any]:
        """Return the resource for a provider slug or resource.

        Raises:
            UnknownProviderError: The slug is not registered.
            ValidationError: ``provider`` is neither a string nor a resource.
        """
        return self._credentials.resource(provider)

    # -- the four operations (leaf.credentials) ----------------------------

    @overload
    async def get(
        self, provider: CredentialResource[Any, R], user_id: str, *,
        timeout: float | None = None, connect_timeout: float | None = None,
    ) -> R: ...  # fmt: skip
    @overload
    async def get(
        self, provider: str, user_id: str, *,
        timeout: float | None = None, connect_timeout: float | None = None,
    ) -> CredentialRecord: ...  # fmt: skip
    async def get(
        self, provider: str | CredentialResource[Any, Any], user_id: str, *,
        timeout: float | None = None, connect_timeout: float | None = None,
    ) -> RecordLike:  # fmt: skip
        """Return a Leaf user's credential for a provider: :meth:`Credentials.get`."""
        record: RecordLike = await self._credentials.get(
            provider, user_id, timeout=timeout, connect_timeout=connect_timeout
        )
        return record

    @overload
    async def create(
        self, provider: CredentialResource[S, R], user_id: str,
        credentials: S | Mapping[str, Any], *,
        timeout: float | None = None, connect_timeout: float | None = None,
    ) -> R: ...  # fmt: skip
    @overload
    async def create(
        self, provider: str, user_id: str, credentials: object, *,
        timeout: float | None = None, connect_timeout: float | None = None,
    ) -> CredentialRecord: ...  # fmt: skip
    async def create(
        self, provider: str | CredentialResource[Any, Any], user_id: str, credentials: object, *,
        timeout: float | None = None, connect_timeout: float | None = None,
    ) -> RecordLike:  # fmt: skip
        """Attach credentials for a provider to a Leaf user: :meth:`Credentials.create`."""
        record: RecordLike = await self._credentials.create(
            provider, user_id, credentials, timeout=timeout, connect_timeout=connect_timeout
        )
        return record

    async def delete(
        self, provider: str | CredentialResource[Any, Any], user_id: str, *,
        timeout: float | None = None, connect_timeout: float | None = None,
    ) -> None:  # fmt: skip
        """Detach a provider's credential from a Leaf user: :meth:`Credentials.delete`."""
        await self._credentials.delete(
            provider, user_id, timeout=timeout, connect_timeout=connect_timeout
        )

    async def events(
        self, provider: str | CredentialResource[Any, Any], user_id: str, *,
        timeout: float | None = None, connect_timeout: float | None = None,
    ) -> list[CredentialEvent]:  # fmt: skip
        """Return the troubleshooting log of a credential: :meth:`Credentials.events`."""
        return await self._credentials.events(
            provider, user_id, timeout=timeout, connect_timeout=connect_timeout
        )

    # -- bulk jobs ---------------------------------------------------------

    def bulk(
        self, operations: Iterable[Operation] | AsyncIterable[Operation], *,
        concurrency: int = DEFAULT_CONCURRENCY, rate: float | None = None,
        on_progress: Callable[[Progress], object] | None = None,
    ) -> AsyncGenerator[Outcome, None]:  # fmt: skip
        """Run many operations concurrently; yield one outcome per operation as it ends.

        The input is streamed: the next operation is pulled only when a slot
        frees, so it may be a generator over millions of lines. A failure is
        an outcome, never an exception, and never stops the other operations.
        Leaving the ``async for`` early cancels the operations in flight once
        the generator is closed; use ``contextlib.aclosing`` to close it at once::

            async with aclosing(leaf.bulk(ops, concurrency=32)) as outcomes:
                async for outcome in outcomes:
                    ...

        Args:
            operations: An iterable or async iterable of :class:`Create`,
                :class:`Replace`, :class:`Delete`, :class:`Get` and
                :class:`Events`.
            concurrency: The most operations in flight at once.
            rate: The most operations' requests started per second (a
                replace makes two); retries are paced by the retry policy
                instead. To cap every request of the session, retries and
                429 resends included, use ``LeafSession(rate_limit=)``.
            on_progress: Called with :class:`Progress` counts before each
                outcome is yielded; ``total`` is known when ``operations``
                has a length.

        Raises:
            ValidationError: An option is invalid (raised at once).
        """
        return run_bulk(
            self._credentials, self._transport, operations,
            concurrency=concurrency, rate=rate, on_progress=on_progress,
        )  # fmt: skip

    # -- credential alerts (leaf.webhooks) ---------------------------------

    async def register_webhook(
        self, *, name: str, url: str, secret: str, events: Iterable[str] | None = None,
        timeout: float | None = None, connect_timeout: float | None = None,
    ) -> Webhook:  # fmt: skip
        """Register a webhook with Leaf's Alerts service: :meth:`Webhooks.register`."""
        return await self.webhooks.register(
            name=name, url=url, secret=secret, events=events,
            timeout=timeout, connect_timeout=connect_timeout,
        )  # fmt: skip

    async def webhook(
        self, webhook_id: str, *, timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> Webhook:  # fmt: skip
        """Return one registered webhook: :meth:`Webhooks.get`."""
        return await self.webhooks.get(
            webhook_id, timeout=timeout, connect_timeout=connect_timeout
        )

    async def delete_webhook(
        self, webhook_id: str, *, timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> None:  # fmt: skip
        """Delete a webhook; Leaf stops delivering to its URL: :meth:`Webhooks.delete`."""
        await self.webhooks.delete(webhook_id, timeout=timeout, connect_timeout=connect_timeout)
