"""The pure paging rules of Leaf's lists: whether another page follows, and the users walk.

No I/O: the transport's list walk and the users resource ask these.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ._exceptions import PaginationError

__all__ = ["UserWalk", "has_next_page"]

_NEXT = re.compile(r"""rel\s*=\s*"?[^";,]*\bnext\b""", re.IGNORECASE)


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
