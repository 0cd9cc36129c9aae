"""The SDK end to end against FakeLeaf: operations, error mapping, auth, retries and faults."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

import leaf_creds as lc
from leaf_creds.testing import Drop, FakeLeaf

FAST = lc.RetryPolicy(backoff_base=0.001, backoff_max=0.01)
CREDENTIALS_PATH = "/users/*/sentera-credentials"
LOGIN = "/api/authenticate"

SENTERA = lc.SenteraCredentials(
    username="grower", password="sentera-password-1", organization_name="Acme Farms"
)
CNHI = lc.CnhiCredentials(
    client_id="cnhi-client",
    client_secret="cnhi-client-secret-1",
    subscription_key="cnhi-subscription-key-1",
    refresh_token="cnhi-refresh-token-1",
    client_environment="PRODUCTION",
)


def connect(fake: FakeLeaf, *, login: bool = False, **kwargs: Any) -> lc.LeafSession:
    """Return a session on the fake, with a fixed token or logging in."""
    kwargs.setdefault("retry", FAST)
    if login:
        return lc.LeafSession(
            username="user@example.com", password="password", base_url=fake.url, **kwargs
        )
    return lc.LeafSession(token=fake.token, base_url=fake.url, **kwargs)


def created(fake: FakeLeaf) -> int:
    """Return how many creates reached the fake: answered 201, or dropped (applied or not)."""
    return sum(
        1
        for entry in fake.requests
        if entry.method == "POST" and entry.path.endswith("-credentials")
        and entry.status in {201, None}
    )


@pytest.fixture
def user(leaf_fake: FakeLeaf) -> str:
    return leaf_fake.add_user(id="user/1 ü").id


class TestOperations:
    @pytest.mark.parametrize("login", [False, True], ids=["token", "login"])
    async def test_sentera_round_trip(self, leaf_fake: FakeLeaf, user: str, login: bool) -> None:
        """create, get, events and delete of Sentera credentials, with a token or a login."""
        async with connect(leaf_fake, login=login) as leaf:
            record = await leaf.create(lc.SENTERA, user, SENTERA)
            got = await leaf.get(lc.SENTERA, user)
            events = await leaf.events(lc.SENTERA, user)
            await leaf.delete(lc.SENTERA, user)
            with pytest.raises(lc.NotFoundError):
                await leaf.get(lc.SENTERA, user)

        assert record == got
        assert lc.CredentialStatus.OK == record.status
        assert ("grower", "Acme Farms") == (record.username, record.organization_name)
        assert record.auth_token
        assert record.organization_id
        assert record.created_time is not None
        assert UTC == record.created_time.tzinfo
        # One event per credential operation: the create, then the get.
        assert [200, 200] == [event.status_code for event in events]
        assert (1 if login else 0) == leaf_fake.count("POST", LOGIN)

    @pytest.mark.parametrize("login", [False, True], ids=["token", "login"])
    async def test_cnhi_round_trip(self, leaf_fake: FakeLeaf, user: str, login: bool) -> None:
        """create, get, events and delete of CNHI credentials, secrets read back intact."""
        async with connect(leaf_fake, login=login) as leaf:
            record = await leaf.create("cnhi", user, CNHI)
            got = await leaf.get(lc.CNHI, user)
            events = await leaf.events("cnhi", user)
            await leaf.delete(lc.CNHI, user)

        assert record == got
        assert "cnhi-client-secret-1" == got.client_secret
        assert lc.ClientEnvironment.PRODUCTION == got.client_environment
        assert "cnhi-client-secret-1" not in repr(got)
        assert 2 == len(events)  # the create and the get
        assert None is leaf_fake.credential(user, "cnhi")

    async def test_status_changes_are_seen(self, leaf_fake: FakeLeaf, user: str) -> None:
        """A status Leaf changes in the background shows in the next get."""
        leaf_fake.add_credential(user, lc.SENTERA, SENTERA)
        leaf_fake.set_status(user, lc.SENTERA, "MISSING_PERMISSION")

        async with connect(leaf_fake) as leaf:
            record = await leaf.get(lc.SENTERA, user)

        assert lc.CredentialStatus.MISSING_PERMISSION == record.status


@attrs.frozen(kw_only=True)
class LooseCredentials:
    api_key: str = attrs.field(repr=lc.masked)


@attrs.frozen(kw_only=True)
class StrictCredentials:
    api_key: str = attrs.field(repr=lc.masked)
    farm_id: str


@attrs.frozen(kw_only=True)
class AcmeRecord(lc.CredentialRecord):
    farm_id: str | None = None


class TestErrorMapping:
    async def test_not_found(self, leaf_fake: FakeLeaf, user: str) -> None:
        """A missing credential or user is NotFoundError carrying Leaf's detail."""
        async with connect(leaf_fake) as leaf:
            with pytest.raises(lc.NotFoundError) as missing:
                await leaf.get(lc.SENTERA, user)
            with pytest.raises(lc.NotFoundError):
                await leaf.events("cnhi", "ghost")
            with pytest.raises(lc.NotFoundError):
                await leaf.delete("sentera", "ghost")

        assert 404 == missing.value.status
        assert "has no sentera credentials" in str(missing.value)
        assert 1 == missing.value.attempts

    async def test_conflict(self, leaf_fake: FakeLeaf, user: str) -> None:
        """A second create is ConflictError, sent once, and the first record stays."""
        async with connect(leaf_fake) as leaf:
            first = await leaf.create(lc.SENTERA, user, SENTERA)
            with pytest.raises(lc.ConflictError) as conflict:
                await leaf.create(lc.SENTERA, user, SENTERA)

        assert 409 == conflict.value.status
        assert "sentera-password-1" not in str(conflict.value)
        assert 2 == leaf_fake.count("POST")
        stored = leaf_fake.credential(user, lc.SENTERA)
        assert stored is not None
        assert first.id == stored["id"]

    async def test_field_errors_surface(self) -> None:
        """Leaf's 400 fieldErrors reach BadRequestError and its message, without secrets."""
        loose = lc.CredentialResource("acme", LooseCredentials, AcmeRecord)
        strict = lc.CredentialResource("acme", StrictCredentials, AcmeRecord)
        registry = lc.Registry()
        registry.register(strict)
        async with FakeLeaf(registry=registry) as fake:
            fake.add_user(id="u1")
            async with connect(fake) as leaf:
                with pytest.raises(lc.BadRequestError) as invalid:
                    await leaf.create(loose, "u1", LooseCredentials(api_key="acme-api-key-1"))

        error = invalid.value
        assert (
            lc.FieldError("acmeCredentials", "farmId", "required field missing"),
        ) == error.field_errors
        assert "farmId: required field missing" in str(error)
        assert "acme-api-key-1" not in str(error) + repr(error)
        assert 1 == fake.count("POST")

    async def test_expired_fixed_token(self, leaf_fake: FakeLeaf, user: str) -> None:
        """A fixed token that expired is AuthenticationError, sent once."""
        expired = leaf_fake.issue_token(lifetime=-60)

        async with lc.LeafSession(token=expired, base_url=leaf_fake.url, retry=FAST) as leaf:
            with pytest.raises(lc.AuthenticationError) as refused:
                await leaf.get(lc.SENTERA, user)

        assert expired not in str(refused.value)
        assert 1 == leaf_fake.count("GET")

    async def test_bad_login(self, leaf_fake: FakeLeaf, user: str) -> None:
        """A wrong password is AuthenticationError from one login request, without the password."""
        async with lc.LeafSession(
            username="user@example.com", password="wrong-password", base_url=leaf_fake.url
        ) as leaf:
            with pytest.raises(lc.AuthenticationError) as refused:
                await leaf.get(lc.SENTERA, user)

        assert "wrong-password" not in str(refused.value)
        assert 1 == leaf_fake.count("POST", LOGIN)
        assert 0 == leaf_fake.count("GET")

    async def test_malformed_answer_is_decode_error(self, leaf_fake: FakeLeaf, user: str) -> None:
        """A 200 whose body is not JSON is DecodeError."""
        leaf_fake.add_credential(user, lc.SENTERA, SENTERA)
        leaf_fake.faults.add(method="GET", malformed=True)

        async with connect(leaf_fake) as leaf:
            with pytest.raises(lc.DecodeError):
                await leaf.get(lc.SENTERA, user)


