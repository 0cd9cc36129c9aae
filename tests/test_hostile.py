"""Tests of hostile input and answers: lone surrogates, deep JSON, endless pages, huge bodies."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import leaf_creds as lc

from .conftest import BASE, UM, LeafMock, total_requests

LONE = "\ud800"  # what json.loads("\"\\ud800\"") gives: no UTF-8 encoding exists
ESCAPED = "\udcff"  # what a non-UTF-8 byte in argv becomes (surrogateescape)
DEEP = b"[" * 20_000 + b"]" * 20_000  # past any recursion limit, small for aioresponses
RECORD = {"id": "c1", "status": "OK"}
BIN = Path(sys.executable).parent
LEAF_CREDS = shutil.which("leaf-creds", path=str(BIN)) or str(BIN / "leaf-creds")


async def serve(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.AppRunner:
    """Serve every path on 127.0.0.1 with ``handler``."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


def url_of(runner: web.AppRunner) -> str:
    return f"http://127.0.0.1:{runner.addresses[0][1]}"


class TestLoneSurrogates:
    @pytest.mark.parametrize("user_id", [LONE, "a" + ESCAPED, "ok-" + LONE + "/x"])
    @pytest.mark.parametrize("call", ["get", "delete", "events", "create"])
    async def test_user_id(self, http: LeafMock, call: str, user_id: str) -> None:
        """A user id that has no UTF-8 form is a ValidationError, and nothing is sent."""
        async with lc.LeafSession(token="t") as leaf:
            args: tuple[Any, ...] = (lc.SENTERA, user_id)
            if call == "create":
                args += ({"username": "u", "password": "p", "organizationName": "o"},)
            with pytest.raises(lc.ValidationError, match="user id"):
                await getattr(leaf, call)(*args)

        assert 0 == total_requests(http)

    async def test_bulk(self, http: LeafMock) -> None:
        """In bulk, the operation's outcome is a ValidationError, and nothing is sent."""
        async with lc.LeafSession(token="t") as leaf:
            outcomes = [o async for o in leaf.bulk([lc.Get(lc.SENTERA, LONE)])]

        assert lc.ValidationError is type(outcomes[0].error)
        assert 0 == total_requests(http)

    @pytest.mark.parametrize("call", ["webhook", "delete_webhook"])
    async def test_webhook_id(self, http: LeafMock, call: str) -> None:
        """A webhook id that has no UTF-8 form is a ValidationError, and nothing is sent."""
        async with lc.LeafSession(token="t") as leaf:
            with pytest.raises(lc.ValidationError, match="webhook id"):
                await getattr(leaf, call)("w" + LONE)

        assert 0 == total_requests(http)

    @pytest.mark.parametrize("key", ["sort", "name", "email", "external_id"])
    async def test_users_filter(self, http: LeafMock, key: str) -> None:
        """A users() filter that has no UTF-8 form is refused when users() is called."""
        async with lc.LeafSession(token="t") as leaf:
            with pytest.raises(lc.ValidationError, match=key):
                leaf.users(**{key: "x" + LONE})  # type: ignore[arg-type]

        assert 0 == total_requests(http)

    async def test_users_filter_not_a_string(self) -> None:
        """A users() filter that is not a string is refused when users() is called."""
        async with lc.LeafSession(token="t") as leaf:
            with pytest.raises(lc.ValidationError, match="email"):
                leaf.users(email=42)  # type: ignore[arg-type]

    async def test_apply_dry_run(self, tmp_path: Path) -> None:
        """`apply --dry-run` reports a plan line whose user id is a lone surrogate, exit 2."""
        plan = tmp_path / "plan.jsonl"
        line = {"op": "get", "provider": "sentera", "leafUserId": LONE}
        good = {"op": "get", "provider": "sentera", "leafUserId": "u1"}
        plan.write_text(json.dumps(line) + "\n" + json.dumps(good) + "\n", encoding="utf-8")

        code, output = await dry_run(plan)

        assert 2 == code
        assert b"Traceback" not in output
        assert b"leafUserId" in output


