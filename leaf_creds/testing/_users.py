"""The fake's Leaf users: ``/services/usermanagement/api/users`` and one user by id.

A user id is exactly one path segment, unquoted once, as Leaf reads it; the
paths under a user's id (its credentials) go to
:class:`~._credentials.FakeCredentials`. A GET of a missing user is 404; a
user is answered with one object per attached credential; the list takes
Leaf's ``email``, ``name`` and ``externalId`` filters, Spring's ``sort``, and
is always paged (20 a page, at most 100). ``PUT /users`` has Leaf's
documented semantics: the body (with the user's ``id``) replaces the whole
user, and a held credential the body does not name by its id is detached.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import unquote

from aiohttp import web

from ._credentials import FakeCredentials
from ._state import State
from ._web import USER_MANAGEMENT, allow, paged, read_json
from ._wire import Problem

__all__ = ["USERS_PATH", "FakeUsers"]

USERS_PATH: Final = USER_MANAGEMENT + "/users"
_FILTERS: Final = ("email", "name", "externalId")


class FakeUsers:
    """The routes of Leaf's users, over the fake's state.

    Args:
        state: The users held.
        credentials: The service answering the paths under a user's id.
    """

    def __init__(self, state: State, credentials: FakeCredentials) -> None:
        self._state = state
        self._credentials = credentials

    async def answer(self, request: web.Request, rest: str) -> web.Response:
        """Answer a path under ``/users``; ``rest`` is the raw path after it.

        Raises:
            Problem: Leaf's error answer.
        """
        parts = rest.split("/")[1:]
        if parts and parts[-1] == "":
            parts.pop()  # "/users/" as in Leaf's Postman collection
        if len(parts) > 3:
            raise Problem(404, f"no such path: {request.rel_url.raw_path}")
        if not parts:
            return await self._users(request)
        user_id = unquote(parts[0])
        if not user_id:
            raise Problem(404, "no such path: empty user id")
        if len(parts) == 1:
            return self._user(request, user_id)
        return await self._credentials.answer(request, user_id, parts[1:])

    async def _users(self, request: web.Request) -> web.Response:
        allow(request, "GET", "POST", "PUT")
        if request.method == "PUT":
            user = self._state.replace_user_from_wire(await read_json(request))
            return web.json_response(self._state.user_json(user))
        if request.method == "POST":
            user = self._state.add_user_from_wire(await read_json(request))
            return web.json_response(
                self._state.user_json(user),
                status=201,
                headers={"Location": f"{USERS_PATH}/{user.id}"},
            )
        query = request.query
        filters = {key: query[key] for key in _FILTERS if key in query}
        ids = self._state.find_user_ids(filters, query.getall("sort", []))
        # Only the page asked for becomes JSON, however many users there are.
        page, headers = paged(request, ids)
        users = self._state.users
        return web.json_response(
            [self._state.user_json(users[user_id]) for user_id in page], headers=headers
        )

    def _user(self, request: web.Request, user_id: str) -> web.Response:
        allow(request, "GET", "DELETE")
        if request.method == "DELETE":
            self._state.delete_user(user_id)
            return web.Response(status=204)
        return web.json_response(self._state.user_json(self._state.user(user_id)))
