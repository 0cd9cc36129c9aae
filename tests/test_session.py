"""LeafSession through the public API, with every request mocked by aioresponses."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

import leaf_creds as lc
from tests.conftest import BASE, UM, LeafMock, sent, total_requests
from tests.helpers import SENTERA_ANSWER, SENTERA_URL, sentera_credentials

CNHI_URL = UM + "/users/u1/cnhi-credentials"
NO_RETRY = lc.RetryPolicy(max_retries=0, rate_limit_max_wait=0)

CNHI_ANSWER = {
    "id": "5f0c1b5e-0000-4000-8000-000000000002",
    "status": "UNAUTHENTICATED",
    "createdTime": "2024-05-06T07:08:09Z",
    "clientId": "cnhi-client",
    "clientSecret": "cnhi-client-secret-value",
    "refreshToken": "cnhi-refresh-token-value",
    "clientEnvironment": "PRODUCTION",
    "subscriptionKey": "cnhi-subscription-key-value",
}


def cnhi_credentials(environment: lc.ClientEnvironment | str = "STAGE") -> lc.CnhiCredentials:
    return lc.CnhiCredentials(
        client_id="cnhi-client",
        client_secret="cnhi-client-secret-value",
        subscription_key="cnhi-subscription-key-value",
        refresh_token="cnhi-refresh-token-value",
        client_environment=environment,
    )



@pytest.fixture
async def leaf() -> Any:
    async with lc.LeafSession(token="bearer-token-value", retry=NO_RETRY) as session:
        yield session


class TestRequests:
    async def test_get_path_method_and_headers(
        self, raw_paths: tuple[str, list[str]], seen_headers: list[Any]
    ) -> None:
        """GET goes to the provider's credentials path with the bearer token and JSON accept."""
        url, seen = raw_paths

        async with lc.LeafSession(token="bearer-token-value", base_url=url) as leaf:
            await leaf.get("sentera", "u1")

        assert ["/services/usermanagement/api/users/u1/sentera-credentials"] == seen
        (headers,) = seen_headers
        assert "Bearer bearer-token-value" == headers["Authorization"]
        assert "application/json" == headers["Accept"]
        assert headers["User-Agent"].startswith("leaf-creds/")

    async def test_injected_session_gets_every_header(
        self, raw_paths: tuple[str, list[str]], seen_headers: list[Any]
    ) -> None:
        """With a session passed in, each request carries all of our headers itself."""
        url, _ = raw_paths

        async with (
            aiohttp.ClientSession() as client,
            lc.LeafSession(token="bearer-token-value", base_url=url, session=client) as leaf,
        ):
            await leaf.get("sentera", "u1")

        (headers,) = seen_headers
        assert "Bearer bearer-token-value" == headers["Authorization"]
        assert "application/json" == headers["Accept"]
        assert headers["User-Agent"].startswith("leaf-creds/")

    async def test_create_sends_camel_case_json(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """POST sends the schema as Leaf's camelCase JSON with a JSON content type."""
        http.post(CNHI_URL, payload=CNHI_ANSWER, status=201)

        await leaf.create(lc.CNHI, "u1", cnhi_credentials(lc.ClientEnvironment.PRODUCTION))

        (call,) = sent(http, "POST", CNHI_URL)
        assert {
            "clientId": "cnhi-client",
            "clientSecret": "cnhi-client-secret-value",
            "subscriptionKey": "cnhi-subscription-key-value",
            "refreshToken": "cnhi-refresh-token-value",
            "clientEnvironment": "PRODUCTION",
        } == json.loads(call.kwargs["data"])
        assert "application/json" == call.kwargs["headers"]["Content-Type"]

    async def test_create_accepts_a_camel_case_mapping(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A mapping in Leaf's own JSON form is validated and sent like the schema."""
        http.post(SENTERA_URL, payload=SENTERA_ANSWER)
        body = {"username": "grower", "password": "pw-value", "organizationName": "Acme"}

        record = await leaf.create("sentera", "u1", body)

        (call,) = sent(http, "POST", SENTERA_URL)
        assert body == json.loads(call.kwargs["data"])
        assert isinstance(record, lc.SenteraRecord)

    async def test_delete_accepts_an_empty_answer(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """DELETE returns None on a 204 with no body, and on a 200 with one."""
        http.delete(SENTERA_URL, status=204, body="")
        http.delete(SENTERA_URL, status=200, payload={"ok": True})

        await leaf.delete("sentera", "u1")
        await leaf.delete(lc.SENTERA, "u1")
        assert 2 == len(sent(http, "DELETE", SENTERA_URL))

    async def test_events_path(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """The troubleshooting log lives under /events of the credential path."""
        http.get(SENTERA_URL + "/events", payload=[])

        assert [] == await leaf.events("sentera", "u1")

    @pytest.mark.parametrize(
        ("user_id", "segment"),
        [
            ("a/b", "a%2Fb"),
            ("a?b=1", "a%3Fb%3D1"),
            ("a#b", "a%23b"),
            ("100%", "100%25"),
            ("../admin", "..%2Fadmin"),
            ("ü ser", "%C3%BC%20ser"),
        ],
    )
    async def test_user_id_is_one_encoded_segment(
        self, raw_paths: tuple[str, list[str]], user_id: str, segment: str
    ) -> None:
        """Characters that could change the URL are percent-encoded in the user id."""
        url, seen = raw_paths

        async with lc.LeafSession(token="t", base_url=url) as leaf:
            await leaf.get("sentera", user_id)

        assert [f"/services/usermanagement/api/users/{segment}/sentera-credentials"] == seen

    async def test_base_url_path_prefix_is_kept(self, http: LeafMock) -> None:
        """A base URL with a path (a proxy) keeps it before the service path."""
        url = "https://proxy.example/leaf/services/usermanagement/api/users/u1/sentera-credentials"
        http.get(url, payload=SENTERA_ANSWER)

        async with lc.LeafSession(token="t", base_url="https://proxy.example/leaf/") as leaf:
            await leaf.get("sentera", "u1")

        assert 1 == len(sent(http, "GET", url))


class TestDecoding:
    async def test_sentera_record_has_every_documented_field(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """Every documented Sentera field is decoded to its snake_case attribute."""
        http.get(SENTERA_URL, payload=SENTERA_ANSWER)

        record = await leaf.get(lc.SENTERA, "u1")

        assert lc.SenteraRecord(
            id="5f0c1b5e-0000-4000-8000-000000000001",
            status=lc.CredentialStatus.OK,
            created_time=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
            username="grower",
            auth_token="sentera-auth-token-value",
            organization_id="org-1",
            organization_name="Acme Farms",
        ) == record

    async def test_cnhi_record_has_every_documented_field(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """Every documented CNHI field is decoded, the environment as the enum."""
        http.get(CNHI_URL, payload=CNHI_ANSWER)

        record = await leaf.get("cnhi", "u1")

        assert isinstance(record, lc.CnhiRecord)
        assert "UNAUTHENTICATED" == record.status
        assert lc.ClientEnvironment.PRODUCTION is record.client_environment
        assert "cnhi-client-secret-value" == record.client_secret
        assert "cnhi-refresh-token-value" == record.refresh_token
        assert "cnhi-subscription-key-value" == record.subscription_key
        assert datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC) == record.created_time

    async def test_unknown_fields_ignored_and_missing_are_none(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """Fields Leaf adds later are ignored; undocumented-absent ones are None."""
        http.get(SENTERA_URL, payload={"id": "x", "status": "OK", "newThing": {"a": 1}})

        record = await leaf.get(lc.SENTERA, "u1")

        assert (None, None, None) == (record.created_time, record.username, record.auth_token)

    async def test_unknown_status_is_kept(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """A status Leaf invents later decodes and compares equal to its string."""
        http.get(SENTERA_URL, payload={"id": "x", "status": "REVOKED_BY_GROWER"})

        record = await leaf.get(lc.SENTERA, "u1")

        assert "REVOKED_BY_GROWER" == record.status
        assert isinstance(record.status, lc.CredentialStatus)

    async def test_events_decode(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """Events decode with an int status code and an aware creation date."""
        http.get(
            SENTERA_URL + "/events",
            payload=[
                {
                    "id": "e1",
                    "body": '{"error": "invalid_grant"}',
                    "headers": "content-type: application/json",
                    "statusCode": 401,
                    "createdDate": "2024-05-06T07:08:09.000001Z",
                    "somethingNew": True,
                }
            ],
        )

        events = await leaf.events(lc.SENTERA, "u1")

        assert [
            lc.CredentialEvent(
                id="e1",
                body='{"error": "invalid_grant"}',
                headers="content-type: application/json",
                status_code=401,
                created_date=datetime(2024, 5, 6, 7, 8, 9, 1, tzinfo=UTC),
            )
        ] == events

    @pytest.mark.parametrize(
        ("body", "content_type"),
        [
            ("<html>gateway</html>", "text/html"),
            ("[1, 2]", "application/json"),
            ('{"status": "OK"}', "application/json"),
            ('{"id": "x", "status": "OK", "createdTime": "yesterday"}', "application/json"),
        ],
    )
    async def test_undecodable_success_is_decode_error(
        self, http: LeafMock, leaf: lc.LeafSession, body: str, content_type: str
    ) -> None:
        """A 2xx that is not JSON or does not fit the record raises DecodeError."""
        http.get(SENTERA_URL, body=body, content_type=content_type)

        with pytest.raises(lc.DecodeError) as info:
            await leaf.get(lc.SENTERA, "u1")

        assert 200 == info.value.status
        assert SENTERA_URL == info.value.url

    async def test_events_must_be_a_list(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """An events answer that is not an array raises DecodeError."""
        http.get(SENTERA_URL + "/events", payload={"content": []})

        with pytest.raises(lc.DecodeError):
            await leaf.events(lc.SENTERA, "u1")


class TestErrors:
    @pytest.mark.parametrize(
        ("status", "error_class"),
        [
            (400, lc.BadRequestError),
            (401, lc.AuthenticationError),
            (403, lc.PermissionDeniedError),
            (404, lc.NotFoundError),
            (405, lc.APIError),
            (409, lc.ConflictError),
            (422, lc.APIError),
            (429, lc.RateLimitError),
            (500, lc.ServerError),
            (502, lc.ServerError),
            (503, lc.ServerError),
            (504, lc.ServerError),
            (599, lc.ServerError),
        ],
    )
    async def test_status_maps_to_error_class(
        self, http: LeafMock, leaf: lc.LeafSession, status: int, error_class: type[lc.APIError]
    ) -> None:
        """Each status raises its own APIError subclass, carrying status, method and URL."""
        http.get(SENTERA_URL, status=status, body="")

        with pytest.raises(error_class) as info:
            await leaf.get(lc.SENTERA, "u1")

        assert type(info.value) is error_class
        assert (status, "GET", SENTERA_URL) == (
            info.value.status,
            info.value.method,
            info.value.url,
        )
        assert isinstance(info.value, lc.LeafError)

    async def test_problem_json_is_surfaced(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """Leaf's problem fields and request id are on the error and in its message."""
        http.post(
            SENTERA_URL,
            status=400,
            content_type="application/problem+json",
            headers={"X-Request-Id": "req-42"},
            payload={
                "type": "https://www.withleaf.io/problem/constraint-violation",
                "title": "Method argument not valid",
                "status": 400,
                "detail": "organizationName is invalid",
                "message": "error.validation",
                "errorKey": "invalidOrganization",
                "fieldErrors": [
                    {"objectName": "senteraCredentials", "field": "organizationName",
                     "message": "must not be blank"}
                ],
            },
        )

        with pytest.raises(lc.BadRequestError) as info:
            await leaf.create(lc.SENTERA, "u1", sentera_credentials())

        error = info.value
        assert "Method argument not valid" == error.title
        assert "organizationName is invalid" == error.detail
        assert "error.validation" == error.message
        assert "invalidOrganization" == error.error_key
        assert "req-42" == error.request_id
        assert (
            lc.FieldError("senteraCredentials", "organizationName", "must not be blank"),
        ) == error.field_errors
        text = str(error)
        for part in ("400", "POST", "Method argument not valid", "must not be blank", "req-42"):
            assert part in text

    async def test_plain_text_error_falls_back_to_body(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A non-JSON error answer shows its (truncated) text."""
        text = "Bad gateway " + "x" * 2000
        http.get(SENTERA_URL, status=502, body=text, content_type="text/plain")

        with pytest.raises(lc.ServerError) as info:
            await leaf.get(lc.SENTERA, "u1")

        assert info.value.body is not None
        assert info.value.body.startswith("Bad gateway")
        assert 500 == len(info.value.body)

    async def test_transport_errors_are_translated_and_chained(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """aiohttp's connection errors become TransportError, chained to the original."""
        http.get(SENTERA_URL, exception=aiohttp.ServerDisconnectedError())

        with pytest.raises(lc.TransportError) as info:
            await leaf.get(lc.SENTERA, "u1")

        assert isinstance(info.value.__cause__, aiohttp.ServerDisconnectedError)
        assert "GET" == info.value.method

    async def test_timeouts_are_request_timeout_errors(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A timeout is a RequestTimeoutError, itself a TransportError."""
        http.get(SENTERA_URL, exception=TimeoutError())

        with pytest.raises(lc.RequestTimeoutError) as info:
            await leaf.get(lc.SENTERA, "u1")

        assert isinstance(info.value, lc.TransportError)

    async def test_redirect_is_not_followed(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """A redirect is an error naming its target; nothing is sent to the other host."""
        http.get(SENTERA_URL, status=302, headers={"Location": "https://evil.example/steal?x=1"})

        with pytest.raises(lc.APIError) as info:
            await leaf.get(lc.SENTERA, "u1")

        assert 302 == info.value.status
        assert "https://evil.example" in str(info.value)
        assert "x=1" not in str(info.value)
        assert 1 == total_requests(http)


class TestBadInput:
    @pytest.mark.parametrize("user_id", ["", "   ", ".", "..", None, 42])
    async def test_bad_user_id(self, http: LeafMock, leaf: lc.LeafSession, user_id: Any) -> None:
        """An empty, dot or non-string user id raises ValidationError before any request."""
        with pytest.raises(lc.ValidationError):
            await leaf.get(lc.SENTERA, user_id)
        with pytest.raises(lc.ValidationError):
            await leaf.create(lc.SENTERA, user_id, sentera_credentials())

        assert 0 == total_requests(http)

    async def test_schema_of_another_provider(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """CNHI credentials sent to Sentera are refused before any request."""
        with pytest.raises(lc.ValidationError, match="SenteraCredentials"):
            await leaf.create("sentera", "u1", cnhi_credentials())

        assert 0 == total_requests(http)

    @pytest.mark.parametrize("field", ["username", "password", "organization_name"])
    async def test_empty_required_field(
        self, http: LeafMock, leaf: lc.LeafSession, field: str
    ) -> None:
        """An empty or blank required field is refused, naming its wire name."""
        values = {"username": "u", "password": "p", "organization_name": "o", field: "  "}

        with pytest.raises(lc.ValidationError) as info:
            await leaf.create(lc.SENTERA, "u1", lc.SenteraCredentials(**values))

        wire = {"organization_name": "organizationName"}.get(field, field)
        assert f"must not be empty @ $.{wire}" in str(info.value)
        assert 0 == total_requests(http)

    async def test_none_in_required_field(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """None in a required field is refused before any request."""
        credentials = lc.SenteraCredentials(
            username="u",
            password=None,  # type: ignore[arg-type]
            organization_name="o",
        )

        with pytest.raises(lc.ValidationError, match=r"\$\.password"):
            await leaf.create(lc.SENTERA, "u1", credentials)

        assert 0 == total_requests(http)

    def test_wrong_client_environment(self) -> None:
        """A client environment other than STAGE or PRODUCTION is refused at once."""
        with pytest.raises(lc.ValidationError, match="STAGE, PRODUCTION"):
            cnhi_credentials("DEV")

    def test_plain_string_environment_accepted(self) -> None:
        """The plain strings STAGE and PRODUCTION become the enum."""
        assert lc.ClientEnvironment.STAGE is cnhi_credentials("STAGE").client_environment
        assert lc.ClientEnvironment.PRODUCTION is cnhi_credentials("PRODUCTION").client_environment

    async def test_mapping_problems_are_all_listed(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A bad JSON body lists every problem by wire name, and nothing is sent."""
        with pytest.raises(lc.ValidationError) as info:
            await leaf.create(
                "cnhi",
                "u1",
                {"clientId": "c", "clientSecret": 7, "clientEnvironment": "DEV", "extra": 1},
            )

        assert {
            "unknown field @ $.extra",
            "required field missing @ $.subscriptionKey",
            "required field missing @ $.refreshToken",
            "invalid value for type, expected str @ $.clientSecret",
            "must be one of STAGE, PRODUCTION @ $.clientEnvironment",
        } == set(info.value.errors)
        assert 0 == total_requests(http)

    async def test_mapping_values_are_checked(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """Wrong value types and enum values are reported with their paths."""
        with pytest.raises(lc.ValidationError) as info:
            await leaf.create(
                "cnhi",
                "u1",
                {
                    "clientId": "c",
                    "clientSecret": 7,
                    "subscriptionKey": "k",
                    "refreshToken": "r",
                    "clientEnvironment": "DEV",
                },
            )

        assert any(e.endswith("@ $.clientSecret") for e in info.value.errors)
        assert any("STAGE, PRODUCTION @ $.clientEnvironment" in e for e in info.value.errors)
        assert 0 == total_requests(http)

    async def test_unknown_provider(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """An unknown slug raises UnknownProviderError, a LookupError, before any request."""
        with pytest.raises(lc.UnknownProviderError) as info:
            await leaf.get("tractor-co", "u1")

        assert isinstance(info.value, LookupError)
        assert "tractor-co" in str(info.value)
        assert 0 == total_requests(http)

    async def test_provider_of_wrong_type(self, leaf: lc.LeafSession) -> None:
        """A provider that is neither a slug nor a resource is a ValidationError."""
        with pytest.raises(lc.ValidationError):
            await leaf.get(42, "u1")  # type: ignore[call-overload]


class TestConstruction:
    @pytest.mark.parametrize(
        "kwargs",
        [
            {},
            {"token": "t", "username": "u", "password": "p"},
            {"token": "t", "token_provider": object()},
            {"username": "u"},
            {"password": "p"},
            {"username": "", "password": "p"},
            {"token": ""},
        ],
    )
    def test_exactly_one_kind_of_auth(self, kwargs: dict[str, Any]) -> None:
        """None, several, or incomplete kinds of auth are refused."""
        with pytest.raises(lc.ValidationError):
            lc.LeafSession(**kwargs)

    @pytest.mark.parametrize(
        "base_url",
        [
            "http://api.withleaf.io",
            "http://10.0.0.8:8080",
            "ftp://api.withleaf.io",
            "api.withleaf.io",
            "https://user:pw@api.withleaf.io",
            "https://api.withleaf.io?x=1",
        ],
    )
    def test_bad_base_urls(self, base_url: str) -> None:
        """Plain http off loopback, other schemes and URLs with extras are refused."""
        with pytest.raises(lc.ValidationError):
            lc.LeafSession(token="t", base_url=base_url)

    @pytest.mark.parametrize(
        "base_url",
        [
            "https://api.withleaf.io",
            "http://127.0.0.1:8080",
            "http://127.3.4.5",
            "http://[::1]:9000",
            "http://localhost:8080",
        ],
    )
    async def test_good_base_urls(self, base_url: str) -> None:
        """https anywhere and http on loopback are accepted."""
        async with lc.LeafSession(token="t", base_url=base_url) as leaf:
            assert base_url.rstrip("/") == leaf.base_url

    async def test_http_opt_in(self) -> None:
        """allow_http=True lets a plain http base URL through."""
        async with lc.LeafSession(token="t", base_url="http://leaf.internal", allow_http=True):
            pass

    @pytest.mark.parametrize("timeout", [0, -1, "5", True])
    def test_bad_timeouts(self, timeout: Any) -> None:
        """Timeouts must be positive numbers."""
        with pytest.raises(lc.ValidationError):
            lc.LeafSession(token="t", timeout=timeout)
        with pytest.raises(lc.ValidationError):
            lc.LeafSession(token="t", connect_timeout=timeout)

    async def test_default_timeout_is_finite(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """Every request carries a finite total and connect timeout."""
        http.get(SENTERA_URL, payload=SENTERA_ANSWER)

        await leaf.get(lc.SENTERA, "u1")

        (call,) = sent(http, "GET", SENTERA_URL)
        timeout = call.kwargs["timeout"]
        # The total is the transport's to keep (one timer for all requests),
        # so aiohttp gets only the connect timeout.
        assert (None, 10.0) == (timeout.total, timeout.sock_connect)
        assert 0 < leaf.transport.timeouts.total < 300

    @pytest.mark.parametrize("operation", ["get", "create", "delete", "events"])
    async def test_a_bad_timeout_is_named_before_a_bad_user_id(
        self, http: LeafMock, leaf: lc.LeafSession, operation: str
    ) -> None:
        """Options are checked first, then the input, whatever the operation."""
        args = (sentera_credentials(),) if operation == "create" else ()

        with pytest.raises(lc.ValidationError, match="timeout must be a positive number"):
            await getattr(leaf, operation)(lc.SENTERA, "..", *args, timeout=-1)

        assert 0 == total_requests(http)

    @pytest.mark.parametrize("operation", ["get", "create", "delete", "events"])
    async def test_per_call_timeout(
        self, http: LeafMock, leaf: lc.LeafSession, operation: str
    ) -> None:
        """timeout= and connect_timeout= on any of the four calls override the session's."""
        method, url = {
            "get": ("GET", SENTERA_URL),
            "create": ("POST", SENTERA_URL),
            "delete": ("DELETE", SENTERA_URL),
            "events": ("GET", SENTERA_URL + "/events"),
        }[operation]
        payload: Any = [] if operation == "events" else SENTERA_ANSWER
        http.add(url, method, payload=payload, repeat=True)
        args = (sentera_credentials(),) if operation == "create" else ()

        await getattr(leaf, operation)(lc.SENTERA, "u1", *args, timeout=2.5, connect_timeout=0.5)
        await getattr(leaf, operation)(lc.SENTERA, "u1", *args)

        given, default = (call.kwargs["timeout"] for call in sent(http, method, url))
        assert (0.5, 10.0) == (given.sock_connect, default.sock_connect)
        transport = leaf.transport
        assert (2.5, 30.0) == (transport.timeouts_for(2.5).total, transport.timeouts.total)


class TestOwnership:
    async def test_injected_session_is_not_closed(self, http: LeafMock) -> None:
        """A session passed in is used for requests and left open."""
        http.get(SENTERA_URL, payload=SENTERA_ANSWER)
        async with aiohttp.ClientSession() as client:
            async with lc.LeafSession(token="t", session=client) as leaf:
                await leaf.get(lc.SENTERA, "u1")
            assert not client.closed

    async def test_own_session_is_closed(self, http: LeafMock) -> None:
        """The session created by LeafSession is closed by aclose, which is idempotent."""
        http.get(SENTERA_URL, payload=SENTERA_ANSWER)
        leaf = lc.LeafSession(token="t")
        await leaf.get(lc.SENTERA, "u1")

        await leaf.aclose()
        await leaf.aclose()

        assert leaf.closed
        with pytest.raises(RuntimeError, match="closed"):
            await leaf.get(lc.SENTERA, "u1")

    async def test_unused_session_closes_cleanly(self) -> None:
        """A session that never sent anything closes without creating a client."""
        async with lc.LeafSession(token="t") as leaf:
            assert "auth=token" in repr(leaf)


class TestSecrets:
    def test_schema_reprs_mask_secrets(self) -> None:
        """Passwords, client secrets, subscription keys and refresh tokens show as ***."""
        text = repr(sentera_credentials()) + str(cnhi_credentials())

        for secret in (
            "hunter2-password",
            "cnhi-client-secret-value",
            "cnhi-subscription-key-value",
            "cnhi-refresh-token-value",
        ):
            assert secret not in text
        assert "password='***'" in text
        assert "cnhi-client" in text

    def test_secrets_stay_readable(self) -> None:
        """Masking is for display only: the attributes keep their values."""
        assert "hunter2-password" == sentera_credentials().password

    async def test_record_reprs_mask_secrets(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """Auth tokens and client secrets in records show as *** in repr and str."""
        http.get(SENTERA_URL, payload=SENTERA_ANSWER)
        http.get(CNHI_URL, payload=CNHI_ANSWER)

        text = repr(await leaf.get(lc.SENTERA, "u1")) + str(await leaf.get(lc.CNHI, "u1"))

        for secret in (
            "sentera-auth-token-value",
            "cnhi-client-secret-value",
            "cnhi-refresh-token-value",
            "cnhi-subscription-key-value",
        ):
            assert secret not in text

    def test_session_repr_hides_token(self) -> None:
        """The bearer token is not in the session's repr."""
        leaf = lc.LeafSession(token="bearer-token-value")

        assert "bearer-token-value" not in repr(leaf)

    async def test_echoed_secrets_are_scrubbed_from_errors(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A server that echoes the request's secrets back does not get them into the error."""
        echo = "bad password hunter2-password for token bearer-token-value"
        http.post(
            SENTERA_URL,
            status=400,
            payload={"title": echo, "detail": echo, "fieldErrors": [{"message": echo}]},
        )
        http.post(SENTERA_URL, status=400, body=echo, content_type="text/plain")

        for _ in range(2):
            with pytest.raises(lc.BadRequestError) as info:
                await leaf.create(lc.SENTERA, "u1", sentera_credentials())
            text = str(info.value) + repr(info.value) + repr(vars(info.value))
            assert "hunter2-password" not in text
            assert "bearer-token-value" not in text
            assert "***" in text

    async def test_debug_log_has_no_secrets(
        self, http: LeafMock, leaf: lc.LeafSession, caplog: pytest.LogCaptureFixture
    ) -> None:
        """DEBUG logging names method, path and status, never a token or body."""
        http.post(SENTERA_URL, payload=SENTERA_ANSWER)
        caplog.set_level(logging.DEBUG, logger="leaf_creds")

        await leaf.create(lc.SENTERA, "u1", sentera_credentials())

        (line,) = [r.getMessage() for r in caplog.records if r.name == "leaf_creds"]
        assert "POST /services/usermanagement/api/users/u1/sentera-credentials -> 200" in line
        assert "attempt 1" in line
        for secret in ("hunter2-password", "bearer-token-value", "sentera-auth-token-value"):
            assert secret not in caplog.text


class TestBaseUrl:
    async def test_default_base_url(self, leaf: lc.LeafSession) -> None:
        """The default host is Leaf's production API."""
        assert BASE == leaf.base_url == lc.DEFAULT_BASE_URL


class TestOddAnswers:
    @pytest.mark.parametrize(
        "answer",
        [
            {"id": "x", "status": 5},
            {"id": "x", "status": "OK", "createdTime": 1700000000},
            {"id": "x", "status": "OK", "clientEnvironment": 1},
        ],
    )
    async def test_wrong_json_types_are_decode_errors(
        self, http: LeafMock, leaf: lc.LeafSession, answer: dict[str, Any]
    ) -> None:
        """A status, timestamp or enum of the wrong JSON type is a DecodeError naming the field."""
        http.get(CNHI_URL, payload=answer)

        with pytest.raises(lc.DecodeError, match=r"@ \$\."):
            await leaf.get(lc.CNHI, "u1")

    async def test_broken_problem_json_falls_back_to_text(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """An error body that looks like JSON but is not is shown as text."""
        http.get(SENTERA_URL, status=404, body='{"title": broken', content_type="application/json")

        with pytest.raises(lc.NotFoundError) as info:
            await leaf.get(lc.SENTERA, "u1")

        assert '{"title": broken' == info.value.body

    @pytest.mark.parametrize("base_url", ["https://", "http://[::1", "https:///path"])
    def test_unparseable_base_urls(self, base_url: str) -> None:
        """A base URL without a host is refused."""
        with pytest.raises(lc.ValidationError):
            lc.LeafSession(token="t", base_url=base_url)


class TestErrorObjects:
    def test_errors_survive_pickling(self) -> None:
        """Errors cross process pools and task queues with their fields intact."""
        import pickle

        errors: list[lc.LeafError] = [
            lc.NotFoundError(status=404, method="GET", url="u", title="gone", attempts=2),
            lc.TransportError("dropped", method="GET", url="u", sent=False),
            lc.DecodeError("bad", method="GET", url="u", status=200),
            lc.OutcomeUnknownError("?", provider="sentera", user_id="u1", attempts=3),
            lc.ValidationError("bad input", errors=["a @ $.b"]),
            lc.UnknownProviderError("acme", ["sentera"]),
        ]
        for error in errors:
            copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
            assert type(error) is type(copy)
            assert str(error) == str(copy)
            assert vars(error) == vars(copy)

    async def test_malformed_redirect_location(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """A redirect with an unreadable Location is still our APIError, str and repr agreeing."""
        http.delete(SENTERA_URL, status=302, headers={"Location": "http://[::1"})

        with pytest.raises(lc.APIError) as info:
            await leaf.delete(lc.SENTERA, "u1")

        assert "unreadable Location" in str(info.value)
        assert str(info.value) in repr(info.value)

    @pytest.mark.parametrize("token", ["line\nbreak", "ünïcode", None])
    async def test_provider_tokens_are_checked(self, http: LeafMock, token: Any) -> None:
        """A token provider returning something unsendable fails before any request."""

        async def provide() -> Any:
            return token

        async with lc.LeafSession(token_provider=provide) as leaf:
            with pytest.raises(lc.ValidationError, match="token_provider"):
                await leaf.get(lc.SENTERA, "u1")

        assert 0 == total_requests(http)

    def test_fixed_token_is_checked(self) -> None:
        """A fixed token with a line break is refused at once, without echoing it."""
        with pytest.raises(lc.ValidationError) as info:
            lc.LeafSession(token="abc\r\nX-Injected: 1")

        assert "Injected" not in str(info.value)

    def test_huge_retry_counts_do_not_overflow(self) -> None:
        """Backoff stays finite for any retry number."""
        assert 0 <= lc.RetryPolicy(max_retries=5000).backoff(4000) <= 30.0

    async def test_query_strings_stay_out_of_errors(self, http: LeafMock) -> None:
        """A failing paged request reports its URL without the query string."""
        http.get(UM + "/users?page=0&size=100&email=a%40b.example", status=500, body="")

        async with lc.LeafSession(token="t", retry=NO_RETRY) as leaf:
            with pytest.raises(lc.ServerError) as info:
                [user async for user in leaf.users(email="a@b.example")]

        assert UM + "/users" == info.value.url
        assert "a@b" not in str(info.value)
