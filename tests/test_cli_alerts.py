"""`leaf-creds alerts`, run as a subprocess against a FakeLeaf in this process."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest

import leaf_creds as lc
from leaf_creds._alerts import CREDENTIALS_LIMITED_PERMISSION, CREDENTIALS_UNAUTHENTICATED
from leaf_creds.testing import FakeLeaf

BIN = Path(sys.executable).parent
LEAF_CREDS = shutil.which("leaf-creds", path=str(BIN)) or str(BIN / "leaf-creds")
SECRET = "cli-webhook-secret-value"


@attrs.frozen
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


class Cli:
    """Runs the installed `leaf-creds` against one fake Leaf, keeping every output."""

    def __init__(self, fake: FakeLeaf) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LEAF_")}
        self.env.update(LEAF_TOKEN=fake.token, LEAF_BASE_URL=fake.url)
        self.outputs: list[str] = []

    async def __call__(self, *args: str) -> Result:
        proc = await asyncio.create_subprocess_exec(
            LEAF_CREDS, *args, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
        assert proc.returncode is not None
        self.outputs += [out.decode(), err.decode()]
        return Result(proc.returncode, out.decode(), err.decode())

    def leaked(self) -> list[str]:
        return [text for text in self.outputs if SECRET in text]


def signature(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


@pytest.fixture
async def fake() -> AsyncIterator[FakeLeaf]:
    async with FakeLeaf(webhook_retry_delays=(0.01, 0.02)) as server:
        server.add_user(id="u1")
        server.add_credential(
            "u1",
            lc.SENTERA,
            lc.SenteraCredentials(username="g", password="pw-value", organization_name="Acme"),
        )
        yield server


@pytest.fixture
def cli(fake: FakeLeaf) -> Cli:
    return Cli(fake)


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret"
    path.write_text(SECRET + "\n")
    return path


class TestRegisterListDelete:
    async def test_round_trip(self, cli: Cli, fake: FakeLeaf, secret_file: Path) -> None:
        """register, list and delete a webhook; the secret is sent but never printed."""
        registered = await cli(
            "alerts", "register", "--name", "alerts", "--url", "http://127.0.0.1:9/h",
            "--secret-file", str(secret_file), "--show-secrets",
        )  # fmt: skip
        listed = await cli("alerts", "list")
        webhook = registered.json()
        deleted = await cli("alerts", "delete", webhook["id"])
        after = await cli("alerts", "list")

        assert [0, 0, 0, 0] == [r.code for r in (registered, listed, deleted, after)]
        assert "***" == webhook["secret"]
        assert [CREDENTIALS_UNAUTHENTICATED, CREDENTIALS_LIMITED_PERMISSION] == webhook[
            "events"
        ]
        assert [webhook] == listed.json()
        assert {"deleted": webhook["id"]} == deleted.json()
        assert [] == after.json()
        assert [] == cli.leaked()

    async def test_chosen_events(self, cli: Cli, fake: FakeLeaf, secret_file: Path) -> None:
        """--event picks the events; the fake stores the real secret."""
        result = await cli(
            "alerts", "register", "--name", "n", "--url", "http://127.0.0.1:9/h",
            "--secret-file", str(secret_file), "--event", "fieldCreated",
        )  # fmt: skip

        assert ["fieldCreated"] == result.json()["events"]
        (stored,) = fake.alerts.webhooks
        assert SECRET == stored["secret"]

    async def test_a_refusal_exits_1_without_the_secret(
        self, cli: Cli, secret_file: Path
    ) -> None:
        """Leaf's 400 (an event registered twice) exits 1 and prints no secret."""
        arguments = ("--url", "http://127.0.0.1:9/h", "--secret-file", str(secret_file))
        await cli("alerts", "register", "--name", "a", *arguments)
        again = await cli("alerts", "register", "--name", "b", *arguments)

        assert 1 == again.code
        assert "BadRequestError" in again.stderr
        assert [] == cli.leaked()

    @pytest.mark.parametrize(
        ("arguments", "message"),
        [
            (("--url", "ftp://x/h"), "$.url"),
            (("--url", "http://x/h", "--event", ""), "$.events[0]"),
        ],
    )
    async def test_bad_input_exits_2(
        self, cli: Cli, fake: FakeLeaf, secret_file: Path, arguments: tuple[str, ...], message: str
    ) -> None:
        """An invalid registration exits 2 and sends nothing."""
        result = await cli(
            "alerts", "register", "--name", "n", "--secret-file", str(secret_file), *arguments
        )

        assert 2 == result.code
        assert message in result.stderr
        assert 0 == fake.count("POST")

    @pytest.mark.parametrize("content", [None, "  \n"])
    async def test_a_missing_or_empty_secret_file_exits_2(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path, content: str | None
    ) -> None:
        """The secret file must exist and hold a secret."""
        path = tmp_path / "secret"
        if content is not None:
            path.write_text(content)

        result = await cli(
            "alerts", "register", "--name", "n", "--url", "http://x/h", "--secret-file", str(path)
        )

        assert 2 == result.code
        assert 0 == fake.count("POST")

    async def test_delete_of_a_missing_webhook_exits_1(self, cli: Cli) -> None:
        """Deleting an unknown id exits 1 with NotFoundError."""
        result = await cli("alerts", "delete", "no-such-webhook")

        assert 1 == result.code
        assert "NotFoundError" in result.stderr


