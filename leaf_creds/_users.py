"""``leaf.users``: the Leaf users of the account, and :class:`LeafUser`.

Paths, under User Management::

    GET  /users?page={page}&size={size}[&sort=&name=&email=&externalId=]
    GET  /users/{leafUserId}

``leaf.users(...)`` and ``leaf.users.list(...)`` walk every page; the pure
rules of when a page is the last are in ``_paging``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Final
from urllib.parse import urlencode

import attrs

from ._exceptions import ValidationError
from ._paging import UserWalk, has_next_page
from ._resource import user_path
from ._transport import Transport, json_array, structure

__all__ = [
    "MAX_PAGE_SIZE",
    "LeafUser",
    "UserWalk",
    "Users",
    "check_filters",
    "check_page_size",
    "has_next_page",
    "users_query",
]

# Leaf's documented maximum for `size`.
MAX_PAGE_SIZE: Final = 100


@attrs.frozen(kw_only=True)
class LeafUser:
    """A Leaf user, as ``GET /users`` lists it.

    Embedded ``<provider>Credentials`` objects are not kept: ask the session
    for a provider's credential instead.

    Attributes:
        id: The Leaf user's id.
        name: Its display name.
        email: Its email address.
        external_id: Your own id for it, if you gave one.
        phone: Its phone number.
        address: Its address, as one string.
    """

    id: str
    name: str | None = None
    email: str | None = None
    external_id: str | None = None
    phone: str | None = None
    address: str | None = None


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
        hook = transport.structure_hook(LeafUser)
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
                    user: LeafUser = structure(hook, item, LeafUser, "GET", url, answer.status)
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
        return transport.decode_object(LeafUser, answer, "GET", url)
