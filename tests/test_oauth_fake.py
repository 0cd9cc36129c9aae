"""leaf.oauth against the fake's helpers and consent pages: every provider's flow, end to end."""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
import pytest

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf
from tests.oauth_helpers import APPS, REDIRECT, SECRET, consent, register_apps

FLOWS = sorted(APPS)


@pytest.fixture
async def leaf(leaf_fake: FakeLeaf) -> Any:
    """A session whose OAuth hosts are the fake's, with every provider's app registered."""
    register_apps(leaf_fake)
    async with lc.LeafSession(token=leaf_fake.token, base_url=leaf_fake.url) as session:
        session.oauth.hosts = leaf_fake.oauth.hosts
        yield session


class TestEveryFlow:
    @pytest.mark.parametrize("slug", FLOWS)
    async def test_a_granted_consent_attaches_an_ok_credential(
        self, leaf_fake: FakeLeaf, leaf: lc.LeafSession, slug: str
    ) -> None:
        """start, the grower's consent, connect: the credential holds the issued refresh token."""
        resource, app, options = APPS[slug]
        user = leaf_fake.add_user(name="Ada").id

        start = await leaf.oauth.start(resource, app=app, redirect_url=REDIRECT, **options)
        response_url = await consent(start.url)
        record = await leaf.oauth.connect(start, response_url, user)

        stored = leaf_fake.credential(user, resource)
        assert stored is not None
        assert lc.CredentialStatus.OK == record.status
        assert {stored["refreshToken"]: slug} == leaf_fake.oauth.refresh_tokens()
        assert response_url.startswith(REDIRECT + "?")

    @pytest.mark.parametrize("slug", ["john-deere", "cnhi", "cnhi-field-ops", "lindsay"])
    async def test_the_environment_becomes_client_environment(
        self, leaf_fake: FakeLeaf, leaf: lc.LeafSession, slug: str
    ) -> None:
        """finish() maps start()'s environment to the credential's clientEnvironment."""
        resource, app, options = APPS[slug]

        start = await leaf.oauth.start(resource, app=app, redirect_url=REDIRECT, **options)
        credentials = await leaf.oauth.finish(start, await consent(start.url))

        assert options["environment"] == credentials.client_environment

    async def test_climate_and_agleader_credentials_keep_the_app_keys(
        self, leaf: lc.LeafSession
    ) -> None:
        """Climate's credential keeps the app's API key; AgLeader's its keys and access token."""
        cfv, cfv_app, cfv_options = APPS["climate-field-view"]
        agl, agl_app, agl_options = APPS["ag-leader"]

        start = await leaf.oauth.start(cfv, app=cfv_app, redirect_url=REDIRECT, **cfv_options)
        climate = await leaf.oauth.finish(start, await consent(start.url))
        start = await leaf.oauth.start(agl, app=agl_app, redirect_url=REDIRECT, **agl_options)
        agleader = await leaf.oauth.finish(start, await consent(start.url))

        assert ("cfv-app", "cfv-api-key") == (climate.client_id, climate.api_key)
        assert ("agl-public", SECRET) == (agleader.public_key, agleader.private_key)
        assert agleader.access_token is not None
        assert "scope=read+readwrite+fileupload" in start.url

    @pytest.mark.parametrize("slug", ["john-deere", "trimble"])
    async def test_organizations_not_shared_leave_missing_permission(
        self, leaf_fake: FakeLeaf, leaf: lc.LeafSession, slug: str
    ) -> None:
        """A grower who does not share organizations gets a credential MISSING_PERMISSION."""
        resource, app, options = APPS[slug]
        user = leaf_fake.add_user(name="Ada").id

        start = await leaf.oauth.start(resource, app=app, redirect_url=REDIRECT, **options)
        await leaf.oauth.connect(start, await consent(start.url, share=False), user)

        assert lc.CredentialStatus.MISSING_PERMISSION == (await leaf.get(resource, user)).status


