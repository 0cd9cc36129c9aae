"""leaf.oauth without a server: each provider's bodies word for word, every check before sending."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web

import leaf_creds as lc
from tests.oauth_helpers import APPS, REDIRECT, SECRET

FLOW = lc.OAuthContext(
    redirect_url=REDIRECT,
    state="st4te",
    environment=lc.ClientEnvironment.PRODUCTION,
    response_url=REDIRECT + "?code=c0de&state=st4te",
    code="c0de",
    code_verifier="v3rifier",
)


def spec(slug: str) -> lc.OAuthSpec[Any]:
    found: lc.OAuthSpec[Any] | None = APPS[slug][0].oauth
    assert found is not None
    return found


def built(slug: str) -> tuple[Any, Any]:
    """Return (step 1, step 2) of a provider's flow, built from its test app."""
    app = APPS[slug][1]
    flow = spec(slug)
    assert flow.authorize is not None
    assert flow.exchange is not None
    return flow.authorize(app, FLOW), flow.exchange(app, FLOW)


class TestDocumentedBodies:
    def test_john_deere(self) -> None:
        """John Deere's helper gets Leaf's camelCase bodies (onboarding.md 4.2)."""
        url, token = built("john-deere")

        assert "https://johndeere-oauth2-helper.withleaf.io/get_url" == url.url
        assert {"clientKey": "jd-app", "clientSecret": SECRET, "clientRedirectUrl": REDIRECT} == (
            url.json
        )
        assert "https://johndeere-oauth2-helper.withleaf.io/get_token" == token.url
        assert {
            "clientKey": "jd-app",
            "clientSecret": SECRET,
            "clientRedirectUrl": REDIRECT,
            "responseUrl": FLOW.response_url,
        } == token.json

    def test_climate_field_view(self) -> None:
        """Climate's helper gets client_id, redirect_uri and the state; its token call a form."""
        url, token = built("climate-field-view")

        assert "https://cfv-oauth2-helper.withleaf.io/url" == url.url
        assert {"client_id": "cfv-app", "redirect_uri": REDIRECT, "pass_through": "st4te"} == (
            url.json
        )
        assert "https://api.climate.com/api/oauth/token" == token.url
        assert {"grant_type": "authorization_code", "code": "c0de", "redirect_uri": REDIRECT} == (
            token.form
        )
        assert ("cfv-app", SECRET) == token.basic

    def test_climate_scopes_are_a_list(self) -> None:
        """Scopes asked for go to Climate's helper as a list."""
        flow = spec("climate-field-view")
        assert flow.authorize is not None
        call = flow.authorize(
            APPS["climate-field-view"][1],
            FLOW.__class__(redirect_url=REDIRECT, state="s", scopes=("fields:read",)),
        )
        assert isinstance(call, lc.OAuthCall)
        assert call.json is not None
        assert ["fields:read"] == call.json["scope"]

    @pytest.mark.parametrize(("slug", "path"), [("cnhi", ""), ("cnhi-field-ops", "/fieldops")])
    def test_cnhi_and_fieldops(self, slug: str, path: str) -> None:
        """CNH's helper: snake_case bodies, subscription_key, production from the environment."""
        url, token = built(slug)
        keys = APPS[slug][1]
        body = {
            "client_id": keys.client_id,
            "client_secret": SECRET,
            "subscription_key": keys.subscription_key,
            "client_redirect_url": REDIRECT,
            "production": True,
        }

        assert f"https://cnhi-oauth2-helper.withleaf.io{path}/get_url" == url.url
        assert body == url.json
        assert f"https://cnhi-oauth2-helper.withleaf.io{path}/get_token" == token.url
        assert {**body, "response_url": FLOW.response_url} == token.json

    def test_raven(self) -> None:
        """Raven's helper: client id and redirect first, then the secret and the code itself."""
        url, token = built("raven")

        assert {"client_id": "raven-app", "client_redirect_url": REDIRECT} == url.json
        assert {
            "client_id": "raven-app",
            "client_secret": SECRET,
            "redirect_url": REDIRECT,
            "code": "c0de",
        } == token.json

    def test_trimble_sends_both_spellings(self) -> None:
        """Trimble's helper gets the newer docs' keys and the Postman collection's as well."""
        url, token = built("trimble")

        assert {
            "client_id": "trimble-app",
            "client_secret": SECRET,
            "client_redirect_url": REDIRECT,
            "application_name": "Farm",
        } == url.json
        assert {
            "client_id": "trimble-app",
            "client_secret": SECRET,
            "code": "c0de",
            "client_redirect_url": REDIRECT,
            "redirect_url": REDIRECT,
        } == token.json

    def test_lindsay(self) -> None:
        """Lindsay's PKCE helper: verifier and whole redirect URL go back, with the secret."""
        url, token = built("lindsay")

        assert "https://oauth2-helper.withleaf.io/lindsay/url" == url.url
        assert {
            "clientId": "lindsay-app",
            "redirectUri": REDIRECT,
            "environment": "PRODUCTION",
        } == url.json
        assert {
            "clientId": "lindsay-app",
            "clientSecret": SECRET,
            "redirectUri": REDIRECT,
            "responseUrl": FLOW.response_url,
            "codeVerifier": "v3rifier",
            "environment": "PRODUCTION",
        } == token.json

    def test_agleader(self) -> None:
        """AgLeader: the authorize URL is AgFiniti's own; the token call a form with Basic."""
        url, token = built("ag-leader")

        assert (
            "https://www.agfiniti.com/Account/Authorize?response_type=code&client_id=agl-public"
            "&redirect_uri=https%3A%2F%2Ffarm.example%2Foauth%2Fcallback&scope=read+readwrite"
            "&state=st4te"
        ) == url
        assert "https://www.agfiniti.com/api/token" == token.url
        assert ("agl-public", SECRET) == token.basic

    def test_reprs_hide_the_bodies(self) -> None:
        """An OAuthCall, an OAuthContext and OAuthTokens show no secret."""
        _, token = built("lindsay")
        tokens = lc.OAuthTokens(refresh_token="r3fresh", access_token="acc3ss")

        shown = repr(token) + repr(FLOW) + repr(tokens)
        assert [] == [v for v in (SECRET, "c0de", "v3rifier", "r3fresh", "acc3ss") if v in shown]


