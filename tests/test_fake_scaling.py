"""FakeLeaf with many users: paging, filters and sorting over its indexes, seeding, fake-server."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import shutil
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import leaf_creds as lc
from leaf_creds.cli import main
from leaf_creds.testing import FakeLeaf, serve

UM = "/services/usermanagement/api"
BIN = Path(sys.executable).parent
LEAF_CREDS = shutil.which("leaf-creds", path=str(BIN)) or str(BIN / "leaf-creds")
SENTERA_BODY = {"username": "grower", "password": "seed-password-1", "organizationName": "Acme"}
CNHI_BODY = {
    "clientId": "cnhi-client",
    "clientSecret": "seed-client-secret-1",
    "subscriptionKey": "seed-subscription-key-1",
    "refreshToken": "seed-refresh-token-1",
    "clientEnvironment": "STAGE",
}


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get_json(
    client: aiohttp.ClientSession,
    fake: FakeLeaf,
    path: str,
    *,
    pairs: Sequence[tuple[str, str]] = (),
    **query: str,
) -> tuple[Any, Any]:
    """GET a User Management path of the fake; return its JSON and headers."""
    async with client.get(
        fake.url + UM + path,
        params=[*query.items(), *pairs],
        headers={"Authorization": f"Bearer {fake.token}"},
    ) as response:
        assert 200 == response.status
        return await response.json(), response.headers


async def all_pages(
    client: aiohttp.ClientSession,
    fake: FakeLeaf,
    size: int,
    *,
    pairs: Sequence[tuple[str, str]] = (),
    **query: str,
) -> list[dict[str, Any]]:
    """Read ``GET /users`` page by page until a short page."""
    users: list[dict[str, Any]] = []
    page = 0
    while True:
        body, _ = await get_json(
            client, fake, "/users", pairs=pairs, page=str(page), size=str(size), **query
        )
        users += body
        if len(body) < size:
            return users
        page += 1


def add_users(fake: FakeLeaf, count: int, start: int = 0) -> list[str]:
    return [
        fake.add_user(id=f"user-{i:05d}", name=f"Grower {i % 7}", email=f"g{i % 3}@example.com").id
        for i in range(start, start + count)
    ]


class TestPagingManyUsers:
    async def test_pages_cover_every_user_once_in_creation_order(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """1,050 users paged 100 at a time come back once each, in creation order."""
        ids = add_users(leaf_fake, 1050)

        users = await all_pages(client, leaf_fake, 100)

        assert ids == [user["id"] for user in users]

    async def test_total_count_and_last_link(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """X-Total-Count counts every user and the last link names the last page."""
        add_users(leaf_fake, 1050)

        body, headers = await get_json(client, leaf_fake, "/users", page="3", size="100")

        assert "1050" == headers["X-Total-Count"]
        assert 'page=10&size=100>; rel="last"' in headers["Link"]
        assert ["user-00300", "user-00399"] == [body[0]["id"], body[-1]["id"]]

    async def test_a_page_past_the_end_is_empty(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """A page number past the last one answers an empty list."""
        add_users(leaf_fake, 250)

        body, headers = await get_json(client, leaf_fake, "/users", page="9", size="100")

        assert [] == body
        assert "250" == headers["X-Total-Count"]

    async def test_only_the_users_credentials_are_embedded(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """Each listed user carries its own credentials and no one else's."""
        ids = add_users(leaf_fake, 300)
        leaf_fake.add_credential(ids[150], lc.SENTERA, SENTERA_BODY)
        leaf_fake.add_credential(ids[150], lc.CNHI, CNHI_BODY)
        leaf_fake.add_credential(ids[299], lc.CNHI, CNHI_BODY)

        users = await all_pages(client, leaf_fake, 100)

        keys = {user["id"]: sorted(k for k in user if k.endswith("Credentials")) for user in users}
        assert ["cnhiCredentials", "senteraCredentials"] == keys[ids[150]]
        assert ["cnhiCredentials"] == keys[ids[299]]
        assert 2 == sum(1 for found in keys.values() if found)

    async def test_session_users_reads_every_user(self, leaf_fake: FakeLeaf) -> None:
        """LeafSession.users() walks 2,500 users of the fake without losing one."""
        ids = add_users(leaf_fake, 2500)

        async with lc.LeafSession(token=leaf_fake.token, base_url=leaf_fake.url) as leaf:
            seen = [user.id async for user in leaf.users()]

        assert ids == seen


