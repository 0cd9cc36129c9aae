"""Tests of leaf.users create, update and delete, against the fake Leaf on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp import web

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf

JD = lc.JohnDeereCredentials(
    client_key="jd-key",
    client_secret="jd-secret-value",
    refresh_token="jd-refresh-value",
    client_environment="STAGE",
)
SENTERA = lc.SenteraCredentials(username="ada", password="pw-secret", organization_name="Ada")


def retries(count: int = 2) -> lc.RetryPolicy:
    return lc.RetryPolicy(max_retries=count, backoff_base=0.001, backoff_max=0.001)


class TestCreate:
    async def test_a_created_user_is_stored_with_every_field(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """create() sends name, email, phone, address and externalId and returns the new user."""
        user = await leaf_session.users.create(
            name="Ada", email="ada@example.com", phone="555", address="Farm 1", external_id="x1"
        )

        stored = leaf_fake.users[user.id]
        assert ("Ada", "ada@example.com", "555", "Farm 1", "x1") == (
            stored.name, stored.email, stored.phone, stored.address, stored.external_id,
        )  # fmt: skip
        assert {} == user.credentials
        assert "x1" == user.external_id

    async def test_a_field_of_the_wrong_type_is_refused_before_sending(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """A name that is not a string is a ValidationError, and nothing is sent."""
        with pytest.raises(lc.ValidationError, match="name= must be a string"):
            await leaf_session.users.create(name=5)  # type: ignore[arg-type]
        with pytest.raises(lc.ValidationError, match="lone surrogate"):
            await leaf_session.users.create(email="\ud800")
        assert 0 == leaf_fake.count("POST")

    async def test_an_unknown_outcome_is_found_by_external_id(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """A create applied but unanswered is found by its externalId: one user, not two."""
        leaf_fake.faults.add(method="POST", path="/users", drop="after_body")

        user = await leaf_session.users.create(name="Ada", external_id="x-ada")

        assert 1 == len(leaf_fake.users)
        assert leaf_fake.users[user.id].external_id == "x-ada"
        assert 1 == leaf_fake.count("POST", "/users")

    async def test_an_unapplied_create_is_sent_again(self, leaf_fake: FakeLeaf) -> None:
        """A create answered 500 whose user is not found is sent again."""
        leaf_fake.faults.add(method="POST", path="/users", status=500)
        async with lc.LeafSession(
            token=leaf_fake.token, base_url=leaf_fake.url, retry=retries()
        ) as leaf:
            user = await leaf.users.create(name="Ada", external_id="x-ada")

        assert [user.id] == list(leaf_fake.users)
        assert 2 == leaf_fake.count("POST", "/users")

    async def test_a_user_with_other_fields_is_not_taken_for_ours(
        self, leaf_fake: FakeLeaf
    ) -> None:
        """Another user holding the externalId with other fields is not the create's outcome."""
        other = leaf_fake.add_user(name="Bob", external_id="x-1")
        leaf_fake.faults.add(method="POST", path="/users", status=502)
        async with lc.LeafSession(
            token=leaf_fake.token, base_url=leaf_fake.url, retry=retries()
        ) as leaf:
            user = await leaf.users.create(name="Ada", external_id="x-1")

        assert other.id != user.id
        assert "Ada" == user.name

    async def test_without_an_external_id_an_unknown_outcome_is_raised(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """With no externalId to look it up by, an unknown outcome is OutcomeUnknownError."""
        leaf_fake.faults.add(method="POST", path="/users", drop="after_body")

        with pytest.raises(lc.OutcomeUnknownError, match="without an external_id") as caught:
            await leaf_session.users.create(name="Ada")

        assert 1 == leaf_fake.count("POST", "/users")
        assert isinstance(caught.value.__cause__, lc.TransportError)

    async def test_a_failed_lookup_is_an_unknown_outcome(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """When the lookup by externalId fails too, the create is OutcomeUnknownError."""
        leaf_fake.faults.add(method="POST", path="/users", status=504)
        leaf_fake.faults.add(method="GET", path="/users", status=403)

        with pytest.raises(lc.OutcomeUnknownError, match="lookup that would tell failed"):
            await leaf_session.users.create(name="Ada", external_id="x-2")

        assert 1 == leaf_fake.count("POST", "/users")

    async def test_an_unreadable_answer_is_recovered_by_external_id(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """A 2xx whose body is not a user is recovered by a lookup of its externalId."""
        leaf_fake.faults.add(method="POST", path="/users", malformed=True)

        user = await leaf_session.users.create(name="Ada", external_id="x-3")

        assert [user.id] == list(leaf_fake.users)

    @pytest.mark.parametrize("external_id", [None, "x-4"])
    async def test_an_unreadable_answer_not_found_is_unreadable_create_error(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession, external_id: str | None
    ) -> None:
        """An unreadable 2xx with nothing to find it by is UnreadableCreateError, never resent."""
        leaf_fake.faults.add(method="POST", path="/users", malformed=True)
        if external_id is not None:
            leaf_fake.faults.add(method="GET", path="/users", status=500, times=10)

        with pytest.raises(lc.UnreadableCreateError, match="Look the user up"):
            await leaf_session.users.create(name="Ada", external_id=external_id)

        assert 1 == leaf_fake.count("POST", "/users")


class TestUpdate:
    async def test_an_update_changes_the_fields_asked_for_and_keeps_the_rest(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """update() changes name and keeps email, phone, address and external id."""
        ada = leaf_fake.add_user(
            name="Ada", email="ada@example.com", phone="1", address="A", external_id="x"
        )

        user = await leaf_session.users.update(ada.id, name="Ada L.")

        stored = leaf_fake.users[ada.id]
        assert ("Ada L.", "ada@example.com", "1", "A", "x") == (
            stored.name, stored.email, stored.phone, stored.address, stored.external_id,
        )  # fmt: skip
        assert "Ada L." == user.name

    async def test_an_update_never_detaches_a_credential(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """Every credential the user held is still attached, and still the same, after update()."""
        ada = leaf_fake.add_user(name="Ada")
        jd = leaf_fake.add_credential(ada.id, lc.JOHN_DEERE, JD)
        sentera = leaf_fake.add_credential(ada.id, lc.SENTERA, SENTERA)

        user = await leaf_session.users.update(ada.id, email="new@example.com")

        assert {"john-deere": jd["id"], "sentera": sentera["id"]} == dict(user.credentials)
        assert jd == leaf_fake.credential(ada.id, lc.JOHN_DEERE)
        assert sentera == leaf_fake.credential(ada.id, lc.SENTERA)

    async def test_the_write_names_credentials_by_id_only(self, unused_tcp_port: int) -> None:
        """The PUT body keeps unknown keys and names each credential by id, never its secrets."""
        got: list[Any] = []
        stored = {
            "id": "u1",
            "name": "Ada",
            "futureField": {"a": 1},
            "johnDeereCredentials": {"id": "c1", "clientSecret": "s3cret", "refreshToken": "r"},
        }

        async def read(request: web.Request) -> web.Response:
            return web.json_response(stored)

        async def write(request: web.Request) -> web.Response:
            got.append(await request.json())
            return web.Response(status=200)  # no body: what was written is the user

        app = web.Application()
        app.router.add_get("/services/usermanagement/api/users/u1", read)
        app.router.add_put("/services/usermanagement/api/users", write)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
        try:
            async with lc.LeafSession(
                token="t", base_url=f"http://127.0.0.1:{unused_tcp_port}"
            ) as leaf:
                user = await leaf.users.update("u1", phone="555")
        finally:
            await runner.cleanup()

        assert [{
            "id": "u1", "name": "Ada", "futureField": {"a": 1},
            "johnDeereCredentials": {"id": "c1"}, "phone": "555",
        }] == got  # fmt: skip
        assert "s3cret" not in json.dumps(got)
        assert {"john-deere": "c1"} == dict(user.credentials)
        assert "555" == user.phone

    async def test_an_answer_without_embedded_credentials_keeps_those_written(
        self, unused_tcp_port: int
    ) -> None:
        """A PUT answered with the user but no credential objects still lists those written."""

        async def read(request: web.Request) -> web.Response:
            return web.json_response({"id": "u1", "cnhiCredentials": {"id": "c9"}})

        async def write(request: web.Request) -> web.Response:
            return web.json_response({"id": "u1", "name": "New"})

        app = web.Application()
        app.router.add_get("/services/usermanagement/api/users/u1", read)
        app.router.add_put("/services/usermanagement/api/users", write)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
        try:
            async with lc.LeafSession(
                token="t", base_url=f"http://127.0.0.1:{unused_tcp_port}"
            ) as leaf:
                user = await leaf.users.update("u1", name="New")
        finally:
            await runner.cleanup()

        assert {"cnhi": "c9"} == dict(user.credentials)

    async def test_an_update_with_nothing_to_change_is_refused(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """update() with no field is a ValidationError; nothing is sent."""
        with pytest.raises(lc.ValidationError, match="at least one field"):
            await leaf_session.users.update("u1")
        assert 0 == len(leaf_fake.requests)

    async def test_an_update_of_a_missing_user_writes_nothing(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """A missing user is NotFoundError from the read; no PUT is sent."""
        with pytest.raises(lc.NotFoundError):
            await leaf_session.users.update("nobody", name="X")
        assert 0 == leaf_fake.count("PUT")

    async def test_a_read_that_is_not_a_user_writes_nothing(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """A read answered with something other than a user is a DecodeError before any write."""
        ada = leaf_fake.add_user(name="Ada")
        leaf_fake.faults.add(method="GET", malformed=True)

        with pytest.raises(lc.DecodeError, match="is not JSON"):
            await leaf_session.users.update(ada.id, name="X")
        assert 0 == leaf_fake.count("PUT")

    async def test_a_read_of_json_that_is_not_a_user_writes_nothing(
        self, unused_tcp_port: int
    ) -> None:
        """A read answered with JSON that is not a user is a DecodeError before any write."""
        puts: list[str] = []

        async def read(request: web.Request) -> web.Response:
            return web.json_response([{"id": "u1"}])

        async def write(request: web.Request) -> web.Response:
            puts.append("PUT")
            return web.json_response({})

        app = web.Application()
        app.router.add_get("/services/usermanagement/api/users/u1", read)
        app.router.add_put("/services/usermanagement/api/users", write)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", unused_tcp_port).start()
        try:
            async with lc.LeafSession(
                token="t", base_url=f"http://127.0.0.1:{unused_tcp_port}"
            ) as leaf:
                with pytest.raises(lc.DecodeError, match="nothing was written"):
                    await leaf.users.update("u1", name="X")
        finally:
            await runner.cleanup()
        assert [] == puts


class TestFakePut:
    async def test_a_put_that_leaves_a_credential_out_detaches_it(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """The fake's PUT /users is Leaf's full replace: an unnamed credential is detached."""
        ada = leaf_fake.add_user(name="Ada", email="a@x")
        jd = leaf_fake.add_credential(ada.id, lc.JOHN_DEERE, JD)
        leaf_fake.add_credential(ada.id, lc.SENTERA, SENTERA)
        body = {"id": ada.id, "name": "Ada", "johnDeereCredentials": {"id": jd["id"]}}

        answer = await leaf_session.transport.request(
            "PUT",
            leaf_session.transport.user_management + "/users",
            leaf_session.transport.timeouts,
            data=json.dumps(body).encode(),
        )

        assert None is leaf_fake.credential(ada.id, lc.SENTERA)
        assert jd == leaf_fake.credential(ada.id, lc.JOHN_DEERE)
        assert None is leaf_fake.users[ada.id].email
        assert jd["id"] == json.loads(answer.body)["johnDeereCredentials"]["id"]

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            ([], 400),
            ({"name": "X"}, 400),
            ({"id": "nobody"}, 404),
            ({"id": "ID", "name": 5}, 400),
            ({"id": "ID", "johnDeereCredentials": {"id": "other"}}, 400),
        ],
    )
    async def test_a_put_leaf_would_refuse_is_refused(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession, body: Any, status: int
    ) -> None:
        """No id, no such user, a field of the wrong type or another credential id is refused."""
        ada = leaf_fake.add_user(name="Ada")
        leaf_fake.add_credential(ada.id, lc.JOHN_DEERE, JD)
        if isinstance(body, dict) and body.get("id") == "ID":
            body["id"] = ada.id
        transport = leaf_session.transport

        with pytest.raises(lc.APIError) as caught:
            await transport.request(
                "PUT", transport.user_management + "/users", transport.timeouts,
                data=json.dumps(body).encode(),
            )  # fmt: skip

        assert status == caught.value.status
        assert "Ada" == leaf_fake.users[ada.id].name
        assert leaf_fake.credential(ada.id, lc.JOHN_DEERE) is not None

    async def test_a_replaced_user_keeps_its_place_and_its_filters(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """After an update the list keeps creation order, and filters find the new values only."""
        first = leaf_fake.add_user(name="A", email="same@x")
        leaf_fake.add_user(name="B", email="same@x")

        await leaf_session.users.update(first.id, name="A2")

        assert ["A2", "B"] == [u.name async for u in leaf_session.users()]
        assert ["A2"] == [u.name async for u in leaf_session.users(name="A2")]
        assert [] == [u.name async for u in leaf_session.users(name="A")]
        assert ["A2", "B"] == [u.name async for u in leaf_session.users(email="same@x")]


class TestGetAndDelete:
    async def test_a_user_lists_its_credentials_by_provider(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """get() and the list give the slug and credential id of each attached credential."""
        ada = leaf_fake.add_user(name="Ada")
        jd = leaf_fake.add_credential(ada.id, lc.JOHN_DEERE, JD)

        user = await leaf_session.users.get(ada.id)
        listed = [u async for u in leaf_session.users()]

        assert {"john-deere": jd["id"]} == dict(user.credentials)
        assert [{"john-deere": jd["id"]}] == [dict(u.credentials) for u in listed]
        assert "jd-secret-value" not in repr(user)
        assert repr(leaf_session.users).startswith("<Users of <Transport")
        hash(user)  # still hashable: the mapping is left out of the hash

    def test_embedded_credentials_are_read_by_key_and_id(self) -> None:
        """Only <camelSlug>Credentials objects with a string id count, named by their slug."""
        data = {
            "cnhiFieldOpsCredentials": {"id": "a"},
            "ravenSlingshotCredentials": {"id": "b"},
            "acmeCredentials": {"id": "c"},
            "senteraCredentials": None,
            "trimbleCredentials": {"id": 5},
            "Credentials": {"id": "d"},
            "name": "x",
        }
        from leaf_creds._users import embedded_credentials

        assert {"cnhi-field-ops": "a", "raven-slingshot": "b", "acme": "c"} == (
            embedded_credentials(data)
        )

    async def test_a_deleted_user_is_gone_with_its_credentials(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """delete() removes the user; a second delete is NotFoundError."""
        ada = leaf_fake.add_user(name="Ada")
        leaf_fake.add_credential(ada.id, lc.SENTERA, SENTERA)

        await leaf_session.users.delete(ada.id)

        assert ada.id not in leaf_fake.users
        with pytest.raises(lc.NotFoundError):
            await leaf_session.users.delete(ada.id)

    async def test_a_delete_whose_answer_was_lost_is_done(
        self, leaf_fake: FakeLeaf, leaf_session: lc.LeafSession
    ) -> None:
        """A delete applied but unanswered is resent, and its 404 taken as done."""
        ada = leaf_fake.add_user(name="Ada")
        leaf_fake.faults.add(method="DELETE", drop="after_body")

        await leaf_session.users.delete(ada.id)

        assert ada.id not in leaf_fake.users
        assert 2 == leaf_fake.count("DELETE")
