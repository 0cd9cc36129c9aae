"""Leaf's Postman collection, "Providers auth" and "Leaf User" folders, replayed against the fake.

What newman would send, copied by hand from ``postman/leaf-api.postman_collection.json``
(commit d03d1cc; the bodies word for word, variables as ``{{name}}``), with the
collection's variables pointed at the fake. Between two steps the test does what
the collection leaves to a person: a grower consents, and the redirect URL (or
its code) goes in the next request.
"""

# The collection's bodies are copied word for word, some past the line length.
# ruff: noqa: E501

from __future__ import annotations

import base64
import json
import re
from typing import Any

import aiohttp
import pytest

from leaf_creds.testing import FakeLeaf
from tests.oauth_helpers import SECRET, consent, register_apps

REDIRECT = "https://farm.example/callback"

# (name, method, URL, body): a raw JSON body as text, a form as a dict.
PROVIDERS_AUTH: list[tuple[str, str, str, Any]] = [
    ("1. Get John Deere auth URL", "POST", "https://{{leaf_auth_jd}}/get_url",
     '{\n    "clientKey": "{{jd_client_id}}",\n    "clientSecret": "{{jd_client_secret}}",\n'
     '    "clientRedirectUrl": "{{jd_redirect_url}}"\n}'),
    ("2. Get John Deere Tokens", "POST", "https://{{leaf_auth_jd}}/get_token",
     '{\n    "clientKey": "{{jd_client_id}}",\n    "clientSecret": "{{jd_client_secret}}",\n'
     '    "responseUrl": "{{jd_response_url}}",\n    "clientRedirectUrl": "{{jd_redirect_url}}"\n}'),
    ("1. Get CFV auth URL", "POST", "https://{{leaf_auth_cfv}}/url",
     '{\n\t"client_id": "{{cfv_client_id}}",\n\t"redirect_uri": "{{cfv_redirect_url}}"\n}'),
    ("2. Get CFV Tokens", "POST", "https://api.climate.com/api/oauth/token",
     {"code": "{{cfv_code}}", "redirect_uri": "{{cfv_redirect_url}}",
      "grant_type": "authorization_code"}),
    ("1. Get CNHI auth URL", "POST", "https://{{leaf_auth_cnhi}}/get_url",
     '{\n    "client_id": "{{cnhi_client_id}}",\n    "client_secret": "{{cnhi_client_secret}}",\n'
     '    "client_redirect_url": "{{cnhi_client_redirect_url}}",\n'
     '    "production": {{cnhi_production_client}}\n}'),
    ("2. Get CNHI Refresh Token", "POST", "https://{{leaf_auth_cnhi}}/get_token",
     '{\n    "client_id": "{{cnhi_client_id}}",\n    "client_secret": "{{cnhi_client_secret}}",\n'
     '    "client_redirect_url": "{{cnhi_client_redirect_url}}",\n'
     '    "response_url": "{{cnhi_response_url}}",\n    "production": {{cnhi_production_client}}\n}'),
    ("Get Raven auth URL", "POST", "https://{{leaf_auth_raven}}/get_url",
     '{\n    "client_id": "{{raven_client_id}}",\n'
     '    "client_redirect_url": "{{raven_redirect_url}}"\n}'),
    ("Get Raven Token", "POST", "https://{{leaf_auth_raven}}/get_token",
     '{\n    "client_id": "{{raven_client_id}}",\n    "client_secret": "{{raven_client_secret}}",\n'
     '    "redirect_url": "{{raven_redirect_url}}",\n    "code": "{{raven_code}}"\n}'),
    ("Get Stara API key", "POST", "https://v2apitelemetria.telemetriastara.com.br/autenticacao",
     {"user": "{{stara_username}}", "pwd": "{{stara_password}}"}),
    ("Get Stara Tokens", "POST", "https://v2apitelemetria.telemetriastara.com.br/token",
     {"accessTokenClient": "{{stara_access_token_client}}", "apiKey": "{{stara_api_key}}"}),
    ("Get Trimble auth URL", "POST", "https://{{leaf_auth_trimble}}/get_url",
     '{\n    "application_name": "{{trimble_app_name}}",\n'
     '    "client_id": "{{trimble_client_id}}",\n'
     '    "client_redirect_url": "{{trimble_redirect_url}}"\n}'),
    ("Get Trimble Token", "POST", "https://{{leaf_auth_trimble}}/get_token",
     '{\n    "client_id": "{{trimble_client_id}}",\n    "redirect_url": "{{trimble_redirect_url}}",\n'
     '    "client_secret": "{{trimble_client_secret}}",\n    "code": "{{trimble_code}}"\n}'),
    ("1. Get Lindsay auth URL", "POST", "https://{{leaf_auth_helper}}/lindsay/url",
     '{\n    "clientId": "{{lindsay_client_id}}",\n    "redirectUri": "{{lindsay_redirect_uri}}",\n'
     '    "environment": "STAGE"\n}'),
    ("2. Get Lindsay Token", "POST", "https://{{leaf_auth_helper}}/lindsay/token",
     '{\n    "clientId": "{{lindsay_client_id}}",\n    "clientSecret": "{{lindsay_client_secret}}",\n'
     '    "redirectUri": "{{lindsay_redirect_uri}}",\n    "responseUrl": "{{lindsay_response_url}}",\n'
     '    "codeVerifier": "{{lindsay_code_verifier}}",\n    "environment": "STAGE"\n}'),
]  # fmt: skip

