"""The one exception tree of leaf_creds.

Everything the SDK raises on purpose derives from :class:`LeafError`; aiohttp
and cattrs exceptions never escape, ours chain them (``raise ... from exc``)::

    LeafError
    ├── APIError                 Leaf answered with a non-2xx status
    │   ├── BadRequestError        400
    │   ├── AuthenticationError    401, or a failed login
    │   ├── PermissionDeniedError  403
    │   ├── NotFoundError          404
    │   ├── ConflictError          409
    │   ├── RateLimitError         429
    │   └── ServerError            5xx
    ├── TransportError           the request or its answer was lost on the way
    │   └── RequestTimeoutError    ...because a timeout ran out
    ├── DecodeError              a 2xx whose body is not JSON or does not fit the record
    │   ├── PaginationError        ...a page of users that does not move forward
    │   └── ResponseTooLargeError  ...a body longer than max_response_bytes
    ├── OutcomeUnknownError      a create whose outcome could not be established
    │   └── UnreadableCreateError    ...answered 2xx, its record unreadable (also a DecodeError)
    ├── OAuthError               a grower's consent flow that cannot go on
    │   ├── OAuthDeniedError       ...the grower (or the provider) declined
    │   ├── OAuthStateError        ...a redirect that is not this flow's (its state)
    │   └── OAuthUnavailableError  ...no documented flow for the provider
    ├── BulkStoppedError         a bulk job stopped early: no operation could succeed
    ├── ValidationError          bad input, raised before any request (also a ValueError)
    └── UnknownProviderError     no such provider in the registry (also a LookupError)

No message built here ever contains a secret: URLs carry no query string, and
every text taken from an error answer (problem fields, raw body, request id)
is scrubbed before an :class:`APIError` holds it: values under secret-named
keys, and the request's secrets in any form a server echoes them in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "BulkStoppedError",
    "ConflictError",
    "DecodeError",
    "FieldError",
    "LeafError",
    "NotFoundError",
    "OAuthDeniedError",
    "OAuthError",
    "OAuthStateError",
    "OAuthUnavailableError",
    "OutcomeUnknownError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "ServerError",
    "TransportError",
    "UnknownProviderError",
    "UnreadableCreateError",
    "ValidationError",
]


class LeafError(Exception):
    """Root of every exception that leaf_creds raises on purpose.

    ``attempts`` is how many HTTP attempts the failed call made (0 when it
    failed before sending anything).
    """

    attempts: int = 0

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors cannot be rebuilt from `args`; restore the
        # state directly so errors cross process pools and task queues.
        return (_restore, (type(self), self.args, self.__dict__.copy()))


def _restore(cls: type[LeafError], args: tuple[Any, ...], state: dict[str, Any]) -> LeafError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


@attrs.frozen
class FieldError:
    """One entry of the ``fieldErrors`` list in a Leaf problem answer."""

    object_name: str | None
    field: str | None
    message: str | None


class APIError(LeafError):
    """Leaf answered with a status that is not a success.

    Attributes:
        status: The HTTP status code.
        method: The HTTP method of the request.
        url: The request URL, without any query string.
        request_id: The request id header of the answer, if Leaf sent one.
        title, detail, message, error_key, type: Leaf's problem-JSON fields,
            when present.
        field_errors: Leaf's ``fieldErrors``, as :class:`FieldError` records.
        body: The answer's text (scrubbed, truncated) when it was not problem JSON.
        retry_after: Seconds the server asked us to wait, when it said so.
    """

    def __init__(
        self,
        *,
        status: int,
        method: str,
        url: str,
        request_id: str | None = None,
        title: str | None = None,
        detail: str | None = None,
        message: str | None = None,
        error_key: str | None = None,
        type: str | None = None,  # the problem-JSON field's own name
        field_errors: Sequence[FieldError] = (),
        body: str | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
    ) -> None:
        self.status = status
        self.method = method
        self.url = url
        self.request_id = request_id
        self.title = title
        self.detail = detail
        self.message = message
        self.error_key = error_key
        self.type = type
        self.field_errors = tuple(field_errors)
        self.body = body
        self.retry_after = retry_after
        self.attempts = attempts
        super().__init__(self._summary())

    def _summary(self) -> str:
        parts = [f"{self.status} from {self.method} {self.url}"]
        explained = [text for text in (self.title, self.detail, self.message) if text]
        # Leaf often repeats the title in `message`; say each thing once.
        parts.extend(dict.fromkeys(explained))
        if self.error_key:
            parts.append(f"errorKey={self.error_key}")
        parts.extend(
            f"{fe.field}: {fe.message}" for fe in self.field_errors if fe.field or fe.message
        )
        if not explained and self.body:
            parts.append(self.body)
        if self.request_id:
            parts.append(f"request id {self.request_id}")
        head, details = parts[0], parts[1:]
        return f"{head}: {'; '.join(details)}" if details else head

    def __str__(self) -> str:
        text = str(self.args[0]) if self.args else self._summary()
        if self.attempts > 1:
            text += f" (after {self.attempts} attempts)"
        return text


class BadRequestError(APIError):
    """Leaf rejected the request as malformed or invalid (400)."""


class AuthenticationError(APIError):
    """The bearer token is missing, expired or wrong (401), or logging in failed."""


class PermissionDeniedError(APIError):
    """The account may not do this (403)."""


class NotFoundError(APIError):
    """The Leaf user or the credential does not exist (404)."""


class ConflictError(APIError):
    """The request conflicts with the current state, e.g. a credential exists (409)."""


class RateLimitError(APIError):
    """Leaf asked us to slow down (429)."""


class ServerError(APIError):
    """Leaf failed to answer the request (5xx)."""


class TransportError(LeafError):
    """The request or its answer was lost on the way (connection failure).

    Attributes:
        method: The HTTP method of the request.
        url: The request URL, without any query string.
        sent: False when the request provably never reached the server
            (connection refused, connect timeout), True or None otherwise.
    """

    def __init__(
        self, message: str, *, method: str, url: str, sent: bool | None = None, attempts: int = 1
    ) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.sent = sent
        self.attempts = attempts

    def __str__(self) -> str:
        text = f"{self.args[0]} ({self.method} {self.url})"
        if self.attempts > 1:
            text += f" (after {self.attempts} attempts)"
        return text


class RequestTimeoutError(TransportError):
    """A connect or total timeout ran out before Leaf answered."""


class DecodeError(LeafError):
    """Leaf answered 2xx, but the body is not JSON or does not fit the record.

    Attributes:
        method, url, status: Which answer could not be read.
    """

    def __init__(self, message: str, *, method: str, url: str, status: int) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.status = status
        self.attempts = 1


class PaginationError(DecodeError):
    """A paged listing stopped moving forward: a full page held only what was listed already.

    Raised while iterating ``LeafSession.users()``, rather than asking for
    the same page forever. Everything yielded before it was listed once.
    """


class ResponseTooLargeError(DecodeError):
    """An answer's body was longer than the session's ``max_response_bytes``.

    Counted after decompression; the connection is closed, not reused.

    Attributes:
        limit: The ``max_response_bytes`` it went past.
    """

    def __init__(self, message: str, *, method: str, url: str, status: int, limit: int) -> None:
        super().__init__(message, method=method, url=url, status=status)
        self.limit = limit


class OutcomeUnknownError(LeafError):
    """A create may or may not have been applied, and a GET could not tell.

    Check the credential with ``LeafSession.get`` before creating it again.

    Attributes:
        provider: The provider slug of the create.
        user_id: The Leaf user id of the create.
    """

    def __init__(self, message: str, *, provider: str, user_id: str, attempts: int) -> None:
        super().__init__(message)
        self.provider = provider
        self.user_id = user_id
        self.attempts = attempts


class UnreadableCreateError(OutcomeUnknownError, DecodeError):
    """A create was answered 2xx, so it was applied or may have been, but no record came of it.

    The answer's body was not the record (a proxy's HTML page, a body cut
    short), and the GET that would have recovered the record failed, found
    nothing, or found other values. Do not simply create it again: check
    with ``LeafSession.get`` first. It is an :class:`OutcomeUnknownError`
    and, as before it existed, a :class:`DecodeError`.

    Attributes:
        provider: The provider slug of the create.
        user_id: The Leaf user id of the create.
        method, url, status: The answer that could not be read.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        user_id: str,
        attempts: int,
        method: str,
        url: str,
        status: int,
    ) -> None:
        LeafError.__init__(self, message)
        self.provider = provider
        self.user_id = user_id
        self.attempts = attempts
        self.method = method
        self.url = url
        self.status = status


