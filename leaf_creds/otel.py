"""OpenTelemetry for leaf_creds: spans and metrics of a session's requests, operations and jobs.

Install the extra and instrument a session once::

    pip install 'leaf-creds[otel]'

    from leaf_creds.otel import instrument

    async with LeafSession(token=...) as leaf:
        instrument(leaf)  # the global tracer and meter providers, or pass your own

What it records:

- a ``CLIENT`` span per Leaf request (retries, 429 waits and token renewals
  included), named ``{method} {url.template}`` after the HTTP client semantic
  conventions: ``http.request.method``, ``url.template``, ``url.full`` (the
  template, never an id, a token or a query value), ``server.address``,
  ``server.port``, ``http.response.status_code``, ``http.request.resend_count``
  and ``error.type``;
- an ``INTERNAL`` span per SDK operation around its requests: a credential
  create with its reconcile (``leaf_creds credentials.create``), a bulk job
  (``leaf_creds bulk``, with its outcome counts);
- metrics: ``http.client.request.duration`` (s) by method, template and
  status; ``leaf_creds.requests`` by the same; ``leaf_creds.rate_limited``
  (429s met); ``leaf_creds.pacing.rate`` (requests/s, while paced);
  ``leaf_creds.retry_budget.level``; ``leaf_creds.bulk.outcomes`` by
  operation and outcome.

Without the extra nothing imports OpenTelemetry: this module is imported
only by you, and an uninstrumented session pays one attribute check per
request.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode
from yarl import URL

from ._exceptions import APIError, LeafError
from ._transport import Answer, Timeouts, Transport
from ._version import __version__

if TYPE_CHECKING:
    from ._session import LeafSession

__all__ = ["Telemetry", "instrument", "url_template"]

_SCOPE: Final = "leaf_creds"

# The path segments of Leaf's services that are words, not values.
_WORDS: Final = frozenset(
    {
        "services", "usermanagement", "api", "users", "events", "app-keys", "api-keys",
        "widgets", "magic-link", "provider", "authentication", "file-upload", "alerts",
        "webhooks", "failed-calls", "authenticate", "integrations", "resources",
        "configurations", "organizations", "organization", "sync", "connections",
    }
)  # fmt: skip
# What follows each word, when it is a value: the semantic conventions'
# `url.template` names it, so no id, name or token reaches a span.
_NAMES: Final = {
    "users": "{leafUserId}",
    "webhooks": "{webhookId}",
    "api-keys": "{apiKeyId}",
    "provider": "{magicLinkId}",
    "authentication": "{magicLinkId}",
    "file-upload": "{magicLinkId}",
    "app-keys": "{provider}",
}


def url_template(url: str) -> str:
    """Return the path of a Leaf URL with every value replaced by a name, e.g. ``{leafUserId}``.

    A segment that is not one of Leaf's path words (or a provider's
    ``{slug}-credentials``) becomes ``{id}``, or the name the word before it
    gives it: an id, a name or a capability never reaches a span.
    """
    path = URL(url, encoded=True).raw_path
    parts: list[str] = []
    for segment in path.split("/")[1:]:
        previous = parts[-1] if parts else ""
        if previous in _NAMES:  # a value comes next, whatever it looks like
            parts.append(_NAMES[previous])
        elif previous == "{provider}":
            parts.append("{appName}")
        elif segment in _WORDS or (segment.endswith("-credentials") and segment[0].isalpha()):
            parts.append(segment)
        else:
            parts.append("{id}")
    return "/" + "/".join(parts)


class Telemetry:
    """The spans and metrics of one session; made by :func:`instrument`."""

    def __init__(
        self,
        transport: Transport,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self._transport = transport
        self._tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider)
        meter = metrics.get_meter(_SCOPE, __version__, meter_provider)
        base = URL(transport.base_url)
        self._server = {"server.address": base.host or "", "server.port": base.port or 443}
        self._origin = str(base.origin())
        self._duration = meter.create_histogram(
            "http.client.request.duration", unit="s", description="Leaf requests, retries included"
        )
        self._requests = meter.create_counter(
            "leaf_creds.requests", unit="{request}", description="Leaf requests by outcome"
        )
        self._outcomes = meter.create_counter(
            "leaf_creds.bulk.outcomes", unit="{operation}", description="Bulk outcomes"
        )
        meter.create_observable_counter(
            "leaf_creds.rate_limited", [self._rate_limited], unit="{response}",
            description="Answers 429 met",
        )  # fmt: skip
        meter.create_observable_gauge(
            "leaf_creds.pacing.rate", [self._pacing_rate], unit="{request}/s",
            description="The rate requests may start at, while the session paces itself",
        )  # fmt: skip
        meter.create_observable_gauge(
            "leaf_creds.retry_budget.level", [self._budget_level], unit="{token}",
            description="The retry budget left",
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"<Telemetry of {self._transport!r}>"

    def uninstrument(self) -> None:
        """Stop recording this session's requests (metrics already read stay as they are)."""
        if self._transport.observer is self:
            self._transport.observer = None

    # -- the Observer protocol ----------------------------------------------

    async def request(
        self, transport: Transport, method: str, url: str, timeouts: Timeouts, **options: Any
    ) -> Answer:
        """Send one request with a span and its metrics around it."""
        template = url_template(url)
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.template": template,
            "url.full": self._origin + template,
            **self._server,
        }
        started = time.perf_counter()
        with self._tracer.start_as_current_span(
            f"{method} {template}", kind=SpanKind.CLIENT, attributes=attributes,
            record_exception=False, set_status_on_exception=False,
        ) as span:  # fmt: skip
            try:
                answer = await transport.request(method, url, timeouts, observe=False, **options)
            except LeafError as exc:
                outcome = _failed(span, exc)
                raise
            else:
                outcome = {"http.response.status_code": answer.status}
                span.set_attributes(outcome)
                if answer.attempts > 1:
                    span.set_attribute("http.request.resend_count", answer.attempts - 1)
            finally:
                labels = {"http.request.method": method, "url.template": template}
                labels.update(outcome)
                self._duration.record(time.perf_counter() - started, labels)
                self._requests.add(1, labels)
        return answer

    @contextlib.contextmanager
    def operation(self, name: str, provider: str) -> Iterator[object]:
        """Run one SDK operation's requests in an ``INTERNAL`` span of its own."""
        with self._tracer.start_as_current_span(
            f"{_SCOPE} {name}", attributes={"leaf_creds.provider": provider}
        ) as span:
            yield span

    def bulk(self, total: int | None) -> _BulkWatch:
        """Start a bulk job's span, current until the watch is detached."""
        return _BulkWatch(self._tracer, self._outcomes, total)

    # -- observable metrics ---------------------------------------------------

    def _rate_limited(self, options: CallbackOptions) -> Iterable[Observation]:
        yield Observation(self._transport.rate_limited)

    def _pacing_rate(self, options: CallbackOptions) -> Iterable[Observation]:
        rate = self._transport.pacer.rate(time.monotonic())
        if self._transport.pacer.engaged and math.isfinite(rate):
            yield Observation(rate)

    def _budget_level(self, options: CallbackOptions) -> Iterable[Observation]:
        level = self._transport.budget.level
        if level is not None:
            yield Observation(level)