class TestUnavailable:
    @pytest.mark.parametrize(
        ("provider", "says"),
        [
            (lc.FARM_ENGAGE, "Magic Links do not offer FarmEngage"),
            (lc.STARA, "Magic Link instead (leaf.magic_links.create(user_id, provider='stara')"),
            (lc.PANORAMA, "one-click"),
            (lc.SENTERA, "Sentera has no OAuth consent flow"),
        ],
    )
    async def test_a_provider_without_a_flow_says_what_to_use(
        self, provider: Any, says: str
    ) -> None:
        """start() of a provider with no documented flow is OAuthUnavailableError, nothing sent."""
        async with lc.LeafSession(token="t") as leaf:
            with pytest.raises(lc.OAuthUnavailableError) as caught:
                await leaf.oauth.start(provider, app=object(), redirect_url=REDIRECT)
        assert says in str(caught.value)
        assert provider.slug == caught.value.provider


class TestChecksBeforeSending:
    @pytest.mark.parametrize(
        ("slug", "options", "says"),
        [
            ("john-deere", {}, "needs environment="),
            ("raven", {"environment": "STAGE"}, "takes no environment"),
            ("john-deere", {"environment": "TEST"}, "client_environment must be one of"),
            ("raven", {"scopes": ["x"]}, "takes no OAuth scopes"),
            ("ag-leader", {"scopes": "read"}, "not one string"),
            ("ag-leader", {"scopes": []}, "non-empty strings"),
            ("ag-leader", {"redirect_url": "/callback"}, "redirect_url must be an absolute"),
            ("ag-leader", {"redirect_url": "https://"}, "redirect_url must be an absolute"),
            (
                "ag-leader",
                {"app": lc.RavenAppKeys(client_id="x", client_secret="y")},
                "expects AgLeaderAppKeys",
            ),
            ("ag-leader", {"app": {"publicKey": "p"}}, "required field missing @ $.privateKey"),
        ],
    )
    async def test_bad_input_is_refused(
        self, slug: str, options: dict[str, Any], says: str
    ) -> None:
        """Input a flow cannot use is a ValidationError; nothing is sent (no server exists)."""
        resource, app, _ = APPS[slug]
        arguments: dict[str, Any] = {"app": app, "redirect_url": REDIRECT, **options}
        async with lc.LeafSession(token="t", base_url="http://127.0.0.1:9") as leaf:
            with pytest.raises(lc.ValidationError, match=re.escape(says)):
                await leaf.oauth.start(resource, **arguments)

    async def test_an_app_as_json_is_taken(self) -> None:
        """The app keys may be their camelCase JSON object, as the CLI reads them."""
        async with lc.LeafSession(token="t") as leaf:
            start = await leaf.oauth.start(
                "ag-leader", app={"publicKey": "p", "privateKey": "k"}, redirect_url=REDIRECT
            )
        assert "client_id=p" in start.url
        assert "p" == start.client_id


