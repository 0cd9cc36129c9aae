"""Every Python and shell example of the docs and the README runs, against the fake Leaf.

One test per page runs its examples in order, as a reader would, against one
:class:`FakeLeaf` on 127.0.0.1:

- a ``python`` block runs in-process, top-level ``await`` allowed, in a
  namespace shared by the page's blocks. Before each block these names are
  set again: ``lc`` (leaf_creds), ``asyncio``, ``fake`` (the started fake),
  ``leaf`` (an open ``LeafSession`` on it), ``user_id`` (a Leaf user of the
  fake without credentials) and ``secret`` (a webhook secret). A block that
  calls ``asyncio.run()`` runs in a thread of its own, as a script would;
  ``LEAF_BASE_URL`` and ``LEAF_TOKEN`` point at the fake, whose accounts
  include ``me@example.com`` with the password ``"..."``. A block that
  defines ``test_`` functions is a test file: it runs under pytest (strict
  asyncio mode, warnings as errors) with the installed pytest plugin;
- a ``sh`` block runs in bash (``-e -o pipefail``), a ``console`` block's
  ``$`` lines likewise, in a temporary directory holding the files the
  examples name (``FILES``) and ``examples/``, with ``leaf-creds`` on the
  PATH, ``LEAF_BASE_URL``/``LEAF_TOKEN`` set for the fake, ``USER_ID`` and
  ``WEBHOOK_ID`` (the last webhook registered). Ports 8080 and 8081 become
  free ports; a ``fake-server`` or ``alerts listen`` started with ``&`` (or
  as a ``console`` command) is waited for until it listens, and stopped
  with its block.

An HTML comment on the line before a fence changes that:
``<!-- example: skip: WHY -->`` does not run the block (for the few that
need Airflow, a browser or a real Leaf account), and ``<!-- example: exits
N -->`` expects that exit status of a shell block. Nothing here reaches past
127.0.0.1: a name other than a loopback one does not resolve.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import json
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").rglob("*.md"))
PAGES.append("README.md")

TOKEN = "dev-token"
SECRET = "whsec-example-secret"
USER_ID = "3f1c9a52-7d4e-4b8a-9c61-2e5f0a7b8d13"  # Ada, the fake's user without credentials
SENTERA_BODY = {"username": "ada", "password": "pw", "organizationName": "Ada's farm"}
CNHI_BODY = {"clientId": "app", "clientSecret": "s3cret", "subscriptionKey": "sub",
             "refreshToken": "rt", "clientEnvironment": "PRODUCTION"}  # fmt: skip
# The files the shell examples name, as a reader would have them.
FILES = {
    "body.json": SENTERA_BODY,
    "plan.jsonl": "\n".join(
        json.dumps({"op": "replace", "provider": provider, "leafUserId": USER_ID,
                    "credentials": body})
        for provider, body in (("sentera", SENTERA_BODY), ("cnhi", CNHI_BODY))
    ),
    "jd-keys.json": {"clientKey": "jd-app", "clientSecret": "jd-secret"},
    "growers.txt": f"# one Leaf user id a line\n{USER_ID}",
    "secret.txt": SECRET,
    "new-secret.txt": "whsec-the-new-one",
    "seed.json": {"users": [  # the seed document of the testing guide
        {"id": "u1", "name": "Ada", "email": "ada@example.com", "externalId": "farm-1",
         "credentials": {"sentera": SENTERA_BODY}, "statuses": {"sentera": "UNAUTHENTICATED"}},
        {"name": "Bob"},
    ]},
}
# The pages whose fake also holds a seed document the page tells the reader about.
SEEDS = {"docs/guides/diagnosing.md": "examples/diagnose/seed.json"}
SERVERS = re.compile(r"\bleaf-creds (?:fake-server|alerts listen)\b")
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w-]*)\s*$")
MARKER = re.compile(r"^\s*<!-- example: (?:skip: (?P<why>.+?)|exits (?P<code>\d+)) -->\s*$")
LANGUAGES = {"python": "python", "py": "python", "sh": "shell", "bash": "shell",
             "shell": "shell", "console": "console"}  # fmt: skip
LOOPBACK = {None, "localhost", "127.0.0.1", "::1", "localhost.localdomain"}
TIMEOUT = 60


@attrs.frozen
class Block:
    """One fenced example of a page."""

    page: str
    line: int  # of the opening fence, 1-based
    language: str  # python, shell or console
    code: str
    skip: str | None = None
    exit_code: int = 0

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(page: str) -> list[Block]:
    """Return the Python and shell examples of a page, in order."""
    lines = (ROOT / page).read_text().splitlines()
    found = []
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        start, indent = index, len(fence["indent"])
        index += 1
        body = []
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index][indent:])
            index += 1
        index += 1
        language = LANGUAGES.get(fence["lang"])
        if language is None:
            continue
        marker = MARKER.match(lines[start - 1]) if start else None
        found.append(
            Block(page, start + 1, language, "\n".join(body) + "\n",
                  skip=marker["why"] if marker else None,
                  exit_code=int(marker["code"]) if marker and marker["code"] else 0)
        )  # fmt: skip
    return found


# -- the network guard -----------------------------------------------------------


def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse to resolve or connect to anything but this machine, for the test's duration."""
    resolve, connect = socket.getaddrinfo, socket.socket.connect

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in LOOPBACK and not str(name).startswith("127."):
            raise socket.gaierror(socket.EAI_NONAME, f"{name}: no network in the docs' tests")
        return resolve(host, *args, **kwargs)

    def guarded_connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0]
            if host not in LOOPBACK and not str(host).startswith("127."):
                raise ConnectionRefusedError(f"{host}: no network in the docs' tests")
        connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)