def _failed(span: trace.Span, error: LeafError) -> dict[str, Any]:
    """Mark a span failed by ``error``; its str() is masked, but only the type is recorded."""
    outcome: dict[str, Any] = {"error.type": type(error).__name__}
    if isinstance(error, APIError):
        outcome["http.response.status_code"] = error.status
    attempts = getattr(error, "attempts", 1)
    if attempts > 1:
        span.set_attribute("http.request.resend_count", attempts - 1)
    span.set_attributes(outcome)
    span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    return outcome


class _BulkWatch:
    """One bulk job's span and outcome counts."""

    def __init__(self, tracer: trace.Tracer, outcomes: metrics.Counter, total: int | None) -> None:
        attributes = {} if total is None else {"leaf_creds.bulk.total": total}
        self._span = tracer.start_span(f"{_SCOPE} bulk", attributes=attributes)
        self._token: object | None = otel_context.attach(trace.set_span_in_context(self._span))
        self._outcomes = outcomes
        self._ok = self._failed = 0

    def detach(self) -> None:
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
            self._token = None

    def outcome(self, kind: str, ok: bool) -> None:
        if ok:
            self._ok += 1
        else:
            self._failed += 1
        self._outcomes.add(
            1, {"leaf_creds.operation": kind, "leaf_creds.outcome": "ok" if ok else "failed"}
        )

    def end(self, error: BaseException | None) -> None:
        self.detach()
        counts = {"leaf_creds.bulk.ok": self._ok, "leaf_creds.bulk.failed": self._failed}
        self._span.set_attributes(counts)
        if error is not None:
            self._span.set_attribute("error.type", type(error).__name__)
            self._span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        self._span.end()


def instrument(
    leaf: LeafSession,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> Telemetry:
    """Record a session's requests, operations and bulk jobs with OpenTelemetry.

    Args:
        leaf: The session.
        tracer_provider: Where spans go; OpenTelemetry's global one by default.
        meter_provider: Where metrics go; OpenTelemetry's global one by default.

    Returns:
        The :class:`Telemetry`; ``uninstrument()`` it to stop.
    """
    telemetry = Telemetry(leaf.transport, tracer_provider, meter_provider)
    leaf.transport.observer = telemetry
    return telemetry
