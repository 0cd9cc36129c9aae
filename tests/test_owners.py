"""leaf.credential_owners: credential ids mapped to Leaf users and providers; alert enrichment."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import leaf_creds as lc
from tests.conftest import UM, LeafMock, total_requests

USERS = UM + "/users?page=0&size=100"
ALERT = {
    "type": "credentialsUnauthenticated",
    "provider": "JohnDeere",
    "credentialId": "c-jd",
    "status": "UNAUTHENTICATED",
    "timestamp": "2024-06-15T14:30:00.123456Z",
    "credential": "jd-application-id",
}
NO_RETRY = lc.RetryPolicy(max_retries=0)


def user(user_id: str, **embedded: str) -> dict[str, Any]:
    """A user's JSON, embedding {camelSlug}Credentials objects with ids."""
    body: dict[str, Any] = {"id": user_id, "name": user_id}
    for key, credential_id in embedded.items():
        body[f"{key}Credentials"] = {"id": credential_id, "status": "OK"}
    return body


def credential_alert(**changes: Any) -> lc.CredentialAlert:
    alert = lc.parse_alert(json.dumps({**ALERT, **changes}).encode())
    assert isinstance(alert, lc.CredentialAlert)
    return alert


@pytest.fixture
async def leaf() -> Any:
    async with lc.LeafSession(token="bearer-token-value", retry=NO_RETRY) as session:
        yield session


class TestRemember:
    def test_remembered_owners_are_known_without_a_request(self, leaf: lc.LeafSession) -> None:
        """remember() by slug or resource; known() reads them back."""
        owners = leaf.credential_owners
        owners.remember("c-1", "u-1", lc.JOHN_DEERE)
        owners.remember("c-2", "u-2", "sentera")

        assert lc.CredentialOwner(
            credential_id="c-1", leaf_user_id="u-1", provider="john-deere"
        ) == owners.known("c-1")
        assert "sentera" == getattr(owners.known("c-2"), "provider", None)
        assert None is owners.known("c-3")
        assert 2 == len(owners)
        assert "<CredentialOwners known=2>" == repr(owners)

    @pytest.mark.parametrize(
        ("credential_id", "user_id", "provider"), [("", "u", "p"), ("c", None, "p"), ("c", "u", 3)]
    )
    def test_bad_values_are_refused(
        self, leaf: lc.LeafSession, credential_id: Any, user_id: Any, provider: Any
    ) -> None:
        """Ids and providers are non-empty strings."""
        with pytest.raises(lc.ValidationError, match="must be a non-empty string"):
            leaf.credential_owners.remember(credential_id, user_id, provider)

    def test_the_least_recently_used_is_forgotten(self, leaf: lc.LeafSession) -> None:
        """Past size, the owner used longest ago goes first."""
        owners = lc.CredentialOwners(leaf.users, leaf.registry, size=2)
        owners.remember("c-1", "u", "sentera")
        owners.remember("c-2", "u", "sentera")
        owners.known("c-1")
        owners.remember("c-3", "u", "sentera")

        known = tuple(owners.known(c) is not None for c in ("c-1", "c-2", "c-3"))
        assert (True, False, True) == known