class OAuthError(LeafError):
    """A grower's consent flow cannot go on: nothing further was sent.

    Its text never holds the redirect URL, the code, a verifier or a secret.

    Attributes:
        provider: The provider's slug.
        error: The OAuth ``error`` code of the redirect, if it carried one.
    """

    def __init__(self, message: str, *, provider: str, error: str | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.error = error


class OAuthDeniedError(OAuthError):
    """The redirect carried an ``error`` (``access_denied``: the grower declined)."""


class OAuthStateError(OAuthError):
    """The redirect's ``state`` is missing or not the one sent: it is not this flow's.

    Nothing is exchanged: a forged or replayed redirect must not attach
    someone else's account to the Leaf user.
    """


class OAuthUnavailableError(OAuthError):
    """leaf_creds has no consent flow for the provider; its text says what to use instead."""


class BulkStoppedError(LeafError):
    """A bulk job stopped pulling operations: the session cannot succeed at all.

    Raised from the ``LeafSession.bulk`` iterator after the outcome of every
    operation it started; the operations it did not start have no outcome.
    The error that showed it is chained as ``__cause__``.

    Attributes:
        reason: ``"unauthenticated"`` (the token is refused even after
            logging in again, or a fixed token is refused) or
            ``"unreachable"`` (every connection is refused, with no answer).
        error: The error that showed it (the same as ``__cause__``).
    """

    def __init__(self, message: str, *, reason: str, error: LeafError) -> None:
        super().__init__(message)
        self.reason = reason
        self.error = error
        self.attempts = error.attempts


class ValidationError(LeafError, ValueError):
    """Bad input, refused before any request was sent.

    Attributes:
        errors: One line per problem, each ending ``@ $.path`` where it applies.
    """

    def __init__(self, message: str, *, errors: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.errors = tuple(errors) or (message,)


class UnknownProviderError(LeafError, LookupError):
    """No provider with that slug is registered."""

    def __init__(self, slug: str, known: Sequence[str] = ()) -> None:
        hint = f"; known providers: {', '.join(sorted(known))}" if known else ""
        super().__init__(f"no provider registered with slug {slug!r}{hint}")
        self.slug = slug

    def __str__(self) -> str:
        # LookupError subclasses KeyError-like reprs; keep the plain sentence.
        return str(self.args[0])


_STATUS_CLASSES: Mapping[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def error_class(status: int) -> type[APIError]:
    """Return the APIError subclass for an HTTP status."""
    if status >= 500:
        return ServerError
    return _STATUS_CLASSES.get(status, APIError)
