"""Alerts that never arrived: the failed webhook calls Leaf keeps, as records.

Everything here is pure. Leaf lists the deliveries your receiver did not
acknowledge (``../shared/leaf-api/operations.md`` section 2)::

    GET  /services/alerts/api/alerts/webhooks/failed-calls

answered ``{"items": [{"apiOwner", "createdAt", "url", "status", "response",
"requestBody", "connectionError"}]}``: ``status`` and ``response`` when your
server answered, ``connectionError`` when it could not be reached, and
``requestBody`` the alert as Leaf signed and tried to deliver it, as a JSON
string. ``leaf.webhooks.failed_calls()`` reads them;
:meth:`AlertReceiver.replay` feeds one to your callback through the
receiver's de-duplication, so an alert handled since (a later retry got
through) is not handled again.

Where Leaf is silent: a failed call is not signed again when read (so a
replay skips the signature check: it comes from Leaf, read with your
token), the list may page like every list (it is walked), and every field
is optional.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Final

import attrs

from ._alerts import WEBHOOKS_PATH, Alert, parse_alert
from ._exceptions import ValidationError
from ._redaction import mask_text

if TYPE_CHECKING:
    import cattrs

__all__ = ["FAILED_CALLS_PATH", "FailedCall"]

FAILED_CALLS_PATH: Final = WEBHOOKS_PATH + "/failed-calls"
# How much of a receiver's answer a repr shows: it may be a whole HTML page.
_SHOWN: Final = 60


def _url_repr(value: str | None) -> str:
    # A webhook URL may carry a token in its query string: never shown.
    return repr(None if value is None else value.partition("?")[0])


def _text_repr(value: str | None) -> str:
    if value is None:
        return "None"
    short = mask_text(value[:_SHOWN])
    return repr(short + ("..." if len(value) > _SHOWN else ""))


def _body_repr(value: str | None) -> str:
    # The alert itself: its size only (its `credential` identifies a client).
    return "None" if value is None else f"<{len(value)} characters>"


@attrs.frozen(kw_only=True)
class FailedCall:
    """A delivery of Leaf's Alerts service that your receiver did not acknowledge.

    Attributes:
        api_owner: The API owner's account.
        created_at: When the call failed, as an aware UTC datetime.
        url: Where Leaf tried to deliver (shown without its query string).
        status: What your receiver answered, if it answered.
        response: The body it answered with (masked and cut in reprs).
        request_body: The alert as Leaf signed it, a JSON string (its size
            only in reprs).
        connection_error: Why your receiver could not be reached, if it could not.
    """

    api_owner: str | None = None
    created_at: datetime | None = None
    url: str | None = attrs.field(default=None, repr=_url_repr)
    status: int | None = None
    response: str | None = attrs.field(default=None, repr=_text_repr)
    request_body: str | None = attrs.field(default=None, repr=_body_repr)
    connection_error: str | None = None

    @property
    def body(self) -> bytes:
        """The alert's raw body, as Leaf tried to deliver it (empty when Leaf kept none)."""
        return (self.request_body or "").encode()

    def alert(self, *, converter: cattrs.Converter | None = None) -> Alert:
        """Parse the alert that was not delivered.

        Raises:
            ValidationError: Leaf kept no body, or one that is not a JSON object.
        """
        if not self.request_body:
            raise ValidationError("this failed call holds no requestBody to read an alert from")
        return parse_alert(self.body, converter=converter)

    def failure(self) -> str:
        """Say in a few words why the delivery failed, e.g. ``"answered 502"``."""
        if self.connection_error:
            return f"not reached: {mask_text(self.connection_error[:_SHOWN])}"
        if self.status is not None:
            return f"answered {self.status}"
        return "failed"
