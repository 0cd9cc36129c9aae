"""``leaf-creds watch`` as a process: alerts in, links out, SIGTERM, kill -9 and a restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import leaf_creds as lc
from leaf_creds.repair import SQLiteStore
from leaf_creds.testing import FakeLeaf
from tests.cli_helpers import LEAF_CREDS, Cli
from tests.postgres_server import free_port
from tests.repair_helpers import SECRET, add_john_deere_app, connected_grower

# The delivery command: append the case id to a log (one write, so lines never
# interleave), then linger, so that a kill -9 finds deliveries under way.
DELIVER = """
import json, os, sys, time
delivery = json.load(sys.stdin)
assert delivery["url"].startswith("http")
line = (delivery["caseId"] + " " + delivery["kind"] + "\\n").encode()
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
os.write(fd, line)
os.close(fd)
time.sleep(float(sys.argv[2]))
"""


@pytest.fixture
async def fake() -> AsyncIterator[FakeLeaf]:
    """A fake Leaf with John Deere app keys; failed deliveries retried a few times quickly."""
    async with FakeLeaf(webhook_retry_delays=(0.2, 0.5, 1.0, 2.0, 4.0)) as started:
        add_john_deere_app(started)
        yield started


class Watcher:
    """One ``leaf-creds watch`` process, its stdout lines gathered as they come."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self.stderr = ""
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            self.lines.append(json.loads(raw))

    async def wait_for_stderr(self, text: str) -> None:
        """Read stderr until a line holds ``text``."""
        assert self.process.stderr is not None
        async with asyncio.timeout(20):
            while text not in self.stderr:
                line = await self.process.stderr.readline()
                assert line, f"watch ended: {self.stderr}"
                self.stderr += line.decode()

    async def finish(self) -> int:
        """Wait for the process to end; return its exit status."""
        assert self.process.stderr is not None
        async with asyncio.timeout(20):
            self.stderr += (await self.process.stderr.read()).decode()
            code = await self.process.wait()
            await self._reader
        return code


