"""In-process tests of `leaf-creds`: `main(argv)` against a FakeLeaf, where coverage can see it.

`main` runs its own event loop (asyncio.run), so async tests call it in a
worker thread while the FakeLeaf serves on the test's loop. Commands that run
until interrupted (`fake-server`, `alerts listen`) run in the main thread of a
sync test and are stopped by a real SIGINT, sent once their port answers.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import queue
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import leaf_creds as lc
from leaf_creds._alerts import CREDENTIALS_LIMITED_PERMISSION, CREDENTIALS_UNAUTHENTICATED
from leaf_creds.cli import main
from leaf_creds.testing import FakeLeaf
from tests.cli_helpers import LEAF_VARIABLES, SECRET, Cli, cnhi, creates, sentera, write_plan


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in LEAF_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
async def fake() -> AsyncIterator[FakeLeaf]:
    async with FakeLeaf() as server:
        yield server


@pytest.fixture
def cli(fake: FakeLeaf, bare_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    bare_env.setenv("LEAF_TOKEN", fake.token)
    bare_env.setenv("LEAF_BASE_URL", fake.url)
    return Cli(capsys, [SECRET, fake.token])


@pytest.fixture
def offline(bare_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """A CLI with no credentials in the environment, for commands that send nothing."""
    return Cli(capsys, [SECRET])


def shard_of(user_id: str, count: int) -> int:
    """The documented shard rule, computed here independently of the CLI."""
    return int.from_bytes(hashlib.sha256(user_id.encode()).digest()[:8], "big") % count


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def listening(port: int) -> bool:
    """Wait until 127.0.0.1:port accepts a connection; False if it never does."""
    for _ in range(500):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.02)
            continue
        writer.close()
        await writer.wait_closed()
        return True
    return False


class Interrupter(threading.Thread):
    """Once `port` listens, runs `script` on its own loop, then sends SIGINT to the main thread.

    No signal is sent when the port never listens: then the command has
    already returned, and a stray SIGINT would hit pytest itself.
    """

    def __init__(self, port: int, script: Callable[[str], Awaitable[Any]] | None = None) -> None:
        super().__init__(name="interrupter", daemon=True)
        self._port = port
        self._script = script
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        async def go() -> bool:
            if not await listening(self._port):
                return False
            try:
                if self._script is not None:
                    self.result = await self._script(f"http://127.0.0.1:{self._port}")
            except BaseException as exc:
                self.error = exc
            return True

        if asyncio.run(go()):
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)


class TestArguments:
    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["apply", "p.jsonl", "--concurrency", "x"], "not an integer: 'x'"),
            (["apply", "p.jsonl", "--rate", "0"], "must be a positive number, got 0"),
            (["apply", "p.jsonl", "--rate", "fast"], "not a number: 'fast'"),
            (["get", "sentera", "u1", "--timeout", "inf"], "must be a positive number, got inf"),
            (["--timeout", "nan", "providers"], "must be a positive number, got nan"),
            ([], "required: COMMAND"),
        ],
    )
    def test_bad_values_exit_2(self, offline: Cli, argv: list[str], message: str) -> None:
        """An option value argparse refuses exits 2, and stderr says what is wrong with it."""
        result = offline.run(*argv)

        assert 2 == result.code
        assert message in result.err
        assert "" == result.out


class TestProviders:
    def test_optional_fields_show_their_defaults(self, offline: Cli) -> None:
        """`providers` gives each optional create field its default as plain JSON."""
        result = offline.run("providers")

        providers = {p["slug"]: {f["name"]: f for f in p["fields"]} for p in result.json()}
        assert 0 == result.code
        assert {"name": "clientEnvironment", "required": False, "secret": False,
                "default": "STAGE"} == providers["claas"]["clientEnvironment"]  # fmt: skip
        assert (True, None) == (
            providers["ag-leader"]["accessToken"]["secret"],
            providers["ag-leader"]["accessToken"]["default"],
        )
        assert "default" not in providers["sentera"]["password"]


class TestAuth:
    async def test_token_file(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path, bare_env: pytest.MonkeyPatch
    ) -> None:
        """--token-file authenticates (its trailing newline stripped) and wins over the env."""
        user = fake.add_user().id
        fake.add_credential(user, "sentera", sentera())
        token_file = tmp_path / "token"
        token_file.write_text(fake.token + "\n")
        bare_env.setenv("LEAF_TOKEN", "not-a-valid-token")

        result = await cli("get", "sentera", user, "--token-file", str(token_file))

        assert 0 == result.code
        assert "grower0" == result.json()["result"]["username"]
        assert [] == cli.leaked()

    async def test_username_and_password(
        self, cli: Cli, fake: FakeLeaf, bare_env: pytest.MonkeyPatch
    ) -> None:
        """LEAF_USERNAME and LEAF_PASSWORD log in once, and the password is never printed."""
        user = fake.add_user().id
        fake.add_credential(user, "cnhi", cnhi())
        bare_env.delenv("LEAF_TOKEN")
        bare_env.setenv("LEAF_USERNAME", "user@example.com")
        bare_env.setenv("LEAF_PASSWORD", "password")

        result = await cli("get", "cnhi", user)

        assert 0 == result.code
        assert 1 == fake.count("POST", "/api/authenticate")
        assert "***" == result.json()["result"]["clientSecret"]
        assert [] == cli.leaked()

    async def test_a_refused_login_exits_1(
        self, cli: Cli, fake: FakeLeaf, bare_env: pytest.MonkeyPatch
    ) -> None:
        """A wrong password is the operation's failure (exit 1), and is not printed."""
        bare_env.delenv("LEAF_TOKEN")
        bare_env.setenv("LEAF_USERNAME", "user@example.com")
        bare_env.setenv("LEAF_PASSWORD", SECRET)

        result = await cli("get", "sentera", fake.add_user().id)

        assert 1 == result.code
        assert 401 == result.json()["error"]["status"]
        assert [] == cli.leaked()

    @pytest.mark.parametrize(
        ("env", "argv", "message"),
        [
            ({}, [], "no credentials: set LEAF_TOKEN"),
            ({"LEAF_USERNAME": "user@example.com"}, [], "set both LEAF_USERNAME and LEAF_PASSWORD"),
            ({"LEAF_PASSWORD": SECRET}, [], "set both LEAF_USERNAME and LEAF_PASSWORD"),
            ({}, ["--token-file", "/nonexistent/token"], "cannot read --token-file"),
            ({}, ["--token-file", "EMPTY"], "is empty"),
            ({"LEAF_TOKEN": "t"}, ["--base-url", "ftp://leaf.example"], "absolute https:// URL"),
            ({"LEAF_TOKEN": "t"}, ["--base-url", "http://leaf.example"], "allow_http"),
        ],
    )
    def test_bad_auth_exits_2(
        self,
        offline: Cli,
        bare_env: pytest.MonkeyPatch,
        tmp_path: Path,
        env: dict[str, str],
        argv: list[str],
        message: str,
    ) -> None:
        """Missing or unusable credentials and a bad base URL exit 2 before any request."""
        for name, value in env.items():
            bare_env.setenv(name, value)
        empty = tmp_path / "empty"
        empty.write_text("\n")
        argv = [str(empty) if arg == "EMPTY" else arg for arg in argv]

        result = offline.run("get", "sentera", "u1", *argv)

        assert 2 == result.code
        assert message in result.err
        assert [] == offline.leaked()


