"""``leaf.users``: the Leaf users of the account, and :class:`LeafUser`.

Paths, under User Management::

    GET     /users?page={page}&size={size}[&sort=&name=&email=&externalId=]
    GET     /users/{leafUserId}
    POST    /users
    PUT     /users                 the whole user, its id in the body
    DELETE  /users/{leafUserId}

``leaf.users(...)`` and ``leaf.users.list(...)`` walk every page; the pure
rules of when a page is the last are in ``_paging``.

Leaf documents ``PUT /users`` as a full replace that detaches every
credential left out of the body, so :meth:`Users.update` reads the user,
changes the fields asked for, and writes back all the rest, each embedded
credential as ``{"id": ...}`` as Leaf's Postman collection does (never its
secrets, nor stale tokens). A create is not idempotent: an unknown outcome
is looked up by ``externalId`` when one was given, and is otherwise an
``OutcomeUnknownError``; a second user is never made blindly.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any, Final
from urllib.parse import urlencode

import attrs

from ._exceptions import (
    DecodeError,
    LeafError,
    OutcomeUnknownError,
    UnreadableCreateError,
    ValidationError,
)
from ._http import parse_json
from ._paging import UserWalk, has_next_page
from ._resource import user_path
from ._transport import Answer, Timeouts, Transport, json_array, reason, structure

__all__ = [
    "MAX_PAGE_SIZE",
    "LeafUser",
    "UserWalk",
    "Users",
    "check_filters",
    "check_page_size",
    "embedded_credentials",
    "has_next_page",
    "users_query",
]

log = logging.getLogger("leaf_creds")

# Leaf's documented maximum for `size`.
MAX_PAGE_SIZE: Final = 100

# An embedded credential's key: the provider's slug in camelCase, then
# "Credentials" (`johnDeereCredentials`, `cnhiFieldOpsCredentials`).
_EMBEDDED = re.compile(r"([a-z][A-Za-z0-9]*)Credentials")
_WORD = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def embedded_credentials(user: Mapping[str, Any]) -> dict[str, str]:
    """Return the credentials a user's JSON embeds, as provider slug -> credential id.

    Only the ``<camelSlug>Credentials`` objects that carry a string ``id``
    count; the slug is the key's words joined by ``-`` (``johnDeere`` ->
    ``john-deere``), so a provider no registry knows is still listed.
    """
    held: dict[str, str] = {}
    for key, value in user.items():
        match = _EMBEDDED.fullmatch(key)
        if match and isinstance(value, dict) and isinstance(value.get("id"), str):
            held[_WORD.sub("-", match.group(1)).lower()] = value["id"]
    return held


@attrs.frozen(kw_only=True)
class LeafUser:
    """A Leaf user, as ``GET /users`` and ``GET /users/{id}`` answer it.

    Attributes:
        id: The Leaf user's id.
        name: Its display name.
        email: Its email address.
        external_id: Your own id for it, if you gave one.
        phone: Its phone number.
        address: Its address, as one string.
        credentials: The providers it holds a credential of, as provider
            slug -> credential id (the embedded ``<provider>Credentials``
            objects, without their secrets); ask ``leaf.get`` for one.
    """

    id: str
    name: str | None = None
    email: str | None = None
    external_id: str | None = None
    phone: str | None = None
    address: str | None = None
    credentials: Mapping[str, str] = attrs.field(factory=dict, hash=False)


# The fields a create or an update sets: argument name -> Leaf's JSON key.
_USER_FIELDS: Final = {
    "name": "name",
    "email": "email",
    "phone": "phone",
    "address": "address",
    "external_id": "externalId",
}


def _user_body(**fields: object) -> dict[str, str]:
    """Check a create's or an update's fields; return the ones given, by Leaf's keys.

    Raises:
        ValidationError: A field is not a string of valid Unicode.
    """
    body: dict[str, str] = {}
    for key, value in fields.items():
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValidationError(f"{key}= must be a string, got {type(value).__name__}")
        try:
            value.encode()
        except UnicodeEncodeError as exc:
            raise ValidationError(
                f"{key}= must be valid Unicode text (a lone surrogate at position {exc.start})"
            ) from None
        body[_USER_FIELDS[key]] = value
    return body


def replacement(
    stored: Mapping[str, Any], user_id: str, changes: Mapping[str, str]
) -> dict[str, Any]:
    """Return the body of ``PUT /users`` that changes ``changes`` and keeps all the rest.

    Every key read is written back (a field this SDK does not know is kept),
    each embedded credential reduced to its ``{"id": ...}``: Leaf keeps a
    credential whose id is in the body and detaches the others.
    """
    body: dict[str, Any] = {}
    for key, value in stored.items():
        if _EMBEDDED.fullmatch(key) and isinstance(value, dict) and "id" in value:
            body[key] = {"id": value["id"]}
        else:
            body[key] = value
    body["id"] = user_id
    body.update(changes)
    return body


def users_query(page: int, size: int, filters: Mapping[str, str | None]) -> str:
    """Return the query string of one page of ``GET /users``, with its ``?``.

    ``filters`` maps Leaf's query names (``sort``, ``name``, ``email``,
    ``externalId``) to values; ``None`` values are left out.
    """
    params: dict[str, str | int] = {"page": page, "size": size}
    params.update({key: value for key, value in filters.items() if value is not None})
    return "?" + urlencode(params)


# users()'s keyword arguments and the query names Leaf gives them.
_FILTERS: Final = {"sort": "sort", "name": "name", "email": "email", "external_id": "externalId"}


def check_filters(**filters: object) -> dict[str, str]:
    """Return ``users()``'s filters by Leaf's query names, leaving out the ``None`` ones.

    Raises:
        ValidationError: A filter is not a string, or holds a lone surrogate
            (which no URL can carry).
    """
    query: dict[str, str] = {}
    for key, value in filters.items():
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValidationError(f"{key} must be a string, got {type(value).__name__}")
        try:
            value.encode()
        except UnicodeEncodeError as exc:
            raise ValidationError(
                f"{key} must be valid Unicode text (a lone surrogate at position {exc.start})"
            ) from None
        query[_FILTERS[key]] = value
    return query


def check_page_size(size: object) -> int:
    """Return ``size`` if it is a page size Leaf accepts.

    Raises:
        ValidationError: It is not an int from 1 to 100.
    """
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE:
        raise ValidationError(f"size must be an int from 1 to {MAX_PAGE_SIZE}, got {size!r}")
    return size


class Users:
    """The Leaf users of the account, reached as ``leaf.users``.

    Calling it (``leaf.users(...)``) is :meth:`list`, as it always was.
    """

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __repr__(self) -> str:
        return f"<Users of {self._transport!r}>"

    def __call__(
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
        """Iterate over every Leaf user of the account: :meth:`list`."""
        return self.list(
            size=size,
            sort=sort,
            name=name,
            email=email,
            external_id=external_id,
            timeout=timeout,
            connect_timeout=connect_timeout,
        )

    def list(
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
        transport = self._transport
        timeouts = transport.timeouts_for(timeout, connect_timeout)
        filters = check_filters(sort=sort, name=name, email=email, external_id=external_id)
        read = self._reader()
        url = transport.user_management + "/users"

        async def pages() -> AsyncGenerator[LeafUser, None]:
            walk = UserWalk(size)
            while True:
                answer = await transport.request(
                    "GET", url + users_query(walk.page, size, filters), timeouts
                )
                data = json_array(answer, url, "users")
                fresh = 0
                for item in data:
                    user = read(item, "GET", url, answer.status)
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

    async def get(
        self,
        user_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> LeafUser:
        """Return one Leaf user.

        Args:
            user_id: The Leaf user's id.
            timeout: Seconds one attempt may take, for this call.
            connect_timeout: Seconds to open a new connection, for this call.

        Raises:
            ValidationError: The user id is invalid; nothing was sent.
            NotFoundError: No such Leaf user.
            DecodeError: The answer is not a Leaf user.
            LeafError: Any other failure; see the exception tree.
        """
        transport = self._transport
        url = transport.user_management + user_path(user_id)
        answer = await transport.request(
            "GET", url, transport.timeouts_for(timeout, connect_timeout)
        )
        return self._decode(answer, "GET", url)

    async def create(
        self,
        *,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        address: str | None = None,
        external_id: str | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> LeafUser:
        """Create a Leaf user.

        Args:
            name: Its display name.
            email: Its email address.
            phone: Its phone number.
            address: Its address, as one string.
            external_id: Your own id for it. Give one: it is how a create
                whose outcome is unknown is checked instead of guessed.
            timeout: Seconds one attempt may take, for this call.
            connect_timeout: Seconds to open a new connection, for this call.

        Returns:
            The new user, as Leaf answered it.

        Raises:
            ValidationError: A field is not a string; nothing was sent.
            OutcomeUnknownError: The create may have been applied (a read
                timeout, a dropped connection, 500, 502, 504) and no user
                with its ``external_id`` and fields is found, or there is no
                ``external_id`` to look it up by. It is never sent again
                blindly: look the user up before creating it again.
            UnreadableCreateError: Leaf answered 2xx with a body that is not
                a user, and no lookup by ``external_id`` found it.
            LeafError: Any other failure; see the exception tree.
        """
        body = _user_body(
            name=name, email=email, phone=phone, address=address, external_id=external_id
        )
        transport = self._transport
        timeouts = transport.timeouts_for(timeout, connect_timeout)
        url = transport.user_management + "/users"

        async def lookup(failure: LeafError, attempts: int) -> Answer | None:
            # The outcome is unknown: a user with our externalId and fields
            # is ours (or its twin: either way, no second one is wanted).
            if external_id is None:
                raise OutcomeUnknownError(
                    f"the create of a Leaf user may or may not have been applied: it failed "
                    f"with {reason(failure)}, and without an external_id it cannot be looked "
                    "up. List the users (by name or email) before creating it again.",
                    provider="",
                    user_id="",
                    attempts=attempts,
                ) from failure
            try:
                return await self._find(url, body, timeouts)
            except LeafError as exc:
                raise OutcomeUnknownError(
                    f"the create of the Leaf user with external id {external_id!r} may or may "
                    f"not have been applied: it failed with {reason(failure)}, and the lookup "
                    f"that would tell failed with {reason(exc)}. Check with "
                    f"users.list(external_id={external_id!r}) before creating it again.",
                    provider="",
                    user_id="",
                    attempts=attempts,
                ) from failure

        answer = await transport.request(
            "POST", url, timeouts, data=json.dumps(body).encode(), reconcile=lookup
        )
        try:
            return self._decode(answer, "POST", url)
        except DecodeError as exc:
            found = None
            if external_id is not None:
                try:
                    found = await self._find(url, body, timeouts)
                except LeafError:
                    found = None
            if found is not None:
                log.debug("POST %s: answer unreadable; the user was found by externalId", url)
                return self._decode(found, "GET", url)
            raise UnreadableCreateError(
                f"the create of a Leaf user was answered {answer.status}, so it was applied or "
                f"may have been, but its answer is not the user ({exc})"
                + (
                    f", and no user with external id {external_id!r} and its fields is found"
                    if external_id is not None
                    else ", and without an external_id it cannot be looked up"
                )
                + ". Look the user up before creating it again.",
                provider="",
                user_id="",
                attempts=answer.attempts,
                method="POST",
                url=url,
                status=answer.status,
            ) from exc

    async def _find(self, url: str, body: Mapping[str, str], timeouts: Timeouts) -> Answer | None:
        """Return a user with the create's ``externalId`` and fields, as an answer; or None.

        Raises:
            LeafError: The lookup failed, or its answer is not a list of users.
        """
        query = users_query(0, MAX_PAGE_SIZE, {"externalId": body["externalId"]})
        found = await self._transport.request("GET", url + query, timeouts)
        for item in json_array(found, url, "users"):
            if isinstance(item, dict) and all(item.get(k) == v for k, v in body.items()):
                log.debug("POST %s: outcome was unknown; the user exists", url)
                return found._replace(body=json.dumps(item).encode())
        return None

    async def update(
        self,
        user_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        address: str | None = None,
        external_id: str | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> LeafUser:
        """Change a Leaf user's fields; the ones left ``None`` keep their value.

        Leaf's ``PUT /users`` replaces the whole user and detaches every
        credential the body leaves out, so this reads the user first and
        writes back everything it read, its credentials included (by id).
        Leaf has no version check: a credential attached by someone else
        between the read and the write is detached (see the README's
        "Leaf users").

        Args:
            user_id: The Leaf user's id.
            name: Its new display name.
            email: Its new email address.
            phone: Its new phone number.
            address: Its new address.
            external_id: Its new external id.
            timeout: Seconds one attempt may take, for each of the two requests.
            connect_timeout: Seconds to open a new connection, for each.

        Returns:
            The user as Leaf answered the write.

        Raises:
            ValidationError: No field is given, or one is not a string;
                nothing was sent.
            NotFoundError: No such Leaf user.
            DecodeError: The read is not a Leaf user; nothing was written.
            LeafError: Any other failure; see the exception tree.
        """
        changes = _user_body(
            name=name, email=email, phone=phone, address=address, external_id=external_id
        )
        if not changes:
            raise ValidationError("pass at least one field to change")
        transport = self._transport
        timeouts = transport.timeouts_for(timeout, connect_timeout)
        one = transport.user_management + user_path(user_id)
        read = await transport.request("GET", one, timeouts)
        stored = parse_json(read.body, method="GET", url=one, status=read.status)
        if not isinstance(stored, dict) or not isinstance(stored.get("id"), str):
            raise DecodeError(
                f"{read.status} from GET {one}: expected a Leaf user; nothing was written",
                method="GET",
                url=one,
                status=read.status,
            )
        body = replacement(stored, user_id, changes)
        url = transport.user_management + "/users"
        # PUT is idempotent: a resend writes the same user again.
        written = await transport.request("PUT", url, timeouts, data=json.dumps(body).encode())
        try:
            user = self._decode(written, "PUT", url)
        except DecodeError:
            # Leaf does not document the answer; what was written is the user.
            return self._read_user(body, "PUT", url, written.status)
        if not user.credentials and embedded_credentials(body):
            # An answer without the embedded objects says nothing of them (INF).
            user = attrs.evolve(user, credentials=embedded_credentials(body))
        return user

    async def delete(
        self,
        user_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        """Delete a Leaf user.

        Args:
            user_id: The Leaf user's id.
            timeout: Seconds one attempt may take, for this call.
            connect_timeout: Seconds to open a new connection, for this call.

        Raises:
            ValidationError: The user id is invalid; nothing was sent.
            NotFoundError: There was no such Leaf user.
            LeafError: Any other failure; see the exception tree.
        """
        transport = self._transport
        url = transport.user_management + user_path(user_id)
        await transport.request("DELETE", url, transport.timeouts_for(timeout, connect_timeout))

    # -- reading users -----------------------------------------------------

    def _reader(self) -> Callable[[Any, str, str, int], LeafUser]:
        """Return a function that reads one user's JSON, its embedded credentials too."""
        hook = self._transport.structure_hook(LeafUser)

        def read(item: Any, method: str, url: str, status: int) -> LeafUser:
            user: LeafUser = structure(hook, item, LeafUser, method, url, status)
            held = embedded_credentials(item)  # a mapping: the hook took it
            return attrs.evolve(user, credentials=held) if held else user

        return read

    def _read_user(self, item: Any, method: str, url: str, status: int) -> LeafUser:
        return self._reader()(item, method, url, status)

    def _decode(self, answer: Answer, method: str, url: str) -> LeafUser:
        """Parse a 2xx answer holding one user.

        Raises:
            DecodeError: It is not a Leaf user.
        """
        data = parse_json(answer.body, method=method, url=url, status=answer.status)
        if type(data) is not dict:
            raise DecodeError(
                f"{answer.status} from {method} {url}: expected a JSON object",
                method=method,
                url=url,
                status=answer.status,
            )
        return self._read_user(data, method, url, answer.status)
