"""A newcomer's first hour with `leaf-creds`: the installed command as a subprocess, against a
FakeLeaf, and under a pseudo-terminal where what a person sees on a terminal is the point."""

from __future__ import annotations

import asyncio
import fcntl
import io
import json
import os
import pty
import re
import selectors
import shlex
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest

import leaf_creds as lc
from leaf_creds.cli import main
from leaf_creds.testing import FakeLeaf
from tests.cli_helpers import LEAF_CREDS, creates, sentera, write_plan
from tests.cli_helpers import SubprocessCli as Cli

# Control sequences: CSI (colours, cursor moves, erase), OSC, and charset selection.
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Z]")
BAR = "━"  # what rich's bar is drawn with


@attrs.frozen
class Screen:
    """What a command showed on a pseudo-terminal, control sequences removed."""

    code: int
    text: str
    stdout: str  # standard output when it was piped, else ""

    def lines(self) -> list[str]:
        """Return each line as it ends up, what follows its last carriage return."""
        return [line.rsplit("\r", 1)[-1] for line in self.text.split("\n")]

    def segments(self) -> list[str]:
        """Return every stretch of text between line breaks and carriage returns (bar frames)."""
        return [part for part in re.split(r"[\r\n]", self.text) if part.strip()]


def _on_pty(argv: Sequence[str], env: dict[str, str], pipe_stdout: bool) -> Screen:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    proc = subprocess.Popen(  # noqa: S603 - our own command, no shell
        list(argv),
        stdin=slave,
        stdout=subprocess.PIPE if pipe_stdout else slave,
        stderr=slave,
        env={**env, "TERM": "xterm-256color", "COLUMNS": "200"},
    )
    os.close(slave)
    screen, out = bytearray(), bytearray()
    with selectors.DefaultSelector() as selector:
        selector.register(master, selectors.EVENT_READ, screen)
        if proc.stdout is not None:
            selector.register(proc.stdout.fileno(), selectors.EVENT_READ, out)
        while selector.get_map():
            for key, _ in selector.select():
                try:
                    chunk = os.read(key.fd, 65536)
                except OSError:  # EIO: the command closed the terminal
                    chunk = b""
                if chunk:
                    key.data.extend(chunk)
                else:
                    selector.unregister(key.fd)
    code = proc.wait()
    os.close(master)
    if proc.stdout is not None:
        proc.stdout.close()
    text = ANSI.sub("", screen.decode("utf-8", "replace")).replace("\r\n", "\n")
    return Screen(code, text, out.decode())


async def on_pty(cli: Cli, *args: str, pipe_stdout: bool = False) -> Screen:
    """Run `leaf-creds ARGS` with its stderr (and stdout, unless piped) on a pseudo-terminal."""
    return await asyncio.to_thread(_on_pty, [LEAF_CREDS, *args], cli.env, pipe_stdout)


@pytest.fixture
async def fake() -> AsyncIterator[FakeLeaf]:
    async with FakeLeaf() as server:
        yield server


@pytest.fixture
def cli(fake: FakeLeaf) -> Cli:
    return Cli(fake)


