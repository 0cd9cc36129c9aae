"""A provider of its own may use plain attrs classes: no need to subclass CredentialRecord."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import assert_type

import attrs
import pytest

import leaf_creds as lc
from leaf_creds.cli._output import outcome_json
from leaf_creds.testing import FakeLeaf


@attrs.frozen(kw_only=True)
class AcmeCredentials:
    client_id: str
    client_secret: str = attrs.field(repr=lc.masked)


@attrs.frozen(kw_only=True)
class AcmeRecord:
    id: str
    status: lc.CredentialStatus
    client_id: str | None = None
    client_secret: str | None = attrs.field(repr=lc.masked, default=None)


ACME = lc.CredentialResource("acme", AcmeCredentials, AcmeRecord, name="Acme")


@pytest.fixture
async def fake() -> AsyncIterator[FakeLeaf]:
    registry = lc.default_registry(plugins=False)
    registry.register(ACME)
    async with FakeLeaf(registry=registry) as server:
        yield server


class TestPlainRecord:
    def test_is_accepted(self) -> None:
        """A plain attrs record class with id and status makes a resource."""
        assert AcmeRecord is ACME.record
        assert frozenset({"client_secret"}) == ACME.record_secrets

    def test_needs_id_and_status(self) -> None:
        """A record class without status is still refused, naming what it lacks."""

        @attrs.frozen
        class NoStatus:
            id: str

        with pytest.raises(lc.ValidationError, match="'id' and 'status'"):
            lc.CredentialResource("x", AcmeCredentials, NoStatus)  # type: ignore[type-var]

    async def test_round_trip_against_the_fake(self, fake: FakeLeaf) -> None:
        """create, get and bulk return the plain record, typed as such."""
        user = fake.add_user(name="grower")
        registry = lc.default_registry(plugins=False)
        registry.register(ACME)
        async with lc.LeafSession(token=fake.token, base_url=fake.url, registry=registry) as leaf:
            created = await leaf.create(
                ACME, user.id, AcmeCredentials(client_id="c", client_secret="s3cret")
            )
            got = await leaf.get(ACME, user.id)
            outcomes = [outcome async for outcome in leaf.bulk([lc.Get(ACME, user.id)])]
        assert_type(created, AcmeRecord)
        assert_type(got, AcmeRecord)

        assert AcmeRecord is type(got)
        assert created.id == got.id
        assert "OK" == got.status
        assert "s3cret" not in repr(got)
        data = outcome_json(outcomes[0], lc.make_converter(), show_secrets=False)
        assert "***" == data["result"]["clientSecret"]
        assert "s3cret" not in json.dumps(data)
