"""App keys: the registry's declarations, and leaf.app_keys against aioresponses."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

import leaf_creds as lc
from tests.conftest import UM, LeafMock, callback_result, sent, total_requests

APP_KEYS = UM + "/app-keys"
JD = APP_KEYS + "/JohnDeere/LeafWidget/PRODUCTION"
SECRET = "jd-app-secret-value"
NO_RETRY = lc.RetryPolicy(max_retries=0)
RETRY = lc.RetryPolicy(max_retries=3, backoff_base=0)
META = {
    "provider": "JohnDeere",
    "appName": "LeafWidget",
    "clientEnvironment": "PRODUCTION",
    "createdTime": "2024-06-15T14:30:00.123456Z",
}
PAGE = "?page=0&size=100"

# Leaf's provider segment, whether keys live per environment, and a valid body.
DOCUMENTED: dict[str, tuple[str, bool, dict[str, Any]]] = {
    "ag-leader": ("AgLeader", False, {"privateKey": "p", "publicKey": "q"}),
    "climate-field-view": (
        "ClimateFieldView", False, {"apiKey": "a", "clientId": "c", "clientSecret": "s"},
    ),
    "cnhi": ("CNHI", True, {"clientId": "c", "clientSecret": "s", "subscriptionKey": "k"}),
    "cnhi-field-ops": (
        "CNHIFieldOps", True, {"clientId": "c", "clientSecret": "s", "subscriptionKey": "k"},
    ),
    "john-deere": ("JohnDeere", True, {"clientKey": "c", "clientSecret": "s"}),
    "trimble": ("Trimble", False, {"applicationName": "a", "clientId": "c", "clientSecret": "s"}),
    "raven-slingshot": ("RavenSlingshot", False, {"apiKey": "a", "sharedSecret": "s"}),
    "stara": ("Stara", False, {"user": "u", "pwd": "p"}),
    "farm-engage": ("FarmEngage", False, {"clientId": "c", "clientSecret": "s"}),
    "lindsay": ("Lindsay", False, {"clientId": "c", "clientSecret": "s"}),
}  # fmt: skip
LINK_NAMES = {
    "john-deere": "JohnDeere",
    "climate-field-view": "ClimateFieldView",
    "cnhi": "CNHI",
    "cnhi-field-ops": "CNHIFieldOps",
    "ag-leader": "AgLeader",
    "trimble": "Trimble",
    "raven-slingshot": "RavenSlingshot",
    "stara": "Stara",
}


@pytest.fixture
async def leaf() -> Any:
    async with lc.LeafSession(token="bearer-token-value", retry=NO_RETRY) as session:
        yield session


def jd_keys(**overrides: Any) -> Any:
    assert lc.JOHN_DEERE.app_key is not None
    return lc.JOHN_DEERE.app_key.schema(
        **{"client_key": "jd-app-id", "client_secret": SECRET, **overrides}
    )


class TestRegistry:
    def test_every_documented_provider_declares_its_app_keys(self) -> None:
        """Each provider Leaf documents app keys for has its segment and environment rule."""
        found = {
            r.slug: (r.app_key.provider, r.app_key.per_environment)
            for r in lc.default_registry(plugins=False)
            if r.app_key is not None
        }

        assert {slug: (seg, env) for slug, (seg, env, _) in DOCUMENTED.items()} == found

    def test_every_documented_provider_declares_its_magic_link_name(self) -> None:
        """Magic Link names are Leaf's; providers without Magic Links have None."""
        found = {r.slug: r.link_name for r in lc.default_registry(plugins=False)}

        assert LINK_NAMES == {slug: name for slug, name in found.items() if name is not None}
        assert None is found["sentera"]
        assert None is found["panorama"]

    def test_the_schema_masks_secrets(self) -> None:
        """An app-key schema prints its secrets as '***', like a credential schema."""
        keys = jd_keys()

        assert "jd-app-id" in repr(keys)
        assert SECRET not in repr(keys)
        assert "client_secret='***'" in repr(keys)

    def test_a_plugin_declares_app_keys_the_same_way(self) -> None:
        """A plugin provider passes app_key= and link_name= to CredentialResource."""

        @attrs.frozen(kw_only=True)
        class Keys:
            client_id: str
            client_secret: str = attrs.field(repr=lc.masked)

        spec = lc.AppKeySpec("Acme", Keys)
        resource = lc.CredentialResource(
            "acme", Keys, lc.CredentialRecord, app_key=spec, link_name="Acme"
        )

        assert spec is resource.app_key
        assert "Acme" == resource.link_name
        assert False is spec.per_environment
        assert ["clientId", "clientSecret"] == [f.wire for f in spec.fields]

    @pytest.mark.parametrize(
        "arguments",
        [
            {"app_key": "JohnDeere"},
            {"link_name": "john deere"},
            {"link_name": ""},
            {"link_name": 3},
        ],
    )
    def test_wrong_declarations_are_refused(self, arguments: dict[str, Any]) -> None:
        """An app_key that is not an AppKeySpec, or a malformed link name, is refused."""
        with pytest.raises(lc.ValidationError):
            lc.CredentialResource("acme", lc.SenteraCredentials, lc.CredentialRecord, **arguments)

    @pytest.mark.parametrize(
        "arguments",
        [("John Deere", lc.JohnDeereAppKeys), ("", lc.JohnDeereAppKeys), ("JohnDeere", dict)],
    )
    def test_a_wrong_spec_is_refused(self, arguments: tuple[Any, Any]) -> None:
        """The segment must be a name like JohnDeere and the schema an attrs class."""
        with pytest.raises(lc.ValidationError):
            lc.AppKeySpec(*arguments)

    def test_per_environment_must_be_a_bool(self) -> None:
        """per_environment takes True or False only."""
        with pytest.raises(lc.ValidationError):
            lc.AppKeySpec("JohnDeere", lc.JohnDeereAppKeys, per_environment="yes")  # type: ignore[arg-type]


