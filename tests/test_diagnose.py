"""leaf.diagnose against a started FakeLeaf: each seeded situation gets its verdict."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import leaf_creds as lc
from leaf_creds.testing import FakeLeaf
from tests.conftest import UM, LeafMock

SEED = Path(__file__).parent.parent / "examples" / "diagnose" / "seed.json"
NO_RETRY = lc.RetryPolicy(max_retries=0)
SENTERA = {"username": "ada", "password": "sentera-password-1", "organizationName": "Ada"}


@pytest.fixture
async def seeded() -> AsyncIterator[tuple[FakeLeaf, lc.LeafSession]]:
    """The fake holding the example seed, and a session to it."""
    async with FakeLeaf() as fake:
        fake.load_seed(json.loads(SEED.read_text()))
        async with lc.LeafSession(token=fake.token, base_url=fake.url, retry=NO_RETRY) as leaf:
            yield fake, leaf


class TestSeededSituations:
    @pytest.mark.parametrize(
        ("user", "code", "words"),
        [
            ("grower-revoked", lc.VerdictCode.REVOKED, "revoked at the provider on "),
            ("grower-not-shared", lc.VerdictCode.ORGANIZATIONS_NOT_SHARED,
             "send them to https://connections.deere.com/connections/jd-app-2/select-organizations"),
            ("grower-nothing-selected", lc.VerdictCode.NOTHING_SELECTED,
             "organizationDataSync is SELECTED_ONLY but no John Deere organization is SELECTED"),
            ("grower-healthy", lc.VerdictCode.HEALTHY, "OK, synced 3 hours ago, 100 fields"),
            ("grower-never-synced", lc.VerdictCode.NEVER_SYNCED,
             "fieldsAutoSync and operationsAutoSync are off"),
        ],
    )  # fmt: skip
    async def test_each_gets_its_verdict(
        self, seeded: tuple[FakeLeaf, lc.LeafSession], user: str, code: lc.VerdictCode, words: str
    ) -> None:
        """Revoked, not shared, nothing selected, healthy, never synced."""
        _, leaf = seeded

        diagnosis = await leaf.diagnose(user)

        (credential,) = diagnosis.credentials
        assert (code, ()) == (credential.verdict.code, credential.problems)
        assert words in credential.verdict.message
        assert (code is lc.VerdictCode.HEALTHY) is diagnosis.ok

    async def test_reads_what_explains_it(self, seeded: tuple[FakeLeaf, lc.LeafSession]) -> None:
        """Status, events, organizations, configuration and summary are in the facts."""
        _, leaf = seeded

        (credential,) = (await leaf.diagnose("grower-nothing-selected", lc.JOHN_DEERE)).credentials

        facts = credential.facts
        assert lc.CredentialStatus.OK == facts.status
        assert facts.events
        assert facts.connections is not None
        assert 2 == len(facts.connections.connected)
        assert ["3001", "3002"] == [o.provider_org_id for o in facts.organizations or ()]
        assert facts.configuration is not None
        assert lc.OrganizationDataSync.SELECTED_ONLY == facts.configuration.organization_data_sync
        assert None is facts.summary

    async def test_the_credential_owner_is_remembered(
        self, seeded: tuple[FakeLeaf, lc.LeafSession]
    ) -> None:
        """A diagnosed credential's id maps to its user from then on."""
        _, leaf = seeded
        (credential,) = (await leaf.diagnose("grower-healthy")).credentials

        owner = leaf.credential_owners.known(credential.credential_id or "")

        assert owner is not None
        assert ("grower-healthy", "john-deere") == (owner.leaf_user_id, owner.provider)

    async def test_no_secret_in_the_diagnosis(
        self, seeded: tuple[FakeLeaf, lc.LeafSession]
    ) -> None:
        """The credential's secrets are not read into it, nor shown."""
        _, leaf = seeded

        diagnosis = await leaf.diagnose("grower-healthy")

        assert "jd-client-secret-4" not in repr(diagnosis)
        assert "jd-refresh-token-4" not in repr(diagnosis)


