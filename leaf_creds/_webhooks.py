"""``leaf.webhooks``: webhooks registered with Leaf's Alerts service.

Paths, under the Alerts service::

    GET  POST      /alerts/webhooks
    GET  DELETE    /alerts/webhooks/{webhookId}
    GET            /alerts/webhooks/failed-calls

What a registration looks like and what Leaf then delivers (pure) is in
``_alerts``, a failed call in ``_failed_calls``; serving the deliveries is
``_receiver``'s.

A webhook cannot be updated, and two cannot share an event (Leaf answers
400 ``eventRegisteredTwice``): :meth:`Webhooks.rotate_secret` deletes the
webhook and registers it again with the new secret. Leaf delivers nothing
for the events in between (the gap is two requests long); what it failed to
deliver once the new webhook exists shows in its failed calls, which the
rotation reads back.
"""

from __future__ import annotations

import builtins
import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

import attrs

from ._alerts import (
    ALERTS_SERVICE,
    CREDENTIALS_LIMITED_PERMISSION,
    CREDENTIALS_UNAUTHENTICATED,
    WEBHOOKS_PATH,
    Webhook,
    webhook_body,
    webhook_path,
)
from ._envelope import enveloped_list
from ._exceptions import LeafError, ValidationError
from ._failed_calls import FAILED_CALLS_PATH, FailedCall
from ._transport import Transport, json_array, structure

__all__ = ["SecretRotation", "Webhooks"]

log = logging.getLogger("leaf_creds")


@attrs.frozen(kw_only=True)
class SecretRotation:
    """A webhook registered again with a new secret.

    Attributes:
        webhook: The new registration (its own id; the secret prints as ``'***'``).
        replaced: The registration that was deleted.
        started_at: When the old one was deleted, as an aware UTC datetime.
        finished_at: When the new one was registered.
        failed_calls: Leaf's failed calls to the webhook's URL since
            ``started_at``, read right after; None when they could not be
            read. Replay them (``AlertReceiver.replay``) once your receiver
            accepts the new secret.
    """

    webhook: Webhook
    replaced: Webhook
    started_at: datetime
    finished_at: datetime
    failed_calls: tuple[FailedCall, ...] | None = None


