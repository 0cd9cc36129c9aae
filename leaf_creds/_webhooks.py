"""``leaf.webhooks``: webhooks registered with Leaf's Alerts service.

Paths, under the Alerts service::

    GET  POST      /alerts/webhooks
    GET  DELETE    /alerts/webhooks/{webhookId}

What a registration looks like and what Leaf then delivers (pure) is in
``_alerts``; serving the deliveries is ``_receiver``'s.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterable

from ._alerts import (
    ALERTS_SERVICE,
    CREDENTIALS_LIMITED_PERMISSION,
    CREDENTIALS_UNAUTHENTICATED,
    WEBHOOKS_PATH,
    Webhook,
    webhook_body,
    webhook_path,
)
from ._transport import Transport, json_array, structure

__all__ = ["Webhooks"]


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
