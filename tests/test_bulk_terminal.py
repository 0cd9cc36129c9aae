"""Tests of bulk jobs that stop when nothing can succeed, and of resuming them."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf
from tests.cli_helpers import LEAF_VARIABLES, SECRET, Cli, sentera, write_plan

SENTERA_BODY = {"username": "grower", "password": "hunter2-secret", "organizationName": "Acme"}
FAST = lc.RetryPolicy(backoff_base=0)


def free_port() -> int:
    """Return a port on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def run(
    leaf: lc.LeafSession, operations: list[lc.Operation], concurrency: int = 4
) -> tuple[list[lc.Outcome], BaseException | None]:
    """Collect a bulk job's outcomes, and what it raised at the end."""
    outcomes: list[lc.Outcome] = []
    try:
        async with aclosing(leaf.bulk(operations, concurrency=concurrency)) as stream:
            async for outcome in stream:
                outcomes.append(outcome)
    except lc.LeafError as exc:
        return outcomes, exc
    return outcomes, None


def creates(user_ids: list[str]) -> list[lc.Operation]:
    """One Sentera create per user."""
    return [lc.Create(lc.SENTERA, user_id, SENTERA_BODY) for user_id in user_ids]


class TestRejectedToken:
    async def test_a_fixed_tokens_401_stops_the_job(self) -> None:
        """A refused fixed token stops the job after the operations in flight."""
        async with FakeLeaf() as fake:
            users = [fake.add_user().id for _ in range(200)]
            async with lc.LeafSession(token="not-a-known-token", base_url=fake.url) as leaf:
                outcomes, error = await run(leaf, creates(users))

        assert isinstance(error, lc.BulkStoppedError)
        assert ("unauthenticated", lc.AuthenticationError) == (error.reason, type(error.__cause__))
        assert error.error is error.__cause__
        assert "not-a-known-token" not in str(error)
        assert len(outcomes) <= 8
        assert len(outcomes) == len(fake.requests)
        assert all(isinstance(o.error, lc.AuthenticationError) for o in outcomes)
        assert sorted(o.index for o in outcomes) == list(range(len(outcomes)))

    async def test_a_401_that_survives_logging_in_again_stops_the_job(self) -> None:
        """A token refused even right after a new login stops the job."""
        async with FakeLeaf(token_lifetime=-1) as fake:  # every login issues an expired token
            users = [fake.add_user().id for _ in range(100)]
            async with lc.LeafSession(
                username="user@example.com", password="password", base_url=fake.url
            ) as leaf:
                outcomes, error = await run(leaf, creates(users))

        assert isinstance(error, lc.BulkStoppedError)
        assert "unauthenticated" == error.reason
        assert len(outcomes) <= 8
        assert 0 == fake.count("POST", "/sentera-credentials") - 2 * len(outcomes)

    async def test_a_failed_login_stops_the_job(self) -> None:
        """A password Leaf refuses stops the job; the password is never shown."""
        async with FakeLeaf() as fake:
            users = [fake.add_user().id for _ in range(100)]
            async with lc.LeafSession(
                username="user@example.com", password="wrong-password", base_url=fake.url
            ) as leaf:
                outcomes, error = await run(leaf, creates(users))

        assert isinstance(error, lc.BulkStoppedError)
        assert "wrong-password" not in str(error)
        assert len(outcomes) <= 8
        assert 0 == fake.count("POST", "/sentera-credentials")


