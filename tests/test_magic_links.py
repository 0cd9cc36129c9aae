"""Magic Links: leaf.magic_links against aioresponses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

import leaf_creds as lc
from tests.conftest import BASE, LeafMock, sent, total_requests

LINKS = BASE + "/services/widgets/api/magic-link"
USER = "5f0c1b5e-0000-4000-8000-00000000000a"
NO_RETRY = lc.RetryPolicy(max_retries=0)
RETRY = lc.RetryPolicy(max_retries=3, backoff_base=0)
CREATED = {
    "id": "ml-1",
    "leafUserId": USER,
    "link": "https://magic-link.withleaf.io/ml-1",
    "expiresAt": "2010-10-10T10:10:10.123456789Z",
}
LISTED = {
    "id": "ml-1",
    "link": "https://magic-link.withleaf.io/ml-1",
    "createdAt": "2010-10-03T10:10:10.000Z",
    "expiresAt": "2010-10-10T10:10:10.000Z",
    "lastAccessedAt": "2010-10-04T10:10:10.000Z",
    "leafUserId": USER,
    "maxUsage": 3,
    "usageCount": 1,
    "widget": "PROVIDER",
    "settings": {
        "backgroundColor": "#c0392b",
        "companyName": "Acme",
        "showLeafUserName": "false",
        "disconnectEnabled": True,
    },
    "allowedProviders": ["JohnDeere", "CNHI"],
}


@pytest.fixture
async def leaf() -> Any:
    async with lc.LeafSession(token="bearer-token-value", retry=NO_RETRY) as session:
        yield session


def body(http: LeafMock, url: str) -> Any:
    (call,) = sent(http, "POST", url)
    return json.loads(call.kwargs["data"])


class TestCreate:
    async def test_a_provider_link_for_a_user(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """POST /magic-link/users/{id}/provider sends allowedProviders, expiresIn and settings."""
        url = f"{LINKS}/users/{USER}/provider"
        http.post(url, payload=CREATED, status=201)

        link = await leaf.magic_links.create(
            USER,
            providers=[lc.JOHN_DEERE, "cnhi", "JohnDeere"],
            expires_in=7 * 86400,
            settings=lc.LinkSettings(company_name="Acme", show_leaf_user_name=False),
        )

        assert {
            "allowedProviders": ["JohnDeere", "CNHI"],
            "expiresIn": 604800,
            "settings": {"companyName": "Acme", "showLeafUserName": False},
        } == body(http, url)
        assert (
            lc.MagicLink(
                id="ml-1",
                link="https://magic-link.withleaf.io/ml-1",
                leaf_user_id=USER,
                expires_at=datetime(2010, 10, 10, 10, 10, 10, 123456, tzinfo=UTC),
                widget="PROVIDER",
                allowed_providers=("JohnDeere", "CNHI"),
            )
            == link
        )

    async def test_an_authentication_link(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """provider= makes an authentication link: one provider, nothing optional sent."""
        url = f"{LINKS}/users/{USER}/authentication"
        http.post(url, payload=CREATED)

        link = await leaf.magic_links.create(USER, provider=lc.JOHN_DEERE)

        assert {"provider": "JohnDeere"} == body(http, url)
        assert "AUTHENTICATION" == link.widget
        assert "JohnDeere" == link.provider

    async def test_a_link_by_external_id(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """external_id= posts to /magic-link/provider with externalId, name and email."""
        url = f"{LINKS}/provider"
        http.post(url, payload={**CREATED, "leafUserId": "new-user"})

        link = await leaf.magic_links.create(
            external_id="crm-42", name="Ada", email="ada@example.com", providers=[lc.TRIMBLE]
        )

        assert {
            "allowedProviders": ["Trimble"],
            "externalId": "crm-42",
            "name": "Ada",
            "email": "ada@example.com",
        } == body(http, url)
        assert "new-user" == link.leaf_user_id

    async def test_an_authentication_link_by_external_id(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """An auto-user authentication link posts to /magic-link/authentication."""
        url = f"{LINKS}/authentication"
        http.post(url, payload=CREATED)

        await leaf.magic_links.create(external_id="crm-42", provider="stara")

        assert {"provider": "Stara", "externalId": "crm-42"} == body(http, url)

    async def test_no_providers_means_leafs_default(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """Without providers=, allowedProviders is left out (Leaf offers all)."""
        url = f"{LINKS}/users/{USER}/provider"
        http.post(url, payload=CREATED)

        await leaf.magic_links.create(USER)

        assert {} == body(http, url)

    async def test_leafs_own_names_pass_through(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """Leaf's catch-all names and names the registry lacks are sent as they are."""
        url = f"{LINKS}/users/{USER}/provider"
        http.post(url, payload=CREATED)

        await leaf.magic_links.create(USER, providers=["All", "SomeNewProvider"])

        assert {"allowedProviders": ["All", "SomeNewProvider"]} == body(http, url)

    async def test_the_user_id_is_one_segment(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """A user id with '/' stays one percent-encoded path segment."""
        url = f"{LINKS}/users/a%2Fb/provider"
        http.post(url, payload=CREATED)

        await leaf.magic_links.create("a/b")

        assert 1 == len(sent(http, "POST", url))

    async def test_a_link_for_a_user_is_not_sent_twice(self, http: LeafMock) -> None:
        """A 500 for an existing user's link is raised at once: each POST makes a link."""
        url = f"{LINKS}/users/{USER}/provider"
        http.post(url, status=500)
        http.post(url, payload=CREATED)

        async with lc.LeafSession(token="t-value", retry=RETRY) as leaf:
            with pytest.raises(lc.ServerError):
                await leaf.magic_links.create(USER, providers=[lc.JOHN_DEERE])

        assert 1 == len(sent(http, "POST", url))

    async def test_a_link_by_external_id_is_sent_again(self, http: LeafMock) -> None:
        """Leaf creates or reuses the user by externalId, so an unknown outcome is resent."""
        url = f"{LINKS}/provider"
        http.post(url, status=502)
        http.post(url, payload=CREATED)

        async with lc.LeafSession(token="t-value", retry=RETRY) as leaf:
            link = await leaf.magic_links.create(external_id="crm-42")

        assert "ml-1" == link.id
        assert 2 == len(sent(http, "POST", url))

    async def test_a_refusal_not_processed_is_retried(self, http: LeafMock) -> None:
        """A 503 says nothing was made: even a user's link is sent again."""
        url = f"{LINKS}/users/{USER}/provider"
        http.post(url, status=503)
        http.post(url, payload=CREATED)

        async with lc.LeafSession(token="t-value", retry=RETRY) as leaf:
            await leaf.magic_links.create(USER)

        assert 2 == len(sent(http, "POST", url))

    async def test_an_answer_that_does_not_fit(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """A create answer without an id raises DecodeError."""
        url = f"{LINKS}/users/{USER}/provider"
        http.post(url, payload={"link": "x"})

        with pytest.raises(lc.DecodeError):
            await leaf.magic_links.create(USER)



class TestUnreadableCreate:
    """A 2xx create answer that is not a link: it was made or may have been (issue 19 gap 6)."""

    @pytest.mark.parametrize(
        ("answer", "why"),
        [
            ({"body": b"<html>ok</html>"}, " is not JSON (15 bytes)"),
            ({"body": b""}, ": expected a JSON object"),
            ({"payload": [CREATED]}, ": expected a JSON object"),
            ({"payload": {"link": "x"}}, " does not fit MagicLink: required field missing @ $.id"),
        ],
    )
    async def test_a_users_link(self, http: LeafMock, answer: dict[str, Any], why: str) -> None:
        """UnreadableCreateError says it may be applied; the POST is never sent again."""
        url = f"{LINKS}/users/{USER}/provider"
        http.post(url, status=201, **answer)
        http.post(url, payload=CREATED)

        async with lc.LeafSession(token="t-value", retry=RETRY) as leaf:
            with pytest.raises(lc.UnreadableCreateError) as caught:
                await leaf.magic_links.create(USER)

        error = caught.value
        assert isinstance(error, lc.OutcomeUnknownError)
        assert isinstance(error, lc.DecodeError)
        assert isinstance(error.__cause__, lc.DecodeError)
        assert (
            f"the create of a provider Magic Link for Leaf user {USER!r} was answered 201, so it "
            f"was applied or may have been, but its answer is not the link (201 from POST {url}"
            f"{why}). Do not create another blindly: list the links with "
            "magic_links.list('provider') first."
        ) == str(error)
        assert (USER, "", 1) == (error.user_id, error.provider, error.attempts)
        assert ("POST", url, 201) == (error.method, error.url, error.status)
        assert 1 == total_requests(http)

    async def test_an_authentication_link_by_external_id(self, http: LeafMock) -> None:
        """Even the create that is resent on an unknown outcome is not resent after a 2xx."""
        url = f"{LINKS}/authentication"
        http.post(url, status=200, body=b"{")
        http.post(url, payload=CREATED)

        async with lc.LeafSession(token="t-value", retry=RETRY) as leaf:
            with pytest.raises(lc.UnreadableCreateError) as caught:
                await leaf.magic_links.create(external_id="crm-42", provider=lc.JOHN_DEERE)

        error = caught.value
        assert str(error).startswith(
            "the create of an authentication Magic Link for external id 'crm-42' was answered "
            "200, so it was applied or may have been"
        )
        assert str(error).endswith("magic_links.list('authentication') first.")
        assert ("", "JohnDeere") == (error.user_id, error.provider)
        assert 1 == total_requests(http)


class TestBadInput:
    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            ({}, "exactly one of user_id and external_id"),
            ({"user_id": USER, "external_id": "x"}, "exactly one of user_id and external_id"),
            ({"user_id": USER, "provider": "stara", "providers": ["stara"]}, "not both"),
            ({"user_id": USER, "providers": []}, "must not be empty"),
            ({"user_id": USER, "providers": "john-deere"}, "must be a list"),
            ({"user_id": USER, "providers": [lc.SENTERA]}, "no Magic Link for sentera"),
            ({"user_id": USER, "provider": "panorama"}, "no Magic Link for panorama"),
            ({"user_id": USER, "providers": ["John Deere"]}, "a slug like"),
            ({"user_id": USER, "providers": [3]}, "a slug or a CredentialResource"),
            ({"user_id": USER, "expires_in": 899}, "from 900"),
            ({"user_id": USER, "expires_in": 365 * 86400 + 1}, "a year"),
            ({"user_id": USER, "expires_in": 900.0}, "an int"),
            ({"user_id": USER, "expires_in": True}, "an int"),
            ({"user_id": USER, "settings": {"companyName": "A"}}, "LinkSettings"),
            ({"user_id": USER, "name": "Ada"}, "external_id= only"),
            ({"user_id": ""}, "must not be empty"),
            ({"user_id": ".."}, "not a valid Leaf user id"),
            ({"external_id": " "}, "non-empty string"),
            ({"external_id": "x", "email": ""}, "non-empty string"),
        ],
    )
    async def test_refused_before_sending(
        self, http: LeafMock, leaf: lc.LeafSession, arguments: dict[str, Any], message: str
    ) -> None:
        """Every bad combination raises ValidationError; nothing is sent."""
        with pytest.raises(lc.ValidationError, match=message):
            await leaf.magic_links.create(**arguments)

        assert 0 == total_requests(http)

    async def test_an_unknown_slug(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """A slug no provider has raises UnknownProviderError; nothing is sent."""
        with pytest.raises(lc.UnknownProviderError):
            await leaf.magic_links.create(USER, providers=["nope"])

        assert 0 == total_requests(http)

    async def test_bounds_are_accepted(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """900 s and a year are the documented bounds, both accepted."""
        url = f"{LINKS}/users/{USER}/provider"
        http.post(url, payload=CREATED)
        http.post(url, payload=CREATED)

        await leaf.magic_links.create(USER, expires_in=900)
        await leaf.magic_links.create(USER, expires_in=31536000)

        assert [900, 31536000] == [
            json.loads(call.kwargs["data"])["expiresIn"] for call in sent(http, "POST", url)
        ]

    @pytest.mark.parametrize(
        "call",
        [
            lambda leaf: leaf.magic_links.list("widgets"),
            lambda leaf: leaf.magic_links.list(3),
            lambda leaf: leaf.magic_links.get("provider", ""),
            lambda leaf: leaf.magic_links.get("nope", "ml-1"),
            lambda leaf: leaf.magic_links.delete("provider", ".."),
        ],
    )
    async def test_reads_check_their_input(
        self, http: LeafMock, leaf: lc.LeafSession, call: Any
    ) -> None:
        """A wrong kind or link id raises ValidationError before sending."""
        with pytest.raises(lc.ValidationError):
            await call(leaf)

        assert 0 == total_requests(http)


class TestRead:
    async def test_list_provider_links(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """GET /magic-link/provider answers every field, strings coerced as Leaf's are."""
        http.get(f"{LINKS}/provider?page=0&size=100", payload=[LISTED])

        (link,) = await leaf.magic_links.list("provider")

        assert (
            lc.MagicLink(
                id="ml-1",
                link="https://magic-link.withleaf.io/ml-1",
                leaf_user_id=USER,
                created_at=datetime(2010, 10, 3, 10, 10, 10, tzinfo=UTC),
                expires_at=datetime(2010, 10, 10, 10, 10, 10, tzinfo=UTC),
                last_accessed_at=datetime(2010, 10, 4, 10, 10, 10, tzinfo=UTC),
                max_usage=3,
                usage_count=1,
                widget="PROVIDER",
                allowed_providers=("JohnDeere", "CNHI"),
                settings=lc.LinkSettings(
                    background_color="#c0392b",
                    company_name="Acme",
                    show_leaf_user_name=False,
                    disconnect_enabled=True,
                ),
            )
            == link
        )

    async def test_list_authentication_links(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """list('authentication') and Leaf's widget name both read /magic-link/authentication."""
        url = f"{LINKS}/authentication?page=0&size=100"
        item = {"id": "a1", "widget": "AUTHENTICATION", "provider": "JohnDeere"}
        http.get(url, payload=[item])
        http.get(url, payload=[item])

        first = await leaf.magic_links.list("authentication")
        second = await leaf.magic_links.list("AUTHENTICATION")

        assert first == second
        assert "JohnDeere" == first[0].provider

    async def test_get_and_delete(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """GET and DELETE /magic-link/{kind}/{id}, the id one segment."""
        http.get(f"{LINKS}/provider/m%2F1", payload={**LISTED, "id": "m/1"})
        http.delete(f"{LINKS}/file-upload/m%2F1", status=204)

        link = await leaf.magic_links.get("provider", "m/1")
        await leaf.magic_links.delete("file-upload", "m/1")

        assert "m/1" == link.id
        assert 1 == len(sent(http, "DELETE", f"{LINKS}/file-upload/m%2F1"))

    async def test_a_bad_boolean_is_a_decode_error(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A setting that is neither a boolean nor 'true'/'false' raises DecodeError."""
        http.get(
            f"{LINKS}/provider/ml-1", payload={"id": "ml-1", "settings": {"showLeafUserName": 1}}
        )

        with pytest.raises(lc.DecodeError):
            await leaf.magic_links.get("provider", "ml-1")


class TestTimestamps:
    @pytest.mark.parametrize(
        ("text", "micro"),
        [
            ("2010-10-10T10:10:10.123Z", 123000),
            ("2010-10-10T10:10:10.123456Z", 123456),
            ("2010-10-10T10:10:10.123456789Z", 123456),
            ("2010-10-10T10:10:10.123", 123000),
            ("2010-10-10T10:10:10.123456", 123456),
            ("2010-10-10T10:10:10.123456789", 123456),
        ],
    )
    async def test_every_form_is_utc(
        self, http: LeafMock, leaf: lc.LeafSession, text: str, micro: int
    ) -> None:
        """3, 6 or 9 fractional digits, with or without Z, are aware UTC datetimes."""
        http.get(f"{LINKS}/provider/ml-1", payload={"id": "ml-1", "expiresAt": text})

        link = await leaf.magic_links.get("provider", "ml-1")

        assert datetime(2010, 10, 10, 10, 10, 10, micro, tzinfo=UTC) == link.expires_at
        assert link.expires_at is not None
        assert UTC is link.expires_at.tzinfo

    def test_the_resource_is_cached_on_the_session(self) -> None:
        """leaf.magic_links is one object per session."""
        leaf = lc.LeafSession(token="t-value")

        assert leaf.magic_links is leaf.magic_links
        assert repr(leaf.magic_links).startswith("<MagicLinks of")


class TestAgainstTheFake:
    async def test_a_grower_connects_through_the_link(self) -> None:
        """App keys, then a link, then the grower connects: the credential is OK at Leaf."""
        from leaf_creds.testing import FakeLeaf

        async with FakeLeaf() as fake, lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
            user = fake.add_user().id
            await leaf.app_keys.create(
                lc.JOHN_DEERE,
                "LeafWidget",
                lc.JohnDeereAppKeys(client_key="k", client_secret="s"),
                environment="PRODUCTION",
            )
            link = await leaf.magic_links.create(user, providers=[lc.JOHN_DEERE], expires_in=3600)
            assert link.link is not None

            fake.onboarding.connect(link.link, lc.JOHN_DEERE)

            assert lc.CredentialStatus.OK == (await leaf.get(lc.JOHN_DEERE, user)).status
            assert 1 == (await leaf.magic_links.get("provider", link.id)).usage_count
