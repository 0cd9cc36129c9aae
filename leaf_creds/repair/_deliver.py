"""The delivery hook: how a repair link reaches the grower.

:class:`~leaf_creds.repair.Repairs` creates the link; your app sends it (an
email, a text, a banner in the app). The hook is any async callable taking
a :class:`LinkDelivery`: it returns when the link is handed over, and
raises when it was not (the delivery is tried again ``delivery_retry``
later). Two hooks come with the library, for ``leaf-creds watch``:

- :class:`CommandDelivery` runs a command with the delivery's JSON on its
  standard input (``--deliver-command CMD``); exit 0 means handed over;
- :class:`WebhookDelivery` POSTs the JSON to a URL, signed with a secret
  as Leaf signs its alerts (``--deliver-url URL``); a 2xx means handed over.

A delivery is begun at most once (see the store): a hook interrupted by a
crash is not called again for the same step. Its ``id`` is the same for
any retry of the same step after a failure, so a hook that can is free to
deduplicate on it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

import aiohttp
import attrs

from leaf_creds import LeafError, ValidationError, masked, sign

from ._cases import Cause

__all__ = [
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "CommandDelivery",
    "Deliver",
    "DeliveryError",
    "LinkDelivery",
    "WebhookDelivery",
]

# Headers of WebhookDelivery's POST: HMAC-SHA256 of the body, base64, as
# Leaf's X-Leaf-Signature (verify it with leaf_creds.verify_signature).
SIGNATURE_HEADER: Final = "X-Leaf-Creds-Signature"
DELIVERY_HEADER: Final = "X-Leaf-Creds-Delivery"


class DeliveryError(LeafError):
    """A delivery hook did not hand the link over (the command failed, the URL refused it)."""


@attrs.frozen(kw_only=True)
class LinkDelivery:
    """A link to hand to a grower: the first of a case, or a reminder.

    Attributes:
        id: ``case:episode:attempt``, the same for a retry of this step.
        case_id: The case.
        kind: ``link`` for the first delivery of an episode, else ``reminder``.
        reminder: 0 for the first link, then 1, 2... for each reminder.
        leaf_user_id: The grower's Leaf user.
        provider: Our provider slug, e.g. ``"john-deere"``.
        provider_name: The provider's display name, e.g. ``"John Deere"``.
        cause: Why the credential needs repair.
        url: The authentication Magic Link: send it to this grower only
            (``'***'`` in reprs; never logged).
        expires_at: When the link stops working.
        reused: Whether the link was sent before (it still works).
    """

    id: str
    case_id: str
    kind: str
    reminder: int
    leaf_user_id: str
    provider: str
    provider_name: str
    cause: Cause
    url: str = attrs.field(repr=masked)
    expires_at: datetime | None = None
    reused: bool = False

    def json(self) -> dict[str, Any]:
        """Return the delivery as the JSON the library's hooks send (the link included)."""
        return {
            "id": self.id,
            "caseId": self.case_id,
            "kind": self.kind,
            "reminder": self.reminder,
            "leafUserId": self.leaf_user_id,
            "provider": self.provider,
            "providerName": self.provider_name,
            "cause": str(self.cause),
            "url": self.url,
            "expiresAt": None if self.expires_at is None else self.expires_at.isoformat(),
            "reused": self.reused,
        }


Deliver = Callable[[LinkDelivery], Awaitable[object]]


class CommandDelivery:
    """Hand each link to a command: its JSON on standard input, exit 0 for handed over.

    The command is run without a shell, split as a shell would
    (:func:`shlex.split`); its output is discarded (it may hold the link),
    and a failure is reported by its exit status only.

    Args:
        command: The command line, or its words.
        timeout: Seconds it may run; past them it is killed and the
            delivery failed.
        env: Extra environment variables.

    Raises:
        ValidationError: The command is empty.
    """

    def __init__(
        self,
        command: str | Sequence[str],
        *,
        timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        words = shlex.split(command) if isinstance(command, str) else list(command)
        if not words:
            raise ValidationError("the delivery command is empty")
        self._argv = words
        self._timeout = timeout
        self._env = dict(env) if env is not None else None

    def __repr__(self) -> str:
        return f"<CommandDelivery {self._argv[0]!r}>"

    async def __call__(self, delivery: LinkDelivery) -> None:
        """Run the command on one delivery.

        Raises:
            DeliveryError: It could not start, exited non-zero, or timed out.
        """
        env = None if self._env is None else {**os.environ, **self._env}
        try:
            process = await asyncio.create_subprocess_exec(
                *self._argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL, env=env,
            )  # fmt: skip
        except OSError as exc:
            raise DeliveryError(
                f"cannot run the delivery command {self._argv[0]!r}: {exc.strerror}"
            ) from exc
        body = json.dumps(delivery.json()).encode()
        try:
            async with asyncio.timeout(self._timeout):
                await process.communicate(body)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise DeliveryError(
                f"the delivery command ran over {self._timeout:g}s and was killed"
            ) from None
        if process.returncode != 0:
            raise DeliveryError(f"the delivery command exited {process.returncode}")


class WebhookDelivery:
    """POST each link's JSON to a URL, signed; a 2xx answer means handed over.

    The signature is ``X-Leaf-Creds-Signature``: base64 of the body's
    HMAC-SHA256 with ``secret`` (Leaf's scheme for its alerts, so
    ``leaf_creds.verify_signature(body, secret, header)`` checks it);
    ``X-Leaf-Creds-Delivery`` carries the delivery's id.

    Args:
        url: Where to POST.
        secret: The signing secret (never logged).
        session: An ``aiohttp.ClientSession`` to use, never closed by us;
            without one, one is made on first use and closed by :meth:`aclose`.
        timeout: Seconds one POST may take.

    Raises:
        ValidationError: The URL is not http(s) or the secret is empty.
    """

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 30.0,
    ) -> None:
        given: tuple[object, object] = (url, secret)
        if not isinstance(given[0], str) or not url.startswith(("http://", "https://")):
            raise ValidationError("the delivery URL must be an http:// or https:// URL")
        if not isinstance(given[1], str) or not secret:
            raise ValidationError("the delivery secret must be a non-empty string")
        self._url = url
        self._secret = secret
        self._session = session
        self._own: aiohttp.ClientSession | None = None
        self._timeout = timeout

    def __repr__(self) -> str:
        # The URL may carry a token in its query: shown without it.
        return f"<WebhookDelivery {self._url.partition('?')[0]!r}>"

    async def __call__(self, delivery: LinkDelivery) -> None:
        """POST one delivery.

        Raises:
            DeliveryError: The URL could not be reached or answered other than 2xx.
        """
        session = self._session
        if session is None:
            if self._own is None:
                self._own = aiohttp.ClientSession()
            session = self._own
        body = json.dumps(delivery.json()).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, self._secret),
            DELIVERY_HEADER: delivery.id,
        }
        try:
            async with session.post(
                self._url, data=body, headers=headers, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:  # fmt: skip
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(
                f"the delivery URL could not be reached: {type(exc).__name__}"
            ) from exc
        if not 200 <= status < 300:
            raise DeliveryError(f"the delivery URL answered {status}")

    async def aclose(self) -> None:
        """Close the HTTP session this hook made, if any; idempotent."""
        own, self._own = self._own, None
        if own is not None:
            await own.close()