class TestRetryAfter:
    @pytest.mark.parametrize("status", [503, 429])
    async def test_get_waits_and_retries(self, leaf_fake: FakeLeaf, user: str, status: int) -> None:
        """503 and 429 with Retry-After in seconds are retried until the answer comes."""
        leaf_fake.add_credential(user, lc.SENTERA, SENTERA)
        leaf_fake.faults.add(method="GET", status=status, retry_after="0.01", times=2)

        async with connect(leaf_fake) as leaf:
            record = await leaf.get(lc.SENTERA, user)

        assert "grower" == record.username
        assert [status, status, 200] == [entry.status for entry in leaf_fake.requests]

    @pytest.mark.parametrize("status", [503, 429])
    async def test_create_is_resent_when_not_processed(
        self, leaf_fake: FakeLeaf, user: str, status: int
    ) -> None:
        """A create answered 503 or 429 was not processed, so it is sent again, and applied once."""
        leaf_fake.faults.add(method="POST", path=CREDENTIALS_PATH, status=status, retry_after="0")

        async with connect(leaf_fake) as leaf:
            await leaf.create(lc.SENTERA, user, SENTERA)

        assert [("POST", status), ("POST", 201)] == [
            (entry.method, entry.status) for entry in leaf_fake.requests
        ]

    async def test_retry_after_as_a_past_date(self, leaf_fake: FakeLeaf, user: str) -> None:
        """A Retry-After HTTP date in the past means retry at once."""
        leaf_fake.add_credential(user, lc.SENTERA, SENTERA)
        leaf_fake.faults.add(status=429, retry_after=datetime(2020, 1, 1, tzinfo=UTC))

        async with connect(leaf_fake) as leaf:
            await leaf.get(lc.SENTERA, user)

        assert 2 == leaf_fake.count("GET")

    async def test_retry_after_date_beyond_the_limit(self, leaf_fake: FakeLeaf, user: str) -> None:
        """A Retry-After date further away than retry_after_max fails at once with its wait."""
        later = datetime.now(UTC) + timedelta(hours=1)
        leaf_fake.faults.add(status=429, retry_after=later)
        policy = lc.RetryPolicy(backoff_base=0.001, retry_after_max=60)

        async with connect(leaf_fake, retry=policy) as leaf:
            with pytest.raises(lc.RateLimitError) as limited:
                await leaf.get(lc.SENTERA, user)

        assert limited.value.retry_after is not None
        assert 3000 < limited.value.retry_after <= 3600
        assert 1 == leaf_fake.count("GET")