class TestCreate:
    @pytest.mark.parametrize("slug", sorted(DOCUMENTED))
    async def test_posts_the_body_to_the_providers_path(
        self, http: LeafMock, leaf: lc.LeafSession, slug: str
    ) -> None:
        """POST /app-keys/{Provider}/{appName}[/{env}] sends the camelCase keys as given."""
        segment, per_environment, body = DOCUMENTED[slug]
        url = f"{APP_KEYS}/{segment}/LeafWidget" + ("/STAGE" if per_environment else "")
        http.post(url, payload={**META, "provider": segment})

        key = await leaf.app_keys.create(
            slug, "LeafWidget", body, environment="STAGE" if per_environment else None
        )

        (call,) = sent(http, "POST", url)
        assert body == json.loads(call.kwargs["data"])
        assert "application/json" == call.kwargs["headers"]["Content-Type"]
        assert segment == key.provider

    async def test_a_schema_instance_and_its_answer(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A schema instance is sent camelCase, and the answer becomes an AppKey."""
        http.post(JD, payload=META)

        key = await leaf.app_keys.create(
            lc.JOHN_DEERE, "LeafWidget", jd_keys(scopes=["FIELDS:READ"]), environment="PRODUCTION"
        )

        (call,) = sent(http, "POST", JD)
        assert {
            "clientKey": "jd-app-id",
            "clientSecret": SECRET,
            "scopes": ["FIELDS:READ"],
        } == json.loads(call.kwargs["data"])
        assert (
            lc.AppKey(
                provider="JohnDeere",
                app_name="LeafWidget",
                client_environment="PRODUCTION",
                created_time=datetime(2024, 6, 15, 14, 30, 0, 123456, tzinfo=UTC),
            )
            == key
        )

    async def test_unset_scopes_are_not_sent(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """Optional fields left unset stay out of the body."""
        http.post(JD, payload=META)

        await leaf.app_keys.create(lc.JOHN_DEERE, "LeafWidget", jd_keys(), environment="PRODUCTION")

        (call,) = sent(http, "POST", JD)
        assert {"clientKey", "clientSecret"} == set(json.loads(call.kwargs["data"]))

    @pytest.mark.parametrize("answer", [b"", b"Created", b"[]"])
    async def test_an_answer_without_an_object(
        self, http: LeafMock, leaf: lc.LeafSession, answer: bytes
    ) -> None:
        """Leaf documents no answer body: the app key is described as sent."""
        http.post(JD, body=answer, status=201)

        key = await leaf.app_keys.create(
            lc.JOHN_DEERE, "LeafWidget", jd_keys(), environment="PRODUCTION"
        )

        assert (
            lc.AppKey(provider="JohnDeere", app_name="LeafWidget", client_environment="PRODUCTION")
            == key
        )

    async def test_stara_takes_either_shape(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """Stara's keys are user and pwd, or accessTokenClient (Leaf's docs show both)."""
        url = APP_KEYS + "/Stara/W"
        http.post(url, payload={})
        http.post(url, payload={})

        await leaf.app_keys.create(lc.STARA, "W", {"accessTokenClient": "t"})
        await leaf.app_keys.create(lc.STARA, "W", lc.StaraAppKeys(user="u", pwd="p"))

        assert [{"accessTokenClient": "t"}, {"user": "u", "pwd": "p"}] == [
            json.loads(call.kwargs["data"]) for call in sent(http, "POST", url)
        ]

    async def test_the_app_name_is_one_percent_encoded_segment(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """An app name with '/', '?' or '%' stays one path segment."""
        url = APP_KEYS + "/Trimble/a%2Fb%3Fc%25d"
        http.post(url, payload={})

        await leaf.app_keys.create(
            lc.TRIMBLE, "a/b?c%d", {"applicationName": "a", "clientId": "c", "clientSecret": "s"}
        )

        assert 1 == len(sent(http, "POST", url))

    async def test_an_unknown_outcome_that_stored_nothing_is_sent_again(
        self, http: LeafMock
    ) -> None:
        """A 500 on POST, then a GET 404: nothing was stored, so the POST is resent."""
        http.post(JD, status=500)
        http.get(JD, status=404)
        http.post(JD, payload=META)

        async with lc.LeafSession(token="t-value", retry=RETRY) as leaf:
            key = await leaf.app_keys.create(
                lc.JOHN_DEERE, "LeafWidget", jd_keys(), environment="PRODUCTION"
            )

        assert "LeafWidget" == key.app_name
        assert 2 == len(sent(http, "POST", JD))

    async def test_an_unknown_outcome_with_an_app_is_not_resent(self, http: LeafMock) -> None:
        """A 502 on POST, then the app exists: Leaf cannot show its keys, so OutcomeUnknownError."""
        http.post(JD, status=502)
        http.get(JD, payload=META)

        async with lc.LeafSession(token="t-value", retry=RETRY) as leaf:
            with pytest.raises(lc.OutcomeUnknownError, match=r"app_keys\.update") as caught:
                await leaf.app_keys.create(
                    lc.JOHN_DEERE, "LeafWidget", jd_keys(), environment="PRODUCTION"
                )

        assert 1 == len(sent(http, "POST", JD))
        assert SECRET not in str(caught.value)

    async def test_an_unknown_outcome_the_get_cannot_tell(self, http: LeafMock) -> None:
        """When the GET fails too, the create is OutcomeUnknownError and sent once."""
        http.post(JD, status=504)
        http.get(JD, status=500, repeat=True)

        async with lc.LeafSession(token="t-value", retry=lc.RetryPolicy(max_retries=0)) as leaf:
            with pytest.raises(lc.OutcomeUnknownError):
                await leaf.app_keys.create(
                    lc.JOHN_DEERE, "LeafWidget", jd_keys(), environment="PRODUCTION"
                )

        assert 1 == len(sent(http, "POST", JD))

    async def test_the_secret_never_shows(
        self, http: LeafMock, leaf: lc.LeafSession, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A refusal echoing the secret is scrubbed, and DEBUG logs never show it."""
        http.post(JD, status=400, payload={"title": "Bad", "detail": f"clientSecret {SECRET} bad"})
        caplog.set_level(logging.DEBUG, logger="leaf_creds")

        with pytest.raises(lc.BadRequestError) as caught:
            await leaf.app_keys.create(
                lc.JOHN_DEERE, "LeafWidget", {"clientKey": "c", "clientSecret": SECRET},
                environment="PRODUCTION",
            )  # fmt: skip

        assert SECRET not in str(caught.value)
        assert SECRET not in repr(caught.value.detail)
        assert SECRET not in caplog.text



