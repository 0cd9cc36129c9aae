"""Seeding a fake Leaf: generated users, and a JSON document of users and credentials.

A seed document (``leaf-creds fake-server --seed-file FILE``,
:meth:`FakeLeaf.load_seed`) is one JSON object::

    {"users": [
        {"id": "u1", "name": "Ada", "email": "ada@example.com", "externalId": "farm-1",
         "credentials": {"sentera": {"username": "ada", "password": "...",
                                     "organizationName": "Ada's farm"}},
         "statuses": {"sentera": "UNAUTHENTICATED"}}
    ]}

Each user takes Leaf's user fields (``id``, ``name``, ``email``, ``phone``,
``address``, ``externalId``; all optional, a UUID id is made up when none is
given), ``credentials`` maps a provider slug to its camelCase create body,
and ``statuses`` sets a credential's status afterwards, as Leaf does in the
background. Three more keys set what ``leaf.diagnose`` reads:
``okFor`` maps a slug to the seconds the credential has already been ``OK``
(its ``createdTime`` moved back, so that Leaf has synced it once past
``fake.integrations.sync_delay``), ``organizations`` maps ``john-deere`` or
``trimble`` to its organizations (``[{"id", "name", "status", "shared"}]``,
see ``FakeOrganizations.set``), and ``configuration`` is the user's own
configuration keys. The whole document is checked before anything is added.

Seeding works on the fake's state and its credentials service, as the
fake's own set-up methods do; the server calls it, never the other way.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from leaf_creds import UnknownProviderError, ValidationError

from .._converter import format_datetime
from ._configurations import FakeConfigurations
from ._credentials import FakeCredentials
from ._organizations import ORGANIZATION_PROVIDERS, FakeOrganizations, check_organizations
from ._state import State
from ._user_index import FakeUser

__all__ = ["generated_user_id", "load_seed", "seed_users"]

_USER_KEYS = {"id": "id", "name": "name", "email": "email", "phone": "phone",
              "address": "address", "externalId": "external_id"}  # fmt: skip
_EXTRA_KEYS = ("credentials", "statuses", "okFor", "organizations", "configuration")
# Generated users get ids derived from their number, so that a restarted
# fake-server --users N holds the very same users.
_NAMESPACE = uuid.UUID("6f1c5a52-4b0e-4a4e-9d6a-2f6c1e0b7a11")


def generated_user_id(number: int) -> str:
    """Return the id of generated user ``number``: the same UUID on every run."""
    return str(uuid.uuid5(_NAMESPACE, f"leaf-creds-fake-user-{number}"))


def seed_users(add_user: Callable[..., FakeUser], count: int) -> list[FakeUser]:
    """Add ``count`` users without credentials, with stable ids, names and emails.

    User ``i`` (from 0) is ``Grower 0000``, ``grower0000@example.com``,
    external id ``farm-0000``, with id :func:`generated_user_id` ``(i)``.

    Args:
        add_user: Adds one user from Leaf's user fields (``id``, ``name``,
            ``email``, ``external_id``), as :meth:`FakeLeaf.add_user` does.
        count: How many.
    """
    return [
        add_user(
            id=generated_user_id(i),
            name=f"Grower {i:04d}",
            email=f"grower{i:04d}@example.com",
            external_id=f"farm-{i:04d}",
        )
        for i in range(count)
    ]


def load_seed(
    state: State,
    credentials: FakeCredentials,
    document: Any,
    *,
    organizations: FakeOrganizations | None = None,
    configurations: FakeConfigurations | None = None,
) -> list[FakeUser]:
    """Add the users, credentials, statuses, organizations and configurations of a seed.

    Raises:
        ValidationError: The document does not fit the format, names an
            unknown provider or an existing user, or holds an invalid
            credential; every problem is listed and nothing is added.
    """
    users = _check(state, document)
    added = []
    for entry in users:
        fields = {_USER_KEYS[key]: value for key, value in entry.items() if key in _USER_KEYS}
        user = state.add_user(**fields)
        for slug, body in entry.get("credentials", {}).items():
            credentials.add(user.id, slug, body)
        for slug, status in entry.get("statuses", {}).items():
            credentials.set_status(user.id, slug, status)
        for slug, seconds in entry.get("okFor", {}).items():
            record = state.credential(user.id, slug)
            created = datetime.fromisoformat(record["createdTime"]) - timedelta(seconds=seconds)
            record["createdTime"] = format_datetime(created)
        if organizations is not None:
            for slug, orgs in entry.get("organizations", {}).items():
                organizations.set(user.id, slug, orgs)
        if configurations is not None and entry.get("configuration"):
            configurations.set(user.id, entry["configuration"])
        added.append(user)
    return added


def _check(state: State, document: Any) -> list[Mapping[str, Any]]:
    if not isinstance(document, Mapping) or set(document) - {"users"}:
        raise ValidationError('a seed document is a JSON object {"users": [...]}')
    users = document.get("users", [])
    if not isinstance(users, list):
        raise ValidationError("users must be a JSON array @ $.users")
    errors: list[str] = []
    ids: set[str] = set()
    for number, entry in enumerate(users):
        errors += _check_user(state, entry, f"$.users[{number}]", ids)
    if errors:
        raise ValidationError(
            f"the seed document has {len(errors)} problem(s): {errors[0]}", errors=errors
        )
    return users


def _check_user(state: State, entry: Any, where: str, ids: set[str]) -> list[str]:
    if not isinstance(entry, Mapping):
        return [f"must be a JSON object @ {where}"]
    errors = [
        f"unknown key {key!r} @ {where}"
        for key in entry
        if key not in _USER_KEYS and key not in _EXTRA_KEYS
    ]
    errors += [
        f"must be a string @ {where}.{key}"
        for key in _USER_KEYS
        if entry.get(key) is not None and not isinstance(entry[key], str)
    ]
    user_id = entry.get("id")
    if isinstance(user_id, str):
        if user_id in ids or user_id in state.users:
            errors.append(f"a user with id {user_id!r} exists already @ {where}.id")
        ids.add(user_id)
    return errors + _check_attached(state, entry, where)


def _check_attached(state: State, entry: Mapping[str, Any], where: str) -> list[str]:
    """Check a seeded user's ``credentials`` and ``statuses``."""
    errors: list[str] = []
    credentials = entry.get("credentials", {})
    statuses = entry.get("statuses", {})
    for key, value in (("credentials", credentials), ("statuses", statuses)):
        if not isinstance(value, Mapping):
            errors.append(f"must be a JSON object of provider slugs @ {where}.{key}")
    if isinstance(credentials, Mapping):
        for slug, body in credentials.items():
            errors += _check_credential(state, slug, body, f"{where}.credentials.{slug}")
    if isinstance(statuses, Mapping):
        for slug, status in statuses.items():
            if not isinstance(status, str) or not status:
                errors.append(f"must be a status string @ {where}.statuses.{slug}")
            elif not isinstance(credentials, Mapping) or slug not in credentials:
                errors.append(f"no {slug} credential to set the status of @ {where}.statuses")
    return errors + _check_diagnosed(entry, credentials, where)