# -- the page's world ------------------------------------------------------------


@attrs.define
class World:
    """What a page's examples run against."""

    fake: FakeLeaf
    leaf: lc.LeafSession
    user_id: str
    workdir: Path
    ports: dict[str, str]
    namespace: dict[str, Any] = attrs.field(factory=dict)
    servers: list[int] = attrs.field(factory=list)  # process groups left running for the page

    def names(self) -> dict[str, Any]:
        return {"lc": lc, "asyncio": asyncio, "fake": self.fake, "leaf": self.leaf,
                "user_id": self.user_id, "secret": SECRET}  # fmt: skip

    def environment(self) -> dict[str, str]:
        webhooks = self.fake.alerts.webhooks
        return {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "LEAF_BASE_URL": self.fake.url,
            "LEAF_TOKEN": TOKEN,
            "USER_ID": self.user_id,
            "WEBHOOK_ID": str(webhooks[-1]["id"]) if webhooks else "",
            "PYTHONWARNINGS": "error",
        }


def free_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


@pytest.fixture
async def world(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[World]:
    """Start a fake Leaf and a session on it, in a directory holding the examples' files."""
    for name, content in FILES.items():
        text = content if isinstance(content, str) else json.dumps(content)
        (tmp_path / name).write_text(text + "\n")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    accounts = {"user@example.com": "password", "me@example.com": "..."}
    loopback_only(monkeypatch)
    async with FakeLeaf(accounts=accounts, tokens=(TOKEN,)) as fake:
        monkeypatch.setenv("LEAF_BASE_URL", fake.url)
        monkeypatch.setenv("LEAF_TOKEN", TOKEN)
        fake.add_user(id="your-leaf-user-id", name="Grower")
        user = fake.add_user(id=USER_ID, name="Ada", email="ada@example.com")
        seed = SEEDS.get(request.node.callspec.params["page"])
        if seed is not None:
            fake.load_seed(json.loads((ROOT / seed).read_text()))
        async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
            ports = {"8080": free_port(), "8081": free_port()}
            world = World(fake, leaf, user.id, tmp_path, ports)
            try:
                yield world
            finally:
                for group in world.servers:
                    stop(group)
        await fake.wait_idle()


# -- running a block -------------------------------------------------------------


async def run_python(block: Block, world: World) -> None:
    if re.search(r"^(async )?def test_", block.code, re.M):
        return await run_pytest(block, world)
    world.namespace.update(world.names())
    code = compile(block.code, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if code.co_flags & inspect.CO_COROUTINE:
        await eval(code, world.namespace)  # noqa: S307 - our own docs' examples
    elif "asyncio.run(" in block.code:  # a script: it runs its own event loop
        await asyncio.to_thread(exec, code, world.namespace)
    else:
        exec(code, world.namespace)  # noqa: S102 - our own docs' examples
    return None


async def run_pytest(block: Block, world: World) -> None:
    test_file = world.workdir / f"test_example_{block.line}.py"
    test_file.write_text(block.code)
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
            "-o", "asyncio_mode=strict", "-o", "asyncio_default_fixture_loop_scope=function",
            test_file.name]  # fmt: skip
    status, output = await run(argv, world)
    assert 0 == status, f"{block.where}: pytest failed\n{output}"


def shell_script(block: Block, world: World) -> str:
    """Return the bash script of a shell or console block, ports moved, servers awaited."""
    if block.language == "console":
        commands, pending = [], None
        for line in block.code.splitlines():
            if pending is not None:
                pending += " " + line.strip()
            elif line.startswith("$ "):
                pending = line[2:]
            else:
                continue  # what the command printed
            if pending.endswith("\\"):
                pending = pending[:-1].rstrip()
                continue
            command = re.split(r"\s+#", pending, maxsplit=1)[0]
            if SERVERS.search(command) and not command.endswith("&"):
                command += " &"  # a server a reader leaves running in a terminal
            commands.append(command)
            pending = None
        text = "\n".join(commands)
    else:
        text = block.code
    for port, free in world.ports.items():
        text = re.sub(rf"\b{port}\b", free, text)
    script = []
    for line in text.replace("\\\n", " ").splitlines():
        if SERVERS.search(line) and re.search(r"&\s*(#.*)?$", line):
            listens = re.search(r"--port (\d+)", line)
            assert listens is not None, f"{block.where}: give the server a --port to wait for"
            script.append(re.sub(r"&\s*(#.*)?$", ">>servers.log 2>&1 &", line))
            script.append(
                f"for _ in $(seq 400); do (exec 3<>/dev/tcp/127.0.0.1/{listens[1]}) 2>/dev/null"
                " && break; sleep 0.05; done"
            )
        else:
            script.append(line)
    return "\n".join(script) + "\n"


def stop(group: int) -> None:
    """Stop a process group this test started (a block and the servers it left running)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)


async def run(argv: list[str], world: World, *, servers: bool = False) -> tuple[int, str]:
    """Run a command in the page's directory, in a process group of its own.

    The group is stopped when the command ends, or with the page when it
    started servers that later blocks use (a reader leaves them running).
    """
    process = await asyncio.create_subprocess_exec(
        *argv, cwd=world.workdir, env=world.environment(), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        # The servers it leaves running write to servers.log, not to this pipe.
        output, _ = await asyncio.wait_for(process.communicate(), TIMEOUT)
    except BaseException:
        stop(process.pid)
        raise
    if servers:
        world.servers.append(process.pid)
    else:
        stop(process.pid)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def run_shell(block: Block, world: World) -> None:
    script = shell_script(block, world)
    argv = ["bash", "-e", "-o", "pipefail", "-c", script]
    status, output = await run(argv, world, servers="servers.log" in script)
    log = world.workdir / "servers.log"
    servers = f"\nservers.log:\n{log.read_text()}" if log.exists() else ""
    assert block.exit_code == status, f"{block.where}: exit {status}\n{script}\n{output}{servers}"


# -- the tests -------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
async def test_examples_run(page: str, world: World) -> None:
    """Each Python and shell example of the page runs against the fake and succeeds."""
    for block in blocks(page):
        if block.skip:
            continue
        if block.language == "python":
            await run_python(block, world)
        else:
            await run_shell(block, world)


class TestMarkers:
    def test_skips_are_few_and_say_why(self) -> None:
        """At most sixteen of the sixty-odd examples are not run, each saying why."""
        skipped = [b for page in PAGES for b in blocks(page) if b.skip]

        assert len(skipped) <= 16, [b.where for b in skipped]
        assert all(len(b.skip or "") > 10 for b in skipped)

    def test_every_marker_is_read(self) -> None:
        """A marker comment sits right before a Python or shell fence, or it is a typo."""
        for page in PAGES:
            lines = (ROOT / page).read_text().splitlines()
            marked = {b.line - 1 for b in blocks(page) if b.skip or b.exit_code}
            for number, line in enumerate(lines, 1):
                if line.lstrip().startswith("<!-- example"):
                    assert number in marked, f"{page}:{number}: {line.strip()}"

    def test_the_readme_examples_are_collected(self) -> None:
        """The README's ten lines are among the examples run; its quick start is left to CI."""
        readme = blocks("README.md")

        assert any("async with lc.LeafSession" in b.code and not b.skip for b in readme)
        assert all(b.skip for b in readme if "python3 -m venv" in b.code)
