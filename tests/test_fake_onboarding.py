"""FakeLeaf's onboarding services over raw HTTP: app keys, Magic Links and their page, API keys."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from yarl import URL

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf
from tests.helpers import Elements

UM = "/services/usermanagement/api"
APP_KEYS = UM + "/app-keys"
API_KEYS = UM + "/api-keys"
LINKS = "/services/widgets/api/magic-link"
JD_KEYS = {"clientKey": "jd-app-id", "clientSecret": "jd-app-secret-1"}
MICROS_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
NANOS_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")
MILLIS_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
MICROS_NO_ZONE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}")


class Answer(NamedTuple):
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


async def call(
    client: aiohttp.ClientSession,
    fake: FakeLeaf,
    method: str,
    path: str,
    *,
    body: Any = None,
    token: str | None = None,
    form: dict[str, str] | None = None,
) -> Answer:
    """Send one request to the fake, the path taken as already percent-encoded."""
    headers = {"Authorization": f"Bearer {token or fake.token}"} if token != "" else {}
    async with client.request(
        method,
        URL(fake.url + path, encoded=True),
        json=body,
        data=form,
        headers=headers,
        allow_redirects=False,
    ) as response:
        return Answer(response.status, response.headers, await response.read())


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=UTC)


def assert_problem(answer: Answer, status: int) -> dict[str, Any]:
    assert status == answer.status
    assert answer.headers["Content-Type"].startswith("application/problem+json")
    problem: dict[str, Any] = answer.json()
    assert status == problem["status"]
    return problem


def error_fields(answer: Answer) -> list[str]:
    return [error["field"] for error in assert_problem(answer, 400)["fieldErrors"]]


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def user(leaf_fake: FakeLeaf) -> str:
    return leaf_fake.add_user(id="u1", name="Ada Grower", email="ada@example.com").id


async def new_link(
    client: aiohttp.ClientSession, fake: FakeLeaf, user_id: str, **body: Any
) -> dict[str, Any]:
    answer = await call(client, fake, "POST", f"{LINKS}/users/{user_id}/provider", body=body)
    assert 201 == answer.status, answer.text
    created: dict[str, Any] = answer.json()
    return created


class TestAppKeys:
    async def test_john_deere_keys_live_per_environment(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """JohnDeere app keys are created per clientEnvironment and listed without secrets."""
        for env in ("STAGE", "PRODUCTION"):
            path = f"{APP_KEYS}/JohnDeere/LeafWidget/{env}"
            answer = await call(client, leaf_fake, "POST", path, body=JD_KEYS)
            assert 201 == answer.status
            assert {"provider", "appName", "clientEnvironment", "createdTime"} == set(answer.json())

        listed = await call(client, leaf_fake, "GET", f"{APP_KEYS}/JohnDeere")
        one = await call(client, leaf_fake, "GET", f"{APP_KEYS}/JohnDeere/LeafWidget/STAGE")

        assert 200 == listed.status
        assert ["STAGE", "PRODUCTION"] == [key["clientEnvironment"] for key in listed.json()]
        assert {"JohnDeere"} == {key["provider"] for key in listed.json()}
        assert listed.json()[0] == one.json()
        assert MICROS_Z.fullmatch(one.json()["createdTime"])
        assert b"jd-app-secret-1" not in listed.body + one.body
        assert JD_KEYS == leaf_fake.onboarding.app_key_body("JohnDeere", "LeafWidget", "STAGE")

    async def test_a_provider_without_environments_shows_production(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """An app key of a provider without environments reads clientEnvironment PRODUCTION."""
        body = {"applicationName": "Acme", "clientId": "t-id", "clientSecret": "t-secret"}
        await call(client, leaf_fake, "POST", f"{APP_KEYS}/Trimble/LeafWidget", body=body)

        answer = await call(client, leaf_fake, "GET", f"{APP_KEYS}/Trimble/LeafWidget")

        assert {
            "provider": "Trimble",
            "appName": "LeafWidget",
            "clientEnvironment": "PRODUCTION",
        } == {key: answer.json()[key] for key in ("provider", "appName", "clientEnvironment")}

    @pytest.mark.parametrize(
        ("path", "status"),
        [
            ("/JohnDeere/LeafWidget", 404),  # JohnDeere needs the environment segment
            ("/Trimble/LeafWidget/PRODUCTION", 404),  # Trimble has none
            ("/JohnDeere/LeafWidget/TEST", 400),
            ("/Sentera/LeafWidget", 404),  # no app keys for Sentera
            ("", 404),
        ],
    )
    async def test_paths_leaf_does_not_serve_are_refused(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, path: str, status: int
    ) -> None:
        """A missing or extra environment, a bad one, or a provider without app keys is refused."""
        answer = await call(client, leaf_fake, "POST", APP_KEYS + path, body=JD_KEYS)

        assert_problem(answer, status)
        assert [] == leaf_fake.onboarding.app_keys

    @pytest.mark.parametrize(
        ("body", "fields"),
        [
            ({"clientKey": "jd-app-id"}, ["clientSecret"]),
            ({"clientKey": " ", "clientSecret": "s"}, ["clientKey"]),
            ({"clientKey": 7, "clientSecret": None}, ["clientKey", "clientSecret"]),
            ({**JD_KEYS, "scopes": "FIELDS:READ"}, ["scopes"]),
            ({**JD_KEYS, "scopes": [1]}, ["scopes"]),
        ],
    )
    async def test_an_invalid_body_names_its_fields(
        self,
        leaf_fake: FakeLeaf,
        client: aiohttp.ClientSession,
        body: dict[str, Any],
        fields: list[str],
    ) -> None:
        """A missing, empty or mistyped field is a 400 naming it; nothing is stored."""
        path = f"{APP_KEYS}/JohnDeere/LeafWidget/PRODUCTION"
        answer = await call(client, leaf_fake, "POST", path, body=body)

        assert fields == error_fields(answer)
        assert [] == leaf_fake.onboarding.app_keys

    async def test_a_body_that_is_not_an_object_is_refused(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """A JSON array, or no JSON at all, is a 400."""
        path = f"{APP_KEYS}/JohnDeere/LeafWidget/PRODUCTION"

        assert_problem(await call(client, leaf_fake, "POST", path, body=[JD_KEYS]), 400)
        assert_problem(await call(client, leaf_fake, "PUT", path, form={"a": "b"}), 400)

    async def test_scopes_are_kept_and_unknown_keys_dropped(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """Optional scopes are stored as sent, keys Leaf does not know are ignored."""
        body = {**JD_KEYS, "scopes": ["FIELDS:READ"], "colour": "green"}
        await call(client, leaf_fake, "POST", f"{APP_KEYS}/JohnDeere/A/STAGE", body=body)

        stored = leaf_fake.onboarding.app_key_body("JohnDeere", "A", "STAGE")

        assert {**JD_KEYS, "scopes": ["FIELDS:READ"]} == stored

    async def test_create_update_delete(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """POST twice is a 409, PUT replaces the keys, DELETE is a 204 and then a 404."""
        path = f"{APP_KEYS}/CNHI/LeafWidget/STAGE"
        keys = {"clientId": "c", "clientSecret": "s", "subscriptionKey": "k"}
        assert 201 == (await call(client, leaf_fake, "POST", path, body=keys)).status

        again = await call(client, leaf_fake, "POST", path, body=keys)
        updated = await call(client, leaf_fake, "PUT", path, body={**keys, "clientSecret": "s2"})
        stored = leaf_fake.onboarding.app_key_body("CNHI", "LeafWidget", "STAGE")
        deleted = await call(client, leaf_fake, "DELETE", path)
        gone = await call(client, leaf_fake, "GET", path)

        assert "appkeyexists" == assert_problem(again, 409)["errorKey"]
        assert 200 == updated.status
        assert "STAGE" == updated.json()["clientEnvironment"]
        assert "s2" == (stored or {})["clientSecret"]
        assert 204 == deleted.status
        assert_problem(gone, 404)
        assert_problem(await call(client, leaf_fake, "DELETE", path), 404)

    async def test_put_of_a_missing_app_key_is_404(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """An update needs an existing app key."""
        answer = await call(
            client, leaf_fake, "PUT", f"{APP_KEYS}/JohnDeere/Nope/PRODUCTION", body=JD_KEYS
        )

        assert_problem(answer, 404)

    async def test_stara_takes_either_documented_shape(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """Stara's user/pwd and its accessTokenClient body are both accepted, on both verbs."""
        path = f"{APP_KEYS}/Stara/LeafWidget"
        created = await call(client, leaf_fake, "POST", path, body={"user": "u", "pwd": "p"})
        updated = await call(client, leaf_fake, "PUT", path, body={"accessTokenClient": "atc"})
        empty = await call(client, leaf_fake, "PUT", path, body={"user": "u"})

        assert (201, 200) == (created.status, updated.status)
        assert {"accessTokenClient": "atc"} == leaf_fake.onboarding.app_key_body(
            "Stara", "LeafWidget"
        )
        assert ["pwd"] == error_fields(empty)

    async def test_an_app_name_is_one_percent_encoded_segment(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """An app name with a slash and a space is unquoted once from its segment."""
        path = f"{APP_KEYS}/RavenSlingshot/{quote('Leaf Widget/1', safe='')}"
        body = {"apiKey": "k", "sharedSecret": "s"}

        assert 201 == (await call(client, leaf_fake, "POST", path, body=body)).status
        assert "Leaf Widget/1" == (await call(client, leaf_fake, "GET", path)).json()["appName"]

    async def test_the_list_pages_when_asked(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """With page and size, the list answers one page and X-Total-Count."""
        for name in ("a", "b", "c"):
            leaf_fake.onboarding.add_app_key(
                "AgLeader", name, {"privateKey": "p", "publicKey": "q"}
            )

        answer = await call(client, leaf_fake, "GET", f"{APP_KEYS}/AgLeader?page=1&size=2")

        assert ["c"] == [key["appName"] for key in answer.json()]
        assert "3" == answer.headers["X-Total-Count"]

    async def test_the_endpoints_need_the_bearer_token(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """Without a token the app keys answer 401."""
        answer = await call(client, leaf_fake, "GET", f"{APP_KEYS}/JohnDeere", token="")

        assert_problem(answer, 401)

    def test_add_app_key_checks_like_a_post(self, leaf_fake: FakeLeaf) -> None:
        """The set-up helper refuses what the endpoint refuses, with Python errors."""
        with pytest.raises(LookupError):
            leaf_fake.onboarding.add_app_key("JohnDeere", "A", JD_KEYS)  # no environment
        with pytest.raises(LookupError):
            leaf_fake.onboarding.add_app_key("Sentera", "A", JD_KEYS)
        with pytest.raises(ValueError, match="Method argument"):
            leaf_fake.onboarding.add_app_key("JohnDeere", "A", {}, environment="STAGE")
        leaf_fake.onboarding.add_app_key("JohnDeere", "A", JD_KEYS, environment="STAGE")
        with pytest.raises(ValueError, match="exists"):
            leaf_fake.onboarding.add_app_key("JohnDeere", "A", JD_KEYS, environment="STAGE")


class TestMagicLinks:
    async def test_a_provider_link_for_an_existing_user(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """The create answers Leaf's short body; GET answers every documented field."""
        created = await new_link(
            client, leaf_fake, user, expiresIn=3600, allowedProviders=["JohnDeere", "CNHI"]
        )
        answer = await call(client, leaf_fake, "GET", f"{LINKS}/provider/{created['id']}")
        link = answer.json()

        assert {"id", "leafUserId", "link", "expiresAt"} == set(created)
        assert user == created["leafUserId"]
        assert f"{leaf_fake.url}/magic-link/{created['id']}" == created["link"]
        assert NANOS_Z.fullmatch(created["expiresAt"])
        assert {
            "id": created["id"],
            "link": created["link"],
            "leafUserId": user,
            "maxUsage": 3,
            "usageCount": 0,
            "lastAccessedAt": None,
            "widget": "PROVIDER",
            "allowedProviders": ["JohnDeere", "CNHI"],
            "settings": {
                "backgroundColor": "#F5F5F5",
                "showLeafUserName": False,
                "disconnectEnabled": False,
            },
        } == {key: value for key, value in link.items() if key not in ("createdAt", "expiresAt")}
        assert MILLIS_Z.fullmatch(link["createdAt"])
        assert MILLIS_Z.fullmatch(link["expiresAt"])
        lifetime = parse_time(link["expiresAt"]) - parse_time(link["createdAt"])
        assert timedelta(seconds=3600) == lifetime
        assert parse_time(created["expiresAt"]) == parse_time(link["expiresAt"])

    async def test_defaults_are_900_seconds_and_every_provider(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """Without expiresIn and allowedProviders a link lasts 900 s and offers 'Other'."""
        created = await new_link(client, leaf_fake, user)
        link = leaf_fake.onboarding.magic_link(created["link"])

        assert ["Other"] == link["allowedProviders"]
        lifetime = parse_time(link["expiresAt"]) - parse_time(link["createdAt"])
        assert timedelta(seconds=900) == lifetime

    async def test_settings_are_stored_with_leafs_defaults(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """Given settings override the defaults; the strings 'true'/'false' read as booleans."""
        settings = {"companyName": "Acme", "backgroundColor": "#c0392b", "showLeafUserName": "true"}
        created = await new_link(client, leaf_fake, user, settings=settings)

        link = leaf_fake.onboarding.magic_link(created["id"])

        assert {
            "companyName": "Acme",
            "backgroundColor": "#c0392b",
            "showLeafUserName": True,
            "disconnectEnabled": False,
        } == link["settings"]

    async def test_an_authentication_link_names_one_provider(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """An authentication link carries provider, and lives under its own kind only."""
        answer = await call(
            client,
            leaf_fake,
            "POST",
            f"{LINKS}/users/{user}/authentication",
            body={"provider": "Trimble"},
        )
        link_id = answer.json()["id"]
        got = await call(client, leaf_fake, "GET", f"{LINKS}/authentication/{link_id}")
        wrong_kind = await call(client, leaf_fake, "GET", f"{LINKS}/provider/{link_id}")

        assert 201 == answer.status
        assert ("AUTHENTICATION", "Trimble") == (got.json()["widget"], got.json()["provider"])
        assert "allowedProviders" not in got.json()
        assert_problem(wrong_kind, 404)

    async def test_external_id_creates_then_reuses_the_user(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """A first externalId link creates the Leaf user (named after it); the next reuses it."""
        first = await call(
            client, leaf_fake, "POST", f"{LINKS}/provider", body={"externalId": "crm-42"}
        )
        second = await call(
            client,
            leaf_fake,
            "POST",
            f"{LINKS}/authentication",
            body={"externalId": "crm-42", "name": "Other name", "provider": "JohnDeere"},
        )
        named = await call(
            client,
            leaf_fake,
            "POST",
            f"{LINKS}/provider",
            body={"externalId": "crm-7", "name": "Ada", "email": "ada@example.com"},
        )

        assert (201, 201) == (first.status, second.status)
        user_id = first.json()["leafUserId"]
        assert user_id == second.json()["leafUserId"]
        user = leaf_fake.users[user_id]
        assert ("crm-42", "crm-42", "crm-42") == (user.external_id, user.name, user.email)
        ada = leaf_fake.users[named.json()["leafUserId"]]
        assert ("Ada", "ada@example.com") == (ada.name, ada.email)
        assert 2 == len(leaf_fake.users)

    @pytest.mark.parametrize(
        ("body", "fields"),
        [
            ({}, ["externalId"]),
            ({"externalId": ""}, ["externalId"]),
            ({"externalId": "x", "name": 5}, ["name"]),
            ({"externalId": "x", "expiresIn": 899}, ["expiresIn"]),
            ({"externalId": "x", "allowedProviders": ["Sentera"]}, ["allowedProviders"]),
        ],
    )
    async def test_a_bad_auto_user_body_creates_no_user(
        self,
        leaf_fake: FakeLeaf,
        client: aiohttp.ClientSession,
        body: dict[str, Any],
        fields: list[str],
    ) -> None:
        """An invalid externalId create is a 400 and leaves no Leaf user behind."""
        answer = await call(client, leaf_fake, "POST", f"{LINKS}/provider", body=body)

        assert fields == error_fields(answer)
        assert 0 == len(leaf_fake.users)

    @pytest.mark.parametrize(
        ("body", "fields"),
        [
            ({"expiresIn": 899}, ["expiresIn"]),
            ({"expiresIn": 31_536_001}, ["expiresIn"]),
            ({"expiresIn": "900"}, ["expiresIn"]),
            ({"expiresIn": True}, ["expiresIn"]),
            ({"allowedProviders": []}, ["allowedProviders"]),
            ({"allowedProviders": "JohnDeere"}, ["allowedProviders"]),
            ({"allowedProviders": ["johndeere"]}, ["allowedProviders"]),
            ({"settings": []}, ["settings"]),
            ({"settings": {"companyName": 1, "disconnectEnabled": "maybe"}},
             ["settings.companyName", "settings.disconnectEnabled"]),
        ],
    )  # fmt: skip
    async def test_a_bad_provider_link_body_names_its_fields(
        self,
        leaf_fake: FakeLeaf,
        client: aiohttp.ClientSession,
        user: str,
        body: dict[str, Any],
        fields: list[str],
    ) -> None:
        """expiresIn outside 900..31536000, an unknown provider or bad settings are a 400."""
        answer = await call(client, leaf_fake, "POST", f"{LINKS}/users/{user}/provider", body=body)

        assert fields == error_fields(answer)
        assert [] == leaf_fake.onboarding.magic_links

    async def test_catch_all_names_and_the_year_limit_are_accepted(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """'All' and 'other' are accepted, and so is an expiresIn of exactly a year."""
        created = await new_link(
            client, leaf_fake, user, allowedProviders=["All", "other"], expiresIn=31_536_000
        )

        assert ["All", "other"] == leaf_fake.onboarding.magic_link(created["id"])[
            "allowedProviders"
        ]

    async def test_an_authentication_link_needs_a_known_provider(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """No provider, or the catch-all, is a 400 for an authentication link."""
        path = f"{LINKS}/users/{user}/authentication"

        assert ["provider"] == error_fields(await call(client, leaf_fake, "POST", path, body={}))
        assert ["provider"] == error_fields(
            await call(client, leaf_fake, "POST", path, body={"provider": "All"})
        )

    async def test_an_unknown_user_or_path_is_404(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """A link for a missing user, the old singular path, or an unknown kind is a 404."""
        for path in (
            f"{LINKS}/users/nobody/provider",
            f"{LINKS}/user/{user}/provider",
            f"{LINKS}/fields",
            "/services/widgets/api/other",
        ):
            assert_problem(await call(client, leaf_fake, "POST", path, body={}), 404)

    async def test_list_and_delete(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """A kind's list holds only its links; a deleted link is gone from GET and its page."""
        first = await new_link(client, leaf_fake, user)
        await new_link(client, leaf_fake, user)
        await call(
            client, leaf_fake, "POST", f"{LINKS}/users/{user}/file-upload", body={"expiresIn": 900}
        )

        listed = await call(client, leaf_fake, "GET", f"{LINKS}/provider")
        uploads = await call(client, leaf_fake, "GET", f"{LINKS}/file-upload")
        deleted = await call(client, leaf_fake, "DELETE", f"{LINKS}/provider/{first['id']}")
        again = await call(client, leaf_fake, "DELETE", f"{LINKS}/provider/{first['id']}")
        page = await call(client, leaf_fake, "GET", f"/magic-link/{first['id']}", token="")

        assert 2 == len(listed.json())
        assert ["FILEUPLOAD"] == [link["widget"] for link in uploads.json()]
        assert "allowedProviders" not in uploads.json()[0]
        assert "disconnectEnabled" not in uploads.json()[0]["settings"]
        assert 204 == deleted.status
        assert_problem(again, 404)
        assert 404 == page.status
        assert 1 == len((await call(client, leaf_fake, "GET", f"{LINKS}/provider")).json())

    async def test_the_endpoints_need_the_bearer_token(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """Creating a link without a token is a 401."""
        answer = await call(
            client, leaf_fake, "POST", f"{LINKS}/users/{user}/provider", body={}, token=""
        )

        assert_problem(answer, 401)


class TestOnboardingAnswer:
    async def test_answer_serves_onboarding_paths_only(self, leaf_fake: FakeLeaf) -> None:
        """onboarding.answer answers its own paths, token checked first, and None for others."""
        leaf_fake.onboarding.add_app_key("AgLeader", "A", {"privateKey": "p", "publicKey": "q"})
        bearer = {"Authorization": f"Bearer {leaf_fake.token}"}
        listed = make_mocked_request("GET", f"{APP_KEYS}/AgLeader", headers=bearer)
        refused = make_mocked_request("GET", f"{APP_KEYS}/AgLeader")
        other = make_mocked_request("GET", f"{UM}/users", headers=bearer)

        answer = await leaf_fake.onboarding.answer(listed, listed.rel_url.raw_path, "/app-keys")
        with pytest.raises(Exception, match="Full authentication is required") as caught:
            await leaf_fake.onboarding.answer(refused, refused.rel_url.raw_path)

        assert isinstance(answer, web.Response)
        assert answer.text is not None
        assert ["A"] == [key["appName"] for key in json.loads(answer.text)]
        assert 401 == getattr(caught.value, "status", None)
        assert None is await leaf_fake.onboarding.answer(other, other.rel_url.raw_path, "/users")


class TestApiKeys:
    async def test_create_answers_a_key_without_an_id(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """The create answers key, expiresAt (6 digits, no zone) and valid; a year by default."""
        before = datetime.fromtimestamp(leaf_fake.now(), UTC)
        answer = await call(client, leaf_fake, "POST", API_KEYS, body={"leafUserId": user})
        created = answer.json()

        assert 201 == answer.status
        assert {"key", "expiresAt", "valid"} == set(created)
        assert created["valid"] is True
        assert created["key"].startswith("lk_")
        assert MICROS_NO_ZONE.fullmatch(created["expiresAt"])
        after = datetime.fromtimestamp(leaf_fake.now(), UTC)
        year = timedelta(days=365)
        assert before + year <= parse_time(created["expiresAt"]) <= after + year

    async def test_list_revoke_and_expiry(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """The list shows ids; a revoked key stays, invalid, with revokedAt; an old one expires."""
        leaf_fake.add_user(id="u2")
        await call(client, leaf_fake, "POST", API_KEYS, body={"leafUserId": "u2"})
        first = await call(
            client,
            leaf_fake,
            "POST",
            API_KEYS,
            body={"leafUserId": user, "expiresIn": 900, "description": "widget"},
        )
        await call(client, leaf_fake, "POST", API_KEYS, body={"leafUserId": user})
        listed = (await call(client, leaf_fake, "GET", f"{API_KEYS}?leafUserId={user}")).json()
        revoke = await call(client, leaf_fake, "DELETE", f"{API_KEYS}/{listed[1]['id']}")
        twice = await call(client, leaf_fake, "DELETE", f"{API_KEYS}/{listed[1]['id']}")
        leaf_fake.advance_clock(901)
        after = (await call(client, leaf_fake, "GET", f"{API_KEYS}?leafUserId={user}")).json()

        assert [first.json()["key"], listed[1]["key"]] == [key["key"] for key in listed]
        assert {"id", "key", "leafUserId", "expiresAt", "description", "valid"} == set(listed[0])
        assert (user, "widget") == (listed[0]["leafUserId"], listed[0]["description"])
        assert "revokedAt" not in listed[1]
        assert (204, 204) == (revoke.status, twice.status)
        assert [False, False] == [key["valid"] for key in after]
        assert MICROS_NO_ZONE.fullmatch(after[1]["revokedAt"])
        assert "revokedAt" not in after[0]
        assert 3 == len(leaf_fake.onboarding.api_keys)

    @pytest.mark.parametrize(
        ("body", "fields"),
        [
            ({}, ["leafUserId"]),
            ({"leafUserId": "u1", "expiresIn": 899}, ["expiresIn"]),
            ({"leafUserId": "u1", "description": 3}, ["description"]),
        ],
    )
    async def test_a_bad_create_body_names_its_fields(
        self,
        leaf_fake: FakeLeaf,
        client: aiohttp.ClientSession,
        user: str,
        body: dict[str, Any],
        fields: list[str],
    ) -> None:
        """A missing leafUserId, a short expiresIn or a non-string description is a 400."""
        answer = await call(client, leaf_fake, "POST", API_KEYS, body=body)

        assert fields == error_fields(answer)
        assert [] == leaf_fake.onboarding.api_keys

    async def test_refusals(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """A list without leafUserId is a 400; an unknown user or key id a 404."""
        assert_problem(await call(client, leaf_fake, "GET", API_KEYS), 400)
        assert_problem(await call(client, leaf_fake, "GET", f"{API_KEYS}?leafUserId=x"), 404)
        assert_problem(
            await call(client, leaf_fake, "POST", API_KEYS, body={"leafUserId": "x"}), 404
        )
        assert_problem(await call(client, leaf_fake, "DELETE", f"{API_KEYS}/nope"), 404)
        assert_problem(await call(client, leaf_fake, "DELETE", API_KEYS), 405)
        assert_problem(await call(client, leaf_fake, "GET", f"{API_KEYS}/a/b"), 404)


class TestMagicLinkPage:
    async def open_page(
        self, client: aiohttp.ClientSession, fake: FakeLeaf, url: str
    ) -> tuple[Answer, Elements]:
        async with client.get(url) as response:  # a grower's browser: no bearer token
            answer = Answer(response.status, response.headers, await response.read())
        return answer, Elements(answer.text)

    async def consent(
        self,
        client: aiohttp.ClientSession,
        fake: FakeLeaf,
        link: str,
        provider: str,
        *,
        username: str = "ada",
        grant: bool = True,
    ) -> tuple[Answer, Elements]:
        """Open the link, pick the provider, submit the consent form."""
        _, landing = await self.open_page(client, fake, link)
        href = landing.by_id[f"provider-{provider}"]["href"]
        _, form = await self.open_page(client, fake, fake.url + str(href))
        fields = {
            "session": str(form.by_id["session"]["value"]),
            "username": username,
            "password": "pw",
        }
        if grant:
            fields["permissions"] = "granted"
        async with client.post(
            fake.url + str(form.by_id["consent-form"]["action"]), data=fields
        ) as r:
            answer = Answer(r.status, r.headers, await r.read())
        return answer, Elements(answer.text)

    async def test_a_grower_connects_john_deere(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """Open, pick John Deere, sign in: an OK credential of the app's keys, its event, a use."""
        leaf_fake.onboarding.add_app_key("JohnDeere", "LeafWidget", JD_KEYS, environment="STAGE")
        created = await new_link(client, leaf_fake, user, allowedProviders=["JohnDeere", "Trimble"])

        landing, elements = await self.open_page(client, leaf_fake, created["link"])
        answer, result = await self.consent(client, leaf_fake, created["link"], "JohnDeere")

        assert 200 == landing.status
        assert landing.headers["Content-Type"].startswith("text/html")
        assert "John Deere" == elements.text["provider-JohnDeere"]
        assert "provider-Trimble" not in elements.by_id  # no Trimble app key registered
        assert 200 == answer.status
        assert "OK" == result.by_id["result"]["data-status"]
        stored = leaf_fake.credential(user, lc.JOHN_DEERE)
        assert stored is not None
        assert ("OK", "jd-app-id", "jd-app-secret-1", "STAGE") == (
            stored["status"],
            stored["clientKey"],
            stored["clientSecret"],
            stored["clientEnvironment"],
        )
        assert stored["refreshToken"].startswith("fake-refreshToken-")
        assert b"jd-app-secret-1" not in landing.body + answer.body
        async with lc.LeafSession(token=leaf_fake.token, base_url=leaf_fake.url) as leaf:
            record = await leaf.get(lc.JOHN_DEERE, user)
            events = await leaf.events(lc.JOHN_DEERE, user)
        assert lc.CredentialStatus.OK == record.status
        assert 200 == events[0].status_code
        link = leaf_fake.onboarding.magic_link(created["id"])
        assert 2 == link["usageCount"]  # two openings: the look, then the connection
        assert MILLIS_Z.fullmatch(link["lastAccessedAt"])

    async def test_a_revisit_shows_the_connection_and_counts_no_use(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """The result page's way back keeps the session: no new use, John Deere marked connected."""
        leaf_fake.onboarding.add_app_key("JohnDeere", "A", JD_KEYS, environment="PRODUCTION")
        created = await new_link(client, leaf_fake, user)
        _, result = await self.consent(client, leaf_fake, created["link"], "JohnDeere")

        back, elements = await self.open_page(
            client, leaf_fake, leaf_fake.url + str(result.by_id["back"]["href"])
        )

        assert 200 == back.status
        assert "connected-JohnDeere" in elements.by_id
        assert 1 == leaf_fake.onboarding.magic_link(created["id"])["usageCount"]

    async def test_withheld_permissions_send_the_limited_permission_alert(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """Unticking organization access leaves MISSING_PERMISSION, with its event and alert."""
        received: list[dict[str, Any]] = []

        async def on_alert(request: web.Request) -> web.Response:
            received.append(await request.json())
            return web.Response()

        app = web.Application()
        app.router.add_post("/alerts", on_alert)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            port = runner.addresses[0][1]
            webhook = {
                "name": "alerts",
                "url": f"http://127.0.0.1:{port}/alerts",
                "secret": "webhook-secret-1",
                "events": ["credentialsLimitedPermission"],
            }
            await call(
                client, leaf_fake, "POST", "/services/alerts/api/alerts/webhooks", body=webhook
            )
            leaf_fake.onboarding.add_app_key("JohnDeere", "A", JD_KEYS, environment="PRODUCTION")
            created = await new_link(client, leaf_fake, user)

            _, result = await self.consent(
                client, leaf_fake, created["link"], "JohnDeere", grant=False
            )
            await leaf_fake.alerts.drain()
        finally:
            await runner.cleanup()

        assert "MISSING_PERMISSION" == result.by_id["result"]["data-status"]
        assert ["credentialsLimitedPermission"] == [
            alert["type"] for alert in received if "type" in alert
        ]
        assert "JohnDeere" == received[-1]["provider"]  # Leaf's name, not the slug
        async with lc.LeafSession(token=leaf_fake.token, base_url=leaf_fake.url) as leaf:
            events = await leaf.events(lc.JOHN_DEERE, user)
        assert [200, 403] == [event.status_code for event in events]

    async def test_connecting_again_replaces_the_credential(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """A grower who connects again gets a fresh OK credential in place of the old one."""
        leaf_fake.add_credential(
            user,
            lc.JOHN_DEERE,
            {
                "clientKey": "old",
                "clientSecret": "s",
                "refreshToken": "r",
                "clientEnvironment": "STAGE",
            },
        )
        leaf_fake.set_status(user, lc.JOHN_DEERE, "UNAUTHENTICATED")
        leaf_fake.onboarding.add_app_key("JohnDeere", "A", JD_KEYS, environment="PRODUCTION")
        created = await new_link(client, leaf_fake, user)

        await self.consent(client, leaf_fake, created["link"], "JohnDeere")

        stored = leaf_fake.credential(user, lc.JOHN_DEERE) or {}
        assert ("OK", "jd-app-id") == (stored["status"], stored["clientKey"])

    async def test_a_grower_disconnects_where_the_link_allows_it(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """With disconnectEnabled the page offers Disconnect, which deletes the credential."""
        leaf_fake.onboarding.add_app_key("JohnDeere", "A", JD_KEYS, environment="PRODUCTION")
        plain = await new_link(client, leaf_fake, user)
        created = await new_link(client, leaf_fake, user, settings={"disconnectEnabled": True})
        leaf_fake.onboarding.connect(created["id"], "JohnDeere")

        _, without = await self.open_page(client, leaf_fake, plain["link"])
        _, landing = await self.open_page(client, leaf_fake, created["link"])
        form = landing.by_id["disconnect-form-JohnDeere"]
        session = str(without.by_id["provider-JohnDeere"]["href"]).partition("session=")[2]
        async with client.post(
            f"{plain['link']}/JohnDeere/disconnect", data={"session": session}
        ) as response:
            refused = response.status
        async with client.get(leaf_fake.url + str(form["action"])) as response:
            get = response.status
        stored = leaf_fake.credential(user, lc.JOHN_DEERE)
        answer, result = await self.submit(client, leaf_fake, landing, "disconnect-form-JohnDeere")
        again, _ = await self.submit(client, leaf_fake, landing, "disconnect-form-JohnDeere")

        assert "disconnect-form-JohnDeere" not in without.by_id
        assert (403, 405) == (refused, get)
        assert stored is not None
        assert (200, 200) == (answer.status, again.status)
        assert "DISCONNECTED" == result.by_id["result"]["data-status"]
        assert leaf_fake.credential(user, lc.JOHN_DEERE) is None

    async def submit(
        self, client: aiohttp.ClientSession, fake: FakeLeaf, page: Elements, form_id: str
    ) -> tuple[Answer, Elements]:
        """Post a page's form with its hidden session, as a browser would."""
        session = next(v for k, v in page.hidden if k == "session")
        async with client.post(
            fake.url + str(page.by_id[form_id]["action"]), data={"session": session}
        ) as response:
            answer = Answer(response.status, response.headers, await response.read())
        return answer, Elements(answer.text)

    async def test_the_page_shows_the_settings(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """companyName, companyLogo and showLeafUserName show on the page."""
        settings = {"companyName": "Acme <Farms>", "companyLogo": "https://a.example/l.png",
                    "showLeafUserName": True}  # fmt: skip
        created = await new_link(client, leaf_fake, user, settings=settings)

        answer, elements = await self.open_page(client, leaf_fake, created["link"])

        assert "Acme <Farms>" == elements.text["title"]
        assert "https://a.example/l.png" == elements.by_id["company-logo"]["src"]
        assert "Ada Grower" == elements.text["leaf-user"]
        assert "no-providers" in elements.by_id  # no app keys yet
        assert b"Acme <Farms>" not in answer.body  # escaped

    async def test_an_expired_link_answers_410(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """Past expiresAt the page, and a consent started before, answer 410."""
        leaf_fake.onboarding.add_app_key("JohnDeere", "A", JD_KEYS, environment="PRODUCTION")
        created = await new_link(client, leaf_fake, user)
        _, landing = await self.open_page(client, leaf_fake, created["link"])
        leaf_fake.advance_clock(900)

        page, elements = await self.open_page(client, leaf_fake, created["link"])
        href = landing.by_id["provider-JohnDeere"]["href"]
        form, _ = await self.open_page(client, leaf_fake, leaf_fake.url + str(href))

        assert (410, 410) == (page.status, form.status)
        assert "410" == elements.by_id["error"]["data-status"]
        assert leaf_fake.credential(user, lc.JOHN_DEERE) is None
        with pytest.raises(ValueError, match="expired"):
            leaf_fake.onboarding.connect(created["id"], lc.JOHN_DEERE)

    async def test_max_usage_limits_the_openings(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """Once usageCount reaches maxUsage a new opening is a 410; a session under way goes on."""
        leaf_fake.onboarding.max_usage = 1
        leaf_fake.onboarding.add_app_key("JohnDeere", "A", JD_KEYS, environment="PRODUCTION")
        created = await new_link(client, leaf_fake, user)
        _, landing = await self.open_page(client, leaf_fake, created["link"])

        second, _ = await self.open_page(client, leaf_fake, created["link"])
        href = landing.by_id["provider-JohnDeere"]["href"]
        form, elements = await self.open_page(client, leaf_fake, leaf_fake.url + str(href))

        assert 410 == second.status
        assert 200 == form.status
        assert "consent-form" in elements.by_id
        assert (1, 1) == tuple(
            leaf_fake.onboarding.magic_link(created["id"])[k] for k in ("maxUsage", "usageCount")
        )
        with pytest.raises(ValueError, match="used"):
            leaf_fake.onboarding.connect(created["link"], "JohnDeere")

    async def test_a_consent_without_a_session_is_refused(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """Posting the form without the session an opening gave is a 403: no use is skipped."""
        leaf_fake.onboarding.add_app_key("JohnDeere", "A", JD_KEYS, environment="PRODUCTION")
        created = await new_link(client, leaf_fake, user)

        async with client.post(
            f"{created['link']}/JohnDeere", data={"session": "forged", "username": "a"}
        ) as response:
            status = response.status

        assert 403 == status
        assert leaf_fake.credential(user, lc.JOHN_DEERE) is None

    async def test_an_empty_username_shows_the_form_again(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """Signing in without a username is a 400 page with the form and an error."""
        leaf_fake.onboarding.add_app_key("JohnDeere", "A", JD_KEYS, environment="PRODUCTION")
        created = await new_link(client, leaf_fake, user)

        answer, elements = await self.consent(
            client, leaf_fake, created["link"], "JohnDeere", username=" "
        )

        assert 400 == answer.status
        assert {"error", "consent-form"} <= set(elements.by_id)
        assert leaf_fake.credential(user, lc.JOHN_DEERE) is None

    async def test_a_provider_not_on_the_link_is_not_offered(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """An authentication link offers its one provider; another one's form is a 404."""
        leaf_fake.onboarding.add_app_key("JohnDeere", "A", JD_KEYS, environment="PRODUCTION")
        leaf_fake.onboarding.add_app_key("AgLeader", "A", {"privateKey": "p", "publicKey": "q"})
        answer = await call(
            client, leaf_fake, "POST", f"{LINKS}/users/{user}/authentication",
            body={"provider": "AgLeader"},
        )  # fmt: skip
        link = answer.json()["link"]
        _, landing = await self.open_page(client, leaf_fake, link)
        session = str(landing.by_id["provider-AgLeader"]["href"]).partition("session=")[2]

        other, _ = await self.open_page(client, leaf_fake, f"{link}/JohnDeere?session={session}")

        assert ["provider-AgLeader"] == [i for i in landing.by_id if i.startswith("provider-")]
        assert 404 == other.status
        with pytest.raises(LookupError, match="not offered"):
            leaf_fake.onboarding.connect(link, lc.JOHN_DEERE)
        assert 1 == leaf_fake.onboarding.magic_link(link)["usageCount"]

    async def test_unknown_pages_are_404_and_the_page_takes_no_put(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """A missing link, a too deep path or a PUT get an HTML error page."""
        created = await new_link(client, leaf_fake, user)

        missing, _ = await self.open_page(client, leaf_fake, leaf_fake.url + "/magic-link/nope")
        deep, _ = await self.open_page(client, leaf_fake, created["link"] + "/a/b")
        bare, _ = await self.open_page(client, leaf_fake, leaf_fake.url + "/magic-link")
        async with client.put(created["link"]) as response:
            put = response.status

        assert (404, 404, 404, 405) == (missing.status, deep.status, bare.status, put)

    async def test_connect_helper_and_file_upload_page(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """connect() does what the page does; a file-upload page says it is not simulated."""
        keys = {"clientId": "c", "clientSecret": "s", "subscriptionKey": "k"}
        leaf_fake.onboarding.add_app_key("CNHI", "A", keys, environment="STAGE")
        created = await new_link(client, leaf_fake, user, allowedProviders=["CNHI"])
        upload = await call(client, leaf_fake, "POST", f"{LINKS}/users/{user}/file-upload", body={})

        record = leaf_fake.onboarding.connect(created["link"], "cnhi")
        page, elements = await self.open_page(client, leaf_fake, upload.json()["link"])

        assert ("OK", "k", "STAGE") == (
            record["status"], record["subscriptionKey"], record["clientEnvironment"]
        )  # fmt: skip
        assert 200 == page.status
        assert "file-upload" in elements.by_id
        with pytest.raises(LookupError):
            leaf_fake.onboarding.connect("no-such-link", "CNHI")

    async def test_a_provider_the_fake_does_not_serve_cannot_connect(
        self, client: aiohttp.ClientSession
    ) -> None:
        """With a registry lacking John Deere, the page names it by Leaf's name and refuses it."""
        registry = lc.Registry()
        registry.register(lc.SENTERA)
        async with FakeLeaf(registry=registry) as fake:
            user = fake.add_user().id
            fake.onboarding.add_app_key("JohnDeere", "A", JD_KEYS, environment="STAGE")
            created = await new_link(client, fake, user)

            _, landing = await self.open_page(client, fake, created["link"] + "/")
            with pytest.raises(LookupError, match="no john-deere credentials"):
                fake.onboarding.connect(created["id"], "JohnDeere")
            with pytest.raises(LookupError, match="not offered"):
                fake.onboarding.connect(created["id"], "sentera")

        assert "JohnDeere" == landing.text["provider-JohnDeere"]

    async def test_a_credential_takes_the_apps_keys(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """AgLeader's credential gets the app's keys and a made-up refresh token."""
        leaf_fake.onboarding.add_app_key("AgLeader", "A", {"privateKey": "p", "publicKey": "q"})
        created = await new_link(client, leaf_fake, user, allowedProviders=["AgLeader"])

        record = leaf_fake.onboarding.connect(created["id"], lc.AG_LEADER)

        assert ("p", "q") == (record["privateKey"], record["publicKey"])
        assert record["refreshToken"].startswith("fake-refreshToken-")

    async def test_reset_forgets_onboarding(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, user: str
    ) -> None:
        """fake.reset() drops app keys, links and API keys, and restores maxUsage."""
        leaf_fake.onboarding.add_app_key("JohnDeere", "A", JD_KEYS, environment="PRODUCTION")
        await new_link(client, leaf_fake, user)
        await call(client, leaf_fake, "POST", API_KEYS, body={"leafUserId": user})
        leaf_fake.onboarding.max_usage = 9

        leaf_fake.reset()

        assert ([], [], [], 3) == (
            leaf_fake.onboarding.app_keys,
            leaf_fake.onboarding.magic_links,
            leaf_fake.onboarding.api_keys,
            leaf_fake.onboarding.max_usage,
        )
        assert "app_keys=0" in repr(leaf_fake.onboarding)