class TestDeadHost:
    async def test_refused_connections_stop_the_job(self) -> None:
        """A host that refuses every connection stops the job once the retry budget is spent."""
        url = f"http://127.0.0.1:{free_port()}"
        users = [f"u{i}" for i in range(1000)]
        async with lc.LeafSession(token="t", base_url=url, retry=FAST) as leaf:
            outcomes, error = await run(leaf, creates(users))

        assert isinstance(error, lc.BulkStoppedError)
        assert ("unreachable", lc.TransportError) == (error.reason, type(error.__cause__))
        assert url in str(error)
        assert len(outcomes) < 100
        assert all(isinstance(o.error, lc.TransportError) for o in outcomes)

    async def test_refused_connections_stop_it_after_a_while_without_a_budget(self) -> None:
        """With the budget off, unreachable_after alone decides."""
        retry = lc.RetryPolicy(backoff_base=0, retry_budget=None, unreachable_after=0)
        url = f"http://127.0.0.1:{free_port()}"
        async with lc.LeafSession(token="t", base_url=url, retry=retry) as leaf:
            outcomes, error = await run(leaf, creates([f"u{i}" for i in range(100)]))

        assert isinstance(error, lc.BulkStoppedError)
        assert len(outcomes) <= 4

    async def test_a_host_that_comes_back_is_used_again(self) -> None:
        """After refused connections, a success closes the streak and a job runs to its end."""
        retry = lc.RetryPolicy(backoff_base=0, retry_budget=None, unreachable_after=0)
        port = free_port()
        async with lc.LeafSession(
            token="t", base_url=f"http://127.0.0.1:{port}", retry=retry
        ) as leaf:
            with pytest.raises(lc.TransportError):
                await leaf.get(lc.SENTERA, "u1")
            async with FakeLeaf(port=port, tokens=["t"]) as fake:
                users = [fake.add_user().id for _ in range(10)]
                for user_id in users:
                    fake.add_credential(user_id, lc.SENTERA, SENTERA_BODY)
                outcomes, error = await run(leaf, [lc.Get(lc.SENTERA, u) for u in users])

        assert (None, [True] * 10) == (error, [o.ok for o in outcomes])

    async def test_a_host_that_answers_is_not_dead(self) -> None:
        """Failures the server answers (5xx, 404) never stop a job."""
        async with FakeLeaf() as fake:
            users = [fake.add_user().id for _ in range(30)]
            fake.faults.add(status=503, probability=1.0)
            async with lc.LeafSession(
                token=fake.token, base_url=fake.url, retry=lc.RetryPolicy(max_retries=0)
            ) as leaf:
                outcomes, error = await run(leaf, [lc.Get(lc.SENTERA, u) for u in users])

        assert (None, 30) == (error, len(outcomes))
        assert all(isinstance(o.error, lc.ServerError) for o in outcomes)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment with no Leaf credentials."""
    for name in LEAF_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
async def fake() -> AsyncIterator[FakeLeaf]:
    """A fake Leaf for the command line to talk to."""
    async with FakeLeaf() as server:
        yield server


def outcome_lines(path: Path) -> list[dict[str, Any]]:
    """Read the outcome lines of a results file (not its other bookkeeping lines)."""
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [line for line in lines if "ok" in line]


class TestCommandLine:
    async def test_apply_stops_on_a_rejected_token_and_resume_finishes(
        self,
        fake: FakeLeaf,
        env: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        tmp_path: Path,
    ) -> None:
        """apply exits 1 with one line, writes only what it tried, and --resume finishes the job."""
        users = [fake.add_user().id for _ in range(60)]
        plan = write_plan(
            tmp_path / "plan.jsonl",
            [{"op": "create", "provider": "sentera", "leafUserId": u, "credentials": sentera(i)}
             for i, u in enumerate(users)],
        )  # fmt: skip
        results = tmp_path / "results.jsonl"
        cli = Cli(capsys, [SECRET, fake.token])
        env.setenv("LEAF_BASE_URL", fake.url)
        env.setenv("LEAF_TOKEN", "a-token-leaf-refuses")
        argv = ["apply", str(plan), "--out", str(results), "--resume", str(results)]

        stopped = await cli(*argv, "--concurrency", "4", "--progress", "never")
        tried = outcome_lines(results)
        env.setenv("LEAF_TOKEN", fake.token)
        finished = await cli(*argv, "--progress", "never")

        assert 1 == stopped.code
        assert ["BulkStoppedError"] == [
            word for word in stopped.err.split() if word.endswith("Error:")
            for word in [word.rstrip(":")]
        ]  # fmt: skip
        assert "a-token-leaf-refuses" not in stopped.err
        assert 0 < len(tried) <= 8
        assert all(not line["ok"] for line in tried)
        assert 0 == finished.code
        done = [line for line in outcome_lines(results) if line["ok"]]
        assert list(range(1, 61)) == sorted(line["line"] for line in done)
        assert 60 + len(tried) == fake.count("POST", "/sentera-credentials")
        assert [] == cli.leaked()

    async def test_audit_stops_on_a_rejected_token(
        self,
        fake: FakeLeaf,
        env: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
        tmp_path: Path,
    ) -> None:
        """audit of given users exits 1 with one line once the token is refused."""
        users = [fake.add_user().id for _ in range(50)]
        report = tmp_path / "report.jsonl"
        cli = Cli(capsys, [SECRET])
        env.setenv("LEAF_BASE_URL", fake.url)
        env.setenv("LEAF_TOKEN", "a-token-leaf-refuses")
        argv = ["audit", "--provider", "sentera", "--out", str(report), "--progress", "never"]
        for user_id in users:
            argv += ["--user", user_id]

        result = await cli(*argv, "--concurrency", "4")

        assert 1 == result.code
        assert "BulkStoppedError" in result.err
        assert 1 == len(result.err.strip().splitlines())
        assert len(report.read_text().splitlines()) <= 8
        # The users are looked up first: that stops at the refusal too, with
        # at most one lookup per slot, not one per --user.
        assert fake.count("GET") <= 8
