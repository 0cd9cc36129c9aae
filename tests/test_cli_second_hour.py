"""A newcomer's second hour (issue 25, part 3): what they tripped over, through the command:
`main(argv)` in-process against a FakeLeaf (conftest's `cli`), or the installed `leaf-creds` as a
subprocess (`sub`) where a signal or a terminal is the point."""

from __future__ import annotations

import time

import pytest

from leaf_creds.testing import FakeLeaf
from tests.test_cli import Cli as Subprocess
from tests.test_cli_inprocess import Cli


@pytest.fixture
def sub(fake: FakeLeaf) -> Subprocess:
    return Subprocess(fake)


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
