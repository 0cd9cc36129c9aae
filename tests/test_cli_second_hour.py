"""A newcomer's second hour (issue 25, part 3): what they tripped over, through the command:
`main(argv)` in-process against a FakeLeaf (conftest's `cli`), or the installed `leaf-creds` as a
subprocess (`sub`) where a signal or a terminal is the point."""

from __future__ import annotations

import asyncio
import fcntl
import importlib.util
import json
import os
import pty
import re
import shlex
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from leaf_creds.testing import FakeLeaf
from tests.cli_helpers import LEAF_CREDS, LEAF_VARIABLES, Cli, creates, write_plan
from tests.cli_helpers import SubprocessCli as Subprocess
from tests.helpers import Elements


@pytest.fixture
def sub(fake: FakeLeaf) -> Subprocess:
    return Subprocess(fake)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Cli:
    """`main(argv)` in-process with no Leaf settings, for commands that send nothing."""
    for name in LEAF_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return Cli(capsys, [])


class TestPorts:
    @pytest.mark.parametrize("port", ["70000", "-1", "http"])
    @pytest.mark.parametrize(
        "command",
        [("fake-server",), ("alerts", "listen", "--secret-file", "/nonexistent")],
        ids=["fake-server", "alerts-listen"],
    )
    async def test_a_port_out_of_range_is_a_usage_error(
        self, cli: Cli, command: tuple[str, ...], port: str
    ) -> None:
        """`--port 70000` (or -1) is a usage error naming the option, not a traceback."""
        result = await cli(*command, "--port", port)

        assert 2 == result.code
        assert "argument --port:" in result.err
        assert "Traceback" not in result.err

    async def test_the_installed_command_says_so(self, sub: Subprocess) -> None:
        """The same through the installed command: exit 2, one usage line, no traceback."""
        result = await sub("fake-server", "--port", "70000")

        assert 2 == result.code
        assert "must be a port from 0 to 65535, got 70000" in result.stderr
        assert "Traceback" not in result.stderr


class TestAuditRate:
    async def test_rate_caps_the_requests(self, cli: Cli, fake: FakeLeaf) -> None:
        """`audit --rate R` is the session's ceiling, as for apply and invite: 9 requests at
        10/s take at least 0.8 s (without it, a few milliseconds)."""
        for i in range(8):
            fake.add_user(name=f"grower {i}")

        started = time.perf_counter()
        result = await cli("audit", "--provider", "sentera", "--rate", "10")
        elapsed = time.perf_counter() - started

        assert 0 == result.code, result.err
        assert 8 == len(result.lines())
        assert 9 == len(fake.requests)  # the users page, then one GET each
        assert elapsed >= 0.7

    async def test_rate_is_checked(self, cli: Cli) -> None:
        result = await cli("audit", "--rate", "0")

        assert (2, True) == (result.code, "must be a positive number, got 0" in result.err)


def outcomes(path: Path) -> list[dict[str, Any]]:
    """The outcome lines of a results file (not its "started" lines)."""
    lines = [json.loads(text) for text in path.read_text().splitlines() if text.strip()]
    return [line for line in lines if "ok" in line]


