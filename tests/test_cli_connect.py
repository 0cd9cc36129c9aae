"""`leaf-creds connect` and `leaf-creds offboard`, in process against a FakeLeaf.

`main` runs its own event loop, so it runs in a worker thread while the fake
serves on the test's loop; a grower's browser is an aiohttp client that
reads the consent URL the command prints on standard error.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from leaf_creds.cli import main
from leaf_creds.testing import FakeLeaf
from tests.oauth_helpers import APPS, SECRET, register_apps

KEYS = {
    "john-deere": {"clientKey": "jd-app", "clientSecret": SECRET},
    "climate-field-view": {"apiKey": "cfv-api-key", "clientId": "cfv-app", "clientSecret": SECRET},
    "lindsay": {"clientId": "lindsay-app", "clientSecret": SECRET},
    "raven": {"clientId": "raven-app", "clientSecret": SECRET},
}
OPTIONS = {"john-deere": ["--environment", "PRODUCTION"], "lindsay": ["--environment", "STAGE"]}


class Output:
    """What a command running in a thread printed, read while it runs (through capsys)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self._out = ""
        self._err = ""

    def _poll(self) -> None:
        captured = self._capsys.readouterr()
        self._out += captured.out
        self._err += captured.err

    @property
    def text(self) -> str:
        """Standard error so far."""
        self._poll()
        return self._err

    @property
    def out(self) -> str:
        """Standard output so far."""
        self._poll()
        return self._out

    def json(self) -> Any:
        """Take the JSON printed on standard output since the last call."""
        out, self._out = self.out, ""
        return json.loads(out)

    async def url(self) -> str:
        """Wait for the consent URL the command prints."""
        for _ in range(500):
            found = re.search(r"^(http://\S+/oauth-consent/\S+)$", self.text, re.M)
            if found:
                return found.group(1)
            await asyncio.sleep(0.01)
        raise AssertionError(f"no URL printed: {self.text!r}")


