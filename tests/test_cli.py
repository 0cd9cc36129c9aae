"""Tests of the `leaf-creds` command, run as a subprocess against a FakeLeaf in this process."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import leaf_creds as lc
from leaf_creds.cli import main
from leaf_creds.testing import FakeLeaf
from tests.cli_helpers import LEAF_CREDS, SECRET, cnhi, creates, sentera, write_plan
from tests.cli_helpers import SubprocessCli as Cli

OUTCOME_KEYS = {"line", "op", "provider", "leafUserId", "ok", "attempts"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeLeaf]:
    async with FakeLeaf() as server:
        yield server


@pytest.fixture
def cli(fake: FakeLeaf) -> Cli:
    return Cli(fake)


class TestProviders:
    async def test_lists_providers_and_fields(self, cli: Cli) -> None:
        """`providers` prints every provider with its create fields and which are secret."""
        result = await cli("providers")

        providers = {p["slug"]: p for p in json.loads(result.stdout)}
        fields = {f["name"]: f for f in providers["sentera"]["fields"]}
        assert 0 == result.code
        assert {"sentera", "cnhi"} <= set(providers)
        assert (True, False) == (fields["password"]["secret"], fields["username"]["secret"])


class TestSingleCommands:
    async def test_create_get_events_delete(self, cli: Cli, fake: FakeLeaf, tmp_path: Path) -> None:
        """One credential through create, get, events and delete, secrets masked throughout."""
        user = fake.add_user().id
        body = tmp_path / "cnhi.json"
        body.write_text(json.dumps(cnhi()))

        created = await cli("create", "cnhi", user, "--from", str(body))
        got = await cli("get", "cnhi", user)
        events = await cli("events", "cnhi", user)
        deleted = await cli("delete", "cnhi", user)

        assert [0, 0, 0, 0] == [r.code for r in (created, got, events, deleted)]
        record = json.loads(got.stdout)
        assert {"op": "get", "provider": "cnhi", "leafUserId": user, "ok": True, "attempts": 1} == {
            k: record[k] for k in ("op", "provider", "leafUserId", "ok", "attempts")
        }
        assert ("client0", "***", "***") == (
            record["result"]["clientId"],
            record["result"]["clientSecret"],
            record["result"]["refreshToken"],
        )
        assert 1 <= len(json.loads(events.stdout)["result"]["events"])
        assert {} == json.loads(deleted.stdout)["result"]
        assert fake.credential(user, "cnhi") is None
        assert [] == cli.leaked()

    async def test_create_from_stdin_with_show_secrets(self, cli: Cli, fake: FakeLeaf) -> None:
        """`create --from -` reads stdin; --show-secrets prints the secret fields as they are."""
        user = fake.add_user().id
        body = json.dumps(cnhi())

        result = await cli("create", "cnhi", user, "--from", "-", "--show-secrets", stdin=body)

        assert 0 == result.code
        assert f"{SECRET}-cs0" == json.loads(result.stdout)["result"]["clientSecret"]

    async def test_missing_credential_exits_1(self, cli: Cli, fake: FakeLeaf) -> None:
        """A failed operation prints its error as JSON and exits 1."""
        user = fake.add_user().id

        result = await cli("get", "sentera", user)

        assert 1 == result.code
        assert {"type": "NotFoundError", "status": 404} == {
            k: v for k, v in json.loads(result.stdout)["error"].items() if k != "message"
        }
        assert "failed" in result.stderr

    async def test_token_file_and_login(self, cli: Cli, fake: FakeLeaf, tmp_path: Path) -> None:
        """--token-file and LEAF_USERNAME/LEAF_PASSWORD both authenticate."""
        user = fake.add_user().id
        fake.add_credential(user, "sentera", sentera())
        token_file = tmp_path / "token"
        token_file.write_text(fake.token + "\n")
        bare = {k: v for k, v in cli.env.items() if k != "LEAF_TOKEN"}
        login = {**bare, "LEAF_USERNAME": "user@example.com", "LEAF_PASSWORD": "password"}

        by_file = await cli("get", "sentera", user, "--token-file", str(token_file), env=bare)
        by_login = await cli("--base-url", fake.url, "get", "sentera", user, env=login)

        assert (0, 0) == (by_file.code, by_login.code)
        assert 1 == fake.count("POST", "/api/authenticate")

    async def test_invalid_body_sends_nothing(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A create body that does not fit the provider exits 2 before any request."""
        body = tmp_path / "bad.json"
        body.write_text(json.dumps({"username": "g", "password": SECRET}))

        result = await cli("create", "sentera", fake.add_user().id, "--from", str(body))

        assert 2 == result.code
        assert "organizationName" in result.stderr
        assert [] == fake.requests
        assert [] == cli.leaked()

    async def test_usage_errors_exit_2(self, cli: Cli, fake: FakeLeaf) -> None:
        """No credentials, an unknown provider and an unknown command all exit 2."""
        bare = {k: v for k, v in cli.env.items() if k != "LEAF_TOKEN"}

        no_auth = await cli("get", "sentera", "u1", env=bare)
        unknown = await cli("get", "nope", "u1")
        command = await cli("frobnicate")

        assert [2, 2, 2] == [no_auth.code, unknown.code, command.code]
        assert "LEAF_TOKEN" in no_auth.stderr
        assert "unknown provider 'nope'" in unknown.stderr
        assert [] == fake.requests


