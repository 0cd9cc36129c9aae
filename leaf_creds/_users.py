"""LeafUser, and the pure paging rules of ``GET /users``.

``LeafSession.users`` sends the requests; this module says what a page
request looks like and whether another page follows, without any I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final
from urllib.parse import urlencode

import attrs

from ._exceptions import PaginationError, ValidationError

__all__ = [
    "MAX_PAGE_SIZE",
    "LeafUser",
    "UserWalk",
    "check_filters",
    "check_page_size",
    "has_next_page",
    "users_query",
]

# Leaf's documented maximum for `size`.
MAX_PAGE_SIZE: Final = 100

_NEXT = re.compile(r"""rel\s*=\s*"?[^";,]*\bnext\b""", re.IGNORECASE)


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


def has_next_page(*, count: int, size: int, seen: int, headers: Mapping[str, str]) -> bool:
    """Tell whether another page follows the one just read.

    Args:
        count: How many users the page held.
        size: The page size asked for.
        seen: How many distinct users all pages so far held, this one included.
        headers: The page's answer headers.

    The last page is the first one that is short, or that reaches
    ``X-Total-Count``, or whose ``Link`` header has no ``rel="next"``;
    any one of them is enough, so a server that sends none of the headers
    still ends on a short (or empty) page.
    """
    if count < size:
        return False
    total = headers.get("X-Total-Count")
    if total is not None:
        try:
            if seen >= int(total):
                return False
        except ValueError:
            pass  # An unreadable total says nothing; the other rules decide.
    link = headers.get("Link")
    return link is None or _NEXT.search(link) is not None


class UserWalk:
    """One walk over ``GET /users``: which page is next, and which users were yielded.

    A server that answers every page with the same full page (and
    ``rel="next"``) would make a walk endless; a full page that brings no
    user not yielded before ends it with :class:`PaginationError`. Pages that
    overlap (a user added mid-walk shifts the list by one) go on, without
    yielding the overlap twice. Remembering every id costs about 130 bytes
    a UUID (measured): 13 MB for 100,000 users.
    """

    __slots__ = ("_seen", "page", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self.page = 0
        self._seen: set[str] = set()

    def is_new(self, user_id: str) -> bool:
        """Tell whether a user was not yielded yet, and remember it."""
        if user_id in self._seen:
            return False
        self._seen.add(user_id)
        return True

    def advance(
        self, *, count: int, fresh: int, headers: Mapping[str, str], url: str, status: int
    ) -> bool:
        """Tell whether another page follows the one just read, and move to it.

        Args:
            count: How many users the page held.
            fresh: How many of them were new.
            headers: The page's answer headers.
            url: The listing's URL, for the error.
            status: The page's status, for the error.

        Raises:
            PaginationError: The page was full, said more follow, and held
                only users already yielded.
        """
        # Counted by distinct users, so repeats never reach X-Total-Count early.
        if not has_next_page(count=count, size=self.size, seen=len(self._seen), headers=headers):
            return False
        if not fresh:
            raise PaginationError(
                f"GET {url}: page {self.page} repeats {count} users already listed and "
                "says more follow; stopped rather than ask for pages forever",
                method="GET",
                url=url,
                status=status,
            )
        self.page += 1
        return True
