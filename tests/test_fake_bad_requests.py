"""FakeLeaf reads every body it is sent: a bad one is a 400, never a 500 with a traceback."""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from leaf_creds.testing import FakeLeaf

UM = "/services/usermanagement/api"
LINKS = "/services/widgets/api/magic-link"
JD_KEYS = {"clientKey": "jd-app-id", "clientSecret": "jd-app-secret-1"}
# Every path that reads a JSON body, with the method that sends one.
JSON_ENDPOINTS = [
    ("POST", "/api/authenticate"),
    ("POST", f"{UM}/users"),
    ("POST", f"{UM}/users/u1/sentera-credentials"),
    ("POST", "/services/alerts/api/alerts/webhooks"),
    ("POST", f"{UM}/app-keys/AgLeader/LeafWidget"),
    ("PUT", f"{UM}/app-keys/AgLeader/LeafWidget"),
    ("POST", f"{UM}/api-keys"),
    ("POST", f"{LINKS}/users/u1/provider"),
    ("POST", f"{LINKS}/provider"),
]
DEEP = 100_000
# Parses at the top of a stack, not at the depth of a request handler.
NEAR_THE_LIMIT = b"[" * 990 + b"]" * 990


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


BAD_JSON = {
    "deep array": nested(DEEP),
    "deep object": b'{"a":' * DEEP + b"1" + b"}" * DEEP,
    "deep value": b'{"username": ' + nested(DEEP) + b', "password": "p"}',
    "deep unclosed": b"[" * DEEP,
    "near the recursion limit": NEAR_THE_LIMIT,
    "lone surrogate": b'{"username": "user@example.com", "password": "\\ud800"}',
    "lone surrogate key": b'{"\\udfff": 1, "username": "a", "password": "b"}',
    "not UTF-8": b'{"username": "\xff\xfe"}',
    "truncated": b'{"username": "a',
}


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def fake(leaf_fake: FakeLeaf) -> FakeLeaf:
    leaf_fake.add_user(id="u1", name="Ada")
    leaf_fake.onboarding.add_app_key(
        "AgLeader", "LeafWidget", {"privateKey": "p", "publicKey": "q"}
    )
    return leaf_fake


async def send(
    client: aiohttp.ClientSession,
    fake: FakeLeaf,
    method: str,
    path: str,
    body: bytes | io.BytesIO,
    content_type: str = "application/json",
) -> tuple[int, str, bytes]:
    headers = {"Authorization": f"Bearer {fake.token}", "Content-Type": content_type}
    async with client.request(method, fake.url + path, data=body, headers=headers) as response:
        return response.status, response.content_type, await response.read()


def assert_problem_400(answer: tuple[int, str, bytes], path: str) -> dict[str, Any]:
    status, content_type, body = answer
    assert (400, "application/problem+json") == (status, content_type), body[:300]
    problem: dict[str, Any] = json.loads(body)
    assert (400, "Bad Request", path) == (problem["status"], problem["title"], problem["path"])
    return problem