class TestFiltersAndSorting:
    async def test_a_filter_keeps_creation_order(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """Filtering by email answers every holder of it, oldest first."""
        ids = add_users(leaf_fake, 600)

        users = await all_pages(client, leaf_fake, 50, email="g1@example.com")

        assert ids[1::3] == [user["id"] for user in users]

    async def test_two_filters_must_both_match(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """Filters on name and email together answer only users matching both."""
        ids = add_users(leaf_fake, 210)

        users = await all_pages(client, leaf_fake, 100, email="g0@example.com", name="Grower 0")

        assert ids[::21] == [user["id"] for user in users]

    async def test_an_unknown_value_matches_nobody(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """A filter no user matches answers an empty first page and a count of 0."""
        add_users(leaf_fake, 30)

        body, headers = await get_json(client, leaf_fake, "/users", externalId="nope")

        assert ([], "0") == (body, headers["X-Total-Count"])

    async def test_many_distinct_queries_each_answer_right(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """Forty different filtered queries, then the first again, each find their user."""
        ids = [leaf_fake.add_user(external_id=f"farm-{i}").id for i in range(40)]

        found = [await all_pages(client, leaf_fake, 20, externalId=f"farm-{i}") for i in range(40)]
        again = await all_pages(client, leaf_fake, 20, externalId="farm-0")

        assert [[user_id] for user_id in ids] == [[u["id"] for u in users] for users in found]
        assert [ids[0]] == [user["id"] for user in again]

    async def test_sorted_pages_follow_users_added_meanwhile(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """A sorted listing read again after an add includes the new user in its place."""
        add_users(leaf_fake, 120)
        before = await all_pages(client, leaf_fake, 100, sort="name,desc")
        leaf_fake.add_user(id="zed", name="Zed")

        after = await all_pages(client, leaf_fake, 100, sort="name,desc")

        assert 120 == len(before)
        assert ["zed"] + [user["id"] for user in before] == [user["id"] for user in after]

    async def test_sorting_by_name_then_id(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """One sort key keeps creation order among ties; a second one orders them."""
        ids = add_users(leaf_fake, 140)

        by_name = await all_pages(client, leaf_fake, 30, sort="name,asc")
        by_name_then_id = await all_pages(
            client, leaf_fake, 30, pairs=[("sort", "name,asc"), ("sort", "id,desc")]
        )

        def number(user_id: str) -> int:
            return int(user_id[5:])

        assert sorted(ids, key=lambda u: (number(u) % 7, number(u))) == [
            user["id"] for user in by_name
        ]
        assert sorted(ids, key=lambda u: (number(u) % 7, -number(u))) == [
            user["id"] for user in by_name_then_id
        ]


class TestIndexesAfterDeletes:
    async def test_deleted_users_leave_every_page(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """Users deleted over HTTP vanish from the pages, the count and the filters."""
        ids = add_users(leaf_fake, 400)
        headers = {"Authorization": f"Bearer {leaf_fake.token}"}
        for user_id in ids[::2]:
            async with client.delete(f"{leaf_fake.url}{UM}/users/{user_id}", headers=headers) as r:
                assert 204 == r.status

        users = await all_pages(client, leaf_fake, 100)
        filtered = await all_pages(client, leaf_fake, 100, email="g0@example.com")
        _, counted = await get_json(client, leaf_fake, "/users")

        assert ids[1::2] == [user["id"] for user in users]
        assert [u for u in ids[1::2] if int(u[5:]) % 3 == 0] == [u["id"] for u in filtered]
        assert "200" == counted["X-Total-Count"]

    async def test_a_deleted_id_added_again_is_listed_once_at_the_end(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """A user deleted and added again with the same id shows once, as the newest user."""
        ids = add_users(leaf_fake, 150)
        leaf_fake.add_credential(ids[10], lc.SENTERA, SENTERA_BODY)
        await get_json(client, leaf_fake, "/users")  # a listing before the delete
        async with client.delete(
            f"{leaf_fake.url}{UM}/users/{ids[10]}",
            headers={"Authorization": f"Bearer {leaf_fake.token}"},
        ) as response:
            assert 204 == response.status
        leaf_fake.add_user(id=ids[10], name="Back again", email="back@example.com")

        users = await all_pages(client, leaf_fake, 100)
        back = await all_pages(client, leaf_fake, 100, email="back@example.com")
        old = await all_pages(client, leaf_fake, 100, email="g1@example.com")

        assert [*ids[:10], *ids[11:], ids[10]] == [user["id"] for user in users]
        assert [{"id": ids[10], "name": "Back again", "email": "back@example.com",
                 "phone": None, "address": None, "externalId": None}] == back  # fmt: skip
        assert ids[10] not in [user["id"] for user in old]
        assert None is leaf_fake.credential(ids[10], lc.SENTERA)

    async def test_deleting_a_credential_removes_it_from_the_listing(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """After a credential's delete the user is listed without it, keeping the other."""
        ids = add_users(leaf_fake, 5)
        leaf_fake.add_credential(ids[2], lc.SENTERA, SENTERA_BODY)
        leaf_fake.add_credential(ids[2], lc.CNHI, CNHI_BODY)
        async with lc.LeafSession(token=leaf_fake.token, base_url=leaf_fake.url) as leaf:
            await leaf.delete(lc.SENTERA, ids[2])

        body, _ = await get_json(client, leaf_fake, f"/users/{ids[2]}")

        assert ["cnhiCredentials"] == [key for key in body if key.endswith("Credentials")]

    async def test_reset_forgets_the_indexes(
        self, leaf_fake: FakeLeaf, client: aiohttp.ClientSession
    ) -> None:
        """After reset() no listing, filter or sort finds a user from before."""
        add_users(leaf_fake, 50)
        await get_json(client, leaf_fake, "/users", sort="name")
        leaf_fake.reset()
        leaf_fake.add_user(id="new", name="Grower 1", email="g1@example.com")

        listed = await all_pages(client, leaf_fake, 20)
        filtered = await all_pages(client, leaf_fake, 20, email="g1@example.com")
        ordered = await all_pages(client, leaf_fake, 20, sort="name")

        assert [["new"]] * 3 == [[u["id"] for u in found] for found in (listed, filtered, ordered)]

    def test_users_view_is_read_only(self, leaf_fake: FakeLeaf) -> None:
        """fake.users cannot be written to, so the indexes cannot be bypassed."""
        leaf_fake.add_user(id="u1")

        with pytest.raises(TypeError):
            leaf_fake.users["u2"] = leaf_fake.users["u1"]  # type: ignore[index]


SEED = {
    "users": [
        {
            "id": "u1",
            "name": "Ada",
            "email": "ada@example.com",
            "externalId": "farm-1",
            "credentials": {"sentera": SENTERA_BODY, "cnhi": CNHI_BODY},
            "statuses": {"sentera": "UNAUTHENTICATED"},
        },
        {"name": "Bob"},
    ]
}


class TestSeeding:
    def test_load_seed_adds_users_credentials_and_statuses(self, leaf_fake: FakeLeaf) -> None:
        """A seed document's users, credentials and statuses end up in the fake."""
        added = leaf_fake.load_seed(SEED)

        sentera = leaf_fake.credential("u1", lc.SENTERA)
        assert ["u1", added[1].id] == list(leaf_fake.users)
        assert ("Ada", "farm-1", "Bob") == (added[0].name, added[0].external_id, added[1].name)
        assert sentera is not None
        assert "UNAUTHENTICATED" == sentera["status"]
        assert "OK" == (leaf_fake.credential("u1", lc.CNHI) or {}).get("status")

    def test_a_bad_document_lists_every_problem_and_adds_nothing(
        self, leaf_fake: FakeLeaf
    ) -> None:
        """Every problem of a seed document is reported at once, before anything is added."""
        leaf_fake.add_user(id="taken")
        document = {
            "users": [
                {"id": "ok-user", "name": "Fine"},
                {"id": "taken", "nickname": "x", "email": 3},
                {"credentials": {"nope": {}, "sentera": {"username": "u"}}},
                {"statuses": {"cnhi": "OK"}},
                "not an object",
            ]
        }

        with pytest.raises(lc.ValidationError) as caught:
            leaf_fake.load_seed(document)

        assert [
            "unknown key 'nickname' @ $.users[1]",
            "must be a string @ $.users[1].email",
            "a user with id 'taken' exists already @ $.users[1].id",
            "required field missing @ $.users[2].credentials.sentera.password",
            "required field missing @ $.users[2].credentials.sentera.organizationName",
            "no cnhi credential to set the status of @ $.users[3].statuses",
            "must be a JSON object @ $.users[4]",
        ] == [line for line in caught.value.errors if "'nope'" not in line]
        assert any("'nope'" in line for line in caught.value.errors)
        assert ["taken"] == list(leaf_fake.users)

    @pytest.mark.parametrize("document", [[], {"users": {}}, {"users": [], "extra": 1}])
    def test_the_document_must_be_an_object_of_users(
        self, leaf_fake: FakeLeaf, document: Any
    ) -> None:
        """A document that is not {"users": [...]} is refused."""
        with pytest.raises(lc.ValidationError, match="users"):
            leaf_fake.load_seed(document)

    @pytest.mark.parametrize(
        ("user", "problem"),
        [
            ({"credentials": []},
             "must be a JSON object of provider slugs @ $.users[0].credentials"),
            ({"statuses": "OK"}, "must be a JSON object of provider slugs @ $.users[0].statuses"),
            ({"credentials": {"sentera": "x"}},
             "must be the provider's camelCase create body @ $.users[0].credentials.sentera"),
            ({"credentials": {"sentera": SENTERA_BODY}, "statuses": {"sentera": ""}},
             "must be a status string @ $.users[0].statuses.sentera"),
            ({"id": "a"}, "a user with id 'a' exists already @ $.users[1].id"),
        ],
    )  # fmt: skip
    def test_each_misshapen_part_is_named(
        self, leaf_fake: FakeLeaf, user: dict[str, Any], problem: str
    ) -> None:
        """A misshapen part of a user is reported at its path in the document."""
        users = [user, user] if user == {"id": "a"} else [user]

        with pytest.raises(lc.ValidationError) as caught:
            leaf_fake.load_seed({"users": users})

        assert [problem] == list(caught.value.errors)

    def test_secrets_of_a_bad_credential_are_not_in_the_errors(self, leaf_fake: FakeLeaf) -> None:
        """Problems of a seeded credential never quote its values."""
        body = {**CNHI_BODY, "clientEnvironment": "MOON"}

        with pytest.raises(lc.ValidationError) as caught:
            leaf_fake.load_seed({"users": [{"credentials": {"cnhi": body}}]})

        text = str(caught.value) + "".join(caught.value.errors)
        assert "clientEnvironment" in text
        assert not any(secret in text for secret in CNHI_BODY.values() if "seed" in secret)


class Greeting(io.StringIO):
    """A stream that says when serve() has written its greeting."""

    def __init__(self) -> None:
        super().__init__()
        self.written = asyncio.Event()

    def write(self, text: str) -> int:
        self.written.set()
        return super().write(text)


@contextlib.asynccontextmanager
async def serving(**kwargs: Any) -> AsyncIterator[str]:
    """Run serve(port=0, **kwargs) while the block runs; give its greeting."""
    stream = Greeting()
    task = asyncio.create_task(serve(port=0, stream=stream, **kwargs))
    try:
        async with asyncio.timeout(10):
            await stream.written.wait()
        yield stream.getvalue()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class TestServeSeeded:
    async def test_generated_users_and_a_given_token(self, client: aiohttp.ClientSession) -> None:
        """serve(users=, token=) answers the given token with the same users on every start."""

        async def run_once() -> tuple[list[str], str]:
            async with serving(users=3, seed_document=SEED, token="fixed-token-1") as text:
                url = re.findall(r"http://127\.0\.0\.1:\d+", text)[0]
                async with client.get(
                    f"{url}{UM}/users", headers={"Authorization": "Bearer fixed-token-1"}
                ) as response:
                    ids = [user["id"] for user in await response.json()]
            return ids, text

        first, text = await run_once()
        second, _ = await run_once()

        assert 5 == len(first)
        assert first[:3] == second[:3]
        assert "u1" == first[3]
        assert "fixed-token-1" not in text
        assert "holding 5 users, 2 credentials" in text
        assert "add a user: curl -X POST http://127.0.0.1:" in text

    async def test_greeting_prints_only_the_default_password(self) -> None:
        """The default account's well-known password is printed; one passed in never is."""
        async with serving() as default:
            pass
        async with serving(accounts={"ops@example.com": "ops-password-9"}) as given:
            pass

        assert 'user@example.com (password "password": the fake\'s default' in default
        assert "accounts: ops@example.com\n" in given
        assert "ops-password-9" not in given

    async def test_a_bad_seed_document_stops_before_listening(self) -> None:
        """serve() raises ValidationError for a bad seed document and writes no greeting."""
        stream = io.StringIO()

        with pytest.raises(lc.ValidationError):
            await serve(port=0, seed_document={"users": [{"id": 1}]}, stream=stream)

        assert "" == stream.getvalue()


class TestFakeServerCommand:
    async def test_users_and_token(self, tmp_path: Path) -> None:
        """`fake-server --port 0 --users 5 --token T` prints its address and answers T."""
        proc = await asyncio.create_subprocess_exec(
            LEAF_CREDS, "fake-server", "--port", "0", "--users", "5", "--token", "given-T-42",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert proc.stderr is not None
            async with asyncio.timeout(20):
                greeting = [(await proc.stderr.readline()).decode() for _ in range(5)]
            url = re.findall(r"http://127\.0\.0\.1:\d+", greeting[0])[0]
            async with lc.LeafSession(token="given-T-42", base_url=url) as leaf:
                users = [user async for user in leaf.users()]
            async with aiohttp.ClientSession() as client, client.get(
                f"{url}{UM}/users", headers={"Authorization": "Bearer another-token"}
            ) as response:
                refused = response.status
        finally:
            proc.kill()
            await proc.communicate()

        assert ["Grower 0000", "Grower 0004"] == [users[0].name, users[-1].name]
        assert 5 == len(users)
        assert 401 == refused
        assert "given-T-42" not in "".join(greeting)
        assert "holding 5 users, 0 credentials" in greeting[3]

    def test_a_bad_seed_file_exits_2_with_every_problem(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A seed file with problems is a usage error that lists each, and nothing listens."""
        seed = tmp_path / "seed.json"
        seed.write_text(json.dumps({"users": [{"id": 7, "credentials": {"sentera": {}}}]}))

        code = main(["fake-server", "--port", "0", "--seed-file", str(seed)])

        err = capsys.readouterr().err
        assert 2 == code
        assert f"--seed-file {seed}: 4 problem(s):" in err
        assert "must be a string @ $.users[0].id" in err
        assert "required field missing @ $.users[0].credentials.sentera.password" in err

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (None, "cannot read --seed-file {path}: No such file or directory"),
            ("{", "--seed-file {path}: not JSON (Expecting property name enclosed in double "
                  "quotes at line 1 column 2)"),
        ],
    )  # fmt: skip
    def test_an_unreadable_seed_file_exits_2(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        content: str | None,
        message: str,
    ) -> None:
        """A missing or non-JSON seed file is a usage error naming the file."""
        seed = tmp_path / "seed.json"
        if content is not None:
            seed.write_text(content)

        code = main(["fake-server", "--port", "0", "--seed-file", str(seed)])

        assert 2 == code
        assert message.format(path=seed) in capsys.readouterr().err

    @pytest.mark.parametrize("token", ["", "two words"])
    def test_a_token_must_be_one_word(
        self, capsys: pytest.CaptureFixture[str], token: str
    ) -> None:
        """An empty token or one with spaces is a usage error."""
        code = main(["fake-server", "--port", "0", "--token", token])

        assert 2 == code
        assert "--token must be one word" in capsys.readouterr().err

    @pytest.mark.parametrize(
        ("users", "message"), [("-1", "must be 0 or more, got -1"), ("many", "not an integer")]
    )
    def test_users_must_be_a_count(
        self, capsys: pytest.CaptureFixture[str], users: str, message: str
    ) -> None:
        """--users takes 0 or a positive integer; anything else is an argparse error."""
        code = main(["fake-server", "--users", users])

        assert 2 == code
        assert message in capsys.readouterr().err
