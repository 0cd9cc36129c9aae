"""Sans-I/O: turn Leaf's answers into data or the right exception.

Nothing here touches the network; the session feeds in ``(status, headers,
body)`` and gets back parsed JSON or an exception to raise.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ._exceptions import APIError, DecodeError, FieldError, ResponseTooLargeError, error_class
from ._fields import MASK
from ._redaction import is_secret_key, mask_secrets, redact
from ._retry import parse_retry_after

__all__ = ["REQUEST_ID_HEADERS", "OversizedBody", "api_error", "parse_json", "redact"]

# Leaf documents no request-id header; these are the ones its gateway (AWS)
# and common proxies send. The first present wins.
REQUEST_ID_HEADERS = ("X-Request-Id", "X-Amzn-RequestId", "X-Amz-Request-Id", "X-Correlation-Id")
_BODY_LIMIT = 500
# Each text taken from an error answer is cut to this before it is scrubbed
# (a cut end is where a piece of a secret is looked for), so a hostile
# multi-megabyte `detail` neither becomes the message nor costs the scrubbing.
_FIELD_LIMIT = 4096


class OversizedBody(bytes):
    """Stands for a 2xx body longer than the session's ``max_response_bytes``: empty.

    The answer itself still counts (a DELETE answered 2xx is done, a create
    answered 2xx was applied); only reading its body fails, so
    :func:`parse_json` raises :class:`ResponseTooLargeError` for it.
    """

    limit: int

    def __new__(cls, limit: int) -> OversizedBody:
        body = super().__new__(cls)
        body.limit = limit
        return body


# json.loads(bytes) first guesses the encoding in Python; decoding UTF-8
# (what Leaf sends) and parsing the text takes about 40% less time.
_decode_text = json.JSONDecoder().decode


def parse_json(body: bytes, *, method: str, url: str, status: int) -> Any:
    """Parse a 2xx body; an empty body is ``None``.

    Raises:
        ResponseTooLargeError: The body was an :class:`OversizedBody`, not read.
        DecodeError: The body is not JSON, or is nested too deeply to parse.
    """
    try:
        return _decode_text(body.decode())
    except ValueError:  # empty, another encoding, or not JSON: the full path
        pass
    except RecursionError:
        # Arrays or objects nested past the interpreter's recursion limit:
        # a hostile or broken answer, never one of Leaf's records.
        raise _not_json(body, method, url, status, "is JSON nested too deeply to parse") from None
    if isinstance(body, OversizedBody):  # empty, so it lands here: off the hot path
        raise ResponseTooLargeError(
            f"{status} from {method} {url} is longer than max_response_bytes "
            f"({body.limit} bytes); it was not read",
            method=method,
            url=url,
            status=status,
            limit=body.limit,
        )
    if not body or body.isspace():
        return None
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise _not_json(body, method, url, status) from None


def _not_json(
    body: bytes, method: str, url: str, status: int, what: str = "is not JSON"
) -> DecodeError:
    return DecodeError(
        f"{status} from {method} {url} {what} ({len(body)} bytes)",
        method=method,
        url=url,
        status=status,
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except RecursionError:
        # Parsed just under the recursion limit, then dumped a few frames
        # deeper: a hostile field, summed up rather than shown.
        return f"(a JSON {type(value).__name__} nested too deeply to show)"


def _masked_problem(problem: Mapping[str, Any], secrets: tuple[str, ...]) -> Mapping[str, Any]:
    masked = mask_secrets(problem, secrets=secrets)
    if isinstance(masked, Mapping):
        return masked
    # Too deep to walk whole: mask each field alone, and sum up one that is
    # too deep itself rather than show what could not be checked.
    fields: dict[str, Any] = {}
    for key, value in problem.items():
        item = mask_secrets(value, secrets=secrets)
        deep = item == MASK and isinstance(value, Mapping | list)
        fields[key] = f"(a JSON {type(value).__name__} nested too deeply to show)" if deep else item
    return {key: MASK if is_secret_key(key) else item for key, item in fields.items()}


def api_error(
    *,
    status: int,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Iterable[str] = (),
) -> APIError:
    """Build the exception for a non-2xx answer.

    Leaf's problem JSON (``title``, ``detail``, ``message``, ``errorKey``,
    ``fieldErrors``...) is surfaced when present, else the raw text,
    truncated. Every text is scrubbed before it is kept: the values of
    secret-named keys in any JSON it holds, and each secret of the request in
    every form a server echoes it in (see ``_redaction``).
    """
    secrets = tuple(secrets)
    text = body.decode("utf-8", "replace")
    problem: Mapping[str, Any] = {}
    if text.lstrip().startswith("{"):
        try:
            parsed = json.loads(text)
        except (ValueError, RecursionError):  # too deep to parse: kept as raw text
            parsed = None
        if isinstance(parsed, Mapping):
            # By structure first: a short secret, or one the request did not
            # hold, is masked under its key wherever it is nested.
            problem = _masked_problem(parsed, secrets)

    def scrub(value: Any, limit: int = _FIELD_LIMIT) -> str | None:
        shown = _text(value)
        return None if shown is None else redact(shown[:limit], secrets)

    def field(key: str) -> str | None:
        return scrub(problem.get(key))

    raw_field_errors = problem.get("fieldErrors")
    field_errors = [
        FieldError(
            object_name=scrub(item.get("objectName")),
            field=scrub(item.get("field")),
            message=scrub(item.get("message")),
        )
        for item in (raw_field_errors if isinstance(raw_field_errors, list) else [])
        if isinstance(item, Mapping)
    ]
    raw = None if problem else scrub(text.strip(), _BODY_LIMIT) or None
    # A hostile server could echo a secret in a header too.
    request_id = scrub(next((headers[h] for h in REQUEST_ID_HEADERS if h in headers), None))
    return error_class(status)(
        status=status,
        method=method,
        url=url,
        request_id=request_id,
        # Leaf's 429 is not problem JSON but {"error", "message",
        # "status_code"} (its draft limits page); Spring's default error
        # body has the same "error". Either names the kind of failure.
        title=field("title") or field("error"),
        detail=field("detail"),
        message=field("message"),
        error_key=field("errorKey"),
        type=field("type"),
        field_errors=field_errors,
        body=raw,
        retry_after=parse_retry_after(headers),
    )
