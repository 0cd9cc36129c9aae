"""The Magic Link page: ``{fake.url}/magic-link/{id}``, a small HTML page a grower opens.

No bearer token (a grower's browser has none). The grower picks a provider
that the link allows and that has app keys registered, "signs in" on a
consent form, and the fake stores an ``OK`` credential for the link's Leaf
user, as Leaf's hosted page does after the provider's OAuth flow. Choices
Leaf leaves undocumented (the README's "The fake's Magic Link page" lists
them too):

- each opening of the page counts one use of the link; an exhausted or
  expired link answers 410, an unknown one 404, a consent posted without the
  session that opening the link gave 403, an empty username or a form that
  cannot be read 400; errors are HTML pages too;
- a new credential is ``OK`` and sends no alert (Leaf documents none for
  it); a grower who withholds organization access on the consent form leaves
  it ``MISSING_PERMISSION``, which logs its event and sends the
  ``credentialsLimitedPermission`` alert, as a status change does;
- with ``disconnectEnabled`` a connected provider shows a Disconnect button,
  which deletes the credential (no alert);
- a provider the link allows but that has no app keys at Leaf is listed as
  not available (``unavailable-NAME``), with the reason, rather than left
  out: a link for John Deere and CNHI shows both, whichever can be used;
- after a sign-in that withheld organization access the page says so
  (``MISSING_PERMISSION``), not that the provider is connected.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import quote

import attrs
from aiohttp import web

from leaf_creds import CredentialResource, UnknownProviderError

from .._fields import wire_name
from ._app_keys import FakeAppKeys, StoredAppKey
from ._credentials import FakeCredentials
from ._magic_links import LINK_PROVIDERS, MAGIC_LINK_PAGE, FakeMagicLinks, StoredLink
from ._state import State
from ._web import allow, read_form, segments
from ._wire import Problem

__all__ = ["FakeLinkPage"]

_HTML: Final = "text/html"


class FakeLinkPage:
    """The pages of a fake's Magic Links, and connecting through them.

    Args:
        state: The users and the provider registry.
        credentials: Where a connection stores its credential.
        app_keys: The app keys a connection's credential is made of.
        links: The Magic Links.
        clock: The fake's clock (seconds since the epoch).
    """

    def __init__(
        self,
        *,
        state: State,
        credentials: FakeCredentials,
        app_keys: FakeAppKeys,
        links: FakeMagicLinks,
        clock: Callable[[], float],
    ) -> None:
        self._state = state
        self._credentials = credentials
        self._app_keys = app_keys
        self._links = links
        self._clock = clock
        self._sessions: dict[str, str] = {}

    def reset(self) -> None:
        """Forget every page session."""
        self._sessions.clear()

    def connect(
        self,
        link: str,
        provider: str | CredentialResource[Any, Any],
        *,
        grant_permissions: bool = True,
    ) -> dict[str, Any]:
        """Connect a provider through a link as a grower does; see ``FakeOnboarding.connect``.

        Raises:
            LookupError: No such link, or the provider is not offered on it.
            ValueError: The link has expired or is used up.
        """
        entry = self._links.find(link)
        name = _link_name(provider)
        try:
            self._usable(entry)
            # A provider the link does not offer is a test's mistake: no use is counted.
            if name not in self._offered(entry):
                raise Problem(404, f"{name} is not offered on link {entry.id}")
            self._open(entry)
            return self._connect(entry, name, grant_permissions=grant_permissions)
        except Problem as exc:
            error = LookupError if exc.status == 404 else ValueError
            raise error(exc.detail) from None

    # -- links and their uses ----------------------------------------------

    def _offered(self, entry: StoredLink) -> list[str]:
        """Return the providers a link's page offers: allowed, and with an app key."""
        registered = self._app_keys.providers()
        return [name for name in entry.allowed() if name in registered and name in LINK_PROVIDERS]

    def _usable(self, entry: StoredLink) -> None:
        if self._clock() >= entry.expires:
            raise Problem(410, "This link has expired. Ask for a new one.")

    def _open(self, entry: StoredLink) -> str:
        """Count one use of a link and start a page session; return its token."""
        self._usable(entry)
        if entry.usage_count >= entry.max_usage:
            raise Problem(410, "This link has been used as many times as it may be.")
        entry.usage_count += 1
        entry.last_accessed = self._clock()
        session = secrets.token_urlsafe(16)
        self._sessions[session] = entry.id
        return session

    def _connect(self, entry: StoredLink, name: str, *, grant_permissions: bool) -> dict[str, Any]:
        """Store an OK credential for the link's user from the provider's app key."""
        slug = LINK_PROVIDERS[name]
        try:
            resource = self._state.registry.get(slug)
        except UnknownProviderError:
            raise Problem(404, f"this fake serves no {slug} credentials") from None
        body = _credential_body(resource, self._app_keys.first(name))
        record = self._credentials.replace(entry.leaf_user_id, slug, body)
        if not grant_permissions:
            record = self._credentials.set_status(entry.leaf_user_id, slug, "MISSING_PERMISSION")
        return record

    def _label(self, name: str) -> str:
        try:
            return self._state.registry.get(LINK_PROVIDERS[name]).name
        except UnknownProviderError:
            return name

    # -- HTTP --------------------------------------------------------------

    async def answer(self, request: web.Request, rest: str) -> web.Response:
        """Answer a page under ``/magic-link``: always HTML, errors too."""
        parts = segments(rest)
        try:
            disconnect = len(parts) == 3 and parts[2] == "disconnect"
            if not parts or len(parts) > 2 + disconnect:
                raise Problem(404, "There is no such link.")
            entry = self._links.get(parts[0])
            if entry is None:
                raise Problem(404, "There is no such link. It may have been deleted.")
            if len(parts) == 1:
                allow(request, "GET")
                return self._landing(request, entry)
            allow(request, *(("POST",) if disconnect else ("GET", "POST")))
            name = parts[1]
            form = await read_form(request) if request.method == "POST" else {}
            session = form.get("session")
            if not isinstance(session, str):
                session = request.query.get("session", "")
            self._usable(entry)
            if self._sessions.get(session) != entry.id:
                raise Problem(403, "Open the link again to start over.")
            if name not in self._offered(entry):
                raise Problem(404, f"{html.escape(name)} is not offered on this link.")
            if disconnect:
                return self._disconnected(entry, name, session)
            if request.method == "GET":
                return _page(entry, _consent_form(entry, name, session, self._label(name)))
            return await self._consented(request, entry, name, session)
        except Problem as exc:
            return _page(None, _error(exc), status=exc.status)

    def _landing(self, request: web.Request, entry: StoredLink) -> web.Response:
        session = request.query.get("session", "")
        if self._sessions.get(session) != entry.id:
            session = self._open(entry)
        else:
            self._usable(entry)
        if entry.kind == "file-upload":
            return _page(entry, '<p id="file-upload">The fake does not simulate file uploads.</p>')
        user = self._state.users.get(entry.leaf_user_id)
        parts = []
        if entry.settings.get("showLeafUserName") and user is not None:
            parts.append(f'<p id="leaf-user">{html.escape(user.name or user.id)}</p>')
        offered = self._offered(entry)
        if not offered:
            parts.append(
                '<p id="no-providers">No provider is available on this link yet: none of its '
                "providers has app keys at Leaf (leaf-creds app-keys create PROVIDER APP "
                "--from KEYS.json registers them).</p>"
            )
        # A provider the link names but that cannot be used yet is shown as
        # such ("All" names none: it lists only those that can be used).
        named = entry.allowed() if entry.allowed() != list(LINK_PROVIDERS) else offered
        items = [
            self._provider_item(entry, name, session)
            if name in offered
            else self._unavailable_item(name)
            for name in named
            if name in LINK_PROVIDERS
        ]
        if items:
            parts.append('<ul id="providers">' + "".join(items) + "</ul>")
        return _page(entry, "\n".join(parts))

    def _unavailable_item(self, name: str) -> str:
        """Return the landing page's line of an allowed provider that has no app keys."""
        return (
            f'<li id="unavailable-{name}">{html.escape(self._label(name))}: not available '
            "yet (no app keys at Leaf for it)</li>"
        )

    def _provider_item(self, entry: StoredLink, name: str, session: str) -> str:
        """Return the landing page's line of one offered provider."""
        record = self._state.peek(entry.leaf_user_id, LINK_PROVIDERS[name])
        connected = record is not None
        href = f"{MAGIC_LINK_PAGE}/{entry.id}/{name}?session={quote(session)}"
        status = "" if record is None else str(record.get("status", "OK"))
        shown = "connected" if status == "OK" else f"connected ({html.escape(status)})"
        mark = f' <span id="connected-{name}">{shown}</span>' if connected else ""
        if connected and entry.settings.get("disconnectEnabled"):
            action = html.escape(f"{MAGIC_LINK_PAGE}/{entry.id}/{name}/disconnect")
            mark += (
                f'<form id="disconnect-form-{name}" method="post" action="{action}">'
                f'<input type="hidden" name="session" value="{html.escape(session)}">'
                f'<button id="disconnect-{name}" type="submit">Disconnect</button></form>'
            )
        return (
            f'<li><a id="provider-{name}" href="{html.escape(href)}">'
            f"{html.escape(self._label(name))}</a>{mark}</li>"
        )

    def _disconnected(self, entry: StoredLink, name: str, session: str) -> web.Response:
        """Delete the link's user's credential for a provider, as Leaf's Disconnect does."""
        if not entry.settings.get("disconnectEnabled"):
            raise Problem(403, "Disconnecting is not enabled on this link.")
        slug = LINK_PROVIDERS[name]
        if self._state.peek(entry.leaf_user_id, slug) is not None:
            self._state.delete_credential(entry.leaf_user_id, slug)
        back = f"{MAGIC_LINK_PAGE}/{entry.id}?session={quote(session)}"
        return _page(
            entry,
            f'<p id="result" data-status="DISCONNECTED">'
            f"{html.escape(self._label(name))} is disconnected.</p>\n"
            f'<p><a id="back" href="{html.escape(back)}">Back</a></p>',
        )

    async def _consented(
        self, request: web.Request, entry: StoredLink, name: str, session: str
    ) -> web.Response:
        form = await read_form(request)
        username = form.get("username")
        label = self._label(name)
        if not isinstance(username, str) or not username.strip():
            body = _consent_form(entry, name, session, label, error="Enter your username.")
            return _page(entry, body, status=400)
        granted = form.get("permissions") == "granted"
        record = self._connect(entry, name, grant_permissions=granted)
        back = f"{MAGIC_LINK_PAGE}/{entry.id}?session={quote(session)}"
        status = str(record["status"])
        said = (
            f"{html.escape(label)} is connected."
            if status == "OK"
            else f"{html.escape(label)} is signed in, but you did not share your "
            "organizations: no data can be read until you do. Open the link again to "
            "share them."
        )
        return _page(
            entry,
            f'<p id="result" data-status="{html.escape(status)}">{said}</p>\n'
            f'<p><a id="back" href="{html.escape(back)}">Connect another provider</a></p>',
        )


