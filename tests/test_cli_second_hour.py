"""A newcomer's second hour (issue 25, part 3): what they tripped over, through the command:
`main(argv)` in-process against a FakeLeaf (conftest's `cli`), or the installed `leaf-creds` as a
subprocess (`sub`) where a signal or a terminal is the point."""

from __future__ import annotations

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