class TestOtherCases:
    async def test_a_provider_the_user_lacks(self, seeded: tuple[FakeLeaf, lc.LeafSession]) -> None:
        """Asked about Sentera, a John Deere grower is not connected."""
        _, leaf = seeded

        (credential,) = (await leaf.diagnose("grower-healthy", "sentera")).credentials

        assert (lc.VerdictCode.NOT_CONNECTED, None) == (
            credential.verdict.code,
            credential.credential_id,
        )

    async def test_every_credential_of_the_user(
        self, seeded: tuple[FakeLeaf, lc.LeafSession]
    ) -> None:
        """Without a provider, each credential gets its own verdict."""
        fake, leaf = seeded
        fake.add_credential("grower-healthy", lc.SENTERA, SENTERA)

        diagnosis = await leaf.diagnose("grower-healthy")

        assert {"john-deere", "sentera"} == {c.provider for c in diagnosis.credentials}

    async def test_a_user_without_credentials(
        self, seeded: tuple[FakeLeaf, lc.LeafSession]
    ) -> None:
        """No credential: an empty diagnosis, which is not ok."""
        fake, leaf = seeded
        fake.add_user(id="empty")

        diagnosis = await leaf.diagnose("empty")

        assert ((), False) == (diagnosis.credentials, diagnosis.ok)

    async def test_an_unknown_user_or_provider(
        self, seeded: tuple[FakeLeaf, lc.LeafSession]
    ) -> None:
        """No such user is a NotFoundError, no such provider an UnknownProviderError."""
        _, leaf = seeded
        with pytest.raises(lc.NotFoundError):
            await leaf.diagnose("nobody")
        with pytest.raises(lc.UnknownProviderError):
            await leaf.diagnose("grower-healthy", "no-such-provider")

    async def test_a_failing_part_is_named_and_the_rest_judged(
        self, seeded: tuple[FakeLeaf, lc.LeafSession]
    ) -> None:
        """A 503 on the organizations is a problem; the verdict is made without them."""
        fake, leaf = seeded
        fake.faults.add(path="/users/*/organizations/JohnDeere", status=503)
        fake.faults.add(path="/services/config/api/configs/*", status=500)

        (credential,) = (await leaf.diagnose("grower-healthy")).credentials

        assert lc.VerdictCode.HEALTHY == credential.verdict.code
        assert ("configuration: ServerError 500", "organizations: ServerError 503") == tuple(
            sorted(credential.problems)
        )

    async def test_an_unreadable_credential(self, seeded: tuple[FakeLeaf, lc.LeafSession]) -> None:
        """The credential's own GET failing gives the 'unreadable' verdict."""
        fake, leaf = seeded
        fake.faults.add(method="GET", path="/users/*/john-deere-credentials", status=503)

        (credential,) = (await leaf.diagnose("grower-healthy")).credentials

        assert lc.VerdictCode.UNREADABLE == credential.verdict.code
        assert ("credential: ServerError 503",) == credential.problems

    async def test_a_refused_token_raises(self, seeded: tuple[FakeLeaf, lc.LeafSession]) -> None:
        """A 401 on a part is not a problem to list: the token is refused."""
        fake, leaf = seeded
        fake.faults.add(path="/users/*/john-deere-credentials/events", status=403)

        with pytest.raises(lc.PermissionDeniedError):
            await leaf.diagnose("grower-healthy")

        fake.faults.add(method="GET", path="/users/*/john-deere-credentials", status=401)
        with pytest.raises(lc.AuthenticationError):
            await leaf.diagnose("grower-healthy")


class TestMasking:
    async def test_events_are_masked_and_only_the_last_kept(self, http: LeafMock) -> None:
        """Secrets in the provider's answers are masked; the last five events are kept."""
        user = {"id": "u", "johnDeereCredentials": {"id": "c"}}
        record = {"id": "c", "status": "OK", "createdTime": "2024-01-01T00:00:00Z"}
        events = [
            {"id": str(i), "statusCode": 200, "createdDate": f"2024-01-0{i}T00:00:00Z",
             "body": '{"access_token": "leaked-access-token"}',
             "headers": "Authorization: Bearer leaked-bearer"}
            for i in range(1, 8)
        ]  # fmt: skip
        base = "https://api.withleaf.io"
        http.get(UM + "/users/u", payload=user)
        http.get(UM + "/users/u/john-deere-credentials", payload=record)
        http.get(UM + "/users/u/john-deere-credentials/events", payload=events)
        http.get(UM + "/users/u/organizations/JohnDeere", payload={})
        http.get(UM + "/users/u/JohnDeere/organizations?page=0&size=100", payload=[])
        http.get(base + "/services/config/api/configs/u", payload={"leafUserId": "u"})
        http.get(
            base + "/services/integrations/api/resources?leafUserId=u&page=0&size=100",
            payload={"summaries": []},
        )
        async with lc.LeafSession(token="t", retry=NO_RETRY) as leaf:
            (credential,) = (await leaf.diagnose("u")).credentials

        shown: Any = [(e.id, e.body, e.headers) for e in credential.facts.events]
        assert ["3", "4", "5", "6", "7"] == [entry[0] for entry in shown]
        assert "leaked" not in repr(shown)
        assert lc.VerdictCode.ORGANIZATIONS_NOT_SHARED == credential.verdict.code