class TestServerErrors:
    async def test_500s_until_retries_run_out(self, leaf_fake: FakeLeaf, user: str) -> None:
        """A GET that keeps failing with 500 is tried 1 + max_retries times, then ServerError."""
        leaf_fake.faults.add(status=500, probability=1.0)

        async with connect(leaf_fake) as leaf:
            with pytest.raises(lc.ServerError) as failed:
                await leaf.get(lc.SENTERA, user)

        assert 4 == failed.value.attempts == leaf_fake.count("GET")

    async def test_create_500s_are_checked_with_a_get(self, leaf_fake: FakeLeaf, user: str) -> None:
        """Each 500 on create is followed by a GET that finds nothing, until retries run out."""
        leaf_fake.faults.add(method="POST", status=500, probability=1.0)

        async with connect(leaf_fake) as leaf:
            with pytest.raises(lc.ServerError):
                await leaf.create(lc.SENTERA, user, SENTERA)

        assert (4, 4) == (leaf_fake.count("POST"), leaf_fake.count("GET"))
        assert None is leaf_fake.credential(user, lc.SENTERA)


class TestDroppedConnections:
    @pytest.mark.parametrize("drop", ["before_body", "after_body"])
    async def test_get(self, leaf_fake: FakeLeaf, user: str, drop: Drop) -> None:
        """A GET whose connection drops (twice: aiohttp resends once itself) still succeeds."""
        leaf_fake.add_credential(user, lc.SENTERA, SENTERA)
        leaf_fake.faults.add(method="GET", drop=drop, times=2)

        async with connect(leaf_fake) as leaf:
            record = await leaf.get(lc.SENTERA, user)

        assert "grower" == record.username
        assert [None, None, 200] == [entry.status for entry in leaf_fake.requests]

    async def test_post_dropped_before_the_body(self, leaf_fake: FakeLeaf, user: str) -> None:
        """A create lost before it was applied: a GET finds nothing, so it is sent again once."""
        leaf_fake.faults.add(method="POST", path=CREDENTIALS_PATH, drop="before_body")

        async with connect(leaf_fake) as leaf:
            record = await leaf.create(lc.SENTERA, user, SENTERA)

        assert [("POST", None), ("GET", 404), ("POST", 201)] == [
            (entry.method, entry.status) for entry in leaf_fake.requests
        ]
        stored = leaf_fake.credential(user, lc.SENTERA)
        assert stored is not None
        assert record.id == stored["id"]

    async def test_post_dropped_after_the_body(self, leaf_fake: FakeLeaf, user: str) -> None:
        """A create applied but unanswered: the GET finds it, and it is not sent again."""
        leaf_fake.faults.add(method="POST", path=CREDENTIALS_PATH, drop="after_body")

        async with connect(leaf_fake) as leaf:
            record = await leaf.create(lc.SENTERA, user, SENTERA)
            events = await leaf.events(lc.SENTERA, user)

        assert [("POST", None), ("GET", 200)] == [
            (entry.method, entry.status) for entry in leaf_fake.requests[:2]
        ]
        assert 1 == created(leaf_fake)
        assert 2 == len(events)  # the create, and the GET that found it
        stored = leaf_fake.credential(user, lc.SENTERA)
        assert stored is not None
        assert record.id == stored["id"]

    async def test_delete_dropped_after_the_body(self, leaf_fake: FakeLeaf, user: str) -> None:
        """A delete applied but unanswered succeeds: gone is gone."""
        leaf_fake.add_credential(user, lc.SENTERA, SENTERA)
        leaf_fake.faults.add(method="DELETE", drop="after_body")

        async with connect(leaf_fake) as leaf:
            await leaf.delete(lc.SENTERA, user)

        assert None is leaf_fake.credential(user, lc.SENTERA)
        assert [None, 404] == [entry.status for entry in leaf_fake.requests]


