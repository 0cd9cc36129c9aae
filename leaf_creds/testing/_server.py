"""FakeLeaf: an in-memory Leaf API on 127.0.0.1, served by aiohttp.web.

This module is the router and the facade: one catch-all aiohttp route takes
every request, on the raw (still percent-encoded) path, and each goes
log -> rate limit -> scripted fault -> the service whose path prefix it has
(with its bearer-token check) -> the in-memory state. One module per faked
Leaf service answers: :mod:`._auth` (login), :mod:`._users`,
:mod:`._credentials`, :mod:`._webhooks`, :mod:`._app_keys`,
:mod:`._magic_links` and the page of :mod:`._link_page`, :mod:`._api_keys`,
:mod:`._organizations`, :mod:`._configurations` and :mod:`._integrations`.
Every error is JHipster problem JSON (``application/problem+json``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from types import MappingProxyType, TracebackType
from typing import Any, NamedTuple

from aiohttp import web

from leaf_creds import CredentialResource, CredentialStatus, Registry, default_registry

from ._api_keys import FakeApiKeys
from ._app_keys import FakeAppKeys
from ._auth import DAY, LOGIN_PATH, FakeAuth
from ._configurations import CONFIG_PATH, FakeConfigurations
from ._credentials import FakeCredentials
from ._faults import Faults, answer_with, drop_connection
from ._integrations import INTEGRATIONS_PATH, FakeIntegrations
from ._link_page import FakeLinkPage
from ._magic_links import FakeMagicLinks
from ._oauth import CONSENT_PATH, HOSTS_PATH, FakeOAuth
from ._onboarding import FakeOnboarding, onboarding_routes
from ._organizations import FakeOrganizations
from ._ratelimit import RateLimit, RateLimiter
from ._seed import load_seed
from ._state import State
from ._user_index import FakeUser
from ._users import USERS_PATH, FakeUsers
from ._web import USER_MANAGEMENT, Route, no_such_path, problem_response, route
from ._webhooks import ALERTS_PREFIX, DEFAULT_RETRY_DELAYS, FakeAlerts, answer_webhooks
from ._wire import Problem

__all__ = ["DEFAULT_ACCOUNTS", "FakeLeaf", "LoggedRequest"]

DEFAULT_ACCOUNTS: Mapping[str, str] = MappingProxyType({"user@example.com": "password"})


class LoggedRequest(NamedTuple):
    """One request the fake received: never a header value or a body.

    Attributes:
        method: The HTTP method.
        path: The raw path, percent-encoded as sent, without the query.
        status: The status answered, or None when no answer was sent (a
            dropped connection) or none yet (still being handled).
    """

    method: str
    path: str
    status: int | None


class FakeLeaf:
    """An in-memory fake of Leaf: login, User Management, Alerts, Config and Integrations.

    Start it with ``async with`` and point a session at :attr:`url`::

        async with FakeLeaf() as fake:
            user = fake.add_user(name="Ada")
            async with LeafSession(token=fake.token, base_url=fake.url) as leaf:
                ...

    Args:
        registry: The providers with credential endpoints; a new
            :func:`~leaf_creds.default_registry` when not given.
        accounts: Usernames and passwords that ``/api/authenticate`` accepts;
            None accepts none.
        tokens: Opaque bearer tokens accepted as they are, besides the JWTs
            the fake issues; they never expire.
        host: The interface to listen on.
        port: The port; 0 picks a free one.
        token_lifetime: Seconds a login token lasts; by default 24 hours, or
            30 days with ``rememberMe``, as Leaf does. Negative issues
            expired tokens. Settable on the instance.
        seed: Seeds the draws of faults with a ``probability``.
        webhook_retry_delays: Seconds after a failed webhook delivery at
            which it is retried (Leaf's minutes, shortened); see :attr:`alerts`.
        rate_limit: Answer Leaf's ``429`` past this many requests, counted
            over every client of the fake; None (the default) never does.
            Settable on the instance as :attr:`rate_limit`.
    """

    def __init__(
        self,
        *,
        registry: Registry | None = None,
        accounts: Mapping[str, str] | None = DEFAULT_ACCOUNTS,
        tokens: Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        token_lifetime: float | None = None,
        seed: int | None = None,
        webhook_retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
        rate_limit: RateLimit | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._clock_offset = 0.0
        self._state = State(registry if registry is not None else default_registry(), self.now)
        self._auth = FakeAuth(accounts or {}, tokens, self.now, token_lifetime)
        self._log: list[LoggedRequest] = []
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._closing = asyncio.Event()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.faults = Faults(seed=seed)
        self._limiter: RateLimiter | None = None
        self.rate_limit = rate_limit
        self.alerts = FakeAlerts(
            retry_delays=webhook_retry_delays,
            clock=self.now,
            api_owner=next(iter(accounts or DEFAULT_ACCOUNTS)),
        )
        """The Alerts service: registered webhooks, the deliveries to them, the failed calls."""
        self._credentials = FakeCredentials(self._state, self.alerts, self.now)
        self.oauth = FakeOAuth(lambda: self.url, self._label)
        """The providers' consent flows (apps, pages, codes); ``oauth.hosts`` for a session."""
        self._credentials.checks.append(self.oauth.status_of)
        app_keys = FakeAppKeys(self.now)
        links = FakeMagicLinks(self._state, self.now, lambda: self.url)
        api_keys = FakeApiKeys(self._state, self.now)
        page = FakeLinkPage(
            state=self._state,
            credentials=self._credentials,
            app_keys=app_keys,
            links=links,
            clock=self.now,
        )
        self.onboarding = FakeOnboarding(
            app_keys=app_keys,
            magic_links=links,
            api_keys=api_keys,
            page=page,
            authorize=self._auth.authorize,
        )
        """App keys, Magic Links (with their pages) and Leaf Link API keys."""
        self.organizations = FakeOrganizations(self._state)
        """Growers' John Deere and Trimble organizations."""
        self.configurations = FakeConfigurations(self._state, self.alerts.api_owner)
        """The API owner's configuration and each user's."""
        self.integrations = FakeIntegrations(
            self._state, self.organizations, self.configurations, self.now
        )
        """What Leaf has synced, per user and provider: moves with :meth:`advance_clock`."""
        users = FakeUsers(self._state, self._credentials).answer
        # Tried in order; the last answers 401 before 404 under User Management.
        self._routes = (
            Route(LOGIN_PATH, self._auth.login, token=False),
            Route(HOSTS_PATH, self.oauth.answer, token=False, bare=False),
            Route(CONSENT_PATH, self.oauth.consent, token=False, bare=False),
            Route(ALERTS_PREFIX, partial(answer_webhooks, self.alerts)),
            *onboarding_routes(app_keys, links, api_keys, page),
            Route(USERS_PATH, self.organizations.around(users)),
            Route(CONFIG_PATH, self.configurations.answer),
            Route(INTEGRATIONS_PATH, self.integrations.answer),
            Route(USER_MANAGEMENT, no_such_path, bare=False),
        )
        self.token = self.issue_token()
        """A valid bearer token (24 hours), issued when the fake was made."""

    def __repr__(self) -> str:
        where = self._url or "not started"
        return f"<FakeLeaf {where} users={len(self._state.users)}>"

    # -- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Start listening.

        Raises:
            RuntimeError: It was started already.
        """
        if self._runner is not None:
            raise RuntimeError("this FakeLeaf is already started")
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # A short shutdown: handlers stalled by a delay fault are woken on
        # close, and no test should wait for the rest.
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._closing.clear()
        host, port = runner.addresses[0][:2]
        self._url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    async def aclose(self) -> None:
        """Stop listening and drop every connection; idempotent."""
        await self.alerts.aclose()
        runner, self._runner = self._runner, None
        if runner is not None:
            self._closing.set()
            await runner.cleanup()

    async def __aenter__(self) -> FakeLeaf:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @property
    def url(self) -> str:
        """The base URL to pass as ``LeafSession(base_url=...)``.

        Raises:
            RuntimeError: The fake is not started.
        """
        if self._url is None:
            raise RuntimeError("start the FakeLeaf first (async with FakeLeaf() as fake)")
        return self._url

    @property
    def registry(self) -> Registry:
        """The providers whose credential endpoints the fake serves."""
        return self._state.registry

    def _label(self, slug: str) -> str:
        resource = self._state.registry.get(slug) if slug in self._state.registry else None
        return resource.name if resource is not None else slug

    # -- time and tokens -----------------------------------------------------

    def now(self) -> float:
        """Return the fake's clock: the real time plus :meth:`advance_clock` offsets."""
        return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the fake's clock forward, e.g. past the ``exp`` of tokens already issued."""
        self._clock_offset += seconds

    @property
    def token_lifetime(self) -> float | None:
        """Seconds a login token lasts; None for Leaf's 24 hours (30 days with ``rememberMe``)."""
        return self._auth.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, seconds: float | None) -> None:
        self._auth.token_lifetime = seconds

    def issue_token(self, *, subject: str | None = None, lifetime: float = DAY) -> str:
        """Return a bearer token the fake accepts until ``lifetime`` seconds from now.

        A negative ``lifetime`` returns a token that has already expired.
        """
        return self._auth.issue(subject=subject, lifetime=lifetime)

    # -- inspection and set-up -----------------------------------------------

    @property
    def users(self) -> Mapping[str, FakeUser]:
        """The Leaf users, by id (a live, read-only view)."""
        return self._state.users

    def add_user(
        self,
        *,
        id: str | None = None,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        address: str | None = None,
        external_id: str | None = None,
    ) -> FakeUser:
        """Add a Leaf user; a UUID id is generated when none is given.

        Raises:
            ValueError: A user with that id exists.
        """
        return self._state.add_user(
            id=id, name=name, email=email, phone=phone, address=address, external_id=external_id
        )

    def add_credential(
        self,
        user_id: str,
        provider: str | CredentialResource[Any, Any],
        credentials: object,
    ) -> dict[str, Any]:
        """Attach a credential without a request, as a create would; return its record.

        Args:
            user_id: An existing user's id.
            provider: The provider's slug or resource.
            credentials: The provider's schema instance or camelCase body.

        Raises:
            LookupError: No such user or provider.
            ValidationError: The credentials are invalid (a ValueError).
            ValueError: A credential exists.
        """
        return self._credentials.add(user_id, provider, credentials)

    def load_seed(self, document: Any) -> list[FakeUser]:
        """Add the users, credentials and statuses of a seed document; return the users.

        The format (also ``leaf-creds fake-server --seed-file``) is
        ``{"users": [{"id": ..., "name": ..., "credentials": {slug: body},
        "statuses": {slug: status}, "okFor": {slug: seconds},
        "organizations": {slug: [...]}, "configuration": {...}}]}``; see
        the README's testing section.

        Raises:
            ValidationError: The document does not fit; every problem is
                listed and nothing is added.
        """
        return load_seed(
            self._state,
            self._credentials,
            document,
            organizations=self.organizations,
            configurations=self.configurations,
        )

    def credential(
        self, user_id: str, provider: str | CredentialResource[Any, Any]
    ) -> dict[str, Any] | None:
        """Return a copy of the stored credential record (wire JSON), or None."""
        return self._credentials.get(user_id, provider)

    def set_status(
        self,
        user_id: str,
        provider: str | CredentialResource[Any, Any],
        status: CredentialStatus | str,
    ) -> dict[str, Any]:
        """Change a credential's status, as Leaf does in the background.

        Every status change of the fake goes through this method, and logs
        an event on the credential. A change to ``UNAUTHENTICATED`` or
        ``MISSING_PERMISSION`` also sends a signed alert to every webhook
        registered for it (see :attr:`alerts`); call it inside the event loop.

        Returns:
            A copy of the updated record.

        Raises:
            LookupError: No such user or credential.
        """
        return self._credentials.set_status(user_id, provider, status)

    @property
    def rate_limit(self) -> RateLimit | None:
        """The rate limit every client shares; setting it starts a fresh budget."""
        return None if self._limiter is None else self._limiter.limit

    @rate_limit.setter
    def rate_limit(self, limit: RateLimit | None) -> None:
        if limit is not None and not isinstance(limit, RateLimit):
            raise TypeError("rate_limit must be a leaf_creds.testing.RateLimit or None")
        self._limiter = None if limit is None else RateLimiter(limit)

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request received since the start or :meth:`reset`, in order of arrival."""
        return list(self._log)

    async def wait_idle(self) -> None:
        """Wait until no request that reached the fake is still being handled.

        Use it after a client gave up on a stalled request, before looking at
        the state or the log.
        """
        await self._idle.wait()

    def count(self, method: str | None = None, path_suffix: str = "") -> int:
        """Return how many requests had this method (any when None) and a path ending so.

        ``fake.count("POST", "/sentera-credentials")`` counts Sentera creates.
        """
        return sum(
            1
            for entry in self._log
            if (method is None or entry.method == method) and entry.path.endswith(path_suffix)
        )

    def reset(self) -> None:
        """Forget users, credentials, events, faults, the request log and clock offsets.

        Accounts and issued tokens stay valid.
        """
        self._state.reset()
        self.alerts.reset()
        self.onboarding.reset()
        self.oauth.reset()
        self.organizations.reset()
        self.configurations.reset()
        self.faults.clear()
        self._log.clear()
        self._clock_offset = 0.0

    # -- HTTP ----------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.method
        path = request.rel_url.raw_path
        service = path[len(USER_MANAGEMENT) :] if path.startswith(USER_MANAGEMENT + "/") else None
        entry = LoggedRequest(method, path, None)
        index = len(self._log)
        self._log.append(entry)
        status: int | None = None
        self._in_flight += 1
        self._idle.clear()
        try:
            limiter = self._limiter
            # Before the faults: a refused request is not processed at all.
            response = None if limiter is None else limiter.refuse(self.now())
            if response is None:
                where = (path,) if service is None else (path, service)
                fault = self.faults.next_for(method, where)
                response = await answer_with(
                    fault, request, partial(self._answer, request, path), self._closing
                )
            if response is not None:
                status = response.status
                return response
            drop_connection(request)
            # Never sent: the transport is closed, so aiohttp's write fails
            # with a ConnectionError that it logs at DEBUG, not as an error.
            return web.Response(status=499)
        finally:
            # Fill in the status, unless a reset dropped the entry meanwhile.
            if index < len(self._log) and self._log[index] is entry:
                self._log[index] = entry._replace(status=status)
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _answer(self, request: web.Request, path: str) -> web.Response:
        try:
            response = await route(self._routes, request, path, self._auth.authorize)
            if response is None:
                raise Problem(404, f"no such path: {path}")
            return response
        except Problem as problem:
            return problem_response(problem, path)
