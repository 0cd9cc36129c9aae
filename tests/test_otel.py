"""The OpenTelemetry extra: spans and metrics read with the SDK's in-memory readers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import leaf_creds as lc
from leaf_creds.otel import instrument, url_template
from leaf_creds.testing import FakeLeaf

TOKEN = "otel-token-5f2c9a"
PASSWORD = "otel-password-hunter2"
SENTERA_BODY = {"username": "grower", "password": PASSWORD, "organizationName": "Acme"}


class Readers:
    """A tracer and a meter provider that keep what they are given."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.metrics = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])

    def finished(self) -> list[ReadableSpan]:
        """Return the spans ended so far."""
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        """Return the data points of one metric."""
        data = self.metrics.get_metrics_data()
        assert data is not None
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]


@pytest.fixture
def readers() -> Iterator[Readers]:
    """In-memory span and metric readers, shut down after the test."""
    kept = Readers()
    yield kept
    kept.tracer_provider.shutdown()
    kept.meter_provider.shutdown()


@pytest.fixture
async def fake() -> AsyncIterator[FakeLeaf]:
    """A fake Leaf that accepts the test's token."""
    async with FakeLeaf(tokens=[TOKEN]) as server:
        yield server


def session(fake: FakeLeaf, readers: Readers, **options: Any) -> lc.LeafSession:
    """An instrumented session against the fake."""
    leaf = lc.LeafSession(token=TOKEN, base_url=fake.url, **options)
    instrument(
        leaf, tracer_provider=readers.tracer_provider, meter_provider=readers.meter_provider
    )
    return leaf


def everything(readers: Readers) -> str:
    """Every span's name, attributes and events, and every metric point, as text."""
    parts = [repr((s.name, dict(s.attributes or {}), s.events)) for s in readers.finished()]
    data = readers.metrics.get_metrics_data()
    parts.append(repr(data.to_json() if data is not None else ""))
    return "\n".join(parts)


class TestSpans:
    async def test_a_request_is_a_client_span_named_after_its_route(
        self, fake: FakeLeaf, readers: Readers
    ) -> None:
        """A GET is one CLIENT span with the HTTP semantic conventions and no user id."""
        user = fake.add_user()
        fake.add_credential(user.id, lc.SENTERA, SENTERA_BODY)
        async with session(fake, readers) as leaf:
            await leaf.get(lc.SENTERA, user.id)

        (span,) = readers.finished()
        route = "/services/usermanagement/api/users/{leafUserId}/sentera-credentials"
        assert (f"GET {route}", SpanKind.CLIENT) == (span.name, span.kind)
        attributes = dict(span.attributes or {})
        assert {
            "http.request.method": "GET",
            "url.template": route,
            "http.response.status_code": 200,
        }.items() <= attributes.items()
        assert str(attributes["url.full"]).endswith(route)
        assert user.id not in everything(readers)

    async def test_a_failed_request_says_why_and_how_often_it_was_sent(
        self, fake: FakeLeaf, readers: Readers
    ) -> None:
        """A 404 marks the span failed with its status and error type; retries are counted."""
        user = fake.add_user()
        fake.faults.add(status=503, times=1)
        async with session(fake, readers, retry=lc.RetryPolicy(backoff_base=0)) as leaf:
            with pytest.raises(lc.NotFoundError):
                await leaf.get(lc.SENTERA, user.id)

        (span,) = readers.finished()
        attributes = dict(span.attributes or {})
        assert (StatusCode.ERROR, 404, "NotFoundError", 1) == (
            span.status.status_code,
            attributes["http.response.status_code"],
            attributes["error.type"],
            attributes["http.request.resend_count"],
        )

    async def test_a_create_is_one_operation_span_around_its_requests(
        self, fake: FakeLeaf, readers: Readers
    ) -> None:
        """A create's POST is the child of a leaf_creds credentials.create span."""
        user = fake.add_user()
        async with session(fake, readers) as leaf:
            await leaf.create(lc.SENTERA, user.id, SENTERA_BODY)

        post, operation = readers.finished()
        assert ("leaf_creds credentials.create", "sentera") == (
            operation.name,
            (operation.attributes or {})["leaf_creds.provider"],
        )
        assert post.parent is not None
        assert operation.context is not None
        assert operation.context.span_id == post.parent.span_id
        assert PASSWORD not in everything(readers)

    async def test_a_bulk_job_is_the_parent_of_its_requests(
        self, fake: FakeLeaf, readers: Readers
    ) -> None:
        """The requests of a bulk job are children of its span, which counts the outcomes."""
        users = [fake.add_user().id for _ in range(5)]
        operations: list[lc.Operation] = [lc.Get(lc.SENTERA, user) for user in users]
        async with (
            session(fake, readers) as leaf,
            aclosing(leaf.bulk(operations, concurrency=2)) as outcomes,
        ):
            results = [outcome async for outcome in outcomes]

        spans = readers.finished()
        (job,) = [s for s in spans if s.name == "leaf_creds bulk"]
        requests = [s for s in spans if s.kind is SpanKind.CLIENT]
        assert 5 == len(results) == len(requests)
        assert job.context is not None
        assert {job.context.span_id} == {s.parent.span_id for s in requests if s.parent}
        assert {"leaf_creds.bulk.ok": 0, "leaf_creds.bulk.failed": 5}.items() <= dict(
            job.attributes or {}
        ).items()
        outcomes_seen = readers.points("leaf_creds.bulk.outcomes")
        assert 5 == sum(point.value for point in outcomes_seen)

    async def test_no_secret_reaches_a_span_or_a_metric(
        self, fake: FakeLeaf, readers: Readers
    ) -> None:
        """Neither the token, a password, nor a Magic Link's id is recorded anywhere."""
        user = fake.add_user()
        async with session(fake, readers) as leaf:
            await leaf.create(lc.SENTERA, user.id, SENTERA_BODY)
            link = await leaf.magic_links.create(user.id, provider=lc.JOHN_DEERE)
            await leaf.magic_links.get("authentication", link.id)

        text = everything(readers)
        assert [] == [s for s in (TOKEN, PASSWORD, link.id, user.id) if s in text]