class TestVersion:
    @pytest.mark.parametrize("flag", ["--version", "-V"])
    async def test_prints_the_version(self, cli: Cli, flag: str) -> None:
        """`leaf-creds --version` and `-V` print the package's version and exit 0."""
        result = await cli(flag)

        assert (0, f"leaf-creds {lc.__version__}\n") == (result.code, result.stdout)

    async def test_python_dash_m(self, cli: Cli) -> None:
        """`python -m leaf_creds` is the same command."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "leaf_creds", "--version",
            stdout=asyncio.subprocess.PIPE, env=cli.env,
        )  # fmt: skip
        out, _ = await proc.communicate()

        assert (0, f"leaf-creds {lc.__version__}\n") == (proc.returncode, out.decode())


class TestApplyOnATerminal:
    async def test_json_lines_land_above_the_bar(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """On a terminal, each outcome line is a line of its own, not glued to the bar."""
        plan = write_plan(tmp_path / "plan.jsonl", creates(fake, 20))

        screen = await on_pty(cli, "apply", str(plan))

        outcomes = [line for line in screen.lines() if '"leafUserId"' in line]
        assert 0 == screen.code, screen.text
        assert 20 == len(outcomes)
        assert [] == [line for line in outcomes if not line.startswith("{")]
        assert 20 == sum(json.loads(line)["ok"] for line in outcomes)
        assert any(BAR in part and "20/20" in part for part in screen.segments())

    async def test_piped_stdout_stays_pure_json(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """With stdout piped and the bar on the terminal, stdout is the JSON lines only."""
        plan = write_plan(tmp_path / "plan.jsonl", creates(fake, 20))

        screen = await on_pty(cli, "apply", str(plan), pipe_stdout=True)

        assert 0 == screen.code, screen.text
        assert 20 == len([json.loads(line) for line in screen.stdout.splitlines()])
        assert '"leafUserId"' not in screen.text
        assert any("20/20" in part for part in screen.segments())


def bar_frames(screen: Screen, description: str) -> list[str]:
    return [part for part in screen.segments() if description in part and "failed" in part]


class TestBarCounts:
    async def test_missing_credentials_are_not_failures(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """audit's bar counts a NO_CREDENTIAL as done, not as failed."""
        users = [fake.add_user(name=f"u{i}").id for i in range(3)]
        fake.add_credential(users[0], "sentera", sentera())
        picks = [arg for user in users for arg in ("--user", user)]

        screen = await on_pty(
            cli, "audit", "--provider", "sentera", *picks, "--out", str(tmp_path / "r.jsonl")
        )

        frames = bar_frames(screen, "audit")
        assert 0 == screen.code, screen.text
        assert frames
        assert "3/3" in frames[-1]
        assert [] == [frame for frame in frames if "0 failed" not in frame]

    async def test_an_unknown_total_is_indeterminate(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """Over every user (no total known) there is no bar drawn full, only a count."""
        for i in range(4):
            fake.add_user(name=f"u{i}")

        screen = await on_pty(cli, "audit", "--provider", "sentera", "--out", str(tmp_path / "r"))

        frames = bar_frames(screen, "audit")
        assert 0 == screen.code, screen.text
        assert frames
        assert [] == [frame for frame in frames if BAR in frame]
        assert "4 done" in frames[-1]
        assert "0 failed" in frames[-1]

    async def test_resume_check_404_is_not_a_failure(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """The resume check's GET that finds nothing (404) is not counted as failed."""
        entries = creates(fake, 2)
        plan = write_plan(tmp_path / "plan.jsonl", entries)
        results = tmp_path / "results.jsonl"
        # The interrupted run had started both lines; neither create landed.
        results.write_text(
            "".join(
                json.dumps({"line": n, "op": "create", "provider": "sentera",
                            "leafUserId": e["leafUserId"], "started": True}) + "\n"
                for n, e in enumerate(entries, 1)
            )
        )  # fmt: skip

        screen = await on_pty(
            cli, "apply", str(plan), "--resume", str(results), "--out", str(results)
        )

        frames = bar_frames(screen, "resume check")
        assert 0 == screen.code, screen.text
        assert frames
        assert [] == [frame for frame in frames if "0 failed" not in frame]


class TestAuditUnknownUser:
    async def test_says_the_user_does_not_exist(self, cli: Cli, fake: FakeLeaf) -> None:
        """A --user Leaf does not know is NO_USER, said on stderr, exit 1; others as before."""
        known = fake.add_user(name="grower").id

        result = await cli(
            "audit", "--provider", "sentera", "--provider", "cnhi",
            "--user", "nosuchuser", "--user", known,
        )  # fmt: skip

        by_user = {(line["leafUserId"], line["provider"]): line for line in result.lines()}
        assert 1 == result.code
        assert "audit: Leaf user 'nosuchuser' does not exist" in result.stderr
        assert {"leafUserId": "nosuchuser", "provider": "cnhi", "status": "NO_USER"} == by_user[
            "nosuchuser", "cnhi"
        ]
        assert "NO_USER" == by_user["nosuchuser", "sentera"]["status"]
        assert "NO_CREDENTIAL" == by_user[known, "sentera"]["status"]
        assert "NO_USER" in result.stderr  # the table's column


class TestProviders:
    async def test_a_table_on_a_terminal(self, cli: Cli) -> None:
        """On a terminal `providers` prints one row a provider, not JSON."""
        screen = await on_pty(cli, "providers")

        assert 0 == screen.code
        assert not screen.text.lstrip().startswith("[")
        assert "required fields" in screen.text
        assert any("sentera" in line and "password*" in line for line in screen.lines())
        assert len(screen.lines()) < 100

    async def test_json_on_a_terminal_when_asked(self, cli: Cli) -> None:
        """`providers --json` prints JSON even on a terminal."""
        screen = await on_pty(cli, "providers", "--json")

        assert "sentera" in {p["slug"] for p in json.loads(screen.text)}

    async def test_json_when_piped(self, cli: Cli) -> None:
        """Piped, `providers` prints JSON as before."""
        result = await cli("providers")

        assert "sentera" in {p["slug"] for p in json.loads(result.stdout)}


class TestAllowHttp:
    async def test_refusal_names_the_flag(self, cli: Cli) -> None:
        """A plain http:// host is refused with a hint that works on the command line."""
        result = await cli("get", "sentera", "u1", "--base-url", "http://example.com")

        assert 2 == result.code
        assert "--allow-http" in result.stderr

    async def test_the_flag_lets_it_through(self, cli: Cli, fake: FakeLeaf) -> None:
        """--allow-http reaches LeafSession(allow_http=True): the URL is no longer refused.

        "127.1" is not a loopback address to the SDK, and aiohttp refuses the
        URL before any connection: the run gets past the check with no network.
        """
        base = fake.url.replace("127.0.0.1", "127.1")

        refused = await cli("get", "sentera", "u1", "--base-url", base)
        allowed = await cli("get", "sentera", "u1", "--base-url", base, "--allow-http")

        assert 2 == refused.code
        assert (1, "TransportError") == (
            allowed.code, json.loads(allowed.stdout)["error"]["type"]
        )  # fmt: skip
        assert "allow_http" not in allowed.stderr

    async def test_help_says_the_token_goes_in_clear(self, cli: Cli) -> None:
        """The flag's help says what it costs."""
        result = await cli("get", "--help")

        assert "in clear" in " ".join(result.stdout.split())


def _has_outcome(path: Path) -> bool:
    return path.exists() and '"ok"' in path.read_text()


class TestInterrupt:
    async def _interrupt(self, cli: Cli, fake: FakeLeaf, *args: str, wait_for: Path | None) -> str:
        fake.faults.add(method="POST", delay=0.2, probability=1.0)
        proc = await asyncio.create_subprocess_exec(
            LEAF_CREDS, *args, "--concurrency", "2",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=cli.env,
        )  # fmt: skip
        assert proc.stdout is not None
        if wait_for is None:
            await proc.stdout.readline()  # the first outcome: the run is under way
        else:
            while not await asyncio.to_thread(_has_outcome, wait_for):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = await proc.communicate()
        assert 130 == proc.returncode
        return err.decode()

    async def test_says_the_exact_command(self, cli: Cli, fake: FakeLeaf, tmp_path: Path) -> None:
        """Ctrl-C during apply with --out prints the command that resumes it."""
        plan = write_plan(tmp_path / "plan.jsonl", creates(fake, 40))
        results = tmp_path / "results.jsonl"

        err = await self._interrupt(
            cli, fake, "apply", str(plan), "--out", str(results), wait_for=results
        )

        command = shlex.join(
            ["leaf-creds", "apply", str(plan), "--out", str(results), "--concurrency", "2",
             "--resume", str(results)]
        )  # fmt: skip
        assert "leaf-creds: interrupted" in err
        assert f"to resume, run: {command}" in err

    async def test_without_out_says_how_to_make_it_resumable(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """Without --out, the hint says to give --out and --resume next time."""
        plan = write_plan(tmp_path / "plan.jsonl", creates(fake, 40))

        err = await self._interrupt(cli, fake, "apply", str(plan), wait_for=None)

        assert "--out RESULTS.jsonl --resume RESULTS.jsonl" in err


class TestOptionsThatApply:
    @pytest.mark.parametrize("command", ["providers", "demo", "fake-server"])
    async def test_no_connection_options(self, cli: Cli, command: str) -> None:
        """Commands that never reach Leaf do not list the connection options."""
        result = await cli(command, "--help")

        assert 0 == result.code
        assert [] == [
            flag for flag in ("--base-url", "--token-file", "--timeout", "--show-secrets")
            if flag in result.stdout
        ]  # fmt: skip

    async def test_still_accepted(self, cli: Cli) -> None:
        """A script that passes them everywhere keeps working: they are only unlisted."""
        result = await cli("providers", "--json", "--base-url", "https://leaf.example")

        assert 0 == result.code
        assert "sentera" in {p["slug"] for p in json.loads(result.stdout)}

    async def test_commands_that_connect_keep_them(self, cli: Cli) -> None:
        """get still lists them."""
        result = await cli("get", "--help")

        assert "--base-url" in result.stdout
        assert "--allow-http" in result.stdout

    async def test_demo_shows_its_defaults(self, cli: Cli) -> None:
        """demo --help shows the defaults of --users and --seed."""
        text = " ".join((await cli("demo", "--help")).stdout.split())

        assert "Leaf users to create (default 300)" in text
        assert "seed of the injected faults (default 7)" in text


class TestFailedOnce:
    async def test_once_on_a_terminal(self, cli: Cli, fake: FakeLeaf) -> None:
        """A failed get on a terminal shows its error once (the JSON), not twice."""
        user = fake.add_user(name="grower").id

        screen = await on_pty(cli, "get", "sentera", user)

        message = json.loads(screen.text)["error"]["message"]
        assert 1 == screen.code
        assert 1 == screen.text.count(message)

    async def test_piped_keeps_json_and_the_line(self, cli: Cli, fake: FakeLeaf) -> None:
        """Piped, the JSON outcome is on stdout and the error line on stderr."""
        user = fake.add_user(name="grower").id

        result = await cli("get", "sentera", user)

        assert False is json.loads(result.stdout)["ok"]
        assert "leaf-creds get: failed:" in result.stderr


class TestMessages:
    async def test_missing_files_read_alike(self, cli: Cli, tmp_path: Path) -> None:
        """A missing --secret-file and a missing --from file say the same plain thing."""
        missing = tmp_path / "missing"

        secret = await cli(
            "alerts", "register", "--name", "n", "--url", "http://x/h",
            "--secret-file", str(missing),
        )  # fmt: skip
        body = await cli("create", "sentera", "u1", "--from", str(missing))

        assert 2 == secret.code == body.code
        assert f"cannot read --secret-file {missing}: No such file or directory" in secret.stderr
        assert f"cannot read --from {missing}: No such file or directory" in body.stderr
        assert [] == [
            text for text in (secret.stderr, body.stderr)
            if "Errno" in text or "FileNotFoundError" in text
        ]  # fmt: skip

    async def test_listen_refusals_have_the_prefix(self, tmp_path: Path) -> None:
        """`alerts listen` prefixes the line of a refused delivery like its other lines."""
        secret_file = tmp_path / "secret"
        secret_file.write_text("a-webhook-secret\n")
        proc = await asyncio.create_subprocess_exec(
            LEAF_CREDS, "alerts", "listen", "--port", "0", "--secret-file", str(secret_file),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stderr is not None
        greeting = (await proc.stderr.readline()).decode()
        url = greeting.rsplit(" ", 1)[1].strip()
        async with aiohttp.ClientSession() as client, client.post(url, data=b"{}") as answer:
            status = answer.status
        refusal = (await proc.stderr.readline()).decode()
        proc.send_signal(signal.SIGINT)
        await proc.communicate()

        assert 401 == status
        assert refusal.startswith("alerts listen: refused a delivery")

    async def test_a_cut_plan_line_is_reported_where_it_ends(
        self, cli: Cli, tmp_path: Path
    ) -> None:
        """A plan line cut short is reported at its last column, not column 1."""
        text = '{"op": "create", "provider": "sentera", "leafUserId": "u1", "credentials": {"a": 1'
        plan = write_plan(tmp_path / "plan.jsonl", [text])

        result = await cli("apply", str(plan), "--dry-run")

        assert 2 == result.code
        assert f"at column {len(text) + 1}, the end of the line" in result.stderr
        assert "column 1)" not in result.stderr

    async def test_create_lists_every_problem(self, cli: Cli, tmp_path: Path) -> None:
        """create --from names the missing fields and the empty one together."""
        body = tmp_path / "body.json"
        body.write_text(json.dumps({"organizationName": ""}))

        result = await cli("create", "sentera", "u1", "--from", str(body))

        assert 2 == result.code
        for problem in (
            "required field missing @ $.username",
            "required field missing @ $.password",
            "must not be empty @ $.organizationName",
        ):
            assert problem in result.stderr



# -- the same, in this process (`main(argv)`), with a stream that says it is a terminal --


class Tty(io.StringIO):
    """Standard output and error in one, as on a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def tty(fake: FakeLeaf, monkeypatch: pytest.MonkeyPatch) -> Tty:
    for name in ("LEAF_USERNAME", "LEAF_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEAF_TOKEN", fake.token)
    monkeypatch.setenv("LEAF_BASE_URL", fake.url)
    monkeypatch.setenv("COLUMNS", "200")
    return Tty()


async def run_main(stream: Tty, *argv: str) -> int:
    """Run `main` with stdout and stderr on `stream`, in a worker thread (the fake keeps serving).

    Set here, in the test's call, because pytest puts its own capture back
    on sys.stdout after fixtures ran.
    """

    def run() -> int:
        saved = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = stream
        try:
            return main(list(argv))
        finally:
            sys.stdout, sys.stderr = saved

    return await asyncio.to_thread(run)


def last_segments(text: str) -> list[str]:
    return [line.rsplit("\r", 1)[-1] for line in ANSI.sub("", text).split("\n")]


class TestInProcess:
    async def test_providers_table(self, tty: Tty) -> None:
        """On a terminal `providers` draws a table with a row per provider."""
        code = await run_main(tty, "providers")

        assert 0 == code
        assert "required fields" in tty.getvalue()
        assert not tty.getvalue().lstrip().startswith("[")

    async def test_providers_table_without_rich(
        self, tty: Tty, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without rich (the cli extra), the table is plain text."""
        monkeypatch.setitem(sys.modules, "rich.table", None)

        code = await run_main(tty, "providers")

        lines = tty.getvalue().splitlines()
        assert 0 == code
        assert lines[0].split() == ["provider", "name", "required", "fields", "optional", "fields"]
        assert any(line.startswith("sentera ") for line in lines)

    async def test_apply_lines_above_the_bar(
        self, tty: Tty, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """Outcome lines printed while the bar is drawn each start a line of their own."""
        plan = write_plan(tmp_path / "plan.jsonl", creates(fake, 5))

        code = await run_main(tty, "apply", str(plan))

        outcomes = [line for line in last_segments(tty.getvalue()) if '"leafUserId"' in line]
        assert 0 == code
        assert 5 == len(outcomes)
        assert [] == [line for line in outcomes if not line.startswith("{")]

    async def test_audit_unknown_user(self, tty: Tty, fake: FakeLeaf) -> None:
        """audit names a --user that does not exist and exits 1."""
        code = await run_main(tty, "audit", "--provider", "sentera", "--user", "nobody")

        assert 1 == code
        assert "audit: Leaf user 'nobody' does not exist" in tty.getvalue()
        assert '"status": "NO_USER"' in tty.getvalue()

    async def test_failed_get_once(self, tty: Tty, fake: FakeLeaf) -> None:
        """A failed get on a terminal prints the JSON outcome only."""
        user = fake.add_user(name="grower").id

        code = await run_main(tty, "get", "sentera", user)

        assert 1 == code
        assert "failed:" not in tty.getvalue()
        assert False is json.loads(tty.getvalue())["ok"]


class TestInProcessEdges:
    async def test_another_terminal_is_written_directly(
        self, tty: Tty, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """With stdout on another terminal than the bar, the lines go straight to it."""
        plan = write_plan(tmp_path / "plan.jsonl", creates(fake, 3))
        out = Tty()

        def run() -> int:
            saved = sys.stdout, sys.stderr
            sys.stdout, sys.stderr = out, tty
            try:
                return main(["apply", str(plan)])
            finally:
                sys.stdout, sys.stderr = saved

        code = await asyncio.to_thread(run)

        assert 0 == code
        assert 3 == len([json.loads(line) for line in out.getvalue().splitlines()])
        assert '"leafUserId"' not in tty.getvalue()

    async def test_a_user_lookup_that_cannot_tell(self, tty: Tty, fake: FakeLeaf) -> None:
        """A --user lookup answered with another error than 404 audits the user as usual."""
        user = fake.add_user(name="grower").id
        fake.faults.add(method="GET", path=f"/users/{user}", status=403)

        code = await run_main(tty, "audit", "--provider", "sentera", "--user", user)

        assert 0 == code
        assert '"status": "NO_CREDENTIAL"' in tty.getvalue()
        assert "does not exist" not in tty.getvalue()

    async def test_a_body_that_is_not_utf8(self, tty: Tty, tmp_path: Path) -> None:
        """create --from a file that is not UTF-8 says so, in the one form."""
        body = tmp_path / "body.json"
        body.write_bytes(b"\xff\xfe{}")

        code = await run_main(tty, "create", "sentera", "u1", "--from", str(body))

        assert 2 == code
        assert f"cannot read --from {body}: not UTF-8 text" in tty.getvalue()


class TestInterruptInProcess:
    """Ctrl-C in this process: the fake serves from a thread, a real SIGINT hits `main`."""

    @pytest.mark.parametrize("resume", [None, "same", "other", "no --out"])
    def test_resume_hint(
        self,
        resume: str | None,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """The hint is the command to run, whether or not --resume was given."""
        ready = threading.Event()
        box: dict[str, Any] = {}

        async def serve() -> None:
            async with FakeLeaf() as fake:
                fake.faults.add(method="POST", delay=0.2, probability=1.0)
                box.update(fake=fake, entries=creates(fake, 40), stop=asyncio.Event(),
                           loop=asyncio.get_running_loop())  # fmt: skip
                ready.set()
                await box["stop"].wait()

        server = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
        server.start()
        assert ready.wait(10)
        fake: FakeLeaf = box["fake"]
        monkeypatch.setenv("LEAF_TOKEN", fake.token)
        monkeypatch.setenv("LEAF_BASE_URL", fake.url)
        plan = write_plan(tmp_path / "plan.jsonl", box["entries"])
        out = tmp_path / "results.jsonl"
        earlier = tmp_path / "earlier.jsonl"
        extra = {None: [], "same": ["--resume", str(out)], "other": ["--resume", str(earlier)]}
        argv = ["apply", str(plan)]
        if resume != "no --out":
            argv += ["--out", str(out), *extra[resume]]

        def interrupt() -> None:
            while len(fake.requests) < 3:
                time.sleep(0.02)
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

        killer = threading.Thread(target=interrupt, daemon=True)
        killer.start()
        try:
            code = main([*argv, "--concurrency", "2"])
        finally:
            box["loop"].call_soon_threadsafe(box["stop"].set)
            server.join(10)
            killer.join(10)
        err = capsys.readouterr().err

        command = shlex.join(["leaf-creds", *argv, "--concurrency", "2"])
        expected = {
            None: f"to resume, run: {command} --resume {out}",
            "same": f"to resume, run: {command}",
            "other": f"to resume, run: cat {out} >> {earlier} && {command}",
            "no --out": "give --out RESULTS.jsonl --resume RESULTS.jsonl to make a run resumable",
        }[resume]
        assert 130 == code
        assert f"{expected}\n" in err
