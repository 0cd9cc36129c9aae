"""FakeLeaf: an in-memory Leaf API on 127.0.0.1, served by aiohttp.web.

One catch-all route dispatches on the raw (still percent-encoded) path, so
a user id is exactly one path segment, unquoted once, as Leaf reads it.
Each request goes: log -> scripted fault -> login or bearer check -> route
-> state. Choices Leaf leaves undocumented (see the README's testing section):

- create answers 201 with a ``Location`` header (JHipster's
  ``ResponseEntity.created``), delete answers 204;
- GET of a missing credential or user is 404, a create over an existing
  credential is 409 (Leaf has no update: delete, then create);
- every error is JHipster problem JSON (``application/problem+json``);
- an event is logged per credential operation (the create, every GET) and
  whenever its status changes; ``/events`` is paged only when ``page`` or ``size`` is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType, TracebackType
from typing import Any, NamedTuple, TextIO, TypeVar
from urllib.parse import unquote

from aiohttp import web

from .._models import CredentialStatus
from .._registry import Registry, default_registry
from .._resource import CredentialResource
from ._api_keys import FakeApiKeys
from ._app_keys import FakeAppKeys
from ._credentials import FakeCredentials
from ._faults import Fault, Faults
from ._link_page import FakeLinkPage
from ._magic_links import FakeMagicLinks
from ._onboarding import FakeOnboarding
from ._ratelimit import RateLimit, RateLimiter
from ._seed import load_seed, seed_users
from ._state import State
from ._tokens import TokenIssuer
from ._user_index import FakeUser
from ._web import read_json
from ._webhooks import ALERTS_PREFIX, DEFAULT_RETRY_DELAYS, FakeAlerts
from ._wire import Problem

__all__ = ["DEFAULT_ACCOUNTS", "FakeLeaf", "LoggedRequest", "serve"]

DEFAULT_ACCOUNTS: Mapping[str, str] = MappingProxyType({"user@example.com": "password"})
LOGIN_PATH = "/api/authenticate"
USER_MANAGEMENT = "/services/usermanagement/api"
DAY = 86_400.0
PAGE_SIZE = 20
MAX_PAGE_SIZE = 100  # Spring's pageable clamps larger sizes to its maximum.
_JSON = "application/json"
_PROBLEM = "application/problem+json"
_MALFORMED = "<html><body><h1>502 Bad Gateway</h1></body></html>"
_T = TypeVar("_T")


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


def _provider_slug(provider: str | CredentialResource[Any, Any]) -> str:
    return provider.slug if isinstance(provider, CredentialResource) else provider


class FakeLeaf:
    """An in-memory fake of Leaf's authentication, User Management and Alerts APIs.

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
        self._accounts = dict(accounts or {})
        self._issuer = TokenIssuer(tokens)
        self._host = host
        self._port = port
        self._clock_offset = 0.0
        self._state = State(registry if registry is not None else default_registry(), self.now)
        self._log: list[LoggedRequest] = []
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._closing = asyncio.Event()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.token_lifetime = token_lifetime
        self.faults = Faults(seed=seed)
        self._limiter: RateLimiter | None = None
        self.rate_limit = rate_limit
        self.alerts = FakeAlerts(retry_delays=webhook_retry_delays)
        """The Alerts service: registered webhooks and the deliveries to them."""
        self._credentials = FakeCredentials(self._state, self.alerts, self.now)
        app_keys = FakeAppKeys(self.now)
        links = FakeMagicLinks(self._state, self.now, lambda: self.url)
        self.onboarding = FakeOnboarding(
            app_keys=app_keys,
            magic_links=links,
            api_keys=FakeApiKeys(self._state, self.now),
            page=FakeLinkPage(
                state=self._state,
                credentials=self._credentials,
                app_keys=app_keys,
                links=links,
                clock=self.now,
            ),
            authorize=self._authorize,
        )
        """App keys, Magic Links (with their pages) and Leaf Link API keys."""
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

    # -- time and tokens -----------------------------------------------------

    def now(self) -> float:
        """Return the fake's clock: the real time plus :meth:`advance_clock` offsets."""
        return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the fake's clock forward, e.g. past the ``exp`` of tokens already issued."""
        self._clock_offset += seconds

    def issue_token(self, *, subject: str | None = None, lifetime: float = DAY) -> str:
        """Return a bearer token the fake accepts until ``lifetime`` seconds from now.

        A negative ``lifetime`` returns a token that has already expired.
        """
        if subject is None:
            subject = next(iter(self._accounts), "user@example.com")
        return self._issuer.issue(subject=subject, now=self.now(), lifetime=lifetime)

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
        slug = _provider_slug(provider)
        resource = self._state.registry.get(slug)
        # Check first, so a bad body raises the SDK's own ValidationError.
        schema = (
            resource.credentials_from_wire(credentials, converter=self._state.converter)
            if isinstance(credentials, Mapping)
            else resource.validate(credentials)
        )
        body = self._state.converter.unstructure(schema, resource.schema)
        try:
            return dict(self._state.create_credential(user_id, slug, body))
        except Problem as exc:
            error = LookupError if exc.status == 404 else ValueError
            raise error(exc.detail) from None

    def load_seed(self, document: Any) -> list[FakeUser]:
        """Add the users, credentials and statuses of a seed document; return the users.

        The format (also ``leaf-creds fake-server --seed-file``) is
        ``{"users": [{"id": ..., "name": ..., "credentials": {slug: body},
        "statuses": {slug: status}}]}``; see the README's testing section.

        Raises:
            ValidationError: The document does not fit; every problem is
                listed and nothing is added.
        """
        return load_seed(self, document)

    def credential(
        self, user_id: str, provider: str | CredentialResource[Any, Any]
    ) -> dict[str, Any] | None:
        """Return a copy of the stored credential record (wire JSON), or None."""
        return self._state.peek(user_id, _provider_slug(provider))

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
        slug = _provider_slug(provider)
        previous = (self._state.peek(user_id, slug) or {}).get("status")
        record = self._state.set_status(user_id, slug, str(status))
        if record["status"] != previous:
            self.alerts.credential_status_changed(user_id, slug, record, now=self.now())
        return record

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
                response = await self._respond(request, path, service, fault)
            if response is not None:
                status = response.status
                return response
            _drop(request)
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

    async def _respond(
        self, request: web.Request, path: str, service: str | None, fault: Fault | None
    ) -> web.Response | None:
        if fault is None:
            return await self._answer(request, path, service)
        if fault.delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), fault.delay)
            if _gone(request) or self._closing.is_set():
                # The client gave up (or the fake is closing) during the
                # stall: nothing is applied; drop="after_body" models the rest.
                return None
        if fault.drop == "before_body":
            return None
        if fault.status is not None and not fault.malformed:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            return _problem(Problem(fault.status, "injected fault", headers=headers), path)
        response = await self._answer(request, path, service)
        if fault.drop == "after_body":
            return None
        if fault.malformed:
            return web.Response(
                status=fault.status or 200, text=_MALFORMED, content_type="text/html"
            )
        return response

    async def _answer(self, request: web.Request, path: str, service: str | None) -> web.Response:
        try:
            if path == LOGIN_PATH:
                _allow(request, "POST")
                return await self._login(request)
            if path == ALERTS_PREFIX or path.startswith(ALERTS_PREFIX + "/"):
                self._authorize(request)
                return await self._webhooks(request, path[len(ALERTS_PREFIX) :])
            onboarding = await self.onboarding.answer(request, path, service)
            if onboarding is not None:
                return onboarding
            if service is None:
                raise Problem(404, f"no such path: {path}")
            self._authorize(request)
            return await self._user_management(request, service)
        except Problem as problem:
            return _problem(problem, path)

    async def _login(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise Problem(400, "the body must be a JSON object")
        username, password = body.get("username"), body.get("password")
        if not (
            isinstance(username, str)
            and isinstance(password, str)
            and self._password_matches(username, password)
        ):
            raise Problem(401, "Bad credentials")
        lifetime = self.token_lifetime
        if lifetime is None:
            lifetime = 30 * DAY if body.get("rememberMe") is True else DAY
        token = self._issuer.issue(subject=username, now=self.now(), lifetime=lifetime)
        return web.json_response({"id_token": token})

    def _password_matches(self, username: str, password: str) -> bool:
        known = self._accounts.get(username)
        return known is not None and hmac.compare_digest(known.encode(), password.encode())

    def _authorize(self, request: web.Request) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(401, "Full authentication is required to access this resource")
        reason = self._issuer.check(token.strip(), now=self.now())
        if reason is not None:
            raise Problem(401, reason)

    async def _user_management(self, request: web.Request, service: str) -> web.Response:
        segments = service.split("/")[1:]
        if len(segments) > 1 and segments[-1] == "":
            segments.pop()  # "/users/" as in Leaf's Postman collection
        if segments[0] != "users" or len(segments) > 4:
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        if len(segments) == 1:
            return await self._users(request)
        user_id = unquote(segments[1])
        if not user_id:
            raise Problem(404, "no such path: empty user id")
        if len(segments) == 2:
            return self._user(request, user_id)
        slug = segments[2].removesuffix("-credentials")
        if slug == segments[2]:
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        self._state.resource(slug)
        if len(segments) == 3:
            return await self._credential(request, user_id, slug)
        if segments[3] != "events":
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        _allow(request, "GET")
        events = self._state.events(user_id, slug)
        if "page" in request.query or "size" in request.query:
            page, headers = _paged(request, events)
            return web.json_response(page, headers=headers)
        return web.json_response(events)

    async def _users(self, request: web.Request) -> web.Response:
        _allow(request, "GET", "POST")
        if request.method == "POST":
            user = self._state.add_user_from_wire(await read_json(request))
            return web.json_response(
                self._state.user_json(user),
                status=201,
                headers={"Location": f"{USER_MANAGEMENT}/users/{user.id}"},
            )
        query = request.query
        filters = {key: query[key] for key in ("email", "name", "externalId") if key in query}
        ids = self._state.find_user_ids(filters, query.getall("sort", []))
        # Only the page asked for becomes JSON, however many users there are.
        page, headers = _paged(request, ids)
        users = self._state.users
        return web.json_response(
            [self._state.user_json(users[user_id]) for user_id in page], headers=headers
        )

    def _user(self, request: web.Request, user_id: str) -> web.Response:
        _allow(request, "GET", "DELETE")
        if request.method == "DELETE":
            self._state.delete_user(user_id)
            return web.Response(status=204)
        return web.json_response(self._state.user_json(self._state.user(user_id)))

    async def _credential(self, request: web.Request, user_id: str, slug: str) -> web.Response:
        _allow(request, "GET", "POST", "DELETE")
        if request.method == "GET":
            return web.json_response(self._state.read_credential(user_id, slug))
        if request.method == "DELETE":
            self._state.delete_credential(user_id, slug)
            return web.Response(status=204)
        # Read the body before any check, as a server does; a dropped
        # connection before this point applies nothing.
        body = await read_json(request)
        record = self._state.create_credential(user_id, slug, body)
        return web.json_response(
            record, status=201, headers={"Location": request.rel_url.raw_path}
        )

    async def _webhooks(self, request: web.Request, rest: str) -> web.Response:
        segments = [segment for segment in rest.split("/") if segment]
        if not segments:
            _allow(request, "GET", "POST")
            if request.method == "GET":
                return web.json_response(self.alerts.webhooks)
            webhook = self.alerts.register(await read_json(request))
            location = f"{ALERTS_PREFIX}/{webhook['id']}"
            return web.json_response(webhook, status=201, headers={"Location": location})
        if len(segments) > 1:
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        _allow(request, "GET", "DELETE")
        webhook_id = unquote(segments[0])
        if request.method == "DELETE":
            self.alerts.delete(webhook_id)
            return web.Response(status=204)
        return web.json_response(self.alerts.webhook(webhook_id))


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _drop(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.close()


def _allow(request: web.Request, *methods: str) -> None:
    if request.method not in methods:
        allow = {"Allow": ", ".join(methods)}
        raise Problem(405, f"{request.method} is not supported", headers=allow)


def _problem(problem: Problem, path: str) -> web.Response:
    return web.Response(
        status=problem.status,
        text=json.dumps(problem.body(path)),
        content_type=_PROBLEM,
        headers=problem.headers,
    )


def _query_int(request: web.Request, name: str, default: int, minimum: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise Problem(400, f"{name} must be an integer") from None
    if value < minimum:
        raise Problem(400, f"{name} must be at least {minimum}")
    return value


def _paged(request: web.Request, items: Sequence[_T]) -> tuple[list[_T], dict[str, str]]:
    """Cut one page of ``items``; return it with JHipster's paging headers."""
    page = _query_int(request, "page", 0, 0)
    size = min(_query_int(request, "size", PAGE_SIZE, 1), MAX_PAGE_SIZE)
    total = len(items)
    last = max(0, (total - 1) // size)

    def link(number: int, rel: str) -> str:
        url = request.url.update_query(page=str(number), size=str(size))
        return f'<{url}>; rel="{rel}"'

    links = []
    if page < last:
        links.append(link(page + 1, "next"))
    if page > 0:
        links.append(link(min(page - 1, last), "prev"))
    links += [link(last, "last"), link(0, "first")]
    headers = {"X-Total-Count": str(total), "Link": ",".join(links)}
    return list(items[page * size : (page + 1) * size]), headers


async def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    accounts: Mapping[str, str] | None = DEFAULT_ACCOUNTS,
    tokens: Iterable[str] = (),
    registry: Registry | None = None,
    token_lifetime: float | None = None,
    seed: int | None = None,
    stream: TextIO | None = None,
    rate_limit: RateLimit | None = None,
    users: int = 0,
    seed_document: Any = None,
    token: str | None = None,
) -> None:
    """Run a :class:`FakeLeaf` until cancelled (``leaf-creds fake-server``).

    Writes its URL, the accounts it accepts, a ready bearer token and how to
    add a user to ``stream`` (standard error by default). A password is
    written only for :data:`DEFAULT_ACCOUNTS`, whose well-known password is
    the fake's own and no secret; a token given as ``token`` is never echoed.

    Args:
        host, port: Where to listen.
        accounts, tokens, registry, token_lifetime, seed, rate_limit: As
            for :class:`FakeLeaf`.
        stream: Where to write the greeting.
        users: Users to add first, with ids that are the same on every run
            (``Grower 0000``, ...; no credentials).
        seed_document: A seed document to load after them (see
            :meth:`FakeLeaf.load_seed`).
        token: An opaque bearer token to accept besides the issued ones; it
            never expires, so a client keeps working across restarts.

    Raises:
        ValidationError: ``seed_document`` does not fit, before listening.
    """
    out = sys.stderr if stream is None else stream
    fake = FakeLeaf(
        registry=registry,
        accounts=accounts,
        tokens=[*tokens, token] if token is not None else tokens,
        host=host,
        port=port,
        token_lifetime=token_lifetime,
        seed=seed,
        rate_limit=rate_limit,
    )
    seed_users(fake, users)
    if seed_document is not None:
        fake.load_seed(seed_document)
    async with fake:
        out.write(_greeting(fake, accounts, given_token=token is not None))
        out.flush()
        await asyncio.Event().wait()


def _greeting(fake: FakeLeaf, accounts: Mapping[str, str] | None, *, given_token: bool) -> str:
    names = ", ".join(fake._accounts) or "none (login refused)"
    if accounts == DEFAULT_ACCOUNTS:
        # Printed on purpose: it is the fake's own default, documented in the
        # README; anything passed in is never echoed.
        names += ' (password "password": the fake\'s default, not a secret)'
    token = (
        "bearer token: the one given with --token (never expires)"
        if given_token
        else f"bearer token (24 h): {fake.token}"
    )
    users = f"{len(fake.users)} users, {fake._state.count_credentials()} credentials"
    add = (
        f"curl -X POST {fake.url}{USER_MANAGEMENT}/users -H 'Authorization: Bearer TOKEN' "
        """-H 'Content-Type: application/json' -d '{"name": "Ada"}'"""
    )
    return (
        f"Fake Leaf API listening on {fake.url}\n"
        f"  accounts: {names}\n"
        f"  {token}\n"
        f"  holding {users}\n"
        f"  add a user: {add}\n"
    )