class TestSingleCommands:
    async def test_round_trip(self, cli: Cli, fake: FakeLeaf, tmp_path: Path) -> None:
        """create --from FILE, get (masked, then --show-secrets), events and delete all exit 0."""
        user = fake.add_user().id
        body = tmp_path / "cnhi.json"
        body.write_text(json.dumps(cnhi()))

        created = await cli("create", "cnhi", user, "--from", str(body))
        masked = await cli("get", "cnhi", user)
        events = await cli("events", "cnhi", user)
        shown = await cli("get", "cnhi", user, "--show-secrets")
        leaked = cli.leaked()
        deleted = await cli("delete", "cnhi", user)

        assert [0] * 5 == [r.code for r in (created, masked, events, shown, deleted)]
        assert ("create", "***") == (created.json()["op"], created.json()["result"]["clientSecret"])
        assert ("client0", "***", "***") == (
            masked.json()["result"]["clientId"],
            masked.json()["result"]["refreshToken"],
            masked.json()["result"]["subscriptionKey"],
        )
        # the create's event and the get's
        assert [200, 200] == [e["statusCode"] for e in events.json()["result"]["events"]]
        assert f"{SECRET}-cs0" == shown.json()["result"]["clientSecret"]
        assert [shown.out] == leaked
        assert {} == deleted.json()["result"]
        assert fake.credential(user, "cnhi") is None

    async def test_create_from_stdin(
        self, cli: Cli, fake: FakeLeaf, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`create --from -` reads the body from standard input."""
        user = fake.add_user().id
        monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(cnhi())))

        result = await cli("create", "cnhi", user, "--from", "-")

        assert 0 == result.code
        stored = fake.credential(user, "cnhi")
        assert stored is not None
        assert f"{SECRET}-cs0" == stored["clientSecret"]
        assert [] == cli.leaked()

    async def test_a_failed_operation_exits_1(self, cli: Cli, fake: FakeLeaf) -> None:
        """A 404 is printed as the outcome's error, summarised on stderr, and exits 1."""
        result = await cli("delete", "sentera", fake.add_user().id)

        assert 1 == result.code
        assert (False, "NotFoundError") == (result.json()["ok"], result.json()["error"]["type"])
        assert result.err.startswith("leaf-creds delete: failed: ")

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ('{"username": ', "not JSON (Expecting value at line 1)"),
            ("[1, 2]", "expected a JSON object, got list"),
            (json.dumps({"username": "g", "password": SECRET}), "$.organizationName"),
        ],
    )
    async def test_bad_body_exits_2(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path, body: str, message: str
    ) -> None:
        """A body that is not JSON, not an object, or not valid exits 2 and sends nothing."""
        path = tmp_path / "body.json"
        path.write_text(body)

        result = await cli("create", "sentera", fake.add_user().id, "--from", str(path))

        assert 2 == result.code
        assert message in result.err
        assert [] == fake.requests
        assert [] == cli.leaked()