UM = "https://{{leaf_api_url}}/services/usermanagement/api"
LEAF_USER: list[tuple[str, str, str, Any]] = [
    ("Create Leaf User", "POST", UM + "/users/",
     '{\n  "name": "Ada Lovelace{{random_number}}",\n'
     '  "email": "AdaLovelace{{random_number}}@sharklasers.com",\n'
     '  "address": "New York, NY 10004, US",\n  "phone": "123-456-7890"\n}'),
    ("Get all Leaf Users", "GET", UM + "/users/", None),
    ("Get specific Leaf User", "GET", UM + "/users/{{leaf_user_id}}", None),
    ("Update Leaf User", "PUT", UM + "/users/",
     '{\n  "id": "{{leaf_user_id}}",\n  "name": "abc{{random_number}}",\n'
     '  "email": "abc{{random_number}}@sharklasers.com",\n'
     '  "address": "New York, NY 10004, US",\n  "phone": "123-456-7890",\n'
     '  "climateFieldViewCredentials": {\n  \t"id":"{{cfv_credentials_id}}"\n  },\n'
     '  "johnDeereCredentials": {\n  \t"id": "{{jd_credentials_id}}"\n  },\n'
     '  "cnhiCredentials": {\n  \t"id": "{{cnhi_credentials_id}}"\n  }\n}'),
    ("Delete Leaf User", "DELETE", UM + "/users/{{leaf_user_id}}", None),
]  # fmt: skip


class Runner:
    """Sends the collection's requests with its variables, as newman does."""

    def __init__(self, fake: FakeLeaf, http: aiohttp.ClientSession) -> None:
        self.fake = fake
        self.http = http
        host = fake.url.removeprefix("http://")
        hosts = f"{host}/oauth-hosts"
        self.variables: dict[str, str] = {
            "leaf_api_url": host,
            "leaf_token": fake.token,
            "leaf_auth_jd": f"{hosts}/johndeere-oauth2-helper.withleaf.io",
            "leaf_auth_cfv": f"{hosts}/cfv-oauth2-helper.withleaf.io",
            "leaf_auth_cnhi": f"{hosts}/cnhi-oauth2-helper.withleaf.io",
            "leaf_auth_raven": f"{hosts}/raven-oauth2-helper.withleaf.io",
            "leaf_auth_trimble": f"{hosts}/trimble-oauth2-helper.withleaf.io",
            "leaf_auth_helper": f"{hosts}/oauth2-helper.withleaf.io",
            "random_number": "7",
            "cnhi_production_client": "false",
            "stara_username": "grower", "stara_password": "grower-password",
            "stara_access_token_client": "stara-app-token", "trimble_app_name": "Farm",
        }  # fmt: skip
        for prefix, client_id in (("jd", "jd-app"), ("cfv", "cfv-app"), ("cnhi", "cnhi-app"),
                                  ("raven", "raven-app"), ("trimble", "trimble-app"),
                                  ("lindsay", "lindsay-app")):  # fmt: skip
            self.variables[f"{prefix}_client_id"] = client_id
            self.variables[f"{prefix}_client_secret"] = SECRET
            self.variables[f"{prefix}_redirect_url"] = REDIRECT
        self.variables["cnhi_client_redirect_url"] = REDIRECT
        self.variables["lindsay_redirect_uri"] = REDIRECT
        self.variables["cfv_auth_header"] = (
            "Basic " + base64.b64encode(f"cfv-app:{SECRET}".encode()).decode()
        )

    def fill(self, text: str) -> str:
        return re.sub(r"\{\{(\w+)\}\}", lambda m: self.variables[m.group(1)], text)

    async def send(self, item: tuple[str, str, str, Any]) -> tuple[int, Any]:
        _, method, url, body = item
        target = self.fill(url).replace("https://", "http://")
        target = target.replace(
            "http://api.climate.com", f"http://{self.variables['leaf_api_url']}/oauth-hosts/"
            "api.climate.com").replace(
            "http://v2apitelemetria", f"http://{self.variables['leaf_api_url']}/oauth-hosts/"
            "v2apitelemetria")  # fmt: skip
        headers = {"Authorization": "Bearer " + self.fake.token}
        if "api.climate.com" in target:
            headers["Authorization"] = self.variables["cfv_auth_header"]
        kwargs: dict[str, Any] = {"headers": headers}
        if isinstance(body, str):
            kwargs["data"] = self.fill(body).encode()
            headers["Content-Type"] = "application/json"
        elif isinstance(body, dict):
            kwargs["data"] = {key: self.fill(value) for key, value in body.items()}
        async with self.http.request(method, target, **kwargs) as answer:
            text = await answer.text()
            return answer.status, json.loads(text) if text else None


