"""leaf_creds.airflow: the hook, the operators, and the example DAG run by `airflow dags test`."""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf

if os.environ.get("CI") and shutil.which("airflow", path=str(Path(sys.executable).parent)) is None:
    pytest.fail("CI must run the Airflow tests: install leaf-creds[airflow]", pytrace=False)
pytest.importorskip("airflow.sdk", reason="needs leaf-creds[airflow]")

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from leaf_creds.airflow import (
    LeafApplyOperator,
    LeafAuditOperator,
    LeafHook,
    LeafInviteOperator,
    get_provider_info,
)

REPO = Path(__file__).resolve().parent.parent
DAG_ID = "leaf_rotate_client_secret"
NEW_SECRET = "rotated-client-secret-7f3a"
AIRFLOW = str(Path(sys.executable).parent / "airflow")


def cnhi_body(user: int, secret: str = "old-client-secret") -> dict[str, str]:
    return {
        "clientId": "acme-app",
        "clientSecret": secret,
        "subscriptionKey": f"sub-key-{user}",
        "refreshToken": f"refresh-token-{user}",
        "clientEnvironment": "PRODUCTION",
    }


def connection(fake: FakeLeaf, **extra: Any) -> str:
    return json.dumps(
        {"conn_type": "leaf", "host": fake.url, "extra": {"token": fake.token, **extra}}
    )


@pytest.fixture
def airflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point Airflow at a home of its own, without examples."""
    home = tmp_path / "airflow-home"
    home.mkdir()
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    return home


class TestProviderInfo:
    def test_entry_point_names_the_leaf_connection_type(self) -> None:
        """Airflow's providers manager finds the `leaf` connection type through our entry point."""
        points = importlib.metadata.entry_points(group="apache_airflow_provider")
        ours = [point for point in points if point.value.startswith("leaf_creds.")]

        assert 1 == len(ours)
        info = ours[0].load()()
        assert get_provider_info() == info
        [conn] = info["connection-types"]
        assert ("leaf", "leaf_creds.airflow.LeafHook") == (
            conn["connection-type"],
            conn["hook-class-name"],
        )
        assert "password" == conn["conn-fields"]["token"]["schema"]["format"]

    def test_hook_class_matches_the_declaration(self) -> None:
        """The hook declares the same connection type and default id as the provider info."""
        assert ("leaf", "leaf_default", "leaf_conn_id") == (
            LeafHook.conn_type,
            LeafHook.default_conn_name,
            LeafHook.conn_name_attr,
        )