class TestApply:
    async def test_out_rate_and_concurrency(self, cli: Cli, fake: FakeLeaf, tmp_path: Path) -> None:
        """Outcomes go to --out (stdout stays empty), one per line, and the summary to stderr."""
        entries = creates(fake, 3)
        user = entries[0]["leafUserId"]
        entries += [
            {"op": "get", "provider": "sentera", "leafUserId": user},
            {"op": "events", "provider": "sentera", "leafUserId": user},
            {"op": "replace", "provider": "cnhi", "leafUserId": user, "credentials": cnhi()},
        ]
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        out = tmp_path / "results.jsonl"

        result = await cli(
            "apply", str(plan), "--out", str(out), "--concurrency", "2", "--rate", "1000"
        )

        lines = {line["line"]: line for line in map(json.loads, out.read_text().splitlines())}
        assert 0 == result.code
        assert "" == result.out
        assert [True] * 6 == [lines[n]["ok"] for n in range(1, 7)]
        assert ["create", "create", "create", "get", "events", "replace"] == [
            lines[n]["op"] for n in range(1, 7)
        ]
        assert "***" == lines[6]["result"]["clientSecret"]
        assert "apply: 6 ok, 0 failed in " in result.err
        assert [] == cli.leaked()

    async def test_failure_exits_1_with_the_bar_on_stderr(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """--progress always draws the bar on stderr; stdout holds only outcome lines."""
        entries = creates(fake, 2)
        entries.append({"op": "delete", "provider": "sentera", "leafUserId": "no-such-user"})
        plan = write_plan(tmp_path / "plan.jsonl", entries)

        result = await cli("apply", str(plan), "--progress", "always")

        lines = {line["line"]: line for line in result.lines()}
        assert 1 == result.code
        assert {1: True, 2: True, 3: False} == {n: line["ok"] for n, line in lines.items()}
        assert "━" in result.err
        assert "3/3" in result.err
        assert "1 failed" in result.err
        assert "━" not in result.out
        assert "apply: 2 ok, 1 failed in " in result.err

    async def test_every_bad_line_listed_and_nothing_sent(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """Each kind of bad line is reported with its number; exit 2 before any request."""
        good = creates(fake, 1)[0]
        user = good["leafUserId"]
        long_provider = "x" * 60
        plan = write_plan(
            tmp_path / "plan.jsonl",
            [
                good,
                '{"op": "create", "credentials": {"password": "' + SECRET + '"',
                '"just a string"',
                {"op": "get", "provider": "sentera", "leafUserId": user, "extra": 1},
                {"op": "upsert", "provider": "sentera", "leafUserId": user},
                {"op": "get", "provider": "sentera", "leafUserId": ".."},
                {"op": "get", "provider": long_provider, "leafUserId": user},
                {"op": "create", "provider": "sentera", "leafUserId": user},
                {"op": "replace", "provider": "cnhi", "leafUserId": user,
                 "credentials": {**cnhi(), "clientEnvironment": 5}},
                {"op": "events", "provider": "sentera", "leafUserId": user, "credentials": {}},
                "   ",
                {"op": "create", "provider": "nope", "leafUserId": user, "credentials": {}},
                good,
            ],
        )  # fmt: skip

        result = await cli("apply", str(plan))

        prefix = f"{plan}:"
        reported = {
            int(number): message
            for number, message in (
                line[len(prefix) :].split(": ", 1)
                for line in result.err.splitlines()
                if line.startswith(prefix)
            )
        }
        assert 2 == result.code
        assert [2, 3, 4, 5, 6, 7, 8, 9, 10, 12] == sorted(reported)
        assert reported[2].startswith("not JSON")
        assert "expected a JSON object, got str" == reported[3]
        assert "unknown key 'extra'" == reported[4]
        assert reported[5].startswith(
            'op must be one of create, replace, delete, get, events, got "upsert"'
        )
        assert reported[6].startswith("leafUserId: ")
        assert f'unknown provider "{"x" * 36}...' == reported[7]
        assert "create needs credentials" == reported[8]
        assert "$.clientEnvironment" in reported[9]
        assert "events takes no credentials" == reported[10]
        assert 'unknown provider "nope"' == reported[12]
        assert "10 bad line(s)" in result.err
        assert "" == result.out
        assert [] == fake.requests
        assert [] == cli.leaked()

    async def test_dry_run_counts_done_lines_and_shards(
        self, offline: Cli, tmp_path: Path
    ) -> None:
        """--dry-run with --resume and --shard counts lines done, in other shards, and to run."""
        users = [f"user-{i}" for i in range(8)]
        plan = write_plan(
            tmp_path / "plan.jsonl",
            [{"op": "delete", "provider": "sentera", "leafUserId": u} for u in users],
        )
        results = tmp_path / "results.jsonl"
        results.write_text(
            '{"line": 1, "ok": true}\n{"line": 1, "ok": true}\n{"line": 2, "ok": false}\n'
            'not json\n[1]\n\n'
            '{"line": 0, "ok": true}\n{"line": 3, "ok": tr'
        )
        rest = users[1:]
        mine = sum(shard_of(u, 2) == 1 for u in rest)

        result = offline.run(
            "apply", str(plan), "--dry-run", "--resume", str(results), "--shard", "1/2"
        )

        assert 0 == result.code
        assert {
            "lines": 8, "selected": mine, "alreadyDone": 1, "otherShards": 7 - mine,
            "byOp": {"delete": mine} if mine else {},
        } == result.json()  # fmt: skip
        # not json, [1], line 0 (no such plan line) and the cut-off last line
        assert "4 unreadable line(s)" in result.err
        assert f"8 line(s) valid, {mine} would run" in result.err

    async def test_resume_settles_creates_and_appends(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A resume skips done lines, records landed creates, takes a gone delete as ok."""
        entries = creates(fake, 3)
        entries.append({"op": "delete", "provider": "sentera", "leafUserId": fake.add_user().id})
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        landed = entries[1]
        fake.add_credential(landed["leafUserId"], "sentera", landed["credentials"])
        results = tmp_path / "results.jsonl"
        first = json.dumps({"line": 1, "op": "create", "ok": True}) + "\n"
        results.write_text(first + '{"line": 3, "ok": tr')  # the killed run's half line

        result = await cli(
            "apply", str(plan), "--resume", str(results), "--out", str(results),
            "--progress", "always",
        )  # fmt: skip

        text = results.read_text()
        written = [json.loads(line) for line in text.splitlines()[2:]]
        written = [line for line in written if "ok" in line]  # not the "started" lines
        assert 0 == result.code, result.err
        assert text.startswith(first + '{"line": 3, "ok": tr\n')
        assert {2: True, 3: True, 4: True} == {line["line"]: line["ok"] for line in written}
        assert 1 == fake.count("POST", "-credentials")
        assert "1 unreadable line(s)" in result.err
        assert "1 create(s) of the interrupted run had been applied" in result.err
        assert "resume check" in result.err
        assert "apply: 3 ok, 0 failed, 1 already done in " in result.err
        assert [] == cli.leaked()

    async def test_missing_resume_file_and_a_shard(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A --resume file not there yet means nothing is done; --shard runs only its own lines."""
        entries = creates(fake, 6)
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        results = tmp_path / "results.jsonl"
        mine = [n for n, e in enumerate(entries, 1) if shard_of(e["leafUserId"], 2) == 0]

        result = await cli(
            "apply", str(plan), "--resume", str(results), "--out", str(results), "--shard", "0/2"
        )

        lines = [json.loads(line) for line in results.read_text().splitlines()]
        assert 0 == result.code
        assert mine == sorted(line["line"] for line in lines if "ok" in line)
        assert len(mine) == fake.count("POST", "-credentials")
        assert f", 0 already done, {6 - len(mine)} in other shards in " in result.err

    async def test_unreadable_resume_file_exits_2(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A --resume path that exists but cannot be read exits 2 before any request."""
        plan = write_plan(tmp_path / "plan.jsonl", creates(fake, 1))

        result = await cli("apply", str(plan), "--resume", str(tmp_path))

        assert 2 == result.code
        assert f"cannot read the results {tmp_path}" in result.err
        assert [] == fake.requests

    async def test_unwritable_out_exits_2(self, cli: Cli, fake: FakeLeaf, tmp_path: Path) -> None:
        """An --out that cannot be opened exits 2 before any request."""
        plan = write_plan(tmp_path / "plan.jsonl", creates(fake, 1))

        result = await cli("apply", str(plan), "--out", str(tmp_path / "no" / "such" / "dir"))

        assert 2 == result.code
        assert "cannot write" in result.err
        assert [] == fake.requests

    async def test_plan_changed_while_running(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A line that no longer parses in the run exits 2; outcomes already done are written."""
        user = fake.add_user().id
        get = {"op": "get", "provider": "sentera", "leafUserId": user}
        # The padding keeps line 3 out of the reader's first buffer, so the
        # change made while line 1 is held by the fake is what the run reads.
        padded = json.dumps(get).replace(", ", "," + " " * (1 << 20), 1)
        plan = write_plan(tmp_path / "plan.jsonl", [get, padded, get])
        third = plan.read_text().rindex("{")
        fake.faults.add(method="GET", delay=0.5, times=1)

        run = asyncio.ensure_future(cli("apply", str(plan), "--concurrency", "1"))
        for _ in range(1000):  # until line 1 is held by the fake
            if fake.requests or run.done():
                break
            await asyncio.sleep(0.01)
        with plan.open("r+") as changed:
            changed.seek(third)
            changed.write("[3]")
        result = await run

        assert 2 == result.code
        assert f"{plan}:3: the plan changed while it ran" in result.err
        assert [1, 2] == sorted(line["line"] for line in result.lines())


class TestAudit:
    async def test_events_of_unhealthy_credentials(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """--events adds the log of each credential not OK; the table and bar go to stderr."""
        users = [fake.add_user().id for _ in range(4)]
        for i, user in enumerate(users[:3]):
            fake.add_credential(user, "sentera", sentera(i))
        fake.set_status(users[1], "sentera", "UNAUTHENTICATED")
        fake.set_status(users[2], "sentera", "BRAND_NEW_STATUS")
        report = tmp_path / "report.jsonl"

        result = await cli(
            "audit", "--provider", "sentera", "--events", "--out", str(report),
            "--progress", "always",
        )  # fmt: skip

        written = map(json.loads, report.read_text().splitlines())
        lines = {line["leafUserId"]: line for line in written}
        assert 0 == result.code
        assert "" == result.out
        assert ["OK", "UNAUTHENTICATED", "BRAND_NEW_STATUS", "NO_CREDENTIAL"] == [
            lines[user]["status"] for user in users
        ]
        # the create, the status change, and the audit's own GET
        assert [200, 401, 200] == [e["statusCode"] for e in lines[users[1]]["events"]]
        assert "events" not in lines[users[0]]
        assert "events" not in lines[users[3]]
        header = next(line for line in result.err.splitlines() if "┃ provider" in line)
        columns = [cell.strip() for cell in header.split("┃") if cell.strip()]
        assert ["provider", "OK", "UNAUTHENTICATED", "BRAND_NEW_STATUS", "NO_CREDENTIAL"] == columns
        assert "━" in result.err

    async def test_unreadable_credentials_exit_1(self, cli: Cli, fake: FakeLeaf) -> None:
        """A GET or an events log that fails is reported in its line, counted, and exits 1."""
        ok, forbidden, broken = (fake.add_user().id for _ in range(3))
        fake.add_user()  # not audited: only the --user ids are
        fake.add_credential(broken, "sentera", sentera())
        fake.set_status(broken, "sentera", "UNAUTHENTICATED")
        fake.faults.add(path=f"/users/{forbidden}/*", status=403, probability=1.0)
        fake.faults.add(path="*/events", status=400, probability=1.0)

        result = await cli(
            "audit", "--user", ok, "--user", forbidden, "--user", broken,
            "--provider", "sentera", "--events", "--concurrency", "2", "--timeout", "5",
        )  # fmt: skip

        lines = {line["leafUserId"]: line for line in result.lines()}
        assert 1 == result.code
        assert {ok: "NO_CREDENTIAL", forbidden: "ERROR", broken: "UNAUTHENTICATED"} == {
            user: line["status"] for user, line in lines.items()
        }
        assert ("PermissionDeniedError", 403) == (
            lines[forbidden]["error"]["type"], lines[forbidden]["error"]["status"]
        )
        assert ("BadRequestError", 400) == (
            lines[broken]["eventsError"]["type"], lines[broken]["eventsError"]["status"]
        )
        assert "audit: 2 credentials could not be read" in result.err

    async def test_without_rich(
        self, cli: Cli, fake: FakeLeaf, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without rich, --progress always draws no bar and the table is plain text."""
        for name in ("rich", "rich.console", "rich.progress", "rich.table"):
            monkeypatch.setitem(sys.modules, name, None)
        users = [fake.add_user().id for _ in range(12)]
        fake.add_credential(users[0], "sentera", sentera())
        fake.add_credential(users[1], "sentera", sentera(1))
        fake.set_status(users[1], "sentera", "UNAUTHENTICATED")

        result = await cli("audit", "--provider", "sentera", "--progress", "always")

        assert 0 == result.code
        assert [
            "provider  OK  UNAUTHENTICATED  NO_CREDENTIAL",
            "sentera    1                1             10",
        ] == result.err.splitlines()


class TestDemo:
    def test_every_operation_ok(
        self, offline: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The demo, in a new temporary directory, ends with every operation ok and no leak."""
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

        result = offline.run(
            "demo", "--users", "30", "--seed", "3", "--progress", "always", "--keep"
        )

        summary = result.json()
        workdir = Path(summary["workdir"])
        secrets = {
            value
            for line in (workdir / "plan.jsonl").read_text().splitlines()
            for key, value in json.loads(line)["credentials"].items()
            if key in {"password", "clientSecret", "subscriptionKey", "refreshToken"}
        }
        assert 0 == result.code, result.err
        assert tmp_path == workdir.parent
        assert (60, 60, 0, 60, 0, 0) == (
            summary["operations"], summary["ok"], summary["failed"],
            summary["credentialsStored"], summary["createsSentTwice"], summary["auditFailures"],
        )  # fmt: skip
        assert 0 < summary["faultsInjected"]
        assert "━" in result.err
        assert "demo: every operation ended ok" in result.err
        assert 30 + 3 * 30 == len(secrets)
        assert [] == [s for s in secrets if s in result.out + result.err]


class TestAlerts:
    async def test_register_list_delete(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """Webhooks are registered, listed and deleted; the secret never shows, even when asked."""
        secret_file = tmp_path / "secret"
        secret_file.write_text(SECRET + "\n")

        registered = await cli(
            "alerts", "register", "--name", "n", "--url", "http://127.0.0.1:9/hook",
            "--secret-file", str(secret_file), "--show-secrets",
        )  # fmt: skip
        webhook = registered.json()
        listed = await cli("alerts", "list")
        deleted = await cli("alerts", "delete", webhook["id"])
        again = await cli("alerts", "delete", webhook["id"])

        assert [0, 0, 0, 1] == [r.code for r in (registered, listed, deleted, again)]
        assert "***" == webhook["secret"]
        assert [CREDENTIALS_UNAUTHENTICATED, CREDENTIALS_LIMITED_PERMISSION] == webhook["events"]
        assert [webhook] == listed.json()
        assert {"deleted": webhook["id"]} == deleted.json()
        assert again.err.startswith("leaf-creds alerts: NotFoundError: ")
        assert [] == fake.alerts.webhooks
        assert [] == cli.leaked()

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["register", "--name", "n", "--url", "ftp://x/h", "--secret-file", "SECRET"],
             "$.url"),
            (["register", "--name", "n", "--url", "http://x/h", "--secret-file", "/nonexistent"],
             "cannot read --secret-file /nonexistent: No such file or directory"),
            (["register", "--name", "n", "--url", "http://x/h", "--secret-file", "EMPTY"],
             "is empty"),
            (["delete", ".."], "'..' is not a valid webhook id"),
            (["listen", "--port", "0", "--secret-file", "SECRET", "--path", "hook"],
             "--path must start with /"),
        ],
    )  # fmt: skip
    async def test_bad_input_exits_2(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path, argv: list[str], message: str
    ) -> None:
        """Invalid registrations, ids, secret files and paths exit 2 and send nothing."""
        (tmp_path / "secret").write_text(SECRET)
        (tmp_path / "empty").write_text(" \n")
        files = {"SECRET": str(tmp_path / "secret"), "EMPTY": str(tmp_path / "empty")}

        result = await cli("alerts", *(files.get(arg, arg) for arg in argv))

        assert 2 == result.code
        assert message in result.err
        assert [] == fake.requests
        assert [] == cli.leaked()

    def test_listen_prints_verified_alerts(self, offline: Cli, tmp_path: Path) -> None:
        """`listen` acknowledges the confirmation and prints each alert Leaf signs, until Ctrl-C."""
        secret_file = tmp_path / "secret"
        secret_file.write_text(SECRET)
        port = free_port()

        async def leaf_sends_alerts(base: str) -> list[int | None]:
            async with FakeLeaf(webhook_retry_delays=()) as fake:
                fake.add_user(id="u1")
                fake.add_credential("u1", "sentera", sentera())
                async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
                    await leaf.register_webhook(name="cli", url=base + "/hook", secret=SECRET)
                await fake.alerts.drain()
                fake.set_status("u1", "sentera", "UNAUTHENTICATED")
                await fake.alerts.drain()
                async with aiohttp.ClientSession() as client, client.post(
                    base + "/hook", data=b"{}", headers={"X-Leaf-Signature": "forged"}
                ) as forged:
                    return [d.status for d in fake.alerts.deliveries] + [forged.status]

        leaf = Interrupter(port, leaf_sends_alerts)
        leaf.start()
        result = offline.run(
            "alerts", "listen", "--port", str(port), "--secret-file", str(secret_file),
            "--path", "/hook",
        )  # fmt: skip
        leaf.join()

        assert leaf.error is None
        assert [200, 200, 401] == leaf.result
        assert 0 == result.code
        [alert] = result.lines()
        assert (CREDENTIALS_UNAUTHENTICATED, "UNAUTHENTICATED", "Sentera", "grower0") == (
            alert["type"], alert["status"], alert["provider"], alert["credential"]
        )
        assert "leafUserId" not in alert  # Leaf's alerts carry none
        assert f"receiving Leaf alerts on http://127.0.0.1:{port}/hook" in result.err
        assert "webhook confirmation received" in result.err
        assert [] == offline.leaked()

    def test_listen_on_a_busy_port_exits_2(self, offline: Cli, tmp_path: Path) -> None:
        """A port already taken is a usage error."""
        secret_file = tmp_path / "secret"
        secret_file.write_text(SECRET)
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]

            result = offline.run(
                "alerts", "listen", "--port", str(port), "--secret-file", str(secret_file)
            )

        assert 2 == result.code
        assert f"cannot listen on 127.0.0.1:{port}" in result.err


class TestFakeServer:
    def test_serves_until_interrupted(self, offline: Cli) -> None:
        """`fake-server` serves the fake API (refusing requests without a token) until Ctrl-C."""
        port = free_port()

        async def unauthenticated(base: str) -> int:
            async with aiohttp.ClientSession() as client, client.get(
                base + "/services/usermanagement/api/users"
            ) as response:
                return response.status

        client = Interrupter(port, unauthenticated)
        client.start()
        result = offline.run("fake-server", "--port", str(port))
        client.join()

        assert (None, 401) == (client.error, client.result)
        assert 0 == result.code
        assert f"Fake Leaf API listening on http://127.0.0.1:{port}" in result.err
        # The default account's password is the fake's own, printed on purpose (issue 12).
        assert 'user@example.com (password "password": the fake\'s default' in result.err

    def test_a_busy_port_exits_2(self, offline: Cli) -> None:
        """A port already taken is a usage error."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]

            result = offline.run("fake-server", "--port", str(port))

        assert 2 == result.code
        assert f"cannot listen on 127.0.0.1:{port}" in result.err


class TestInterruptions:
    def test_ctrl_c_exits_130(self, offline: Cli, bare_env: pytest.MonkeyPatch) -> None:
        """Ctrl-C during a request stops the command with exit 130 and a short message."""
        where: queue.Queue[tuple[str, str]] = queue.Queue()
        finished = threading.Event()
        errors: list[BaseException] = []

        async def stalled_leaf() -> None:
            async with FakeLeaf() as fake:
                fake.faults.add(delay=30, probability=1.0)
                where.put((fake.url, fake.token))
                for _ in range(1000):  # until the request is stalled in the fake
                    if fake.requests:
                        break
                    await asyncio.sleep(0.01)
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
                await asyncio.to_thread(finished.wait, 10)

        def serve() -> None:
            try:
                asyncio.run(stalled_leaf())
            except BaseException as exc:
                errors.append(exc)

        leaf = threading.Thread(target=serve, daemon=True)
        leaf.start()
        url, token = where.get(timeout=10)
        bare_env.setenv("LEAF_BASE_URL", url)
        bare_env.setenv("LEAF_TOKEN", token)
        try:
            result = offline.run("get", "sentera", "u1")
        finally:
            finished.set()
            leaf.join()

        assert [] == errors
        assert 130 == result.code
        assert "leaf-creds: interrupted" in result.err
        assert "" == result.out

    def test_closed_stdout_exits_1_quietly(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """When the reader of stdout goes away (`| head`), the command stops with exit 1."""

        class ClosedPipe(io.StringIO):
            def write(self, text: str) -> int:
                raise BrokenPipeError(32, "Broken pipe")

        monkeypatch.setattr(sys, "stdout", ClosedPipe())

        code = main(["providers"])

        replaced = sys.stdout
        replaced.close()  # main swapped in os.devnull; the test owns it now
        assert 1 == code
        assert os.devnull == getattr(replaced, "name", None)
        assert "" == capsys.readouterr().err


class TestModule:
    async def test_python_dash_m(self) -> None:
        """`python -m leaf_creds.cli` runs the command line."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "leaf_creds.cli", "providers",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()

        assert 0 == proc.returncode, err.decode()
        assert {"sentera", "cnhi"} <= {p["slug"] for p in json.loads(out)}


class TestApplyReviewFindings:
    async def test_resume_does_not_claim_someone_elses_credential(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A create that met another stored credential stays failed on --resume; nothing changes."""
        (entry,) = creates(fake, 1)
        user = entry["leafUserId"]
        fake.add_credential(user, lc.SENTERA, {**sentera(9), "username": "someone-else"})
        plan = write_plan(tmp_path / "plan.jsonl", [entry])
        results = tmp_path / "results.jsonl"

        first = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))
        again = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))

        outcomes = [json.loads(line) for line in results.read_text().splitlines()]
        outcomes = [line for line in outcomes if "ok" in line]  # not the "started" lines
        assert (1, 1) == (first.code, again.code)
        assert [False, False] == [o["ok"] for o in outcomes]
        assert ["ConflictError"] * 2 == [o["error"]["type"] for o in outcomes]
        stored = fake.credential(user, lc.SENTERA)
        assert stored is not None
        assert "someone-else" == stored["username"]

    async def test_out_must_not_be_the_plan(self, cli: Cli, fake: FakeLeaf, tmp_path: Path) -> None:
        """--out naming the plan file is bad usage: exit 2, the plan intact, nothing sent."""
        plan = write_plan(tmp_path / "plan.jsonl", creates(fake, 2))
        before = plan.read_text()

        result = await cli("apply", str(plan), "--out", str(plan))

        assert 2 == result.code
        assert "--out must not be the plan file" in result.err
        assert before == plan.read_text()
        assert 0 == fake.count("POST", "-credentials")

    async def test_unhashable_op_is_a_listed_bad_line(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """An op that is a list or an object is reported like any bad line: exit 2."""
        good = creates(fake, 1)[0]
        plan = write_plan(
            tmp_path / "plan.jsonl",
            [good, {**good, "op": ["create"]}, {**good, "op": {"x": 1}}],
        )

        result = await cli("apply", str(plan), "--dry-run")

        assert 2 == result.code
        assert f"{plan}:2: op must be one of" in result.err
        assert f"{plan}:3: op must be one of" in result.err
        assert "Traceback" not in result.err

    async def test_resume_ignores_line_numbers_past_the_plan(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A results line numbered past the plan is unreadable, not a bitmap of any size."""
        plan = write_plan(tmp_path / "plan.jsonl", creates(fake, 1))
        results = tmp_path / "results.jsonl"
        results.write_text(json.dumps({"line": 10**12, "ok": True}) + "\n")

        result = await cli("apply", str(plan), "--resume", str(results), "--dry-run")

        assert 0 == result.code
        assert "1 unreadable line(s)" in result.err
        assert 1 == result.json()["selected"]
