"""The fake's in-memory data: Leaf users, their credentials, and the events log.

Nothing here does I/O. Operations that Leaf would refuse raise
:class:`Problem`, which the server turns into a problem-JSON answer.
"""

from __future__ import annotations

import json
import typing
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

from leaf_creds import (
    CredentialRecord,
    CredentialResource,
    Registry,
    UnknownProviderError,
    ValidationError,
    is_secret,
    make_converter,
)

from .._converter import format_datetime
from .._fields import camel_case, wire_name
from ._user_index import USER_FIELDS, FakeUser, UserIndex
from ._wire import Problem

__all__ = ["State", "user_credentials_key"]

_RECORD_BASE = frozenset(a.name for a in attrs.fields(CredentialRecord))
# The provider status code an event records for each credential status.
_EVENT_STATUS = {"OK": 200, "UNAUTHENTICATED": 401, "MISSING_PERMISSION": 403,
                 "TEMPORARILY_UNAVAILABLE": 503}  # fmt: skip


def user_credentials_key(slug: str) -> str:
    """Return the key of a provider's credential embedded in a user, e.g. ``senteraCredentials``."""
    return camel_case(slug.replace("-", "_")) + "Credentials"


def _field_errors(object_name: str, error: ValidationError) -> list[dict[str, str | None]]:
    # Our errors read "message @ $.wireName"; Leaf's fieldErrors split the two.
    errors: list[dict[str, str | None]] = []
    for line in error.errors:
        message, _, where = line.rpartition(" @ $.")
        errors.append(
            {"objectName": object_name, "field": where, "message": message}
            if message
            else {"objectName": object_name, "field": None, "message": line}
        )
    return errors


def _accepts_str(annotation: Any) -> bool:
    return annotation is str or str in typing.get_args(annotation)


