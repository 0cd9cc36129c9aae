"""`leaf-creds alerts missed` (with --replay) and `alerts rotate-secret`, against a FakeLeaf."""

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
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf
from tests.cli_helpers import Cli

OLD = "old-webhook-secret-value"
NEW = "new-webhook-secret-value"
JD = {"clientKey": "jd-app", "clientSecret": "jd-client-secret-value",
      "refreshToken": "jd-refresh-token-value", "clientEnvironment": "STAGE"}  # fmt: skip
BIN = Path(sys.executable).parent
LEAF_CREDS = shutil.which("leaf-creds", path=str(BIN)) or str(BIN / "leaf-creds")


class Receiver:
    """A receiver of the test's own: answers 502 until told to work, then the SDK's handler."""

    def __init__(self, secrets: list[str]) -> None:
        self.broken = True
        self.alerts: list[lc.Alert] = []
        self.handler = lc.aiohttp_handler(secrets, self.on_alert)
        self.url = ""

    async def on_alert(self, alert: lc.Alert) -> None:
        self.alerts.append(alert)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if self.broken:
            return web.Response(status=502, text="<html>bad gateway</html>")
        return await self.handler(request)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    served = Receiver([OLD, NEW])
    app = web.Application()
    app.router.add_post("/leaf", served.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    served.url = f"http://127.0.0.1:{runner.addresses[0][1]}/leaf"
    yield served
    await runner.cleanup()


@pytest.fixture
async def fake() -> AsyncIterator[FakeLeaf]:
    async with FakeLeaf(webhook_retry_delays=(0.01,)) as server:
        server.add_user(id="u1")
        server.add_credential("u1", lc.JOHN_DEERE, JD)
        yield server


@pytest.fixture
def cli_secrets() -> list[str]:
    return [OLD, NEW, JD["clientSecret"], JD["refreshToken"]]


@pytest.fixture
def secrets(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old.txt", tmp_path / "new.txt"
    old.write_text(OLD + "\n")
    new.write_text(NEW + "\n")
    return old, new


async def missed_alert(fake: FakeLeaf, receiver: Receiver) -> str:
    """Register a webhook to the broken receiver and let one alert fail; return its id."""
    async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
        hook = await leaf.register_webhook(name="alerts", url=receiver.url, secret=OLD)
    fake.set_status("u1", lc.JOHN_DEERE, "UNAUTHENTICATED")
    await fake.alerts.drain()
    return hook.id


class TestMissed:
    async def test_lists_the_failed_calls(
        self, cli: Cli, fake: FakeLeaf, receiver: Receiver
    ) -> None:
        """Each failed call: when, where, why, and which alert; no body, no secret."""
        await missed_alert(fake, receiver)

        result = await cli("alerts", "missed", "--url", receiver.url)

        calls = result.json()
        alerts = [c for c in calls if c["alert"] and "credentialId" in c["alert"]]
        assert 2 == len(alerts)  # the first attempt and Leaf's retry
        assert {
            "type": "credentialsUnauthenticated",
            "status": "UNAUTHENTICATED",
        }.items() <= alerts[0]["alert"].items()
        assert ("answered 502", 502) == (alerts[0]["failure"], alerts[0]["status"])
        assert {"type": None} in [c["alert"] for c in calls]  # the confirmation
        assert 0 == result.code
        assert [] == cli.leaked()

    async def test_replay_runs_each_alert_once(
        self, cli: Cli, fake: FakeLeaf, receiver: Receiver, secrets: tuple[Path, Path]
    ) -> None:
        """--replay: the receiver takes the alert once; Leaf's retry and a rerun are duplicates."""
        await missed_alert(fake, receiver)
        receiver.broken = False
        since = "2000-01-01T00:00:00+00:00"

        first = await cli("alerts", "missed", "--since", since, "--replay", receiver.url,
                          "--secret-file", str(secrets[0]))  # fmt: skip
        again = await cli("alerts", "missed", "--replay", receiver.url,
                          "--secret-file", str(secrets[1]))  # fmt: skip

        results = [c["replay"].get("result") for c in first.json() if c["alert"].get("status")]
        assert ["accepted", "duplicate"] == results
        assert "replayed 3: 1 accepted, 1 already handled, 0 failed" in first.err
        assert ["duplicate", "duplicate"] == [
            c["replay"]["result"] for c in again.json() if c["alert"].get("status")
        ]
        credential_alerts = [a for a in receiver.alerts if isinstance(a, lc.CredentialAlert)]
        assert 1 == len(credential_alerts)
        assert (0, 0) == (first.code, again.code)
        assert [] == cli.leaked()

    async def test_a_refused_or_unreachable_replay_fails(
        self, cli: Cli, fake: FakeLeaf, receiver: Receiver, tmp_path: Path
    ) -> None:
        """A wrong secret (401) or no receiver at all: exit 1, each call says why."""
        await missed_alert(fake, receiver)
        receiver.broken = False
        wrong = tmp_path / "wrong.txt"
        wrong.write_text("not-the-secret")

        refused = await cli(
            "alerts", "missed", "--replay", receiver.url, "--secret-file", str(wrong)
        )
        down = await cli("alerts", "missed", "--replay", "http://127.0.0.1:1/x",
                         "--secret-file", str(wrong))  # fmt: skip

        assert {401} == {c["replay"]["status"] for c in refused.json()}
        assert {"could not reach the receiver: ClientConnectorError"} == {
            c["replay"]["error"] for c in down.json()
        }
        assert (1, 1) == (refused.code, down.code)

    async def test_a_call_without_a_body_is_skipped(
        self, cli: Cli, secrets: tuple[Path, Path], receiver: Receiver
    ) -> None:
        """A failed call Leaf kept no body for cannot be replayed, nor read as an alert."""
        from leaf_creds.cli._alerts import _replay, missed_json

        call = lc.FailedCall(url="https://x?token=t", connection_error="refused")
        async with aiohttp.ClientSession() as http:
            outcome = await _replay(http, receiver.url, call, OLD)
        assert {"skipped": "Leaf kept no body for this call"} == outcome
        assert {"createdAt": None, "url": "https://x", "status": None,
                "failure": "not reached: refused", "alert": None} == missed_json(call)  # fmt: skip

    async def test_a_receiver_answering_text_has_no_result(
        self, cli: Cli, fake: FakeLeaf, receiver: Receiver, secrets: tuple[Path, Path]
    ) -> None:
        """A 502 page in answer to a replay is a failure without a result."""
        await missed_alert(fake, receiver)

        result = await cli("alerts", "missed", "--replay", receiver.url,
                           "--secret-file", str(secrets[0]))  # fmt: skip

        assert {(502, None)} == {
            (c["replay"]["status"], c["replay"]["result"]) for c in result.json()
        }
        assert 1 == result.code

    @pytest.mark.parametrize(
        ("argv", "said"),
        [
            (["--replay", "http://127.0.0.1:9/x"], "--replay needs --secret-file"),
            (["--secret-file", "x"], "--secret-file is only for --replay"),
            (["--replay", "ftp://x", "--secret-file", "x"], "must be an http:// or https:// URL"),
            (["--since", "yesterday"], "not an ISO 8601 time"),
            (["--since", "2024-01-01T00:00:00"], "give the time's zone"),
        ],
    )
    async def test_bad_usage(self, cli: Cli, argv: list[str], said: str) -> None:
        """Each mistake is a usage error, exit 2, before anything is sent."""
        result = await cli("alerts", "missed", *argv)

        assert 2 == result.code
        assert said in result.err


class TestRotateSecret:
    async def test_rotates_and_prints_no_secret(
        self, cli: Cli, fake: FakeLeaf, receiver: Receiver, secrets: tuple[Path, Path]
    ) -> None:
        """The webhook is registered again with the new secret; alerts keep arriving."""
        receiver.broken = False
        async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
            hook = await leaf.register_webhook(name="alerts", url=receiver.url, secret=OLD)

        result = await cli("alerts", "rotate-secret", hook.id, "--secret-file", str(secrets[1]))
        fake.set_status("u1", lc.JOHN_DEERE, "UNAUTHENTICATED")
        await fake.alerts.drain()

        data = result.json()
        assert (hook.id, "***", []) == (
            data["replaced"],
            data["webhook"]["secret"],
            data["failedCalls"],
        )
        assert [NEW] == [w["secret"] for w in fake.alerts.webhooks]
        assert "is now" in result.err
        assert 1 == len([a for a in receiver.alerts if isinstance(a, lc.CredentialAlert)])
        assert 0 == result.code
        assert [] == cli.leaked()

    async def test_failures_in_the_gap_say_how_to_replay(
        self, cli: Cli, fake: FakeLeaf, secrets: tuple[Path, Path]
    ) -> None:
        """Failed calls to the webhook's URL since the delete are listed, with the command."""
        async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
            hook = await leaf.register_webhook(name="a", url="http://127.0.0.1:1/down", secret=OLD)
        # Deliveries end in the background: date a failure after the rotation's start instead.
        fake.advance_clock(3600)
        fake.set_status("u1", lc.JOHN_DEERE, "UNAUTHENTICATED")
        await fake.alerts.drain()

        result = await cli("alerts", "rotate-secret", hook.id, "--secret-file", str(secrets[1]))

        assert {"not reached: connection refused"} == {
            c["failure"] for c in result.json()["failedCalls"]
        }
        assert "leaf-creds alerts missed --since" in result.err

    async def test_a_failed_registration_names_the_deleted_webhook(
        self, cli: Cli, fake: FakeLeaf, secrets: tuple[Path, Path]
    ) -> None:
        """Leaf refusing the new registration: exit 1, and the note says what was deleted."""
        async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
            hook = await leaf.register_webhook(name="a", url="http://127.0.0.1:1/x", secret=OLD)
        fake.faults.add(method="POST", path="/services/alerts/api/alerts/webhooks", status=400)

        result = await cli("alerts", "rotate-secret", hook.id, "--secret-file", str(secrets[1]))

        assert 1 == result.code
        assert f"webhook {hook.id} ('a', events" in result.err
        assert "BadRequestError" in result.err
        assert [] == cli.leaked()

    async def test_bad_usage(self, cli: Cli, tmp_path: Path) -> None:
        """An empty secret file, or an id that cannot be one, is a usage error."""
        empty = tmp_path / "empty.txt"
        empty.write_text("")
        new = tmp_path / "new.txt"
        new.write_text(NEW)

        assert 2 == (await cli("alerts", "rotate-secret", "w", "--secret-file", str(empty))).code
        assert 2 == (await cli("alerts", "rotate-secret", "..", "--secret-file", str(new))).code


class TestListenWithTwoSecrets:
    async def test_takes_either_secret(self, secrets: tuple[Path, Path]) -> None:
        """The installed `alerts listen` with two --secret-file verifies deliveries of both."""
        proc = await asyncio.create_subprocess_exec(
            LEAF_CREDS, "alerts", "listen", "--port", "0",
            "--secret-file", str(secrets[0]), "--secret-file", str(secrets[1]),
            env={k: v for k, v in os.environ.items() if not k.startswith("LEAF_")},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        assert proc.stderr is not None
        url = (await proc.stderr.readline()).decode().rsplit(" ", 1)[1].strip()
        statuses = []
        async with aiohttp.ClientSession() as client:
            for number, secret in enumerate((OLD, NEW, "neither")):
                body = json.dumps({"type": "fieldCreated", "n": number}).encode()
                mac = hmac.new(secret.encode(), body, hashlib.sha256).digest()
                headers = {"X-Leaf-Signature": base64.b64encode(mac).decode()}
                async with client.post(url, data=body, headers=headers) as answer:
                    statuses.append(answer.status)
        lines: list[Any] = [json.loads(await proc.stdout.readline()) for _ in range(2)]
        proc.send_signal(signal.SIGINT)
        _, err = await proc.communicate()

        assert [200, 200, 401] == statuses
        assert [0, 1] == [line["n"] for line in lines]
        assert OLD not in err.decode()
        assert NEW not in err.decode()
