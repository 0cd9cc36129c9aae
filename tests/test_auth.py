"""Authentication through the public API: fixed token, login, and token provider."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pytest

import leaf_creds as lc
from tests.conftest import BASE, LeafMock, callback_result, sent
from tests.helpers import SENTERA_ANSWER, SENTERA_URL

LOGIN_URL = BASE + "/api/authenticate"
FAST = lc.RetryPolicy(max_retries=3, backoff_base=0, backoff_max=0)


def jwt(exp: float | None = None, subject: str = "me@example.com") -> str:
    """Build an unsigned JWT with an optional exp claim (the SDK only decodes it)."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims: dict[str, Any] = {"sub": subject}
    if exp is not None:
        claims["exp"] = int(exp) if exp == int(exp) else exp
    return f"{part({'alg': 'HS512'})}.{part(claims)}.c2lnbmF0dXJl"


def bearer(call: Any) -> str:
    return str(call.kwargs["headers"]["Authorization"])


def login_session(**kwargs: Any) -> lc.LeafSession:
    return lc.LeafSession(username="me@example.com", password="s3cret-pass", retry=FAST, **kwargs)


class TestFixedToken:
    async def test_401_raises_at_once(self, http: LeafMock) -> None:
        """A fixed token that Leaf refuses raises AuthenticationError after one request."""
        http.get(SENTERA_URL, status=401, body="", repeat=True)

        async with lc.LeafSession(token="fixed-token", retry=FAST) as leaf:
            with pytest.raises(lc.AuthenticationError) as info:
                await leaf.get(lc.SENTERA, "u1")

        assert 1 == info.value.attempts
        assert 1 == len(sent(http, "GET", SENTERA_URL))


