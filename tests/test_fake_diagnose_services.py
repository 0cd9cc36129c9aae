"""The fake's organizations, configurations, integrations summaries and failed calls, over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf

UM = "/services/usermanagement/api"
CONFIGS = "/services/config/api/configs"
RESOURCES = "/services/integrations/api/resources"
WEBHOOKS = "/services/alerts/api/alerts/webhooks"
JD = {"clientKey": "jd-app", "clientSecret": "jd-client-secret", "refreshToken": "jd-refresh",
      "clientEnvironment": "STAGE"}  # fmt: skip
TRIMBLE = {"clientId": "t-app", "clientSecret": "t-secret", "refreshToken": "t-refresh"}
SENTERA = {"username": "ada", "password": "sentera-password", "organizationName": "Ada"}


class Answer(NamedTuple):
    status: int
    headers: Any
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def ada(leaf_fake: FakeLeaf) -> str:
    """A user with a John Deere credential."""
    leaf_fake.add_user(id="ada", name="Ada")
    leaf_fake.add_credential("ada", lc.JOHN_DEERE, JD)
    return "ada"


async def call(
    client: aiohttp.ClientSession, fake: FakeLeaf, method: str, path: str, body: Any = None
) -> Answer:
    """Send one request to the fake with its token; the path is taken as encoded."""
    async with client.request(
        method,
        URL(fake.url + path, encoded=True),
        json=body,
        headers={"Authorization": f"Bearer {fake.token}"},
    ) as response:
        return Answer(response.status, response.headers, await response.read())


class TestOrganizations:
    async def test_the_connected_list_as_documented(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, ada: str
    ) -> None:
        """One shared organization, its URI a connections-dialog."""
        answer = await call(client, leaf_fake, "GET", f"{UM}/users/ada/organizations/JohnDeere")

        assert 200 == answer.status
        body = answer.json()
        assert {"connectedOrganizations", "notConnectedOrganizations"} == set(body)
        (org,) = body["connectedOrganizations"]
        assert {"id", "name", "managementUri"} == set(org)
        assert "connections-dialog" in org["managementUri"]

    async def test_the_synced_list_and_one(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, ada: str
    ) -> None:
        """providerOrgId, providerOrgName, status and managementUri; one by id."""
        listed = await call(client, leaf_fake, "GET", f"{UM}/users/ada/JohnDeere/organizations")
        (org,) = listed.json()
        assert {"providerOrgId", "providerOrgName", "status", "managementUri"} == set(org)
        one = await call(
            client,
            leaf_fake,
            "GET",
            f"{UM}/users/ada/JohnDeere/organizations/{org['providerOrgId']}",
        )
        assert org == one.json()

    async def test_patch_toggles_and_blocked_refuses(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, ada: str
    ) -> None:
        """SELECTED and PREVIEW toggle; BLOCKED cannot be set, nor changed."""
        leaf_fake.organizations.set(
            "ada", "john-deere", [{"id": "1"}, {"id": "2", "status": "BLOCKED"}]
        )
        base = f"{UM}/users/ada/JohnDeere/organizations"

        selected = await call(client, leaf_fake, "PATCH", f"{base}/1/SELECTED")
        refused = await call(client, leaf_fake, "PATCH", f"{base}/1/BLOCKED")
        blocked = await call(client, leaf_fake, "PATCH", f"{base}/2/SELECTED")
        missing = await call(client, leaf_fake, "PATCH", f"{base}/9/SELECTED")

        assert (200, "SELECTED") == (selected.status, selected.json()["status"])
        assert (400, 400, 404) == (refused.status, blocked.status, missing.status)

    async def test_sharing_then_syncing_unblocks(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, ada: str
    ) -> None:
        """A shared organization stays BLOCKED until a sync makes it PREVIEW."""
        leaf_fake.organizations.set("ada", "john-deere", [{"id": "1", "status": "BLOCKED"}])
        path = f"{UM}/users/ada/organizations/JohnDeere"
        before = (await call(client, leaf_fake, "GET", path)).json()
        assert "select-organizations" in before["notConnectedOrganizations"][0]["managementUri"]

        leaf_fake.organizations.share("ada")
        assert "BLOCKED" == leaf_fake.organizations.listed("ada")[0]["status"]
        synced = await call(
            client, leaf_fake, "POST", f"{UM}/users/ada/JohnDeere/organizations/sync"
        )

        assert 204 == synced.status
        assert "PREVIEW" == leaf_fake.organizations.listed("ada")[0]["status"]

    async def test_a_sync_blocks_what_is_no_longer_shared(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, ada: str
    ) -> None:
        """An organization the grower stopped sharing is BLOCKED after a sync."""
        leaf_fake.organizations.set("ada", "john-deere", [{"id": "1", "shared": False}])

        await call(client, leaf_fake, "POST", f"{UM}/users/ada/JohnDeere/organizations/sync")

        assert "BLOCKED" == leaf_fake.organizations.listed("ada")[0]["status"]

    async def test_withholding_on_the_consent_page_blocks_them(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """'Share my organizations' unchecked: MISSING_PERMISSION and BLOCKED, not shared."""
        leaf_fake.add_user(id="bob")
        keys = {"clientKey": "k", "clientSecret": "s"}
        leaf_fake.onboarding.add_app_key("JohnDeere", "app", keys, environment="PRODUCTION")
        async with lc.LeafSession(token=leaf_fake.token, base_url=leaf_fake.url) as leaf:
            link = await leaf.magic_links.create("bob", provider=lc.JOHN_DEERE)
            leaf_fake.onboarding.connect(link.link or "", lc.JOHN_DEERE, grant_permissions=False)
            connections = await leaf.organizations.connections("bob")
        assert () == connections.connected
        assert lc.OrganizationAccess.SETUP_INCOMPLETE == connections.not_connected[0].access
        assert "BLOCKED" == leaf_fake.organizations.listed("bob")[0]["status"]

    async def test_trimble_lists_every_organization_connected(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """Trimble cannot tell connected from not connected."""
        leaf_fake.add_user(id="t")
        leaf_fake.add_credential("t", lc.TRIMBLE, TRIMBLE)
        leaf_fake.organizations.set("t", "trimble", [{"shared": False}, {}])

        body = (await call(client, leaf_fake, "GET", f"{UM}/users/t/organizations/Trimble")).json()

        assert (2, 0) == (
            len(body["connectedOrganizations"]),
            len(body["notConnectedOrganizations"]),
        )

    @pytest.mark.parametrize(
        ("method", "path", "status"),
        [
            ("GET", "/users/ada/organizations/Sentera", 404),
            ("GET", "/users/ada/organizations/JohnDeere/x", 404),
            ("GET", "/users/ada/Trimble/organizations", 404),
            ("GET", "/users/ada/JohnDeere/organizations/1/SELECTED/x", 404),
            ("POST", "/users/ada/organizations/JohnDeere", 405),
            ("GET", "/users/nobody/organizations/JohnDeere", 404),
            ("GET", "/users/ada/organizations/Trimble", 404),
        ],
    )
    async def test_what_is_refused(
        self,
        leaf_fake: FakeLeaf,
        client: aiohttp.ClientSession,
        ada: str,
        method: str,
        path: str,
        status: int,
    ) -> None:
        """Other providers, deeper paths, other methods, unknown users or credentials."""
        answer = await call(client, leaf_fake, method, UM + path)

        assert status == answer.status
        assert answer.headers["Content-Type"].startswith("application/problem+json")

    def test_set_checks_its_input(self, leaf_fake: FakeLeaf, ada: str) -> None:
        """A bad organization or a missing credential is refused."""
        with pytest.raises(ValueError, match="status must be one of"):
            leaf_fake.organizations.set("ada", "john-deere", [{"status": "ON"}])
        with pytest.raises(ValueError, match="must be a JSON object"):
            leaf_fake.organizations.set("ada", "john-deere", ["x"])  # type: ignore[list-item]
        with pytest.raises(ValueError, match="strings"):
            leaf_fake.organizations.set("ada", "john-deere", [{"id": 3}])
        for call_it in (
            lambda: leaf_fake.organizations.set("ada", "trimble", []),
            lambda: leaf_fake.organizations.share("ada", "trimble"),
            lambda: leaf_fake.organizations.listed("ada", "trimble"),
        ):
            with pytest.raises(LookupError):
                call_it()
        assert "<FakeOrganizations" in repr(leaf_fake.organizations)

    async def test_a_new_credential_starts_over(self, leaf_fake: FakeLeaf, ada: str) -> None:
        """Reconnecting (a new credential id) gives fresh organizations; reset forgets them."""
        leaf_fake.organizations.set("ada", "john-deere", [{"id": "x", "status": "BLOCKED"}])
        async with lc.LeafSession(token=leaf_fake.token, base_url=leaf_fake.url) as leaf:
            await leaf.delete(lc.JOHN_DEERE, "ada")
            await leaf.create(lc.JOHN_DEERE, "ada", JD)
        assert "PREVIEW" == leaf_fake.organizations.listed("ada")[0]["status"]
        leaf_fake.reset()
        assert "<FakeOrganizations credentials=0>" == repr(leaf_fake.organizations)


class TestConfigurations:
    async def test_the_owner_and_a_user(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, ada: str
    ) -> None:
        """GET /configs; a user without its own is 404; POST makes one, over the owner's."""
        owner = (await call(client, leaf_fake, "GET", CONFIGS)).json()
        missing = await call(client, leaf_fake, "GET", f"{CONFIGS}/ada")
        made = await call(client, leaf_fake, "POST", f"{CONFIGS}/ada", {"fieldsAutoSync": False})
        again = await call(client, leaf_fake, "POST", f"{CONFIGS}/ada", {})

        assert ("", "user@example.com", "ALL") == tuple(
            owner[key] for key in ("leafUserId", "apiOwnerUsername", "organizationDataSync")
        )
        assert 404 == missing.status
        assert (201, "ada", False, True) == (made.status, made.json()["leafUserId"],
                                           made.json()["fieldsAutoSync"],
                                           made.json()["operationsAutoSync"])  # fmt: skip
        assert 409 == again.status

    async def test_a_users_key_stops_following_the_owner(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, ada: str
    ) -> None:
        """Owner changes reach what the user did not set; null and DELETE inherit again."""
        await call(client, leaf_fake, "POST", f"{CONFIGS}/ada", {"zonesAutoSync": True})
        await call(
            client, leaf_fake, "PATCH", CONFIGS, {"zonesAutoSync": False, "machinesAutoSync": True}
        )
        mine = (await call(client, leaf_fake, "GET", f"{CONFIGS}/ada")).json()
        assert (True, True) == (mine["zonesAutoSync"], mine["machinesAutoSync"])

        patched = await call(client, leaf_fake, "PATCH", f"{CONFIGS}/ada", {"zonesAutoSync": None})
        assert False is patched.json()["zonesAutoSync"]
        assert 204 == (await call(client, leaf_fake, "DELETE", f"{CONFIGS}/ada")).status
        assert 404 == (await call(client, leaf_fake, "DELETE", f"{CONFIGS}/ada")).status

    @pytest.mark.parametrize(
        ("method", "path", "body", "status"),
        [
            ("PATCH", CONFIGS, {"fieldsAutoSync": None}, 400),
            ("PATCH", CONFIGS, {"fieldsAutoSync": "yes"}, 400),
            ("PATCH", CONFIGS, {"geoimagesShape": "HEX"}, 400),
            ("PATCH", CONFIGS, [1], 400),
            ("POST", CONFIGS, {}, 405),
            ("PATCH", f"{CONFIGS}/ada", {"zonesAutoSync": True}, 404),
            ("GET", f"{CONFIGS}/nobody", None, 404),
            ("GET", f"{CONFIGS}/ada/x", None, 404),
        ],
    )
    async def test_what_is_refused(
        self,
        leaf_fake: FakeLeaf,
        client: aiohttp.ClientSession,
        ada: str,
        method: str,
        path: str,
        body: Any,
        status: int,
    ) -> None:
        """Nulls on the owner, wrong types, other methods, missing users and configurations."""
        assert status == (await call(client, leaf_fake, method, path, body)).status

    def test_set_up_without_a_request(self, leaf_fake: FakeLeaf, ada: str) -> None:
        """set() checks like a request; owner, own and effective read the state."""
        leaf_fake.configurations.set("ada", {"organizationDataSync": "SELECTED_ONLY"})
        assert {"organizationDataSync": "SELECTED_ONLY"} == leaf_fake.configurations.own("ada")
        assert True is leaf_fake.configurations.effective("ada")["fieldsAutoSync"]
        assert "ALL" == leaf_fake.configurations.owner["organizationDataSync"]
        with pytest.raises(ValueError, match="organizationDataSync"):
            leaf_fake.configurations.set("ada", {"organizationDataSync": "SOME"})
        with pytest.raises(LookupError):
            leaf_fake.configurations.set("nobody", {})
        leaf_fake.reset()
        assert "<FakeConfigurations users=0>" == repr(leaf_fake.configurations)