class TestLeafHook:
    def test_token_from_extra(self, monkeypatch: pytest.MonkeyPatch, airflow_home: Path) -> None:
        """`extra.token` is a fixed token; `host` with its scheme is the base URL."""
        monkeypatch.setenv(
            "AIRFLOW_CONN_LEAF_DEFAULT",
            json.dumps(
                {
                    "conn_type": "leaf",
                    "host": "https://leaf.example.com/",
                    "login": "ignored@example.com",
                    "password": "ignored-password",
                    "extra": {"token": " tok-123 ", "timeout": "12.5"},
                }
            ),
        )

        options = LeafHook().session_options()

        assert {"base_url": "https://leaf.example.com", "token": "tok-123", "timeout": 12.5} == (
            options
        )

    def test_login_and_password(self, monkeypatch: pytest.MonkeyPatch, airflow_home: Path) -> None:
        """Without a token, login and password log in; a bare host gets https and its port."""
        monkeypatch.setenv(
            "AIRFLOW_CONN_LEAF_PROD",
            json.dumps(
                {
                    "conn_type": "leaf",
                    "host": "leaf.example.com",
                    "port": 8443,
                    "login": "ops@example.com",
                    "password": "s3cret-password",
                    "extra": {"extra__leaf__remember_me": True},
                }
            ),
        )

        options = LeafHook(leaf_conn_id="leaf_prod").session_options()

        assert {
            "base_url": "https://leaf.example.com:8443",
            "username": "ops@example.com",
            "password": "s3cret-password",
            "remember_me": True,
        } == options

    def test_defaults_to_leafs_host(
        self, monkeypatch: pytest.MonkeyPatch, airflow_home: Path
    ) -> None:
        """A connection with no host talks to Leaf's own API host."""
        monkeypatch.setenv(
            "AIRFLOW_CONN_LEAF_DEFAULT", json.dumps({"conn_type": "leaf", "extra": {"token": "t"}})
        )

        assert lc.DEFAULT_BASE_URL == LeafHook().session_options()["base_url"]

    def test_http_schema_on_a_bare_host(
        self, monkeypatch: pytest.MonkeyPatch, airflow_home: Path
    ) -> None:
        """A bare host with schema `http` is reached over http."""
        monkeypatch.setenv(
            "AIRFLOW_CONN_LEAF_DEFAULT",
            json.dumps(
                {
                    "conn_type": "leaf",
                    "host": "127.0.0.1",
                    "schema": "http",
                    "extra": {"token": "t"},
                }
            ),
        )

        assert "http://127.0.0.1" == LeafHook().session_options()["base_url"]

    def test_no_credentials_is_a_validation_error(
        self, monkeypatch: pytest.MonkeyPatch, airflow_home: Path
    ) -> None:
        """A connection with neither a token nor a login raises ValidationError, naming it."""
        monkeypatch.setenv(
            "AIRFLOW_CONN_LEAF_DEFAULT", json.dumps({"conn_type": "leaf", "login": "only-login"})
        )

        with pytest.raises(lc.ValidationError, match="'leaf_default' has no Leaf credentials"):
            LeafHook().session_options()

    def test_bad_timeout(self, monkeypatch: pytest.MonkeyPatch, airflow_home: Path) -> None:
        """A timeout that is not a number raises ValidationError."""
        monkeypatch.setenv(
            "AIRFLOW_CONN_LEAF_DEFAULT",
            json.dumps({"conn_type": "leaf", "extra": {"token": "t", "timeout": "soon"}}),
        )

        with pytest.raises(lc.ValidationError, match="timeout is not a number"):
            LeafHook().session_options()

    async def test_session_reaches_the_fake(
        self, monkeypatch: pytest.MonkeyPatch, airflow_home: Path, leaf_fake: FakeLeaf
    ) -> None:
        """hook.session() is a LeafSession that reads the fake's credentials; overrides win."""
        user = leaf_fake.add_user(name="Ada")
        leaf_fake.add_credential(user.id, lc.CNHI, cnhi_body(1))
        monkeypatch.setenv("AIRFLOW_CONN_LEAF_DEFAULT", connection(leaf_fake))

        async with LeafHook().session(timeout=5.0) as leaf:
            record = await leaf.get(lc.CNHI, user.id)

        assert lc.CredentialStatus.OK == record.status
        assert leaf_fake.token not in repr(leaf)

    async def test_test_connection(
        self, monkeypatch: pytest.MonkeyPatch, airflow_home: Path, leaf_fake: FakeLeaf
    ) -> None:
        """test_connection says yes with the fake's token and no, with the error, with a bad one."""
        leaf_fake.add_user(name="Ada")
        monkeypatch.setenv("AIRFLOW_CONN_LEAF_DEFAULT", connection(leaf_fake))
        monkeypatch.setenv(
            "AIRFLOW_CONN_LEAF_BAD",
            json.dumps({"conn_type": "leaf", "host": leaf_fake.url, "extra": {"token": "nope"}}),
        )

        good = await asyncio.to_thread(LeafHook().test_connection)
        bad = await asyncio.to_thread(LeafHook("leaf_bad").test_connection)

        assert (True, "connected to Leaf") == good
        assert False is bad[0]
        assert bad[1].startswith("AuthenticationError")


