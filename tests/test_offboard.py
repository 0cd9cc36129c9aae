"""Tests of leaf.offboard: every credential, API key and open link of a user, then the user."""

from __future__ import annotations

import pytest

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf

JD = lc.JohnDeereCredentials(
    client_key="jd-key",
    client_secret="jd-secret-value",
    refresh_token="jd-refresh-value",
    client_environment="STAGE",
)
SENTERA = lc.SenteraCredentials(username="ada", password="pw-secret", organization_name="Ada")


async def held(leaf: lc.LeafSession, fake: FakeLeaf) -> tuple[str, str]:
    """Give a new user two credentials, an API key and a Magic Link; another user a link."""
    ada = fake.add_user(name="Ada").id
    bob = fake.add_user(name="Bob").id
    fake.add_credential(ada, lc.JOHN_DEERE, JD)
    fake.add_credential(ada, lc.SENTERA, SENTERA)
    await leaf.api_keys.create(ada, description="widget")
    await leaf.magic_links.create(ada)
    await leaf.magic_links.create(bob)
    return ada, bob


def steps(found: tuple[lc.OffboardStep, ...], kind: str) -> list[str]:
    return sorted(step.target for step in found if step.kind == kind)


class TestOffboard:
    async def test_everything_the_user_holds_is_removed(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """Credentials, valid API keys and open links go; the user and other users stay."""
        ada, bob = await held(leaf_session, leaf_fake)

        report = await leaf_session.offboard(ada)

        assert (True, True, False) == (report.ok, report.found, report.dry_run)
        assert ["john-deere", "sentera"] == steps(report.removed, "credential")
        assert 1 == len(steps(report.removed, "api_key"))
        assert 1 == len(steps(report.removed, "magic_link"))
        assert None is leaf_fake.credential(ada, lc.JOHN_DEERE)
        assert [False] == [k.valid for k in await leaf_session.api_keys.list(ada)]
        assert [bob] == [link["leafUserId"] for link in leaf_fake.onboarding.magic_links]
        assert ada in leaf_fake.users

    async def test_a_dry_run_removes_nothing_and_says_what_would_go(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """dry_run lists the same steps as a run, and deletes nothing."""
        ada, _ = await held(leaf_session, leaf_fake)

        plan = await leaf_session.offboard(ada, delete_user=True, dry_run=True)
        report = await leaf_session.offboard(ada, delete_user=True)

        assert plan.dry_run
        assert [(s.kind, s.target) for s in report.removed] == [
            (s.kind, s.target) for s in plan.removed
        ]
        assert ada not in leaf_fake.users

    async def test_a_second_run_finds_nothing_left(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """Run again, offboard removes nothing; after the user is deleted, found is False."""
        ada, _ = await held(leaf_session, leaf_fake)
        await leaf_session.offboard(ada)

        again = await leaf_session.offboard(ada)
        deleted = await leaf_session.offboard(ada, delete_user=True)
        gone = await leaf_session.offboard(ada, delete_user=True)

        assert ((), ()) == (again.removed, again.failed)
        assert [("user", ada)] == [(s.kind, s.target) for s in deleted.removed]
        assert (False, (), ()) == (gone.found, gone.removed, gone.failed)

    async def test_a_failure_keeps_the_user_and_a_run_again_finishes(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """A failed delete is a step, the user is kept, and the next run removes the rest."""
        ada, _ = await held(leaf_session, leaf_fake)
        leaf_fake.faults.add(method="DELETE", path="/users/*/sentera-credentials", status=403)

        first = await leaf_session.offboard(ada, delete_user=True)
        second = await leaf_session.offboard(ada, delete_user=True)

        assert not first.ok
        assert [("credential", "sentera"), ("user", ada)] == [
            (s.kind, s.target) for s in first.failed
        ]
        assert "403 from DELETE" in (first.failed[0].error or "")
        assert "1 step(s) failed" in (first.failed[1].error or "")
        assert ["john-deere"] == steps(first.removed, "credential")
        assert second.ok
        assert ["sentera"] == steps(second.removed, "credential")
        assert ada not in leaf_fake.users

    async def test_failed_lists_are_steps(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """A list of API keys or of links that fails is a failed step, not an exception."""
        ada, _ = await held(leaf_session, leaf_fake)
        leaf_fake.faults.add(method="GET", path="/api-keys", status=403)
        leaf_fake.faults.add(method="GET", path="*/magic-link/file-upload", status=403)

        report = await leaf_session.offboard(ada)

        assert [("api_key", "*"), ("magic_link", "file-upload")] == [
            (s.kind, s.target) for s in report.failed
        ]

    async def test_failed_revokes_and_link_deletes_are_steps(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """A revoke or a link delete that fails is a failed step with its error."""
        ada, _ = await held(leaf_session, leaf_fake)
        leaf_fake.faults.add(method="DELETE", path="/api-keys/*", status=500, times=10)
        leaf_fake.faults.add(method="DELETE", path="*/magic-link/provider/*", status=403)

        report = await leaf_session.offboard(ada)

        assert ["api_key", "magic_link"] == [s.kind for s in report.failed]

    async def test_a_user_read_refused_raises(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """When the user cannot be read (other than 404), offboard raises and removes nothing."""
        ada, _ = await held(leaf_session, leaf_fake)
        leaf_fake.faults.add(method="GET", path=f"/users/{ada}", status=403)

        with pytest.raises(lc.PermissionDeniedError):
            await leaf_session.offboard(ada)
        assert leaf_fake.credential(ada, lc.SENTERA) is not None

    async def test_an_unregistered_provider_is_reported(self, leaf_fake: FakeLeaf) -> None:
        """A credential of a provider the session's registry lacks is a failed step."""
        ada = leaf_fake.add_user(name="Ada").id
        leaf_fake.add_credential(ada, lc.JOHN_DEERE, JD)
        registry = lc.Registry()
        registry.register(lc.SENTERA)
        async with lc.LeafSession(
            token=leaf_fake.token, base_url=leaf_fake.url, registry=registry
        ) as leaf:
            report = await leaf.offboard(ada, delete_user=True)

        assert [("credential", "john-deere"), ("user", ada)] == [
            (s.kind, s.target) for s in report.failed
        ]
        assert "register the provider" in (report.failed[0].error or "")
        assert ada in leaf_fake.users

    async def test_an_invalid_user_id_sends_nothing(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """A user id that is not one is a ValidationError before any request."""
        with pytest.raises(lc.ValidationError):
            await leaf_session.offboard("..")
        assert [] == leaf_fake.requests

    async def test_expired_links_and_revoked_keys_are_left(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """A link past its expiry and a key already revoked are not touched again."""
        ada, _ = await held(leaf_session, leaf_fake)
        await leaf_session.offboard(ada)
        leaf_fake.advance_clock(-(10**6))  # a link made long ago, expired now
        await leaf_session.magic_links.create(ada)
        leaf_fake.advance_clock(10**6)

        report = await leaf_session.offboard(ada)

        assert ((), ()) == (report.removed, report.failed)

    async def test_what_is_gone_meanwhile_is_not_a_failure(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """A key, a link or the user answered 404 on delete was removed by someone else."""
        ada, _ = await held(leaf_session, leaf_fake)
        leaf_fake.faults.add(method="DELETE", path="/api-keys/*", status=404)
        leaf_fake.faults.add(method="DELETE", path="*/magic-link/provider/*", status=404)
        leaf_fake.faults.add(method="DELETE", path=f"/users/{ada}", status=404)

        report = await leaf_session.offboard(ada, delete_user=True)

        assert report.ok
        assert ["credential", "credential", "user"] == [s.kind for s in report.removed]

    async def test_a_key_without_id_and_a_refused_user_delete_are_steps(
        self, unused_tcp_port: int
    ) -> None:
        """A valid key listed without an id, and a user delete refused, are failed steps."""
        from aiohttp import web

        async def answer(request: web.Request) -> web.Response:
            path = request.path
            if path.endswith("/users/u1") and request.method == "GET":
                return web.json_response({"id": "u1"})
            if path.endswith("/api-keys"):
                return web.json_response([{"key": "k", "valid": True}])
            if "/magic-link/" in path:
                return web.json_response([])
            return web.json_response({"title": "no"}, status=404)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
        try:
            async with lc.LeafSession(
                token="t", base_url=f"http://127.0.0.1:{unused_tcp_port}"
            ) as leaf:
                report = await leaf.offboard("u1", delete_user=True)
        finally:
            await runner.cleanup()

        assert [("api_key", "?"), ("user", "u1")] == [(s.kind, s.target) for s in report.failed]

    async def test_a_refused_user_delete_is_a_step(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """A user delete that fails, everything else gone, is the one failed step."""
        ada = leaf_fake.add_user(name="Ada").id
        leaf_fake.faults.add(method="DELETE", path=f"/users/{ada}", status=403)

        report = await leaf_session.offboard(ada, delete_user=True)

        assert [("user", ada)] == [(s.kind, s.target) for s in report.failed]
        assert "403" in (report.failed[0].error or "")
