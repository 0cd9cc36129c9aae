"""What the fake's services share of Leaf's wire: problem JSON, body checks, timestamps.

Every route, and the in-memory state under them, refuses a request by
raising :class:`Problem`; the server turns it into an
``application/problem+json`` answer (the Magic Link page into an HTML page).
Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, Final

__all__ = [
    "MIN_EXPIRES_IN",
    "PROBLEM_BASE",
    "FieldErrors",
    "Problem",
    "check_expires_in",
    "field_error",
    "invalid",
    "json_object",
    "timestamp",
]

# JHipster's problem types; Leaf's answers carry these URIs.
PROBLEM_BASE: Final = "https://www.jhipster.tech/problem"
# The shortest ``expiresIn`` Leaf takes, of a Magic Link or an API key.
MIN_EXPIRES_IN: Final = 900

FieldErrors = list[Mapping[str, str | None]]


class Problem(Exception):
    """An answer Leaf gives as JHipster problem JSON."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        title: str | None = None,
        field_errors: Sequence[Mapping[str, str | None]] = (),
        error_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or str(status))
        self.status = status
        self.title = title or _phrase(status)
        self.detail = detail
        self.field_errors = list(field_errors)
        self.error_key = error_key
        self.headers = dict(headers or {})

    def body(self, path: str) -> dict[str, Any]:
        """Return the problem JSON for a request to ``path``."""
        if self.field_errors:
            kind = f"{PROBLEM_BASE}/constraint-violation"
            message = "error.validation"
        else:
            kind = f"{PROBLEM_BASE}/problem-with-message"
            message = f"error.http.{self.status}"
        body: dict[str, Any] = {
            "type": kind,
            "title": self.title,
            "status": self.status,
            "path": path,
            "message": message,
        }
        if self.detail is not None:
            body["detail"] = self.detail
        if self.error_key is not None:
            body["errorKey"] = self.error_key
        if self.field_errors:
            body["fieldErrors"] = self.field_errors
        return body


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # a status a fault made up, e.g. 520
        return "Error"


def field_error(object_name: str, field: str, message: str) -> dict[str, str | None]:
    """Return one entry of a problem's ``fieldErrors``."""
    return {"objectName": object_name, "field": field, "message": message}


def invalid(errors: Sequence[Mapping[str, str | None]]) -> Problem:
    """Return Spring's 400 for a body whose fields do not validate."""
    return Problem(400, "Method argument not valid", field_errors=errors)


def json_object(body: Any) -> dict[str, Any]:
    """Return ``body`` when it is a JSON object.

    Raises:
        Problem: 400 for any other JSON value.
    """
    if not isinstance(body, dict):
        raise Problem(400, "the body must be a JSON object")
    return body


def check_expires_in(
    body: Mapping[str, Any], object_name: str, default: int, maximum: int | None
) -> int:
    """Return a body's ``expiresIn`` seconds, or ``default`` when it has none.

    Raises:
        Problem: 400 (with the field error) for a value that is not an
            integer from :data:`MIN_EXPIRES_IN` to ``maximum``.
    """
    value = body.get("expiresIn")
    if value is None:
        return default
    upper = "" if maximum is None else f" and at most {maximum}"
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not (MIN_EXPIRES_IN <= value <= (maximum if maximum is not None else value))
    ):
        message = f"must be an integer of at least {MIN_EXPIRES_IN}{upper}"
        raise invalid([field_error(object_name, "expiresIn", message)])
    return value


def timestamp(seconds: float, digits: int, zone: str = "Z") -> str:
    """Format a time as Leaf's onboarding answers do, with ``digits`` decimals."""
    moment = datetime.fromtimestamp(seconds, UTC)
    fraction = f"{moment.microsecond:06d}000"[:digits]
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + fraction + zone
