"""Transport: the one way out to Leaf. It knows no Leaf service.

It owns the aiohttp session, authentication (and the login exchange),
pacing, the retry budget, the answer size cap, error translation and
redaction at the boundary, decoding, and the paged list walk. Every service
module (``_credentials``, ``_users``, ``_webhooks``, ``_app_keys``,
``_magic_links``, ``_api_keys``) builds its URLs and bodies and sends them
through :meth:`Transport.request`; what to do after a failed attempt is
:func:`~leaf_creds._retry.decide`'s, a pure function.

The exception tree the transport raises is drawn in ``_exceptions.py``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol, TypeVar

import aiohttp
import attrs
from aiohttp import hdrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ._auth import Auth, StaticAuth, usable_token
from ._exceptions import (
    APIError,
    AuthenticationError,
    DecodeError,
    LeafError,
    RequestTimeoutError,
    ResponseTooLargeError,
    TransportError,
)
from ._http import OversizedBody, api_error, parse_json
from ._pacing import Pacer
from ._paging import has_next_page
from ._retry import Decision, RetryBudget, RetryPolicy, Step, decide

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "LIST_PAGE_SIZE",
    "LOGIN_PATH",
    "MAX_PAGES",
    "USER_MANAGEMENT",
    "Answer",
    "BulkWatch",
    "Observer",
    "Reconcile",
    "Timeouts",
    "Transport",
    "list_query",
    "reason",
    "shown",
]

USER_MANAGEMENT: Final = "/services/usermanagement/api"
LOGIN_PATH: Final = "/api/authenticate"
# The onboarding lists are not documented as paged. Leaf's general rule
# (page, size, X-Total-Count, Link) may apply, so the walk asks for pages
# of 100; see Transport.list_all for when it ends.
LIST_PAGE_SIZE: Final = 100
# A bound on a walk, so a server that always claims another page cannot
# keep a list call going (or growing) forever: 100 000 items.
MAX_PAGES: Final = 1000

log = logging.getLogger("leaf_creds")

T = TypeVar("T")

_JSON_CONTENT: Final = CIMultiDict({"Content-Type": "application/json"})
# parse_json's first step (see _http), run inline on every answer.
_decode_text: Final = json.JSONDecoder().decode


class Answer(NamedTuple):
    """A 2xx answer (or one the retry decision took as a success), read whole."""

    # A NamedTuple, not attrs: one is made per request, on the hot path.
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes
    attempts: int


# Makes a NamedTuple from a tuple without running its Python-level __new__.
_new_tuple: Final = tuple.__new__

# Checks whether an unknown outcome was applied: the answer that proves it
# (returned as the request's), None to let the request be retried, or an
# exception (OutcomeUnknownError) when it cannot tell.
Reconcile = Callable[[LeafError, int], Awaitable[Answer | None]]


class Observer(Protocol):
    """What watches a transport's requests: ``leaf_creds.otel``'s telemetry, or your own."""

    async def request(
        self, transport: Transport, method: str, url: str, timeouts: Timeouts, **options: Any
    ) -> Answer:
        """Send the request with ``transport.request(..., observe=False)``, recording it."""
        ...

    def operation(self, name: str, provider: str) -> AbstractContextManager[object]:
        """Return a context in which one SDK operation's requests run."""
        ...

    def bulk(self, total: int | None) -> BulkWatch:
        """Start watching a bulk job, its span current until :meth:`BulkWatch.detach`."""
        ...


class BulkWatch(Protocol):
    """One bulk job as an :class:`Observer` records it."""

    def detach(self) -> None:
        """Stop making the job's span current (its workers were started within it)."""

    def outcome(self, kind: str, ok: bool) -> None:
        """Count one operation's outcome."""

    def end(self, error: BaseException | None) -> None:
        """End the job's record."""


@attrs.frozen
class Timeouts:
    """One call's timeouts: in all, to connect, and aiohttp's object for them."""

    total: float
    connect: float
    client: aiohttp.ClientTimeout


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        from ._exceptions import ValidationError

        raise ValidationError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