class TestMainInProcess:
    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["apply", "-"], "give a file"),
            (["apply", "/nonexistent/plan.jsonl"], "cannot read the plan"),
            (["apply", "plan.jsonl", "--shard", "3/3"], "0 <= K < N"),
            (["apply", "plan.jsonl", "--shard", "x"], "K/N"),
            (["create", "sentera", "u1", "--from", "/nonexistent.json"], "cannot read"),
            (["get", "sentera", ".."], "not a valid Leaf user id"),
            (["audit", "--provider", "nope"], "unknown provider"),
        ],
    )
    def test_bad_input_exits_2(
        self, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Bad input files and arguments exit 2 with a message on stderr."""
        code = main(argv)

        assert 2 == code
        assert message in capsys.readouterr().err

    def test_help_exits_0(self, capsys: pytest.CaptureFixture[str]) -> None:
        """--help prints the usage, with the shard rule, and exits 0."""
        code = main(["apply", "--help"])

        assert 0 == code
        assert "0-based" in capsys.readouterr().out

    def test_argparse_errors_exit_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        """An option argparse refuses exits 2."""
        assert 2 == main(["apply", "plan.jsonl", "--concurrency", "0"])


class TestApply:
    async def test_all_ok(self, cli: Cli, fake: FakeLeaf, tmp_path: Path) -> None:
        """Every line gets one outcome line of the documented shape; exit 0."""
        entries = creates(fake, 6)
        user = entries[0]["leafUserId"]
        entries += [
            {"op": "get", "provider": "sentera", "leafUserId": user},
            {"op": "events", "provider": "sentera", "leafUserId": user},
            {"op": "replace", "provider": "cnhi", "leafUserId": user, "credentials": cnhi()},
        ]
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        out = tmp_path / "results.jsonl"

        result = await cli(
            "apply", str(plan), "--out", str(out), "--concurrency", "3", "--rate", "500"
        )

        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert 0 == result.code
        assert "" == result.stdout
        # Each create, replace and delete is announced first (a results file is resumable).
        started = [line for line in lines if line.get("started")]
        lines = [line for line in lines if not line.get("started")]
        assert [1, 2, 3, 4, 5, 6, 9] == sorted(line["line"] for line in started)
        assert list(range(1, 10)) == sorted(line["line"] for line in lines)
        assert all(OUTCOME_KEYS | {"result"} == set(line) and line["ok"] for line in lines)
        by_line = {line["line"]: line for line in lines}
        first = by_line[1]
        assert ("create", "sentera", 1) == (first["op"], first["provider"], first["attempts"])
        assert "***" == by_line[9]["result"]["clientSecret"]
        assert 7 == fake.count("POST", "-credentials")
        assert [] == cli.leaked()

    async def test_some_fail_with_progress(self, cli: Cli, fake: FakeLeaf, tmp_path: Path) -> None:
        """A failed line is an error outcome and the run exits 1; the bar stays on stderr."""
        entries = creates(fake, 3)
        entries.insert(1, {"op": "delete", "provider": "sentera", "leafUserId": "no-such-user"})
        plan = write_plan(tmp_path / "plan.jsonl", entries)

        result = await cli("apply", str(plan), "--progress", "always")

        lines = {line["line"]: line for line in result.lines()}
        assert 1 == result.code
        assert [True, False, True, True] == [lines[n]["ok"] for n in range(1, 5)]
        assert OUTCOME_KEYS | {"error"} == set(lines[2])
        assert ("NotFoundError", 404) == (lines[2]["error"]["type"], lines[2]["error"]["status"])
        assert "apply" in result.stderr
        assert "━" in result.stderr

    async def test_invalid_plan_refused_before_any_request(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """Every bad line is listed and the run exits 2 without a single request."""
        good = creates(fake, 2)
        plan = write_plan(
            tmp_path / "plan.jsonl",
            [
                good[0],
                "{not json",
                {"op": "upsert", "provider": "sentera", "leafUserId": "u"},
                {"op": "create", "provider": "nope", "leafUserId": "u", "credentials": {}},
                {**good[1], "credentials": {"username": "g", "password": SECRET}},
                "",
                {"op": "get", "provider": "sentera", "leafUserId": ""},
                {"op": "delete", "provider": "sentera", "leafUserId": "u", "credentials": {}},
                [1, 2],
                good[1],
            ],
        )

        result = await cli("apply", str(plan))

        where = str(plan) + ":"
        listed = [int(x.split(":")[1]) for x in result.stderr.splitlines() if x.startswith(where)]
        assert 2 == result.code
        assert [2, 3, 4, 5, 7, 8, 9] == listed
        assert "7 bad line(s)" in result.stderr
        assert [] == fake.requests
        assert [] == cli.leaked()

    async def test_dry_run_sends_nothing(self, cli: Cli, fake: FakeLeaf, tmp_path: Path) -> None:
        """--dry-run checks the plan and counts what would run, without credentials or requests."""
        plan = write_plan(tmp_path / "plan.jsonl", creates(fake, 4))
        bare = {k: v for k, v in cli.env.items() if k != "LEAF_TOKEN"}

        result = await cli("apply", str(plan), "--dry-run", "--shard", "0/1", env=bare)

        assert 0 == result.code
        counts = {"lines": 4, "selected": 4, "alreadyDone": 0, "otherShards": 0}
        assert {**counts, "byOp": {"create": 4}} == json.loads(result.stdout)
        assert [] == fake.requests

    async def test_shards_cover_every_line_once(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """Three shards of one plan run every line exactly once between them."""
        entries = creates(fake, 24)
        plan = write_plan(tmp_path / "plan.jsonl", entries)

        results = await asyncio.gather(
            *(cli("apply", str(plan), "--shard", f"{k}/3") for k in range(3))
        )

        per_shard = [[line["line"] for line in r.lines()] for r in results]
        assert [0, 0, 0] == [r.code for r in results]
        assert list(range(1, 25)) == sorted(n for shard in per_shard for n in shard)
        assert all(per_shard)  # 24 users do not all hash to one shard
        assert 24 == fake.count("POST", "/sentera-credentials")

    async def test_resume_after_a_killed_run(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A killed run, resumed, ends with one ok outcome per line and one create per user."""
        entries = creates(fake, 30)
        first_user = entries[0]["leafUserId"]
        entries.append({"op": "delete", "provider": "sentera", "leafUserId": first_user})
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        results = tmp_path / "results.jsonl"
        fake.faults.add(method="POST", delay=0.05, probability=1.0)
        proc = await asyncio.create_subprocess_exec(
            LEAF_CREDS, "apply", str(plan), "--concurrency", "3",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=cli.env,
        )  # fmt: skip
        assert proc.stdout is not None
        first = [await proc.stdout.readline() for _ in range(6)]
        proc.kill()
        await proc.wait()
        results.write_bytes(b"".join(first) + b'{"line": 29, "ok": tr')  # a line cut by the kill
        fake.faults.clear()

        resumed = await cli(
            "apply", str(plan), "--resume", str(results), "--out", str(results)
        )

        lines = [json.loads(line) for line in results.read_text().splitlines()[7:]]
        lines = [json.loads(line) for line in first] + [line for line in lines if "ok" in line]
        ok_lines = Counter(line["line"] for line in lines if line["ok"])
        assert 0 == resumed.code, resumed.stderr
        assert dict.fromkeys(range(1, 32), 1) == dict(ok_lines)
        assert -signal.SIGKILL == proc.returncode
        # A POST cut off by the kill was never answered, so never applied (status None).
        answered = Counter((r.path, r.status) for r in fake.requests if r.method == "POST")
        assert {201} == {status for _, status in answered if status is not None}
        assert {1} == {n for (_, status), n in answered.items() if status == 201}
        assert 30 == sum(1 for _, status in answered if status == 201)

    async def test_resume_skips_done_lines(self, cli: Cli, fake: FakeLeaf, tmp_path: Path) -> None:
        """A finished run resumed with its own results file sends no create again."""
        plan = write_plan(tmp_path / "plan.jsonl", creates(fake, 5))
        results = tmp_path / "results.jsonl"
        await cli("apply", str(plan), "--out", str(results), "--resume", str(results))

        again = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))

        assert 0 == again.code
        written = [json.loads(line) for line in results.read_text().splitlines()]
        assert 5 == sum("ok" in line for line in written)
        assert 5 == sum(line.get("started") is True for line in written)
        assert 5 == fake.count("POST", "-credentials")
        assert "5 already done" in again.stderr


    async def test_resume_finds_creates_that_landed(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A create applied by the interrupted run without its outcome written is not sent again."""
        entries = creates(fake, 3)
        entries.append({"op": "delete", "provider": "sentera", "leafUserId": "gone-user"})
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        landed = entries[1]
        fake.add_credential(landed["leafUserId"], "sentera", landed["credentials"])
        results = tmp_path / "results.jsonl"
        # The interrupted run had sent line 2 and died before writing its outcome.
        started = {key: landed[key] for key in ("op", "provider", "leafUserId")}
        # So had it line 4, a delete (of a credential not there now: it landed).
        gone = {"op": "delete", "provider": "sentera", "leafUserId": "gone-user"}
        results.write_text(
            json.dumps({"line": 2, **started, "started": True})
            + "\n"
            + json.dumps({"line": 4, **gone, "started": True})
            + "\n"
        )

        result = await cli("apply", str(plan), "--resume", str(results), "--out", str(results))

        lines = {line["line"]: line for line in map(json.loads, results.read_text().splitlines())}
        assert 0 == result.code
        assert [True] * 4 == [lines[n]["ok"] for n in range(1, 5)]
        assert {"alreadyAbsent": True} == lines[4]["result"]
        assert 2 == fake.count("POST", "-credentials")
        assert "1 create(s) of the interrupted run had been applied" in result.stderr


class TestAudit:
    async def test_every_user_and_provider(self, cli: Cli, fake: FakeLeaf, tmp_path: Path) -> None:
        """The audit reads every user's credentials, reports statuses and events, prints a table."""
        users = [fake.add_user().id for _ in range(5)]
        for i, user in enumerate(users[:3]):
            fake.add_credential(user, "sentera", sentera(i))
        fake.add_credential(users[0], "cnhi", cnhi())
        fake.set_status(users[1], "sentera", "UNAUTHENTICATED")
        report = tmp_path / "report.jsonl"

        result = await cli(
            "audit", "--provider", "sentera", "--provider", "cnhi", "--events", "--out", str(report)
        )

        lines = [json.loads(line) for line in report.read_text().splitlines()]
        statuses = Counter((line["provider"], line["status"]) for line in lines)
        assert 0 == result.code
        assert {
            ("sentera", "OK"): 2,
            ("sentera", "UNAUTHENTICATED"): 1,
            ("sentera", "NO_CREDENTIAL"): 2,
            ("cnhi", "OK"): 1,
            ("cnhi", "NO_CREDENTIAL"): 4,
        } == dict(statuses)
        [bad] = [line for line in lines if line["status"] == "UNAUTHENTICATED"]
        assert 2 <= len(bad["events"])
        assert all("events" not in line for line in lines if line["status"] == "OK")
        assert "UNAUTHENTICATED" in result.stderr
        assert "sentera" in result.stderr
        assert [] == cli.leaked()

    async def test_given_users_and_a_failure(self, cli: Cli, fake: FakeLeaf) -> None:
        """--user limits the audit; a credential that cannot be read is an ERROR and exits 1."""
        ok, forbidden = fake.add_user().id, fake.add_user().id
        fake.add_user()
        fake.faults.add(path=f"/users/{forbidden}/*", status=403, probability=1.0)

        result = await cli("audit", "--user", ok, "--user", forbidden, "--provider", "sentera")

        lines = {line["leafUserId"]: line for line in result.lines()}
        assert 1 == result.code
        statuses = {user: line["status"] for user, line in lines.items()}
        assert {ok: "NO_CREDENTIAL", forbidden: "ERROR"} == statuses
        assert "PermissionDeniedError" == lines[forbidden]["error"]["type"]

    async def test_plain_table_without_rich(self, fake: FakeLeaf) -> None:
        """Without rich installed, the table is plain text."""
        fake.add_credential(fake.add_user().id, "sentera", sentera())
        script = (
            "import sys; sys.modules['rich'] = None; from leaf_creds.cli import main; "
            "sys.exit(main(['audit', '--provider', 'sentera', '--progress', 'always']))"
        )
        env = {**Cli(fake).env}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await proc.communicate()

        assert 0 == proc.returncode
        assert ["provider  OK", "sentera    1"] == err.decode().splitlines()


class TestDemo:
    async def test_demo_runs_clean(self, tmp_path: Path) -> None:
        """The demo applies its plan through injected faults, audits, and exits 0."""
        proc = await asyncio.create_subprocess_exec(
            LEAF_CREDS, "demo", "--users", "60", "--workdir", str(tmp_path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()

        summary = json.loads(out)
        assert 0 == proc.returncode, err.decode()
        assert (120, 120, 0, 0) == (
            summary["operations"], summary["ok"], summary["failed"], summary["createsSentTwice"]
        )
        assert 0 < summary["faultsInjected"]
        assert "UNAUTHENTICATED" in err.decode()
        assert (tmp_path / "plan.jsonl").exists()
        assert "-pw" not in out.decode() + err.decode()


class TestFakeServer:
    async def test_serves_until_interrupted(self) -> None:
        """`fake-server --port N` serves the fake API on 127.0.0.1 and exits 0 on Ctrl-C."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        proc = await asyncio.create_subprocess_exec(
            LEAF_CREDS, "fake-server", "--port", str(port),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stderr is not None
        greeting = [(await proc.stderr.readline()).decode() for _ in range(3)]
        token = greeting[2].split(":", 1)[1].strip()

        async with lc.LeafSession(token=token, base_url=f"http://127.0.0.1:{port}") as leaf:
            users = [user async for user in leaf.users()]
        proc.send_signal(signal.SIGINT)
        await proc.communicate()

        assert f"http://127.0.0.1:{port}" in greeting[0]
        assert [] == users
        assert 0 == proc.returncode
