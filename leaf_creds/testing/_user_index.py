"""The fake's Leaf users, indexed for what requests look up.

No request costs time in proportion to every user held: a fake of tens of
thousands of users must page, filter and sort as fast as one of ten. Nothing
here does I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

import attrs

from ._wire import Problem

__all__ = ["USER_FIELDS", "FakeUser", "UserIndex"]

USER_FIELDS: Final = ("name", "email", "phone", "address", "externalId")
"""The wire names of a user's fields besides its id."""
_SORTABLE = {"id": "id", "name": "name", "email": "email", "phone": "phone",
             "address": "address", "externalId": "external_id"}  # fmt: skip
_FILTERABLE = tuple((wire, _SORTABLE[wire]) for wire in USER_FIELDS)
_FOUND_CACHE = 32  # filtered or sorted id lists kept; more distinct queries start afresh


@attrs.frozen(kw_only=True)
class FakeUser:
    """A Leaf user held by the fake server."""

    id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    address: str | None = None
    external_id: str | None = None


def _sort_spec(spec: str) -> tuple[str, bool]:
    """Return the attribute and descending flag of a Spring ``sort`` value."""
    prop, _, direction = spec.partition(",")
    attr = _SORTABLE.get(prop)
    if attr is None or direction.lower() not in {"", "asc", "desc"}:
        raise Problem(400, f"cannot sort by {spec!r}")
    return attr, direction.lower() == "desc"


def _sort_key(attr: str) -> Callable[[FakeUser], tuple[bool, str]]:
    def key(user: FakeUser) -> tuple[bool, str]:
        value = getattr(user, attr)
        return value is None, value or ""

    return key


class UserIndex:
    """Users by id, in creation order, with an index per filterable field."""

    def __init__(self) -> None:
        self._users: dict[str, FakeUser] = {}
        # User ids in creation order, for paging by position; a deleted id
        # stays until the next page is cut (one compaction per burst of deletes).
        self._order: list[str] = []
        self._deleted: set[str] = set()
        # Filterable wire field -> value -> the ids holding it, in creation order.
        self._by_field: dict[str, dict[str, dict[str, None]]] = {f: {} for f in USER_FIELDS}
        # Filtered or sorted id lists, reused while no user is added or deleted.
        self._version = 0
        self._found: dict[Any, tuple[int, list[str]]] = {}

    @property
    def users(self) -> Mapping[str, FakeUser]:
        """The users by id, in creation order (a live, read-only view)."""
        return MappingProxyType(self._users)

    def reset(self) -> None:
        """Forget every user."""
        self._users.clear()
        self._order.clear()
        self._deleted.clear()
        for index in self._by_field.values():
            index.clear()
        self._found.clear()
        self._version += 1

    def add(self, user: FakeUser) -> None:
        """Hold a new user.

        Raises:
            ValueError: A user with that id exists.
        """
        user_id = user.id
        if user_id in self._users:
            raise ValueError(f"a Leaf user with id {user_id!r} exists already")
        if user_id in self._deleted:
            self._compact()  # else the id would sit in _order twice
        self._users[user_id] = user
        self._order.append(user_id)
        for wire, attr in _FILTERABLE:
            value = getattr(user, attr)
            if value is not None:
                self._by_field[wire].setdefault(value, {})[user_id] = None
        self._version += 1

    def remove(self, user: FakeUser) -> None:
        """Stop holding a user that is held."""
        user_id = user.id
        del self._users[user_id]
        self._deleted.add(user_id)
        self._unindex(user)
        self._version += 1

    def replace(self, old: FakeUser, new: FakeUser) -> None:
        """Hold ``new`` in place of the held ``old`` (same id), keeping its position."""
        changed = [(w, a) for w, a in _FILTERABLE if getattr(old, a) != getattr(new, a)]
        self._unindex(old, changed)
        self._users[new.id] = new
        for wire, attr in changed:
            value = getattr(new, attr)
            if value is not None:
                self._by_field[wire].setdefault(value, {})[new.id] = None
        self._version += 1

    def _unindex(self, user: FakeUser, fields: Iterable[tuple[str, str]] = _FILTERABLE) -> None:
        for wire, attr in fields:
            value = getattr(user, attr)
            holders = self._by_field[wire].get(value) if value is not None else None
            if holders is not None:
                holders.pop(user.id, None)
                if not holders:
                    del self._by_field[wire][value]

    def _compact(self) -> None:
        if self._deleted:
            self._order = [user_id for user_id in self._order if user_id not in self._deleted]
            self._deleted.clear()

    def find_ids(self, filters: Mapping[str, str], sort: Iterable[str] = ()) -> Sequence[str]:
        """Return the ids of the users whose fields equal every filter, sorted.

        The answer is valid until the next user is added or deleted: cut the
        page you need from it, without copying the rest.

        Args:
            filters: Wire names of user fields (``email``, ``name``,
                ``externalId``, ``phone``, ``address``) to values.
            sort: Spring ``sort`` values, e.g. ``name,asc``; creation order
                when empty.

        Raises:
            Problem: 400 for a property that cannot be sorted on.
        """
        specs = tuple(sort)
        orders = [_sort_spec(spec) for spec in specs]
        if not filters and not orders:
            self._compact()
            return self._order
        key = (tuple(sorted(filters.items())), specs)
        found = self._found.get(key)
        if found is not None and found[0] == self._version:
            return found[1]
        users = [self._users[user_id] for user_id in self._matching(filters)]
        # The last sort key is applied first, so the first one wins (stable sort).
        for attr, descending in reversed(orders):
            users.sort(key=_sort_key(attr), reverse=descending)
        ids = [user.id for user in users]
        if len(self._found) >= _FOUND_CACHE:
            self._found.clear()
        self._found[key] = (self._version, ids)
        return ids

    def _matching(self, filters: Mapping[str, str]) -> list[str]:
        self._compact()
        # Walk the fewest candidates: the holders of the rarest filtered value.
        candidates: Collection[str] = self._order
        for key, value in filters.items():
            held = self._by_field[key].get(value, {}).keys()
            if len(held) < len(candidates):
                candidates = held
        return [
            user_id
            for user_id in candidates
            if all(
                getattr(self._users[user_id], _SORTABLE[key]) == value
                for key, value in filters.items()
            )
        ]
