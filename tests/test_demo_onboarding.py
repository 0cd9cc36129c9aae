"""`leaf-creds demo`'s onboarding act: app keys, Magic Links to growers without John Deere."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
LEAF_CREDS = shutil.which("leaf-creds", path=str(BIN)) or str(BIN / "leaf-creds")


async def test_the_demo_invites_the_growers_without_john_deere(tmp_path: Path) -> None:
    """Every grower without John Deere gets a link in a 0600 file; 40% connect on the page."""
    proc = await asyncio.create_subprocess_exec(
        LEAF_CREDS, "demo", "--users", "30", "--workdir", str(tmp_path), "--progress", "never",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()

    summary = json.loads(out)
    assert 0 == proc.returncode, err.decode()
    # Every fifth of the 30 growers had John Deere already: 24 are invited, 10 connect.
    assert (24, 10, 0) == (
        summary["invited"], summary["connectedThroughLinks"], summary["onboardingFailures"]
    )  # fmt: skip
    links = tmp_path / "links.jsonl"
    assert 0o600 == links.stat().st_mode & 0o777
    lines = [json.loads(text) for text in links.read_text().splitlines()]
    assert 24 == len({line["leafUserId"] for line in lines})
    assert {(True, ("john-deere",))} == {(line["ok"], tuple(line["providers"])) for line in lines}
    assert all(line["link"].startswith("http://127.0.0.1:") for line in lines)
    assert "john-deere" in err.decode()
    assert "24 growers invited" in err.decode()