class TestInterruptedWithoutResume:
    async def test_the_printed_resume_command_is_cheap(
        self, sub: Subprocess, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """Ctrl-C during `apply --out F` (no --resume) prints a command that checks only the
        creates in flight: the results file has the "started" lines either way."""
        plan = write_plan(tmp_path / "plan.jsonl", creates(fake, 120))
        results = tmp_path / "results.jsonl"
        fake.faults.add(method="POST", delay=0.1, probability=1.0)
        proc = await asyncio.create_subprocess_exec(
            LEAF_CREDS, "apply", str(plan), "--out", str(results), "--concurrency", "4",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=sub.env,
        )  # fmt: skip
        while not (results.exists() and len(outcomes(results)) >= 8):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = await proc.communicate()
        fake.faults.clear()
        hint = err.decode().split("to resume, run: ", 1)[1].splitlines()[0]
        command = shlex.split(hint)
        gets = fake.count("GET", "-credentials")

        result = await sub(*command[1:])

        assert 130 == proc.returncode
        assert ["leaf-creds", "apply", str(plan), "--out", str(results)] == command[:5]
        assert ["--resume", str(results)] == command[-2:]
        assert 0 == result.code, result.stderr
        # At most the 4 in flight are checked, not every remaining line.
        assert fake.count("GET", "-credentials") - gets <= 4
        # Only those the interrupt cut off (at most 4) are sent again, and none is a 409.
        assert fake.count("POST", "-credentials") <= 124
        assert list(range(1, 121)) == sorted(
            line["line"] for line in outcomes(results) if line["ok"]
        )


class TestApplySummary:
    async def test_failures_are_broken_down_by_error(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """The summary says what the failures were, by error, the most common first; the
        summary line stays the last."""
        entries = creates(fake, 4)
        for entry in entries[:3]:
            fake.add_credential(entry["leafUserId"], "sentera", entry["credentials"])
        entries.append(
            {"op": "create", "provider": "sentera", "leafUserId": "nosuchuser",
             "credentials": entries[0]["credentials"]}
        )  # fmt: skip
        plan = write_plan(tmp_path / "plan.jsonl", entries)

        result = await cli("apply", str(plan), "--out", str(tmp_path / "out.jsonl"))

        last, summary = result.err.strip().splitlines()[-2:]
        assert 1 == result.code
        assert summary.startswith("apply: 1 ok, 4 failed in ")
        assert last == (
            "apply: failed by error: 3 ConflictError (409), 1 NotFoundError (404) "
            '(each failed line\'s "error" says more)'
        )


class TestDeleteOfAMissingCredential:
    """A delete answered 404 fails with and without --resume, unless the results file says the
    interrupted run sent that very delete: a plan naming a credential that is not there is a
    mistake to report (a retry must not turn it into a success); a delete the earlier run landed
    is that run's work."""

    async def test_reads_the_same_with_and_without_resume(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        user = fake.add_user().id
        plan = write_plan(
            tmp_path / "plan.jsonl", [{"op": "delete", "provider": "sentera", "leafUserId": user}]
        )
        results = tmp_path / "results.jsonl"

        plain = await cli("apply", str(plan), "--out", str(results))
        plain_line = outcomes(results)[-1]
        resumed = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))
        resumed_line = outcomes(results)[-1]
        fresh = await cli(
            "apply", str(plan), "--out", str(tmp_path / "r2.jsonl"),
            "--resume", str(tmp_path / "r2.jsonl"),
        )  # fmt: skip

        assert [1, 1, 1] == [plain.code, resumed.code, fresh.code]
        assert [False, False] == [plain_line["ok"], resumed_line["ok"]]
        assert "NotFoundError" == resumed_line["error"]["type"]
        assert [False] == [line["ok"] for line in outcomes(tmp_path / "r2.jsonl")]

    async def test_a_delete_the_interrupted_run_sent_is_ok(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        user = fake.add_user().id
        delete = {"op": "delete", "provider": "sentera", "leafUserId": user}
        plan = write_plan(tmp_path / "plan.jsonl", [delete])
        results = tmp_path / "results.jsonl"
        # The interrupted run had sent the delete and died before writing its outcome.
        results.write_text(json.dumps({"line": 1, **delete, "started": True}) + "\n")

        result = await cli("apply", str(plan), "--out", str(results), "--resume", str(results))

        line = outcomes(results)[-1]
        assert 0 == result.code, result.err
        assert (True, {"alreadyAbsent": True}) == (line["ok"], line["result"])
        assert "resume: 1 delete(s) of the interrupted run had landed" in result.err


JOHN_DEERE = {
    "clientKey": "k", "clientSecret": "s", "refreshToken": "r", "clientEnvironment": "STAGE"
}  # fmt: skip
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


class TestInviteCounts:
    async def test_attempts_count_the_link_requests(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """`invite --missing` over two providers: a link made at once says "attempts": 1 (the
        lookups before it are not tries at the link); one retried after a 429 says 2."""
        users = [fake.add_user(name=f"grower {i}").id for i in range(3)]
        fake.faults.add(method="POST", path="*/magic-link/*", status=429, retry_after="0", times=1)
        out = tmp_path / "links.jsonl"

        result = await cli(
            "invite", "--missing", "--provider", "john-deere", "--provider", "cnhi",
            "--out", str(out), "--concurrency", "1",
        )  # fmt: skip

        attempts = sorted(line["attempts"] for line in outcomes(out))
        assert 0 == result.code, result.err
        assert 3 == len(users)
        assert [1, 1, 2] == attempts

    async def test_the_spinner_counts_what_the_summary_counts(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """The bar of `invite --missing` counts the users given a line, not those found
        connected: it ends at the summary's "invited"."""
        users = [fake.add_user(name=f"grower {i}").id for i in range(6)]
        for user in users[:2]:
            fake.add_credential(user, "john-deere", JOHN_DEERE)

        result = await cli(
            "invite", "--missing", "--provider", "john-deere", "--progress", "always",
            "--out", str(tmp_path / "links.jsonl"),
        )  # fmt: skip

        text = ANSI.sub("", result.err)
        assert 0 == result.code, result.err
        assert "invite: 4 invited, 0 failed, 2 already connected" in text
        assert "4 done" in text
        assert "6 done" not in text

    async def test_failures_are_broken_down_by_error(self, cli: Cli, fake: FakeLeaf) -> None:
        result = await cli("invite", "--provider", "john-deere", "--user", "nosuch", "other")

        last, summary = result.err.strip().splitlines()[-2:]
        assert 1 == result.code
        assert last.startswith("invite: failed by error: 2 NotFoundError (404)")
        assert summary.startswith("invite: 0 invited, 2 failed in ")


class TestAuditSummary:
    async def test_a_user_that_does_not_exist_is_said_so(self, cli: Cli, fake: FakeLeaf) -> None:
        """`audit --user u1 --user nosuch`: the summary says a user does not exist, not that a
        credential could not be read."""
        known = fake.add_user(name="grower").id

        result = await cli("audit", "--provider", "sentera", "--user", known, "--user", "nosuch")

        assert 1 == result.code
        assert result.err.rstrip().endswith("audit: 1 Leaf user does not exist")
        assert "could not be read" not in result.err

    async def test_one_credential_is_singular(self, cli: Cli, fake: FakeLeaf) -> None:
        user = fake.add_user(name="grower").id
        fake.faults.add(method="GET", path="*/sentera-credentials", status=400)

        result = await cli("audit", "--provider", "sentera", "--user", user)

        assert 1 == result.code
        assert result.err.rstrip().endswith("audit: 1 credential could not be read")


class TestProvidersAt80Columns:
    async def test_no_slug_or_field_name_is_cut(self, sub: Subprocess) -> None:
        """On an 80-column terminal every slug and field name a user must type shows whole."""
        text = await asyncio.to_thread(on_terminal, [LEAF_CREDS, "providers"], sub.env)

        rows = screen(text, 80)
        assert "…" not in "".join(rows)
        assert any("accessTokenClient*" in row for row in rows)
        assert any("initializationVector*" in row for row in rows)
        assert any("climate-field-view" in row for row in rows)


class TestCtrlCOnTheBar:
    async def test_one_copy_of_the_bar_stays(
        self, sub: Subprocess, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """Ctrl-C typed on an 80-column terminal (the terminal echoes "^C") leaves one bar."""
        plan = write_plan(tmp_path / "plan.jsonl", creates(fake, 200))
        fake.faults.add(method="POST", delay=0.05, probability=1.0)
        argv = [LEAF_CREDS, "apply", str(plan), "--out", str(tmp_path / "r.jsonl"),
                "--concurrency", "2"]  # fmt: skip

        text = await asyncio.to_thread(
            on_terminal, argv, sub.env, lambda seen: "━" in seen and "/200" in seen
        )

        rows = screen(text, 80)
        assert 1 == sum("━" in row for row in rows), "\n".join(rows)
        assert any("leaf-creds: interrupted" in row for row in rows)


def on_terminal(
    argv: list[str], env: dict[str, str], interrupt: Callable[[str], bool] | None = None
) -> str:
    """Run argv on a pseudo-terminal of 80 columns it has as its controlling terminal; once
    ``interrupt`` holds for what it showed, type Ctrl-C (the terminal echoes "^C" and sends
    SIGINT). Return everything it showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 80, 0, 0))

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(  # noqa: S603 - our own command, no shell
        argv, stdin=slave, stdout=slave, stderr=slave,
        env={**env, "TERM": "xterm-256color"}, preexec_fn=controlling_terminal,
    )  # fmt: skip
    os.close(slave)
    shown = bytearray()
    typed = interrupt is None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the command closed the terminal
            break
        if not chunk:
            break
        shown += chunk
        if not typed and interrupt is not None and interrupt(shown.decode("utf-8", "replace")):
            os.write(master, b"\x03")
            typed = True
    proc.wait(timeout=30)
    os.close(master)
    return shown.decode("utf-8", "replace")


_SEQUENCE = re.compile(
    r"\x1b\[([0-9;?]*)[ -/]*([@-~])|\x1b[()][0-9A-Z]|\x1b\][^\x07]*\x07|(.)", re.S
)


def screen(text: str, width: int) -> list[str]:
    """What a terminal of ``width`` columns shows after ``text``: autowrap past the last
    column, carriage return, line feed, cursor up, erase in line; colours ignored."""
    rows: dict[int, list[str]] = {}
    row = col = 0
    for match in _SEQUENCE.finditer(text):
        params, final, char = match.group(1), match.group(2), match.group(3)
        line = rows.setdefault(row, [" "] * width)
        if final == "K":
            start = 0 if params in {"2", "1"} else col
            end = col + 1 if params == "1" else width
            line[start:end] = [" "] * (end - start)
        elif final == "A":
            row = max(0, row - int(params or 1))
        elif char == "\r":
            col = 0
        elif char == "\n":
            row += 1
        elif char is not None and char >= " ":
            if col >= width:  # the pending wrap
                row, col = row + 1, 0
                line = rows.setdefault(row, [" "] * width)
            line[col] = char
            col += 1
    return ["".join(rows[n]).rstrip() for n in sorted(rows)]


JD_KEYS = {"clientKey": "jd-app-id", "clientSecret": "jd-app-secret-value"}


class TestWording:
    async def test_app_keys_create_over_existing_names_the_command(
        self, cli: Cli, tmp_path: Path
    ) -> None:
        """A second `app-keys create` says which `leaf-creds app-keys update` replaces the keys."""
        keys = tmp_path / "keys.json"
        keys.write_text(json.dumps(JD_KEYS))
        argv = ["app-keys", "create", "john-deere", "LeafWidget", "--environment", "STAGE",
                "--from", str(keys)]  # fmt: skip

        first = await cli(*argv)
        again = await cli(*argv)

        update = shlex.join(
            ["leaf-creds", "app-keys", "update", "john-deere", "LeafWidget",
             "--environment", "STAGE", "--from", str(keys)]
        )  # fmt: skip
        assert (0, 1) == (first.code, again.code)
        assert f"to replace its keys, run: {update}" in again.err
        assert [] == cli.leaked()

    @pytest.mark.parametrize(
        ("argv", "said"),
        [
            (["get", "john-deere", "W"], "give --environment STAGE or --environment PRODUCTION"),
            (["delete", "cnhi", "W"], "give --environment STAGE or --environment PRODUCTION"),
            (["get", "trimble", "W", "--environment", "STAGE"], "leave out --environment"),
        ],
    )
    async def test_the_environment_is_named_as_the_option(
        self, cli: Cli, fake: FakeLeaf, argv: list[str], said: str
    ) -> None:
        """A missing (or needless) environment names `--environment`, not a Python argument;
        nothing is sent."""
        result = await cli("app-keys", *argv)

        assert 2 == result.code
        assert said in result.err
        assert "environment=" not in result.err
        assert 0 == len(fake.requests)

    async def test_fake_server_counts_read_in_the_singular(
        self, sub: Subprocess, tmp_path: Path
    ) -> None:
        """`fake-server --seed-file` of one user with one credential: "1 user, 1 credential"."""
        seed = tmp_path / "seed.json"
        seed.write_text(json.dumps({"users": [{"id": "u1", "credentials": {"sentera": {
            "username": "g", "password": "pw", "organizationName": "Acme"}}}]}))  # fmt: skip
        proc = await asyncio.create_subprocess_exec(
            LEAF_CREDS, "fake-server", "--port", "0", "--seed-file", str(seed),
            stderr=asyncio.subprocess.PIPE, env=sub.env,
        )  # fmt: skip
        assert proc.stderr is not None
        shown = ""
        while "holding" not in shown:
            shown += (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
        proc.send_signal(signal.SIGINT)
        await proc.wait()

        assert "holding 1 user, 1 credential\n" in shown


class TestConsentPage:
    """The fake's Magic Link page, reached through a link `leaf-creds invite` made."""

    async def invite(self, cli: Cli, fake: FakeLeaf, tmp_path: Path, *providers: str) -> str:
        user = fake.add_user(name="Ada").id
        out = tmp_path / "links.jsonl"
        picks = [arg for provider in providers for arg in ("--provider", provider)]
        result = await cli("invite", *picks, "--user", user, "--out", str(out))
        assert 0 == result.code, result.err
        link: str = outcomes(out)[0]["link"]
        return link

    async def test_a_provider_without_app_keys_is_shown_unavailable(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A link for John Deere and CNHI shows both: CNHI, without app keys, as not available;
        `invite` warned of it."""
        fake.onboarding.add_app_key("JohnDeere", "LeafWidget", JD_KEYS, environment="STAGE")
        link = await self.invite(cli, fake, tmp_path, "john-deere", "cnhi")
        warned = cli.outputs[-1]

        async with aiohttp.ClientSession() as client, client.get(link) as page:
            elements = Elements(await page.text())

        assert "John Deere" == elements.text["provider-JohnDeere"]
        assert "provider-CNHI" not in elements.by_id
        assert "not available" in elements.text["unavailable-CNHI"]
        assert "no CNHI app keys at Leaf" in warned
        assert "no JohnDeere app keys" not in warned

    async def test_no_app_keys_at_all_says_why(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        link = await self.invite(cli, fake, tmp_path, "cnhi")

        async with aiohttp.ClientSession() as client, client.get(link) as page:
            elements = Elements(await page.text())

        assert "app keys" in elements.text["no-providers"]
        assert "leaf-creds invite: warning: no CNHI app keys at Leaf" in cli.outputs[-1]

    async def test_withheld_permission_is_not_connected(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """Signing in without sharing the organizations does not say "is connected"."""
        fake.onboarding.add_app_key("JohnDeere", "LeafWidget", JD_KEYS, environment="STAGE")
        link = await self.invite(cli, fake, tmp_path, "john-deere")

        async with aiohttp.ClientSession() as client:
            async with client.get(link) as page:
                landing = Elements(await page.text())
            href = str(landing.by_id["provider-JohnDeere"]["href"])
            session = href.partition("session=")[2]
            async with client.post(
                fake.url + href.partition("?")[0], data={"session": session, "username": "ada"}
            ) as answer:
                result = Elements(await answer.text())
            async with client.get(link + "?session=" + session) as page:
                again = Elements(await page.text())

        assert "MISSING_PERMISSION" == result.by_id["result"]["data-status"]
        assert "is connected" not in result.text["result"]
        assert "did not share your organizations" in result.text["result"]
        assert "connected (MISSING_PERMISSION)" == again.text["connected-JohnDeere"]


AIRFLOW_EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "airflow"


class TestAirflowExampleAgainstTheFake:
    async def test_the_seed_and_the_app_keys_make_a_live_invitation(
        self, sub: Subprocess, tmp_path: Path
    ) -> None:
        """The README's "Try it against the fake": `fake-server --seed-file
        examples/airflow/growers.json`, then `app-keys create cnhi ... --from
        examples/airflow/cnhi-app-keys.json`; an invitation then offers CNHI, with no warning."""
        server = await asyncio.create_subprocess_exec(
            LEAF_CREDS, "fake-server", "--port", "0", "--token", "demo-token",
            "--seed-file", str(AIRFLOW_EXAMPLE / "growers.json"),
            stderr=asyncio.subprocess.PIPE, env=sub.env,
        )  # fmt: skip
        assert server.stderr is not None
        shown = ""
        while "holding" not in shown:
            shown += (await asyncio.wait_for(server.stderr.readline(), 30)).decode()
        url = re.search(r"listening on (\S+)", shown)
        assert url is not None
        env = {**sub.env, "LEAF_BASE_URL": url.group(1), "LEAF_TOKEN": "demo-token"}
        try:
            keys = await sub(
                "app-keys", "create", "cnhi", "AcmeAgronomy", "--environment", "PRODUCTION",
                "--from", str(AIRFLOW_EXAMPLE / "cnhi-app-keys.json"), env=env,
            )  # fmt: skip
            audit = await sub("audit", "--provider", "cnhi", env=env)
            invite = await sub(
                "invite", "--provider", "cnhi", "--user", "grower-4", "--expires-in", "604800",
                env=env,
            )  # fmt: skip
            link = json.loads(invite.stdout)["link"]
            async with aiohttp.ClientSession() as client, client.get(link) as page:
                elements = Elements(await page.text())
        finally:
            server.send_signal(signal.SIGINT)
            await server.wait()

        statuses = sorted(line["status"] for line in audit.lines())
        assert "holding 6 users, 6 credentials" in shown
        assert (0, 0, 0) == (keys.code, audit.code, invite.code)
        assert ["OK"] * 4 + ["UNAUTHENTICATED"] * 2 == statuses
        assert "warning" not in invite.stderr
        assert "CNHI" == elements.text["provider-CNHI"]


ROOT = Path(__file__).resolve().parent.parent
# What the README's pytest example leaves to the reader: their app's code under test.
_MY_APP = """
import types as _types

import leaf_creds as _lc


async def _onboard(leaf, user_id):
    await leaf.create(_lc.SENTERA, user_id, {"username": "ada", "password": "pw",
                                              "organizationName": "Ada's farm"})

my_app = _types.SimpleNamespace(onboard=_onboard)
"""


def pytest_examples() -> list[tuple[str, str]]:
    """The pytest examples of the README and the docs: (where, code)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return [
        (page.relative_to(ROOT).as_posix(), block)
        for page in pages
        if page.exists()
        for block in re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
        if "leaf_fake" in block and "async def test_" in block
    ]


class TestPytestExamplesInStrictMode:
    @pytest.mark.parametrize(("where", "code"), pytest_examples(), ids=lambda v: v[:40])
    def test_every_test_of_the_example_passes(self, where: str, code: str, tmp_path: Path) -> None:
        """Each pytest example of the docs passes under pytest-asyncio's strict mode, which the
        README says is supported: every async test is marked."""
        example = tmp_path / "test_example.py"
        example.write_text(_MY_APP + code)
        tests = code.count("async def test_")

        proc = subprocess.run(  # noqa: S603 - our own venv's pytest
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "-o", "asyncio_mode=strict", str(example)],
            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

        assert 0 == proc.returncode, f"{where}:\n{proc.stdout[-3000:]}"
        assert f"{tests} passed" in proc.stdout, proc.stdout[-3000:]


class TestDemoCleansUp:
    def test_the_temporary_directory_is_removed(
        self, offline: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`demo` removes the temporary directory it made, and says so; the summary's
        "workdir" is then null."""
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

        result = offline.run("demo", "--users", "10", "--progress", "never")

        assert 0 == result.code, result.err
        assert None is result.json()["workdir"]
        assert [] == list(tmp_path.iterdir())
        assert "demo: removed its temporary directory" in result.err

    def test_keep_keeps_it(
        self, offline: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

        result = offline.run("demo", "--users", "10", "--progress", "never", "--keep")

        [kept] = list(tmp_path.iterdir())
        assert 0 == result.code, result.err
        assert str(kept) == result.json()["workdir"]
        assert (kept / "plan.jsonl").exists()
        assert "removed" not in result.err


BENCH = ROOT / "bench" / "run.py"


class TestBenchmarkExitStatus:
    def test_quick_exits_1_on_a_miss(self, tmp_path: Path) -> None:
        """`bench/run.py --quick`: the exit status agrees with the targets' PASS and MISS."""
        proc = subprocess.run(  # noqa: S603 - our own script
            [sys.executable, str(BENCH), "--quick", "--only", "import"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

        verdicts = re.findall(r"^  (PASS|MISS)  ", proc.stdout, re.M)
        assert verdicts, proc.stdout + proc.stderr
        assert (1 if "MISS" in verdicts else 0) == proc.returncode, proc.stderr
        assert ("MISSED" in proc.stderr) == ("MISS" in verdicts)

    def test_a_miss_is_exit_1(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Whatever the machine: given a missed target, main() returns 1, a passed one 0."""
        monkeypatch.syspath_prepend(str(BENCH.parent))
        # main() points the bytecode cache of its children elsewhere: restored after.
        monkeypatch.setenv("PYTHONPYCACHEPREFIX", os.environ.get("PYTHONPYCACHEPREFIX", ""))
        monkeypatch.delenv("PYTHONPYCACHEPREFIX")
        monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
        spec = importlib.util.spec_from_file_location("bench_run", BENCH)
        assert spec is not None
        assert spec.loader is not None
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
        meta = {"server": "x", "client_core": 0, "server_core": 1, "cpus": 2, "python": "3",
                "aiohttp": "3", "quick": True, "seconds": 1.0}  # fmt: skip

        codes = []
        for ratio in (2.0, 1.0):
            results = {"meta": meta, "import": {"runs": 1, "aiohttp_ms": 100.0,
                       "leaf_creds_ms": 100.0 * ratio, "ratio": ratio, "imports_rich": False}}
            monkeypatch.setattr(bench, "collect", lambda *_, r=results: r)
            codes.append(bench.main(["--quick", "--only", "import"]))

        assert [1, 0] == codes
        assert "MISSED 1 target(s): import leaf_creds" in capsys.readouterr().err