class TestRefusals:
    async def test_a_denied_consent_exchanges_nothing(
        self, leaf_fake: FakeLeaf, leaf: lc.LeafSession
    ) -> None:
        """error=access_denied is OAuthDeniedError; no token call is made, no credential."""
        resource, app, options = APPS["john-deere"]
        user = leaf_fake.add_user(name="Ada").id
        start = await leaf.oauth.start(resource, app=app, redirect_url=REDIRECT, **options)

        with pytest.raises(lc.OAuthDeniedError, match="access_denied") as caught:
            await leaf.oauth.connect(start, await consent(start.url, decision="deny"), user)

        assert "access_denied" == caught.value.error
        assert 0 == leaf_fake.count("POST", "/get_token")
        assert None is leaf_fake.credential(user, resource)

    async def test_a_redirect_of_another_flow_is_refused(self, leaf: lc.LeafSession) -> None:
        """A redirect with the state of another flow is OAuthStateError; nothing is exchanged."""
        resource, app, options = APPS["lindsay"]
        first = await leaf.oauth.start(resource, app=app, redirect_url=REDIRECT, **options)
        second = await leaf.oauth.start(resource, app=app, redirect_url=REDIRECT, **options)
        response_url = await consent(first.url)

        with pytest.raises(lc.OAuthStateError, match="not the one this flow sent"):
            await leaf.oauth.finish(second, response_url)
        assert first.state != second.state

    async def test_a_code_is_usable_once(self, leaf: lc.LeafSession) -> None:
        """The second exchange of a code is refused by the provider (invalid_grant)."""
        resource, app, options = APPS["raven"]
        start = await leaf.oauth.start(resource, app=app, redirect_url=REDIRECT, **options)
        response_url = await consent(start.url)
        await leaf.oauth.finish(start, response_url)

        with pytest.raises(lc.BadRequestError, match="invalid_grant"):
            await leaf.oauth.finish(start, response_url, app=app)

    @pytest.mark.parametrize("slug", ["john-deere", "raven", "climate-field-view", "ag-leader"])
    async def test_a_wrong_client_secret_is_refused_and_never_shown(
        self, leaf: lc.LeafSession, slug: str
    ) -> None:
        """A wrong secret is refused (at get_url or at the exchange); no error shows it."""
        resource, app, options = APPS[slug]
        secret_field = "private_key" if slug == "ag-leader" else "client_secret"
        wrong = type(app)(**{**_fields(app), secret_field: "wrong-secret-value"})
        errors: list[BaseException] = []
        try:
            start = await leaf.oauth.start(resource, app=wrong, redirect_url=REDIRECT, **options)
            await leaf.oauth.finish(start, await consent(start.url))
        except lc.AuthenticationError as exc:
            errors.append(exc)

        assert 1 == len(errors)
        assert "invalid_client" in str(errors[0])
        assert "wrong-secret-value" not in str(errors[0]) + repr(errors[0])

    async def test_a_helper_answer_without_a_url_is_a_decode_error(
        self, leaf_fake: FakeLeaf, leaf: lc.LeafSession
    ) -> None:
        """A URL step answered without any URL is a DecodeError naming what is missing."""
        resource, app, options = APPS["john-deere"]
        leaf_fake.faults.add(method="POST", path="*/get_url", malformed=True)

        with pytest.raises(lc.DecodeError, match="holds no URL to send the grower to"):
            await leaf.oauth.start(resource, app=app, redirect_url=REDIRECT, **options)


class TestKeepingTheStart:
    async def test_a_dumped_start_finishes_in_another_process(
        self, leaf_fake: FakeLeaf, leaf: lc.LeafSession
    ) -> None:
        """dump() to JSON holds no secret; load() in another session finishes with app=."""
        resource, app, options = APPS["lindsay"]
        start = await leaf.oauth.start(resource, app=app, redirect_url=REDIRECT, **options)
        text = json.dumps(leaf.oauth.dump(start))
        response_url = await consent(start.url)

        async with lc.LeafSession(token=leaf_fake.token, base_url=leaf_fake.url) as other:
            other.oauth.hosts = leaf_fake.oauth.hosts
            loaded = other.oauth.load(text)
            with pytest.raises(lc.ValidationError, match="pass app="):
                await other.oauth.finish(loaded, response_url)
            credentials = await other.oauth.finish(loaded, response_url, app=app)

        assert SECRET not in text
        assert start == loaded
        assert "lindsay-app" == credentials.client_id

    async def test_another_app_is_refused(self, leaf: lc.LeafSession) -> None:
        """finish() with another application than start()'s is a ValidationError."""
        resource, app, options = APPS["raven"]
        start = await leaf.oauth.start(resource, app=app, redirect_url=REDIRECT, **options)
        other = lc.RavenAppKeys(client_id="someone-else", client_secret=SECRET)

        with pytest.raises(lc.ValidationError, match="another application"):
            await leaf.oauth.finish(start, await consent(start.url), app=other)


class TestSecrets:
    @pytest.mark.parametrize("slug", FLOWS)
    async def test_no_secret_in_reprs_logs_or_dumps(
        self,
        leaf_fake: FakeLeaf,
        leaf: lc.LeafSession,
        slug: str,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """The client secret, the code, the verifier and the tokens are in no repr, log or dump."""
        caplog.set_level(logging.DEBUG, logger="leaf_creds")
        resource, app, options = APPS[slug]
        user = leaf_fake.add_user(name="Ada").id

        start = await leaf.oauth.start(resource, app=app, redirect_url=REDIRECT, **options)
        response_url = await consent(start.url)
        code = response_url.split("code=")[1].split("&")[0]
        credentials = await leaf.oauth.finish(start, response_url)
        record = await leaf.create(resource, user, credentials)

        shown = " ".join(
            [repr(start), repr(credentials), repr(record), repr(leaf.oauth), caplog.text]
        )
        dumped = json.dumps(leaf.oauth.dump(start))
        hidden = [SECRET, code, credentials.refresh_token]
        verifier = [start.code_verifier] if start.code_verifier else []
        assert [] == [value for value in [*hidden, *verifier] if value in shown]
        # The dump keeps the verifier (finish needs it), nothing else secret.
        assert [] == [value for value in hidden if value in dumped]


def _fields(instance: Any) -> dict[str, Any]:
    import attrs

    return attrs.asdict(instance)


async def test_the_consent_page_is_used_once(leaf_fake: FakeLeaf, leaf: lc.LeafSession) -> None:
    """A consent page answered once answers 410 to a second answer."""
    resource, app, options = APPS["trimble"]
    start = await leaf.oauth.start(resource, app=app, redirect_url=REDIRECT, **options)
    await consent(start.url)

    async with aiohttp.ClientSession() as http:
        form_url = start.url.split("?")[0]
        async with http.post(form_url, data={"decision": "grant"}) as answer:
            assert 410 == answer.status