class TestFind:
    async def test_walks_the_users_for_an_unknown_id(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """One walk remembers every embedded credential it passes."""
        http.get(USERS, payload=[user("u-1", johnDeere="c-jd", sentera="c-s"), user("u-2")])

        owner = await leaf.credential_owners.find("c-jd")

        assert lc.CredentialOwner(
            credential_id="c-jd", leaf_user_id="u-1", provider="john-deere"
        ) == owner
        assert "sentera" == getattr(leaf.credential_owners.known("c-s"), "provider", None)
        assert 1 == total_requests(http)

    async def test_a_remembered_id_needs_no_request(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """What was remembered is found without walking."""
        leaf.credential_owners.remember("c-1", "u-1", "sentera")

        assert "u-1" == getattr(await leaf.credential_owners.find("c-1"), "leaf_user_id", None)
        assert 0 == total_requests(http)

    async def test_a_missing_id_walks_once_per_interval(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """An id no walk finds does not start another walk for walk_interval seconds."""
        http.get(USERS, payload=[user("u-1")], repeat=True)

        assert None is await leaf.credential_owners.find("gone")
        assert None is await leaf.credential_owners.find("gone-too")
        assert 1 == total_requests(http)

        leaf.credential_owners.walk_interval = 0.0
        assert None is await leaf.credential_owners.find("gone")
        assert 2 == total_requests(http)

    async def test_concurrent_finds_share_one_walk(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """Several unknown alerts at once wait for one walk."""
        http.get(USERS, payload=[user("u-1", johnDeere="c-jd")])

        found = await asyncio.gather(*(leaf.credential_owners.find("c-jd") for _ in range(5)))

        assert {"u-1"} == {getattr(owner, "leaf_user_id", None) for owner in found}
        assert 1 == total_requests(http)

    async def test_a_failed_walk_raises_a_leaf_error(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """The walk's failure is the call's; the next call may walk again."""
        http.get(USERS, status=503)

        with pytest.raises(lc.ServerError):
            await leaf.credential_owners.find("c-jd")

    async def test_walk_counts_what_it_remembered(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """walk() returns how many credentials it saw."""
        http.get(USERS, payload=[user("u-1", johnDeere="c-1", cnhiFieldOps="c-2")])

        assert 2 == await leaf.credential_owners.walk()
        assert "cnhi-field-ops" == getattr(leaf.credential_owners.known("c-2"), "provider", None)


class TestEnrich:
    async def test_a_known_credential_gets_its_user_and_slug(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """leaf_user_id and our provider slug; Leaf's own value stays in raw."""
        leaf.credential_owners.remember("c-jd", "u-1", lc.JOHN_DEERE)

        alert = await leaf.credential_owners.enrich(credential_alert())

        assert isinstance(alert, lc.CredentialAlert)
        assert ("u-1", "john-deere", "JohnDeere") == (
            alert.leaf_user_id,
            alert.provider,
            alert.raw["provider"],
        )

    async def test_an_unknown_credential_still_gets_our_slug(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """No user holds it: no user id, but Leaf's provider name is mapped."""
        http.get(USERS, payload=[])

        alert = await leaf.credential_owners.enrich(credential_alert())

        assert isinstance(alert, lc.CredentialAlert)
        assert (None, "john-deere") == (alert.leaf_user_id, alert.provider)

    async def test_an_unknown_provider_is_left_as_leaf_named_it(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A provider no registry knows keeps Leaf's name."""
        http.get(USERS, payload=[])

        alert = await leaf.credential_owners.enrich(credential_alert(provider="Mystery"))

        assert isinstance(alert, lc.CredentialAlert)
        assert "Mystery" == alert.provider

    async def test_other_alerts_pass_unchanged(self, leaf: lc.LeafSession) -> None:
        """A confirmation or another event is returned as it is."""
        other = lc.parse_alert(b'{"type": "fieldCreated"}')
        assert other is await leaf.credential_owners.enrich(other)

    async def test_through_the_receiver(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """AlertReceiver(enrich=leaf.credential_owners.enrich): the handler gets the user."""
        http.get(USERS, payload=[user("u-9", johnDeere="c-jd")])
        seen: list[lc.Alert] = []

        async def on_alert(alert: lc.Alert) -> None:
            seen.append(alert)

        receiver = lc.AlertReceiver("secret", on_alert, enrich=leaf.credential_owners.enrich)
        await receiver.replay(json.dumps(ALERT).encode())

        (alert,) = seen
        assert isinstance(alert, lc.CredentialAlert)
        assert ("u-9", "john-deere") == (alert.leaf_user_id, alert.provider)


class TestWalkEdges:
    async def test_an_empty_credential_id_is_not_remembered(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """An embedded credential with an empty id names nothing to remember."""
        http.get(USERS, payload=[user("u-1", johnDeere="")])

        assert 0 == await leaf.credential_owners.walk()