async def start_watch(fake: FakeLeaf, tmp_path: Path, port: int) -> Watcher:
    """Start ``leaf-creds watch`` on the fake, its store and deliveries log in tmp_path."""
    (tmp_path / "secret").write_text(SECRET)
    (tmp_path / "deliver.py").write_text(DELIVER)
    command = f"{sys.executable} {tmp_path / 'deliver.py'} {tmp_path / 'delivered.log'} 0.3"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEAF_")}
    env.update(LEAF_TOKEN=fake.token, LEAF_BASE_URL=fake.url)
    process = await asyncio.create_subprocess_exec(
        LEAF_CREDS, "watch", "--store", str(tmp_path / "cases.db"), "--port", str(port),
        "--secret-file", str(tmp_path / "secret"), "--deliver-command", command,
        "--no-audit", "--failed-calls-every", "1", "--poll", "0.2", "--lease", "2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    watcher = Watcher(process)
    await watcher.wait_for_stderr("receiving Leaf alerts")
    return watcher


def delivered(tmp_path: Path) -> Counter[str]:
    """Count the links the delivery command got, by case id."""
    log = tmp_path / "delivered.log"
    if not log.exists():
        return Counter()
    return Counter(line.split()[0] for line in log.read_text().splitlines())


async def until(check: Any, seconds: float = 20.0) -> None:
    """Wait until ``check()`` is true."""
    async with asyncio.timeout(seconds):
        while not check():  # noqa: ASYNC110 - another process's doing: nothing to wait on
            await asyncio.sleep(0.05)


class TestWatch:
    async def test_sigterm_stops_it_cleanly(self, fake: FakeLeaf, tmp_path: Path) -> None:
        """An alert becomes a case and a link (one JSON line each); SIGTERM exits 0."""
        async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
            user = await connected_grower(fake, leaf, "u1")
            port = free_port()
            watcher = await start_watch(fake, tmp_path, port)
            await leaf.register_webhook(
                name="w", url=f"http://127.0.0.1:{port}/leaf/alerts", secret=SECRET
            )
            fake.set_status(user, lc.JOHN_DEERE, "UNAUTHENTICATED")
            await until(lambda: any(line["event"] == "link-sent" for line in watcher.lines))
            watcher.process.send_signal(signal.SIGTERM)
            assert 0 == await watcher.finish()
        assert "watch: stopped" in watcher.stderr
        assert ["opened", "link-sent"] == [line["event"] for line in watcher.lines]
        expected = {"leafUserId": "u1", "provider": "john-deere", "cause": "UNAUTHENTICATED"}
        assert expected.items() <= watcher.lines[0].items()
        links = [link["link"] for link in fake.onboarding.magic_links]
        output = json.dumps(watcher.lines) + watcher.stderr
        assert [] == [link for link in links if link in output]
        assert SECRET not in output
        assert fake.token not in output

    async def test_after_kill_9_and_a_restart_no_case_is_lost_no_link_sent_twice(
        self, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """Killed mid-delivery, restarted: every case gets its link once; alerts of the gap too."""
        async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
            users = [await connected_grower(fake, leaf, f"u{i}") for i in range(15)]
            port = free_port()
            first = await start_watch(fake, tmp_path, port)
            await leaf.register_webhook(
                name="w", url=f"http://127.0.0.1:{port}/leaf/alerts", secret=SECRET
            )
            for user in users[:12]:
                fake.set_status(user, lc.JOHN_DEERE, "UNAUTHENTICATED")
            await until(lambda: len(delivered(tmp_path)) >= 1)
            first.process.kill()
            assert -signal.SIGKILL == await first.finish()
            # Broken while no watcher runs: Leaf's retries, or its failed calls, bring them.
            for user in users[12:]:
                fake.set_status(user, lc.JOHN_DEERE, "MISSING_PERMISSION")
            second = await start_watch(fake, tmp_path, port)
            await until(lambda: {"u12", "u13", "u14"} <= delivered_users(second), 30)
            await asyncio.sleep(1.0)  # time for a second link, were one to go out
            second.process.send_signal(signal.SIGTERM)
            assert 0 == await second.finish()
        async with SQLiteStore(tmp_path / "cases.db") as store:
            cases = {case.id: case async for case in store.cases()}
            attempts = await store.deliveries()
        # No case lost: all 15 in the store, each with its link begun exactly once.
        assert set(users) == {case.user_id for case in cases.values()}
        assert {1} == {case.sends for case in cases.values()}
        assert sorted(cases) == sorted(attempt.case_id for attempt in attempts)
        # No link twice: the command got each case's link at most once. One the kill
        # cut short (begun, the hook never returned) stays "sending": unknown, so it
        # is not sent again; the grower's first reminder follows on schedule.
        counts = delivered(tmp_path)
        assert {1} == set(counts.values())
        unknown = {attempt.case_id for attempt in attempts if attempt.state == "sending"}
        assert set(cases) - unknown <= set(counts)
        assert len(unknown) <= 12


def delivered_users(watcher: Watcher) -> set[str]:
    """The users whose link-sent line the watcher printed."""
    return {line["leafUserId"] for line in watcher.lines if line["event"] == "link-sent"}


class TestUsage:
    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            ([], "one of --deliver-command"),
            (["--deliver-command", "x", "--deliver-url", "http://x"], "one of"),
            (["--deliver-url", "http://x"], "--deliver-secret-file"),
            (["--deliver-command", "x", "--deliver-secret-file", "f"], "goes with"),
            (["--deliver-command", "x", "--port", "0"], "go together"),
            (["--deliver-command", "x", "--reminders", "5,1"], "reminders"),
            (["--deliver-command", "x", "--link-expires-in", "10"], "link_expires_in"),
        ],
    )
    def test_bad_usage_exits_2(self, cli: Cli, argv: list[str], message: str) -> None:
        """Missing or clashing options exit 2 before anything starts."""
        result = cli.run("watch", *argv)
        assert 2 == result.code
        assert message in result.err

    def test_an_empty_secret_file_exits_2(self, cli: Cli, tmp_path: Path) -> None:
        """An empty --deliver-secret-file is refused."""
        (tmp_path / "s").write_text("")
        result = cli.run(
            "watch", "--deliver-url", "http://127.0.0.1:9/x", "--deliver-secret-file",
            str(tmp_path / "s"),
        )  # fmt: skip
        assert 2 == result.code
        assert "is empty" in result.err