async def dry_run(plan: Path, *options: str) -> tuple[int | None, bytes]:
    """Run `leaf-creds apply --dry-run` on a plan; return its exit code and all its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAF_")}
    env["LEAF_TOKEN"] = "t"
    proc = await asyncio.create_subprocess_exec(
        LEAF_CREDS,
        "apply",
        "--dry-run",
        *options,
        str(plan),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    stdout, stderr = await proc.communicate()
    return proc.returncode, stdout + stderr


class TestDeepJson:
    async def test_plan_line(self, tmp_path: Path) -> None:
        """`apply --dry-run` reports a plan line nested past the recursion limit, exit 2."""
        plan = tmp_path / "plan.jsonl"
        plan.write_bytes(
            b'{"op": "get", "provider": "sentera", "leafUserId": "u1", "x": ' + DEEP + b"}\n"
        )

        code, output = await dry_run(plan)

        assert 2 == code
        assert b"Traceback" not in output
        assert b"nested too deeply" in output

    async def test_results_line(self, tmp_path: Path) -> None:
        """A results line nested past the recursion limit is unreadable, so its line runs again."""
        plan = tmp_path / "plan.jsonl"
        plan.write_text('{"op": "get", "provider": "sentera", "leafUserId": "u1"}\n')
        results = tmp_path / "results.jsonl"
        results.write_bytes(b'{"line": 1, "ok": true, "x": ' + DEEP + b"}\n")

        code, output = await dry_run(plan, "--resume", str(results))

        assert 0 == code
        assert b"Traceback" not in output

    async def test_2xx_body(self, http: LeafMock) -> None:
        """A 2xx body nested past the recursion limit is a DecodeError."""
        http.get(UM + "/users/u1/sentera-credentials", body=DEEP)
        async with lc.LeafSession(token="t") as leaf:
            with pytest.raises(lc.DecodeError, match="nested too deeply"):
                await leaf.get(lc.SENTERA, "u1")

    async def test_error_body(self, http: LeafMock) -> None:
        """An error body nested past the recursion limit still gives the status's APIError."""
        http.get(UM + "/users/u1/sentera-credentials", status=400, body=b'{"a":' + DEEP + b"}")
        async with lc.LeafSession(token="t") as leaf:
            with pytest.raises(lc.BadRequestError) as caught:
                await leaf.get(lc.SENTERA, "u1")

        assert 400 == caught.value.status

    async def test_error_field_just_parsed(self) -> None:
        """A problem field nested just under the limit (parsed, too deep to dump) is summed up."""
        depth = {"n": 0}

        async def handle(request: web.Request) -> web.Response:
            nested = b"[" * depth["n"] + b"]" * depth["n"]
            return web.Response(status=400, body=b'{"detail": ' + nested + b"}")

        runner = await serve(handle)
        details = set()
        try:
            async with lc.LeafSession(token="t", base_url=url_of(runner)) as leaf:
                # Somewhere in this range, parsing still fits under the limit
                # and dumping a few frames deeper does not.
                for n in range(500, 1000):
                    depth["n"] = n
                    with pytest.raises(lc.BadRequestError) as caught:
                        await leaf.get(lc.SENTERA, "u1")
                    details.add((caught.value.detail or "")[:6])
        finally:
            await runner.cleanup()

        assert "(a JSO" in details

    async def test_alert_credential(self) -> None:
        """An alert whose credential is nested too deeply to walk prints it masked whole."""
        nested: Any = {"clientKey": "jd-client-key-value"}
        for _ in range(700):
            nested = [nested]
        alert = {
            "type": "credentialsUnauthenticated",
            "provider": "JohnDeere",
            "credentialId": "5f0c1b5e-0000-4000-8000-000000000009",
            "status": "UNAUTHENTICATED",
            "timestamp": "2024-06-15T14:30:00.123456Z",
            "credential": nested,
        }

        parsed = lc.parse_alert(json.dumps(alert).encode())

        assert "credential='***'" in repr(parsed)

    async def test_login_answer(self, http: LeafMock) -> None:
        """A login answer nested past the recursion limit is a DecodeError."""
        http.post(BASE + "/api/authenticate", body=DEEP)
        async with lc.LeafSession(username="me", password="pw-secret") as leaf:
            with pytest.raises(lc.DecodeError):
                await leaf.get(lc.SENTERA, "u1")

    async def test_jwt_payload(self, http: LeafMock) -> None:
        """A JWT whose payload is nested past the recursion limit is used, its exp unknown."""
        payload = base64.urlsafe_b64encode(b'{"a":' + DEEP + b"}").rstrip(b"=").decode()
        token = "eyJhbGciOiJIUzI1NiJ9." + payload + ".c2ln"
        http.post(BASE + "/api/authenticate", payload={"id_token": token})
        http.get(UM + "/users/u1/sentera-credentials", payload=RECORD)
        async with lc.LeafSession(username="me", password="pw-secret") as leaf:
            record = await leaf.get(lc.SENTERA, "u1")

        assert "c1" == record.id

    async def test_bulk_outcome(self, http: LeafMock) -> None:
        """bulk() keeps a DecodeError, not a RecursionError, as the outcome's error."""
        http.get(UM + "/users/u1/sentera-credentials", body=DEEP)
        async with lc.LeafSession(token="t") as leaf:
            outcomes = [o async for o in leaf.bulk([lc.Get(lc.SENTERA, "u1")])]

        assert isinstance(outcomes[0].error, lc.DecodeError)