class TestLogin:
    async def test_logs_in_on_first_use(self, http: LeafMock) -> None:
        """The first call logs in with Leaf's JSON body and sends the id_token as bearer."""
        token = jwt(time.time() + 3600)
        http.post(LOGIN_URL, payload={"id_token": token})
        http.get(SENTERA_URL, payload=SENTERA_ANSWER, repeat=True)

        async with login_session(remember_me=True) as leaf:
            await leaf.get(lc.SENTERA, "u1")
            await leaf.get(lc.SENTERA, "u1")

        (login,) = sent(http, "POST", LOGIN_URL)
        assert {
            "username": "me@example.com",
            "password": "s3cret-pass",
            "rememberMe": "true",
        } == json.loads(login.kwargs["data"])
        assert "Authorization" not in login.kwargs["headers"]
        assert [f"Bearer {token}"] * 2 == [bearer(c) for c in sent(http, "GET", SENTERA_URL)]

    async def test_remember_me_is_sent_as_leafs_docs_write_it(self, http: LeafMock) -> None:
        """rememberMe goes out as the string "false" by default, as in Leaf's docs."""
        http.post(LOGIN_URL, payload={"id_token": jwt(time.time() + 3600)})
        http.get(SENTERA_URL, payload=SENTERA_ANSWER)

        async with login_session() as leaf:
            await leaf.get(lc.SENTERA, "u1")

        (login,) = sent(http, "POST", LOGIN_URL)
        assert "false" == json.loads(login.kwargs["data"])["rememberMe"]

    async def test_token_without_exp_is_kept(self, http: LeafMock) -> None:
        """A token without exp is used for its documented lifetime, not renewed per call."""
        http.post(LOGIN_URL, payload={"id_token": jwt(None)})
        http.get(SENTERA_URL, payload=SENTERA_ANSWER, repeat=True)

        async with login_session() as leaf:
            for _ in range(3):
                await leaf.get(lc.SENTERA, "u1")

        assert 1 == len(sent(http, "POST", LOGIN_URL))

    async def test_single_flight(self, http: LeafMock) -> None:
        """200 concurrent first calls make exactly one login request."""
        http.post(LOGIN_URL, payload={"id_token": jwt(time.time() + 3600)})
        http.get(SENTERA_URL, payload=SENTERA_ANSWER, repeat=True)

        async with login_session() as leaf:
            records = await asyncio.gather(*(leaf.get(lc.SENTERA, "u1") for _ in range(200)))

        assert 200 == len(records)
        assert 1 == len(sent(http, "POST", LOGIN_URL))

    async def test_renews_before_expiry(self, http: LeafMock) -> None:
        """A token about to expire is replaced by a new login before it is refused."""
        first, second = jwt(time.time() + 0.3), jwt(time.time() + 3600, subject="again")
        http.post(LOGIN_URL, payload={"id_token": first})
        http.post(LOGIN_URL, payload={"id_token": second})
        http.get(SENTERA_URL, payload=SENTERA_ANSWER, repeat=True)

        async with login_session() as leaf:
            await leaf.get(lc.SENTERA, "u1")
            await asyncio.sleep(0.3)
            await leaf.get(lc.SENTERA, "u1")

        assert [f"Bearer {first}", f"Bearer {second}"] == [
            bearer(c) for c in sent(http, "GET", SENTERA_URL)
        ]

    async def test_401_logs_in_again_and_replays_once(self, http: LeafMock) -> None:
        """A refused token is dropped, a new login made, and the request replayed."""
        old, new = jwt(time.time() + 3600), jwt(time.time() + 7200, subject="new")
        http.post(LOGIN_URL, payload={"id_token": old})
        http.post(LOGIN_URL, payload={"id_token": new})
        http.get(SENTERA_URL, status=401, body="")
        http.get(SENTERA_URL, payload=SENTERA_ANSWER)

        async with login_session() as leaf:
            record = await leaf.get(lc.SENTERA, "u1")

        assert "OK" == record.status
        assert [f"Bearer {old}", f"Bearer {new}"] == [
            bearer(c) for c in sent(http, "GET", SENTERA_URL)
        ]

    async def test_second_401_raises(self, http: LeafMock) -> None:
        """If the replay is refused too, AuthenticationError is raised: two logins, two GETs."""
        http.post(LOGIN_URL, payload={"id_token": jwt(time.time() + 3600)}, repeat=True)
        http.get(SENTERA_URL, status=401, body="", repeat=True)

        async with login_session() as leaf:
            with pytest.raises(lc.AuthenticationError):
                await leaf.get(lc.SENTERA, "u1")

        assert 2 == len(sent(http, "POST", LOGIN_URL))
        assert 2 == len(sent(http, "GET", SENTERA_URL))

    async def test_concurrent_401s_share_one_relogin(self, http: LeafMock) -> None:
        """Fifty calls holding a revoked token cause one new login, not fifty."""
        old, new = jwt(time.time() + 3600), jwt(time.time() + 7200, subject="new")
        http.post(LOGIN_URL, payload={"id_token": old})
        http.post(LOGIN_URL, payload={"id_token": new})
        refuse_old = False

        def answer(url: Any, **kwargs: Any) -> Any:
            if refuse_old and kwargs["headers"]["Authorization"] == f"Bearer {old}":
                return callback_result(status=401, body="")
            return callback_result(payload=SENTERA_ANSWER)

        http.get(SENTERA_URL, callback=answer, repeat=True)

        async with login_session() as leaf:
            await leaf.get(lc.SENTERA, "u1")  # logs in with `old`
            refuse_old = True  # Leaf revokes it
            results = await asyncio.gather(*(leaf.get(lc.SENTERA, "u1") for _ in range(50)))

        assert 50 == len(results)
        assert 2 == len(sent(http, "POST", LOGIN_URL))
        assert f"Bearer {new}" == bearer(sent(http, "GET", SENTERA_URL)[-1])

    @pytest.mark.parametrize("status", [400, 401, 403])
    async def test_failed_login(self, http: LeafMock, status: int) -> None:
        """A refused login is an AuthenticationError without the password anywhere in it."""
        http.post(
            LOGIN_URL,
            status=status,
            payload={"title": "Unauthorized", "detail": "Bad credentials: s3cret-pass"},
        )

        async with login_session() as leaf:
            with pytest.raises(lc.AuthenticationError) as info:
                await leaf.get(lc.SENTERA, "u1")

        text = str(info.value) + repr(info.value) + repr(vars(info.value))
        assert "s3cret-pass" not in text
        assert "login failed" in text
        assert 0 == len(sent(http, "GET", SENTERA_URL))

    async def test_login_answer_without_token(self, http: LeafMock) -> None:
        """A login answer with no id_token is an AuthenticationError."""
        http.post(LOGIN_URL, payload={"token": "wrong-key"})

        async with login_session() as leaf:
            with pytest.raises(lc.AuthenticationError, match="id_token"):
                await leaf.get(lc.SENTERA, "u1")

    async def test_login_retries_transient_failures(self, http: LeafMock) -> None:
        """Logging in is safe to repeat, so a 503 on login is retried."""
        http.post(LOGIN_URL, status=503, body="")
        http.post(LOGIN_URL, payload={"id_token": jwt(time.time() + 3600)})
        http.get(SENTERA_URL, payload=SENTERA_ANSWER)

        async with login_session() as leaf:
            await leaf.get(lc.SENTERA, "u1")

        assert 2 == len(sent(http, "POST", LOGIN_URL))

    def test_repr_hides_password(self) -> None:
        """The session's repr names the auth kind, never the password."""
        leaf = login_session()

        assert "s3cret-pass" not in repr(leaf)
        assert "auth=login" in repr(leaf)