class TestListen:
    async def test_prints_each_verified_alert(self, fake: FakeLeaf, secret_file: Path) -> None:
        """`listen` verifies deliveries, prints alerts as JSON lines, and refuses forgeries."""
        proc = await asyncio.create_subprocess_exec(
            LEAF_CREDS, "alerts", "listen", "--port", "0", "--secret-file", str(secret_file),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        assert proc.stderr is not None
        greeting = (await proc.stderr.readline()).decode()
        url = greeting.rsplit(" ", 1)[1].strip()

        async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
            await leaf.register_webhook(name="cli", url=url, secret=SECRET)
        confirmation = (await proc.stderr.readline()).decode()
        fake.set_status("u1", lc.SENTERA, "UNAUTHENTICATED")
        line = json.loads(await proc.stdout.readline())
        await fake.alerts.drain()
        forged = json.dumps({**line, "status": "OK"}).encode()
        async with (
            aiohttp.ClientSession() as client,
            client.post(url, data=forged, headers={"X-Leaf-Signature": signature(b"{}")}) as bad,
        ):
            forged_status = bad.status
        proc.send_signal(signal.SIGINT)
        rest, err = await proc.communicate()

        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/leaf/alerts")
        assert "confirmation" in confirmation
        assert CREDENTIALS_UNAUTHENTICATED == line["type"]
        assert "UNAUTHENTICATED" == line["status"]
        assert (fake.credential("u1", lc.SENTERA) or {}).get("id") == line["credentialId"]
        assert "leafUserId" not in line  # Leaf's alerts carry none
        assert 401 == forged_status
        assert b"" == rest
        assert 0 == proc.returncode
        assert SECRET not in greeting + confirmation + err.decode()

    async def test_max_age_refuses_a_replay(self, secret_file: Path) -> None:
        """With --max-age, a signed alert dated 2001 gets 400 and is not printed; a fresh one is."""
        from tests.helpers import alert_body

        proc = await asyncio.create_subprocess_exec(
            LEAF_CREDS, "alerts", "listen", "--port", "0", "--secret-file", str(secret_file),
            "--max-age", "21600", "--read-timeout", "5",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        assert proc.stderr is not None
        url = (await proc.stderr.readline()).decode().rsplit(" ", 1)[1].strip()
        fresh = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        statuses = []
        async with aiohttp.ClientSession() as client:
            for when in ("2001-09-01T00:00:00Z", fresh):
                body = alert_body(timestamp=when)
                async with client.post(
                    url, data=body, headers={"X-Leaf-Signature": signature(body)}
                ) as answer:
                    statuses.append(answer.status)
        line = json.loads(await proc.stdout.readline())
        proc.send_signal(signal.SIGINT)
        rest, _ = await proc.communicate()

        assert [400, 200] == statuses
        assert fresh == line["timestamp"]
        assert b"" == rest

    async def test_a_busy_port_exits_2(self, secret_file: Path) -> None:
        """A port already in use is a usage error."""
        from aiohttp import web

        runner = web.AppRunner(web.Application())
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            proc = await asyncio.create_subprocess_exec(
                LEAF_CREDS, "alerts", "listen", "--port", str(port),
                "--secret-file", str(secret_file),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            _, err = await proc.communicate()
        finally:
            await runner.cleanup()

        assert 2 == proc.returncode
        assert "cannot listen" in err.decode()
