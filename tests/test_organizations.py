"""leaf.organizations against aioresponses: paths, typed answers, and refusals before sending."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import leaf_creds as lc
from tests.conftest import UM, LeafMock, sent, total_requests

USER = "u-1"
CONNECTIONS = UM + f"/users/{USER}/organizations/JohnDeere"
SYNCED = UM + f"/users/{USER}/JohnDeere/organizations"
DIALOG = "https://connections.deere.com/connections/ck/connections-dialog?orgId=7"
SHARE = "https://connections.deere.com/connections/ck/select-organizations"
ORG = {"providerOrgId": "7", "providerOrgName": "Ada farms", "status": "PREVIEW",
       "managementUri": DIALOG, "addedLater": True}  # fmt: skip
NO_RETRY = lc.RetryPolicy(max_retries=0)


@pytest.fixture
async def leaf() -> Any:
    async with lc.LeafSession(token="bearer-token-value", retry=NO_RETRY) as session:
        yield session


class TestAccess:
    @pytest.mark.parametrize(
        ("uri", "access"),
        [
            (DIALOG, lc.OrganizationAccess.CONNECTED),
            (SHARE, lc.OrganizationAccess.SETUP_INCOMPLETE),
            ("https://example.com/other", lc.OrganizationAccess.UNKNOWN),
            (None, lc.OrganizationAccess.UNKNOWN),
        ],
    )
    def test_the_management_uri_is_read_for_you(
        self, uri: str | None, access: lc.OrganizationAccess
    ) -> None:
        """connections-dialog is connected, select-organizations an incomplete setup."""
        assert access == lc.Organization(management_uri=uri).access
        assert access == lc.ConnectedOrganization(management_uri=uri).access


class TestConnections:
    async def test_reads_both_lists(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """GET /users/{id}/organizations/JohnDeere gives the connected and the others."""
        http.get(
            CONNECTIONS,
            payload={
                "connectedOrganizations": [{"id": "7", "name": "A", "managementUri": DIALOG}],
                "notConnectedOrganizations": [{"id": "8", "name": "B", "managementUri": SHARE}],
            },
        )

        found = await leaf.organizations.connections(USER)

        assert ("7",) == tuple(o.id for o in found.connected)
        assert lc.OrganizationAccess.SETUP_INCOMPLETE == found.not_connected[0].access

    @pytest.mark.parametrize("provider", ["trimble", lc.TRIMBLE, "Trimble"])
    async def test_trimble_by_slug_resource_or_name(
        self, http: LeafMock, leaf: lc.LeafSession, provider: Any
    ) -> None:
        """Trimble's list is at Leaf's name for it, however it is named here."""
        url = UM + f"/users/{USER}/organizations/Trimble"
        http.get(url, payload={})

        found = await leaf.organizations.connections(USER, provider)

        assert lc.OrganizationConnections() == found
        assert 1 == len(sent(http, "GET", url))

    async def test_null_lists_are_empty(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """A list Leaf sends as null or leaves out reads as empty."""
        http.get(CONNECTIONS, payload={"connectedOrganizations": None})

        assert lc.OrganizationConnections() == await leaf.organizations.connections(USER)

    @pytest.mark.parametrize("provider", ["sentera", "Leaf", 3])
    async def test_another_provider_is_refused_before_sending(
        self, http: LeafMock, leaf: lc.LeafSession, provider: Any
    ) -> None:
        """Leaf lists John Deere's and Trimble's organizations only."""
        with pytest.raises(lc.ValidationError, match="John Deere and Trimble only"):
            await leaf.organizations.connections(USER, provider)
        assert 0 == total_requests(http)

    @pytest.mark.parametrize(
        "body", [b"[]", b"not json", b'{"connectedOrganizations": 3}'], ids=["array", "text", "int"]
    )
    async def test_a_hostile_answer_is_a_decode_error(
        self, http: LeafMock, leaf: lc.LeafSession, body: bytes
    ) -> None:
        """Anything but the two lists is a DecodeError, a LeafError."""
        http.get(CONNECTIONS, body=body, content_type="application/json")

        with pytest.raises(lc.DecodeError):
            await leaf.organizations.connections(USER)


class TestList:
    async def test_walks_the_pages(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """The sync-managed list is paged; unknown keys are ignored."""
        http.get(SYNCED + "?page=0&size=100", payload=[ORG])

        found = await leaf.organizations.list(USER)

        assert [
            lc.Organization(
                provider_org_id="7",
                provider_org_name="Ada farms",
                status=lc.OrganizationStatus.PREVIEW,
                management_uri=DIALOG,
            )
        ] == found

    async def test_a_status_leaf_adds_is_kept(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """An unknown status becomes a pseudo-member, not an error."""
        http.get(SYNCED + "?page=0&size=100", payload=[{**ORG, "status": "ARCHIVED"}])

        (found,) = await leaf.organizations.list(USER)

        assert "ARCHIVED" == found.status

    async def test_a_wrong_type_is_a_decode_error(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A name that is not a string does not fit."""
        http.get(SYNCED + "?page=0&size=100", payload=[{**ORG, "providerOrgName": 3}])

        with pytest.raises(lc.DecodeError, match="provider_org_name"):
            await leaf.organizations.list(USER)