class TestMetrics:
    async def test_requests_429s_pacing_and_budget_are_measured(
        self, fake: FakeLeaf, readers: Readers
    ) -> None:
        """Requests by status, the 429s met, the pacing rate and the budget's level."""
        user = fake.add_user()
        fake.add_credential(user.id, lc.SENTERA, SENTERA_BODY)
        fake.faults.add(status=429, times=2)
        async with session(fake, readers) as leaf:
            await leaf.get(lc.SENTERA, user.id)
            await leaf.get(lc.SENTERA, user.id)

        (requests,) = readers.points("leaf_creds.requests")
        assert (2, 200) == (requests.value, requests.attributes["http.response.status_code"])
        assert 2 == sum(p.count for p in readers.points("http.client.request.duration"))
        assert [2] == [p.value for p in readers.points("leaf_creds.rate_limited")]
        assert all(p.value > 0 for p in readers.points("leaf_creds.pacing.rate"))
        assert [500] == [p.value for p in readers.points("leaf_creds.retry_budget.level")]

    async def test_uninstrument_stops_recording(self, fake: FakeLeaf, readers: Readers) -> None:
        """After uninstrument(), requests make no span."""
        user = fake.add_user()
        async with session(fake, readers) as leaf:
            telemetry = leaf.transport.observer
            assert telemetry is not None
            telemetry.uninstrument()  # type: ignore[attr-defined]
            with pytest.raises(lc.NotFoundError):
                await leaf.get(lc.SENTERA, user.id)

        assert [] == readers.finished()


class TestTemplates:
    @pytest.mark.parametrize(
        ("url", "template"),
        [
            ("https://h/services/usermanagement/api/users/u-1/cnhi-credentials/events",
             "/services/usermanagement/api/users/{leafUserId}/cnhi-credentials/events"),
            ("https://h/services/usermanagement/api/users/x-credentials",
             "/services/usermanagement/api/users/{leafUserId}"),
            ("https://h/services/widgets/api/magic-link/authentication/secret-id",
             "/services/widgets/api/magic-link/authentication/{magicLinkId}"),
            ("https://h/services/usermanagement/api/app-keys/JohnDeere/App/STAGE",
             "/services/usermanagement/api/app-keys/{provider}/{appName}/{id}"),
            ("https://h/services/alerts/api/alerts/webhooks/w%2F1?x=secret",
             "/services/alerts/api/alerts/webhooks/{webhookId}"),
            ("https://h/services/usermanagement/api/api-keys/k1",
             "/services/usermanagement/api/api-keys/{apiKeyId}"),
        ],
    )  # fmt: skip
    def test_values_become_names(self, url: str, template: str) -> None:
        """Ids, names and query values never stay in a template."""
        assert template == url_template(url)


class TestWithoutTheExtra:
    def test_an_uninstrumented_session_imports_no_opentelemetry(self) -> None:
        """`import leaf_creds` and a session's requests load no OpenTelemetry module."""
        code = (
            "import asyncio, sys, leaf_creds as lc\n"
            "from leaf_creds.testing import FakeLeaf\n"
            "async def main():\n"
            "    async with FakeLeaf(tokens=['t']) as fake:\n"
            "        async with lc.LeafSession(token='t', base_url=fake.url) as leaf:\n"
            "            try:\n"
            "                await leaf.get(lc.SENTERA, fake.add_user().id)\n"
            "            except lc.NotFoundError:\n"
            "                pass\n"
            "asyncio.run(main())\n"
            "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
        )
        out = subprocess.run(  # noqa: S603 - our own interpreter and code
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout

        assert "[]" == out.strip()