class TestTimeouts:
    async def test_stall_past_the_timeout(self, leaf_fake: FakeLeaf, user: str) -> None:
        """A server that never answers in time is RequestTimeoutError after every retry."""
        leaf_fake.faults.add(method="GET", delay=60, probability=1.0)
        policy = lc.RetryPolicy(max_retries=1, backoff_base=0.001)

        async with connect(leaf_fake, retry=policy, timeout=0.2) as leaf:
            with pytest.raises(lc.RequestTimeoutError) as stalled:
                await leaf.get(lc.SENTERA, user)

        assert 2 == stalled.value.attempts == leaf_fake.count("GET")

    async def test_one_stall_then_success(self, leaf_fake: FakeLeaf, user: str) -> None:
        """One stalled GET is retried and the second attempt answers."""
        leaf_fake.add_credential(user, lc.SENTERA, SENTERA)
        leaf_fake.faults.add(method="GET", delay=60)

        async with connect(leaf_fake, timeout=0.2) as leaf:
            record = await leaf.get(lc.SENTERA, user)

        assert "grower" == record.username
        assert [None, 200] == [entry.status for entry in leaf_fake.requests]

    async def test_stalled_create_is_applied_once(self, leaf_fake: FakeLeaf, user: str) -> None:
        """A create stalled past the timeout is checked with a GET, resent once, applied once."""
        leaf_fake.faults.add(method="POST", path=CREDENTIALS_PATH, delay=60)

        async with connect(leaf_fake, timeout=0.2) as leaf:
            record = await leaf.create(lc.SENTERA, user, SENTERA)

        assert [("POST", None), ("GET", 404), ("POST", 201)] == [
            (entry.method, entry.status) for entry in leaf_fake.requests
        ]
        stored = leaf_fake.credential(user, lc.SENTERA)
        assert stored is not None
        assert record.id == stored["id"]


