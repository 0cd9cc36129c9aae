"""The fake's OAuth helpers and consent pages, asked directly: what they refuse, and how."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf
from tests.oauth_helpers import APPS, REDIRECT, SECRET, consent, register_apps

JD = "/oauth-hosts/johndeere-oauth2-helper.withleaf.io"
CLIMATE = "/oauth-hosts/api.climate.com/api/oauth/token"
AGFINITI = "/oauth-hosts/www.agfiniti.com"
GOOD_BASIC = "Basic " + base64.b64encode(f"cfv-app:{SECRET}".encode()).decode()


async def post(fake: FakeLeaf, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.post(fake.url + path, **kwargs) as answer:
        return answer.status, await answer.json(content_type=None)


class TestHelpers:
    @pytest.mark.parametrize(
        ("path", "kwargs", "status", "error"),
        [
            (JD + "/nope", {"json": {}}, 404, "not_found"),
            ("/oauth-hosts/unknown.example/get_url", {"json": {}}, 404, "not_found"),
            (JD + "/get_url", {"data": b"{not json"}, 400, "invalid_request"),
            (JD + "/get_url", {"json": ["a"]}, 400, "invalid_request"),
            (JD + "/get_url", {"json": {"clientKey": "jd-app"}}, 400, "invalid_request"),
            (JD + "/get_url", {"json": {"clientKey": "other", "clientSecret": SECRET,
                                        "clientRedirectUrl": REDIRECT}}, 401, "invalid_client"),
            (CLIMATE, {"data": {"code": "c", "redirect_uri": "r", "grant_type": "g"}}, 401,
             "invalid_client"),
            (CLIMATE, {"data": {"code": "c", "redirect_uri": "r", "grant_type": "g"},
                       "headers": {"Authorization": "Basic !!!"}}, 401, "invalid_client"),
            (CLIMATE, {"data": {"code": "c", "redirect_uri": "r", "grant_type": "g"},
                       "headers": {"Authorization": "Basic " + base64.b64encode(b"x").decode()}},
             401, "invalid_client"),
            (CLIMATE, {"data": {"code": "c", "redirect_uri": "r", "grant_type": "g"},
                       "headers": {"Authorization": GOOD_BASIC}}, 400, "invalid_grant"),
        ],
    )  # fmt: skip
    async def test_a_bad_call_is_an_oauth_error_answer(
        self, leaf_fake: FakeLeaf, path: str, kwargs: dict[str, Any], status: int, error: str
    ) -> None:
        """Unknown paths, bodies that are not the documented ones, unknown clients, bad codes."""
        register_apps(leaf_fake)

        assert (status, error) == ((found := await post(leaf_fake, path, **kwargs))[0],
                                   found[1]["error"])  # fmt: skip

    async def test_a_helper_takes_only_post(self, leaf_fake: FakeLeaf) -> None:
        """A GET of a helper endpoint is 405."""
        async with (
            aiohttp.ClientSession() as http,
            http.get(leaf_fake.url + JD + "/get_url") as answer,
        ):
            assert 405 == answer.status

    async def test_a_code_is_bound_to_its_redirect_url(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """An exchange naming another redirect URL than the code's is invalid_grant."""
        register_apps(leaf_fake)
        leaf_session.oauth.hosts = leaf_fake.oauth.hosts
        resource, app, options = APPS["john-deere"]
        start = await leaf_session.oauth.start(resource, app=app, redirect_url=REDIRECT, **options)
        response = await consent(start.url)

        status, body = await post(leaf_fake, JD + "/get_token", json={
            "clientKey": "jd-app", "clientSecret": SECRET, "responseUrl": response,
            "clientRedirectUrl": "https://elsewhere.example/cb"})  # fmt: skip

        assert (400, "invalid_grant") == (status, body["error"])


