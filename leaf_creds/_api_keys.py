"""``leaf.api_keys``: Leaf Link API keys, each acting for one Leaf user.

Leaf's Leaf Link widgets use such a key instead of the API owner's token.
Paths, under User Management::

    GET     /api-keys?leafUserId={leafUserId}
    POST    /api-keys
    DELETE  /api-keys/{apiKeyId}

What Leaf leaves undocumented (see the README's "Connecting growers"), the
SDK is lenient about: every answer field is optional, unknown keys are
ignored, and timestamps with 3, 6 or 9 fractional digits, with or
without a zone, are read as UTC.
"""

from __future__ import annotations

import builtins
import json
from datetime import datetime
from typing import Any, Final

import attrs

from ._exceptions import DecodeError, UnreadableCreateError, ValidationError
from ._expires import check_expires_in
from ._fields import masked
from ._resource import path_segment, user_path
from ._transport import Transport

__all__ = ["API_KEYS_PATH", "ApiKey", "ApiKeys"]

# Under User Management (the transport's `user_management`).
API_KEYS_PATH: Final = "/api-keys"


@attrs.frozen(kw_only=True)
class ApiKey:
    """A Leaf Link API key: lets Leaf's widget act for one Leaf user.

    Creating one answers only ``key``, ``expires_at`` and ``valid`` (no
    id: list the user's keys to find it); a list adds the rest. Revoked keys
    stay in the list with ``valid`` false.

    Attributes:
        key: The key itself, a live secret (``'***'`` in reprs).
        expires_at: When it stops working.
        valid: Whether it still works.
        id: Its id, to revoke it.
        leaf_user_id: The Leaf user it acts for.
        description: Your label.
        revoked_at: When it was revoked.
    """

    key: str | None = attrs.field(default=None, repr=masked)
    expires_at: datetime | None = None
    valid: bool | None = None
    id: str | None = None
    leaf_user_id: str | None = None
    description: str | None = None
    revoked_at: datetime | None = None


class ApiKeys:
    """Leaf Link API keys, reached as ``leaf.api_keys``."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._url = transport.user_management + API_KEYS_PATH

    def __repr__(self) -> str:
        return f"<ApiKeys of {self._transport!r}>"

    async def create(
        self,
        user_id: str,
        *,
        expires_in: int | None = None,
        description: str | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> ApiKey:
        """Create an API key for a Leaf user; a live secret, sent once.

        Args:
            user_id: The Leaf user the key acts for.
            expires_in: Seconds the key works, at least 900 (Leaf's
                default: a year; Leaf documents no maximum, so none is
                imposed).
            description: Your label for it.
            timeout: Seconds one attempt may take, for this call.
            connect_timeout: Seconds to open a new connection, for this call.

        Returns:
            The key (``key`` prints as ``'***'``). Leaf's answer has no id:
            :meth:`list` the user's keys to find it. ``leaf_user_id`` is
            filled from the request.

        Raises:
            ValidationError: The input is invalid; nothing was sent.
            TransportError, ServerError: The outcome is unknown. It is not
                sent twice: a second key would be another live secret. List
                the user's keys and revoke any you do not hold.
            UnreadableCreateError: Leaf answered 2xx with a body that is not
                a key: one was made or may have been (never sent again); an
                ``OutcomeUnknownError`` and a ``DecodeError``.
            LeafError: Any other failure; see the exception tree.
        """
        user_path(user_id)  # the same rules as a user id in a path
        body: dict[str, Any] = {"leafUserId": user_id}
        expires = check_expires_in(expires_in, capped=False)
        if expires is not None:
            body["expiresIn"] = expires
        if description is not None:
            if not isinstance(description, str):
                raise ValidationError("description= must be a string")
            body["description"] = description
        transport = self._transport
        url = self._url
        answer = await transport.request(
            "POST",
            url,
            transport.timeouts_for(timeout, connect_timeout),
            data=json.dumps(body).encode(),
        )
        try:
            key = transport.decode_object(ApiKey, answer, "POST", url)
        except DecodeError as exc:
            raise UnreadableCreateError(
                f"the create of an API key for Leaf user {user_id!r} was answered "
                f"{answer.status}, so it was applied or may have been, but its answer is not "
                f"the key ({exc}). Do not create another blindly: list the user's keys with "
                f"api_keys.list({user_id!r}) and revoke any you do not hold.",
                provider="",
                user_id=user_id,
                attempts=answer.attempts,
                method="POST",
                url=url,
                status=answer.status,
            ) from exc
        return key if key.leaf_user_id is not None else attrs.evolve(key, leaf_user_id=user_id)

    async def list(
        self,
        user_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> builtins.list[ApiKey]:
        """Return a Leaf user's API keys, revoked ones included (``valid`` false).

        Raises:
            ValidationError: The user id is invalid; nothing was sent.
            DecodeError: The answer is not a JSON array of keys.
            LeafError: Any other failure; see the exception tree.
        """
        user_path(user_id)
        transport = self._transport
        return await transport.list_all(
            self._url, ApiKey, "API keys",
            transport.timeouts_for(timeout, connect_timeout), {"leafUserId": user_id},
        )  # fmt: skip

    async def revoke(
        self,
        key_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        """Revoke an API key by its id; it stays listed with ``valid`` false.

        Raises:
            ValidationError: The id is invalid; nothing was sent.
            NotFoundError: No such key.
            LeafError: Any other failure; see the exception tree.
        """
        url = self._url + "/" + path_segment(key_id, "API key id")
        transport = self._transport
        await transport.request("DELETE", url, transport.timeouts_for(timeout, connect_timeout))
