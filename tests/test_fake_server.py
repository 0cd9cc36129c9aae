"""FakeLeaf against Leaf's documented facts: paths, statuses, problem JSON, paging, JWTs, faults."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import quote

import aiohttp
import pytest
from yarl import URL

import leaf_creds as lc
from leaf_creds.testing import DEFAULT_ACCOUNTS, FakeLeaf, LoggedRequest, serve

pytest_plugins = ["pytester"]

UM = "/services/usermanagement/api"
LEAF_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
SENTERA_BODY = {"username": "grower", "password": "sentera-password-1", "organizationName": "Acme"}
CNHI_BODY = {
    "clientId": "cnhi-client",
    "clientSecret": "cnhi-client-secret-1",
    "subscriptionKey": "cnhi-subscription-key-1",
    "refreshToken": "cnhi-refresh-token-1",
    "clientEnvironment": "PRODUCTION",
}
SECRETS = ("sentera-password-1", "cnhi-client-secret-1", "cnhi-refresh-token-1", "password")


class Answer(NamedTuple):
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def call(
    client: aiohttp.ClientSession,
    fake: FakeLeaf,
    method: str,
    path: str,
    *,
    body: Any = None,
    token: str | None = None,
    timeout: float = 10.0,
) -> Answer:
    """Send one request to the fake, the path taken as already percent-encoded."""
    headers = {"Authorization": f"Bearer {token or fake.token}"}
    async with client.request(
        method,
        URL(fake.url + path, encoded=True),
        json=body,
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=timeout),
    ) as response:
        return Answer(response.status, response.headers, await response.read())


def claims(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def credentials_path(user_id: str, slug: str = "sentera") -> str:
    return f"{UM}/users/{quote(user_id, safe='')}/{slug}-credentials"


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def user(leaf_fake: FakeLeaf) -> str:
    return leaf_fake.add_user(id="u1", name="Ada", email="ada@example.com").id


def assert_problem(answer: Answer, status: int) -> dict[str, Any]:
    assert status == answer.status
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    problem: dict[str, Any] = answer.json()
    assert status == problem["status"]
    assert problem["title"]
    return problem


class TestLogin:
    async def test_login_issues_a_24_hour_hs256_jwt(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """A good login answers 200 with an id_token whose exp is 24 hours after its iat."""
        body = {"username": "user@example.com", "password": "password", "rememberMe": False}
        answer = await call(client, leaf_fake, "POST", "/api/authenticate", body=body)

        assert 200 == answer.status
        token = answer.json()["id_token"]
        header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
        assert {"alg": "HS256", "typ": "JWT"} == header
        assert 86_400 == claims(token)["exp"] - claims(token)["iat"]
        assert "user@example.com" == claims(token)["sub"]

    @pytest.mark.parametrize(
        ("remember_me", "days"), [(True, 30), ("true", 30), ("false", 1), (False, 1)]
    )
    async def test_remember_me_lasts_30_days(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, remember_me: Any, days: int
    ) -> None:
        """rememberMe true, as the collection sends it or "true" as the docs do, lasts 30 days."""
        body = {"username": "user@example.com", "password": "password", "rememberMe": remember_me}
        answer = await call(client, leaf_fake, "POST", "/api/authenticate", body=body)

        token = answer.json()["id_token"]
        assert days * 86_400 == claims(token)["exp"] - claims(token)["iat"]

    async def test_the_sdks_remember_me_login_lasts_30_days(self, leaf_fake: FakeLeaf) -> None:
        """LeafSession(remember_me=True) gets a token from the fake still good two days later."""
        leaf_fake.add_user(id="u1")
        async with lc.LeafSession(
            username="user@example.com", password="password", remember_me=True,
            base_url=leaf_fake.url,
        ) as leaf:  # fmt: skip
            await leaf.users.get("u1")
            leaf_fake.advance_clock(2 * 86_400)
            await leaf.users.get("u1")

        assert 1 == leaf_fake.count("POST", "/api/authenticate")

    @pytest.mark.leaf_fake(token_lifetime=90, accounts={"ops@example.com": "s3cret-pw"})
    async def test_lifetime_and_accounts_are_configurable(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """The marker's accounts and token_lifetime reach the fake."""
        body = {"username": "ops@example.com", "password": "s3cret-pw", "rememberMe": True}
        answer = await call(client, leaf_fake, "POST", "/api/authenticate", body=body)

        token = answer.json()["id_token"]
        assert 90 == claims(token)["exp"] - claims(token)["iat"]

    async def test_lifetime_is_settable_on_the_instance(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """fake.token_lifetime set after the start applies to the next login; None restores 24 h."""
        body = {"username": "user@example.com", "password": "password"}
        leaf_fake.token_lifetime = 45
        assert 45 == leaf_fake.token_lifetime
        short = (await call(client, leaf_fake, "POST", "/api/authenticate", body=body)).json()
        leaf_fake.token_lifetime = None
        usual = (await call(client, leaf_fake, "POST", "/api/authenticate", body=body)).json()

        assert [45, 86_400] == [
            claims(answer["id_token"])["exp"] - claims(answer["id_token"])["iat"]
            for answer in (short, usual)
        ]

    async def test_login_path_has_nothing_under_it(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """/api/authenticate/x is a 404 without a token check, as any path outside a service."""
        answer = await call(client, leaf_fake, "POST", "/api/authenticate/x", token="nope")

        assert "no such path: /api/authenticate/x" == assert_problem(answer, 404)["detail"]

    @pytest.mark.parametrize(
        "body",
        [
            {"username": "user@example.com", "password": "wrong"},
            {"username": "nobody@example.com", "password": "password"},
            {"username": "user@example.com"},
        ],
    )
    async def test_bad_login_is_a_401_problem(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, body: dict[str, str]
    ) -> None:
        """A wrong password, an unknown account or a missing password is 401 problem JSON."""
        answer = await call(client, leaf_fake, "POST", "/api/authenticate", body=body)

        problem = assert_problem(answer, 401)
        assert "Bad credentials" == problem["detail"]
        assert "/api/authenticate" == problem["path"]

    @pytest.mark.leaf_fake(accounts=None)
    async def test_no_accounts_accept_no_login(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """With accounts=None even the default account is refused."""
        body = {"username": "user@example.com", "password": "password"}
        answer = await call(client, leaf_fake, "POST", "/api/authenticate", body=body)

        assert_problem(answer, 401)

    async def test_login_body_must_be_json(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """A login whose body is not a JSON object is 400."""
        answer = await call(client, leaf_fake, "POST", "/api/authenticate", body=["x"])

        assert_problem(answer, 400)

    async def test_login_is_post_only(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """GET on the login path is 405 with an Allow header."""
        answer = await call(client, leaf_fake, "GET", "/api/authenticate")

        assert_problem(answer, 405)
        assert "POST" == answer.headers["Allow"]


class TestBearerTokens:
    async def test_missing_token_is_401(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """A request without Authorization is a 401 problem."""
        async with client.get(leaf_fake.url + credentials_path(user)) as response:
            assert 401 == response.status
            assert 401 == (await response.json(content_type=None))["status"]

    async def test_expired_token_is_401(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """A token past its exp is refused as expired."""
        expired = leaf_fake.issue_token(lifetime=-60)
        answer = await call(client, leaf_fake, "GET", credentials_path(user), token=expired)

        assert "token expired" == assert_problem(answer, 401)["detail"]

    async def test_advancing_the_clock_expires_tokens(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """Moving the fake's clock past exp makes an issued token expire."""
        leaf_fake.add_credential(user, "sentera", SENTERA_BODY)
        assert 200 == (await call(client, leaf_fake, "GET", credentials_path(user))).status

        leaf_fake.advance_clock(86_401)

        assert_problem(await call(client, leaf_fake, "GET", credentials_path(user)), 401)

    async def test_tampered_and_foreign_tokens_are_401(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """A token with a changed payload, or signed by another fake, is refused."""
        head, _, signature = leaf_fake.token.split(".")
        forged = {**claims(leaf_fake.token), "sub": "admin"}
        payload = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
        foreign = FakeLeaf().token

        for token in (f"{head}.{payload}.{signature}", foreign, "not-a-jwt"):
            answer = await call(client, leaf_fake, "GET", credentials_path(user), token=token)
            assert "invalid token" == assert_problem(answer, 401)["detail"]

    @pytest.mark.leaf_fake(tokens=["static-test-token"])
    async def test_static_tokens_are_accepted(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """An opaque token given as tokens= is accepted, even after the clock moves."""
        leaf_fake.add_credential(user, "sentera", SENTERA_BODY)
        leaf_fake.advance_clock(10 * 86_400)

        answer = await call(
            client, leaf_fake, "GET", credentials_path(user), token="static-test-token"
        )

        assert 200 == answer.status


class TestCredentials:
    async def test_create_answers_201_with_the_record(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """POST answers 201 with id, status OK, Leaf's createdTime and the provider's fields."""
        answer = await call(client, leaf_fake, "POST", credentials_path(user), body=SENTERA_BODY)

        assert 201 == answer.status
        assert credentials_path(user) == answer.headers["Location"]
        record = answer.json()
        assert str(uuid.UUID(record["id"])) == record["id"]
        assert "OK" == record["status"]
        assert LEAF_TIME.fullmatch(record["createdTime"])
        assert "grower" == record["username"]
        assert "Acme" == record["organizationName"]
        assert record["authToken"]
        assert record["organizationId"]
        assert "password" not in record
        assert record == leaf_fake.credential(user, lc.SENTERA)

    async def test_cnhi_echoes_its_secrets(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """CNHI's record carries every documented response field, secrets included."""
        answer = await call(
            client, leaf_fake, "POST", credentials_path(user, "cnhi"), body=CNHI_BODY
        )

        record = answer.json()
        assert CNHI_BODY == {key: record[key] for key in CNHI_BODY}

    async def test_get_then_delete_then_404(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """GET answers the stored record; DELETE answers 204 with no body; then GET is 404."""
        stored = leaf_fake.add_credential(user, "sentera", SENTERA_BODY)

        got = await call(client, leaf_fake, "GET", credentials_path(user))
        deleted = await call(client, leaf_fake, "DELETE", credentials_path(user))
        again = await call(client, leaf_fake, "GET", credentials_path(user))

        assert (200, stored) == (got.status, got.json())
        assert (204, b"") == (deleted.status, deleted.body)
        assert_problem(again, 404)
        assert None is leaf_fake.credential(user, "sentera")

    @pytest.mark.parametrize("method", ["GET", "DELETE"])
    async def test_missing_credential_or_user_is_404(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str, method: str
    ) -> None:
        """GET and DELETE of a credential that is not there, or of a missing user, are 404."""
        for path in (credentials_path(user), credentials_path("no-such-user")):
            assert_problem(await call(client, leaf_fake, method, path), 404)

    async def test_create_for_a_missing_user_is_404(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """POST for a user that does not exist is 404."""
        answer = await call(
            client, leaf_fake, "POST", credentials_path("ghost"), body=SENTERA_BODY
        )

        assert_problem(answer, 404)

    async def test_create_over_an_existing_credential_is_409(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """A second POST for the same provider and user is 409 and keeps the first record."""
        first = leaf_fake.add_credential(user, "sentera", SENTERA_BODY)

        answer = await call(client, leaf_fake, "POST", credentials_path(user), body=SENTERA_BODY)

        assert_problem(answer, 409)
        assert first == leaf_fake.credential(user, "sentera")

    async def test_invalid_body_is_400_with_field_errors(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """A body that does not fit the schema is 400 with one fieldErrors entry per problem."""
        body = {"username": "grower", "colour": "blue"}

        answer = await call(client, leaf_fake, "POST", credentials_path(user), body=body)

        problem = assert_problem(answer, 400)
        fields = {(e["objectName"], e["field"]) for e in problem["fieldErrors"]}
        assert {
            ("senteraCredentials", "colour"),
            ("senteraCredentials", "password"),
            ("senteraCredentials", "organizationName"),
        } == fields
        assert all(e["message"] for e in problem["fieldErrors"])
        assert None is leaf_fake.credential(user, "sentera")

    async def test_invalid_value_is_400(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """A clientEnvironment outside STAGE/PRODUCTION is a field error on that field."""
        body = {**CNHI_BODY, "clientEnvironment": "MOON"}

        answer = await call(client, leaf_fake, "POST", credentials_path(user, "cnhi"), body=body)

        problem = assert_problem(answer, 400)
        assert ["clientEnvironment"] == [e["field"] for e in problem["fieldErrors"]]

    async def test_body_that_is_not_json_is_400(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """A POST body that is not JSON is 400 problem JSON."""
        async with client.post(
            URL(leaf_fake.url + credentials_path(user), encoded=True),
            data=b"{not json",
            headers={"Authorization": f"Bearer {leaf_fake.token}"},
        ) as response:
            assert 400 == response.status
            assert "application/problem+json" == response.content_type

    @pytest.mark.parametrize(
        "path",
        [
            f"{UM}/users/u1/nope-credentials",
            f"{UM}/users/u1/sentera",
            f"{UM}/users/u1/sentera-credentials/other",
            f"{UM}/users/u1/sentera-credentials/events/x",
            f"{UM}/users//sentera-credentials",
            f"{UM}/fields",
            "/services/fields/api/fields",
            "/",
        ],
    )
    async def test_unknown_paths_are_404(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str, path: str
    ) -> None:
        """Paths that are not Leaf's, or providers that are not registered, are 404."""
        assert_problem(await call(client, leaf_fake, "GET", path), 404)

    async def test_every_registered_provider_is_served(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """Each provider of the registry has its -credentials and /events endpoints."""
        for resource in leaf_fake.registry:
            path = credentials_path(user, resource.slug)
            assert_problem(await call(client, leaf_fake, "GET", path), 404)
            assert_problem(await call(client, leaf_fake, "GET", path + "/events"), 404)
            # An empty body is a schema error (400), not an unknown path.
            assert_problem(await call(client, leaf_fake, "POST", path, body={}), 400)

    async def test_other_methods_are_405(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """PUT on a credential is 405; Leaf has no update."""
        answer = await call(client, leaf_fake, "PUT", credentials_path(user), body=SENTERA_BODY)

        assert_problem(answer, 405)
        assert "GET, POST, DELETE" == answer.headers["Allow"]

    async def test_user_id_is_one_percent_encoded_segment(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """An id with '/', '%' and spaces is matched on its raw segment, unquoted once."""
        odd = leaf_fake.add_user(id="a/b %2F c").id
        leaf_fake.add_credential(odd, "sentera", SENTERA_BODY)

        encoded = await call(client, leaf_fake, "GET", credentials_path(odd))
        twice = await call(client, leaf_fake, "GET", credentials_path(quote(odd, safe="")))
        raw = await call(client, leaf_fake, "GET", f"{UM}/users/a/b/sentera-credentials")

        assert 200 == encoded.status
        assert_problem(twice, 404)
        assert_problem(raw, 404)


class TestEvents:
    async def test_create_logs_an_event(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """A create logs one event with Leaf's fields; none of them holds a secret."""
        await call(client, leaf_fake, "POST", credentials_path(user, "cnhi"), body=CNHI_BODY)

        answer = await call(client, leaf_fake, "GET", credentials_path(user, "cnhi") + "/events")

        assert 200 == answer.status
        (event,) = answer.json()
        assert {"id", "body", "headers", "statusCode", "createdDate"} == set(event)
        assert isinstance(event["body"], str)
        assert isinstance(event["headers"], str)
        assert 200 == event["statusCode"]
        assert LEAF_TIME.fullmatch(event["createdDate"])
        assert not any(secret in answer.body.decode() for secret in CNHI_BODY.values())

    async def test_status_change_shows_in_get_and_events(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """set_status changes the record's status and logs an event with a matching code."""
        leaf_fake.add_credential(user, "sentera", SENTERA_BODY)

        updated = leaf_fake.set_status(user, lc.SENTERA, lc.CredentialStatus.UNAUTHENTICATED)

        got = await call(client, leaf_fake, "GET", credentials_path(user))
        events = await call(client, leaf_fake, "GET", credentials_path(user) + "/events")
        assert "UNAUTHENTICATED" == got.json()["status"] == updated["status"]
        # The create, the status change, and the GET that read it.
        assert [200, 401, 200] == [event["statusCode"] for event in events.json()]

    async def test_unknown_status_is_kept(self, leaf_fake: FakeLeaf, user: str) -> None:
        """Leaf's status is an open string; the fake stores any value."""
        leaf_fake.add_credential(user, "sentera", SENTERA_BODY)

        leaf_fake.set_status(user, "sentera", "SOMETHING_NEW")

        record = leaf_fake.credential(user, "sentera")
        assert record is not None
        assert "SOMETHING_NEW" == record["status"]

    async def test_events_are_dropped_with_the_credential(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """After a delete the events are 404, and a new credential starts a new log."""
        leaf_fake.add_credential(user, "sentera", SENTERA_BODY)
        leaf_fake.set_status(user, "sentera", "UNAUTHENTICATED")
        await call(client, leaf_fake, "DELETE", credentials_path(user))

        gone = await call(client, leaf_fake, "GET", credentials_path(user) + "/events")
        leaf_fake.add_credential(user, "sentera", SENTERA_BODY)
        fresh = await call(client, leaf_fake, "GET", credentials_path(user) + "/events")

        assert_problem(gone, 404)
        assert 1 == len(fresh.json())

    async def test_events_page_when_asked(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """With page and size, events are paged with X-Total-Count."""
        leaf_fake.add_credential(user, "sentera", SENTERA_BODY)
        for status in ("UNAUTHENTICATED", "OK", "MISSING_PERMISSION"):
            leaf_fake.set_status(user, "sentera", status)

        answer = await call(
            client, leaf_fake, "GET", credentials_path(user) + "/events?page=1&size=3"
        )

        assert "4" == answer.headers["X-Total-Count"]
        assert [403] == [event["statusCode"] for event in answer.json()]

    def test_set_status_of_a_missing_credential(self, leaf_fake: FakeLeaf, user: str) -> None:
        """set_status without such a credential raises LookupError."""
        with pytest.raises(LookupError, match="no sentera credentials"):
            leaf_fake.set_status(user, "sentera", "OK")


class TestPlaceholderCredentials:
    @pytest.mark.parametrize(
        "placeholder", ["null", "undefined", " NULL ", "None", "{{cnhi_refresh_token}}"]
    )
    async def test_the_provider_refuses_a_placeholder_after_the_create(
        self, leaf_fake: FakeLeaf, user: str, placeholder: str
    ) -> None:
        """A create answers OK; then the fake logs the provider's 401 and sets UNAUTHENTICATED."""
        async with lc.LeafSession(token=leaf_fake.token, base_url=leaf_fake.url) as leaf:
            created = await leaf.create(lc.CNHI, user, {**CNHI_BODY, "refreshToken": placeholder})
            read = await leaf.get(lc.CNHI, user)
            events = await leaf.events(lc.CNHI, user)

        assert lc.CredentialStatus.OK == created.status
        assert lc.CredentialStatus.UNAUTHENTICATED == read.status
        refusals = [e for e in events if e.status_code == 401 and "refused" in (e.body or "")]
        assert 1 == len(refusals)
        assert "refreshToken" in (refusals[0].body or "")
        assert placeholder.strip() not in (refusals[0].body or "")  # values are never echoed

    async def test_a_real_token_stays_ok(self, leaf_fake: FakeLeaf, user: str) -> None:
        """A token that merely contains "null" is a token: the credential stays OK."""
        leaf_fake.add_credential(user, lc.CNHI, {**CNHI_BODY, "refreshToken": "nullable-token-1"})

        assert "OK" == (leaf_fake.credential(user, lc.CNHI) or {}).get("status")

    async def test_add_credential_runs_the_same_check(self, leaf_fake: FakeLeaf, user: str) -> None:
        """fake.add_credential refuses a placeholder too, in any secret or plain field."""
        created = leaf_fake.add_credential(user, lc.SENTERA, {**SENTERA_BODY, "password": "null"})

        assert ("OK", "UNAUTHENTICATED") == (
            created["status"], (leaf_fake.credential(user, lc.SENTERA) or {}).get("status")
        )  # fmt: skip


class TestUsers:
    async def test_create_user_answers_201_with_a_uuid(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """POST /users answers 201 with the user and a generated UUID id."""
        body = {
            "name": "Ada",
            "email": "ada@example.com",
            "phone": "123",
            "address": "NY",
            "externalId": "ext-1",
        }

        answer = await call(client, leaf_fake, "POST", f"{UM}/users", body=body)

        assert 201 == answer.status
        user = answer.json()
        assert str(uuid.UUID(user["id"])) == user["id"]
        assert body == {key: user[key] for key in body}
        assert f"{UM}/users/{user['id']}" == answer.headers["Location"]
        assert "ext-1" == leaf_fake.users[user["id"]].external_id

    async def test_trailing_slash_lists_users(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """GET /users/ (as in Leaf's Postman collection) lists the users too."""
        answer = await call(client, leaf_fake, "GET", f"{UM}/users/")

        assert [user] == [u["id"] for u in answer.json()]

    @pytest.mark.parametrize("body", [{"id": "mine", "name": "x"}, {"name": 3}, ["x"]])
    async def test_create_user_rejects_bad_bodies(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, body: Any
    ) -> None:
        """A body with an id, a non-string field or no object is 400."""
        answer = await call(client, leaf_fake, "POST", f"{UM}/users", body=body)

        assert_problem(answer, 400)
        assert 0 == len(leaf_fake.users)

    async def test_get_user_embeds_credentials(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """A user embeds one <camelSlug>Credentials object per attached provider."""
        sentera = leaf_fake.add_credential(user, "sentera", SENTERA_BODY)
        cnhi = leaf_fake.add_credential(user, "cnhi", CNHI_BODY)

        answer = await call(client, leaf_fake, "GET", f"{UM}/users/{user}")

        data = answer.json()
        assert (sentera, cnhi) == (data["senteraCredentials"], data["cnhiCredentials"])
        assert ("u1", "Ada", None) == (data["id"], data["name"], data["externalId"])

    async def test_delete_user_drops_credentials(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """DELETE /users/{id} answers 204; the user and its credentials are gone."""
        leaf_fake.add_credential(user, "sentera", SENTERA_BODY)

        deleted = await call(client, leaf_fake, "DELETE", f"{UM}/users/{user}")
        again = await call(client, leaf_fake, "GET", f"{UM}/users/{user}")

        assert 204 == deleted.status
        assert_problem(again, 404)
        assert None is leaf_fake.credential(user, "sentera")
        assert_problem(await call(client, leaf_fake, "DELETE", f"{UM}/users/{user}"), 404)

    async def test_paging_headers(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """GET /users pages from 0 with X-Total-Count and JHipster's Link header."""
        for n in range(45):
            leaf_fake.add_user(id=f"user-{n:02}")

        first = await call(client, leaf_fake, "GET", f"{UM}/users")
        middle = await call(client, leaf_fake, "GET", f"{UM}/users?page=1&size=20")
        last = await call(client, leaf_fake, "GET", f"{UM}/users?page=2&size=20")

        assert [f"user-{n:02}" for n in range(20)] == [u["id"] for u in first.json()]
        assert "45" == first.headers["X-Total-Count"]
        assert {"next": "1", "last": "2", "first": "0"} == links(first)
        assert {"next": "2", "prev": "0", "last": "2", "first": "0"} == links(middle)
        assert {"prev": "1", "last": "2", "first": "0"} == links(last)
        assert 5 == len(last.json())

    async def test_page_size_is_capped_at_100(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """A size above 100 gives pages of 100."""
        for n in range(101):
            leaf_fake.add_user(id=f"user-{n:03}")

        answer = await call(client, leaf_fake, "GET", f"{UM}/users?size=500")

        assert 100 == len(answer.json())
        assert {"next": "1", "last": "1", "first": "0"} == links(answer)

    @pytest.mark.parametrize("query", ["page=-1", "size=0", "page=x", "sort=colour,asc"])
    async def test_bad_paging_is_400(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, query: str
    ) -> None:
        """A negative or non-integer page, a size of 0 or an unknown sort is 400."""
        assert_problem(await call(client, leaf_fake, "GET", f"{UM}/users?{query}"), 400)

    async def test_filters_and_sort(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """email, name and externalId filter exactly; sort orders by a field."""
        leaf_fake.add_user(id="a", name="Bea", email="b@example.com", external_id="x1")
        leaf_fake.add_user(id="b", name="Ada", email="a@example.com", external_id="x2")
        leaf_fake.add_user(id="c", name="Cy", email="a@example.com", external_id="x3")

        async def ids(query: str) -> list[str]:
            answer = await call(client, leaf_fake, "GET", f"{UM}/users?{query}")
            return [user["id"] for user in answer.json()]

        assert ["b", "c"] == await ids("email=a@example.com")
        assert ["a"] == await ids("name=Bea")
        assert ["c"] == await ids("externalId=x3&email=a@example.com")
        assert [] == await ids("name=Nobody")
        assert ["c", "a", "b"] == await ids("sort=name,desc")
        assert ["b", "a", "c"] == await ids("sort=name")


def links(answer: Answer) -> dict[str, str]:
    """Map each rel of a Link header to its page number."""
    found = re.findall(r'<([^>]*)>; rel="(\w+)"', answer.headers["Link"])
    return {rel: URL(url).query["page"] for url, rel in found}


class TestInspection:
    async def test_request_log_and_count(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """requests lists method, raw path and status; count filters by method and suffix."""
        await call(client, leaf_fake, "POST", credentials_path(user), body=SENTERA_BODY)
        await call(client, leaf_fake, "GET", credentials_path(user))
        await call(client, leaf_fake, "GET", credentials_path(user) + "/events")

        assert [
            LoggedRequest("POST", credentials_path(user), 201),
            LoggedRequest("GET", credentials_path(user), 200),
            LoggedRequest("GET", credentials_path(user) + "/events", 200),
        ] == leaf_fake.requests
        assert 1 == leaf_fake.count("GET", "/sentera-credentials")
        assert 3 == leaf_fake.count()
        assert 2 == leaf_fake.count(None, "-credentials")

    async def test_no_secret_in_log_or_repr(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """Neither the request log nor the fake's repr holds a password, a secret or a token."""
        login = {"username": "user@example.com", "password": "password"}
        token = (await call(client, leaf_fake, "POST", "/api/authenticate", body=login)).json()
        await call(client, leaf_fake, "POST", credentials_path(user, "cnhi"), body=CNHI_BODY)
        await call(client, leaf_fake, "POST", credentials_path(user), body=SENTERA_BODY)

        text = repr(leaf_fake.requests) + repr(leaf_fake) + repr(leaf_fake.faults)
        for secret in (*SECRETS, leaf_fake.token, token["id_token"]):
            assert secret not in text

    async def test_reset(self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession) -> None:
        """reset forgets users, credentials, faults and the log; the token stays valid."""
        leaf_fake.add_user(id="u1")
        leaf_fake.add_credential("u1", "sentera", SENTERA_BODY)
        leaf_fake.faults.add(status=500, probability=1.0)
        await call(client, leaf_fake, "GET", f"{UM}/users")

        leaf_fake.reset()

        answer = await call(client, leaf_fake, "GET", f"{UM}/users")
        assert (200, []) == (answer.status, answer.json())
        assert [LoggedRequest("GET", f"{UM}/users", 200)] == leaf_fake.requests
        assert None is leaf_fake.credential("u1", "sentera")

    def test_add_user_and_credential_errors(self, leaf_fake: FakeLeaf, user: str) -> None:
        """Duplicate ids, missing users and invalid or duplicate credentials raise."""
        with pytest.raises(ValueError, match="exists already"):
            leaf_fake.add_user(id=user)
        with pytest.raises(LookupError):
            leaf_fake.add_credential("ghost", "sentera", SENTERA_BODY)
        with pytest.raises(lc.UnknownProviderError):
            leaf_fake.add_credential(user, "nope", SENTERA_BODY)
        with pytest.raises(ValueError, match="organizationName"):
            leaf_fake.add_credential(user, "sentera", {"username": "x", "password": "y"})
        leaf_fake.add_credential(
            user,
            lc.SENTERA,
            lc.SenteraCredentials(username="g", password="pw-1", organization_name="o"),
        )
        with pytest.raises(ValueError, match="already has"):
            leaf_fake.add_credential(user, "sentera", SENTERA_BODY)

    async def test_url_before_start(self) -> None:
        """url is an error until the fake is started, and a fake starts once."""
        fake = FakeLeaf()
        with pytest.raises(RuntimeError, match="start"):
            _ = fake.url
        async with fake:
            assert fake.url.startswith("http://127.0.0.1:")
            with pytest.raises(RuntimeError, match="already started"):
                await fake.start()
        await fake.aclose()

    def test_default_accounts(self) -> None:
        """The default account is user@example.com with password 'password'."""
        assert {"user@example.com": "password"} == dict(DEFAULT_ACCOUNTS)


class TestFaults:
    async def test_status_by_count_then_normal(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """times=2 answers the status twice with Retry-After, then requests go through."""
        fault = leaf_fake.faults.add(
            method="GET", path="/users/*/sentera-credentials", status=503, retry_after="2", times=2
        )
        leaf_fake.add_credential(user, "sentera", SENTERA_BODY)

        answers = [await call(client, leaf_fake, "GET", credentials_path(user)) for _ in range(3)]

        assert [503, 503, 200] == [answer.status for answer in answers]
        assert "2" == answers[0].headers["Retry-After"]
        assert_problem(answers[0], 503)
        assert 2 == fault.fired

    async def test_faults_fire_in_order(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """Faults are consumed in the order they were added; one request hits one fault."""
        leaf_fake.faults.add(status=429)
        leaf_fake.faults.add(status=500, times=2)

        statuses = [
            (await call(client, leaf_fake, "GET", f"{UM}/users")).status for _ in range(4)
        ]

        assert [429, 500, 500, 200] == statuses

    async def test_matching_by_method_and_path(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """A fault hits only its method, and its glob matches the service or the full path."""
        leaf_fake.faults.add(method="POST", path="/users/*/sentera-credentials", status=500)
        leaf_fake.faults.add(path=f"{UM}/users/*/cnhi-credentials/events", status=502)
        leaf_fake.add_credential(user, "cnhi", CNHI_BODY)

        get = await call(client, leaf_fake, "GET", credentials_path(user))
        events = await call(client, leaf_fake, "GET", credentials_path(user, "cnhi") + "/events")
        post = await call(client, leaf_fake, "POST", credentials_path(user), body=SENTERA_BODY)

        assert (404, 502, 500) == (get.status, events.status, post.status)
        assert None is leaf_fake.credential(user, "sentera")

    async def test_retry_after_forms(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """retry_after takes seconds or an aware datetime, sent as an HTTP date."""
        leaf_fake.faults.add(status=429, retry_after=0.5)
        leaf_fake.faults.add(status=503, retry_after=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC))

        first = await call(client, leaf_fake, "GET", f"{UM}/users")
        second = await call(client, leaf_fake, "GET", f"{UM}/users")

        assert "0.5" == first.headers["Retry-After"]
        assert "Wed, 02 Jan 2030 03:04:05 GMT" == second.headers["Retry-After"]

    async def test_unregistered_status(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """A status HTTP does not name (520) is still answered as problem JSON."""
        leaf_fake.faults.add(status=520)

        answer = await call(client, leaf_fake, "GET", f"{UM}/users")

        assert "Error" == assert_problem(answer, 520)["title"]

    async def test_faults_apply_to_login(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """A fault on /api/authenticate answers before the credentials are checked."""
        leaf_fake.faults.add(path="/api/authenticate", status=503)

        answer = await call(client, leaf_fake, "POST", "/api/authenticate", body={})

        assert_problem(answer, 503)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {},
            {"status": 503, "drop": "before_body"},
            {"malformed": True, "drop": "after_body"},
            {"drop": "sideways"},
            {"status": 42},
            {"status": 503, "probability": 1.5},
            {"status": 503, "times": 0},
            {"delay": -1},
            {"status": 503, "retry_after": datetime(2030, 1, 1)},
        ],
    )
    def test_bad_faults_are_refused(self, leaf_fake: FakeLeaf, kwargs: dict[str, Any]) -> None:
        """Contradictory or out-of-range fault options raise ValueError."""
        with pytest.raises(ValueError, match=r"."):
            leaf_fake.faults.add(**kwargs)
        assert 0 == len(leaf_fake.faults)

    async def test_clear(self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession) -> None:
        """clear forgets every fault."""
        leaf_fake.faults.add(status=500, probability=1.0)

        leaf_fake.faults.clear()

        assert 200 == (await call(client, leaf_fake, "GET", f"{UM}/users")).status
        assert [] == list(leaf_fake.faults)


async def statuses_with_seed(seed: int, client: aiohttp.ClientSession) -> list[int]:
    async with FakeLeaf(seed=seed) as fake:
        fake.faults.add(method="GET", status=503, probability=0.5)
        fake.faults.add(method="POST", status=500, probability=0.5)  # never matches
        return [(await call(client, fake, "GET", f"{UM}/users")).status for _ in range(40)]


class TestProbability:
    async def test_same_seed_same_failures(self, client: aiohttp.ClientSession) -> None:
        """Two fakes with one seed fail the same requests; another seed fails others."""
        first = await statuses_with_seed(7, client)
        again = await statuses_with_seed(7, client)
        other = await statuses_with_seed(8, client)

        assert first == again
        assert first != other
        assert {200, 503} == set(first)

    async def test_probability_limited_by_times(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """probability=1.0 with times=3 fires exactly three times."""
        fault = leaf_fake.faults.add(status=500, probability=1.0, times=3)

        statuses = [
            (await call(client, leaf_fake, "GET", f"{UM}/users")).status for _ in range(5)
        ]

        assert [500, 500, 500, 200, 200] == statuses
        assert 3 == fault.fired

    async def test_probability_zero_never_fires(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """A fault with probability 0 lets every request through to later faults."""
        never = leaf_fake.faults.add(status=500, probability=0.0)
        leaf_fake.faults.add(status=418)

        statuses = [
            (await call(client, leaf_fake, "GET", f"{UM}/users")).status for _ in range(3)
        ]

        assert [418, 200, 200] == statuses
        assert 0 == never.fired


class TestConnectionFaults:
    async def test_delay_then_normal_answer(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """A fault with only a delay answers normally afterwards."""
        leaf_fake.faults.add(delay=0.01)

        answer = await call(client, leaf_fake, "GET", f"{UM}/users")

        assert 200 == answer.status

    async def test_stall_past_the_client_timeout(self, client: aiohttp.ClientSession) -> None:
        """A long delay outlasts the client's timeout, and closing the fake wakes the stall."""
        async with FakeLeaf() as fake:
            fake.faults.add(delay=600)
            with pytest.raises(TimeoutError):
                await call(client, fake, "GET", f"{UM}/users", timeout=0.1)
            assert [LoggedRequest("GET", f"{UM}/users", None)] == fake.requests

    @pytest.mark.parametrize("method", ["POST", "DELETE"])
    async def test_abandoned_stall_applies_nothing(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str, method: str
    ) -> None:
        """A request whose client timed out during the delay is not applied when it ends."""
        if method == "DELETE":
            leaf_fake.add_credential(user, "sentera", SENTERA_BODY)
        before = leaf_fake.credential(user, "sentera")
        leaf_fake.faults.add(method=method, delay=0.3)

        with pytest.raises(TimeoutError):
            await call(
                client, leaf_fake, method, credentials_path(user), body=SENTERA_BODY, timeout=0.05
            )
        async with asyncio.timeout(10):
            await leaf_fake.wait_idle()

        assert before == leaf_fake.credential(user, "sentera")
        assert [LoggedRequest(method, credentials_path(user), None)] == leaf_fake.requests

    async def test_drop_before_body_applies_nothing(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """drop='before_body' closes the connection unanswered and creates nothing."""
        leaf_fake.faults.add(method="POST", drop="before_body")

        with pytest.raises(aiohttp.ClientError):
            await call(client, leaf_fake, "POST", credentials_path(user), body=SENTERA_BODY)

        assert None is leaf_fake.credential(user, "sentera")
        assert [LoggedRequest("POST", credentials_path(user), None)] == leaf_fake.requests

    async def test_drop_after_body_applies_the_create(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """drop='after_body' applies the create, then closes the connection unanswered."""
        leaf_fake.faults.add(method="POST", drop="after_body")

        with pytest.raises(aiohttp.ClientError):
            await call(client, leaf_fake, "POST", credentials_path(user), body=SENTERA_BODY)

        assert None is not leaf_fake.credential(user, "sentera")
        assert [LoggedRequest("POST", credentials_path(user), None)] == leaf_fake.requests

    async def test_aiohttp_client_resends_a_dropped_get(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """aiohttp itself resends an idempotent request once when its connection drops."""
        leaf_fake.add_credential(user, "sentera", SENTERA_BODY)
        leaf_fake.faults.add(method="GET", drop="before_body")

        answer = await call(client, leaf_fake, "GET", credentials_path(user))

        assert 200 == answer.status
        assert [None, 200] == [entry.status for entry in leaf_fake.requests]

    async def test_malformed_answer_applies_the_create(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """malformed=True applies the request and answers 200 with a body that is not JSON."""
        leaf_fake.faults.add(method="POST", malformed=True)

        answer = await call(client, leaf_fake, "POST", credentials_path(user), body=SENTERA_BODY)

        assert 200 == answer.status
        with pytest.raises(ValueError, match="Expecting value"):
            answer.json()
        assert None is not leaf_fake.credential(user, "sentera")

    async def test_drops_log_no_errors(
        self,
        leaf_fake: FakeLeaf,
        client: aiohttp.ClientSession,
        user: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """Dropping connections and stalls make aiohttp log nothing above DEBUG."""
        caplog.set_level(logging.DEBUG)
        asyncio.get_running_loop().set_debug(True)
        leaf_fake.faults.add(drop="before_body", times=2)
        leaf_fake.faults.add(drop="after_body", times=2)
        for _ in range(2):
            with pytest.raises(aiohttp.ClientError):
                await call(client, leaf_fake, "POST", credentials_path(user), body=SENTERA_BODY)
        await leaf_fake.aclose()

        noisy = [r for r in caplog.records if r.levelno > logging.DEBUG and r.name != "asyncio"]
        assert [] == noisy
        assert 2 == leaf_fake.count("POST")


PLUGIN_TEST = """
import pytest

import leaf_creds as lc


{mark}
async def test_fixtures(leaf_fake, leaf_session):
    user = leaf_fake.add_user()
    credentials = lc.SenteraCredentials(username="g", password="pw-12", organization_name="o")
    record = await leaf_session.create(lc.SENTERA, user.id, credentials)
    assert leaf_fake.credential(user.id, "sentera")["id"] == record.id


{mark}
@pytest.mark.leaf_fake(seed=3, accounts={{"a@example.com": "pw-34"}})
async def test_marker(leaf_fake):
    async with lc.LeafSession(
        username="a@example.com", password="pw-34", base_url=leaf_fake.url
    ) as leaf:
        with pytest.raises(lc.NotFoundError):
            await leaf.get("sentera", "nobody")
    assert leaf_fake.count("POST", "/api/authenticate") == 1
"""


class TestPytestPlugin:
    @pytest.mark.parametrize(
        ("mode", "mark"), [("strict", "@pytest.mark.asyncio"), ("auto", "")]
    )
    def test_fixtures_in_both_modes(self, pytester: pytest.Pytester, mode: str, mark: str) -> None:
        """leaf_fake and leaf_session work in pytest-asyncio's strict and auto modes."""
        pytester.makepyfile(test_plugin=PLUGIN_TEST.format(mark=mark))

        result = pytester.runpytest_inprocess(
            "-p",
            "no:cacheprovider",
            "-W",
            "error",
            "-o",
            f"asyncio_mode={mode}",
            "-o",
            "asyncio_default_fixture_loop_scope=function",
        )

        result.assert_outcomes(passed=2)

    def test_without_pytest_asyncio(self, pytester: pytest.Pytester) -> None:
        """Without pytest-asyncio the plugin loads, and its fixtures fail saying why."""
        # A module that shadows the installed pytest_asyncio and cannot be imported.
        pytester.makepyfile(pytest_asyncio="raise ImportError('pytest-asyncio is not here')")
        pytester.makepyfile(
            test_plain="def test_plain():\n    pass\n\ndef test_fake(leaf_fake):\n    pass\n"
        )

        result = pytester.runpytest_subprocess("-p", "no:asyncio", "-p", "no:cacheprovider")

        result.assert_outcomes(passed=1, errors=1)
        result.stdout.fnmatch_lines(["*fixtures need pytest-asyncio*"])

    async def test_leaf_session_fixture(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """leaf_session talks to leaf_fake with the fake's token and registry."""
        leaf_fake.add_user(id="u1")
        leaf_fake.add_credential("u1", "cnhi", CNHI_BODY)

        record = await leaf_session.get(lc.CNHI, "u1")

        assert lc.ClientEnvironment.PRODUCTION == record.client_environment
        assert leaf_fake.registry is leaf_session.registry


class TestServe:
    async def test_serves_until_cancelled(self, client: aiohttp.ClientSession) -> None:
        """serve() writes its URL, accounts and a token (never a password) and answers."""
        greeted = asyncio.Event()

        class Stream(io.StringIO):
            def write(self, text: str) -> int:
                greeted.set()
                return super().write(text)

        stream = Stream()
        accounts = {"ops@example.com": "ops-password-9"}
        task = asyncio.create_task(serve(port=0, accounts=accounts, stream=stream))
        async with asyncio.timeout(10):
            await greeted.wait()
        text = stream.getvalue()
        url = re.findall(r"http://127\.0\.0\.1:\d+", text)[0]
        token = re.findall(r"bearer token \(24 h\): (\S+)", text)[0]
        async with client.get(
            f"{url}{UM}/users", headers={"Authorization": f"Bearer {token}"}
        ) as response:
            status = response.status
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        assert 200 == status
        assert "ops@example.com" in text
        assert "ops-password-9" not in text

    async def test_port_in_use(self, leaf_fake: FakeLeaf) -> None:
        """A fake on a port that is taken fails to start with OSError."""
        port = int(leaf_fake.url.rsplit(":", 1)[1])

        with pytest.raises(OSError, match=r"."):
            await FakeLeaf(port=port).start()


class TestEventPerOperation:
    async def test_each_credential_operation_is_logged(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """Create and every GET add an event; DELETE removes the log with the credential."""
        await call(client, leaf_fake, "POST", credentials_path(user), body=SENTERA_BODY)
        await call(client, leaf_fake, "GET", credentials_path(user))
        await call(client, leaf_fake, "GET", credentials_path(user))

        events = await call(client, leaf_fake, "GET", credentials_path(user) + "/events")
        assert 3 == len(events.json())

        await call(client, leaf_fake, "DELETE", credentials_path(user))
        gone = await call(client, leaf_fake, "GET", credentials_path(user) + "/events")
        assert 404 == gone.status
