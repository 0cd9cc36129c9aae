"""What the onboarding resources share: a paged list walk through the session's transport."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, TypeVar

from ._exceptions import DecodeError
from ._onboarding import LIST_PAGE_SIZE, list_query
from ._users import has_next_page

if TYPE_CHECKING:
    from ._session import LeafSession, _Timeouts

__all__ = ["MAX_PAGES", "list_all"]

T = TypeVar("T")

# A bound on a walk, so a server that always claims another page cannot
# keep a list call going (or growing) forever: 100 000 items.
MAX_PAGES: Final = 1000


async def list_all(
    session: LeafSession,
    url: str,
    cls: type[T],
    what: str,
    timeouts: _Timeouts,
    params: Mapping[str, str] | None = None,
) -> list[T]:
    """GET every page of a JSON-array list and decode each item into ``cls``.

    Paging is not documented for these lists, so the walk is lenient: it
    asks for pages of 100 and ends on a short page, on ``X-Total-Count`` or
    a ``Link`` without ``rel="next"``, and also when a page holds more than
    was asked for (a server that ignores paging answered everything).

    Raises:
        DecodeError: A page is not a JSON array of ``what``, or the list
            runs past :data:`MAX_PAGES` pages.
        LeafError: Any other failure of a request.
    """
    hook = session._converter.get_structure_hook(list[cls])  # type: ignore[valid-type]
    found: list[T] = []
    for page in range(MAX_PAGES):
        answer = await session._request("GET", url + list_query(page, params), timeouts)
        data = session._json_array(answer, url, what)
        items: list[T] = session._structure(hook, data, list[cls], "GET", url, answer.status)  # type: ignore[valid-type]
        found += items
        if len(data) > LIST_PAGE_SIZE or not has_next_page(
            count=len(data), size=LIST_PAGE_SIZE, seen=len(found), headers=answer.headers
        ):
            return found
    raise DecodeError(
        f"GET {url}: still more {what} after {MAX_PAGES} pages; giving up",
        method="GET",
        url=url,
        status=200,
    )