def _check_diagnosed(entry: Mapping[str, Any], credentials: Any, where: str) -> list[str]:
    """Check a seeded user's ``okFor``, ``organizations`` and ``configuration``."""
    errors: list[str] = []
    held = credentials if isinstance(credentials, Mapping) else {}
    ok_for = entry.get("okFor", {})
    if not isinstance(ok_for, Mapping):
        errors.append(f"must be a JSON object of provider slugs @ {where}.okFor")
    else:
        for slug, seconds in ok_for.items():
            if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
                errors.append(f"must be a number of seconds @ {where}.okFor.{slug}")
            elif slug not in held:
                errors.append(f"no {slug} credential to date @ {where}.okFor")
    orgs = entry.get("organizations", {})
    if not isinstance(orgs, Mapping):
        errors.append(f"must be a JSON object of provider slugs @ {where}.organizations")
    else:
        for slug, listed in orgs.items():
            at = f"{where}.organizations.{slug}"
            if slug not in ORGANIZATION_PROVIDERS:
                errors.append(f"Leaf lists organizations of john-deere and trimble only @ {at}")
            elif slug not in held:
                errors.append(f"no {slug} credential to give organizations to @ {at}")
            else:
                errors += [f"{problem} @ {at}" for problem in check_organizations(listed)]
    configuration = entry.get("configuration", {})
    if not isinstance(configuration, Mapping):
        errors.append(f"must be a JSON object of configuration keys @ {where}.configuration")
    return errors


def _check_credential(state: State, slug: str, body: Any, where: str) -> list[str]:
    try:
        resource = state.registry.get(slug)
    except UnknownProviderError as exc:
        return [f"{exc} @ {where}"]
    if not isinstance(body, Mapping):
        return [f"must be the provider's camelCase create body @ {where}"]
    try:
        resource.credentials_from_wire(body)
    except ValidationError as exc:
        # "message @ $.field" of the body becomes "message @ <where>.field".
        return [line.replace(" @ $", f" @ {where}", 1) for line in exc.errors]
    return []
