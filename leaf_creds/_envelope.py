"""Reading Leaf's answers that are JSON objects around a list: one page, or every page.

Leaf's integrations summaries (``{"message", "summaries": [...]}``) and
failed webhook calls (``{"items": [...]}``) come wrapped in an object, not
as the bare JSON arrays :meth:`Transport.list_all` walks. This walk is
built on the transport's public members only, and is as lenient: pages of
100 are asked for, and it ends on a short page, on ``X-Total-Count`` or a
``Link`` without ``rel="next"``, or on a page longer than asked for (a
server that ignores paging answered everything).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from ._exceptions import DecodeError
from ._http import parse_json
from ._paging import has_next_page
from ._transport import (
    LIST_PAGE_SIZE,
    MAX_PAGES,
    Answer,
    Timeouts,
    Transport,
    list_query,
    structure,
)

__all__ = ["enveloped_list", "json_object"]

T = TypeVar("T")


def json_object(answer: Answer, method: str, url: str) -> dict[str, Any]:
    """Parse a 2xx answer that must hold a JSON object.

    Raises:
        DecodeError: It does not (the body is not JSON, or another JSON value).
    """
    data = parse_json(answer.body, method=method, url=url, status=answer.status)
    if type(data) is not dict:
        raise DecodeError(
            f"{answer.status} from {method} {url}: expected a JSON object",
            method=method,
            url=url,
            status=answer.status,
        )
    return data


def _items(data: dict[str, Any], key: str, answer: Answer, url: str, what: str) -> list[Any]:
    # A missing or null list is an empty one: Leaf may leave it out when it
    # has nothing to say.
    items = data.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise DecodeError(
            f"{answer.status} from GET {url}: {key!r} is not a JSON array of {what}",
            method="GET",
            url=url,
            status=answer.status,
        )
    return items


async def enveloped_list(
    transport: Transport,
    url: str,
    key: str,
    cls: type[T],
    what: str,
    timeouts: Timeouts,
    params: Mapping[str, str] | None = None,
) -> list[T]:
    """GET every page of a list held under ``key`` of a JSON object; decode each item.

    Raises:
        DecodeError: A page is not a JSON object whose ``key`` is an array
            of ``what``, or the list runs past ``MAX_PAGES`` pages.
        LeafError: Any other failure of a request.
    """
    hook = transport.structure_hook(list[cls])  # type: ignore[valid-type]
    found: list[T] = []
    for page in range(MAX_PAGES):
        answer = await transport.request("GET", url + list_query(page, params), timeouts)
        items = _items(json_object(answer, "GET", url), key, answer, url, what)
        decoded: list[T] = structure(hook, items, list[cls], "GET", url, answer.status)  # type: ignore[valid-type]
        found += decoded
        if len(items) > LIST_PAGE_SIZE or not has_next_page(
            count=len(items), size=LIST_PAGE_SIZE, seen=len(found), headers=answer.headers
        ):
            return found
    raise DecodeError(
        f"GET {url}: still more {what} after {MAX_PAGES} pages; giving up",
        method="GET",
        url=url,
        status=200,
    )