class TestTheRedirect:
    async def started(self, leaf: lc.LeafSession) -> lc.OAuthStart[Any, Any]:
        resource, app, options = APPS["ag-leader"]
        start: lc.OAuthStart[Any, Any] = await leaf.oauth.start(
            resource, app=app, redirect_url=REDIRECT, **options
        )
        return start

    @pytest.mark.parametrize(
        ("query", "error", "says"),
        [
            (
                "error=access_denied&error_description=No+thanks",
                lc.OAuthDeniedError,
                "access_denied: No thanks",
            ),
            ("error=server_error", lc.OAuthDeniedError, "(server_error)"),
            ("code=abc", lc.OAuthStateError, "state is missing"),
            ("code=abc&state=forged", lc.OAuthStateError, "state is not the one"),
            ("state=STATE", lc.OAuthError, "carries no code"),
        ],
    )
    async def test_a_redirect_that_cannot_be_exchanged_is_refused(
        self, query: str, error: type[Exception], says: str
    ) -> None:
        """An error, a missing or foreign state, a missing code: typed errors, nothing sent."""
        async with lc.LeafSession(token="t") as leaf:
            start = await self.started(leaf)
            url = REDIRECT + "?" + query.replace("STATE", start.state)
            with pytest.raises(error) as caught:
                await leaf.oauth.finish(start, url)
        assert says in str(caught.value)
        assert "abc" not in str(caught.value)

    async def test_finish_needs_a_start_and_a_url(self) -> None:
        """finish() of something that is not a start, or of a URL that is not text, is refused."""
        async with lc.LeafSession(token="t") as leaf:
            start = await self.started(leaf)
            with pytest.raises(lc.ValidationError, match="must be an OAuthStart"):
                await leaf.oauth.finish({"state": "x"}, REDIRECT)  # type: ignore[arg-type]
            with pytest.raises(lc.ValidationError, match="must be the redirect URL"):
                await leaf.oauth.finish(start, None)  # type: ignore[arg-type]

    @pytest.mark.parametrize("data", ["not json", "[]", '{"provider": "x"}', b"{}", 5])
    async def test_a_tampered_start_is_refused(self, data: Any) -> None:
        """load() of what dump() did not make is a ValidationError."""
        async with lc.LeafSession(token="t") as leaf:
            with pytest.raises(lc.ValidationError, match="not a dumped OAuthStart"):
                leaf.oauth.load(data)

    async def test_only_the_latest_flows_are_remembered(self) -> None:
        """The apps of the 256 latest flows are kept for finish(); older ones need app=."""
        async with lc.LeafSession(token="t") as leaf:
            first = await self.started(leaf)
            for _ in range(256):
                await self.started(leaf)
            with pytest.raises(lc.ValidationError, match="pass app="):
                await leaf.oauth.finish(first, REDIRECT + f"?code=x&state={first.state}")


