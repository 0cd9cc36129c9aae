"""What every route of the fake shares: the route table, reading bodies, paging, problem answers.

A :class:`Route` maps one path prefix (one faked Leaf service) to the
service's ``answer(request, rest)``; :func:`route` finds it and checks the
bearer token first where the service needs one. Bodies are read here only,
so that no request, however malformed, gets past the reader as anything but
a :class:`~._wire.Problem`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, TypeVar
from urllib.parse import unquote

import attrs
from aiohttp import web

from ._wire import Problem

__all__ = [
    "MAX_PAGE_SIZE",
    "PAGE_SIZE",
    "USER_MANAGEMENT",
    "Answer",
    "Route",
    "allow",
    "json_list",
    "no_such_path",
    "paged",
    "problem_response",
    "read_form",
    "read_json",
    "route",
    "segments",
]

USER_MANAGEMENT: Final = "/services/usermanagement/api"
PAGE_SIZE: Final = 20
MAX_PAGE_SIZE: Final = 100  # Spring's pageable clamps larger sizes to its maximum.
_PROBLEM: Final = "application/problem+json"
_T = TypeVar("_T")

Answer = Callable[[web.Request, str], Awaitable[web.Response]]
"""A service's handler: the request, and its path after the service's prefix."""


@attrs.frozen
class Route:
    """Where one faked service answers.

    Attributes:
        prefix: The raw path the service's paths start with.
        answer: Called with the request and the rest of its path.
        token: The service needs a valid bearer token (checked first).
        bare: The prefix alone is a path of the service, not only the
            paths under it.
    """

    prefix: str
    answer: Answer
    token: bool = True
    bare: bool = True

    def rest(self, path: str) -> str | None:
        """Return the path after the prefix when the route serves it, else None."""
        if path.startswith(self.prefix + "/") or (self.bare and path == self.prefix):
            return path[len(self.prefix) :]
        return None


async def route(
    routes: Sequence[Route],
    request: web.Request,
    path: str,
    authorize: Callable[[web.Request], None],
) -> web.Response | None:
    """Answer with the first route that serves ``path``; None when none does.

    Raises:
        Problem: Leaf's error answer, from the token check or the service.
    """
    for entry in routes:
        rest = entry.rest(path)
        if rest is not None:
            if entry.token:
                authorize(request)
            return await entry.answer(request, rest)
    return None


async def no_such_path(request: web.Request, rest: str) -> web.Response:
    """A route's answer for paths under a prefix that name nothing."""
    raise Problem(404, f"no such path: {request.rel_url.raw_path}")


def allow(request: web.Request, *methods: str) -> None:
    """Refuse a method the path does not take, with Leaf's 405 and ``Allow``.

    Raises:
        Problem: 405.
    """
    if request.method not in methods:
        allowed = {"Allow": ", ".join(methods)}
        raise Problem(405, f"{request.method} is not supported", headers=allowed)


def segments(rest: str) -> list[str]:
    """Split ``/a/b%2Fc/`` into ``["a", "b/c"]``: each segment unquoted once."""
    parts = rest.split("/")[1:]
    if parts and parts[-1] == "":
        parts.pop()
    return [unquote(part) for part in parts]


def problem_response(problem: Problem, path: str) -> web.Response:
    """Return a problem as Leaf answers it: ``application/problem+json``."""
    return web.Response(
        status=problem.status,
        text=json.dumps(problem.body(path)),
        content_type=_PROBLEM,
        headers=problem.headers,
    )


# -- bodies --------------------------------------------------------------


async def read_json(request: web.Request) -> Any:
    """Return the request's JSON body.

    Raises:
        Problem: 400 for a body that is not JSON, is nested too deeply for the
            parser, or holds a lone surrogate (``"\\ud800"``: no UTF-8 text
            holds it); 413 past aiohttp's body size limit (1 MiB).
    """
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Problem(413, "Maximum upload size exceeded") from None
    try:
        body = json.loads(raw)
        if b"\\u" in raw:  # an escape may name a lone surrogate, which encodes to nothing
            json.dumps(body, ensure_ascii=False).encode()
    except RecursionError:
        raise Problem(400, "Failed to read HTTP message: the JSON is nested too deeply") from None
    except UnicodeEncodeError:
        raise Problem(400, "Failed to read HTTP message: a lone surrogate in a string") from None
    except ValueError:
        raise Problem(400, "Failed to read HTTP message: the body is not JSON") from None
    return body


async def read_form(request: web.Request) -> Mapping[str, object]:
    """Return the request's form (urlencoded or multipart).

    Raises:
        Problem: 400 for a form that cannot be read; 413 past the size limit.
    """
    try:
        return await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise Problem(413, "The form is larger than the fake accepts.") from None
    except (ValueError, LookupError, RuntimeError):
        # Not UTF-8 (or not its charset), an unknown charset or transfer
        # encoding, a multipart body without its boundary.
        raise Problem(400, "The form could not be read. Open the link again.") from None


# -- lists ---------------------------------------------------------------


def _query_int(request: web.Request, name: str, default: int, minimum: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise Problem(400, f"{name} must be an integer") from None
    if value < minimum:
        raise Problem(400, f"{name} must be at least {minimum}")
    return value


def paged(request: web.Request, items: Sequence[_T]) -> tuple[list[_T], dict[str, str]]:
    """Cut one page of ``items``; return it with JHipster's paging headers.

    Raises:
        Problem: 400 for a ``page`` or ``size`` that is not a fitting integer.
    """
    page = _query_int(request, "page", 0, 0)
    size = min(_query_int(request, "size", PAGE_SIZE, 1), MAX_PAGE_SIZE)
    total = len(items)
    last = max(0, (total - 1) // size)

    def link(number: int, rel: str) -> str:
        url = request.url.update_query(page=str(number), size=str(size))
        return f'<{url}>; rel="{rel}"'

    links = []
    if page < last:
        links.append(link(page + 1, "next"))
    if page > 0:
        links.append(link(min(page - 1, last), "prev"))
    links += [link(last, "last"), link(0, "first")]
    headers = {"X-Total-Count": str(total), "Link": ",".join(links)}
    return list(items[page * size : (page + 1) * size]), headers


def json_list(request: web.Request, items: Sequence[Any]) -> web.Response:
    """Answer a list whole, or one page of it when ``page`` or ``size`` is asked for."""
    if "page" in request.query or "size" in request.query:
        page, headers = paged(request, items)
        return web.json_response(page, headers=headers)
    return web.json_response(list(items))
