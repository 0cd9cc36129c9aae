"""The fake's OAuth helpers and providers: Leaf's helper services and each consent flow.

Every host of a flow is served on the fake's own port, under
``/oauth-hosts/{host}`` (``fake.oauth_hosts`` maps each default origin to
it, ready for ``leaf.oauth.hosts``), with the bodies Leaf documents
(``../shared/leaf-api/onboarding.md`` §4): John Deere's, CNHI's (and
FieldOps'), Raven's and Trimble's helpers at ``/get_url`` and
``/get_token``, Climate FieldView's at ``/url`` with Climate's own token
endpoint, Lindsay's PKCE helper, AgLeader's own authorize page and token
endpoint, and Stara's telemetry API (a user and password, then tokens). No
bearer token: these hosts are not Leaf's API.

Choices the sources leave undocumented (the README's testing section lists
them too):

- an application is known to a provider once registered with
  :meth:`FakeOAuth.add_app`; an unknown client id or a wrong secret is
  ``401 {"error": "invalid_client"}``, a body missing a documented key
  ``400 {"error": "invalid_request"}``;
- the URL step answers the consent page's URL under a key that differs by
  helper (``url``, ``authorization_url``, ``signInUrl``...), the token step
  ``access_token``/``refresh_token`` or their camelCase, as the sources
  leave both possible; Lindsay's helper puts a ``state`` of its own in the
  URL, the others none (Climate's echoes ``pass_through``);
- a code is usable once, by the app, redirect URL (and PKCE verifier) it
  was issued for: anything else is ``400 {"error": "invalid_grant"}``;
- a grower who does not share organizations (John Deere, Trimble) gets a
  working refresh token, but the credential made of it becomes
  ``MISSING_PERMISSION`` once attached; any other is ``OK``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit

import attrs
from aiohttp import web

from ._web import read_form

__all__ = ["CONSENT_PATH", "HOSTS_PATH", "FakeOAuth", "Flow", "Helper"]

HOSTS_PATH: Final = "/oauth-hosts"
CONSENT_PATH: Final = "/oauth-consent"
# The providers whose consent asks the grower to share organizations.
SHARES_ORGANIZATIONS: Final = frozenset({"john-deere", "trimble"})


@attrs.frozen(kw_only=True)
class Helper:
    """One endpoint of a flow, as the sources document it.

    Attributes:
        provider: The provider's slug.
        step: ``"url"`` (answers the consent URL) or ``"token"`` (trades a code).
        form: The body is a form (else JSON).
        basic: The client authenticates with ``Authorization: Basic``.
        client_id: The body key of the client id (when not ``basic``).
        proof: The body key of the client secret, if the step takes one.
        redirect: The body key(s) of the redirect URL, the first present wins.
        code: ``"code"`` for the code itself, or the key of the whole redirect URL.
        required: Every key the body must hold.
        answer_url: The key the URL step answers under.
        camel_tokens: The token step answers ``accessToken``/``refreshToken``.
    """

    provider: str
    step: str
    form: bool = False
    basic: bool = False
    client_id: str = "client_id"
    proof: str | None = None
    redirect: tuple[str, ...] = ()
    code: str = "code"
    required: tuple[str, ...] = ()
    answer_url: str = "url"
    camel_tokens: bool = False


_JD: Final = "johndeere-oauth2-helper.withleaf.io"
_CFV: Final = "cfv-oauth2-helper.withleaf.io"
_CLIMATE: Final = "api.climate.com"
_CNHI: Final = "cnhi-oauth2-helper.withleaf.io"
_RAVEN: Final = "raven-oauth2-helper.withleaf.io"
_TRIMBLE: Final = "trimble-oauth2-helper.withleaf.io"
_LEAF: Final = "oauth2-helper.withleaf.io"
_AGFINITI: Final = "www.agfiniti.com"
_STARA: Final = "v2apitelemetria.telemetriastara.com.br"
_AGLEADER_AUTHORIZE: Final = "/Account/Authorize"


def _cnhi(provider: str, step: str) -> Helper:
    keys = ("client_id", "client_secret", "client_redirect_url", "production")
    if step == "url":
        return Helper(provider=provider, step="url", proof="client_secret",
                      redirect=("client_redirect_url",), required=keys)  # fmt: skip
    return Helper(provider=provider, step="token", proof="client_secret",
                  redirect=("client_redirect_url",), code="response_url",
                  required=(*keys, "response_url"))  # fmt: skip


# Host -> path -> endpoint: the documented bodies of onboarding.md §4.2.
HELPERS: Final[dict[str, dict[str, Helper]]] = {
    _JD: {
        "/get_url": Helper(
            provider="john-deere", step="url", client_id="clientKey", proof="clientSecret",
            redirect=("clientRedirectUrl",),
            required=("clientKey", "clientSecret", "clientRedirectUrl"),
        ),
        "/get_token": Helper(
            provider="john-deere", step="token", client_id="clientKey", proof="clientSecret",
            redirect=("clientRedirectUrl",), code="responseUrl", camel_tokens=True,
            required=("clientKey", "clientSecret", "responseUrl", "clientRedirectUrl"),
        ),
    },
    _CFV: {
        "/url": Helper(provider="climate-field-view", step="url", redirect=("redirect_uri",),
                       required=("client_id", "redirect_uri")),
    },
    _CLIMATE: {
        "/api/oauth/token": Helper(provider="climate-field-view", step="token", form=True,
                                   basic=True, redirect=("redirect_uri",),
                                   required=("code", "redirect_uri", "grant_type")),
    },
    _CNHI: {
        "/get_url": _cnhi("cnhi", "url"),
        "/get_token": _cnhi("cnhi", "token"),
        "/fieldops/get_url": _cnhi("cnhi-field-ops", "url"),
        "/fieldops/get_token": _cnhi("cnhi-field-ops", "token"),
    },
    _RAVEN: {
        "/get_url": Helper(provider="raven", step="url", redirect=("client_redirect_url",),
                           required=("client_id", "client_redirect_url"),
                           answer_url="authorization_url"),
        "/get_token": Helper(provider="raven", step="token", proof="client_secret",
                             redirect=("redirect_url",),
                             required=("client_id", "client_secret", "redirect_url", "code")),
    },
    _TRIMBLE: {
        # Leaf's newer docs' keys; the Postman collection's spelling of the
        # redirect URL (redirect_url) is taken on get_token too.
        "/get_url": Helper(provider="trimble", step="url", proof="client_secret",
                           redirect=("client_redirect_url",), answer_url="signInUrl",
                           # The Postman body sends no secret (application_name instead):
                           # checked when sent.
                           required=("client_id", "client_redirect_url")),
        "/get_token": Helper(provider="trimble", step="token", proof="client_secret",
                             redirect=("client_redirect_url", "redirect_url"),
                             required=("client_id", "client_secret", "code")),
    },
    _LEAF: {
        "/lindsay/url": Helper(provider="lindsay", step="url", client_id="clientId",
                               redirect=("redirectUri",), answer_url="signInUrl",
                               required=("clientId", "redirectUri", "environment")),
        "/lindsay/token": Helper(
            provider="lindsay", step="token", client_id="clientId", proof="clientSecret",
            redirect=("redirectUri",), code="responseUrl", camel_tokens=True,
            required=("clientId", "clientSecret", "redirectUri", "responseUrl",
                      "codeVerifier", "environment"),
        ),
    },
    _AGFINITI: {
        "/api/token": Helper(provider="ag-leader", step="token", form=True, basic=True,
                             redirect=("redirect_uri",),
                             required=("code", "redirect_uri", "grant_type")),
    },
}  # fmt: skip


class OAuthRefusal(Exception):
    """An OAuth error answer: ``{"error": ..., "error_description": ...}``."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def response(self) -> web.Response:
        body = {"error": self.error, "error_description": self.description}
        return web.json_response(body, status=self.status)