def _link_name(provider: str | CredentialResource[Any, Any]) -> str:
    slug = provider.slug if isinstance(provider, CredentialResource) else provider
    for name, known in LINK_PROVIDERS.items():
        if slug in (name, known):
            return name
    return slug


def _credential_body(
    resource: CredentialResource[Any, Any], app_key: StoredAppKey
) -> dict[str, Any]:
    """Build the credential Leaf would attach: the app's keys, the grower's fresh tokens."""
    body: dict[str, Any] = {}
    for attribute in attrs.fields(resource.schema):
        wire = wire_name(attribute)
        if wire in app_key.keys:
            body[wire] = app_key.keys[wire]
        elif wire == "clientEnvironment":
            body[wire] = app_key.environment or "PRODUCTION"
        elif attribute.default is attrs.NOTHING:
            body[wire] = f"fake-{wire}-{secrets.token_hex(16)}"
    return body


# -- HTML ------------------------------------------------------------------


def _page(entry: StoredLink | None, content: str, *, status: int = 200) -> web.Response:
    settings = entry.settings if entry is not None else {}
    color = html.escape(str(settings.get("backgroundColor", "#F5F5F5")))
    company = settings.get("companyName")
    header = [f'<h1 id="title">{html.escape(company or "Connect your farm data")}</h1>']
    logo = settings.get("companyLogo")
    if logo:
        header.insert(0, f'<img id="company-logo" alt="" src="{html.escape(logo)}">')
    text = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>Leaf Magic Link (fake)</title></head>\n"
        f'<body style="background-color: {color}">\n'
        + "\n".join(header)
        + "\n"
        + content
        + "\n</body></html>\n"
    )
    return web.Response(status=status, text=text, content_type=_HTML)


def _consent_form(
    entry: StoredLink, name: str, session: str, label: str, *, error: str | None = None
) -> str:
    action = html.escape(f"{MAGIC_LINK_PAGE}/{entry.id}/{name}")
    problem = f'<p id="error">{html.escape(error)}</p>\n' if error else ""
    return (
        f'<h2 id="provider">Sign in to {html.escape(label)}</h2>\n{problem}'
        f'<form id="consent-form" method="post" action="{action}">\n'
        f'<input type="hidden" id="session" name="session" value="{html.escape(session)}">\n'
        '<label>Username <input id="username" name="username" autocomplete="off"></label>\n'
        '<label>Password <input id="password" name="password" type="password"></label>\n'
        '<label><input id="grant-permissions" name="permissions" type="checkbox"'
        ' value="granted" checked> Share my organizations</label>\n'
        '<button id="sign-in" type="submit">Sign in and allow</button>\n'
        "</form>"
    )


def _error(problem: Problem) -> str:
    return f'<p id="error" data-status="{problem.status}">{html.escape(problem.detail or "")}</p>'
