"""``leaf-creds demo``'s repair act: credentials break, links go out, growers reconnect."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.cli_helpers import LEAF_CREDS


async def test_the_demo_repairs_broken_john_deere_credentials(tmp_path: Path) -> None:
    """Each broken credential gets a case and a link; reconnected ones resolve; a report."""
    proc = await asyncio.create_subprocess_exec(
        LEAF_CREDS, "demo", "--users", "30", "--workdir", str(tmp_path), "--progress", "never",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    summary = json.loads(out)
    assert 0 == proc.returncode, err.decode()
    assert 0 < summary["repairCases"] == summary["repairLinks"]
    assert 0 < summary["repaired"] <= summary["repairCases"]
    page = (tmp_path / "report.html").read_text()
    assert "Credential repairs" in page
    lines = (tmp_path / "links.jsonl").read_text().splitlines()
    links = [json.loads(line)["link"] for line in lines]
    assert [] == [link for link in links if link in page or link in err.decode()]
    assert "cases resolved after the quiet period" in err.decode()
