"""``leaf.magic_links``: pages at Leaf where a grower connects providers.

Paths, under Leaf's widgets service::

    POST    /magic-link/users/{leafUserId}/{kind}   a link for an existing Leaf user
    POST    /magic-link/{kind}                      a link for the user of an externalId
    GET     /magic-link/{kind}[/{magicLinkId}]
    DELETE  /magic-link/{kind}/{magicLinkId}

``kind`` is ``provider`` (several providers), ``authentication`` (one) or
``file-upload``. There is no update: delete a link and create another.

What Leaf leaves undocumented (see the README's "Connecting growers"), the
SDK is lenient about: every answer field but an id is optional, unknown keys
are ignored, and timestamps with 3, 6 or 9 fractional digits, with or
without a zone, are read as UTC.
"""

from __future__ import annotations

import builtins
import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import attrs

from ._exceptions import DecodeError, UnreadableCreateError, ValidationError
from ._expires import check_expires_in
from ._fields import MASK, masked
from ._resource import CredentialResource, path_segment, user_path
from ._transport import Answer, Timeouts, Transport

if TYPE_CHECKING:
    from ._registry import Registry

__all__ = [
    "LINK_KINDS",
    "MAGIC_LINK_PATH",
    "WIDGETS_SERVICE",
    "LinkSettings",
    "MagicLink",
    "MagicLinks",
]

# Leaf's Magic Links live in their own service, not under User Management.
WIDGETS_SERVICE: Final = "/services/widgets/api"
MAGIC_LINK_PATH: Final = "/magic-link"

# The kinds of link in Leaf's paths, and the `widget` value of each.
LINK_KINDS: Final = {
    "provider": "PROVIDER",
    "authentication": "AUTHENTICATION",
    "file-upload": "FILEUPLOAD",
}
_BY_WIDGET: Final = {widget: kind for kind, widget in LINK_KINDS.items()}
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# Leaf's own provider names ("JohnDeere", "All"...), passed on as they are.
_LEAF_NAME = re.compile(r"[A-Z][A-Za-z0-9]*")


@attrs.frozen(kw_only=True)
class LinkSettings:
    """How a Magic Link's page looks (Leaf's "Link customization").

    Every field is optional; the ones left ``None`` are not sent, and Leaf
    uses its defaults.

    Attributes:
        background_color: A hex colour, e.g. ``"#c0392b"`` (Leaf's default
            ``#F5F5F5``).
        company_logo: The URL of your logo.
        company_name: Your company's name.
        header_image: The URL of a header image.
        show_leaf_user_name: Show the Leaf user's name on the page.
        disconnect_enabled: Let the grower disconnect a provider (provider
            and authentication links only).
    """

    background_color: str | None = None
    company_logo: str | None = None
    company_name: str | None = None
    header_image: str | None = None
    show_leaf_user_name: bool | None = None
    disconnect_enabled: bool | None = None


@attrs.frozen(kw_only=True)
class MagicLink:
    """A Magic Link: a page at Leaf where a grower connects providers.

    Creating one returns only ``id``, ``leaf_user_id``, ``link`` and
    ``expires_at``; a GET or list adds the rest.

    Attributes:
        id: The link's id; a capability like the link itself (``'***'`` in reprs).
        link: The page's URL; whoever holds it can attach credentials to
            the Leaf user, so hand it only to that grower.
        leaf_user_id: The Leaf user the credentials go to.
        expires_at: When the link stops working.
        created_at: When it was created.
        last_accessed_at: When it was last opened.
        max_usage: How many times it may be used.
        usage_count: How many times it was used.
        widget: ``PROVIDER``, ``AUTHENTICATION`` or ``FILEUPLOAD``.
        allowed_providers: Leaf's names of the providers a provider link
            offers (``"Other"`` or ``"All"`` mean every one).
        provider: The one provider of an authentication link.
        settings: The page's look.
    """

    # Capabilities, masked in reprs: see the class docstring.
    id: str = attrs.field(repr=masked)
    link: str | None = attrs.field(default=None, repr=masked)
    leaf_user_id: str | None = None
    expires_at: datetime | None = None
    created_at: datetime | None = None
    last_accessed_at: datetime | None = None
    max_usage: int | None = None
    usage_count: int | None = None
    widget: str | None = None
    allowed_providers: tuple[str, ...] | None = None
    provider: str | None = None
    settings: LinkSettings | None = None