class TestTokenProvider:
    async def test_asked_before_each_request(self, http: LeafMock) -> None:
        """The provider's token is sent; it is asked for each request."""
        tokens = iter(["one", "two"])
        asked = 0

        async def provide() -> str:
            nonlocal asked
            asked += 1
            return next(tokens)

        http.get(SENTERA_URL, payload=SENTERA_ANSWER, repeat=True)
        async with lc.LeafSession(token_provider=provide) as leaf:
            await leaf.get(lc.SENTERA, "u1")
            await leaf.get(lc.SENTERA, "u1")

        assert ["Bearer one", "Bearer two"] == [bearer(c) for c in sent(http, "GET", SENTERA_URL)]
        assert 2 == asked

    async def test_401_asks_again_and_replays_once(self, http: LeafMock) -> None:
        """After a 401 the provider is asked again and the request replayed once."""
        tokens = iter(["stale", "fresh", "fresh"])

        async def provide() -> str:
            return next(tokens)

        http.get(SENTERA_URL, status=401, body="")
        http.get(SENTERA_URL, payload=SENTERA_ANSWER)
        async with lc.LeafSession(token_provider=provide) as leaf:
            await leaf.get(lc.SENTERA, "u1")

        assert ["Bearer stale", "Bearer fresh"] == [
            bearer(c) for c in sent(http, "GET", SENTERA_URL)
        ]

    def test_repr(self) -> None:
        """The session's repr says a provider is used."""

        async def provide() -> str:
            return "token-from-provider"

        assert "auth=token_provider" in repr(lc.LeafSession(token_provider=provide))


class TestTokenLifetimes:
    async def test_opaque_token_uses_documented_lifetime(self, http: LeafMock) -> None:
        """A token that is not a JWT is kept for Leaf's documented lifetime."""
        http.post(LOGIN_URL, payload={"id_token": "opaque-token"})
        http.get(SENTERA_URL, payload=SENTERA_ANSWER, repeat=True)

        async with login_session() as leaf:
            await leaf.get(lc.SENTERA, "u1")
            await leaf.get(lc.SENTERA, "u1")

        assert 1 == len(sent(http, "POST", LOGIN_URL))
        assert ["Bearer opaque-token"] * 2 == [bearer(c) for c in sent(http, "GET", SENTERA_URL)]

    async def test_token_expired_by_our_clock_is_still_tried(self, http: LeafMock) -> None:
        """A token whose exp is already past (a skewed clock) is used, not re-fetched per call."""
        http.post(LOGIN_URL, payload={"id_token": jwt(time.time() - 10)})
        http.get(SENTERA_URL, payload=SENTERA_ANSWER, repeat=True)

        async with login_session() as leaf:
            await leaf.get(lc.SENTERA, "u1")
            await leaf.get(lc.SENTERA, "u1")

        assert 1 == len(sent(http, "POST", LOGIN_URL))

    def test_provider_must_be_callable(self) -> None:
        """A token_provider that cannot be called is refused at once."""
        with pytest.raises(lc.ValidationError, match="callable"):
            lc.LeafSession(token_provider="not-callable")  # type: ignore[arg-type]


class TestSharedLoginFailure:
    async def test_wrong_password_is_tried_once(self, http: LeafMock) -> None:
        """Fifty calls waiting on one failed login share its error: one login request."""
        http.post(LOGIN_URL, status=401, payload={"title": "Unauthorized"}, repeat=True)

        async with login_session() as leaf:
            results = await asyncio.gather(
                *(leaf.get(lc.SENTERA, "u1") for _ in range(50)), return_exceptions=True
            )

        assert all(isinstance(r, lc.AuthenticationError) for r in results)
        assert 1 == len(sent(http, "POST", LOGIN_URL))

    async def test_a_cancelled_waiter_does_not_cancel_the_login(self, http: LeafMock) -> None:
        """One caller giving up leaves the shared login running for the others."""
        http.post(LOGIN_URL, payload={"id_token": jwt(time.time() + 3600)})
        http.get(SENTERA_URL, payload=SENTERA_ANSWER, repeat=True)

        async with login_session() as leaf:
            quitter = asyncio.ensure_future(leaf.get(lc.SENTERA, "u1"))
            stayer = asyncio.ensure_future(leaf.get(lc.SENTERA, "u1"))
            await asyncio.sleep(0)
            quitter.cancel()
            record = await stayer

        assert "OK" == record.status
        assert quitter.cancelled()
        assert 1 == len(sent(http, "POST", LOGIN_URL))
