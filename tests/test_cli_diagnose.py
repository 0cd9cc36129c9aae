"""`leaf-creds diagnose`: in-process for every branch, and the installed command on the seed."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from leaf_creds.testing import FakeLeaf
from tests.cli_helpers import Cli

SEED = Path(__file__).parent.parent / "examples" / "diagnose" / "seed.json"
SEED_SECRETS = [f"jd-client-secret-{n}" for n in range(1, 6)] + [
    f"jd-refresh-token-{n}" for n in range(1, 6)
]
BIN = Path(sys.executable).parent
LEAF_CREDS = shutil.which("leaf-creds", path=str(BIN)) or str(BIN / "leaf-creds")
VERDICTS = {
    "grower-revoked": "revoked",
    "grower-not-shared": "organizations_not_shared",
    "grower-nothing-selected": "nothing_selected",
    "grower-healthy": "healthy",
    "grower-never-synced": "never_synced",
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeLeaf]:
    """A fake holding the example seed: one user per situation."""
    async with FakeLeaf() as server:
        server.load_seed(json.loads(SEED.read_text()))
        yield server


@pytest.fixture
def cli_secrets() -> list[str]:
    """The seed's John Deere secrets must never be printed."""
    return SEED_SECRETS


class TestInProcess:
    @pytest.mark.parametrize(("user", "code"), sorted(VERDICTS.items()))
    async def test_json_names_the_verdict(self, cli: Cli, user: str, code: str) -> None:
        """--json: each seeded user's verdict; exit 0 only when nothing needs doing."""
        result = await cli("diagnose", user, "--json")

        data = result.json()
        (credential,) = data["credentials"]
        assert code == credential["verdict"]["code"]
        assert (0 if code == "healthy" else 1) == result.code
        assert [] == cli.leaked()

    async def test_the_table_reads_as_next_steps(self, cli: Cli) -> None:
        """--table: a row per credential with the next step, then what it read."""
        result = await cli("diagnose", "grower-nothing-selected", "--table")

        lines = result.out.splitlines()
        assert "Leaf user grower-nothing-selected" == lines[0]
        assert lines[1].split() == ["PROVIDER", "STATUS", "VERDICT", "NEXT", "STEP"]
        assert lines[2].startswith("john-deere  OK")
        assert "select the ones to sync" in lines[2]
        assert "  organizationDataSync: SELECTED_ONLY (the user's own)" in lines
        assert "  synced organizations: North PREVIEW, South PREVIEW" in lines
        assert any(line.startswith("  event ") for line in lines)
        assert [] == cli.leaked()

    async def test_the_table_shows_the_summary_and_problems(self, cli: Cli, fake: FakeLeaf) -> None:
        """A healthy credential's summary, and a part that could not be read."""
        fake.faults.add(path="/services/config/api/configs/*", status=400, times=20)

        result = await cli("diagnose", "grower-healthy", "--table")
        data = await cli("diagnose", "grower-healthy", "--json")
        other = await cli("diagnose", "grower-healthy", "--provider", "sentera", "--table")

        assert "  summary: 100 fields, synced " in result.out
        assert "  could not read configuration: BadRequestError 400" in result.out
        assert 0 == result.code
        (credential,) = data.json()["credentials"]
        assert (None, ["configuration: BadRequestError 400"]) == (
            credential["configuration"],
            credential["problems"],
        )
        assert "\nsentera:\n  could not read configuration: BadRequestError 400\n" in other.out

    async def test_a_provider_the_user_lacks(self, cli: Cli) -> None:
        """--provider sentera: not connected, exit 1."""
        result = await cli("diagnose", "grower-healthy", "--provider", "sentera", "--json")

        (credential,) = result.json()["credentials"]
        assert ("not_connected", None, None) == (
            credential["verdict"]["code"],
            credential["status"],
            credential["organizations"],
        )
        assert 1 == result.code

    async def test_a_user_without_credentials(self, cli: Cli, fake: FakeLeaf) -> None:
        """No credential: said so, exit 1."""
        fake.add_user(id="empty")

        table = await cli("diagnose", "empty", "--table")
        data = await cli("diagnose", "empty")

        assert "empty: no credential to diagnose\n" == table.out
        assert {"userId": "empty", "ok": False, "credentials": []} == {
            k: v for k, v in data.json().items() if k != "checkedAt"
        }
        assert (1, 1) == (table.code, data.code)

    @pytest.mark.parametrize(
        ("argv", "code", "said"),
        [
            (["diagnose", "nobody"], 1, "NotFoundError"),
            (["diagnose", "grower-healthy", "--provider", "nope"], 2, "unknown provider 'nope'"),
            (["diagnose", ".."], 2, "not a valid Leaf user id"),
            (["diagnose", "u", "--json", "--table"], 2, ""),
        ],
    )
    async def test_errors(self, cli: Cli, argv: list[str], code: int, said: str) -> None:
        """An unknown user exits 1; bad usage exits 2 before sending anything."""
        result = await cli(*argv)

        assert code == result.code
        assert said in result.err


class TestInstalled:
    async def test_the_seeded_situations(self, fake: FakeLeaf) -> None:
        """The installed command gives each of the demo seed's users the right verdict."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEAF_")}
        env.update(LEAF_TOKEN=fake.token, LEAF_BASE_URL=fake.url)
        found: dict[str, str] = {}
        outputs = []
        for user in VERDICTS:
            proc = await asyncio.create_subprocess_exec(
                LEAF_CREDS, "diagnose", user, env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await proc.communicate()
            outputs.append(out.decode() + err.decode())
            (credential,) = json.loads(out)["credentials"]  # piped: JSON
            found[user] = credential["verdict"]["code"]

        assert VERDICTS == found
        assert [] == [text for text in outputs if any(s in text for s in SEED_SECRETS)]
        assert [] == [text for text in outputs if fake.token in text]
