"""LeafSession: the async client. Auth, the retry loop, and a thin aiohttp layer.

Data flows one way: a public method resolves the provider's resource, which
builds the path and checks the input (pure); ``_request`` sends it with
retries; ``_http`` turns the answer into data or an exception; the converter
turns data into records.

What is retried (see the README's "Retries" section):

- GET and DELETE: connection errors, timeouts, 408, 429, 500, 502, 503, 504.
  A DELETE whose earlier attempt may have been applied treats a later 404 as
  success.
- POST (create): only when the request provably never left (connection
  refused, connect timeout) or the answer says it was not processed (408,
  429, 503). When the outcome is unknown (read timeout, dropped connection,
  500, 502, 504), the matching GET decides: the credential is there, so the
  create is done; it is not, so the create is retried; the GET cannot tell
  (it fails, or its 2xx is not a credential), so ``OutcomeUnknownError``.
- A create answered 2xx with a body that is not the record was applied: the
  same GET recovers the record, or ``UnreadableCreateError`` says it was
  applied or may have been. It is never sent again.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterable, Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeVar, overload

import aiohttp
import attrs
from aiohttp import hdrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._auth import DAY, Auth, LoginAuth, ProviderAuth, StaticAuth, usable_token
from ._converter import make_converter
from ._exceptions import (
    APIError,
    AuthenticationError,
    DecodeError,
    LeafError,
    NotFoundError,
    OutcomeUnknownError,
    RequestTimeoutError,
    TransportError,
    UnreadableCreateError,
    ValidationError,
)
from ._http import OversizedBody, api_error, parse_json
from ._models import CredentialEvent, CredentialRecord
from ._pacing import Pacer
from ._registry import Registry, default_registry
from ._resource import CredentialResource, RecordLike
from ._retry import RETRYABLE_STATUSES, RetryBudget, RetryPolicy
from ._users import (
    MAX_PAGE_SIZE,
    LeafUser,
    UserWalk,
    check_filters,
    check_page_size,
    users_query,
)
from ._version import __version__

if TYPE_CHECKING:
    import cattrs

    from ._alerts import Webhook
    from ._api_keys import ApiKeys
    from ._app_keys import AppKeys
    from ._bulk import Operation, Outcome, Progress
    from ._magic_links import MagicLinks

__all__ = ["DEFAULT_BASE_URL", "LeafSession"]

DEFAULT_BASE_URL: Final = "https://api.withleaf.io"
# Operations in flight at once in LeafSession.bulk (the engine itself, in
# _bulk.py, is imported on first use).
DEFAULT_CONCURRENCY: Final = 16
# Leaf's largest answers (30 days of events, a page of 100 users) are far
# smaller; the cap only bounds what a broken or hostile server can make us hold.
DEFAULT_MAX_RESPONSE_BYTES: Final = 16 * 1024 * 1024
USER_MANAGEMENT: Final = "/services/usermanagement/api"
LOGIN_PATH: Final = "/api/authenticate"

log = logging.getLogger("leaf_creds")

S = TypeVar("S")
R = TypeVar("R", bound=RecordLike)
T = TypeVar("T")

# Statuses that say the server did not process the request, so even a POST
# may be sent again. 408 is left out on purpose: a server may time out
# after it started applying the body, so a POST answered 408 is checked.
_NOT_PROCESSED = frozenset({429, 503})
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


_JSON_CONTENT: Final = CIMultiDict({"Content-Type": "application/json"})


class _Answer(NamedTuple):
    # A NamedTuple, not attrs: one is made per request, on the hot path.
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    attempts: int


# Makes a NamedTuple from a tuple without running its Python-level __new__.
_new_tuple: Final = tuple.__new__


class _Post(NamedTuple):
    # A create, checked and built: what _request needs to send it.
    url: str
    data: bytes
    secrets: list[str]
    reconcile: Callable[[LeafError, int], Awaitable[_Answer | None]]
    body: dict[str, Any]  # what was sent, to compare with what a GET finds
    user_id: str


@attrs.frozen
class _Timeouts:
    total: float
    connect: float
    client: aiohttp.ClientTimeout


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_base_url(base_url: str, allow_http: bool) -> URL:
    try:
        url = URL(base_url)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"base_url is not a URL: {exc}") from None
    if url.scheme not in {"https", "http"} or not url.host:
        raise ValidationError("base_url must be an absolute https:// URL")
    if url.query_string or url.fragment or url.user or url.password:
        raise ValidationError("base_url must not carry credentials, a query or a fragment")
    if url.scheme == "http" and not (allow_http or _is_loopback(url.host)):
        raise ValidationError(
            "base_url must be https:// (plain http is only allowed on a loopback host; "
            "pass allow_http=True, or --allow-http to leaf-creds, to send the bearer token "
            "in clear anyway)"
        )
    return url


def _byte_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{name} must be a positive int, got {value!r}")
    return value


def _rate(name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0 < value < float("inf")
    ):
        raise ValidationError(f"{name} must be a positive number of requests/s, got {value!r}")
    return float(value)


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValidationError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


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
    ``token_provider`` must be given.

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
        url = _check_base_url(base_url, allow_http)
        self._max_response_bytes = _byte_count("max_response_bytes", max_response_bytes)
        self._base_url = str(url).rstrip("/")
        self._user_management = self._base_url + USER_MANAGEMENT
        self._auth: Auth = self._make_auth(token, username, password, remember_me, token_provider)
        self._fixed_token = token if isinstance(self._auth, StaticAuth) else None
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._timeouts = self._make_timeouts(timeout, connect_timeout)
        self._retry = retry if retry is not None else RetryPolicy()
        if not isinstance(self._retry, RetryPolicy):
            raise ValidationError("retry must be a RetryPolicy")
        # One pacing and one retry budget for every request of the session.
        self._pacer = Pacer(None if rate_limit is None else _rate("rate_limit", rate_limit))
        self._budget = RetryBudget(self._retry)
        self._registry = registry if registry is not None else default_registry()
        self._converter = converter if converter is not None else make_converter()
        self._headers = {
            "Accept": "application/json",
            "User-Agent": f"leaf-creds/{__version__} aiohttp/{aiohttp.__version__}",
        }
        # Hooks are looked up once per type and kept for the session's life.
        self._event_list = self._converter.get_structure_hook(list[CredentialEvent])
        self._hooks: dict[type, Callable[[Any, Any], Any]] = {}
        self._header_cache: dict[tuple[str | None, bool], CIMultiDict[str]] = {}

    def _make_auth(
        self,
        token: str | None,
        username: str | None,
        password: str | None,
        remember_me: bool,
        token_provider: Callable[[], Awaitable[str]] | None,
    ) -> Auth:
        kinds = [
            name
            for name, given in (
                ("token", token is not None),
                ("username/password", username is not None or password is not None),
                ("token_provider", token_provider is not None),
            )
            if given
        ]
        if len(kinds) != 1:
            raise ValidationError(
                "pass exactly one of token=, username= with password=, or token_provider="
                + (f" (got {' and '.join(kinds)})" if kinds else "")
            )
        if token is not None:
            if not usable_token(token):
                raise ValidationError("token must be a non-empty string of printable ASCII")
            return StaticAuth(token)
        if token_provider is not None:
            if not callable(token_provider):
                raise ValidationError("token_provider must be an async callable")
            return ProviderAuth(token_provider)
        if not (isinstance(username, str) and username and isinstance(password, str) and password):
            raise ValidationError("username and password must both be non-empty strings")
        credentials = {"username": username, "password": password, "rememberMe": remember_me}
        return LoginAuth(
            lambda: self._login(credentials), 30 * DAY if remember_me else DAY
        )

    @staticmethod
    def _make_timeouts(total: float, connect: float) -> _Timeouts:
        total = _positive("timeout", total)
        connect = _positive("connect_timeout", connect)
        return _Timeouts(total, connect, aiohttp.ClientTimeout(total=total, sock_connect=connect))

    def _timeouts_for(self, total: float | None, connect: float | None) -> _Timeouts:
        if total is None and connect is None:
            return self._timeouts
        return self._make_timeouts(
            self._timeouts.total if total is None else total,
            self._timeouts.connect if connect is None else connect,
        )

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
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

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
    def retry(self) -> RetryPolicy:
        """The retry policy."""
        return self._retry

    @property
    def rate_limit(self) -> float | None:
        """The hard ceiling on requests started per second, or None."""
        return self._pacer.ceiling

    @property
    def max_response_bytes(self) -> int:
        """The longest answer body this session reads, after decompression."""
        return self._max_response_bytes

    # -- other Leaf services: small resources over this one transport ------

    @functools.cached_property
    def app_keys(self) -> AppKeys:
        """Provider applications' keys stored at Leaf: :class:`~leaf_creds._app_keys.AppKeys`."""
        from ._app_keys import AppKeys

        return AppKeys(self)

    @functools.cached_property
    def magic_links(self) -> MagicLinks:
        """Magic Links for growers: :class:`~leaf_creds._magic_links.MagicLinks`."""
        from ._magic_links import MagicLinks

        return MagicLinks(self)

    @functools.cached_property
    def api_keys(self) -> ApiKeys:
        """Leaf Link API keys of Leaf users: :class:`~leaf_creds._api_keys.ApiKeys`."""
        from ._api_keys import ApiKeys

        return ApiKeys(self)

    def _http(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this LeafSession is closed")
        if self._session is None:
            # Created on first use, inside the running event loop.
            # Headers that never change go in the session's defaults, so each
            # request carries (and aiohttp merges) only the bearer token.
            defaults = dict(self._headers)
            if self._fixed_token is not None:
                defaults["Authorization"] = "Bearer " + self._fixed_token
            session = aiohttp.ClientSession(headers=defaults)
            # aiohttp silently resends a GET or DELETE once when a kept-alive
            # connection drops. That resend is invisible to our retry loop: a
            # DELETE applied by the lost first send then looks like a plain
            # 404. Our loop retries with full accounting instead. The flag is
            # private (aiohttp's own test_utils sets it); a session passed in
            # by the user is left as it is, see the README.
            if hasattr(session, "_retry_connection"):
                session._retry_connection = False
            self._session = session
        return self._session

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
        if isinstance(provider, CredentialResource):
            return provider
        if isinstance(provider, str):
            return self._registry.get(provider)
        raise ValidationError(
            f"provider must be a slug or a CredentialResource, got {type(provider).__name__}"
        )

    # -- the four operations -----------------------------------------------

    @overload
    async def get(
        self,
        provider: CredentialResource[Any, R],
        user_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> R: ...
    @overload
    async def get(
        self,
        provider: str,
        user_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> CredentialRecord: ...
    async def get(
        self,
        provider: str | CredentialResource[Any, Any],
        user_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> RecordLike:
        """Return a Leaf user's credential for a provider.

        Args:
            provider: The provider's slug or resource.
            user_id: The Leaf user's id.
            timeout: Seconds one attempt may take, for this call.
            connect_timeout: Seconds to open a new connection, for this call.

        Raises:
            NotFoundError: The user has no such credential, or no such user.
            LeafError: Any other failure; see the exception tree.
        """
        # The four operations are the hot path: each awaits _request itself
        # (one coroutine frame less on every resume) and resolves a resource
        # and the default timeouts without a call.
        resource = provider if type(provider) is CredentialResource else self.resource(provider)
        timeouts = self._timeouts
        if timeout is not None or connect_timeout is not None:
            timeouts = self._timeouts_for(timeout, connect_timeout)
        url = self._user_management + resource.path(user_id)
        answer = await self._request("GET", url, timeouts)
        record: RecordLike = self._decode_object(resource.record, answer, "GET", url)
        return record

    @overload
    async def create(
        self,
        provider: CredentialResource[S, R],
        user_id: str,
        credentials: S | Mapping[str, Any],
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> R: ...
    @overload
    async def create(
        self,
        provider: str,
        user_id: str,
        credentials: object,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> CredentialRecord: ...
    async def create(
        self,
        provider: str | CredentialResource[Any, Any],
        user_id: str,
        credentials: object,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> RecordLike:
        """Attach credentials for a provider to a Leaf user.

        Args:
            provider: The provider's slug or resource.
            user_id: The Leaf user's id.
            credentials: The provider's schema instance, or its camelCase
                JSON body as a mapping.
            timeout: Seconds one attempt may take, for this call.
            connect_timeout: Seconds to open a new connection, for this call.

        Returns:
            The stored credential, as Leaf answered it.

        Raises:
            ValidationError: The input is invalid; nothing was sent.
            ConflictError: The user already has a credential for the provider.
            OutcomeUnknownError: The create may have been applied and a GET
                could not tell.
            UnreadableCreateError: Leaf answered 2xx, so the create was
                applied or may have been, but neither the answer nor a GET
                gave its record (an ``OutcomeUnknownError``).
            LeafError: Any other failure; see the exception tree.
        """
        resource = provider if type(provider) is CredentialResource else self.resource(provider)
        timeouts = self._timeouts
        if timeout is not None or connect_timeout is not None:
            timeouts = self._timeouts_for(timeout, connect_timeout)
        post = self._post(resource, user_id, credentials, timeouts)
        answer = await self._request(
            "POST",
            post.url,
            timeouts,
            data=post.data,
            secrets=post.secrets,
            reconcile=post.reconcile,
        )
        try:
            record: CredentialRecord = self._decode_object(
                resource.record, answer, "POST", post.url
            )
        except DecodeError as exc:
            record = await self._recover(resource, post, answer, exc, timeouts)
        return record

    async def delete(
        self,
        provider: str | CredentialResource[Any, Any],
        user_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        """Detach a provider's credential from a Leaf user.

        Raises:
            NotFoundError: There was no such credential to delete.
            LeafError: Any other failure; see the exception tree.
        """
        resource = provider if type(provider) is CredentialResource else self.resource(provider)
        timeouts = self._timeouts
        if timeout is not None or connect_timeout is not None:
            timeouts = self._timeouts_for(timeout, connect_timeout)
        url = self._user_management + resource.path(user_id)
        await self._request("DELETE", url, timeouts)

    async def events(
        self,
        provider: str | CredentialResource[Any, Any],
        user_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> list[CredentialEvent]:
        """Return the troubleshooting log of a Leaf user's credential.

        Leaf keeps 30 days of events and drops them with the credential.

        Raises:
            NotFoundError: No such credential or user.
            LeafError: Any other failure; see the exception tree.
        """
        resource = provider if type(provider) is CredentialResource else self.resource(provider)
        timeouts = self._timeouts
        if timeout is not None or connect_timeout is not None:
            timeouts = self._timeouts_for(timeout, connect_timeout)
        url = self._user_management + resource.events_path(user_id)
        answer = await self._request("GET", url, timeouts)
        return self._decode_events(answer, url)

    # -- operations that also report their attempts (used by bulk) ---------

    async def _get(
        self, resource: CredentialResource[Any, R], user_id: str, timeouts: _Timeouts
    ) -> tuple[R, int]:
        url = self._user_management + resource.path(user_id)
        answer = await self._request("GET", url, timeouts)
        return self._decode_object(resource.record, answer, "GET", url), answer.attempts

    async def _create(
        self,
        resource: CredentialResource[S, R],
        user_id: str,
        credentials: object,
        timeouts: _Timeouts,
    ) -> tuple[R, int]:
        post = self._post(resource, user_id, credentials, timeouts)
        answer = await self._request(
            "POST",
            post.url,
            timeouts,
            data=post.data,
            secrets=post.secrets,
            reconcile=post.reconcile,
        )
        try:
            return self._decode_object(resource.record, answer, "POST", post.url), answer.attempts
        except DecodeError as exc:
            return await self._recover(resource, post, answer, exc, timeouts), answer.attempts

    async def _delete(
        self, resource: CredentialResource[Any, Any], user_id: str, timeouts: _Timeouts
    ) -> tuple[None, int]:
        url = self._user_management + resource.path(user_id)
        answer = await self._request("DELETE", url, timeouts)
        return None, answer.attempts

    async def _events(
        self, resource: CredentialResource[Any, Any], user_id: str, timeouts: _Timeouts
    ) -> tuple[list[CredentialEvent], int]:
        url = self._user_management + resource.events_path(user_id)
        answer = await self._request("GET", url, timeouts)
        return self._decode_events(answer, url), answer.attempts

    def _post(
        self,
        resource: CredentialResource[Any, Any],
        user_id: str,
        credentials: object,
        timeouts: _Timeouts,
    ) -> _Post:
        """Check a create's input and build its request; nothing is sent."""
        url = self._user_management + resource.path(user_id)
        # The schema class first: it is the common case, and a cheaper check
        # than the Mapping ABC.
        if not isinstance(credentials, resource.schema) and isinstance(credentials, Mapping):
            schema = resource.credentials_from_wire(credentials, converter=self._converter)
        else:
            schema = resource.validate(credentials)
        body = self._converter.unstructure(schema, resource.schema)
        secrets = [
            value for wire in resource._secret_wires if isinstance(value := body.get(wire), str)
        ]

        async def existing_credential(failure: LeafError, attempts: int) -> _Answer | None:
            # The create's outcome is unknown. One credential per provider
            # per user means the matching GET tells whether it was applied.
            try:
                found = await self._request("GET", url, timeouts=timeouts)
                mine = self._stored_record(resource, found, url, body) is not None
            except NotFoundError:
                return None
            except LeafError as exc:
                # The GET failed, or answered with something that is not a
                # credential (a DecodeError): either way it cannot tell.
                raise OutcomeUnknownError(
                    f"the create of {resource.slug} credentials for Leaf user {user_id!r} "
                    f"may or may not have been applied: it failed with {_reason(failure)}, "
                    f"and the GET that would tell failed with {_reason(exc)}. Check with "
                    f"get({resource.slug!r}, {user_id!r}) before creating it again.",
                    provider=resource.slug,
                    user_id=user_id,
                    attempts=attempts,
                ) from failure
            if not mine:
                # Someone else's credential: ours was not applied (it would
                # have met a 409). Retrying lets Leaf give the real answer.
                log.debug("POST %s: outcome was unknown; another credential is stored", url)
                return None
            log.debug("POST %s: outcome was unknown; the credential exists", url)
            return found

        return _new_tuple(
            _Post, (url, json.dumps(body).encode(), secrets, existing_credential, body, user_id)
        )

    def _stored_record(
        self,
        resource: CredentialResource[Any, R],
        answer: _Answer,
        url: str,
        sent: Mapping[str, Any],
    ) -> R | None:
        """Decode the credential a GET found, or None when it holds other values than ``sent``.

        Raises:
            DecodeError: The answer is not a credential record, so it cannot tell.
        """
        stored = parse_json(answer.body, method="GET", url=url, status=answer.status)
        if type(stored) is dict and any(
            key in stored and stored[key] != value for key, value in sent.items()
        ):
            return None
        return self._decode_object(resource.record, answer, "GET", url)

    async def _recover(
        self,
        resource: CredentialResource[Any, R],
        post: _Post,
        answer: _Answer,
        failure: DecodeError,
        timeouts: _Timeouts,
    ) -> R:
        """Return the record of a create answered 2xx with a body that is not the record.

        A 2xx says the create was applied, so the matching GET recovers the
        record, under the reconcile's rule: it must hold the values sent.

        Raises:
            UnreadableCreateError: The GET failed, found nothing, or found
                other values.
        """
        url = post.url
        try:
            found = await self._request("GET", url, timeouts)
            record = self._stored_record(resource, found, url, post.body)
        except NotFoundError:
            why = "the GET that would recover it finds no credential (a proxy may have answered)"
        except LeafError as exc:
            why = f"the GET that would recover it failed with {_reason(exc)}"
        else:
            if record is not None:
                log.debug("POST %s: answer unreadable; the record was read with a GET", url)
                return record
            why = "the GET that would recover it finds a credential with other values"
        slug, user_id = resource.slug, post.user_id
        raise UnreadableCreateError(
            f"the create of {slug} credentials for Leaf user {user_id!r} was answered "
            f"{answer.status}, so it was applied or may have been, but its answer is not "
            f"the record ({failure}), and {why}. Check with get({slug!r}, {user_id!r}) "
            "before creating it again.",
            provider=slug,
            user_id=user_id,
            attempts=answer.attempts,
            method="POST",
            url=url,
            status=answer.status,
        ) from failure

    def _decode_events(self, answer: _Answer, url: str) -> list[CredentialEvent]:
        data = self._json_array(answer, url, "events")
        events: list[CredentialEvent] = self._structure(
            self._event_list, data, list[CredentialEvent], "GET", url, answer.status
        )
        return events

    @staticmethod
    def _json_array(answer: _Answer, url: str, what: str) -> list[Any]:
        """Parse a 2xx answer to a GET that must hold a JSON array of ``what``."""
        data = parse_json(answer.body, method="GET", url=url, status=answer.status)
        if not isinstance(data, list):
            raise DecodeError(
                f"{answer.status} from GET {url}: expected a JSON array of {what}",
                method="GET",
                url=url,
                status=answer.status,
            )
        return data

    def _decode_object(self, cls: type[T], answer: _Answer, method: str, url: str) -> T:
        """Parse a 2xx answer holding one JSON object into ``cls``."""
        data = parse_json(answer.body, method=method, url=url, status=answer.status)
        if type(data) is not dict:
            raise DecodeError(
                f"{answer.status} from {method} {url}: expected a JSON object",
                method=method,
                url=url,
                status=answer.status,
            )
        hook = self._hooks.get(cls)
        if hook is None:
            hook = self._hooks[cls] = self._converter.get_structure_hook(cls)
        decoded: T = self._structure(hook, data, cls, method, url, answer.status)
        return decoded

    @staticmethod
    def _structure(
        hook: Callable[[Any, Any], T], data: Any, cls: Any, method: str, url: str, status: int
    ) -> T:
        try:
            return hook(data, cls)
        except Exception as exc:
            import cattrs  # loaded with the converter; only needed on failure

            # RecursionError: a hook of the user's converter walking JSON
            # nested too deeply (the default hooks never recurse into values).
            failed = cattrs.BaseValidationError | ValueError | TypeError | KeyError | RecursionError
            if not isinstance(exc, failed):
                raise
            lines = (
                cattrs.transform_error(exc)
                if isinstance(exc, cattrs.BaseValidationError)
                else [type(exc).__name__]
            )
            raise DecodeError(
                f"{status} from {method} {url} does not fit {getattr(cls, '__name__', cls)}: "
                + "; ".join(lines),
                method=method,
                url=url,
                status=status,
            ) from exc

    # -- authentication ----------------------------------------------------

    async def _login(self, credentials: Mapping[str, Any]) -> str:
        url = self._base_url + LOGIN_PATH
        secrets = [str(credentials["password"])]
        try:
            answer = await self._request(
                "POST",
                url,
                data=json.dumps(credentials).encode(),
                timeouts=self._timeouts,
                secrets=secrets,
                authenticated=False,
                # Logging in twice is harmless: it only issues another token.
                idempotent=True,
            )
        except APIError as exc:
            if exc.status in {400, 401, 403}:
                raise AuthenticationError(
                    status=exc.status,
                    method="POST",
                    url=url,
                    request_id=exc.request_id,
                    title="login failed",
                    detail=exc.detail or exc.title or exc.message,
                    attempts=exc.attempts,
                ) from exc
            raise
        data = parse_json(answer.body, method="POST", url=url, status=answer.status)
        token = data.get("id_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not usable_token(token):
            raise AuthenticationError(
                status=answer.status, method="POST", url=url, title="login answer has no id_token"
            )
        return token

    # -- the retry loop ----------------------------------------------------

    async def _request(
        self,
        method: str,
        url: str,
        timeouts: _Timeouts,
        *,
        data: bytes | None = None,
        secrets: list[str] | None = None,
        reconcile: Callable[[LeafError, int], Awaitable[_Answer | None]] | None = None,
        authenticated: bool = True,
        idempotent: bool | None = None,
    ) -> _Answer:
        """Send one logical request with auth and retries; return a 2xx answer."""
        if idempotent is None:
            idempotent = method != "POST"
        policy = self._retry
        cap = self._max_response_bytes
        # A URL with percent-escapes (an unusual user id) must reach aiohttp
        # exactly as built; a plain one is cheaper to hand over as text,
        # which aiohttp parses faster than it consumes a prebuilt URL.
        target: URL | str = URL(url, encoded=True) if "%" in url else url
        debug = log.isEnabledFor(logging.DEBUG)
        attempt = retries = 0
        replayed_401 = False
        maybe_applied = False
        pacer = self._pacer
        budget = self._budget
        paced_until: float | None = None  # set by the first 429
        throttled: APIError | None = None  # the last 429
        slot = 0.0
        while True:
            attempt += 1
            headers: CIMultiDict[str] | None
            if not authenticated:
                token = None
                headers = self._headers_for(None, data is not None)
            elif self._fixed_token is not None:
                # The common case: no coroutine, and in a session of our own
                # the token is already among the defaults.
                token = self._fixed_token
                if self._owns_session:
                    headers = None if data is None else _JSON_CONTENT
                else:
                    headers = self._headers_for(token, data is not None)
            else:
                token = await self._auth.token()
                headers = self._headers_for(token, data is not None)
            if pacer.engaged:
                # A ceiling, or a 429 met: wait for this request's turn.
                turn = await pacer.acquire(paced_until)
                if turn is None and throttled is not None:
                    raise throttled  # its turn would come after rate_limit_max_wait
                slot = turn or 0.0
            else:
                pacer.sent += 1
            http = self._session
            if http is None:
                http = self._http()
            started = time.perf_counter() if debug else 0.0
            # One HTTP attempt, inline: a helper coroutine here would add a
            # frame to every suspend and resume of every request.
            try:
                async with http.request(
                    method,
                    target,
                    data=data,
                    headers=headers,
                    timeout=timeouts.client,
                    allow_redirects=False,
                ) as response:
                    # A declared length within the cap, and nothing to inflate:
                    # one read() cannot go past it. Anything else is counted.
                    length = response.content_length
                    if (
                        length is not None
                        and length <= cap
                        and hdrs.CONTENT_ENCODING not in response.headers
                    ):
                        body = await response.read()
                    else:
                        body = await _read_capped(response, cap)
                    answer = _new_tuple(
                        _Answer, (response.status, response.headers, body, attempt)
                    )
            except (TimeoutError, aiohttp.ClientError) as exc:
                lost = _transport_error(exc, method, url, timeouts)
                lost.attempts = attempt
                failure: LeafError = lost
                # Not sent at all, or sent with an unknown outcome.
                unknown = lost.sent is not False
                if not unknown:
                    budget.unreachable()
                retry_after = None
            else:
                if debug:
                    log.debug(
                        "%s %s -> %d in %.1f ms (attempt %d)",
                        method,
                        URL(url, encoded=True).raw_path,  # only when DEBUG is on
                        answer.status,
                        (time.perf_counter() - started) * 1000,
                        attempt,
                    )
                status = answer.status
                if status < 300:
                    if budget.short:
                        budget.succeeded()
                    return answer
                if budget.refused:
                    budget.answered()
                if (
                    status == 401
                    and token is not None
                    and self._auth.renewable
                    and not replayed_401
                ):
                    # The token was refused: forget it, get a new one, replay
                    # once. Not a retry: the request was never processed.
                    self._auth.invalidate(token)
                    replayed_401 = True
                    log.debug("%s %s: 401, renewing the token and replaying", method, _shown(url))
                    continue
                if status == 404 and method == "DELETE" and maybe_applied:
                    # An earlier attempt was probably applied; gone is gone.
                    log.debug("%s %s: 404 after a lost attempt: deleted", method, _shown(url))
                    return answer
                error = self._api_error(method, url, answer, token, secrets)
                error.attempts = attempt
                failure = error
                if status == 429:
                    # Not processed, and not a fault: the request waits its
                    # turn in the session's pacing, which this 429 slows
                    # down, and is sent again (a POST too), spending none of
                    # max_retries, until rate_limit_max_wait has passed.
                    throttled = error
                    retry_after = error.retry_after
                    pacer.throttled(slot, retry_after)
                    now = time.monotonic()
                    if paced_until is None:
                        paced_until = now + policy.rate_limit_max_wait
                    if now >= paced_until or (
                        retry_after is not None and retry_after > policy.retry_after_max
                    ):
                        raise error
                    continue
                if status not in RETRYABLE_STATUSES:
                    raise error
                unknown = status not in _NOT_PROCESSED
                retry_after = error.retry_after
            if unknown:
                maybe_applied = True
                if not idempotent and reconcile is not None:
                    found = await reconcile(failure, attempt)
                    if found is not None:
                        return found._replace(attempts=attempt)
            if retries >= policy.max_retries:
                raise failure
            if retry_after is not None and retry_after > policy.retry_after_max:
                raise failure
            if not idempotent and unknown and reconcile is None:
                raise failure
            if not budget.spend(
                policy.timeout_retry_cost
                if isinstance(failure, RequestTimeoutError)
                else policy.retry_cost
            ):
                # In an outage, retries only multiply the load: fail fast.
                log.debug("%s %s: not retried, the retry budget is empty", method, _shown(url))
                raise failure
            delay = retry_after if retry_after is not None else policy.backoff(retries + 1)
            retries += 1
            log.debug(
                "%s %s: retry %d/%d in %.3fs after %s",
                method,
                _shown(url),
                retries,
                policy.max_retries,
                delay,
                _reason(failure),
            )
            await asyncio.sleep(delay)

    def _api_error(
        self,
        method: str,
        url: str,
        answer: _Answer,
        token: str | None,
        secrets: list[str] | None,
    ) -> APIError:
        hidden = [*(secrets or ()), *((token,) if token else ())]
        error = api_error(
            status=answer.status,
            method=method,
            url=_shown(url),
            headers=answer.headers,
            body=answer.body,
            secrets=hidden,
        )
        if 300 <= answer.status < 400:
            # Following a redirect could hand the bearer token to another host.
            try:
                location = URL(answer.headers.get("Location", ""))
                target = str(location.origin()) if location.absolute else location.path
            except ValueError:
                target = "an unreadable Location"
            error.detail = f"redirect to {target} not followed"
            error.args = (error._summary(),)
        return error

    def _headers_for(self, token: str | None, has_body: bool) -> CIMultiDict[str]:
        """Return the request headers for a token, built once and reused.

        aiohttp copies them into each request, so sharing one object is safe.
        """
        key = (token, has_body)
        headers = self._header_cache.get(key)
        if headers is None:
            if len(self._header_cache) >= 8:  # token providers rotate tokens
                self._header_cache.clear()
            # A session we made has the fixed headers as its defaults.
            headers = CIMultiDict() if self._owns_session else CIMultiDict(self._headers)
            if token is not None:
                headers["Authorization"] = "Bearer " + token
            if has_body:
                headers["Content-Type"] = "application/json"
            self._header_cache[key] = headers
        return headers

    # -- Leaf users and bulk jobs ------------------------------------------

    def users(
        self,
        *,
        size: int = MAX_PAGE_SIZE,
        sort: str | None = None,
        name: str | None = None,
        email: str | None = None,
        external_id: str | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> AsyncGenerator[LeafUser, None]:
        """Iterate over every Leaf user of the account, page by page.

        Pages are fetched as the iteration reaches them; the last page is the
        first short one, or the one that reaches ``X-Total-Count``, or one
        whose ``Link`` header has no ``rel="next"``.

        Args:
            size: Users per page, 1 to 100.
            sort: Leaf's sort, e.g. ``"name,asc"``.
            name: Only users with this name.
            email: Only users with this email address.
            external_id: Only users with this external id.
            timeout: Seconds one attempt may take, for each page.
            connect_timeout: Seconds to open a new connection, for each page.

        A user is never yielded twice: one that reappears on a later page
        (the list shifted) is skipped, and a full page holding only users
        already yielded ends the walk with ``PaginationError``.

        Raises:
            ValidationError: ``size`` is not from 1 to 100, or a filter is
                not a string of valid Unicode (raised at once).
            PaginationError: The server repeats pages instead of moving on.
            DecodeError: A page is not a JSON array of users.
            LeafError: Any other failure, while iterating.
        """
        size = check_page_size(size)
        timeouts = self._timeouts_for(timeout, connect_timeout)
        filters = check_filters(sort=sort, name=name, email=email, external_id=external_id)
        hook = self._converter.get_structure_hook(LeafUser)
        url = self._user_management + "/users"

        async def pages() -> AsyncGenerator[LeafUser, None]:
            walk = UserWalk(size)
            while True:
                answer = await self._request(
                    "GET", url + users_query(walk.page, size, filters), timeouts=timeouts
                )
                data = self._json_array(answer, url, "users")
                fresh = 0
                for item in data:
                    user: LeafUser = self._structure(
                        hook, item, LeafUser, "GET", url, answer.status
                    )
                    if walk.is_new(user.id):
                        fresh += 1
                        yield user
                if not walk.advance(
                    count=len(data),
                    fresh=fresh,
                    headers=answer.headers,
                    url=url,
                    status=answer.status,
                ):
                    return

        return pages()

    def bulk(
        self,
        operations: Iterable[Operation] | AsyncIterable[Operation],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        rate: float | None = None,
        on_progress: Callable[[Progress], object] | None = None,
    ) -> AsyncGenerator[Outcome, None]:
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
            rate: The most requests started per second (a replace makes
                two); retries are paced by the retry policy instead.
            on_progress: Called with :class:`Progress` counts before each
                outcome is yielded; ``total`` is known when ``operations``
                has a length.

        Raises:
            ValidationError: An option is invalid (raised at once).
        """
        from ._bulk import run_bulk

        return run_bulk(
            self, operations, concurrency=concurrency, rate=rate, on_progress=on_progress
        )

    # -- credential alerts (webhooks) --------------------------------------

    async def register_webhook(
        self,
        *,
        name: str,
        url: str,
        secret: str,
        events: Iterable[str] | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> Webhook:
        """Register a webhook with Leaf's Alerts service.

        Leaf then POSTs a confirmation to ``url``, and signs every delivery
        with ``secret``; serve them with :func:`aiohttp_handler` or
        :class:`AlertReceiver`. A webhook cannot be changed: delete it and
        register another.

        Args:
            name: The webhook's name.
            url: Where Leaf POSTs the alerts (absolute http or https).
            secret: The key Leaf signs deliveries with; never logged or printed.
            events: The event types to receive; None means the two credential
                events, ``credentialsUnauthenticated`` and
                ``credentialsLimitedPermission``.
            timeout: Seconds one attempt may take, for this call.
            connect_timeout: Seconds to open a new connection, for this call.

        Raises:
            ValidationError: The input is invalid; nothing was sent.
            BadRequestError: Leaf refused it, e.g. an event already has a
                webhook (``eventRegisteredTwice``).
            TransportError, ServerError: The outcome is unknown (the request
                is not sent twice blindly); list the webhooks before
                registering again.
            LeafError: Any other failure; see the exception tree.
        """
        from ._alerts import (
            ALERTS_SERVICE,
            CREDENTIALS_LIMITED_PERMISSION,
            CREDENTIALS_UNAUTHENTICATED,
            WEBHOOKS_PATH,
            Webhook,
            webhook_body,
        )

        if events is None:
            events = (CREDENTIALS_UNAUTHENTICATED, CREDENTIALS_LIMITED_PERMISSION)
        body = webhook_body(name=name, url=url, secret=secret, events=events)
        timeouts = self._timeouts_for(timeout, connect_timeout)

        target = self._base_url + ALERTS_SERVICE + WEBHOOKS_PATH
        # Not idempotent, and not reconciled like a credential create: names
        # need not be unique, so a GET cannot tell this webhook from another.
        answer = await self._request(
            "POST", target, timeouts=timeouts, data=json.dumps(body).encode(), secrets=[secret]
        )
        return self._decode_object(Webhook, answer, "POST", target)

    async def webhooks(
        self, *, timeout: float | None = None, connect_timeout: float | None = None
    ) -> list[Webhook]:
        """Return every webhook registered with Leaf's Alerts service.

        Raises:
            DecodeError: The answer is not a JSON array of webhooks.
            LeafError: Any other failure; see the exception tree.
        """
        from ._alerts import ALERTS_SERVICE, WEBHOOKS_PATH, Webhook

        target = self._base_url + ALERTS_SERVICE + WEBHOOKS_PATH
        answer = await self._request(
            "GET", target, timeouts=self._timeouts_for(timeout, connect_timeout)
        )
        data = self._json_array(answer, target, "webhooks")
        hook = self._converter.get_structure_hook(list[Webhook])
        found: list[Webhook] = self._structure(
            hook, data, list[Webhook], "GET", target, answer.status
        )
        return found

    async def webhook(
        self,
        webhook_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> Webhook:
        """Return one registered webhook.

        Raises:
            ValidationError: ``webhook_id`` is empty; nothing was sent.
            NotFoundError: No webhook has that id.
            LeafError: Any other failure; see the exception tree.
        """
        from ._alerts import ALERTS_SERVICE, Webhook, webhook_path

        target = self._base_url + ALERTS_SERVICE + webhook_path(webhook_id)
        answer = await self._request(
            "GET", target, timeouts=self._timeouts_for(timeout, connect_timeout)
        )
        return self._decode_object(Webhook, answer, "GET", target)

    async def delete_webhook(
        self,
        webhook_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        """Delete a webhook; Leaf stops delivering to its URL.

        Raises:
            ValidationError: ``webhook_id`` is empty; nothing was sent.
            NotFoundError: No webhook has that id.
            LeafError: Any other failure; see the exception tree.
        """
        from ._alerts import ALERTS_SERVICE, webhook_path

        target = self._base_url + ALERTS_SERVICE + webhook_path(webhook_id)
        await self._request("DELETE", target, timeouts=self._timeouts_for(timeout, connect_timeout))


async def _read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """Read a body of unknown or compressed length, never more than ``limit`` bytes of it.

    Counted as aiohttp hands it over, inflated. Past the limit the
    connection is closed with the rest unread: a 2xx body becomes an
    :class:`OversizedBody` (decoding it raises), an error body is cut at
    ``limit`` bytes, which say enough about the error.
    """
    if (
        response.status < 300
        and (response.content_length or 0) > limit
        and hdrs.CONTENT_ENCODING not in response.headers
    ):
        response.close()  # declared too long: nothing worth reading
        return OversizedBody(limit)
    chunks: list[bytes] = []
    size = 0
    while chunk := await response.content.readany():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            response.close()
            if response.status < 300:
                return OversizedBody(limit)
            return b"".join(chunks)[:limit]
    return b"".join(chunks)


def _transport_error(
    exc: TimeoutError | aiohttp.ClientError, method: str, url: str, timeouts: _Timeouts
) -> TransportError:
    """Translate an aiohttp failure; the one place that knows aiohttp's exceptions."""
    shown = _shown(url)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        error: TransportError = RequestTimeoutError(
            f"no connection within {timeouts.connect:g}s", method=method, url=shown, sent=False
        )
    elif isinstance(exc, TimeoutError):
        error = RequestTimeoutError(
            f"no complete answer within {timeouts.total:g}s", method=method, url=shown
        )
    elif isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or type(exc.os_error).__name__
        error = TransportError(f"cannot connect: {reason}", method=method, url=shown, sent=False)
    else:
        error = TransportError(
            f"connection failed: {type(exc).__name__}", method=method, url=shown
        )
    error.__cause__ = exc
    return error


def _shown(url: str) -> str:
    """Return a URL fit for errors and logs: without its query string."""
    return url.partition("?")[0]


def _reason(error: BaseException) -> str:
    if isinstance(error, APIError):
        return f"{type(error).__name__} {error.status}"
    return f"{type(error).__name__} ({error.args[0] if error.args else ''})"