class TestIntegrations:
    async def test_a_summary_appears_once_ok_for_a_while(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, ada: str
    ) -> None:
        """Nothing at first; past sync_delay of the fake's clock, Leaf's documented keys."""
        before = (await call(client, leaf_fake, "GET", RESOURCES)).json()
        leaf_fake.advance_clock(leaf_fake.integrations.sync_delay + 1)
        after = (await call(client, leaf_fake, "GET", f"{RESOURCES}?leafUserId=ada")).json()

        assert {"message": "SUCCESS", "summaries": []} == before
        (summary,) = after["summaries"]
        assert {"provider", "leafUserId", "growers", "farms", "fields", "syncReferenceTime"} == set(
            summary
        )
        assert ("JohnDeere", 100) == (summary["provider"], summary["fields"])

    async def test_no_data_flows_without_sharing_or_selection(
        self, leaf_fake: FakeLeaf, ada: str
    ) -> None:
        """BLOCKED organizations, SELECTED_ONLY with none selected, auto-sync off: no summary."""
        leaf_fake.advance_clock(leaf_fake.integrations.sync_delay + 1)
        integrations = leaf_fake.integrations
        leaf_fake.organizations.set("ada", "john-deere", [{"status": "BLOCKED"}])
        assert None is integrations.summary("ada", "john-deere")
        leaf_fake.organizations.set("ada", "john-deere", [{"status": "PREVIEW"}])
        leaf_fake.configurations.set("ada", {"organizationDataSync": "SELECTED_ONLY"})
        assert None is integrations.summary("ada", "john-deere")
        leaf_fake.organizations.set("ada", "john-deere", [{"status": "SELECTED"}, {}])
        assert 100 == (integrations.summary("ada", "john-deere") or {})["fields"]
        leaf_fake.configurations.set("ada", {"fieldsAutoSync": False, "operationsAutoSync": False})
        assert None is integrations.summary("ada", "john-deere")

    async def test_ok_since_the_last_recovery(self, leaf_fake: FakeLeaf, ada: str) -> None:
        """A credential that went bad and came back counts from its recovery."""
        leaf_fake.advance_clock(leaf_fake.integrations.sync_delay + 1)
        leaf_fake.set_status("ada", lc.JOHN_DEERE, "UNAUTHENTICATED")
        assert None is leaf_fake.integrations.summary("ada", "john-deere")
        leaf_fake.set_status("ada", lc.JOHN_DEERE, "OK")
        assert None is leaf_fake.integrations.summary("ada", "john-deere")
        leaf_fake.advance_clock(leaf_fake.integrations.sync_delay + 1)
        assert leaf_fake.integrations.summary("ada", "john-deere") is not None

    async def test_counts_leaf_documents_per_provider(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """Providers without growers leave growers out; Sentera has no summary at all."""
        leaf_fake.add_user(id="s")
        leaf_fake.add_credential("s", lc.SENTERA, SENTERA)
        leaf_fake.add_credential(
            "s", lc.STARA, {"apiKey": "k", "accessToken": "a", "accessTokenClient": "c",
                            "refreshToken": "r"})  # fmt: skip
        leaf_fake.advance_clock(leaf_fake.integrations.sync_delay + 1)

        answer = await call(client, leaf_fake, "GET", f"{RESOURCES}?provider=stara&page=0&size=5")

        (summary,) = answer.json()["summaries"]
        assert {"provider", "leafUserId", "fields", "syncReferenceTime"} == set(summary)
        assert "1" == answer.headers["X-Total-Count"]

    @pytest.mark.parametrize(
        ("path", "status"),
        [(f"{RESOURCES}?leafUserId=nobody", 404), (f"{RESOURCES}/x", 404),
         (f"{RESOURCES}?page=x", 400)],
    )  # fmt: skip
    async def test_what_is_refused(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, path: str, status: int
    ) -> None:
        """An unknown user, a deeper path, a bad page."""
        assert status == (await call(client, leaf_fake, "GET", path)).status

    def test_repr(self, leaf_fake: FakeLeaf) -> None:
        """The repr says the sync delay."""
        assert "<FakeIntegrations sync_delay=3600>" == repr(leaf_fake.integrations)


class TestFailedCalls:
    async def test_not_shadowed_by_the_webhook_by_id_route(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """GET .../webhooks/failed-calls is Leaf's list, not a webhook so named (issue 24)."""
        answer = await call(client, leaf_fake, "GET", f"{WEBHOOKS}/failed-calls")

        assert (200, {"items": []}) == (answer.status, answer.json())
        assert 405 == (await call(client, leaf_fake, "DELETE", f"{WEBHOOKS}/failed-calls")).status

    async def test_a_5xx_and_an_unreachable_receiver_are_recorded(
        self, client: aiohttp.ClientSession
    ) -> None:
        """One item per failed attempt: status and response, or connectionError."""

        async def broken(request: web.Request) -> web.Response:
            return web.Response(status=502, text="<html>bad gateway</html>")

        app = web.Application()
        app.router.add_post("/leaf", broken)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            async with FakeLeaf(webhook_retry_delays=(0.01,)) as fake:
                fake.add_user(id="u")
                fake.add_credential("u", lc.JOHN_DEERE, JD)
                fake.alerts.register(
                    {
                        "name": "a",
                        "url": f"http://127.0.0.1:{port}/leaf",
                        "secret": "s",
                        "events": ["credentialsUnauthenticated"],
                    }
                )
                fake.alerts.register({"name": "b", "url": "http://127.0.0.1:1/down",
                                      "secret": "s", "events": ["fieldCreated"]})  # fmt: skip
                fake.set_status("u", lc.JOHN_DEERE, "UNAUTHENTICATED")
                fake.alerts.send("fieldCreated", {"fieldId": "f"})
                await fake.alerts.drain()
                answer = await call(client, fake, "GET", f"{WEBHOOKS}/failed-calls?page=0&size=50")
        finally:
            await runner.cleanup()

        items = answer.json()["items"]
        answered = [i for i in items if i.get("status") == 502]
        unreachable = [i for i in items if "connectionError" in i]
        # Confirmations and both attempts of each alert, to each receiver.
        assert 2 <= len(answered)
        assert 2 <= len(unreachable)
        alert = next(i for i in answered if "credentialsUnauthenticated" in i["requestBody"])
        assert {"apiOwner", "createdAt", "url", "status", "response", "requestBody"} == set(alert)
        assert "<html>bad gateway</html>" == alert["response"]
        assert "connection refused" == unreachable[0]["connectionError"]
        assert "status" not in unreachable[0]
        assert "X-Total-Count" in answer.headers

    async def test_why_a_receiver_could_not_be_reached(self) -> None:
        """Too slow, hung up, or not a URL: each is a connectionError of its own."""

        async def stall(request: web.Request) -> web.Response:
            await asyncio.sleep(1)
            return web.Response()  # pragma: no cover - the fake gave up before

        async def hang_up(request: web.Request) -> web.Response:
            assert request.transport is not None
            request.transport.close()
            return web.Response()

        app = web.Application()
        app.router.add_post("/stall", stall)
        app.router.add_post("/hang-up", hang_up)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        try:
            async with FakeLeaf(webhook_retry_delays=()) as fake:
                fake.alerts.timeout = 0.05
                for name, url in (("a", f"{base}/stall"), ("b", f"{base}/hang-up"),
                                  ("c", "http://[bad")):  # fmt: skip
                    fake.alerts.register({"name": name, "url": url, "secret": "s",
                                          "events": [f"event-{name}"]})  # fmt: skip
                await fake.alerts.drain()
                errors = [call["connectionError"] for call in fake.alerts.failed_calls]
        finally:
            await runner.cleanup()
        assert [
            "connection failed: ServerDisconnectedError",
            "no answer within 0.05s",
            "not a URL that can be posted to",
        ] == sorted(errors)


class TestSeed:
    async def test_ok_for_organizations_and_configuration(self, leaf_fake: FakeLeaf) -> None:
        """okFor dates the credential back, organizations and configuration are set."""
        leaf_fake.load_seed(
            {
                "users": [
                    {
                        "id": "s",
                        "credentials": {"john-deere": JD},
                        "okFor": {"john-deere": 7200},
                        "organizations": {"john-deere": [{"id": "9", "status": "SELECTED"}]},
                        "configuration": {"zonesAutoSync": True},
                    }
                ]
            }
        )

        assert "SELECTED" == leaf_fake.organizations.listed("s")[0]["status"]
        assert {"zonesAutoSync": True} == leaf_fake.configurations.own("s")
        summary = leaf_fake.integrations.summary("s", "john-deere")
        assert summary is not None
        assert 100 == summary["fields"]

    @pytest.mark.parametrize(
        ("entry", "problem"),
        [
            ({"okFor": []}, "must be a JSON object of provider slugs @ $.users[0].okFor"),
            ({"okFor": {"john-deere": -1}}, "must be a number of seconds"),
            ({"okFor": {"john-deere": True}}, "must be a number of seconds"),
            ({"okFor": {"sentera": 1}}, "no sentera credential to date"),
            ({"organizations": 3}, "must be a JSON object of provider slugs"),
            ({"organizations": {"sentera": []}}, "of john-deere and trimble only"),
            ({"organizations": {"trimble": []}}, "no trimble credential to give organizations"),
            ({"organizations": {"john-deere": {}}}, "must be a JSON array of organizations"),
            ({"organizations": {"john-deere": [{"status": "x"}]}}, "status must be one of"),
            ({"configuration": []}, "must be a JSON object of configuration keys"),
        ],
    )
    def test_each_problem_is_named_and_nothing_added(
        self, leaf_fake: FakeLeaf, entry: dict[str, Any], problem: str
    ) -> None:
        """A bad okFor, organizations or configuration is a ValidationError."""
        document = {"users": [{"id": "s", "credentials": {"john-deere": JD}, **entry}]}

        with pytest.raises(lc.ValidationError) as caught:
            leaf_fake.load_seed(document)

        assert any(problem in line for line in caught.value.errors), caught.value.errors
        assert {} == dict(leaf_fake.users)

    def test_the_example_seed_loads(self, leaf_fake: FakeLeaf) -> None:
        """examples/diagnose/seed.json is a valid seed document."""
        from pathlib import Path

        seed = Path(__file__).parent.parent / "examples" / "diagnose" / "seed.json"
        assert 5 == len(leaf_fake.load_seed(json.loads(seed.read_text())))


# Leaf's Postman collection (shared/leaf-api/postman), copied by hand: the
# Configurations folder, create before read, with the collection's body.
COLLECTION_BODY = {
    "operationsImageCreation": False,
    "geoimagesResolution": 0.00001,
    "geoimagesShape": "SQUARE",
    "geoimagesProjection": "EPSG:3857",
    "geoimagesColorRamp": {"0%": [200, 0, 0], "100%": [0, 130, 0], "nv": [0, 0, 0, 0]},
    "fieldsAutoSync": True,
    "fieldsAttachIntersection": 0.01,
    "fieldsMergeIntersection": 0.01,
}
COLLECTION = [
    ("GET", CONFIGS, None, 200),
    ("PATCH", CONFIGS, COLLECTION_BODY, 200),
    ("POST", f"{CONFIGS}/ada", COLLECTION_BODY, 201),
    ("GET", f"{CONFIGS}/ada", None, 200),
    ("PATCH", f"{CONFIGS}/ada", {**COLLECTION_BODY, "geoimagesShape": "ROUND"}, 200),
    ("DELETE", f"{CONFIGS}/ada", None, 204),
    ("GET", f"{UM}/users/ada/organizations/JohnDeere", None, 200),
    ("GET", f"{UM}/users/ada/organizations/Trimble", None, 200),
    ("GET", f"{WEBHOOKS}/failed-calls", None, 200),
]


class TestCollection:
    async def test_the_collections_requests_get_documented_answers(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession, ada: str
    ) -> None:
        """Configurations, the two organizations lists and failed calls: documented keys."""
        leaf_fake.add_credential("ada", lc.TRIMBLE, TRIMBLE)
        answers = [
            await call(client, leaf_fake, method, path, body)
            for method, path, body, _ in COLLECTION
        ]

        assert [status for *_, status in COLLECTION] == [a.status for a in answers]
        owner, patched, made, read, changed = (a.json() for a in answers[:5])
        for config in (owner, patched, made, read, changed):
            assert {"apiOwnerUsername", "leafUserId"} <= set(config)
        assert (0.00001, "ROUND") == (made["geoimagesResolution"], changed["geoimagesShape"])
        for answer in answers[6:8]:
            assert {"connectedOrganizations", "notConnectedOrganizations"} == set(answer.json())
        assert {"items": []} == answers[8].json()