@attrs.define(kw_only=True)
class Flow:
    """A consent page opened: whose app, where back to, and what state to echo.

    Attributes:
        provider: The provider's slug.
        client_id: The app's client id.
        redirect_url: Where the grower is sent back.
        state: The state echoed back (the helper's own, or the one on the URL).
        verifier: Lindsay's PKCE verifier.
        decided: Whether the grower already answered (a page is used once).
    """

    id: str
    provider: str
    client_id: str
    redirect_url: str
    state: str | None = None
    verifier: str | None = None
    decided: bool = False


@attrs.define(kw_only=True)
class Code:
    """An authorization code: for one app, redirect URL and verifier, usable once."""

    provider: str
    client_id: str
    redirect_url: str
    verifier: str | None
    shared: bool
    used: bool = False


class FakeOAuth:
    """The fake's consent flows: apps, pages, codes and tokens; ``fake.oauth``.

    Args:
        base_url: Returns the fake's URL (known once it listens).
        label: Returns a provider's display name, given its slug.
    """

    def __init__(self, base_url: Callable[[], str], label: Callable[[str], str]) -> None:
        self._base_url = base_url
        self._label = label
        self._apps: dict[tuple[str, str], str] = {}
        self._flows: dict[str, Flow] = {}
        self._codes: dict[str, Code] = {}
        # Refresh token -> (provider, whether the grower shared organizations).
        self._tokens: dict[str, tuple[str, bool]] = {}
        self._stara_keys: set[str] = set()

    def __repr__(self) -> str:
        return f"<FakeOAuth apps={len(self._apps)} flows={len(self._flows)}>"

    def reset(self) -> None:
        """Forget every app, page, code and token."""
        self._apps.clear()
        self._flows.clear()
        self._codes.clear()
        self._tokens.clear()
        self._stara_keys.clear()

    # -- set-up and inspection -----------------------------------------------

    @property
    def hosts(self) -> dict[str, str]:
        """Each default origin of a flow, mapped to where the fake serves it."""
        base = self._base_url()
        return {f"https://{host}": f"{base}{HOSTS_PATH}/{host}" for host in (*HELPERS, _STARA)}

    def add_app(self, provider: str, client_id: str, client_secret: str) -> None:
        """Register an application with a provider, as its developer portal does.

        Args:
            provider: The provider's slug, e.g. ``"john-deere"``.
            client_id: The app's id (John Deere's key, AgLeader's public key).
            client_secret: Its secret (AgLeader's private key).
        """
        self._apps[provider, client_id] = client_secret

    @property
    def flows(self) -> list[Flow]:
        """The consent pages opened, oldest first."""
        return list(self._flows.values())

    def refresh_tokens(self) -> dict[str, str]:
        """Return each refresh token issued and its provider."""
        return {token: provider for token, (provider, _) in self._tokens.items()}

    def status_of(self, slug: str, body: Mapping[str, Any]) -> str | None:
        """Return the status a new credential gets from its refresh token, or None (OK).

        A token issued to a grower who did not share organizations gives
        ``MISSING_PERMISSION``.
        """
        issued = self._tokens.get(str(body.get("refreshToken")))
        if issued is not None and issued[0] == slug and not issued[1]:
            return "MISSING_PERMISSION"
        return None

    # -- HTTP: the helpers ---------------------------------------------------

    async def answer(self, request: web.Request, rest: str) -> web.Response:
        """Answer a path under ``/oauth-hosts``: ``/{host}/{path}``."""
        host, _, path = rest.lstrip("/").partition("/")
        path = "/" + path
        try:
            if host == _AGFINITI and path == _AGLEADER_AUTHORIZE:
                return self._agleader_page(request)
            if host == _STARA and path in ("/autenticacao", "/token"):
                return await self._stara(request, path)
            helper = HELPERS.get(host, {}).get(path)
            if helper is None:
                return web.json_response({"error": "not_found"}, status=404)
            if request.method != "POST":
                return web.json_response({"error": "method_not_allowed"}, status=405)
            body, basic = await self._body(request, helper)
            if helper.step == "url":
                return self._url_step(helper, body)
            return self._token_step(helper, body, basic)
        except OAuthRefusal as refusal:
            return refusal.response()

    async def _body(
        self, request: web.Request, helper: Helper
    ) -> tuple[dict[str, Any], tuple[str, str] | None]:
        if helper.form:
            form = await read_form(request)
            body: Any = {key: value for key, value in form.items() if isinstance(value, str)}
        else:
            try:
                body = json.loads(await request.read())
            except ValueError:
                raise OAuthRefusal(400, "invalid_request", "the body is not JSON") from None
        if not isinstance(body, dict):
            raise OAuthRefusal(400, "invalid_request", "the body is not an object")
        missing = [key for key in helper.required if key not in body]
        if missing:
            raise OAuthRefusal(400, "invalid_request", f"missing {', '.join(missing)}")
        basic = None
        if helper.basic:
            basic = _basic(request.headers.get("Authorization", ""))
            if basic is None:
                raise OAuthRefusal(401, "invalid_client", "no Basic client credentials")
        return body, basic

    def _check_app(self, provider: str, client_id: object, secret: object | None) -> str:
        if not isinstance(client_id, str) or (provider, client_id) not in self._apps:
            raise OAuthRefusal(401, "invalid_client", "unknown client")
        if secret is not None and not secrets.compare_digest(
            str(secret).encode(), self._apps[provider, client_id].encode()
        ):
            raise OAuthRefusal(401, "invalid_client", "client authentication failed")
        return client_id

    def _url_step(self, helper: Helper, body: Mapping[str, Any]) -> web.Response:
        client_id = self._check_app(
            helper.provider, body.get(helper.client_id),
            body.get(helper.proof) if helper.proof else None,
        )  # fmt: skip
        redirect = _first(body, helper.redirect)
        flow = Flow(
            id=secrets.token_urlsafe(12),
            provider=helper.provider,
            client_id=client_id,
            redirect_url=redirect,
            state=body.get("pass_through") if isinstance(body.get("pass_through"), str) else None,
        )
        answer: dict[str, Any] = {}
        url = f"{self._base_url()}{CONSENT_PATH}/{flow.id}"
        if helper.provider == "lindsay":
            flow.verifier = secrets.token_urlsafe(32)
            flow.state = secrets.token_urlsafe(8)  # a state of the helper's own
            answer["codeVerifier"] = flow.verifier
        if flow.state is not None:
            url += "?" + urlencode({"state": flow.state})
        answer[helper.answer_url] = url
        self._flows[flow.id] = flow
        return web.json_response(answer)

    def _token_step(
        self, helper: Helper, body: Mapping[str, Any], basic: tuple[str, str] | None
    ) -> web.Response:
        if basic is not None:
            client_id = self._check_app(helper.provider, basic[0], basic[1])
        else:
            client_id = self._check_app(
                helper.provider, body.get(helper.client_id),
                body.get(helper.proof) if helper.proof else None,
            )  # fmt: skip
        if helper.code == "code":
            code = body.get("code")
        else:
            response = body.get(helper.code)
            query = parse_qs(urlsplit(response).query) if isinstance(response, str) else {}
            code = query["code"][0] if query.get("code") else None
        issued = self._codes.get(code) if isinstance(code, str) else None
        redirect = _first(body, helper.redirect)
        verifier = body.get("codeVerifier")
        if (
            issued is None
            or issued.used
            or issued.provider != helper.provider
            or issued.client_id != client_id
            or (helper.redirect and issued.redirect_url != redirect)
            or (issued.verifier is not None and issued.verifier != verifier)
        ):
            raise OAuthRefusal(400, "invalid_grant", "the code is not valid for this client")
        issued.used = True
        refresh = f"fake-{helper.provider}-refresh-{secrets.token_hex(12)}"
        access = f"fake-{helper.provider}-access-{secrets.token_hex(12)}"
        self._tokens[refresh] = (helper.provider, issued.shared)
        if helper.camel_tokens:
            tokens: dict[str, Any] = {"accessToken": access, "refreshToken": refresh}
        else:
            tokens = {"access_token": access, "refresh_token": refresh, "token_type": "Bearer"}
        tokens["expires_in"] = 3600
        return web.json_response(tokens)

    async def _stara(self, request: web.Request, path: str) -> web.Response:
        """Stara's telemetry API (the Postman collection's "Stara auth"), not a consent flow.

        A grower's ``user`` and ``pwd`` give an API key; the key and the
        app's ``accessTokenClient`` give the tokens. The answers are not
        documented: ``{"apiKey"}``, then ``{"accessToken", "refreshToken"}``
        (INF). Any non-empty user and password are taken.
        """
        if request.method != "POST":
            return web.json_response({"error": "method_not_allowed"}, status=405)
        form = await read_form(request)
        if path == "/autenticacao":
            if not all(isinstance(form.get(k), str) and form.get(k) for k in ("user", "pwd")):
                raise OAuthRefusal(400, "invalid_request", "missing user or pwd")
            key = f"fake-stara-apikey-{secrets.token_hex(12)}"
            self._stara_keys.add(key)
            return web.json_response({"apiKey": key})
        client = form.get("accessTokenClient")
        if form.get("apiKey") not in self._stara_keys or not isinstance(client, str) or not client:
            raise OAuthRefusal(401, "invalid_client", "unknown apiKey or no accessTokenClient")
        refresh = f"fake-stara-refresh-{secrets.token_hex(12)}"
        self._tokens[refresh] = ("stara", True)
        access = f"fake-stara-access-{secrets.token_hex(12)}"
        return web.json_response({"accessToken": access, "refreshToken": refresh})

    # -- HTTP: the consent pages -----------------------------------------------

    def _agleader_page(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("response_type") != "code":
            raise OAuthRefusal(400, "unsupported_response_type", "response_type must be code")
        client_id = self._check_app("ag-leader", query.get("client_id"), None)
        flow = Flow(
            id=secrets.token_urlsafe(12),
            provider="ag-leader",
            client_id=client_id,
            redirect_url=query.get("redirect_uri", ""),
            state=query.get("state"),
        )
        self._flows[flow.id] = flow
        return self.page(flow, label=self._label("ag-leader"))

    async def consent(self, request: web.Request, rest: str) -> web.Response:
        """Answer ``/oauth-consent/{flow}``: the page (GET), the grower's answer (POST)."""
        flow = self._flows.get(rest.strip("/"))
        if flow is None:
            return _html('<p id="error">There is no such consent page.</p>', status=404)
        if request.method == "GET":
            if flow.state is None and request.query.get("state"):
                flow.state = request.query["state"]
            return self.page(flow, label=self._label(flow.provider))
        if request.method != "POST":
            return _html('<p id="error">Method not allowed.</p>', status=405)
        if flow.decided:
            return _html('<p id="error">This consent was already answered.</p>', status=410)
        form = await read_form(request)
        flow.decided = True
        back: dict[str, str] = {}
        if form.get("decision") == "grant":
            code = secrets.token_urlsafe(24)
            shared = flow.provider not in SHARES_ORGANIZATIONS or form.get("share") == "yes"
            self._codes[code] = Code(
                provider=flow.provider, client_id=flow.client_id,
                redirect_url=flow.redirect_url, verifier=flow.verifier, shared=shared,
            )  # fmt: skip
            back["code"] = code
        else:
            back["error"] = "access_denied"
            back["error_description"] = "The grower declined"
        if flow.state is not None:
            back["state"] = flow.state
        joiner = "&" if urlsplit(flow.redirect_url).query else "?"
        location = flow.redirect_url + joiner + urlencode(back)
        return web.Response(status=302, headers={"Location": location})

    def page(self, flow: Flow, *, label: str) -> web.Response:
        """Return the consent page of a flow: grant, deny, and maybe share organizations."""
        import html

        action = html.escape(f"{CONSENT_PATH}/{flow.id}")
        share = (
            '<label><input id="share-organizations" name="share" type="checkbox" value="yes"'
            " checked> Share my organizations</label>\n"
            if flow.provider in SHARES_ORGANIZATIONS
            else ""
        )
        return _html(
            f'<h1 id="provider">{html.escape(label)} asks for your consent</h1>\n'
            f'<form id="consent-form" method="post" action="{action}">\n{share}'
            '<button id="grant" name="decision" value="grant" type="submit">Allow</button>\n'
            '<button id="deny" name="decision" value="deny" type="submit">Deny</button>\n'
            "</form>"
        )


def _first(body: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    for key in keys:
        value = body.get(key)
        if isinstance(value, str):
            return value
    return ""


def _basic(header: str) -> tuple[str, str] | None:
    import base64
    import binascii

    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def _html(content: str, *, status: int = 200) -> web.Response:
    text = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>Provider consent (fake)</title></head>\n<body>\n" + content + "\n</body></html>\n"
    )
    return web.Response(status=status, text=text, content_type="text/html")
