"""``leaf.oauth``: connect a grower yourself, through the provider's consent page.

Two requests of your web app make one flow::

    start = await leaf.oauth.start(lc.JOHN_DEERE, app=keys, redirect_url=..., environment=...)
    # keep leaf.oauth.dump(start) in the grower's session, send them to start.url
    record = await leaf.oauth.connect(start, response_url, user_id)   # on the redirect

What each provider's two calls are (Leaf's helper services, or the
provider's own endpoints) is its ``OAuthSpec``, in the registry; this module
sends them, to the host configured in place of each default one, and reads
their answers. Those answers are mostly undocumented, so they are read
leniently (see :func:`_text_of`) and every assumption is in the README's
"Connecting growers yourself (OAuth)".

The helper hosts are not Leaf's API: each call goes through a transport of
its own, on a short-lived aiohttp session, with no bearer token, so the Leaf
token never reaches another host. No client secret, code, verifier or token
is ever in a repr, a log line or an error.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, overload
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import aiohttp
import attrs

from ._auth import StaticAuth
from ._exceptions import (
    DecodeError,
    OAuthDeniedError,
    OAuthError,
    OAuthStateError,
    OAuthUnavailableError,
    ValidationError,
)
from ._fields import masked
from ._http import parse_json
from ._models import ClientEnvironment, CredentialRecord
from ._oauth_spec import OAuthCall, OAuthContext, OAuthSpec, OAuthTokens
from ._options import check_base_url
from ._pacing import Pacer
from ._resource import CredentialResource, RecordLike, to_client_environment
from ._transport import Answer, Timeouts, Transport

if TYPE_CHECKING:
    from ._credentials import Credentials
    from ._registry import Registry

__all__ = ["OAuth", "OAuthStart"]

S = TypeVar("S")
R = TypeVar("R", bound=RecordLike)

# The answer keys the sources show or suggest (onboarding.md §4.1: "read the
# URL from url, signInUrl or authorization_url, and the tokens from
# refresh_token or refreshToken"); the rest are the usual spellings of both.
_URL_KEYS: Final = ("url", "signInUrl", "authorization_url", "authorizationUrl", "auth_url",
                    "authUrl", "sign_in_url")  # fmt: skip
_VERIFIER_KEYS: Final = ("codeVerifier", "code_verifier")
_REFRESH_KEYS: Final = ("refresh_token", "refreshToken")
_ACCESS_KEYS: Final = ("access_token", "accessToken")
# Apps kept for finish() in this process, by state; the oldest go first.
_REMEMBERED: Final = 256
_USER_AGENT: Final = "leaf-creds"


@attrs.frozen(kw_only=True)
class OAuthStart(Generic[S, R]):
    """A consent flow begun: the URL to send the grower to, and what ``finish`` needs.

    Serializable (``leaf.oauth.dump(start)``, a JSON-safe dict) so a web app
    keeps it in the grower's session between its two requests. It holds no
    client secret; Lindsay's PKCE ``code_verifier`` (a per-flow secret, shown
    as ``'***'``) is in it, so keep the session server-side or encrypted.

    Attributes:
        provider: The provider's slug.
        url: Where to send the grower: the provider's consent page.
        state: The value the redirect must carry back.
        redirect_url: Where the provider sends the grower back.
        client_id: The application's public id (``finish`` checks the app).
        environment: ``STAGE`` or ``PRODUCTION``, for providers that have one.
        scopes: The OAuth scopes asked for, if any were.
        code_verifier: The PKCE verifier, for providers that use one.
    """

    provider: str
    url: str
    state: str
    redirect_url: str
    client_id: str
    environment: ClientEnvironment | None = None
    scopes: tuple[str, ...] | None = None
    code_verifier: str | None = attrs.field(default=None, repr=masked)


def _origin(value: object, what: str, allow_http: bool) -> str:
    """Return a host key as ``scheme://host[:port]``, or a replacement base URL checked.

    Raises:
        ValidationError: It is not an absolute http(s) URL (https unless on
            loopback or ``allow_http``).
    """
    if not isinstance(value, str) or not value:
        raise ValidationError(f"{what} must be a URL, got {value!r}")
    if "://" not in value:
        value = "https://" + value
    try:
        url = check_base_url(value, allow_http)
    except ValidationError as exc:
        raise ValidationError(f"{what} {value!r}: {exc}".replace("base_url", "it")) from None
    return str(url).rstrip("/")


def _checked_url(value: object, what: str) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in {"http", "https"}:
        raise ValidationError(f"{what} must be an absolute http(s) URL")
    if not urlsplit(value).netloc:
        raise ValidationError(f"{what} must be an absolute http(s) URL")
    return value


def _text_of(data: Any, keys: Iterable[str]) -> str | None:
    """Return the first non-empty string under one of ``keys``: at the top, then one level down.

    Lenient on purpose: the helpers' answers are undocumented, and some
    OAuth servers nest the tokens (``{"token": {...}}``, ``{"data": {...}}``).
    """
    if not isinstance(data, dict):
        return None
    for key in keys:
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
    for nested in data.values():
        found = _text_of(nested, keys) if isinstance(nested, dict) else None
        if found:
            return found
    return None


def _param(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _with_state(url: str, state: str) -> tuple[str, str]:
    """Return the consent URL carrying a state, and that state.

    A URL the helper built with a ``state`` of its own keeps it (its
    ``get_token`` may check it): that is the value to expect back. Otherwise
    ours is appended as is, leaving the rest of the URL untouched (INF: the
    providers echo ``state``, as OAuth 2.0 requires).
    """
    head, hash_, fragment = url.partition("#")
    query = urlsplit(head).query
    own = parse_qs(query).get("state")
    if own and own[0]:
        return url, own[0]
    joiner = "&" if query else ("" if head.endswith("?") else "?")
    return f"{head}{joiner}state={quote(state, safe='')}{hash_}{fragment}", state


class OAuth:
    """Grower consent flows of the registered providers, reached as ``leaf.oauth``.

    Args:
        transport: The session's transport: its timeouts, retry policy,
            converter and answer size cap are used; never its token.
        registry: The providers, with their ``OAuthSpec``.
        credentials: Where :meth:`connect` creates the credential.
        hosts: Replacements for the flows' default hosts: a default origin
            (``"https://johndeere-oauth2-helper.withleaf.io"``, or the bare
            host name) mapped to the base URL to use instead, e.g. a fake's.
        allow_http: Allow plain ``http://`` replacements off loopback.

    Raises:
        ValidationError: A host or its replacement is not a URL.
    """

    def __init__(
        self,
        transport: Transport,
        registry: Registry,
        credentials: Credentials,
        *,
        hosts: Mapping[str, str] | None = None,
        allow_http: bool = False,
    ) -> None:
        self._transport = transport
        self._registry = registry
        self._credentials = credentials
        self._allow_http = allow_http
        self._hosts: dict[str, str] = {}
        self._apps: dict[str, Any] = {}
        self.hosts = hosts or {}

    def __repr__(self) -> str:
        return f"<OAuth hosts={sorted(self._hosts)!r}>"

    @property
    def hosts(self) -> dict[str, str]:
        """The host replacements (a copy); set it to replace them all.

        Raises:
            ValidationError: On setting, a host or its replacement is not a URL.
        """
        return dict(self._hosts)

    @hosts.setter
    def hosts(self, hosts: Mapping[str, str]) -> None:
        if not isinstance(hosts, Mapping):
            raise ValidationError("hosts must be a mapping of host to base URL")
        self._hosts = {
            _origin(key, "an OAuth host", True): _origin(value, "its replacement", self._allow_http)
            for key, value in hosts.items()
        }

    # -- the provider's spec -------------------------------------------------

    def spec(self, provider: str | CredentialResource[Any, Any]) -> OAuthSpec[Any]:
        """Return a provider's consent flow.

        Raises:
            UnknownProviderError: The slug is not registered.
            OAuthUnavailableError: leaf_creds has no flow for it; the text
                says what to use instead.
        """
        resource = self._registry.resolve(provider)
        spec = resource.oauth
        if spec is not None and spec.unavailable is None:
            return spec
        why = spec.unavailable if spec is not None else (
            f"{resource.name} has no OAuth consent flow"
        )  # fmt: skip
        instead = (
            f"Connect the grower with a Magic Link instead (leaf.magic_links.create(user_id, "
            f"provider={resource.slug!r}): Leaf's hosted page runs the flow)"
            if resource.link_name is not None
            else f"Leaf's Magic Links do not offer {resource.name} either: attach credentials "
            f"you obtained yourself with leaf.create({resource.slug!r}, user_id, ...)"
        )
        raise OAuthUnavailableError(f"{why}. {instead}.", provider=resource.slug)

    def _rehost(self, url: str) -> str:
        for origin, replacement in self._hosts.items():
            if url == origin or url.startswith((origin + "/", origin + "?")):
                return replacement + url[len(origin) :]
        return url

    # -- the flow ------------------------------------------------------------

    @overload
    async def start(
        self,
        provider: CredentialResource[S, R],
        *,
        app: object,
        redirect_url: str,
        environment: ClientEnvironment | str | None = None,
        scopes: Iterable[str] | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> OAuthStart[S, R]: ...
    @overload
    async def start(
        self,
        provider: str,
        *,
        app: object,
        redirect_url: str,
        environment: ClientEnvironment | str | None = None,
        scopes: Iterable[str] | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> OAuthStart[Any, CredentialRecord]: ...
    async def start(
        self,
        provider: str | CredentialResource[Any, Any],
        *,
        app: object,
        redirect_url: str,
        environment: ClientEnvironment | str | None = None,
        scopes: Iterable[str] | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> OAuthStart[Any, Any]:
        """Begin a grower's consent flow: get the URL to send the grower to.

        Args:
            provider: The provider's slug or resource.
            app: The provider's application keys (e.g.
                ``lc.JohnDeereAppKeys(...)``), or their camelCase JSON object.
            redirect_url: Where the provider sends the grower back; exactly
                as registered with the provider (a trailing slash counts).
            environment: ``STAGE`` or ``PRODUCTION``, required for John Deere,
                CNHI, CNHI FieldOps and Lindsay; it becomes the credential's
                ``clientEnvironment``.
            scopes: OAuth scopes (Climate FieldView, AgLeader); None for the
                flow's default.
            timeout: Seconds one attempt may take, for this call.
            connect_timeout: Seconds to open a new connection, for this call.

        Returns:
            The :class:`OAuthStart`: send the grower to ``.url``, keep it for
            :meth:`finish`. This process also keeps ``app`` for ``finish``
            (by state, the latest 256 flows); another process passes ``app=``.

        Raises:
            OAuthUnavailableError: No flow for the provider; nothing was sent.
            ValidationError: The input is invalid; nothing was sent.
            DecodeError: The helper's answer holds no URL.
            LeafError: The helper's call failed; see the exception tree.
        """
        spec = self.spec(provider)
        resource = self._registry.resolve(provider)
        keys = spec.app_from(app, self._transport.converter)
        context = OAuthContext(
            redirect_url=_checked_url(redirect_url, "redirect_url"),
            state=secrets.token_urlsafe(24),
            environment=self._environment(spec, resource, environment),
            scopes=self._scopes(spec, resource, scopes),
        )
        assert spec.authorize is not None  # an available spec
        built = spec.authorize(keys, context)
        verifier = None
        if isinstance(built, OAuthCall):
            answer = await self._send(spec, keys, built, self._timeouts(timeout, connect_timeout),
                                      idempotent=True)  # fmt: skip
            data, text = self._read(answer, built)
            found = _text_of(data, _URL_KEYS) or (data if isinstance(data, str) else None)
            if found is None and text.startswith(("https://", "http://")):
                found = text  # a bare URL, not JSON (INF)
            if found is None:
                raise self._undecodable(answer, built, "URL to send the grower to")
            url = _checked_url(found, "the consent URL of the helper's answer")
            verifier = _text_of(data, _VERIFIER_KEYS)
        else:
            url = self._rehost(built)  # a provider's own page, as the spec built it
        url, state = _with_state(url, context.state)
        started: OAuthStart[Any, Any] = OAuthStart(
            provider=resource.slug,
            url=url,
            state=state,
            redirect_url=context.redirect_url,
            client_id=spec.public_id(keys),
            environment=context.environment,
            scopes=context.scopes,
            code_verifier=verifier,
        )
        self._remember(state, keys)
        return started

    async def finish(
        self,
        start: OAuthStart[S, Any],
        response_url: str,
        *,
        app: object | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> S:
        """Read the provider's redirect, exchange its code, return the credential to attach.

        Args:
            start: What :meth:`start` returned (or :meth:`load` read back).
            response_url: The whole URL the grower was redirected to, with
                its query string.
            app: The same application keys as ``start``; taken from this
                process's memory of the flow when not given.
            timeout: Seconds one attempt may take, for this call.
            connect_timeout: Seconds to open a new connection, for this call.

        Returns:
            The provider's credential schema (e.g. ``JohnDeereCredentials``),
            ready for ``leaf.create``; ``clientEnvironment`` is the start's
            environment where the provider has one.

        Raises:
            OAuthDeniedError: The redirect carries an ``error``
                (``access_denied``: the grower declined); nothing was sent.
            OAuthStateError: Its ``state`` is missing or not the start's;
                nothing was sent.
            OAuthError: It carries no code; nothing was sent.
            ValidationError: ``app`` is missing, or another application's.
            DecodeError: The exchange's answer holds no refresh token.
            LeafError: The exchange failed (a code is usable once: start again).
        """
        if not isinstance(start, OAuthStart):
            raise ValidationError(f"start must be an OAuthStart, got {type(start).__name__}")
        spec = self.spec(start.provider)
        resource = self._registry.resolve(start.provider)
        keys = self._app_for(spec, start, app)
        code = self._code(start, response_url)
        context = OAuthContext(
            redirect_url=start.redirect_url,
            state=start.state,
            environment=start.environment,
            scopes=start.scopes,
            response_url=response_url,
            code=code,
            code_verifier=start.code_verifier,
        )
        assert spec.exchange is not None  # an available spec
        assert spec.credentials is not None
        call = spec.exchange(keys, context)
        hidden = [code, response_url, *([start.code_verifier] if start.code_verifier else [])]
        answer = await self._send(spec, keys, call, self._timeouts(timeout, connect_timeout),
                                  idempotent=False, secrets=hidden)  # fmt: skip
        self._apps.pop(start.state, None)  # the code is spent either way
        data, _ = self._read(answer, call)
        refresh = _text_of(data, _REFRESH_KEYS)
        if refresh is None:
            raise self._undecodable(answer, call, "refresh token")
        tokens = OAuthTokens(refresh_token=refresh, access_token=_text_of(data, _ACCESS_KEYS))
        made: S = resource.validate(spec.credentials(keys, tokens, start.environment))
        return made

    async def connect(
        self,
        start: OAuthStart[Any, R],
        response_url: str,
        user_id: str,
        *,
        app: object | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> R:
        """Finish the flow and attach the credential to a Leaf user: :meth:`finish`, then create.

        Returns:
            The stored credential, as Leaf answered it.

        Raises:
            OAuthError: See :meth:`finish`; nothing was created.
            ConflictError: The user already has a credential for the provider.
            LeafError: Any other failure of the exchange or the create.
        """
        credentials = await self.finish(
            start, response_url, app=app, timeout=timeout, connect_timeout=connect_timeout
        )
        record: R = await self._credentials.create(
            start.provider, user_id, credentials, timeout=timeout, connect_timeout=connect_timeout
        )
        return record

    # -- keeping a start between two requests --------------------------------

    def dump(self, start: OAuthStart[Any, Any]) -> dict[str, Any]:
        """Return a start as a JSON-safe dict (camelCase), for a web app's session."""
        data: dict[str, Any] = self._transport.converter.unstructure(start, OAuthStart)
        return data

    def load(self, data: object) -> OAuthStart[Any, Any]:
        """Read back what :meth:`dump` returned (a dict, or its JSON text).

        Raises:
            ValidationError: It is not a dumped start (a session tampered with).
        """
        try:
            if isinstance(data, str | bytes):
                data = json.loads(data)
            if not isinstance(data, dict):
                raise TypeError("not a JSON object")
            start: OAuthStart[Any, Any] = self._transport.converter.structure(
                data, OAuthStart[Any, Any]
            )
        except Exception as exc:
            raise ValidationError(f"not a dumped OAuthStart: {type(exc).__name__}") from None
        return start

    # -- the pieces ----------------------------------------------------------

    def _timeouts(self, timeout: float | None, connect_timeout: float | None) -> Timeouts:
        return self._transport.timeouts_for(timeout, connect_timeout)

    def _environment(
        self,
        spec: OAuthSpec[Any],
        resource: CredentialResource[Any, Any],
        environment: ClientEnvironment | str | None,
    ) -> ClientEnvironment | None:
        if not spec.environments:
            if environment is not None:
                raise ValidationError(f"{resource.slug} takes no environment")
            return None
        if environment is None:
            raise ValidationError(
                f"{resource.slug} needs environment= (STAGE or PRODUCTION): it becomes the "
                "credential's clientEnvironment"
            )
        return to_client_environment(environment)

    def _scopes(
        self,
        spec: OAuthSpec[Any],
        resource: CredentialResource[Any, Any],
        scopes: Iterable[str] | None,
    ) -> tuple[str, ...] | None:
        if scopes is None:
            return None
        if not spec.scopes:
            raise ValidationError(f"{resource.slug} takes no OAuth scopes")
        if isinstance(scopes, str):
            raise ValidationError("scopes= must be a list of strings, not one string")
        found = tuple(scopes)
        texts: tuple[object, ...] = found
        if not texts or not all(isinstance(s, str) and s.strip() for s in texts):
            raise ValidationError("scopes= must be non-empty strings; leave it out for the default")
        return found

    def _remember(self, state: str, keys: object) -> None:
        while len(self._apps) >= _REMEMBERED:
            self._apps.pop(next(iter(self._apps)))
        self._apps[state] = keys

    def _app_for(self, spec: OAuthSpec[Any], start: OAuthStart[Any, Any], app: object) -> Any:
        if app is None:
            app = self._apps.get(start.state)
            if app is None:
                raise ValidationError(
                    "pass app=, the application keys given to start(): the OAuthStart holds "
                    "no client secret, and this process did not start the flow"
                )
        keys = spec.app_from(app, self._transport.converter)
        if spec.public_id(keys) != start.client_id:
            raise ValidationError("app= is another application than the one start() used")
        return keys

    def _code(self, start: OAuthStart[Any, Any], response_url: object) -> str:
        """Return the redirect's code, once its error and state are checked; nothing is sent."""
        provider = start.provider
        if not isinstance(response_url, str):
            raise ValidationError("response_url must be the redirect URL, a string")
        query = parse_qs(urlsplit(response_url).query)
        error = _param(query, "error")
        if error:
            # Shown as the provider wrote it: an error code and its text hold no secret.
            text = (_param(query, "error_description") or "")[:200]
            raise OAuthDeniedError(
                f"{provider}: the consent was not given ({error}{': ' + text if text else ''}); "
                "nothing was exchanged. Start the flow again to retry.",
                provider=provider,
                error=error,
            )
        state = _param(query, "state")
        if state is None or not secrets.compare_digest(state.encode(), start.state.encode()):
            raise OAuthStateError(
                f"{provider}: the redirect's state is {'missing' if state is None else 'not'} "
                "the one this flow sent; it is not this flow's redirect, and nothing was "
                "exchanged",
                provider=provider,
            )
        code = _param(query, "code")
        if not code:
            raise OAuthError(
                f"{provider}: the redirect carries no code; nothing was exchanged",
                provider=provider,
            )
        return code

    async def _send(
        self,
        spec: OAuthSpec[Any],
        keys: object,
        call: OAuthCall,
        timeouts: Timeouts,
        *,
        idempotent: bool,
        secrets: list[str] | None = None,
    ) -> Answer:
        """POST one call of a flow to its host, without the Leaf token."""
        hidden = [
            value for key in spec.secret_wires
            if isinstance(value := self._transport.converter.unstructure(keys).get(key), str)
        ] + list(secrets or ())  # fmt: skip
        headers: dict[str, str] = {}
        if call.form is not None:
            data = urlencode(dict(call.form)).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(dict(call.json or {})).encode()
        if call.basic is not None:
            pair = base64.b64encode(":".join(call.basic).encode()).decode()
            headers["Authorization"] = "Basic " + pair
            hidden.append(pair)
        url = self._rehost(call.url)
        leaf = self._transport
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            transport = Transport(
                base_url=url, auth=StaticAuth(""), session=http, timeouts=leaf.timeouts,
                retry=leaf.retry, pacer=Pacer(None), converter=leaf.converter,
                max_response_bytes=leaf.max_response_bytes, user_agent=_USER_AGENT,
            )  # fmt: skip
            return await transport.request(
                "POST", url, timeouts, data=data, secrets=hidden, authenticated=False,
                idempotent=idempotent, headers=headers or None,
            )  # fmt: skip

    def _read(self, answer: Answer, call: OAuthCall) -> tuple[Any, str]:
        """Return a helper's answer as JSON (None when it is not) and as text."""
        text = bytes(answer.body).decode("utf-8", "replace").strip()
        try:
            data = parse_json(answer.body, method="POST", url=call.url, status=answer.status)
        except DecodeError:
            data = None
        return data, text

    def _undecodable(self, answer: Answer, call: OAuthCall, what: str) -> DecodeError:
        url = self._rehost(call.url).partition("?")[0]
        return DecodeError(
            f"{answer.status} from POST {url}: the answer holds no {what}",
            method="POST",
            url=url,
            status=answer.status,
        )