@pytest.fixture
def env(
    leaf_fake: FakeLeaf, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Output:
    """The fake's token and URL in the environment, its apps registered; the output."""
    for name in ("LEAF_USERNAME", "LEAF_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEAF_TOKEN", leaf_fake.token)
    monkeypatch.setenv("LEAF_BASE_URL", leaf_fake.url)
    register_apps(leaf_fake)
    return Output(capsys)


def host_options(fake: FakeLeaf) -> list[str]:
    return [
        arg for host, url in fake.oauth.hosts.items() for arg in ("--oauth-host", f"{host}={url}")
    ]


def app_file(tmp_path: Path, slug: str) -> str:
    path = tmp_path / f"{slug}.json"
    path.write_text(json.dumps(KEYS[slug]))
    return str(path)


async def browse(url: str, *, decision: str = "grant", share: bool = True) -> tuple[int, str, str]:
    """Consent as a grower, then follow the redirect to the command's listener."""
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as page:
            text = await page.text()
        action = re.search(r'action="([^"]+)"', text)
        assert action is not None
        form = {"decision": decision, **({"share": "yes"} if share else {})}
        async with http.post(
            url.split("/oauth-consent/")[0] + action.group(1), data=form, allow_redirects=False
        ) as answer:
            location = answer.headers["Location"]
        async with http.get(location) as back:
            return back.status, await back.text(), location


async def connect(
    fake: FakeLeaf, tmp_path: Path, slug: str, user: str, *extra: str
) -> asyncio.Task[int]:
    argv = ["connect", slug, "--user", user, "--app-keys", app_file(tmp_path, slug),
            *OPTIONS.get(slug, []), *host_options(fake), "--wait", "20", *extra]  # fmt: skip
    return asyncio.create_task(asyncio.to_thread(main, argv))


class TestConnect:
    @pytest.mark.parametrize("slug", sorted(KEYS))
    async def test_a_grower_is_connected(
        self,
        leaf_fake: FakeLeaf,
        env: Output,
        tmp_path: Path,
        slug: str,
    ) -> None:
        """The command prints the URL, takes the redirect, attaches and prints the record."""
        user = leaf_fake.add_user(name="Ada").id
        task = await connect(leaf_fake, tmp_path, slug, user)

        status, page, location = await browse(await env.url())
        code = await task

        out = env.out
        record = json.loads(out)
        assert (0, 200) == (code, status)
        assert 'data-status="OK"' in page
        assert "OK" == record["status"]
        assert leaf_fake.credential(user, slug) is not None
        shown = out + env.text + page
        leaked = [SECRET, location.split("code=")[1].split("&")[0]]
        leaked += list(leaf_fake.oauth.refresh_tokens())
        assert [] == [value for value in leaked if value in shown]

    async def test_a_denied_consent_exits_1(
        self, leaf_fake: FakeLeaf, env: Output, tmp_path: Path
    ) -> None:
        """A grower who declines: the page says so, the command exits 1 with the reason."""
        user = leaf_fake.add_user(name="Ada").id
        task = await connect(leaf_fake, tmp_path, "raven", user)

        status, page, _ = await browse(await env.url(), decision="deny")

        assert 1 == await task
        assert 400 == status
        assert "OAuthDeniedError" in page
        assert "OAuthDeniedError" in env.text
        assert "access_denied" in env.text
        assert None is leaf_fake.credential(user, "raven")

    async def test_a_redirect_not_for_it_is_refused(
        self, leaf_fake: FakeLeaf, env: Output, tmp_path: Path
    ) -> None:
        """A redirect with another state, or to another path, is refused; the right one works."""
        user = leaf_fake.add_user(name="Ada").id
        task = await connect(leaf_fake, tmp_path, "raven", user)
        url = await env.url()
        port = re.search(r"127\.0\.0\.1:(\d+)\)", env.text)
        assert port is not None
        base = f"http://127.0.0.1:{port.group(1)}"

        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/callback?code=x&state=forged") as forged:
                assert 400 == forged.status
                assert "not for this leaf-creds connect" in await forged.text()
            async with http.get(base + "/favicon.ico") as other:
                assert 404 == other.status
        status, _, _ = await browse(url)

        assert (0, 200) == (await task, status)

    async def test_no_redirect_times_out(
        self, leaf_fake: FakeLeaf, env: Output, tmp_path: Path
    ) -> None:
        """Without a redirect in --wait seconds, the command says so and exits 1."""
        user = leaf_fake.add_user(name="Ada").id
        argv = ["connect", "raven", "--user", user, "--app-keys", app_file(tmp_path, "raven"),
                *host_options(leaf_fake), "--wait", "0.2"]  # fmt: skip

        assert 1 == await asyncio.to_thread(main, argv)
        assert "no redirect came back within 0.2 s" in env.text

    async def test_open_starts_a_browser(
        self, leaf_fake: FakeLeaf, env: Output, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--open hands the consent URL to the system's browser."""
        opened: list[str] = []
        def open_browser(url: str) -> bool:
            opened.append(url)
            return True

        monkeypatch.setattr("webbrowser.open", open_browser)
        user = leaf_fake.add_user(name="Ada").id
        argv = ["connect", "raven", "--user", user, "--app-keys", app_file(tmp_path, "raven"),
                *host_options(leaf_fake), "--wait", "0.1", "--open"]  # fmt: skip

        assert 1 == await asyncio.to_thread(main, argv)
        assert 1 == len(opened)
        assert "/oauth-consent/" in opened[0]

    @pytest.mark.parametrize(
        ("argv", "says"),
        [
            (["sentera"], "Sentera has no OAuth consent flow"),
            (["john-deere"], "needs environment="),
            (["raven", "--oauth-host", "raven-oauth2-helper.withleaf.io=http://example.com"],
             "plain http"),
            (["raven", "--redirect-port", "70000"], "a port is from 0 to 65535"),
            (["raven", "--redirect-port", "x"], "not a port"),
            (["raven", "--oauth-host", "nothing"], "expected HOST=URL"),
        ],
    )  # fmt: skip
    async def test_usage_errors_send_nothing(
        self,
        leaf_fake: FakeLeaf,
        env: Output,
        tmp_path: Path,
        argv: list[str],
        says: str,
    ) -> None:
        """A provider with no flow, a missing environment, a bad option: exit 2."""
        keys = app_file(tmp_path, argv[0] if argv[0] in KEYS else "raven")
        full = ["connect", argv[0], "--user", "u1", "--app-keys", keys, *argv[1:]]

        assert 2 == await asyncio.to_thread(main, full)
        assert says in env.text
        assert 0 == leaf_fake.count("POST")

    async def test_a_taken_port_is_a_usage_error(
        self, leaf_fake: FakeLeaf, env: Output, tmp_path: Path
    ) -> None:
        """--redirect-port on a port in use: exit 2, nothing sent."""
        import socket

        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            argv = ["connect", "raven", "--user", "u1", "--app-keys", app_file(tmp_path, "raven"),
                    "--redirect-port", str(port), "--redirect-path", "cb"]  # fmt: skip
            assert 2 == await asyncio.to_thread(main, argv)
        assert f"cannot listen on 127.0.0.1:{port}" in env.text

    async def test_a_wrong_secret_fails_without_showing_it(
        self, leaf_fake: FakeLeaf, env: Output, tmp_path: Path
    ) -> None:
        """The helper refuses a wrong secret at get_url: exit 1, and the secret is not shown."""
        path = tmp_path / "jd.json"
        path.write_text(json.dumps({"clientKey": "jd-app", "clientSecret": "wrong-s3cret"}))
        argv = ["connect", "john-deere", "--user", "u1", "--app-keys", str(path),
                "--environment", "STAGE", *host_options(leaf_fake)]  # fmt: skip

        assert 1 == await asyncio.to_thread(main, argv)
        assert "invalid_client" in env.text
        assert "wrong-s3cret" not in env.text


class TestOffboard:
    async def test_a_user_is_offboarded_and_a_second_run_is_clean(
        self, leaf_fake: FakeLeaf, env: Output
    ) -> None:
        """offboard prints what went, exits 0; --dry-run first changes nothing."""
        user = leaf_fake.add_user(name="Ada").id
        resource = APPS["raven"][0]
        leaf_fake.add_credential(
            user, resource, {"clientId": "r", "clientSecret": SECRET, "refreshToken": SECRET}
        )

        planned = await asyncio.to_thread(main, ["offboard", user, "--dry-run", "--delete-user"])
        plan = env.json()
        done = await asyncio.to_thread(main, ["offboard", user, "--delete-user"])
        report = env.json()
        again = await asyncio.to_thread(main, ["offboard", user])
        gone = env.json()

        assert (0, 0, 0) == (planned, done, again)
        assert [{"kind": "credential", "target": "raven"}, {"kind": "user", "target": user}] == (
            plan["removed"]
        )
        assert (True, False) == (plan["dryRun"], report["dryRun"])
        assert plan["removed"] == report["removed"]
        assert False is gone["found"]
        assert "would remove 1 credential, 1 user; 0 failed" in env.text
        assert "not found: nothing to offboard" in env.text
        assert SECRET not in env.text

    async def test_a_failure_exits_1_and_says_to_run_again(
        self, leaf_fake: FakeLeaf, env: Output
    ) -> None:
        """A step that fails is listed, the user kept, and the exit status is 1."""
        user = leaf_fake.add_user(name="Ada").id
        leaf_fake.add_credential(
            user, "raven", {"clientId": "r", "clientSecret": SECRET, "refreshToken": SECRET}
        )
        leaf_fake.faults.add(method="DELETE", path="/users/*/raven-credentials", status=403)

        code = await asyncio.to_thread(main, ["offboard", user, "--delete-user"])
        report: dict[str, Any] = env.json()

        assert 1 == code
        assert ["credential", "user"] == [step["kind"] for step in report["failed"]]
        assert "run it again" in env.text
        assert user in leaf_fake.users

    async def test_a_bad_user_id_is_a_usage_error(self, env: Output) -> None:
        """An id that cannot be a user's is exit 2, nothing sent."""
        assert 2 == await asyncio.to_thread(main, ["offboard", ".."])


def test_the_listener_options_are_listed(capsys: pytest.CaptureFixture[str]) -> None:
    """connect --help names the redirect listener's options."""
    assert 0 == main(["connect", "--help"])
    assert "--redirect-port PORT" in capsys.readouterr().out