class RepeatingUsers:
    """A GET /users that answers every page with the same full page and rel="next"."""

    def __init__(self, *, overlap: bool = False) -> None:
        self.requests = 0
        self.overlap = overlap

    async def handle(self, request: web.Request) -> web.Response:
        if not request.path.endswith("/users"):
            return web.json_response({"title": "Not Found"}, status=404)  # no credentials
        self.requests += 1
        if self.requests > 50:  # the test's own bound: the SDK must stop far sooner
            return web.json_response([])
        size = int(request.query["size"])
        page = int(request.query["page"])
        # With overlap, each page repeats the previous page's last user (a user
        # inserted mid-walk shifts the list), and brings new ones until page 3.
        start = min(page, 3) * (size - 1) if self.overlap else 0
        users = [{"id": f"u{i}"} for i in range(start, start + size)]
        link = f'<http://x/users?page={page + 1}>; rel="next"'
        return web.json_response(users, headers={"Link": link, "X-Total-Count": "1000000"})


async def collect(users: AsyncIterator[lc.LeafUser], seen: list[str]) -> None:
    """Append the id of every user to ``seen``, until the iteration ends or fails."""
    async for user in users:
        seen.append(user.id)


class TestEndlessPages:
    async def test_repeated_page(self) -> None:
        """A server repeating one full page forever ends in PaginationError; no user twice."""
        server = RepeatingUsers()
        runner = await serve(server.handle)
        seen: list[str] = []
        try:
            async with lc.LeafSession(token="t", base_url=url_of(runner)) as leaf:
                with pytest.raises(lc.PaginationError, match="page 1"):
                    await collect(leaf.users(size=3), seen)
        finally:
            await runner.cleanup()

        assert ["u0", "u1", "u2"] == seen
        assert 2 == server.requests

    async def test_pagination_error_is_a_decode_error(self) -> None:
        """PaginationError is a DecodeError, so existing handlers still catch it."""
        assert issubclass(lc.PaginationError, lc.DecodeError)

    async def test_overlapping_pages(self) -> None:
        """Pages that overlap but bring new users go on; the overlap is not yielded twice."""
        server = RepeatingUsers(overlap=True)
        runner = await serve(server.handle)
        seen: list[str] = []
        try:
            async with lc.LeafSession(token="t", base_url=url_of(runner)) as leaf:
                with pytest.raises(lc.PaginationError):
                    await collect(leaf.users(size=3), seen)
        finally:
            await runner.cleanup()

        assert [f"u{i}" for i in range(9)] == seen
        assert 5 == server.requests

    async def test_audit(self) -> None:
        """`leaf-creds audit` against a repeating server ends with an error, not forever."""
        server = RepeatingUsers()
        runner = await serve(server.handle)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEAF_")}
        env.update(LEAF_TOKEN="t", LEAF_BASE_URL=url_of(runner))
        try:
            proc = await asyncio.create_subprocess_exec(
                LEAF_CREDS,
                "audit",
                "--provider",
                "sentera",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
            _, stderr = await proc.communicate()
        finally:
            await runner.cleanup()

        assert 0 != proc.returncode
        assert b"Traceback" not in stderr
        assert 2 == server.requests


class BigAnswers:
    """Answers GETs with a body of ``size`` bytes, whole, chunked or gzipped."""

    def __init__(self, size: int, *, mode: str, status: int = 200) -> None:
        self.size = size
        self.mode = mode
        self.status = status
        self.requests = 0

    def body(self) -> bytes:
        # A JSON array of one long string: valid JSON of exactly `size` bytes.
        return b'["' + b"a" * (self.size - 4) + b'"]'

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        if self.mode == "whole":
            return web.Response(body=self.body(), status=self.status)
        if self.mode == "gzip":
            packed = gzip.compress(self.body())
            headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
            return web.Response(body=packed, status=self.status, headers=headers)
        response = web.StreamResponse(status=self.status)
        response.enable_chunked_encoding()
        await response.prepare(request)
        body = self.body()
        for start in range(0, len(body), 4096):
            await response.write(body[start : start + 4096])
        await response.write_eof()
        return response


@pytest.fixture
async def big(request: pytest.FixtureRequest) -> AsyncIterator[tuple[BigAnswers, str]]:
    size, mode, status = request.param
    server = BigAnswers(size, mode=mode, status=status)
    runner = await serve(server.handle)
    yield server, url_of(runner)
    await runner.cleanup()


class TestResponseSize:
    @pytest.mark.parametrize(
        "big",
        [(20_000, "whole", 200), (20_000, "chunked", 200), (3_000_000, "gzip", 200)],
        indirect=True,
    )
    async def test_too_large(self, big: tuple[BigAnswers, str]) -> None:
        """A 2xx past the maximum (declared, streamed or inflated) is ResponseTooLargeError."""
        server, url = big
        async with lc.LeafSession(token="t", base_url=url, max_response_bytes=10_000) as leaf:
            with pytest.raises(lc.ResponseTooLargeError, match="10000 bytes") as caught:
                await leaf.events(lc.SENTERA, "u1")

        assert 200 == caught.value.status
        assert 10_000 == caught.value.limit
        assert 1 == server.requests
        assert isinstance(caught.value, lc.DecodeError)

    @pytest.mark.parametrize(
        "big",
        [(10_000, "whole", 200), (10_000, "chunked", 200), (10_000, "gzip", 200)],
        indirect=True,
    )
    async def test_at_the_limit(self, big: tuple[BigAnswers, str]) -> None:
        """A body of exactly max_response_bytes is read."""
        _, url = big
        async with lc.LeafSession(token="t", base_url=url, max_response_bytes=10_000) as leaf:
            with pytest.raises(lc.DecodeError, match="expected str"):
                await leaf.events(lc.SENTERA, "u1")

    @pytest.mark.parametrize(
        "big", [(20_000, "chunked", 404), (20_000, "whole", 404)], indirect=True
    )
    async def test_error_body(self, big: tuple[BigAnswers, str]) -> None:
        """A huge error body is cut at the limit and still gives the status's APIError."""
        _, url = big
        async with lc.LeafSession(token="t", base_url=url, max_response_bytes=10_000) as leaf:
            with pytest.raises(lc.NotFoundError) as caught:
                await leaf.get(lc.SENTERA, "u1")

        assert 404 == caught.value.status
        assert caught.value.body is not None
        assert caught.value.body.startswith('["aaa')

    @pytest.mark.parametrize("big", [(20_000, "gzip", 200)], indirect=True)
    async def test_connection_is_not_reused(self, big: tuple[BigAnswers, str]) -> None:
        """After a body too large, the next request still gets a whole answer."""
        server, url = big
        async with lc.LeafSession(token="t", base_url=url, max_response_bytes=10_000) as leaf:
            for _ in range(3):
                with pytest.raises(lc.ResponseTooLargeError):
                    await leaf.events(lc.SENTERA, "u1")

        assert 3 == server.requests

    async def test_applied_answers_still_count(self) -> None:
        """A DELETE answered 2xx past the maximum is done; a create's record comes from a GET."""
        huge = b"x" * 20_000

        async def handle(request: web.Request) -> web.Response:
            if request.method == "GET":
                return web.json_response(RECORD)
            return web.Response(body=huge, content_type="application/json")

        runner = await serve(handle)
        sent = {"username": "u", "password": "pw-secret", "organizationName": "o"}
        try:
            async with lc.LeafSession(
                token="t", base_url=url_of(runner), max_response_bytes=10_000
            ) as leaf:
                await leaf.delete(lc.SENTERA, "u1")  # done: no ResponseTooLargeError
                record = await leaf.create(lc.SENTERA, "u1", sent)
        finally:
            await runner.cleanup()

        assert "c1" == record.id

    async def test_default(self) -> None:
        """The default maximum is 16 MiB."""
        async with lc.LeafSession(token="t") as leaf:
            assert 16 * 1024 * 1024 == leaf.max_response_bytes

    @pytest.mark.parametrize("value", [0, -1, 1.5, True, "1000", None])
    async def test_bad_maximum(self, value: Any) -> None:
        """max_response_bytes must be a positive int."""
        with pytest.raises(lc.ValidationError, match="max_response_bytes"):
            lc.LeafSession(token="t", max_response_bytes=value)