class TestHosts:
    def test_hosts_are_origins_and_checked_urls(self) -> None:
        """A bare host name becomes https://host; a replacement must be https or on loopback."""
        oauth = lc.LeafSession(token="t").oauth
        oauth.hosts = {"www.agfiniti.com": "http://127.0.0.1:8080/agl/"}

        assert {"https://www.agfiniti.com": "http://127.0.0.1:8080/agl"} == oauth.hosts
        assert "<OAuth hosts=['https://www.agfiniti.com']>" == repr(oauth)
        with pytest.raises(lc.ValidationError, match="plain http"):
            oauth.hosts = {"www.agfiniti.com": "http://example.com"}
        with pytest.raises(lc.ValidationError, match="must be a URL"):
            oauth.hosts = {"": "https://example.com"}
        with pytest.raises(lc.ValidationError, match="must be a mapping"):
            oauth.hosts = [("a", "b")]  # type: ignore[assignment]

    async def test_a_replaced_host_gets_the_call(self, unused_tcp_port: int) -> None:
        """A helper at a replaced host is called there; a bare-text URL answer is taken."""
        seen: list[str] = []

        async def get_url(request: web.Request) -> web.Response:
            seen.append(request.path)
            assert "Authorization" not in request.headers  # never the Leaf token
            return web.Response(text="https://consent.example/authorize?x=1#top")

        app = web.Application()
        app.router.add_post("/jd/get_url", get_url)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
        resource, keys, options = APPS["john-deere"]
        try:
            async with lc.LeafSession(token="leaf-token") as leaf:
                leaf.oauth.hosts = {
                    "https://johndeere-oauth2-helper.withleaf.io": f"http://127.0.0.1:{unused_tcp_port}/jd",
                }
                start = await leaf.oauth.start(resource, app=keys, redirect_url=REDIRECT, **options)
        finally:
            await runner.cleanup()

        assert ["/jd/get_url"] == seen
        assert f"https://consent.example/authorize?x=1&state={start.state}#top" == start.url

    @pytest.mark.parametrize(
        ("body", "url"),
        [
            ('"https://consent.example/a"', "https://consent.example/a?state="),
            ('{"data": {"authorization_url": "https://c.example/?"}}', "https://c.example/?state="),
        ],
    )
    async def test_lenient_url_answers(self, unused_tcp_port: int, body: str, url: str) -> None:
        """A JSON string, or a URL nested one level down, is the consent URL."""

        async def answer(request: web.Request) -> web.Response:
            return web.Response(text=body, content_type="application/json")

        app = web.Application()
        app.router.add_post("/get_url", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
        resource, keys, _ = APPS["raven"]
        try:
            async with lc.LeafSession(token="t") as leaf:
                leaf.oauth.hosts = {
                    "raven-oauth2-helper.withleaf.io": f"http://127.0.0.1:{unused_tcp_port}"
                }
                start = await leaf.oauth.start(resource, app=keys, redirect_url=REDIRECT)
        finally:
            await runner.cleanup()

        assert start.url.startswith(url)


class TestSpec:
    def test_a_spec_is_checked(self) -> None:
        """An OAuthSpec without its pieces, or an unavailable one with them, is refused."""
        with pytest.raises(lc.ValidationError, match="not an attrs class"):
            lc.OAuthSpec(app=dict)
        with pytest.raises(lc.ValidationError, match="is not a field of app"):
            lc.OAuthSpec(app=lc.RavenAppKeys, client_id="nope")
        with pytest.raises(lc.ValidationError, match="authorize must be callable"):
            lc.OAuthSpec(app=lc.RavenAppKeys)
        with pytest.raises(lc.ValidationError, match="takes only its reason"):
            lc.OAuthSpec(app=lc.RavenAppKeys, unavailable="x")
        with pytest.raises(lc.ValidationError, match="oauth must be an OAuthSpec"):
            lc.CredentialResource("acme", lc.RavenAppKeys, lc.CredentialRecord, oauth="x")  # type: ignore[arg-type]

    def test_every_flow_names_its_hosts(self) -> None:
        """Each available flow lists its default hosts, all https."""
        registry = lc.default_registry(plugins=False)
        flows = {r.slug: r.oauth for r in registry if r.oauth and r.oauth.unavailable is None}

        assert sorted(APPS) == sorted(flows)
        assert all(h.startswith("https://") for f in flows.values() for h in f.hosts)
