"""A PostgreSQL server of the tests' own: initdb in a temporary directory, on 127.0.0.1.

Debian's ``postgresql`` package (``.ci/run`` installs it) puts its programs
in ``/usr/lib/postgresql/<version>/bin``. PostgreSQL refuses to run as
root, so as root the server runs as ``nobody``. Without the programs (or
asyncpg) the tests that need it skip, saying why; under CI (``CI`` set)
they fail instead: there they must run.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

USER = "leaf"


def postgres_bin() -> str | None:
    """Return the directory of Debian's PostgreSQL programs (the newest), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return os.path.dirname(found[-1]) if found else None


def require_postgres() -> str:
    """Return the programs' directory; skip (fail under CI) without PostgreSQL or asyncpg."""
    where = postgres_bin()
    missing = [] if where else ["PostgreSQL (apt-get install -y postgresql)"]
    if importlib.util.find_spec("asyncpg") is None:
        missing.append("asyncpg (pip install -e '.[test]')")
    if missing:
        reason = "the PostgreSQL store tests need " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    assert where is not None
    return where


def free_port() -> int:
    """Return a port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_postgres() -> Iterator[str]:
    """Start a throwaway PostgreSQL on 127.0.0.1; yield its DSN; stop it and remove its files."""
    bindir = require_postgres()
    as_root = os.geteuid() == 0
    owner: dict[str, Any] = {"user": "nobody", "group": "nogroup"} if as_root else {}
    data = tempfile.mkdtemp(prefix="leaf-creds-pg-")
    if as_root:
        shutil.chown(data, "nobody", "nogroup")
    port = free_port()
    subprocess.run(  # noqa: S603 - Debian's own programs, no shell
        [f"{bindir}/initdb", "-D", data, "-U", USER, "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True, capture_output=True, **owner,
    )  # fmt: skip
    # No fsync: a test server's data need not survive a power loss.
    server = subprocess.Popen(  # noqa: S603 - Debian's own programs, no shell
        [f"{bindir}/postgres", "-D", data, "-h", "127.0.0.1", "-p", str(port), "-k", data,
         "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
         "-c", "max_connections=200"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **owner,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run(  # noqa: S603 - Debian's own programs, no shell
                [f"{bindir}/pg_isready", "-h", "127.0.0.1", "-p", str(port)], capture_output=True
            )
            if ready.returncode == 0:
                break
            if server.poll() is not None or time.monotonic() > deadline:
                error = server.stderr.read().decode() if server.stderr else ""
                pytest.fail(f"PostgreSQL did not start: {error[-500:]}")
            time.sleep(0.1)
        yield f"postgresql://{USER}@127.0.0.1:{port}/postgres"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stderr:
            server.stderr.close()
        shutil.rmtree(data, ignore_errors=True)


async def fresh_database(dsn: str, name: str) -> str:
    """Create an empty database on the server of ``dsn``; return its DSN."""
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return dsn.rsplit("/", 1)[0] + "/" + name