class State:
    """Leaf users and their provider credentials, in memory.

    Args:
        registry: The providers whose credential endpoints exist.
        clock: Returns the current time (seconds since the epoch).
    """

    def __init__(self, registry: Registry, clock: Callable[[], float]) -> None:
        self.registry = registry
        self._clock = clock
        self.converter = make_converter()
        self._index = UserIndex()
        # User id -> provider slug -> stored record.
        self._credentials: dict[str, dict[str, dict[str, Any]]] = {}
        self._events: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._hints: dict[type, dict[str, Any]] = {}

    @property
    def users(self) -> Mapping[str, FakeUser]:
        """The users by id, in creation order (a live, read-only view)."""
        return self._index.users

    def reset(self) -> None:
        """Forget every user, credential and event."""
        self._index.reset()
        self._credentials.clear()
        self._events.clear()

    def _now(self) -> str:
        return format_datetime(datetime.fromtimestamp(self._clock(), UTC))

    # -- users -------------------------------------------------------------

    def add_user(
        self,
        *,
        id: str | None = None,
        name: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        address: str | None = None,
        external_id: str | None = None,
    ) -> FakeUser:
        """Add a user; a UUID id is generated when none is given.

        Raises:
            ValueError: A user with that id exists.
        """
        user = FakeUser(
            id=id if id is not None else str(uuid.uuid4()),
            name=name,
            email=email,
            phone=phone,
            address=address,
            external_id=external_id,
        )
        self._index.add(user)
        return user

    def add_user_from_wire(self, body: Any) -> FakeUser:
        """Add a user from the JSON body of ``POST /users``.

        Raises:
            Problem: 400 when the body is not a user without an id.
        """
        if not isinstance(body, dict):
            raise Problem(400, "the body must be a JSON object")
        if body.get("id") is not None:
            raise Problem(400, "A new leafUser cannot already have an ID", error_key="idexists")
        errors = [
            {"objectName": "leafUser", "field": key, "message": "must be a string"}
            for key in USER_FIELDS
            if body.get(key) is not None and not isinstance(body[key], str)
        ]
        if errors:
            raise Problem(400, "Validation failed", field_errors=errors)
        return self.add_user(
            name=body.get("name"),
            email=body.get("email"),
            phone=body.get("phone"),
            address=body.get("address"),
            external_id=body.get("externalId"),
        )

    def replace_user_from_wire(self, body: Any) -> FakeUser:
        """Replace a user from the JSON body of ``PUT /users``, as Leaf does.

        The fields the body leaves out become null, and every credential the
        body does not name (``"<provider>Credentials": {"id": ...}``, with the
        stored id) is detached, with its events.

        Raises:
            Problem: 400 when the body has no id, a field is not a string, or
                it names a credential by another id; 404 when there is no
                such user.
        """
        if not isinstance(body, dict):
            raise Problem(400, "the body must be a JSON object")
        user_id = body.get("id")
        if not isinstance(user_id, str) or not user_id:
            raise Problem(400, "Invalid id", error_key="idnull")
        old = self.user(user_id)
        errors = [
            {"objectName": "leafUser", "field": key, "message": "must be a string"}
            for key in USER_FIELDS
            if body.get(key) is not None and not isinstance(body[key], str)
        ]
        held = self._credentials.get(user_id, {})
        kept: list[str] = []
        for slug, record in held.items():
            named = body.get(user_credentials_key(slug))
            if named is None:
                continue
            if not isinstance(named, dict) or named.get("id") != record["id"]:
                errors.append(
                    {"objectName": "leafUser", "field": user_credentials_key(slug),
                     "message": "does not name the credential the user holds"}
                )  # fmt: skip
            kept.append(slug)
        if errors:
            raise Problem(400, "Validation failed", field_errors=errors)
        for slug in [slug for slug in held if slug not in kept]:
            self.delete_credential(user_id, slug)
        new = FakeUser(
            id=user_id,
            name=body.get("name"),
            email=body.get("email"),
            phone=body.get("phone"),
            address=body.get("address"),
            external_id=body.get("externalId"),
        )
        self._index.replace(old, new)
        return new

    def user(self, user_id: str) -> FakeUser:
        """Return a user.

        Raises:
            Problem: 404 when there is no such user.
        """
        user = self._index.users.get(user_id)
        if user is None:
            raise Problem(404, f"Leaf user {user_id} not found")
        return user

    def delete_user(self, user_id: str) -> None:
        """Delete a user with its credentials and their events.

        Raises:
            Problem: 404 when there is no such user.
        """
        self._index.remove(self.user(user_id))
        for slug in self._credentials.pop(user_id, {}):
            self._events.pop((user_id, slug), None)

    def find_user_ids(
        self, filters: Mapping[str, str], sort: Iterable[str] = ()
    ) -> Sequence[str]:
        """Return the ids of the users whose fields equal every filter, sorted.

        Valid until the next user is added or deleted; see
        :meth:`~._user_index.UserIndex.find_ids`.
        """
        return self._index.find_ids(filters, sort)

    def find_users(
        self, filters: Mapping[str, str], sort: Iterable[str] = ()
    ) -> list[FakeUser]:
        """Return the users whose fields equal every filter, sorted.

        Args:
            filters: Wire names (``email``, ``name``, ``externalId``) to values.
            sort: Spring ``sort`` values, e.g. ``name,asc``; creation order
                when empty.

        Raises:
            Problem: 400 for a property that cannot be sorted on.
        """
        users = self._index.users
        return [users[user_id] for user_id in self.find_user_ids(filters, sort)]

    def user_json(self, user: FakeUser) -> dict[str, Any]:
        """Return a user as Leaf answers it, with one object per attached credential."""
        data: dict[str, Any] = {
            "id": user.id,
            "name": user.name,
            "email": user.email,
            "phone": user.phone,
            "address": user.address,
            "externalId": user.external_id,
        }
        for slug, record in self._credentials.get(user.id, {}).items():
            data[user_credentials_key(slug)] = dict(record)
        return data

    # -- credentials ---------------------------------------------------------

    def resource(self, slug: str) -> CredentialResource[Any, Any]:
        """Return a registered provider.

        Raises:
            Problem: 404 when no provider has that slug.
        """
        try:
            return self.registry.get(slug)
        except UnknownProviderError:
            raise Problem(404, f"no provider {slug!r}") from None

    def credential(self, user_id: str, slug: str) -> dict[str, Any]:
        """Return a stored credential record.

        Raises:
            Problem: 404 when there is no such user or credential.
        """
        self.user(user_id)
        try:
            return self._credentials[user_id][slug]
        except KeyError:
            raise Problem(
                404, f"Leaf user {user_id} has no {slug} credentials"
            ) from None

    def peek(self, user_id: str, slug: str) -> dict[str, Any] | None:
        """Return a copy of a stored credential record, or None."""
        record = self._credentials.get(user_id, {}).get(slug)
        return None if record is None else dict(record)

    def create_credential(self, user_id: str, slug: str, body: Any) -> dict[str, Any]:
        """Validate a create body against the provider's schema and store it.

        Returns:
            The stored record.

        Raises:
            Problem: 404 (no such user), 409 (a credential exists), 400 (the
                body does not fit the provider's schema).
        """
        resource = self.resource(slug)
        self.user(user_id)
        if slug in self._credentials.get(user_id, {}):
            raise Problem(
                409,
                f"Leaf user {user_id} already has {slug} credentials; delete them first",
                error_key="credentialsexist",
            )
        try:
            credentials = resource.credentials_from_wire(body, converter=self.converter)
        except ValidationError as exc:
            raise Problem(
                400,
                f"invalid {slug} credentials",
                title="Method argument not valid",
                field_errors=_field_errors(user_credentials_key(slug), exc),
            ) from None
        record = self._record(resource, self.converter.unstructure(credentials, resource.schema))
        self._credentials.setdefault(user_id, {})[slug] = record
        self._events[user_id, slug] = []
        self._log_event(
            user_id, slug, 200, {"message": f"{resource.name} credentials are valid"}
        )
        return record

    def _record(
        self, resource: CredentialResource[Any, Any], body: Mapping[str, Any]
    ) -> dict[str, Any]:
        record: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "status": "OK",
            "createdTime": self._now(),
        }
        hints = self._hints.get(resource.record)
        if hints is None:  # resolving string annotations costs more than the rest of a create
            hints = self._hints[resource.record] = typing.get_type_hints(resource.record)
        # Echo what the record shares with the create body (secrets too, as
        # Leaf does) and invent what the provider would have added.
        for attribute in attrs.fields(resource.record):
            if attribute.name in _RECORD_BASE:
                continue
            wire = wire_name(attribute)
            if wire in body:
                record[wire] = body[wire]
            elif wire == "tokenMetadata":
                record[wire] = {"scopes": []}
            elif not _accepts_str(hints.get(attribute.name)):
                continue
            elif is_secret(attribute):
                record[wire] = f"fake-{wire}-{uuid.uuid4().hex}"
            elif wire.endswith("Id"):
                record[wire] = str(uuid.uuid4())
        return record

    def read_credential(self, user_id: str, slug: str) -> dict[str, Any]:
        """Return a stored credential as GET does, logging the read as an event.

        Raises:
            Problem: 404 when there is no such user or credential.
        """
        record = self.credential(user_id, slug)
        self._log_event(user_id, slug, 200, {"message": "credentials read"})
        return record

    def delete_credential(self, user_id: str, slug: str) -> None:
        """Delete a credential and its events.

        Raises:
            Problem: 404 when there is no such user or credential.
        """
        self.credential(user_id, slug)
        held = self._credentials[user_id]
        del held[slug]
        if not held:
            del self._credentials[user_id]
        self._events.pop((user_id, slug), None)

    def events(self, user_id: str, slug: str) -> list[dict[str, Any]]:
        """Return a credential's events, oldest first.

        Raises:
            Problem: 404 when there is no such user or credential.
        """
        self.credential(user_id, slug)
        return list(self._events.get((user_id, slug), []))

    def set_status(self, user_id: str, slug: str, status: str) -> dict[str, Any]:
        """Change a credential's status and log an event; return the record.

        Raises:
            LookupError: There is no such user or credential.
        """
        try:
            record = self.credential(user_id, slug)
        except Problem as exc:
            raise LookupError(exc.detail) from None
        record["status"] = str(status)
        self._log_event(
            user_id,
            slug,
            _EVENT_STATUS.get(record["status"], 200),
            {"status": record["status"], "message": "credential status changed"},
        )
        return dict(record)

    def log_provider_refusal(self, user_id: str, slug: str, fields: Sequence[str]) -> None:
        """Log the provider's 401 to Leaf's check of a credential whose ``fields`` it refused.

        Raises:
            Problem: 404 when there is no such user or credential.
        """
        self.credential(user_id, slug)
        names = ", ".join(fields)
        # Never the values: they sit in secret fields, placeholders or not.
        self._log_event(
            user_id,
            slug,
            401,
            {
                "error": "invalid_grant",
                "message": f"the provider refused the credential: {names} is not a real "
                "value but a placeholder",
            },
        )

    def _log_event(
        self, user_id: str, slug: str, status_code: int, body: Mapping[str, str]
    ) -> None:
        self._events.setdefault((user_id, slug), []).append(
            {
                "id": str(uuid.uuid4()),
                "body": json.dumps(body),
                "headers": json.dumps({"Content-Type": "application/json"}),
                "statusCode": status_code,
                "createdDate": self._now(),
            }
        )