class TestStara:
    async def test_stara_refuses_what_it_cannot_use(self, leaf_fake: FakeLeaf) -> None:
        """No user or password, an unknown API key, a GET: refused as the OAuth errors."""
        stara = "/oauth-hosts/v2apitelemetria.telemetriastara.com.br"

        assert 400 == (await post(leaf_fake, stara + "/autenticacao", data={"user": "g"}))[0]
        assert (
            401
            == (
                await post(
                    leaf_fake, stara + "/token", data={"apiKey": "x", "accessTokenClient": "c"}
                )
            )[0]
        )
        async with (
            aiohttp.ClientSession() as http,
            http.get(leaf_fake.url + stara + "/token") as answer,
        ):
            assert 405 == answer.status


class TestPages:
    async def test_an_unknown_page_and_method_are_refused(self, leaf_fake: FakeLeaf) -> None:
        """An unknown consent page is 404; a PUT to one is 405."""
        register_apps(leaf_fake)
        async with aiohttp.ClientSession() as http:
            async with http.get(leaf_fake.url + "/oauth-consent/nope") as answer:
                assert 404 == answer.status
            async with http.get(
                leaf_fake.url + AGFINITI + "/Account/Authorize",
                params={"response_type": "code", "client_id": "agl-public", "state": "s",
                        "redirect_uri": REDIRECT},
            ) as page:  # fmt: skip
                assert 200 == page.status
            flow = leaf_fake.oauth.flows[-1]
            async with http.put(leaf_fake.url + f"/oauth-consent/{flow.id}") as answer:
                assert 405 == answer.status

    async def test_agleader_asks_for_a_code(self, leaf_fake: FakeLeaf) -> None:
        """AgFiniti's authorize page refuses another response_type, and unknown clients."""
        register_apps(leaf_fake)
        async with aiohttp.ClientSession() as http:
            url = leaf_fake.url + AGFINITI + "/Account/Authorize"
            async with http.get(url, params={"response_type": "token"}) as answer:
                assert 400 == answer.status
            async with http.get(url, params={"response_type": "code", "client_id": "x"}) as answer:
                assert 401 == answer.status
            # Without a state, the redirect carries none.
            query = {"response_type": "code", "client_id": "agl-public", "redirect_uri": REDIRECT}
            async with http.get(url, params=query) as answer:
                assert 200 == answer.status
            form = leaf_fake.url + f"/oauth-consent/{leaf_fake.oauth.flows[-1].id}"
            async with http.post(form, data={"decision": "deny"}, allow_redirects=False) as back:
                assert "state=" not in back.headers["Location"]

    async def test_a_redirect_url_with_a_query_keeps_it(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """The code and state are added to a redirect URL's own query."""
        register_apps(leaf_fake)
        leaf_session.oauth.hosts = leaf_fake.oauth.hosts
        resource, app, options = APPS["raven"]
        start = await leaf_session.oauth.start(
            resource, app=app, redirect_url=REDIRECT + "?tenant=7", **options
        )

        response = await consent(start.url)

        assert response.startswith(REDIRECT + "?tenant=7&code=")
        assert f"state={start.state}" in response

    async def test_the_fake_forgets_and_tells(self, leaf_fake: FakeLeaf) -> None:
        """reset() forgets apps, pages, codes and tokens; the repr counts them."""
        register_apps(leaf_fake)
        assert repr(leaf_fake.oauth).startswith("<FakeOAuth apps=8 ")

        leaf_fake.reset()

        assert "<FakeOAuth apps=0 flows=0>" == repr(leaf_fake.oauth)
        assert {} == leaf_fake.oauth.refresh_tokens()


async def test_a_token_answer_without_a_refresh_token_is_a_decode_error(
    leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
) -> None:
    """An exchange answered with no refresh token is a DecodeError; nothing is created."""
    register_apps(leaf_fake)
    leaf_session.oauth.hosts = leaf_fake.oauth.hosts
    resource, app, options = APPS["trimble"]
    start = await leaf_session.oauth.start(resource, app=app, redirect_url=REDIRECT, **options)
    response = await consent(start.url)
    leaf_fake.faults.add(method="POST", path="*/get_token", malformed=True)

    with pytest.raises(lc.DecodeError, match="holds no refresh token"):
        await leaf_session.oauth.finish(start, response)
