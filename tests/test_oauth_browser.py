"""`leaf-creds connect`, the installed command, driven through the consent page by real chromium.

Needs ``/usr/bin/chromium`` and ``/usr/bin/chromedriver`` and selenium, as
``test_magic_link_browser`` does: without them the test skips, except under
CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from leaf_creds.testing import FakeLeaf
from tests.oauth_helpers import CHROMEDRIVER, CHROMIUM, SECRET, consent_in_chromium, register_apps

KEYS = {
    "john-deere": ({"clientKey": "jd-app", "clientSecret": SECRET}, ["--environment", "STAGE"]),
    "climate-field-view": (
        {"apiKey": "cfv-api-key", "clientId": "cfv-app", "clientSecret": SECRET},
        ["--scope", "fields:read"],
    ),
    "lindsay": ({"clientId": "lindsay-app", "clientSecret": SECRET}, ["--environment", "STAGE"]),
}


def require_chromium() -> None:
    """Skip (fail under CI) unless chromium, chromedriver and selenium are installed."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if importlib.util.find_spec("selenium") is None:
        missing.append("selenium")
    if missing:
        reason = f"the browser test needs {', '.join(missing)}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.mark.parametrize("slug", sorted(KEYS))
async def test_a_grower_connects_through_the_command(
    leaf_fake: FakeLeaf, tmp_path: Path, slug: str
) -> None:
    """The command prints the URL; chromium consents; the command attaches and prints the record."""
    require_chromium()
    register_apps(leaf_fake)
    user = leaf_fake.add_user(name="Ada Grower").id
    keys, options = KEYS[slug]
    app_keys = tmp_path / "app.json"
    app_keys.write_text(json.dumps(keys))
    hosts = [a for h, u in leaf_fake.oauth.hosts.items() for a in ("--oauth-host", f"{h}={u}")]
    env = {**os.environ, "LEAF_TOKEN": leaf_fake.token, "LEAF_BASE_URL": leaf_fake.url}
    command = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "leaf_creds.cli", "connect", slug, "--user", user,
        "--app-keys", str(app_keys), "--wait", "60", *options, *hosts,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert command.stderr is not None
    try:
        url = ""
        while not url.startswith("http"):
            line = await asyncio.wait_for(command.stderr.readline(), 60)
            assert line, "the command ended before printing the URL"
            url = line.decode().strip()

        # selenium blocks: drive it from a thread so the fake keeps answering.
        status = await asyncio.to_thread(consent_in_chromium, url)
        out, err = await asyncio.wait_for(command.communicate(), 60)
    finally:
        if command.returncode is None:
            command.kill()
            await command.wait()

    record = json.loads(out)
    assert (0, "OK") == (command.returncode, status)
    assert "OK" == record["status"]
    assert "***" == record["refreshToken"]
    assert SECRET not in out.decode() + err.decode()
    stored = leaf_fake.credential(user, slug)
    assert stored is not None
    assert stored["refreshToken"] in leaf_fake.oauth.refresh_tokens()
