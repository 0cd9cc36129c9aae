"""The canned Leaf server of the benchmarks: nginx when installed, else a raw asyncio one.

Both answer the same fixed bytes per route (see ``BODIES`` and
``bench/nginx.conf``), bound to 127.0.0.1, pinned to the last core so the
client has the first one to itself.

The fallback is a bare ``asyncio.Protocol`` in its own process, not
``aiohttp.web``: a Python server framework would be the bottleneck and its
CPU would be mixed with the client's. Run it by hand with
``python bench/server.py [--port N]``; it prints the port it listens on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = "/services/usermanagement/api"
TOKEN = "bench-token-0123456789"  # a fixed fake token, for the canned server only

_CREATED = "2024-05-06T07:08:09.123456Z"
BODIES: dict[str, bytes] = {
    key: json.dumps(value, separators=(",", ":")).encode()
    for key, value in {
        "sentera": {
            "id": "6f1c2d3e-4a5b-4c6d-8e7f-901234567890",
            "status": "OK",
            "createdTime": _CREATED,
            "username": "grower@example.com",
            "authToken": "sentera-auth-token-abcdef",
            "organizationId": "org-42",
            "organizationName": "Acme Farms",
        },
        "cnhi": {
            "id": "7a2b3c4d-5e6f-4a1b-9c2d-3e4f5a6b7c8d",
            "status": "OK",
            "createdTime": _CREATED,
            "clientId": "cnhi-client-id",
            "clientSecret": "cnhi-client-secret",
            "refreshToken": "cnhi-refresh-token",
            "clientEnvironment": "STAGE",
            "subscriptionKey": "cnhi-subscription-key",
        },
        "generic": {
            "id": "8b3c4d5e-6f7a-4b2c-8d3e-4f5a6b7c8d9e",
            "status": "OK",
            "createdTime": _CREATED,
        },
        "events": [
            {
                "id": f"event-{i}",
                "body": '{"message":"ok"}',
                "headers": "content-type: application/json",
                "statusCode": status,
                "createdDate": f"2024-05-0{i + 1}T10:00:00.000000Z",
            }
            for i, status in enumerate((200, 401, 200))
        ],
        "users": [],
        "login": {"id_token": TOKEN},
        "not_found": {"title": "Not Found", "status": 404},
    }.items()
}


def answer(method: bytes, path: bytes) -> bytes:
    """Return the full HTTP response for a request, as nginx.conf would send it."""
    path = path.split(b"?", 1)[0]
    if path == b"/api/authenticate":
        return _RESPONSES["login"]
    if path == BASE.encode() + b"/users":
        return _RESPONSES["users"]
    if path.endswith(b"-credentials/events"):
        return _RESPONSES["events"]
    if path.endswith(b"-credentials"):
        if method == b"DELETE":
            return _NO_CONTENT
        name = path.rsplit(b"/", 1)[1][: -len(b"-credentials")].decode()
        key = name if name in {"sentera", "cnhi"} else "generic"
        return _RESPONSES[key + "-created" if method == b"POST" else key]
    return _RESPONSES["not_found"]


def _response(status: str, body: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\n"
        "Server: bench\r\n"
        "Date: Mon, 06 May 2024 07:08:09 GMT\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\n\r\n"
    ).encode() + body


_RESPONSES = {key: _response("200 OK", body) for key, body in BODIES.items()}
_RESPONSES["not_found"] = _response("404 Not Found", BODIES["not_found"])
for _key in ("sentera", "cnhi", "generic"):
    _RESPONSES[_key + "-created"] = _response("201 Created", BODIES[_key])
_NO_CONTENT = (
    b"HTTP/1.1 204 No Content\r\nServer: bench\r\n"
    b"Date: Mon, 06 May 2024 07:08:09 GMT\r\nConnection: keep-alive\r\n\r\n"
)


class CannedProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and pipelining, just enough for aiohttp's requests."""

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        out = []
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buffer[:end]
            length = 0
            lower = head.lower()
            at = lower.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = lower.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            total = end + 4 + length
            if len(buffer) < total:
                break
            method, path, _ = head[: head.find(b"\r\n")].split(b" ", 2)
            out.append(answer(method, path))
            buffer = buffer[total:]
        self._buffer = buffer
        if out and self._transport is not None:
            self._transport.write(b"".join(out))


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(CannedProtocol, "127.0.0.1", port, backlog=1024)
    sock = server.sockets[0]
    print(sock.getsockname()[1], flush=True)
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    async with server:
        await stop


def pin(pid: int, core: int) -> None:
    """Pin a process to one core, when the machine has more than one."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(pid, {core})


def server_core() -> int:
    """The core the server runs on: the last one."""
    return (os.cpu_count() or 1) - 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the canned server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the canned server is not listening on {port}")


def nginx_config(port: int) -> str:
    """Return bench/nginx.conf with the port and the bodies filled in."""
    text = (HERE / "nginx.conf").read_text()
    values = {"port": str(port)} | {key: body.decode() for key, body in BODIES.items()}
    for key, value in values.items():
        # nginx would interpolate `$`, end the string at `'` and eat one `\`.
        assert "$" not in value, key
        assert "'" not in value, key
        text = text.replace("{{" + key + "}}", value.replace("\\", "\\\\"))
    return text


@contextlib.contextmanager
def canned_server(kind: str = "auto") -> Iterator[tuple[str, str]]:
    """Start the canned server; yield ``(base_url, kind)``; stop it on exit.

    Args:
        kind: ``"nginx"``, ``"asyncio"``, or ``"auto"`` (nginx when on PATH).
    """
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None
    )
    if kind == "auto":
        kind = "nginx" if nginx else "asyncio"
    core = server_core()
    with tempfile.TemporaryDirectory(prefix="leaf-bench-") as tmp:
        if kind == "nginx":
            if nginx is None:
                raise RuntimeError("nginx is not installed")
            port = _free_port()
            (Path(tmp) / "tmp").mkdir()
            conf = Path(tmp) / "nginx.conf"
            conf.write_text(nginx_config(port))
            # The master forks its worker after exec, so pinning it before
            # exec pins both.
            proc = subprocess.Popen(
                [nginx, "-p", tmp, "-c", str(conf), "-e", "stderr"],
                preexec_fn=lambda: pin(0, core),
            )
            _wait_listening(port, proc)
        else:
            proc = subprocess.Popen(
                [sys.executable, str(Path(__file__)), "--port", "0"],
                stdout=subprocess.PIPE,
                preexec_fn=lambda: pin(0, core),
            )
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.strip():
                proc.wait()
                raise RuntimeError("the asyncio canned server did not start")
            port = int(line)
            _wait_listening(port, proc)
        try:
            yield f"http://127.0.0.1:{port}", kind
        finally:
            # nginx: SIGQUIT is its graceful stop; the fallback stops on SIGTERM.
            proc.send_signal(signal.SIGQUIT if kind == "nginx" else signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()
    asyncio.run(_serve(args.port))


if __name__ == "__main__":
    main()