class TestUnreadableCreate:
    """A 2xx create answer that is an object but not an app key (issue 19 gap 6)."""

    @pytest.mark.parametrize(
        ("answer", "why"),
        [
            (
                {**META, "createdTime": "yesterday"},
                "invalid value for type, expected datetime.datetime | None @ $.created_time",
            ),
            ({**META, "appName": ["LeafWidget"]}, "expected str | None @ $.app_name"),
        ],
    )
    async def test_raises_unreadable_create(
        self, http: LeafMock, answer: dict[str, Any], why: str
    ) -> None:
        """UnreadableCreateError says the keys may be stored; the POST is never sent again."""
        http.post(JD, status=201, payload=answer)
        http.post(JD, payload=META)

        async with lc.LeafSession(token="t-value", retry=RETRY) as leaf:
            with pytest.raises(lc.UnreadableCreateError) as caught:
                await leaf.app_keys.create(
                    lc.JOHN_DEERE, "LeafWidget", jd_keys(client_secret=SECRET),
                    environment="PRODUCTION",
                )  # fmt: skip

        error = caught.value
        assert isinstance(error, lc.OutcomeUnknownError)
        assert isinstance(error, lc.DecodeError)
        assert isinstance(error.__cause__, lc.DecodeError)
        message = str(error)
        assert message.startswith(
            "storing JohnDeere app keys 'LeafWidget' was answered 201, so it was applied or may "
            f"have been, but its answer is not the app key (201 from POST {JD} does not fit "
            "AppKey: "
        )
        assert why in message
        assert message.endswith(
            "). Do not store them again: check with app_keys.get(), and change them with "
            "app_keys.update()."
        )
        assert SECRET not in message
        assert ("JohnDeere", "", 1) == (error.provider, error.user_id, error.attempts)
        assert ("POST", JD, 201) == (error.method, error.url, error.status)
        assert 1 == total_requests(http)

    async def test_an_update_stays_a_plain_decode_error(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A PUT may simply be sent again: its unreadable answer is a DecodeError, no more."""
        http.put(JD, payload={**META, "createdTime": "yesterday"})

        with pytest.raises(lc.DecodeError) as caught:
            await leaf.app_keys.update(
                lc.JOHN_DEERE, "LeafWidget", jd_keys(), environment="PRODUCTION"
            )

        assert not isinstance(caught.value, lc.OutcomeUnknownError)


class TestBadInput:
    @pytest.mark.parametrize(
        ("provider", "arguments", "message"),
        [
            ("sentera", {}, "no app keys for sentera"),
            ("panorama", {}, "no app keys"),
            ("john-deere", {}, "per environment"),
            ("cnhi", {}, "per environment"),
            ("trimble", {"environment": "STAGE"}, "have no environment"),
            ("john-deere", {"environment": "TEST"}, "environment must be STAGE or PRODUCTION"),
            ("john-deere", {"environment": "STAGE", "app_name": ""}, "app name must not be empty"),
            ("john-deere", {"environment": "STAGE", "app_name": ".."}, "not a valid app name"),
            ("john-deere", {"environment": "STAGE", "app_name": 3}, "app name must be a string"),
            ("john-deere", {"environment": "STAGE", "keys": {"clientKey": "c"}},
             "required field missing @ $.clientSecret"),
            ("john-deere", {"environment": "STAGE", "keys": {"clientKey": "", "clientSecret": "s"}},
             "must not be empty @ $.clientKey"),
            ("john-deere", {"environment": "STAGE",
                            "keys": {"clientKey": "c", "clientSecret": "s", "scopes": []}},
             "leave it unset"),
            ("john-deere", {"environment": "STAGE",
                            "keys": {"clientKey": "c", "clientSecret": "s", "extra": 1}},
             "unknown field @ $.extra"),
            ("john-deere", {"environment": "STAGE", "keys": {"clientKey": "c", "clientSecret": 5}},
             "$.clientSecret"),
            ("john-deere", {"environment": "STAGE", "keys": "clientKey=c"}, "JohnDeereAppKeys"),
            ("john-deere", {"environment": "STAGE",
                            "keys": lc.CnhiAppKeys(client_id="c", client_secret="s",
                                                   subscription_key="k")},
             "expects JohnDeereAppKeys, got CnhiAppKeys"),
            ("stara", {"keys": {"user": "u"}}, "user and pwd, or accessTokenClient"),
        ],
    )  # fmt: skip
    async def test_refused_before_sending(
        self,
        http: LeafMock,
        leaf: lc.LeafSession,
        provider: str,
        arguments: dict[str, Any],
        message: str,
    ) -> None:
        """Bad providers, environments, app names and keys: ValidationError, nothing sent."""
        keys = arguments.pop("keys", {"clientKey": "c", "clientSecret": SECRET})
        app_name = arguments.pop("app_name", "LeafWidget")

        with pytest.raises(lc.ValidationError, match=message.replace("$", r"\$")) as caught:
            await leaf.app_keys.create(provider, app_name, keys, **arguments)

        assert 0 == total_requests(http)
        assert SECRET not in str(caught.value)

    async def test_every_call_checks_its_input(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """get, update, delete and list refuse bad input too, before sending."""
        with pytest.raises(lc.ValidationError):
            await leaf.app_keys.get(lc.JOHN_DEERE, "LeafWidget")
        with pytest.raises(lc.ValidationError):
            await leaf.app_keys.update(lc.TRIMBLE, "", {})
        with pytest.raises(lc.ValidationError):
            await leaf.app_keys.delete(lc.CNHI, "LeafWidget", environment="QA")
        with pytest.raises(lc.ValidationError):
            await leaf.app_keys.list(lc.SENTERA)
        with pytest.raises(lc.UnknownProviderError):
            await leaf.app_keys.list("nope")

        assert 0 == total_requests(http)


class TestReadUpdateDelete:
    async def test_update_puts_and_is_retried(self, http: LeafMock) -> None:
        """PUT replaces the keys; it is idempotent, so a 500 is retried."""
        http.put(JD, status=500)
        http.put(JD, payload=META)

        async with lc.LeafSession(token="t-value", retry=RETRY) as leaf:
            key = await leaf.app_keys.update(
                lc.JOHN_DEERE, "LeafWidget", jd_keys(client_secret="new"), environment="PRODUCTION"
            )

        calls = sent(http, "PUT", JD)
        assert 2 == len(calls)
        assert {"clientKey": "jd-app-id", "clientSecret": "new"} == json.loads(
            calls[-1].kwargs["data"]
        )
        assert "PRODUCTION" == key.client_environment

    async def test_get_reads_the_metadata(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """GET one answers the metadata only; a secret Leaf might add is ignored."""
        url = APP_KEYS + "/CNHI/LeafWidget/STAGE"
        http.get(url, payload={**META, "provider": "CNHI", "clientSecret": SECRET})

        key = await leaf.app_keys.get("cnhi", "LeafWidget", environment=lc.ClientEnvironment.STAGE)

        assert "CNHI" == key.provider
        assert SECRET not in repr(key)

    async def test_list_reads_every_app(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """GET /app-keys/{Provider} answers a JSON array of app keys."""
        url = APP_KEYS + "/ClimateFieldView"
        http.get(url + PAGE, payload=[META, {**META, "appName": "Other"}])

        keys = await leaf.app_keys.list(lc.CLIMATE_FIELD_VIEW)

        assert ["LeafWidget", "Other"] == [key.app_name for key in keys]

    async def test_list_follows_pages(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """A full page with a next link asks for the next one; a short page ends it."""
        url = APP_KEYS + "/Trimble"
        http.get(url + PAGE, payload=[META] * 100, headers={"Link": '<x?page=1>; rel="next"'})
        http.get(url + "?page=1&size=100", payload=[META] * 3)

        keys = await leaf.app_keys.list(lc.TRIMBLE)

        assert 103 == len(keys)

    async def test_a_list_that_ignores_paging_ends(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A server that answers more than a page at once answered everything."""
        url = APP_KEYS + "/Trimble"
        http.get(url + PAGE, payload=[META] * 150)

        assert 150 == len(await leaf.app_keys.list(lc.TRIMBLE))

    async def test_a_list_without_end_is_bounded(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A server that always claims another, new page ends in DecodeError, not a loop."""

        def page(url: Any, **kwargs: Any) -> Any:
            number = url.query["page"]
            items = [{**META, "appName": f"app-{number}-{i}"} for i in range(100)]
            return callback_result(payload=items, headers={"Link": '<x>; rel="next"'})

        http.get(
            re.compile(re.escape(APP_KEYS + "/Trimble?") + ".*"), callback=page, repeat=True
        )

        with pytest.raises(lc.DecodeError, match="after 1000 pages"):
            await leaf.app_keys.list(lc.TRIMBLE)

    async def test_a_list_that_is_not_an_array(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """An answer that is not a JSON array of app keys raises DecodeError."""
        http.get(APP_KEYS + "/Trimble" + PAGE, payload={"provider": "Trimble"})

        with pytest.raises(lc.DecodeError, match="app keys"):
            await leaf.app_keys.list(lc.TRIMBLE)

    async def test_delete(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """DELETE takes an empty answer."""
        url = APP_KEYS + "/AgLeader/LeafWidget"
        http.delete(url, status=204)

        await leaf.app_keys.delete(lc.AG_LEADER, "LeafWidget")

        assert 1 == len(sent(http, "DELETE", url))

    async def test_a_missing_app(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """404 is NotFoundError."""
        http.get(JD, status=404)

        with pytest.raises(lc.NotFoundError):
            await leaf.app_keys.get(lc.JOHN_DEERE, "LeafWidget", environment="PRODUCTION")

    def test_the_resource_is_cached_on_the_session(self) -> None:
        """leaf.app_keys is one object per session, with a short repr."""
        leaf = lc.LeafSession(token="t-value")

        assert leaf.app_keys is leaf.app_keys
        assert repr(leaf.app_keys).startswith("<AppKeys of <Transport")