class TestLoginAuth:
    async def test_expired_token_is_renewed_once(self, leaf_fake: FakeLeaf, user: str) -> None:
        """A token that expired on the server is refused, the session logs in again and replays."""
        leaf_fake.add_credential(user, lc.SENTERA, SENTERA)

        async with connect(leaf_fake, login=True) as leaf:
            await leaf.get(lc.SENTERA, user)
            leaf_fake.advance_clock(25 * 3600)
            record = await leaf.get(lc.SENTERA, user)

        assert "grower" == record.username
        assert [("POST", 200), ("GET", 200), ("GET", 401), ("POST", 200), ("GET", 200)] == [
            (entry.method, entry.status) for entry in leaf_fake.requests
        ]

    @pytest.mark.leaf_fake(token_lifetime=-60)
    async def test_always_expired_tokens_fail_after_one_renewal(
        self, leaf_fake: FakeLeaf, user: str
    ) -> None:
        """When every new token is refused, one re-login and replay, then AuthenticationError."""
        async with connect(leaf_fake, login=True) as leaf:
            with pytest.raises(lc.AuthenticationError):
                await leaf.get(lc.SENTERA, user)

        assert (2, 2) == (leaf_fake.count("POST", LOGIN), leaf_fake.count("GET"))

    async def test_concurrent_first_calls_log_in_once(self, leaf_fake: FakeLeaf, user: str) -> None:
        """200 calls at once on a new session make exactly one login request."""
        leaf_fake.add_credential(user, lc.SENTERA, SENTERA)

        async with connect(leaf_fake, login=True) as leaf:
            records = await asyncio.gather(*(leaf.get(lc.SENTERA, user) for _ in range(200)))

        assert 1 == leaf_fake.count("POST", LOGIN)
        assert 200 == leaf_fake.count("GET") == len(records)
        assert 1 == len({record.id for record in records})

    async def test_login_retried_on_503(self, leaf_fake: FakeLeaf, user: str) -> None:
        """A login answered 503 is retried like any other request."""
        leaf_fake.add_credential(user, lc.SENTERA, SENTERA)
        leaf_fake.faults.add(path=LOGIN, status=503, retry_after="0")

        async with connect(leaf_fake, login=True) as leaf:
            await leaf.get(lc.SENTERA, user)

        assert 2 == leaf_fake.count("POST", LOGIN)


class TestUnderLoad:
    @pytest.mark.leaf_fake(seed=20240601)
    async def test_1000_operations_with_20_percent_transient_failures(
        self, leaf_fake: FakeLeaf
    ) -> None:
        """1,000 concurrent operations meeting 20% transient failures all succeed, state exact.

        The failures mix answers that say "not processed" (503), answers that
        leave the outcome open (502), and connections dropped before and after
        the request was applied.
        """
        users = [leaf_fake.add_user(id=f"u{n:03}").id for n in range(500)]
        first, second = users[:250], users[250:]
        cnhi_ids = {uid: leaf_fake.add_credential(uid, lc.CNHI, CNHI)["id"] for uid in users}
        for uid in second:
            leaf_fake.add_credential(uid, lc.SENTERA, SENTERA)
        faults = [
            leaf_fake.faults.add(status=503, retry_after="0", probability=0.08),
            leaf_fake.faults.add(status=502, probability=0.05),
            leaf_fake.faults.add(drop="before_body", probability=0.04),
            leaf_fake.faults.add(drop="after_body", probability=0.04),
        ]
        policy = lc.RetryPolicy(max_retries=12, backoff_base=0.001, backoff_max=0.01)

        async with connect(leaf_fake, retry=policy) as leaf:
            creates, deletes, gets, events = await asyncio.gather(
                asyncio.gather(*(leaf.create(lc.SENTERA, uid, SENTERA) for uid in first)),
                asyncio.gather(*(leaf.delete(lc.SENTERA, uid) for uid in second)),
                asyncio.gather(*(leaf.get(lc.CNHI, uid) for uid in first)),
                asyncio.gather(*(leaf.events(lc.CNHI, uid) for uid in second)),
            )

        def stored_ids(provider: lc.CredentialResource[Any, Any]) -> dict[str, str]:
            return {
                uid: record["id"]
                for uid in users
                if (record := leaf_fake.credential(uid, provider)) is not None
            }

        assert {uid: record.id for uid, record in zip(first, creates, strict=True)} == (
            stored_ids(lc.SENTERA)
        )
        assert cnhi_ids == stored_ids(lc.CNHI)
        assert [None] * 250 == deletes
        assert [cnhi_ids[uid] for uid in first] == [record.id for record in gets]
        assert [1] * 250 == [len(log) for log in events]
        # The fake answers 409 to a create over a stored credential, and none
        # is ever deleted here: no 409 means no create was applied twice.
        assert 0 == sum(1 for entry in leaf_fake.requests if entry.status == 409)
        assert all(fault.fired > 0 for fault in faults)
        assert 200 < sum(fault.fired for fault in faults)