class _LinkCreate(NamedTuple):
    # A create, checked and built: what _send needs.
    url: str
    body: dict[str, Any]
    idempotent: bool
    filled: dict[str, Any]
    kind: str
    who: str  # whose link it is, for messages: "Leaf user '...'" or "external id '...'"


class MagicLinks:
    """Magic Links of Leaf's widgets service, reached as ``leaf.magic_links``."""

    def __init__(self, transport: Transport, registry: Registry) -> None:
        self._transport = transport
        self._registry = registry
        self._base = transport.base_url + WIDGETS_SERVICE + MAGIC_LINK_PATH

    def __repr__(self) -> str:
        return f"<MagicLinks of {self._transport!r}>"

    # -- building (pure) ---------------------------------------------------

    def link_name(self, provider: object) -> str:
        """Return Leaf's Magic Link name of a provider.

        Args:
            provider: A ``CredentialResource``, a registered slug (``"cnhi"``),
                or one of Leaf's own names (``"JohnDeere"``, ``"All"``),
                which is passed on unchecked: Leaf's list of names grows.

        Raises:
            ValidationError: Leaf offers no Magic Link for the provider.
            UnknownProviderError: The slug is not registered.
        """
        if isinstance(provider, str) and not _SLUG.fullmatch(provider):
            if _LEAF_NAME.fullmatch(provider):
                return provider
            raise ValidationError(
                f"a provider is a slug like 'john-deere' or Leaf's name like 'JohnDeere', "
                f"got {provider!r}"
            )
        if not isinstance(provider, str | CredentialResource):
            raise ValidationError(
                f"a provider is a slug or a CredentialResource, got {type(provider).__name__}"
            )
        resource = self._registry.resolve(provider)
        if resource.link_name is None:
            raise ValidationError(f"Leaf offers no Magic Link for {resource.slug}")
        return resource.link_name

    def _build(
        self,
        user_id: object,
        providers: Iterable[object] | None,
        provider: object,
        external_id: object,
        name: object,
        email: object,
        expires_in: object,
        settings: object,
    ) -> _LinkCreate:
        """Check a create's input and build its request; nothing is sent."""
        if (user_id is None) == (external_id is None):
            raise ValidationError("pass exactly one of user_id and external_id=")
        if providers is not None and provider is not None:
            raise ValidationError(
                "pass providers= for a provider link or provider= for an authentication "
                "link, not both"
            )
        body: dict[str, Any] = {}
        filled: dict[str, Any] = {}
        if provider is not None:
            kind = "authentication"
            body["provider"] = filled["provider"] = self.link_name(provider)
        else:
            kind = "provider"
            if providers is not None:
                if isinstance(providers, str | CredentialResource) or not isinstance(
                    providers, Iterable
                ):
                    raise ValidationError("providers= must be a list of providers")
                names = list(dict.fromkeys(self.link_name(p) for p in providers))
                if not names:
                    raise ValidationError("providers= must not be empty; leave it out for all")
                body["allowedProviders"] = names
                filled["allowed_providers"] = tuple(names)
        filled["widget"] = LINK_KINDS[kind]
        expires = check_expires_in(expires_in)
        if expires is not None:
            body["expiresIn"] = expires
        if settings is not None:
            if not isinstance(settings, LinkSettings):
                raise ValidationError(
                    f"settings= must be a LinkSettings, got {type(settings).__name__}"
                )
            body["settings"] = self._transport.converter.unstructure(settings, LinkSettings)
        if user_id is not None:
            if name is not None or email is not None:
                raise ValidationError(
                    "name= and email= go with external_id= only; an existing Leaf user "
                    "keeps its own"
                )
            filled["leaf_user_id"] = user_id
            url = f"{self._base}{user_path(user_id)}/{kind}"
            # Not resent when the outcome is unknown: each POST makes a link.
            return _LinkCreate(url, body, False, filled, kind, f"Leaf user {user_id!r}")
        if not isinstance(external_id, str) or not external_id.strip():
            raise ValidationError("external_id= must be a non-empty string")
        body["externalId"] = external_id
        for key, value in (("name", name), ("email", email)):
            if value is not None:
                if not isinstance(value, str) or not value.strip():
                    raise ValidationError(f"{key}= must be a non-empty string")
                body[key] = value
        # Leaf creates or reuses the Leaf user by externalId, so a resend
        # never makes a second user; at worst it leaves an extra link,
        # never handed out, that expires on its own.
        who = f"external id {external_id!r}"
        return _LinkCreate(f"{self._base}/{kind}", body, True, filled, kind, who)

    def _kind(self, kind: object) -> str:
        if isinstance(kind, str):
            found = kind if kind in LINK_KINDS else _BY_WIDGET.get(kind)
            if found is not None:
                return found
        raise ValidationError(
            "kind must be one of " + ", ".join(map(repr, LINK_KINDS)) + f", got {kind!r}"
        )

    # -- the calls ---------------------------------------------------------

    async def create(
        self,
        user_id: str | None = None,
        *,
        providers: Iterable[str | CredentialResource[Any, Any]] | None = None,
        provider: str | CredentialResource[Any, Any] | None = None,
        external_id: str | None = None,
        name: str | None = None,
        email: str | None = None,
        expires_in: int | None = None,
        settings: LinkSettings | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> MagicLink:
        """Create a Magic Link: a provider link, or with ``provider=`` an authentication link.

        Args:
            user_id: The existing Leaf user the credentials go to; or leave it
                out and pass ``external_id``.
            providers: The providers a provider link offers (slugs,
                resources, or Leaf's names); left out, Leaf offers all.
            provider: The one provider of an authentication link.
            external_id: Your own id of the grower: Leaf creates the Leaf
                user, or reuses the one with this ``externalId``.
            name: The new Leaf user's name (with ``external_id`` only).
            email: The new Leaf user's email (with ``external_id`` only).
            expires_in: Seconds the link works, 900 to 31536000 (Leaf's
                default: 900).
            settings: How the page looks.
            timeout: Seconds one attempt may take, for this call.
            connect_timeout: Seconds to open a new connection, for this call.

        Returns:
            The link; what Leaf's short create answer leaves out of
            ``leaf_user_id``, ``widget``, ``allowed_providers`` and
            ``provider`` is filled from the request.

        Raises:
            ValidationError: The input is invalid; nothing was sent.
            NotFoundError: No such Leaf user.
            TransportError, ServerError: For a link of an existing user, the
                outcome is unknown (it is not sent twice blindly); list the
                links before creating another.
            UnreadableCreateError: Leaf answered 2xx with a body that is not
                a link: it was made or may have been (never sent again); an
                ``OutcomeUnknownError`` and a ``DecodeError``.
            LeafError: Any other failure; see the exception tree.
        """
        built = self._build(
            user_id, providers, provider, external_id, name, email, expires_in, settings
        )
        link, _ = await self._send(built, self._transport.timeouts_for(timeout, connect_timeout))
        return link

    async def create_counted(
        self,
        timeouts: Timeouts,
        user_id: str,
        *,
        providers: Iterable[str | CredentialResource[Any, Any]] | None = None,
        provider: str | CredentialResource[Any, Any] | None = None,
        expires_in: int | None = None,
        settings: LinkSettings | None = None,
    ) -> tuple[MagicLink, int]:
        """Create a Magic Link of an existing Leaf user, as :meth:`create` does.

        Takes resolved timeouts (``leaf.transport.timeouts_for(...)``) and
        also returns the HTTP attempts made: what a bulk job reports.
        """
        built = self._build(user_id, providers, provider, None, None, None, expires_in, settings)
        return await self._send(built, timeouts)

    async def _send(self, built: _LinkCreate, timeouts: Timeouts) -> tuple[MagicLink, int]:
        transport = self._transport
        answer = await transport.request(
            "POST", built.url, timeouts, data=json.dumps(built.body).encode(),
            idempotent=built.idempotent,
        )  # fmt: skip
        try:
            link = transport.decode_object(MagicLink, answer, "POST", built.url)
        except DecodeError as exc:
            raise _unreadable(built, answer, exc) from exc
        missing = {key: value for key, value in built.filled.items() if getattr(link, key) is None}
        return (attrs.evolve(link, **missing) if missing else link), answer.attempts

    async def list(
        self,
        kind: str = "provider",
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> builtins.list[MagicLink]:
        """Return every Magic Link of a kind.

        Args:
            kind: ``"provider"``, ``"authentication"`` or ``"file-upload"``.

        Raises:
            ValidationError: ``kind`` is not one of them; nothing was sent.
            DecodeError: The answer is not a JSON array of links.
            LeafError: Any other failure; see the exception tree.
        """
        url = f"{self._base}/{self._kind(kind)}"
        transport = self._transport
        return await transport.list_all(
            url, MagicLink, "magic links", transport.timeouts_for(timeout, connect_timeout)
        )

    async def get(
        self,
        kind: str,
        link_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> MagicLink:
        """Return one Magic Link, with its usage.

        Args:
            kind: ``"provider"``, ``"authentication"`` or ``"file-upload"``.
            link_id: The link's id.

        Raises:
            ValidationError: The input is invalid; nothing was sent.
            NotFoundError: No such link.
            LeafError: Any other failure; see the exception tree.
        """
        url, label = self._link_url(kind, link_id)
        transport = self._transport
        timeouts = transport.timeouts_for(timeout, connect_timeout)
        answer = await transport.request(
            "GET", url, timeouts, secrets=[link_id], label=label
        )
        return transport.decode_object(MagicLink, answer, "GET", label)

    async def delete(
        self,
        kind: str,
        link_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        """Delete a Magic Link; its page stops working.

        Raises:
            ValidationError: The input is invalid; nothing was sent.
            NotFoundError: There was no such link.
            LeafError: Any other failure; see the exception tree.
        """
        url, label = self._link_url(kind, link_id)
        transport = self._transport
        await transport.request(
            "DELETE", url, transport.timeouts_for(timeout, connect_timeout),
            secrets=[link_id], label=label,
        )  # fmt: skip

    def _link_url(self, kind: str, link_id: str) -> tuple[str, str]:
        # A link's id is the whole capability (whoever has it can connect a
        # provider to the grower's account): errors and logs show it masked.
        base = f"{self._base}/{self._kind(kind)}/"
        return base + path_segment(link_id, "Magic Link id"), base + MASK


def _unreadable(built: _LinkCreate, answer: Answer, failure: DecodeError) -> UnreadableCreateError:
    # A 2xx made the link (or may have): say so, and how to find it.
    article = "an" if built.kind == "authentication" else "a"
    return UnreadableCreateError(
        f"the create of {article} {built.kind} Magic Link for {built.who} was answered "
        f"{answer.status}, so it was applied or may have been, but its answer is not the "
        f"link ({failure}). Do not create another blindly: list the links with "
        f"magic_links.list({built.kind!r}) first.",
        provider=built.filled.get("provider", ""),
        user_id=built.filled.get("leaf_user_id", ""),
        attempts=answer.attempts,
        method="POST",
        url=built.url,
        status=answer.status,
    )
