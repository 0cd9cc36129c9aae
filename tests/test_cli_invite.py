"""`leaf-creds invite` and `leaf-creds app-keys`, in-process against a FakeLeaf."""

from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf
from tests.cli_helpers import Cli

APP_SECRET = "jd-app-secret-value"
JD_KEYS = {"clientKey": "jd-app-id", "clientSecret": APP_SECRET}


@pytest.fixture
def cli_secrets() -> list[str]:
    """Watch `cli`'s output for the app secret these tests send."""
    return [APP_SECRET]


def lines(path: Path) -> list[dict[str, Any]]:
    """Return the JSON objects of a links file, without blank or foreign lines."""
    found = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [line for line in found if isinstance(line, dict)]


async def links(fake: FakeLeaf, kind: str = "provider") -> list[lc.MagicLink]:
    async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
        return await leaf.magic_links.list(kind)


async def connect_john_deere(fake: FakeLeaf, user_id: str) -> None:
    async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
        await leaf.create(
            lc.JOHN_DEERE,
            user_id,
            {
                "clientKey": "k",
                "clientSecret": "s",
                "refreshToken": "r",
                "clientEnvironment": "STAGE",
            },
        )


class TestInvite:
    async def test_first_run(self, cli: Cli, fake: FakeLeaf, tmp_path: Path) -> None:
        """One link per user, one line each, in a 0600 file; the links exist at Leaf."""
        users = [fake.add_user(name=f"grower {i}").id for i in range(3)]
        out = tmp_path / "links.jsonl"

        result = await cli(
            "invite", "--provider", "john-deere", "--provider", "CNHI", "--user", *users,
            "--expires-in", str(7 * 86400), "--company-name", "Acme", "--out", str(out),
        )  # fmt: skip

        assert 0 == result.code, result.err
        assert 0o600 == stat.S_IMODE(out.stat().st_mode)
        written = lines(out)
        assert sorted(users) == sorted(line["leafUserId"] for line in written)
        stored = {link.id: link for link in await links(fake)}
        for line in written:
            assert {"leafUserId", "ok", "linkId", "link", "expiresAt", "providers"} <= set(line)
            assert True is line["ok"]
            assert ["john-deere", "cnhi"] == line["providers"]
            link = stored[line["linkId"]]
            assert line["link"] == link.link
            assert line["leafUserId"] == link.leaf_user_id
            assert ("JohnDeere", "CNHI") == link.allowed_providers
            assert link.settings is not None
            assert "Acme" == link.settings.company_name
        assert "invite: 3 invited, 0 failed" in result.err
        assert [] == cli.leaked()

    async def test_lines_go_to_stdout_without_out(self, cli: Cli, fake: FakeLeaf) -> None:
        """Without --out the lines are printed; an authentication link names its provider."""
        user = fake.add_user().id

        result = await cli("invite", "--provider", "john-deere", "--authentication", "--user", user)

        assert 0 == result.code, result.err
        (line,) = result.lines()
        assert "authentication" == line["kind"]
        (link,) = await links(fake, "authentication")
        assert "JohnDeere" == link.provider
        assert link.id == line["linkId"]

    async def test_resume(self, cli: Cli, fake: FakeLeaf, tmp_path: Path) -> None:
        """A resumed run skips the users already invited and appends the others' lines."""
        users = [fake.add_user().id for _ in range(4)]
        out = tmp_path / "links.jsonl"
        listed = tmp_path / "users.txt"
        listed.write_text("# growers\n" + "\n".join(users) + "\n\n")
        first = await cli(
            "invite", "--provider", "trimble", "--user", *users[:2], "--out", str(out)
        )
        with out.open("a") as stream:
            stream.write('{"leafUserId": "half a li')  # a run killed mid-line

        result = await cli(
            "invite", "--provider", "trimble", "--users", str(listed),
            "--resume", str(out), "--out", str(out),
        )  # fmt: skip

        assert (0, 0) == (first.code, result.code), result.err
        written = [json.loads(line) for line in out.read_text().splitlines() if "half" not in line]
        assert sorted(users) == sorted(line["leafUserId"] for line in written)
        assert 4 == len(written)
        assert 4 == len(await links(fake))
        assert "2 skipped" in result.err
        assert "1 unreadable line(s)" in result.err

    async def test_resume_gives_a_working_link_again(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """On resume, a user's working link for the same providers is reused, not doubled."""
        a, b, c = (fake.add_user().id for _ in range(3))
        fake.onboarding.max_usage = 1
        async with lc.LeafSession(token=fake.token, base_url=fake.url) as leaf:
            await leaf.app_keys.create(
                lc.TRIMBLE, "W", {"applicationName": "a", "clientId": "c", "clientSecret": "s"}
            )
            kept = await leaf.magic_links.create(a, providers=[lc.TRIMBLE], expires_in=7200)
            await leaf.magic_links.create(a, providers=[lc.TRIMBLE])  # expires sooner
            await leaf.magic_links.create(b, providers=[lc.STARA])
            used = await leaf.magic_links.create(c, providers=["trimble"])
        assert used.link is not None
        fake.onboarding.connect(used.link, lc.TRIMBLE)
        out = tmp_path / "links.jsonl"

        result = await cli(
            "invite", "--provider", "trimble", "--user", a, b, c,
            "--resume", str(out), "--out", str(out),
        )  # fmt: skip

        assert 0 == result.code, result.err
        by_user = {line["leafUserId"]: line for line in lines(out)}
        assert kept.id == by_user[a]["linkId"]
        assert True is by_user[a]["reused"]
        assert "reused" not in by_user[b]
        assert used.id != by_user[c]["linkId"]
        assert 6 == len(await links(fake))
        assert "2 invited, 0 failed, 1 given the working link they had" in result.err

    async def test_missing(self, cli: Cli, fake: FakeLeaf, tmp_path: Path) -> None:
        """--missing invites only the users with a credential for none of the providers."""
        users = [fake.add_user().id for _ in range(3)]
        await connect_john_deere(fake, users[0])
        out = tmp_path / "links.jsonl"

        result = await cli(
            "invite", "--provider", "john-deere", "--provider", "cnhi", "--missing",
            "--out", str(out), "--concurrency", "2",
        )  # fmt: skip

        assert 0 == result.code, result.err
        assert sorted(users[1:]) == sorted(line["leafUserId"] for line in lines(out))
        assert "2 invited, 0 failed, 1 already connected" in result.err

    async def test_missing_resumes_too(self, cli: Cli, fake: FakeLeaf, tmp_path: Path) -> None:
        """--missing with --resume skips the users already invited; a missing file is none."""
        users = [fake.add_user().id for _ in range(2)]
        out = tmp_path / "links.jsonl"
        first = await cli(
            "invite", "--provider", "ag-leader", "--user", users[0],
            "--resume", str(out), "--out", str(out),
        )  # fmt: skip
        with out.open("a") as stream:
            stream.write('\n["not an object"]\n')

        again = await cli(
            "invite", "--provider", "ag-leader", "--missing",
            "--resume", str(out), "--out", str(out),
        )  # fmt: skip

        assert (0, 0) == (first.code, again.code), again.err
        assert "1 invited" in again.err
        assert sorted(users) == sorted(line["leafUserId"] for line in lines(out))
        third = await cli(
            "invite", "--provider", "AgLeader", "--missing",
            "--resume", str(out), "--out", str(out),
        )  # fmt: skip
        assert "0 invited" in third.err
        assert "2 skipped" in third.err
        assert "1 unreadable line(s)" in third.err

    @pytest.mark.parametrize("target", ["users", "dir", "resume-dir"])
    async def test_files_that_cannot_be_used(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path, target: str
    ) -> None:
        """--out over the --users file, an unwritable --out or unreadable --resume: exit 2."""
        listed = tmp_path / "users.txt"
        listed.write_text(fake.add_user().id + "\n")
        out = {"users": listed, "dir": tmp_path, "resume-dir": tmp_path / "o.jsonl"}[target]
        resume = ["--resume", str(tmp_path)] if target == "resume-dir" else []

        result = await cli(
            "invite", "--provider", "stara", "--users", str(listed), "--out", str(out), *resume
        )

        assert 2 == result.code
        assert [] == await links(fake)

    async def test_a_failed_user_is_a_line_and_exit_1(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A user Leaf does not know gets an "ok": false line; the others still get links."""
        user = fake.add_user().id
        out = tmp_path / "links.jsonl"

        result = await cli(
            "invite", "--provider", "stara", "--user", user, "no-such-user", "--out", str(out)
        )

        assert 1 == result.code
        by_user = {line["leafUserId"]: line for line in lines(out)}
        assert True is by_user[user]["ok"]
        assert False is by_user["no-such-user"]["ok"]
        assert "NotFoundError" == by_user["no-such-user"]["error"]["type"]
        assert 404 == by_user["no-such-user"]["error"]["status"]

    async def test_a_failed_line_is_retried_on_resume(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """Only ok lines count as invited: a failed user is tried again."""
        out = tmp_path / "links.jsonl"
        await cli("invite", "--provider", "stara", "--user", "later", "--out", str(out))
        fake.add_user(id="later")

        result = await cli(
            "invite", "--provider", "stara", "--user", "later",
            "--resume", str(out), "--out", str(out),
        )  # fmt: skip

        assert 0 == result.code, result.err
        assert [False, True] == [line["ok"] for line in lines(out)]

    async def test_an_old_links_file_is_made_private(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """An existing --out file readable by others is tightened to 0600."""
        out = tmp_path / "links.jsonl"
        out.write_text("")
        os.chmod(out, 0o644)

        result = await cli("invite", "--provider", "stara", "--user", fake.add_user().id,
                           "--out", str(out))  # fmt: skip

        assert 0 == result.code, result.err
        assert 0o600 == stat.S_IMODE(out.stat().st_mode)

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["--provider", "sentera", "--user", "u"], "not a provider with Magic Links"),
            (["--provider", "nope", "--user", "u"], "not a provider with Magic Links"),
            (["--provider", "john-deere", "--provider", "cnhi", "--authentication", "--user",
              "u"], "exactly one --provider"),
            (["--provider", "stara", "--user", "u", "--expires-in", "60"], "--expires-in"),
            (["--provider", "stara", "--user", ".."], "not a valid Leaf user id"),
            (["--provider", "stara", "--users", "/nonexistent/users.txt"], "cannot read"),
            (["--provider", "stara"], "one of the arguments"),
            (["--provider", "stara", "--user", "u", "--missing"], "not allowed with"),
        ],
    )  # fmt: skip
    async def test_bad_usage_sends_nothing(
        self, cli: Cli, fake: FakeLeaf, argv: list[str], message: str
    ) -> None:
        """Bad options exit 2 with a message, and no link is made."""
        result = await cli("invite", *argv)

        assert 2 == result.code
        assert message in result.err
        assert [] == await links(fake)

    async def test_a_bad_users_file_sends_nothing(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """Every line of --users is checked first; one bad id and nothing is sent."""
        listed = tmp_path / "users.txt"
        listed.write_text(f"{fake.add_user().id}\n..\n")

        result = await cli("invite", "--provider", "stara", "--users", str(listed))

        assert 2 == result.code
        assert f"{listed}:2:" in result.err
        assert [] == await links(fake)


class TestAppKeys:
    async def test_create_get_list_update_delete(
        self, cli: Cli, fake: FakeLeaf, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The five actions work end to end; the secret is never printed."""
        keys = tmp_path / "keys.json"
        keys.write_text(json.dumps(JD_KEYS))
        env = ["--environment", "PRODUCTION"]

        created = await cli(
            "app-keys", "create", "john-deere", "LeafWidget", "--from", str(keys), *env
        )
        got = await cli("app-keys", "get", "JohnDeere", "LeafWidget", *env)
        listed = await cli("app-keys", "list", "john-deere")
        monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({**JD_KEYS, "clientSecret": "s2"})))
        updated = await cli("app-keys", "update", "john-deere", "LeafWidget", "--from", "-", *env)
        deleted = await cli("app-keys", "delete", "john-deere", "LeafWidget", *env)
        after = await cli("app-keys", "list", "john-deere")

        assert [0, 0, 0, 0, 0, 0] == [
            r.code for r in (created, got, listed, updated, deleted, after)
        ], deleted.err
        assert "LeafWidget" == created.json()["appName"]
        assert "PRODUCTION" == got.json()["clientEnvironment"]
        assert ["LeafWidget"] == [key["appName"] for key in listed.json()]
        assert {"deleted": "LeafWidget", "provider": "JohnDeere"} == deleted.json()
        assert [] == after.json()
        assert [] == cli.leaked()

    @pytest.mark.parametrize(
        ("argv", "message"),
        [
            (["get", "john-deere", "LeafWidget"], "per environment"),
            (["get", "trimble", "LeafWidget", "--environment", "STAGE"], "have no environment"),
            (["list", "sentera"], "not a provider with app keys"),
            (["list", "nope"], "not a provider with app keys"),
            (["create", "trimble", "W", "--from", "KEYS"], "required field missing"),
            (["get", "trimble", ".."], "not a valid app name"),
        ],
    )
    async def test_bad_usage_exits_2(
        self, cli: Cli, tmp_path: Path, argv: list[str], message: str
    ) -> None:
        """Bad providers, environments, names or keys exit 2, naming no secret."""
        keys = tmp_path / "keys.json"
        keys.write_text(json.dumps({"clientSecret": APP_SECRET}))

        result = await cli("app-keys", *[str(keys) if a == "KEYS" else a for a in argv])

        assert 2 == result.code
        assert message in result.err
        assert [] == cli.leaked()

    async def test_leafs_refusal_exits_1(self, cli: Cli, tmp_path: Path) -> None:
        """A missing app is Leaf's 404: exit 1."""
        result = await cli("app-keys", "get", "trimble", "Nope")

        assert 1 == result.code
        assert "NotFoundError" in result.err