class TestOperators:
    """The operators' execute(), run in a thread while the fake serves in the test's loop."""

    @pytest.fixture
    def conn(
        self, monkeypatch: pytest.MonkeyPatch, airflow_home: Path, leaf_fake: FakeLeaf
    ) -> None:
        monkeypatch.setenv("AIRFLOW_CONN_LEAF_DEFAULT", connection(leaf_fake))

    @staticmethod
    def plan(path: Path, lines: list[dict[str, Any]]) -> str:
        path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        return str(path)

    async def test_apply_shards_split_the_plan(
        self, conn: None, leaf_fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """Two shards run every line once between them and return their counts."""
        users = [leaf_fake.add_user().id for _ in range(12)]
        plan = self.plan(
            tmp_path / "plan.jsonl",
            [
                {"op": "create", "provider": "cnhi", "leafUserId": u, "credentials": cnhi_body(n)}
                for n, u in enumerate(users)
            ],
        )
        results = tmp_path / "results"

        counts = [
            await asyncio.to_thread(
                LeafApplyOperator(
                    task_id=f"apply_{shard}",
                    plan=plan,
                    results_dir=str(results),
                    shards="2",
                    shard=shard,
                    concurrency="4",
                    rate=500,
                ).execute,
                {},
            )
            for shard in (0, 1)
        ]

        assert 12 == counts[0]["ok"] + counts[1]["ok"]
        assert [0, 0] == [c["failed"] for c in counts]
        assert 12 == leaf_fake.count("POST", "/cnhi-credentials")
        assert sorted(p.name for p in results.iterdir()) == [
            "shard-0-of-2.jsonl",
            "shard-1-of-2.jsonl",
        ]

        again = await asyncio.to_thread(
            LeafApplyOperator(
                task_id="apply_0", plan=plan, results_dir=str(results), shards=2, shard=0
            ).execute,
            {},
        )

        assert {"ok": 0, "failed": 0, "skipped": counts[0]["ok"]} == {
            key: again[key] for key in ("ok", "failed", "skipped")
        }
        assert 12 == leaf_fake.count("POST", "/cnhi-credentials")

    async def test_apply_fails_the_task_when_a_line_fails(
        self, conn: None, leaf_fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A failed line fails the task (so Airflow retries), after writing its outcome."""
        create = {"op": "create", "provider": "cnhi", "leafUserId": "nobody"}
        plan = self.plan(tmp_path / "plan.jsonl", [{**create, "credentials": cnhi_body(0)}])
        operator = LeafApplyOperator(
            task_id="apply", plan=plan, results_dir=str(tmp_path / "r"), shards=1, shard=0
        )

        with pytest.raises(AirflowException, match="1 line\\(s\\) failed") as info:
            await asyncio.to_thread(operator.execute, {})

        assert not isinstance(info.value, AirflowFailException)
        [outcome] = outcomes(tmp_path / "r" / "shard-0-of-1.jsonl")
        assert False is outcome["ok"]

    async def test_apply_bad_plan_fails_without_retry(
        self, conn: None, leaf_fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A bad plan fails the task for good (AirflowFailException) and sends nothing."""
        plan = self.plan(tmp_path / "plan.jsonl", [{"op": "explode"}])
        operator = LeafApplyOperator(task_id="apply", plan=plan, results_dir=str(tmp_path / "r"))

        with pytest.raises(AirflowFailException, match="bad usage or input"):
            await asyncio.to_thread(operator.execute, {})

        assert 0 == len(leaf_fake.requests)

    async def test_audit_counts_by_provider_and_status(
        self, conn: None, leaf_fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """The audit returns the report's counts by provider and status."""
        users = [leaf_fake.add_user().id for _ in range(4)]
        for n, user in enumerate(users[:3]):
            leaf_fake.add_credential(user, lc.CNHI, cnhi_body(n))
        leaf_fake.set_status(users[0], lc.CNHI, "UNAUTHENTICATED")
        out = tmp_path / "audit" / "report.jsonl"

        counts = await asyncio.to_thread(
            LeafAuditOperator(
                task_id="audit", providers=["cnhi"], out=str(out), events=True, concurrency=2
            ).execute,
            {},
        )

        assert {"cnhi": {"OK": 2, "UNAUTHENTICATED": 1, "NO_CREDENTIAL": 1}} == counts
        assert 4 == len(out.read_text().splitlines())

    async def test_audit_of_chosen_users(
        self, conn: None, leaf_fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """`users` limits the audit to those Leaf users."""
        users = [leaf_fake.add_user().id for _ in range(3)]
        leaf_fake.add_credential(users[0], lc.CNHI, cnhi_body(0))

        counts = await asyncio.to_thread(
            LeafAuditOperator(
                task_id="audit", providers=["cnhi"], users=users[:1], out=str(tmp_path / "a.jsonl")
            ).execute,
            {},
        )

        assert {"cnhi": {"OK": 1}} == counts


    async def test_invite_then_resume(
        self, conn: None, leaf_fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """Invite writes a link per user, 0600, and a rerun skips those already invited."""
        users = [leaf_fake.add_user().id for _ in range(3)]
        listing = tmp_path / "users.txt"
        listing.write_text("".join(f"{user}\n" for user in users), encoding="utf-8")
        out = tmp_path / "links" / "links.jsonl"
        common: dict[str, Any] = {"task_id": "invite", "providers": ["john-deere"], "out": str(out)}

        first = await asyncio.to_thread(
            LeafInviteOperator(**common, users=users[:1], expires_in=3600).execute, {}
        )
        rest = await asyncio.to_thread(
            LeafInviteOperator(
                **common, users_file=str(listing), company_name="Acme", concurrency=2
            ).execute,
            {},
        )

        assert (1, 0, 0) == (first["ok"], first["failed"], first["skipped"])
        assert (2, 0, 1) == (rest["ok"], rest["failed"], rest["skipped"])
        assert 0o600 == out.stat().st_mode & 0o777
        assert sorted(users) == sorted(line["leafUserId"] for line in outcomes(out) if line["ok"])

    def test_invite_needs_exactly_one_source_of_users(self) -> None:
        """Users, a users file and `missing` exclude each other; one is required."""
        with pytest.raises(ValueError, match="exactly one of users, users_file and missing"):
            LeafInviteOperator(task_id="i", providers=["cnhi"], out="x", users=["a"], missing=True)
        with pytest.raises(ValueError, match="exactly one of users, users_file and missing"):
            LeafInviteOperator(task_id="i", providers=["cnhi"], out="x")

    async def test_invite_failure_fails_the_task(
        self, conn: None, leaf_fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A link that cannot be created (no such user) fails the task, to be retried."""
        out = tmp_path / "links.jsonl"
        operator = LeafInviteOperator(
            task_id="invite", providers=["john-deere"], users=["nobody"], out=str(out)
        )

        with pytest.raises(AirflowException, match="1 link\\(s\\) could not be created"):
            await asyncio.to_thread(operator.execute, {})

    async def test_results_reader_skips_a_half_written_line(
        self, conn: None, leaf_fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """A half-written last line left by a killed run does not break the counts."""
        user = leaf_fake.add_user().id
        plan = self.plan(
            tmp_path / "plan.jsonl",
            [{"op": "create", "provider": "cnhi", "leafUserId": user, "credentials": cnhi_body(0)}],
        )
        results = tmp_path / "r"
        results.mkdir()
        (results / "shard-0-of-1.jsonl").write_text('{"line": 1, "ok": tr', encoding="utf-8")

        counts = await asyncio.to_thread(
            LeafApplyOperator(task_id="apply", plan=plan, results_dir=str(results)).execute, {}
        )

        assert (1, 0, 0) == (counts["ok"], counts["failed"], counts["skipped"])


@pytest.fixture(scope="module")
def migrated_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Airflow home with its SQLite database created once for the module."""
    import subprocess

    home = tmp_path_factory.mktemp("airflow-e2e")
    env = {**os.environ, **airflow_environment(home)}
    subprocess.run(  # noqa: S603 - our own venv's airflow
        [AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300
    )
    return home


def airflow_environment(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "examples" / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }


async def dags_test(
    home: Path, fake: FakeLeaf, conf: dict[str, Any], **extra: Any
) -> tuple[int, str]:
    """Run `airflow dags test` for the example DAG; return its exit status and output.

    ``extra``: the connection's extra, over the fake's token (``token="wrong"``).
    """
    env = {
        **os.environ,
        **airflow_environment(home),
        "AIRFLOW_CONN_LEAF_DEFAULT": connection(fake, **extra),
        "AIRFLOW_VAR_LEAF_CNHI_CLIENT_SECRET": NEW_SECRET,
    }
    process = await asyncio.create_subprocess_exec(
        AIRFLOW,
        "dags",
        "test",
        DAG_ID,
        "--conf",
        json.dumps(conf),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=300)
    assert process.returncode is not None
    return process.returncode, output.decode("utf-8", "replace")


def outcomes(path: Path) -> list[dict[str, Any]]:
    lines = [json.loads(raw) for raw in path.read_text().splitlines() if raw.strip()]
    return [line for line in lines if isinstance(line.get("ok"), bool)]


class TestExampleDag:
    async def test_rotate_audit_invite_then_resume(
        self, migrated_home: Path, leaf_fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """The example DAG rotates every live secret in 3 shards, invites the bad, and resumes."""
        users = [leaf_fake.add_user(name=f"grower {n}").id for n in range(24)]
        for n, user in enumerate(users[:20]):
            leaf_fake.add_credential(user, lc.CNHI, cnhi_body(n))
        bad = users[17:20]
        for user in bad:
            leaf_fake.set_status(user, lc.CNHI, "UNAUTHENTICATED")
        live = users[:17]
        workdir = tmp_path / "work"
        conf = {"workdir": str(workdir), "shards": 3, "concurrency": 4}

        code, output = await dags_test(migrated_home, leaf_fake, conf)

        assert 0 == code, output[-3000:]
        plan = (workdir / "plan.jsonl").read_text().splitlines()
        assert len(live) == len(plan)
        shard_files = sorted((workdir / "results").glob("shard-*-of-3.jsonl"))
        assert 3 == len(shard_files)
        lines_per_shard = [{ln["line"] for ln in outcomes(f) if ln["ok"]} for f in shard_files]
        assert set(range(1, len(plan) + 1)) == set().union(*lines_per_shard)
        assert len(plan) == sum(len(lines) for lines in lines_per_shard)  # exactly one shard each
        for user in live:
            stored = leaf_fake.credential(user, lc.CNHI)
            assert stored is not None
            assert NEW_SECRET == stored["clientSecret"]
        for user in bad:
            stored = leaf_fake.credential(user, lc.CNHI)
            assert stored is not None
            assert "old-client-secret" == stored["clientSecret"]
        invited = [json.loads(raw) for raw in (workdir / "links.jsonl").read_text().splitlines()]
        assert sorted(bad) == sorted(line["leafUserId"] for line in invited)
        assert all(line.get("linkId") for line in invited)
        # The invitations work for a week, not Leaf's default 15 minutes.
        week = datetime.now(UTC) + timedelta(days=6)
        assert all(datetime.fromisoformat(line["expiresAt"]) > week for line in invited)
        assert 0o600 == (workdir / "plan.jsonl").stat().st_mode & 0o777
        for secret in (leaf_fake.token, NEW_SECRET, "old-client-secret"):
            assert secret not in output

        # A worker died after its last creates landed but before their
        # outcomes were written: cut its results file short and run again.
        posts_before = leaf_fake.count("POST", "/cnhi-credentials")
        victim = shard_files[0]
        kept = victim.read_text().splitlines(keepends=True)
        last_outcomes = [i for i, raw in enumerate(kept) if '"ok"' in raw][-2:]
        victim.write_text("".join(raw for i, raw in enumerate(kept) if i not in last_outcomes))

        code, output = await dags_test(migrated_home, leaf_fake, conf)

        assert 0 == code, output[-3000:]
        assert posts_before == leaf_fake.count("POST", "/cnhi-credentials")
        done = [{line["line"] for line in outcomes(f) if line["ok"]} for f in shard_files]
        assert set(range(1, len(plan) + 1)) == set().union(*done)
        invited_again = (workdir / "links.jsonl").read_text().splitlines()
        assert len(bad) == len(invited_again)  # the links file resumed: no second link

    async def test_a_refused_token_fails_at_once(
        self, migrated_home: Path, leaf_fake: FakeLeaf, tmp_path: Path
    ) -> None:
        """With a token Leaf refuses, write_plan fails for good on its first 401: no retry
        (the DAG's retries=2 would send the same token twice more)."""
        leaf_fake.add_user(name="grower")
        conf = {"workdir": str(tmp_path / "work"), "shards": 1}

        code, output = await dags_test(migrated_home, leaf_fake, conf, token="not-the-token")

        assert 0 != code
        assert "Leaf refused the credentials of the connection leaf_default" in output
        assert 1 == leaf_fake.count("GET", "/users")
        assert "not-the-token" not in output