class TestJsonBodies:
    @pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
    @pytest.mark.parametrize("body", BAD_JSON.values(), ids=BAD_JSON.keys())
    async def test_a_bad_json_body_is_a_400_problem(
        self,
        fake: FakeLeaf,
        client: aiohttp.ClientSession,
        method: str,
        path: str,
        body: bytes,
    ) -> None:
        """Too deep, a lone surrogate, not UTF-8, cut short: 400 problem JSON, nothing stored."""
        users = dict(fake.users)

        answer = await send(client, fake, method, path, body)

        problem = assert_problem_400(answer, path)
        if body is not NEAR_THE_LIMIT:  # else it may parse, and be refused for its shape
            assert problem["detail"].startswith("Failed to read HTTP message")
        assert users == dict(fake.users)
        assert fake.credential("u1", "sentera") is None
        assert ([], [], []) == (
            fake.alerts.webhooks,
            fake.onboarding.magic_links,
            fake.onboarding.api_keys,
        )

    async def test_the_fake_keeps_serving_after_a_deep_body(
        self, fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """A 100,000-deep body costs one 400; the next request is answered as usual."""
        await send(client, fake, "POST", f"{UM}/users", nested(DEEP))

        status, _, body = await send(client, fake, "POST", f"{UM}/users", b'{"name": "Bo"}')

        assert 201 == status
        assert "Bo" == json.loads(body)["name"]

    async def test_a_body_over_the_size_limit_is_a_413_problem(
        self, fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """More than 1 MiB is Leaf's 413, as problem JSON like the rest."""
        path = f"{UM}/users/u1/sentera-credentials"
        status, content_type, body = await send(
            client, fake, "POST", path, io.BytesIO(b" " * 2**21)
        )

        assert (413, "application/problem+json") == (status, content_type)
        assert 413 == json.loads(body)["status"]


class TestMagicLinkPageForms:
    async def consent_action(
        self, fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> tuple[str, str]:
        """Create a link, open it, pick John Deere: return the form's URL and session."""
        fake.onboarding.add_app_key("JohnDeere", "A", JD_KEYS, environment="PRODUCTION")
        status, _, body = await send(
            client, fake, "POST", f"{LINKS}/users/u1/provider", b'{"allowedProviders": ["All"]}'
        )
        assert 201 == status
        link = json.loads(body)["link"]
        async with client.get(link) as response:
            landing = await response.text()
        match = re.search(r'href="([^"]*/JohnDeere\?session=([^"&]+))"', landing)
        assert match is not None
        return f"{link}/JohnDeere", match.group(2)

    @pytest.mark.parametrize(
        ("content_type", "form"),
        [
            ("application/x-www-form-urlencoded", b"session={session}&username=\xff\xfe"),
            (
                "application/x-www-form-urlencoded; charset=utf-8",
                b"username=ada\xc3&session={session}",
            ),
            ("application/x-www-form-urlencoded; charset=no-such-codec", b"session={session}"),
            (
                "multipart/form-data; boundary=xx",
                b'--xx\r\nContent-Disposition: form-data; name="username"\r\n'
                b"\r\n\xff\r\n--xx--\r\n",
            ),
            ("multipart/form-data; boundary=xx", b"no boundary in here"),
            ("multipart/form-data", b"--xx--\r\n"),
            (
                "multipart/form-data; boundary=xx",
                b"--xx\r\nContent-Transfer-Encoding: rot13\r\n"
                b'Content-Disposition: form-data; name="username"\r\n\r\nada\r\n--xx--\r\n',
            ),
        ],
        ids=[
            "urlencoded not UTF-8",
            "urlencoded cut UTF-8",
            "unknown charset",
            "multipart not UTF-8",
            "multipart without its boundary",
            "multipart without a boundary",
            "multipart unknown transfer encoding",
        ],
    )
    @pytest.mark.parametrize("suffix", ["", "/disconnect"])
    async def test_an_unreadable_form_is_a_400_page(
        self,
        fake: FakeLeaf,
        client: aiohttp.ClientSession,
        content_type: str,
        form: bytes,
        suffix: str,
    ) -> None:
        """A consent or Disconnect form that cannot be decoded is the page's 400, nothing stored."""
        action, session = await self.consent_action(fake, client)
        body = form.replace(b"{session}", session.encode())

        async with client.post(
            action + suffix, data=body, headers={"Content-Type": content_type}
        ) as response:
            status, page = response.status, await response.text()

        assert 400 == status
        assert response.content_type == "text/html"
        assert re.search(r'<p id="error" data-status="400">[^<]+</p>', page), page
        assert fake.credential("u1", "john-deere") is None

    async def test_a_form_over_the_size_limit_is_a_413_page(
        self, fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """A consent form past 1 MiB is the page's 413, nothing stored."""
        action, session = await self.consent_action(fake, client)
        form = io.BytesIO(f"session={session}&username=".encode() + b"a" * 2**21)

        async with client.post(
            action, data=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
        ) as response:
            status, page = response.status, await response.text()

        assert (413, "text/html") == (status, response.content_type)
        assert '<p id="error" data-status="413">' in page
        assert fake.credential("u1", "john-deere") is None
