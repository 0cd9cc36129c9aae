"""leaf.configurations against aioresponses: typed keys, open keys, and a 404 that inherits."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

import leaf_creds as lc
from tests.conftest import BASE, LeafMock, sent, total_requests

CONFIGS = BASE + "/services/config/api/configs"
USER = "u-1"
OWNER = {
    "apiOwnerUsername": "owner@example.com",
    "leafUserId": "",
    "organizationDataSync": "ALL",
    "fieldsAutoSync": True,
    "operationsAutoSync": "false",
    "operationsProcessingRange": "P12M",
    "geoimagesShape": "SQUARE",
}
NO_RETRY = lc.RetryPolicy(max_retries=0)


@pytest.fixture
async def leaf() -> Any:
    async with lc.LeafSession(token="bearer-token-value", retry=NO_RETRY) as session:
        yield session


class TestRead:
    async def test_owner_typed_and_open(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """Documented keys are typed; every key stays readable as Leaf sent it."""
        http.get(CONFIGS, payload=OWNER)

        config = await leaf.configurations.owner()

        assert lc.OrganizationDataSync.ALL == config.organization_data_sync
        assert (True, False) == (config.fields_auto_sync, config.operations_auto_sync)
        assert "P12M" == config.operations_processing_range
        assert "SQUARE" == config.get("geoimagesShape")
        assert None is config.get("missing")
        assert "" == config.leaf_user_id
        assert not config.inherited

    async def test_a_user_with_its_own(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """GET /configs/{id} is the user's configuration."""
        http.get(CONFIGS + "/u%2F1", payload={**OWNER, "leafUserId": "u/1"})

        config = await leaf.configurations.get("u/1")

        assert ("u/1", False) == (config.leaf_user_id, config.inherited)

    async def test_a_404_inherits_the_owners(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """A user without a configuration of its own reads as the owner's, inherited."""
        http.get(CONFIGS + f"/{USER}", status=404, payload={"title": "Not Found"})
        http.get(CONFIGS, payload=OWNER)

        config = await leaf.configurations.get(USER)

        assert (USER, True) == (config.leaf_user_id, config.inherited)
        assert lc.OrganizationDataSync.ALL == config.organization_data_sync

    async def test_a_new_sync_mode_is_kept(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """A value of organizationDataSync Leaf adds is kept, not refused."""
        http.get(CONFIGS, payload={**OWNER, "organizationDataSync": "NONE"})

        assert "NONE" == (await leaf.configurations.owner()).organization_data_sync

    async def test_our_own_keys_are_never_read_from_the_wire(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A key named 'inherited' or 'raw' in Leaf's answer stays in raw only."""
        http.get(CONFIGS, payload={**OWNER, "inherited": True, "raw": 3})

        config = await leaf.configurations.owner()

        assert not config.inherited
        assert 3 == config.get("raw")

    @pytest.mark.parametrize(
        "body", [b"[]", b"oops", b'{"fieldsAutoSync": "maybe"}'], ids=["array", "text", "bool"]
    )
    async def test_a_hostile_answer_is_a_decode_error(
        self, http: LeafMock, leaf: lc.LeafSession, body: bytes
    ) -> None:
        """What is not a configuration is a DecodeError."""
        http.get(CONFIGS, body=body, content_type="application/json")

        with pytest.raises(lc.DecodeError):
            await leaf.configurations.owner()

    def test_the_repr_names_keys_not_values(self) -> None:
        """raw shows its keys only."""
        config = lc.Configuration(raw={"geoimagesShape": "SQUARE"})
        assert "raw=<geoimagesShape>" in repr(config)


class TestWrite:
    async def test_create_sends_the_typed_and_other_keys(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """POST /configs/{id} with camelCase keys; None is not sent."""
        http.post(CONFIGS + f"/{USER}", status=201, payload={**OWNER, "leafUserId": USER})
        changes = lc.ConfigurationChanges(
            organization_data_sync=lc.OrganizationDataSync.SELECTED_ONLY,
            fields_auto_sync=False,
            other={"geoimagesShape": "ROUND"},
        )

        config = await leaf.configurations.create(USER, changes)

        (call,) = sent(http, "POST", CONFIGS + f"/{USER}")
        assert {
            "organizationDataSync": "SELECTED_ONLY",
            "fieldsAutoSync": False,
            "geoimagesShape": "ROUND",
        } == json.loads(call.kwargs["data"])
        assert USER == config.leaf_user_id

    async def test_create_may_be_empty(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """Every key of a user's configuration is optional."""
        http.post(CONFIGS + f"/{USER}", status=201, payload=OWNER)

        await leaf.configurations.create(USER)

        (call,) = sent(http, "POST", CONFIGS + f"/{USER}")
        assert {} == json.loads(call.kwargs["data"])

    async def test_an_empty_answer_is_read_back(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A PATCH answered without a body is followed by a GET."""
        http.patch(CONFIGS + f"/{USER}", status=204, body=b"")
        http.get(CONFIGS + f"/{USER}", payload={**OWNER, "zonesAutoSync": True})

        config = await leaf.configurations.update(USER, {"zonesAutoSync": True})

        assert config.zones_auto_sync is True

    async def test_update_owner(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """PATCH /configs changes the defaults."""
        http.patch(CONFIGS, payload={**OWNER, "syncPartnerData": True})

        config = await leaf.configurations.update_owner(
            lc.ConfigurationChanges(sync_partner_data=True)
        )

        assert config.sync_partner_data is True
        (call,) = sent(http, "PATCH", CONFIGS)
        assert {"syncPartnerData": True} == json.loads(call.kwargs["data"])

    async def test_delete(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """DELETE /configs/{id}: the user inherits everything again."""
        http.delete(CONFIGS + f"/{USER}", status=204)

        await leaf.configurations.delete(USER)

        assert 1 == len(sent(http, "DELETE", CONFIGS + f"/{USER}"))

    async def test_delete_of_none_is_not_found(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """A user without a configuration of its own has none to delete."""
        http.delete(CONFIGS + f"/{USER}", status=404)

        with pytest.raises(lc.NotFoundError):
            await leaf.configurations.delete(USER)

    async def test_an_unknown_create_outcome_is_not_resent(self, http: LeafMock) -> None:
        """A create that may have been applied is not sent twice."""
        retry = lc.RetryPolicy(max_retries=2, backoff_base=0.0, backoff_max=0.0)
        http.post(CONFIGS + f"/{USER}", status=502)
        async with lc.LeafSession(token="t", retry=retry) as leaf:
            with pytest.raises(lc.ServerError):
                await leaf.configurations.create(USER, {"zonesAutoSync": True})
        assert 1 == total_requests(http)


class TestChecks:
    @pytest.mark.parametrize(
        ("changes", "problem"),
        [
            ({"fieldsAutoSync": "yes"}, "must be true or false @ $.fieldsAutoSync"),
            ({"organizationDataSync": "SOME"}, "must be ALL or SELECTED_ONLY"),
            (lc.ConfigurationChanges(zones_auto_sync=1), "must be true or false @ $.zonesAutoSync"),  # type: ignore[arg-type]
            ({"": True}, "must be a non-empty string"),
            ({3: True}, "must be a non-empty string"),
            ({"when": datetime(2024, 1, 1)}, "is not JSON"),
        ],
    )
    async def test_refused_before_sending(
        self, http: LeafMock, leaf: lc.LeafSession, changes: Any, problem: str
    ) -> None:
        """A documented key of the wrong type, a bad key, a value that is not JSON."""
        with pytest.raises(lc.ValidationError, match=r"invalid configuration|not JSON") as caught:
            await leaf.configurations.update(USER, changes)
        assert problem in str(caught.value)
        assert 0 == total_requests(http)

    async def test_the_owner_cannot_be_set_to_null(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """Owner defaults cannot be deleted or set to null (Leaf's docs)."""
        with pytest.raises(lc.ValidationError, match=r"cannot be set to null @ \$\.zonesAutoSync"):
            await leaf.configurations.update_owner({"zonesAutoSync": None})
        assert 0 == total_requests(http)

    async def test_a_user_key_may_be_null(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """On a user, null is passed through (to inherit the owner's again)."""
        http.patch(CONFIGS + f"/{USER}", payload=OWNER)

        await leaf.configurations.update(USER, {"zonesAutoSync": None})

        (call,) = sent(http, "PATCH", CONFIGS + f"/{USER}")
        assert {"zonesAutoSync": None} == json.loads(call.kwargs["data"])

    @pytest.mark.parametrize("call", ["update", "update_owner"])
    async def test_no_change_is_refused(
        self, http: LeafMock, leaf: lc.LeafSession, call: str
    ) -> None:
        """A PATCH with nothing in it is a mistake."""
        work = (
            leaf.configurations.update(USER, lc.ConfigurationChanges())
            if call == "update"
            else leaf.configurations.update_owner({})
        )
        with pytest.raises(lc.ValidationError, match="no change"):
            await work
        assert 0 == total_requests(http)

    async def test_a_key_typed_and_in_other_is_refused(self, leaf: lc.LeafSession) -> None:
        """One key given twice cannot be sent."""
        changes = lc.ConfigurationChanges(fields_auto_sync=True, other={"fieldsAutoSync": False})
        with pytest.raises(lc.ValidationError, match=r"given twice.*fieldsAutoSync"):
            await leaf.configurations.update(USER, changes)

    @pytest.mark.parametrize("changes", [["fieldsAutoSync"], "x"])
    async def test_changes_must_be_a_mapping(self, leaf: lc.LeafSession, changes: Any) -> None:
        """A list or a string is not a set of changes."""
        with pytest.raises(lc.ValidationError, match="ConfigurationChanges or a mapping"):
            await leaf.configurations.update(USER, changes)

    async def test_other_must_be_a_mapping(self, leaf: lc.LeafSession) -> None:
        """other= holds Leaf's keys by name."""
        with pytest.raises(lc.ValidationError, match="other= must be a mapping"):
            await leaf.configurations.update(USER, lc.ConfigurationChanges(other=[1]))  # type: ignore[arg-type]

    async def test_a_bad_user_id_is_refused(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """A user id is one path segment."""
        with pytest.raises(lc.ValidationError, match="Leaf user id"):
            await leaf.configurations.get("")
        assert 0 == total_requests(http)


class TestSyncValues:
    def test_only_strings_become_sync_modes(self, leaf: lc.LeafSession) -> None:
        """A new mode string is a pseudo-member; anything else is refused; the repr is short."""
        assert "NONE" == lc.OrganizationDataSync("NONE").value
        with pytest.raises(ValueError, match="not a valid"):
            lc.OrganizationDataSync(3)  # type: ignore[arg-type]
        assert "<Configurations of <Transport" in repr(leaf.configurations)
        assert "<Integrations of <Transport" in repr(leaf.integrations)