class TestGetAndSetStatus:
    async def test_get_one(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """GET .../organizations/{id}, the id one encoded segment."""
        http.get(SYNCED + "/a%2Fb", payload=ORG)

        assert "7" == (await leaf.organizations.get(USER, "a/b")).provider_org_id

    @pytest.mark.parametrize("status", ["SELECTED", lc.OrganizationStatus.PREVIEW])
    async def test_patches_the_status_in_the_path(
        self, http: LeafMock, leaf: lc.LeafSession, status: Any
    ) -> None:
        """PATCH .../{id}/{status}, no body; the answer is the organization."""
        url = f"{SYNCED}/7/{status}"
        http.patch(url, payload={**ORG, "status": str(status)})

        found = await leaf.organizations.set_status(USER, "7", status)

        assert str(status) == found.status
        (call,) = sent(http, "PATCH", url)
        assert call.kwargs["data"] is None

    async def test_an_empty_answer_tells_what_was_set(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """A 204 reads as the id and the status set."""
        http.patch(f"{SYNCED}/7/SELECTED", status=204, body=b"")

        assert lc.Organization(
            provider_org_id="7", status=lc.OrganizationStatus.SELECTED
        ) == await leaf.organizations.set_status(USER, "7", "SELECTED")

    @pytest.mark.parametrize("status", ["BLOCKED", lc.OrganizationStatus.BLOCKED])
    async def test_blocked_is_refused_before_sending(
        self, http: LeafMock, leaf: lc.LeafSession, status: Any
    ) -> None:
        """Leaf refuses BLOCKED: only the grower can lift it, so nothing is sent."""
        with pytest.raises(lc.ValidationError, match="only the grower"):
            await leaf.organizations.set_status(USER, "7", status)
        assert 0 == total_requests(http)

    @pytest.mark.parametrize("status", ["selected", "", None, 1])
    async def test_anything_else_is_refused(
        self, http: LeafMock, leaf: lc.LeafSession, status: Any
    ) -> None:
        """Only SELECTED and PREVIEW may be set."""
        with pytest.raises(lc.ValidationError, match="SELECTED or PREVIEW"):
            await leaf.organizations.set_status(USER, "7", status)
        assert 0 == total_requests(http)

    async def test_leafs_refusal_is_a_bad_request(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """Leaf's 400 (a BLOCKED organization) is a BadRequestError."""
        http.patch(f"{SYNCED}/7/SELECTED", status=400, payload={"title": "BLOCKED"})

        with pytest.raises(lc.BadRequestError):
            await leaf.organizations.set_status(USER, "7", "SELECTED")

    async def test_a_bad_id_is_refused(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """An organization id is one path segment: '..' cannot be."""
        with pytest.raises(lc.ValidationError, match="organization id"):
            await leaf.organizations.get(USER, "..")
        assert 0 == total_requests(http)


class TestSync:
    async def test_posts_without_a_body_and_ignores_the_answer(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """POST .../organizations/sync; Leaf's answer is undocumented, so any 2xx does."""
        http.post(SYNCED + "/sync", status=202, body=b"<html>queued</html>")

        await leaf.organizations.sync(USER)

        (call,) = sent(http, "POST", SYNCED + "/sync")
        assert call.kwargs["data"] is None

    async def test_is_retried_as_harmless(self, http: LeafMock) -> None:
        """A sync asked twice is harmless: a 503 is retried."""
        retry = lc.RetryPolicy(max_retries=1, backoff_base=0.0, backoff_max=0.0)
        http.post(SYNCED + "/sync", status=503)
        http.post(SYNCED + "/sync", status=204)
        async with lc.LeafSession(token="t", retry=retry) as leaf:
            await leaf.organizations.sync(USER)
        assert 2 == len(sent(http, "POST", SYNCED + "/sync"))


class TestSecrets:
    async def test_the_token_is_in_no_error_log_or_repr(
        self, http: LeafMock, caplog: pytest.LogCaptureFixture
    ) -> None:
        """A failed call shows neither the bearer token nor itself in a repr."""
        caplog.set_level(logging.DEBUG, logger="leaf_creds")
        http.get(CONNECTIONS, status=500, body=b"bearer-token-value")
        async with lc.LeafSession(token="bearer-token-value", retry=NO_RETRY) as leaf:
            with pytest.raises(lc.ServerError) as caught:
                await leaf.organizations.connections(USER)
            shown = repr(leaf.organizations) + str(caught.value) + caplog.text
        assert "bearer-token-value" not in shown
        assert "<Organizations of <Transport" in shown


class TestStatusValues:
    def test_only_strings_become_statuses(self) -> None:
        """A new status string is a pseudo-member; anything else is refused."""
        assert "ARCHIVED" == lc.OrganizationStatus("ARCHIVED").value
        with pytest.raises(ValueError, match="not a valid"):
            lc.OrganizationStatus(3)  # type: ignore[arg-type]
