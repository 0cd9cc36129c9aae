"""What the command line's tests share: the installed command, plan files, and two CLI runners.

`SubprocessCli` runs the installed `leaf-creds` against a fake Leaf; `Cli`
calls `main(argv)` in-process, where coverage sees it. Both keep what was
printed, to look for a leaked secret.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
import pytest

from leaf_creds.cli import main
from leaf_creds.testing import FakeLeaf

BIN = Path(sys.executable).parent
LEAF_CREDS = shutil.which("leaf-creds", path=str(BIN)) or str(BIN / "leaf-creds")
SECRET = "S3cret-value-1234"


def sentera(i: int = 0) -> dict[str, str]:
    return {"username": f"grower{i}", "password": f"{SECRET}-pw{i}", "organizationName": "Acme"}


def cnhi(i: int = 0) -> dict[str, str]:
    return {
        "clientId": f"client{i}",
        "clientSecret": f"{SECRET}-cs{i}",
        "subscriptionKey": f"{SECRET}-sk{i}",
        "refreshToken": f"{SECRET}-rt{i}",
        "clientEnvironment": "STAGE",
    }


@attrs.frozen
class SubprocessResult:
    code: int
    stdout: str
    stderr: str

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines()]


class SubprocessCli:
    """Runs the installed `leaf-creds` against one fake Leaf."""

    def __init__(self, fake: FakeLeaf) -> None:
        self.fake = fake
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LEAF_")}
        self.env.update(LEAF_TOKEN=fake.token, LEAF_BASE_URL=fake.url)
        self.outputs: list[str] = []

    async def __call__(
        self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> SubprocessResult:
        proc = await asyncio.create_subprocess_exec(
            LEAF_CREDS,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env if env is not None else self.env,
        )
        out, err = await proc.communicate(None if stdin is None else stdin.encode())
        assert proc.returncode is not None
        result = SubprocessResult(proc.returncode, out.decode(), err.decode())
        self.outputs += [result.stdout, result.stderr]
        return result

    def leaked(self) -> list[str]:
        """Return every output that shows a secret or the bearer token."""
        return [
            text for text in self.outputs if SECRET in text or self.fake.token in text
        ]


def write_plan(path: Path, entries: Sequence[object]) -> Path:
    path.write_text(
        "".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in entries)
    )
    return path


def creates(fake: FakeLeaf, count: int) -> list[dict[str, Any]]:
    users = [fake.add_user(name=f"user {i}").id for i in range(count)]
    return [
        {"op": "create", "provider": "sentera", "leafUserId": u, "credentials": sentera(i)}
        for i, u in enumerate(users)
    ]


LEAF_VARIABLES = ("LEAF_TOKEN", "LEAF_USERNAME", "LEAF_PASSWORD", "LEAF_BASE_URL")


@attrs.frozen
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.splitlines()]


class Cli:
    """Calls `main(argv)` and keeps what it printed, to look for leaked secrets."""

    def __init__(self, capsys: pytest.CaptureFixture[str], secrets: Sequence[str]) -> None:
        self._capsys = capsys
        self._secrets = secrets
        self.outputs: list[str] = []

    def run(self, *argv: str) -> Result:
        """Run in this thread (no event loop may be running in it)."""
        return self._result(main(list(argv)))

    async def __call__(self, *argv: str) -> Result:
        """Run in a worker thread, so the test's loop keeps serving the fake."""
        return self._result(await asyncio.to_thread(main, list(argv)))

    def _result(self, code: int) -> Result:
        captured = self._capsys.readouterr()
        self.outputs += [captured.out, captured.err]
        return Result(code, captured.out, captured.err)

    def leaked(self) -> list[str]:
        """Return every output that shows a secret."""
        return [text for text in self.outputs if any(s in text for s in self._secrets)]


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def outcomes(path: Path) -> dict[int, dict[str, Any]]:
    """Return the last outcome line of each plan line (the "started" lines left out)."""
    return {entry["line"]: entry for entry in read(path) if "ok" in entry}


def write_results(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Keep the browser on 127.0.0.1: no updates, sync, metrics or first-run calls home.
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",  # CI runs as root
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--disable-extensions",
)


def require_chromium() -> None:
    """Skip (fail under CI) unless chromium, chromedriver and selenium are installed."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if importlib.util.find_spec("selenium") is None:
        missing.append("selenium")
    if missing:
        reason = (
            f"the browser test needs {', '.join(missing)}: apt-get install -y chromium "
            "chromium-driver, and pip install -e '.[test]'"
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