class Webhooks:
    """Webhooks of Leaf's Alerts service, reached as ``leaf.webhooks``.

    Calling it (``await leaf.webhooks()``) is :meth:`list`, as it always was;
    ``leaf.register_webhook``, ``leaf.webhook`` and ``leaf.delete_webhook``
    are :meth:`register`, :meth:`get` and :meth:`delete`.
    """

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._url = transport.base_url + ALERTS_SERVICE + WEBHOOKS_PATH

    def __repr__(self) -> str:
        return f"<Webhooks of {self._transport!r}>"

    async def __call__(
        self, *, timeout: float | None = None, connect_timeout: float | None = None
    ) -> builtins.list[Webhook]:
        """Return every registered webhook: :meth:`list`."""
        return await self.list(timeout=timeout, connect_timeout=connect_timeout)

    async def register(
        self,
        *,
        name: str,
        url: str,
        secret: str,
        events: Iterable[str] | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> Webhook:
        """Register a webhook with Leaf's Alerts service.

        Leaf then POSTs a confirmation to ``url``, and signs every delivery
        with ``secret``; serve them with :func:`aiohttp_handler` or
        :class:`AlertReceiver`. A webhook cannot be changed: delete it and
        register another.

        Args:
            name: The webhook's name.
            url: Where Leaf POSTs the alerts (absolute http or https).
            secret: The key Leaf signs deliveries with; never logged or printed.
            events: The event types to receive; None means the two credential
                events, ``credentialsUnauthenticated`` and
                ``credentialsLimitedPermission``.
            timeout: Seconds one attempt may take, for this call.
            connect_timeout: Seconds to open a new connection, for this call.

        Raises:
            ValidationError: The input is invalid; nothing was sent.
            BadRequestError: Leaf refused it, e.g. an event already has a
                webhook (``eventRegisteredTwice``).
            TransportError, ServerError: The outcome is unknown (the request
                is not sent twice blindly); list the webhooks before
                registering again.
            LeafError: Any other failure; see the exception tree.
        """
        if events is None:
            events = (CREDENTIALS_UNAUTHENTICATED, CREDENTIALS_LIMITED_PERMISSION)
        body = webhook_body(name=name, url=url, secret=secret, events=events)
        transport = self._transport
        timeouts = transport.timeouts_for(timeout, connect_timeout)
        # Not idempotent, and not reconciled like a credential create: names
        # need not be unique, so a GET cannot tell this webhook from another.
        answer = await transport.request(
            "POST", self._url, timeouts, data=json.dumps(body).encode(), secrets=[secret]
        )
        return transport.decode_object(Webhook, answer, "POST", self._url)

    async def list(
        self, *, timeout: float | None = None, connect_timeout: float | None = None
    ) -> builtins.list[Webhook]:
        """Return every webhook registered with Leaf's Alerts service.

        Raises:
            DecodeError: The answer is not a JSON array of webhooks.
            LeafError: Any other failure; see the exception tree.
        """
        transport = self._transport
        answer = await transport.request(
            "GET", self._url, transport.timeouts_for(timeout, connect_timeout)
        )
        data = json_array(answer, self._url, "webhooks")
        hook = transport.structure_hook(builtins.list[Webhook])
        found: builtins.list[Webhook] = structure(
            hook, data, builtins.list[Webhook], "GET", self._url, answer.status
        )
        return found

    async def get(
        self,
        webhook_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> Webhook:
        """Return one registered webhook.

        Raises:
            ValidationError: ``webhook_id`` is empty; nothing was sent.
            NotFoundError: No webhook has that id.
            LeafError: Any other failure; see the exception tree.
        """
        transport = self._transport
        target = transport.base_url + ALERTS_SERVICE + webhook_path(webhook_id)
        answer = await transport.request(
            "GET", target, transport.timeouts_for(timeout, connect_timeout)
        )
        return transport.decode_object(Webhook, answer, "GET", target)

    async def delete(
        self,
        webhook_id: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> None:
        """Delete a webhook; Leaf stops delivering to its URL.

        Raises:
            ValidationError: ``webhook_id`` is empty; nothing was sent.
            NotFoundError: No webhook has that id.
            LeafError: Any other failure; see the exception tree.
        """
        transport = self._transport
        target = transport.base_url + ALERTS_SERVICE + webhook_path(webhook_id)
        await transport.request("DELETE", target, transport.timeouts_for(timeout, connect_timeout))

    async def failed_calls(
        self,
        *,
        url: str | None = None,
        since: datetime | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> builtins.list[FailedCall]:
        """Return the deliveries Leaf could not make: alerts your receiver never acknowledged.

        Replay them into your receiver with :meth:`AlertReceiver.replay`,
        which skips those handled since.

        Args:
            url: Only the calls to this URL (a webhook's ``url``).
            since: Only the calls that failed at or after this aware datetime.
            timeout: Seconds one attempt may take, for each page.
            connect_timeout: Seconds to open a new connection, for each page.

        Raises:
            ValidationError: ``since`` is not an aware datetime; nothing was sent.
            DecodeError: The answer is not Leaf's ``{"items": [...]}``.
            LeafError: Any other failure; see the exception tree.
        """
        given: object = since  # typed for callers, checked for what they pass
        if given is not None and (not isinstance(given, datetime) or given.tzinfo is None):
            raise ValidationError("since= must be an aware datetime, e.g. datetime.now(UTC)")
        transport = self._transport
        target = transport.base_url + ALERTS_SERVICE + FAILED_CALLS_PATH
        calls = await enveloped_list(
            transport, target, "items", FailedCall, "failed calls",
            transport.timeouts_for(timeout, connect_timeout),
        )  # fmt: skip
        return [
            call
            for call in calls
            if (url is None or call.url == url)
            and (since is None or (call.created_at is not None and call.created_at >= since))
        ]

    async def rotate_secret(
        self,
        webhook_id: str,
        secret: str,
        *,
        timeout: float | None = None,
        connect_timeout: float | None = None,
    ) -> SecretRotation:
        """Register a webhook again with a new secret: delete it, then create it.

        Leaf has no update, and refuses a second webhook on the same events,
        so this is the only way. Make your receiver accept both secrets
        first (``AlertReceiver([old, new], ...)``): deliveries signed with
        either are then taken while Leaf switches. Leaf sends nothing for
        events in the gap between the two requests; replay what its failed
        calls show afterwards (:attr:`SecretRotation.failed_calls`), and an
        audit catches any status change of the gap.

        Args:
            webhook_id: The webhook to rotate.
            secret: The new secret; never logged or printed.
            timeout: Seconds one attempt may take, for each request.
            connect_timeout: Seconds to open a new connection, for each request.

        Raises:
            ValidationError: The id or the new secret is invalid, or Leaf's
                record of the webhook lacks a URL or events to register again;
                nothing was deleted.
            NotFoundError: No webhook has that id.
            LeafError: Any other failure. When the registration fails after
                the delete, the webhook is gone: the error's notes (and a
                WARNING log line) name it, to register it again.
        """
        old = await self.get(webhook_id, timeout=timeout, connect_timeout=connect_timeout)
        name = old.name if old.name else old.id
        # Checked before the delete: a rotation that cannot finish never starts.
        webhook_body(name=name, url=old.url, secret=secret, events=old.events)
        assert old.url is not None  # checked just above
        started = datetime.now(UTC)
        await self.delete(old.id, timeout=timeout, connect_timeout=connect_timeout)
        try:
            new = await self.register(
                name=name, url=old.url, secret=secret, events=old.events,
                timeout=timeout, connect_timeout=connect_timeout,
            )  # fmt: skip
        except LeafError as exc:
            note = (
                f"webhook {old.id} ({name!r}, events {', '.join(old.events)}) was deleted and "
                "its replacement may not be registered: list the webhooks, and register it "
                "again if it is missing"
            )
            log.warning("rotate_secret: %s", note)
            exc.add_note(note)
            raise
        finished = datetime.now(UTC)
        try:
            missed: tuple[FailedCall, ...] | None = tuple(
                await self.failed_calls(
                    url=old.url, since=started, timeout=timeout, connect_timeout=connect_timeout
                )
            )
        except LeafError as exc:
            log.warning("rotate_secret: the failed calls could not be read: %s", exc)
            missed = None
        return SecretRotation(
            webhook=new, replaced=old, started_at=started, finished_at=finished, failed_calls=missed
        )