def make_timeouts(total: float, connect: float) -> Timeouts:
    """Check and build a call's timeouts.

    Raises:
        ValidationError: One is not a positive number of seconds.
    """
    total = _positive("timeout", total)
    connect = _positive("connect_timeout", connect)
    # No `total` for aiohttp: the transport keeps it (see _Deadlines).
    return Timeouts(total, connect, aiohttp.ClientTimeout(total=None, sock_connect=connect))


class Transport:
    """Sends Leaf requests: auth, pacing, retries, the size cap, errors, decoding.

    Made by ``LeafSession``, which checks the options first; a service
    module holds a reference to it and uses only its public members.
    """

    def __init__(
        self,
        *,
        base_url: str,
        auth: Auth,
        fixed_token: str | None = None,
        session: aiohttp.ClientSession | None,
        timeouts: Timeouts,
        retry: RetryPolicy,
        pacer: Pacer,
        converter: cattrs.Converter,
        max_response_bytes: int,
        user_agent: str,
    ) -> None:
        self.base_url = base_url
        #: The User Management API's root: credentials, users, app and API keys.
        self.user_management = base_url + USER_MANAGEMENT
        self.auth = auth
        self.converter = converter
        self.retry = retry
        self.pacer = pacer
        self.budget = RetryBudget(retry)
        self.timeouts = timeouts
        self.max_response_bytes = max_response_bytes
        #: What a paged list may read in all: the whole walk is bounded, not
        #: only each page (a hostile server could send 1,000 full pages).
        self.max_list_bytes = 4 * max_response_bytes
        self.closed = False
        # A fixed token is read without a coroutine on every request.
        self._fixed_token = fixed_token if isinstance(auth, StaticAuth) else None
        self._session = session
        self._owns_session = session is None
        self._headers = {"Accept": "application/json", "User-Agent": user_agent}
        self._deadlines = _Deadlines()
        self._root = URL(base_url).origin()
        self._origin = str(self._root)
        #: Telemetry of the requests (``leaf_creds.otel.instrument``), or None:
        #: then the hot path pays one attribute check for it.
        self.observer: Observer | None = None
        #: Answers 429 met so far, retried or not.
        self.rate_limited = 0
        # Hooks are looked up once per type and kept for the transport's life.
        self._hooks: dict[Any, Callable[[Any, Any], Any]] = {}
        self._header_cache: dict[tuple[str | None, bool], CIMultiDict[str]] = {}

    def __repr__(self) -> str:
        return f"<Transport base_url={self.base_url!r} auth={self.auth.kind}>"

    # -- lifecycle ---------------------------------------------------------

    async def aclose(self) -> None:
        """Close the aiohttp session if this transport created it; idempotent."""
        self.closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    def http(self) -> aiohttp.ClientSession:
        """Return the aiohttp session, creating ours on first use (in the running loop).

        Raises:
            RuntimeError: The transport is closed.
        """
        if self.closed:
            raise RuntimeError("this LeafSession is closed")
        if self._session is None:
            # Headers that never change go in the session's defaults, so each
            # request carries (and aiohttp merges) only what differs.
            defaults = dict(self._headers)
            if self._fixed_token is not None:
                defaults["Authorization"] = "Bearer " + self._fixed_token
            session = aiohttp.ClientSession(
                headers=defaults,
                # Leaf's API sets no cookies we need, and a jar costs every
                # request a filter and every answer an update.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
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

    def timeouts_for(self, total: float | None = None, connect: float | None = None) -> Timeouts:
        """Return a call's timeouts: the session's, with what the call overrides.

        Raises:
            ValidationError: A timeout is not a positive number of seconds.
        """
        if total is None and connect is None:
            return self.timeouts
        return make_timeouts(
            self.timeouts.total if total is None else total,
            self.timeouts.connect if connect is None else connect,
        )

    # -- the request loop --------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        timeouts: Timeouts,
        *,
        data: bytes | None = None,
        secrets: list[str] | None = None,
        reconcile: Reconcile | None = None,
        authenticated: bool = True,
        idempotent: bool | None = None,
        label: str | None = None,
        headers: Mapping[str, str] | None = None,
        observe: bool = True,
    ) -> Answer:
        """Send one logical request with auth, pacing and retries; return its 2xx answer.

        Args:
            method: The HTTP method.
            url: The whole URL, its path segments already encoded.
            timeouts: The call's timeouts.
            data: A JSON body, encoded.
            secrets: Values the body holds that no error, log or repr may show.
            reconcile: How to tell whether an unknown outcome was applied
                (for a request that is not idempotent).
            authenticated: Whether to send the bearer token.
            idempotent: Whether sending it twice is harmless; by default,
                every method but POST.
            label: The URL as errors and log lines show it, where the real
                one holds a capability (a Magic Link's id); by default the
                URL without its query string.
            headers: Headers of this request, over the usual ones (a form's
                ``Content-Type``, a provider's ``Authorization: Basic``).
            observe: Whether the :attr:`observer` (``leaf_creds.otel``), if
                any, records the request; it sends with False itself.

        Raises:
            LeafError: The request failed; see the exception tree.
        """
        if observe and self.observer is not None:
            return await self.observer.request(
                self, method, url, timeouts, data=data, secrets=secrets, reconcile=reconcile,
                authenticated=authenticated, idempotent=idempotent, label=label, headers=headers,
            )  # fmt: skip
        if idempotent is None:
            idempotent = method != "POST"
        cap = self.max_response_bytes
        # A path of Leaf's own host becomes a URL without parsing: 0.6 us,
        # where aiohttp would parse the text in 2.7 us. The path is built
        # encoded, so it reaches Leaf exactly as built, escapes and all.
        target: URL | str
        if url.startswith(self._origin) and "?" not in url:
            target = self._root.with_path(url[len(self._origin) :], encoded=True)
        else:
            target = URL(url, encoded=True) if "%" in url else url
        debug = log.isEnabledFor(logging.DEBUG)
        where = url if label is None else label
        pacer = self.pacer
        deadlines = self._deadlines
        # The common case, a fixed token and no headers of the call's own,
        # reads the token without a coroutine; in a session of our own the
        # token is already among the defaults.
        fixed = authenticated and headers is None and self._fixed_token is not None
        # The state of retries, made only once an attempt is paced or fails:
        # a request answered 2xx at the first try never builds it.
        loop: _Loop | None = None
        attempt = 0
        while True:
            attempt += 1
            if fixed:
                token = self._fixed_token
                sent = self._fixed_headers(data is not None)
            else:
                token, sent = await self._auth_headers(authenticated, data is not None, headers)
            if pacer.engaged:
                loop = loop or _Loop(self, method, where, timeouts, secrets, reconcile, idempotent)
                await loop.take_turn()
            else:
                pacer.sent += 1
            http = self._session
            if http is None:
                http = self.http()
            started = time.perf_counter() if debug else 0.0
            # The attempt's total timeout, kept by one timer for all requests
            # (aiohttp's own would start and cancel a timer per request).
            task = deadlines.watch(timeouts.total)
            # One HTTP attempt, inline: a helper coroutine here would add a
            # frame to every suspend and resume of every request.
            try:
                try:
                    async with http.request(
                        method,
                        target,
                        data=data,
                        headers=sent,
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
                            body = await read_capped(response, cap)
                        answer: Answer = _new_tuple(
                            Answer, (response.status, response.headers, body, attempt)
                        )
                finally:
                    deadlines.forget(task)
            except (TimeoutError, aiohttp.ClientError) as exc:
                loop = loop or _Loop(self, method, where, timeouts, secrets, reconcile, idempotent)
                step = loop.lost(exc, attempt)
            except asyncio.CancelledError:
                if not deadlines.expired(task):
                    raise  # cancelled by the caller, not by the timeout
                loop = loop or _Loop(self, method, where, timeouts, secrets, reconcile, idempotent)
                step = loop.lost(TimeoutError(), attempt)
            else:
                if deadlines.late:
                    # Cancelled for its deadline, yet it ended: something in
                    # aiohttp took the cancellation. Take it back too.
                    deadlines.expired(task)
                if debug:
                    _log_answer(method, where, answer, started)
                if answer.status < 300:
                    budget = self.budget
                    if budget.short:
                        budget.succeeded()
                    return answer
                loop = loop or _Loop(self, method, where, timeouts, secrets, reconcile, idempotent)
                step = loop.answered(answer, token)
            if step is None:
                continue
            found = await step
            if found is not None:
                return found._replace(attempts=attempt)

    def _fixed_headers(self, has_body: bool) -> CIMultiDict[str] | None:
        # A fixed token: in a session of our own it is among the defaults.
        if self._owns_session:
            return None if not has_body else _JSON_CONTENT
        return self._headers_for(self._fixed_token, has_body)

    async def _auth_headers(
        self, authenticated: bool, has_body: bool, extra: Mapping[str, str] | None
    ) -> tuple[str | None, CIMultiDict[str] | None]:
        """Return an attempt's token and headers, when they are not the fixed token's."""
        token: str | None = None
        if not authenticated:
            sent: CIMultiDict[str] | None = self._headers_for(None, has_body)
        elif self._fixed_token is not None:
            token = self._fixed_token
            sent = self._fixed_headers(has_body)
        else:
            token = await self.auth.token()
            sent = self._headers_for(token, has_body)
        if extra is not None:
            sent = CIMultiDict(sent or ())
            sent.update(extra)
        return token, sent

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

    def api_error(
        self, method: str, url: str, answer: Answer, token: str | None, secrets: list[str] | None
    ) -> APIError:
        """Translate an error answer, every secret and the token masked."""
        hidden = [*(secrets or ()), *((token,) if token else ())]
        error = api_error(
            status=answer.status,
            method=method,
            url=shown(url),
            headers=answer.headers,
            body=answer.body,
            secrets=hidden,
        )
        if 300 <= answer.status < 400:
            # Following a redirect could hand the bearer token to another host.
            try:
                location = URL(answer.headers.get("Location", ""))
                where = str(location.origin()) if location.absolute else location.path
            except ValueError:
                where = "an unreadable Location"
            error.detail = f"redirect to {where} not followed"
            error.args = (error._summary(),)
        error.attempts = answer.attempts
        return error

    # -- authentication ----------------------------------------------------

    async def login(self, credentials: Mapping[str, Any]) -> str:
        """Exchange a username and password for a bearer token (``POST /api/authenticate``).

        Raises:
            AuthenticationError: Leaf refused the login, or answered no token.
            LeafError: Any other failure.
        """
        url = self.base_url + LOGIN_PATH
        try:
            answer = await self.request(
                "POST",
                url,
                self.timeouts,
                data=json.dumps(credentials).encode(),
                secrets=[str(credentials["password"])],
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

    # -- decoding ----------------------------------------------------------

    def decode_object(self, cls: type[T], answer: Answer, method: str, url: str) -> T:
        """Parse a 2xx answer holding one JSON object into ``cls``.

        Raises:
            DecodeError: The body is not a JSON object that fits ``cls``.
        """
        body = answer.body
        try:
            # parse_json's first step, inline: this runs on every answer.
            data = _decode_text(body.decode())
        except (ValueError, RecursionError):
            data = parse_json(body, method=method, url=url, status=answer.status)
        if type(data) is not dict:
            raise DecodeError(
                f"{answer.status} from {method} {url}: expected a JSON object",
                method=method,
                url=url,
                status=answer.status,
            )
        hook = self._hooks.get(cls)
        if hook is None:
            hook = self._hooks[cls] = self.converter.get_structure_hook(cls)
        decoded: T = structure(hook, data, cls, method, url, answer.status)
        return decoded

    def decode_list(self, cls: type[T], answer: Answer, url: str, what: str) -> list[T]:
        """Parse a 2xx answer to a GET holding a JSON array of ``cls``.

        Raises:
            DecodeError: The body is not a JSON array of ``what``.
        """
        data = json_array(answer, url, what)
        key = (list, cls)
        hook = self._hooks.get(key)
        if hook is None:
            hook = self._hooks[key] = self.converter.get_structure_hook(list[cls])  # type: ignore[valid-type]
        items: list[T] = structure(hook, data, list[cls], "GET", url, answer.status)  # type: ignore[valid-type]
        return items

    def structure_hook(self, cls: type[T]) -> Callable[[Any, Any], T]:
        """Return the converter's structure hook for ``cls``, looked up once."""
        hook = self._hooks.get(cls)
        if hook is None:
            hook = self._hooks[cls] = self.converter.get_structure_hook(cls)
        return hook

    async def pages(
        self,
        url: str,
        cls: type[T],
        what: str,
        timeouts: Timeouts,
        params: Mapping[str, str] | None = None,
    ) -> AsyncIterator[list[T]]:
        """Yield each page of a JSON-array list, decoded into ``cls``, as it is read.

        Paging is not documented for these lists, so the walk is lenient: it
        asks for pages of 100 and ends on a short page, on ``X-Total-Count`` or
        a ``Link`` without ``rel="next"``, when a page holds more than was
        asked for, or when a page is the one before it again (both: a server
        that ignores paging answered everything, every time).

        Raises:
            DecodeError: A page is not a JSON array of ``what``, or the list
                runs past :data:`MAX_PAGES` pages.
            ResponseTooLargeError: The pages hold more than
                :attr:`max_list_bytes` in all.
            LeafError: Any other failure of a request.
        """
        seen = read = 0
        previous: bytes | None = None
        for page in range(MAX_PAGES):
            answer = await self.request("GET", url + list_query(page, params), timeouts)
            if answer.body == previous:
                return  # paging ignored: this page was yielded already
            read += len(answer.body)
            if read > self.max_list_bytes:
                raise ResponseTooLargeError(
                    f"GET {url}: the {what} pages hold more than {self.max_list_bytes} bytes "
                    "in all; giving up",
                    method="GET",
                    url=url,
                    status=answer.status,
                    limit=self.max_list_bytes,
                )
            items = self.decode_list(cls, answer, url, what)
            seen += len(items)
            yield items
            if len(items) > LIST_PAGE_SIZE or not has_next_page(
                count=len(items), size=LIST_PAGE_SIZE, seen=seen, headers=answer.headers
            ):
                return
            previous = answer.body
        raise DecodeError(
            f"GET {url}: still more {what} after {MAX_PAGES} pages; giving up",
            method="GET",
            url=url,
            status=200,
        )

    async def list_all(
        self,
        url: str,
        cls: type[T],
        what: str,
        timeouts: Timeouts,
        params: Mapping[str, str] | None = None,
    ) -> list[T]:
        """Return every item of a JSON-array list: :meth:`pages`, gathered.

        Raises:
            DecodeError, ResponseTooLargeError, LeafError: As :meth:`pages`.
        """
        found: list[T] = []
        async for items in self.pages(url, cls, what, timeouts, params):
            found += items
        return found


class _Deadlines:
    """The total timeouts of the attempts in flight, kept by one timer for them all.

    aiohttp's ``ClientTimeout(total=)`` starts and cancels a timer, and
    builds a timer context, for every request: about 4 µs, the largest part
    of what a request costs in aiohttp beyond the I/O. Here an attempt only
    notes its deadline; one loop callback, due at the earliest deadline,
    cancels the tasks whose attempt is past it, and the transport turns that
    cancellation into a timeout. The callback only runs while the task waits
    inside its attempt, so the cancellation always lands there.
    """

    __slots__ = ("_due", "_handle", "_watched", "late")

    def __init__(self) -> None:
        self._watched: dict[asyncio.Task[Any], float] = {}
        self.late: set[asyncio.Task[Any]] = set()
        self._handle: asyncio.TimerHandle | None = None
        self._due = math.inf

    def watch(self, seconds: float) -> asyncio.Task[Any]:
        """Note that the current task's attempt must end within ``seconds``; return the task."""
        task = asyncio.current_task()
        assert task is not None  # requests are awaited in a task
        loop = task.get_loop()
        deadline = loop.time() + seconds
        self._watched[task] = deadline
        if deadline < self._due:
            # Rare: the timer is due later than this attempt's deadline.
            if self._handle is not None:
                self._handle.cancel()
            self._due = deadline
            self._handle = loop.call_at(deadline, self._expire, loop)
        return task

    def forget(self, task: asyncio.Task[Any]) -> None:
        """Take the task's attempt as ended."""
        self._watched.pop(task, None)

    def expired(self, task: asyncio.Task[Any]) -> bool:
        """Tell whether the task was cancelled for its deadline; take its cancellation back."""
        if task not in self.late:
            return False
        self.late.discard(task)
        task.uncancel()
        return True

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        due = math.inf
        for task, deadline in list(self._watched.items()):
            if deadline <= now:
                del self._watched[task]
                self.late.add(task)
                task.cancel()
            elif deadline < due:
                due = deadline
        self._due = due
        self._handle = None if due == math.inf else loop.call_at(due, self._expire, loop)


class _Loop:
    """The state of one request's attempts, and the I/O each retry decision names."""

    __slots__ = (
        "idempotent",
        "maybe_applied",
        "method",
        "reconcile",
        "renewed",
        "retries",
        "secrets",
        "slot",
        "throttled",
        "throttled_at",
        "timeouts",
        "transport",
        "url",
    )

    def __init__(
        self,
        transport: Transport,
        method: str,
        url: str,
        timeouts: Timeouts,
        secrets: list[str] | None,
        reconcile: Reconcile | None,
        idempotent: bool,
    ) -> None:
        self.transport = transport
        self.method = method
        self.url = url
        self.timeouts = timeouts
        self.secrets = secrets
        self.reconcile = reconcile
        self.idempotent = idempotent
        self.retries = 0
        self.renewed = False
        self.maybe_applied = False
        self.slot = 0.0  # when the pacing granted the attempt's start
        self.throttled: APIError | None = None  # the last 429
        self.throttled_at: float | None = None  # the first 429's time

    async def take_turn(self) -> None:
        """Wait for this attempt's turn in the session's pacing (a ceiling, or a 429 met)."""
        policy = self.transport.retry
        deadline = None
        if self.throttled_at is not None:
            deadline = self.throttled_at + policy.rate_limit_max_wait
        turn = await self.transport.pacer.acquire(deadline)
        if turn is None and self.throttled is not None:
            raise self.throttled  # its turn would come after rate_limit_max_wait
        self.slot = turn or 0.0

    def lost(
        self, exc: TimeoutError | aiohttp.ClientError, attempt: int
    ) -> Awaitable[Answer | None] | None:
        """Take an attempt that got no answer; return the step's I/O, None to send again."""
        failure = transport_error(exc, self.method, self.url, self.timeouts)
        failure.attempts = attempt
        if failure.sent is False:
            self.transport.budget.unreachable()
        decision = decide(
            self.transport.retry,
            method=self.method,
            status=None,
            sent=failure.sent,
            timed_out=isinstance(failure, RequestTimeoutError),
            idempotent=self.idempotent,
            retries=self.retries,
            maybe_applied=self.maybe_applied,
            can_reconcile=self.reconcile is not None,
        )
        return self._follow(decision, failure)

    def answered(self, answer: Answer, token: str | None) -> Awaitable[Answer | None] | None:
        """Take an error answer; return the step's I/O, None to send again."""
        transport = self.transport
        budget = transport.budget
        if budget.refused:
            budget.answered()
        status = answer.status
        error = transport.api_error(self.method, self.url, answer, token, self.secrets)
        now = time.monotonic()
        if status == 429:
            # Not processed, and not a fault: this 429 slows the session's pacing.
            transport.rate_limited += 1
            self.throttled = error
            transport.pacer.throttled(self.slot, error.retry_after)
            if self.throttled_at is None:
                self.throttled_at = now
        decision = decide(
            transport.retry,
            method=self.method,
            status=status,
            retry_after=error.retry_after,
            idempotent=self.idempotent,
            retries=self.retries,
            renewable=token is not None and transport.auth.renewable,
            renewed=self.renewed,
            maybe_applied=self.maybe_applied,
            can_reconcile=self.reconcile is not None,
            throttled_for=0.0 if self.throttled_at is None else now - self.throttled_at,
        )
        step = decision.step
        if step is Step.RETURN:
            # An earlier attempt was probably applied; gone is gone.
            log.debug("%s %s: 404 after a lost attempt: deleted", self.method, shown(self.url))
            return _done(answer)
        if step is Step.RENEW:
            # The token was refused: forget it, get a new one, replay once.
            # Not a retry: the request was never processed.
            assert token is not None
            transport.auth.invalidate(token)
            self.renewed = True
            log.debug("%s %s: 401, renewing the token and replaying", self.method, shown(self.url))
            return None
        if step is Step.WAIT:
            return None
        return self._follow(decision, error)

    def _follow(self, decision: Decision, failure: LeafError) -> Awaitable[Answer | None]:
        if decision.unknown:
            self.maybe_applied = True
        if decision.step is Step.RAISE:
            raise failure
        return self._retry(decision, failure)

    async def _retry(self, decision: Decision, failure: LeafError) -> Answer | None:
        transport = self.transport
        if decision.step is Step.RECONCILE:
            assert self.reconcile is not None
            found = await self.reconcile(failure, failure.attempts)
            if found is not None:
                return found
            decision = decide(
                transport.retry,
                method=self.method,
                status=failure.status if isinstance(failure, APIError) else None,
                sent=getattr(failure, "sent", None),
                timed_out=isinstance(failure, RequestTimeoutError),
                retry_after=failure.retry_after if isinstance(failure, APIError) else None,
                idempotent=self.idempotent,
                retries=self.retries,
                maybe_applied=True,
                can_reconcile=True,
                reconciled=True,
            )
            if decision.step is Step.RAISE:
                raise failure
        if not transport.budget.spend(decision.cost):
            # In an outage, retries only multiply the load: fail fast.
            log.debug(
                "%s %s: not retried, the retry budget is empty", self.method, shown(self.url)
            )
            raise failure
        self.retries += 1
        log.debug(
            "%s %s: retry %d/%d in %.3fs after %s",
            self.method,
            shown(self.url),
            self.retries,
            transport.retry.max_retries,
            decision.delay,
            reason(failure),
        )
        await asyncio.sleep(decision.delay)
        return None


async def _done(answer: Answer) -> Answer:
    return answer


def _log_answer(method: str, url: str, answer: Answer, started: float) -> None:
    log.debug(
        "%s %s -> %d in %.1f ms (attempt %d)",
        method,
        URL(url, encoded=True).raw_path,  # only when DEBUG is on
        answer.status,
        (time.perf_counter() - started) * 1000,
        answer.attempts,
    )


async def read_capped(response: aiohttp.ClientResponse, limit: int) -> bytes:
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


def transport_error(
    exc: TimeoutError | aiohttp.ClientError, method: str, url: str, timeouts: Timeouts
) -> TransportError:
    """Translate an aiohttp failure; the one place that knows aiohttp's exceptions."""
    where = shown(url)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        error: TransportError = RequestTimeoutError(
            f"no connection within {timeouts.connect:g}s", method=method, url=where, sent=False
        )
    elif isinstance(exc, TimeoutError):
        error = RequestTimeoutError(
            f"no complete answer within {timeouts.total:g}s", method=method, url=where
        )
    elif isinstance(exc, aiohttp.ClientConnectorError):
        why = exc.os_error.strerror or type(exc.os_error).__name__
        error = TransportError(f"cannot connect: {why}", method=method, url=where, sent=False)
    else:
        error = TransportError(f"connection failed: {type(exc).__name__}", method=method, url=where)
    error.__cause__ = exc
    return error


def json_array(answer: Answer, url: str, what: str) -> list[Any]:
    """Parse a 2xx answer to a GET that must hold a JSON array of ``what``.

    Raises:
        DecodeError: It does not.
    """
    data = parse_json(answer.body, method="GET", url=url, status=answer.status)
    if not isinstance(data, list):
        raise DecodeError(
            f"{answer.status} from GET {url}: expected a JSON array of {what}",
            method="GET",
            url=url,
            status=answer.status,
        )
    return data


def structure(
    hook: Callable[[Any, Any], T], data: Any, cls: Any, method: str, url: str, status: int
) -> T:
    """Structure decoded JSON with ``hook``; a failure is a :class:`DecodeError`."""
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


def list_query(page: int, params: Mapping[str, str] | None = None) -> str:
    """Return the query string of one page of an onboarding list, with its ``?``."""
    from urllib.parse import urlencode

    return "?" + urlencode({**(params or {}), "page": page, "size": LIST_PAGE_SIZE})


def shown(url: str) -> str:
    """Return a URL fit for errors and logs: without its query string."""
    return url.partition("?")[0]


def reason(error: BaseException) -> str:
    """Say in a few words why a request failed (for messages and logs)."""
    if isinstance(error, APIError):
        return f"{type(error).__name__} {error.status}"
    return f"{type(error).__name__} ({error.args[0] if error.args else ''})"