@pytest.fixture
async def runner(leaf_fake: FakeLeaf) -> Any:
    register_apps(leaf_fake)
    async with aiohttp.ClientSession() as http:
        yield Runner(leaf_fake, http)


async def test_providers_auth_gets_documented_answers(runner: Runner) -> None:
    """Every request of "Providers auth" is answered 200: a URL, then the tokens."""
    answers: dict[str, tuple[int, Any]] = {}
    steps = iter(PROVIDERS_AUTH)
    for first in steps:
        status, body = answers[first[0]] = await runner.send(first)
        assert 200 == status, (first[0], body)
        second = next(steps)
        url = next((body[k] for k in ("url", "signInUrl", "authorization_url") if k in body), None)
        if url is not None:  # a grower consents; the redirect goes in the next request
            back = await consent(url)
            code = back.split("code=")[1].split("&")[0]
            for key in ("jd", "cnhi", "lindsay", "raven", "trimble", "cfv"):
                runner.variables[f"{key}_response_url"] = back
                runner.variables[f"{key}_code"] = code
            runner.variables["lindsay_code_verifier"] = body.get("codeVerifier", "")
        else:  # Stara: the API key of the first call goes in the second
            runner.variables["stara_api_key"] = body["apiKey"]
        status, tokens = answers[second[0]] = await runner.send(second)
        assert 200 == status, (second[0], tokens)
        assert tokens.get("refresh_token") or tokens.get("refreshToken")

    assert 14 == len(answers)


async def test_leaf_user_gets_documented_answers(leaf_fake: FakeLeaf, runner: Runner) -> None:
    """Create, list, get, the full-replace PUT (credentials by id) and delete of "Leaf User"."""
    status, made = await runner.send(LEAF_USER[0])
    assert 201 == status
    runner.variables["leaf_user_id"] = made["id"]
    for slug, key, body in (
        ("climate-field-view", "cfv", {"clientId": "c", "clientSecret": "s", "apiKey": "k",
                                       "refreshToken": "r"}),
        ("john-deere", "jd", {"clientKey": "c", "clientSecret": "s", "refreshToken": "r",
                              "clientEnvironment": "STAGE"}),
        ("cnhi", "cnhi", {"clientId": "c", "clientSecret": "s", "subscriptionKey": "k",
                          "refreshToken": "r", "clientEnvironment": "STAGE"}),
        ("sentera", "sentera", {"username": "u", "password": "p", "organizationName": "o"}),
    ):  # fmt: skip
        runner.variables[f"{key}_credentials_id"] = leaf_fake.add_credential(
            made["id"], slug, body
        )["id"]

    listed = await runner.send(LEAF_USER[1])
    one = await runner.send(LEAF_USER[2])
    put = await runner.send(LEAF_USER[3])
    deleted = await runner.send(LEAF_USER[4])

    assert (200, [made["id"]]) == (listed[0], [u["id"] for u in listed[1]])
    assert (200, "Ada Lovelace7") == (one[0], one[1]["name"])
    assert (200, "abc7") == (put[0], put[1]["name"])
    # The PUT named three of the four credentials: Sentera's is detached.
    assert {"climateFieldViewCredentials", "johnDeereCredentials", "cnhiCredentials"} == {
        k for k in put[1] if k.endswith("Credentials")
    }
    assert (204, None) == deleted
