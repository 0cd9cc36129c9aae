"""The pure verdict rules of leaf.diagnose: each on its own, then their order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import leaf_creds as lc
from leaf_creds import _verdicts as v

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SHARE = "https://connections.deere.com/connections/ck/select-organizations"
DIALOG = "https://connections.deere.com/connections/ck/connections-dialog?orgId=1"


def facts(**fields: object) -> lc.CredentialFacts:
    """Return John Deere facts: OK for two days unless told otherwise."""
    base: dict[str, object] = {
        "provider": "john-deere",
        "provider_name": "John Deere",
        "status": lc.CredentialStatus.OK,
        "created_time": NOW - timedelta(days=2),
    }
    base.update(fields)
    return lc.CredentialFacts(**base)  # type: ignore[arg-type]


def synced(fields: int | None = 100, hours: float = 3) -> lc.IntegrationSummary:
    """Return a summary synced ``hours`` before NOW."""
    return lc.IntegrationSummary(
        provider="john-deere",
        leaf_provider="JohnDeere",
        fields=fields,
        sync_reference_time=NOW - timedelta(hours=hours),
    )


def org(status: str, uri: str = DIALOG) -> lc.Organization:
    """Return a synced John Deere organization."""
    return lc.Organization(
        provider_org_id="1", status=lc.OrganizationStatus(status), management_uri=uri
    )


def event(code: int, when: datetime) -> lc.CredentialEvent:
    """Return a troubleshooting event the provider answered ``code``."""
    return lc.CredentialEvent(id=str(code), status_code=code, created_date=when)


class TestAgo:
    @pytest.mark.parametrize(
        ("delta", "said"),
        [
            (timedelta(seconds=30), "just now"),
            (timedelta(minutes=1), "1 minute ago"),
            (timedelta(hours=3, minutes=5), "3 hours ago"),
            (timedelta(days=2, hours=1), "2 days ago"),
            (timedelta(seconds=-10), "in the future"),
        ],
    )
    def test_says_the_largest_unit(self, delta: timedelta, said: str) -> None:
        """Days, hours, minutes, or just now; a moment ahead of now says so."""
        assert said == v.ago(NOW - delta, NOW)


class TestUnreadable:
    def test_speaks_when_the_credential_could_not_be_read(self) -> None:
        """A credential that could not be read cannot be judged: try again."""
        found = v.unreadable(facts(read=False, status=None), NOW)
        assert found is not None
        assert (lc.VerdictCode.UNREADABLE, False) == (found.code, found.ok)
        assert "could not be read" in found.message

    def test_silent_otherwise(self) -> None:
        """A credential that was read is left to the other rules."""
        assert None is v.unreadable(facts(), NOW)


class TestNotConnected:
    def test_speaks_without_a_credential(self) -> None:
        """No credential: send the grower a Magic Link."""
        found = v.not_connected(facts(status=None), NOW)
        assert found is not None
        assert "no John Deere credential: send the grower a Magic Link" in found.message

    def test_silent_with_one(self) -> None:
        """A credential of any status is not 'not connected'."""
        assert None is v.not_connected(facts(), NOW)


class TestRevoked:
    def test_names_the_day_of_the_last_refusal(self) -> None:
        """The date is that of the provider's last 401."""
        events = (event(401, NOW - timedelta(days=5)), event(401, NOW - timedelta(days=1)),
                  event(200, NOW))  # fmt: skip
        found = v.revoked(facts(status=lc.CredentialStatus.UNAUTHENTICATED, events=events), NOW)
        assert found is not None
        assert (
            "revoked at the provider on 2024-04-30: re-invite the grower to connect "
            "John Deere again (a new Magic Link)"
        ) == found.message
        assert not found.ok

    def test_without_a_refusal_no_date(self) -> None:
        """No 401 in the events: no date is made up."""
        found = v.revoked(facts(status=lc.CredentialStatus.UNAUTHENTICATED), NOW)
        assert found is not None
        assert found.message.startswith("revoked at the provider: re-invite")

    def test_silent_for_another_status(self) -> None:
        """Only UNAUTHENTICATED is a revocation."""
        assert None is v.revoked(facts(), NOW)


class TestOrganizationsNotShared:
    def test_no_connected_organization_sends_the_grower_to_the_uri(self) -> None:
        """The not-connected organization's managementUri is the next step."""
        connections = lc.OrganizationConnections(
            not_connected=(lc.ConnectedOrganization(id="1", management_uri=SHARE),)
        )
        found = v.organizations_not_shared(facts(connections=connections), NOW)
        assert found is not None
        assert (
            f"the grower has not shared any John Deere organization: send them to {SHARE} "
            "(then sync the organizations)"
        ) == found.message

    def test_every_synced_organization_blocked(self) -> None:
        """All BLOCKED: the incomplete setup's URI is the next step."""
        orgs = (org("BLOCKED", SHARE),)
        connections = lc.OrganizationConnections(
            connected=(lc.ConnectedOrganization(id="1", management_uri=DIALOG),)
        )
        found = v.organizations_not_shared(
            facts(connections=connections, organizations=orgs), NOW
        )
        assert found is not None
        assert SHARE in found.message

    def test_the_first_uri_that_says_where(self) -> None:
        """A not-connected organization without a URI, or a connected BLOCKED one, is skipped."""
        connections = lc.OrganizationConnections(
            not_connected=(lc.ConnectedOrganization(id="1"),)
        )
        orgs = (org("BLOCKED", DIALOG), lc.Organization(status=lc.OrganizationStatus.BLOCKED,
                management_uri=None), org("BLOCKED", SHARE))  # fmt: skip
        assert SHARE == v.share_uri(facts(connections=connections, organizations=orgs))

    def test_without_a_uri_says_where_in_words(self) -> None:
        """No URI to give: the grower shares them at the provider."""
        found = v.organizations_not_shared(facts(connections=lc.OrganizationConnections()), NOW)
        assert found is not None
        assert "ask them to share organizations with your app at John Deere" in found.message

    def test_silent_when_one_is_shared(self) -> None:
        """One connected organization that is not BLOCKED is enough."""
        connections = lc.OrganizationConnections(connected=(lc.ConnectedOrganization(id="1"),))
        assert None is v.organizations_not_shared(
            facts(connections=connections, organizations=(org("PREVIEW"), org("BLOCKED"))), NOW
        )

    def test_silent_without_organizations(self) -> None:
        """A provider without organizations (none read) is left to the other rules."""
        assert None is v.organizations_not_shared(facts(), NOW)


class TestMissingPermission:
    def test_speaks_for_missing_permission(self) -> None:
        """Re-invite, granting everything."""
        found = v.missing_permission(facts(status=lc.CredentialStatus.MISSING_PERMISSION), NOW)
        assert found is not None
        assert "did not grant every permission John Deere asks for" in found.message

    def test_silent_otherwise(self) -> None:
        """OK is not a missing permission."""
        assert None is v.missing_permission(facts(), NOW)


class TestTemporarilyUnavailable:
    def test_is_transient(self) -> None:
        """The provider's API is down: nothing to do, and it counts as ok."""
        found = v.temporarily_unavailable(
            facts(status=lc.CredentialStatus.TEMPORARILY_UNAVAILABLE), NOW
        )
        assert found is not None
        assert found.ok
        assert "check again later" in found.message

    def test_silent_otherwise(self) -> None:
        """OK is not unavailable."""
        assert None is v.temporarily_unavailable(facts(), NOW)


class TestUnknownStatus:
    def test_a_status_leaf_added(self) -> None:
        """A pseudo-member of CredentialStatus: read the events."""
        found = v.unknown_status(facts(status=lc.CredentialStatus("SUSPENDED")), NOW)
        assert found is not None
        assert found.message.startswith("status SUSPENDED is not one this SDK knows")

    @pytest.mark.parametrize("status", [None, lc.CredentialStatus.OK])
    def test_silent_for_known_or_none(self, status: lc.CredentialStatus | None) -> None:
        """Known statuses and no credential are other rules' business."""
        assert None is v.unknown_status(facts(status=status), NOW)


class TestNothingSelected:
    def only(self) -> lc.Configuration:
        return lc.Configuration(organization_data_sync=lc.OrganizationDataSync.SELECTED_ONLY)

    def test_selected_only_and_none_selected(self) -> None:
        """SELECTED_ONLY with every organization PREVIEW syncs nothing."""
        found = v.nothing_selected(
            facts(configuration=self.only(), organizations=(org("PREVIEW"),)), NOW
        )
        assert found is not None
        assert (
            "organizationDataSync is SELECTED_ONLY but no John Deere organization is SELECTED: "
            "select the ones to sync, or set organizationDataSync to ALL"
        ) == found.message

    def test_silent_with_one_selected(self) -> None:
        """One SELECTED organization is synced."""
        assert None is v.nothing_selected(
            facts(configuration=self.only(), organizations=(org("SELECTED"),)), NOW
        )

    def test_silent_under_all(self) -> None:
        """organizationDataSync ALL syncs every shared organization."""
        config = lc.Configuration(organization_data_sync=lc.OrganizationDataSync.ALL)
        assert None is v.nothing_selected(
            facts(configuration=config, organizations=(org("PREVIEW"),)), NOW
        )

    def test_silent_without_organizations_or_configuration(self) -> None:
        """Nothing read: nothing said."""
        assert None is v.nothing_selected(facts(configuration=self.only()), NOW)
        assert None is v.nothing_selected(facts(organizations=(org("PREVIEW"),)), NOW)


class TestNoData:
    def test_synced_with_zero_fields(self) -> None:
        """A sync that found no field."""
        found = v.no_data(facts(summary=synced(fields=0)), NOW)
        assert found is not None
        assert found.message.startswith("OK, synced 3 hours ago, but Leaf found 0 fields")

    @pytest.mark.parametrize("fields", [None, 100])
    def test_silent_with_fields_or_unknown(self, fields: int | None) -> None:
        """Fields, or a count Leaf did not give, is no 'no data'."""
        assert None is v.no_data(facts(summary=synced(fields=fields)), NOW)

    def test_silent_without_a_summary(self) -> None:
        """Never synced is another rule."""
        assert None is v.no_data(facts(), NOW)


class TestNeverSynced:
    def test_ok_for_long_without_a_summary(self) -> None:
        """Two days OK and no summary."""
        found = v.never_synced(facts(), NOW)
        assert found is not None
        assert found.message.startswith(
            "OK since 2024-04-29 (2 days ago) but Leaf has synced nothing from John Deere"
        )

    def test_says_when_auto_sync_is_off(self) -> None:
        """Both auto-sync flags off is the likely reason."""
        config = lc.Configuration(fields_auto_sync=False, operations_auto_sync=False)
        found = v.never_synced(facts(configuration=config), NOW)
        assert found is not None
        assert found.message.endswith(
            "fieldsAutoSync and operationsAutoSync are off in its configuration: turn them on"
        )

    def test_silent_within_the_grace(self) -> None:
        """OK for less than SYNC_GRACE is still waiting."""
        assert None is v.never_synced(facts(created_time=NOW - timedelta(hours=1)), NOW)

    def test_silent_once_synced(self) -> None:
        """A summary with a sync time means synced."""
        assert None is v.never_synced(facts(summary=synced()), NOW)

    def test_a_summary_without_a_time_is_not_a_sync(self) -> None:
        """A summary with no syncReferenceTime says nothing was synced."""
        summary = lc.IntegrationSummary(provider="john-deere", fields=3)
        assert v.never_synced(facts(summary=summary), NOW) is not None


class TestWaitingForSync:
    def test_recent_and_not_synced(self) -> None:
        """OK an hour ago: wait, and it counts as ok."""
        found = v.waiting_for_sync(facts(created_time=NOW - timedelta(hours=1)), NOW)
        assert found is not None
        assert found.ok
        assert "OK since 1 hour ago, not synced yet: check again in a few hours" == found.message

    def test_without_a_creation_time_since_now(self) -> None:
        """A record without createdTime counts from now."""
        found = v.waiting_for_sync(facts(created_time=None), NOW)
        assert found is not None
        assert "OK since just now" in found.message

    def test_silent_once_synced(self) -> None:
        """Synced is healthy, not waiting."""
        assert None is v.waiting_for_sync(facts(summary=synced()), NOW)


class TestHealthy:
    def test_says_when_and_how_much(self) -> None:
        """OK, synced 3 hours ago, 100 fields."""
        found = v.healthy(facts(summary=synced()), NOW)
        assert found is not None
        assert (lc.VerdictCode.HEALTHY, True, "OK, synced 3 hours ago, 100 fields") == (
            found.code,
            found.ok,
            found.message,
        )

    def test_an_unknown_count(self) -> None:
        """No field count from Leaf is said so."""
        found = v.healthy(facts(summary=synced(fields=None)), NOW)
        assert found is not None
        assert "an unknown number of fields" in found.message


class TestVerdict:
    @pytest.mark.parametrize(
        ("given", "code"),
        [
            ({"read": False, "status": None}, lc.VerdictCode.UNREADABLE),
            ({"status": None}, lc.VerdictCode.NOT_CONNECTED),
            (
                {"status": lc.CredentialStatus.UNAUTHENTICATED,
                 "connections": lc.OrganizationConnections()},
                lc.VerdictCode.REVOKED,
            ),
            (
                {"status": lc.CredentialStatus.MISSING_PERMISSION,
                 "connections": lc.OrganizationConnections()},
                lc.VerdictCode.ORGANIZATIONS_NOT_SHARED,
            ),
            ({"status": lc.CredentialStatus.MISSING_PERMISSION}, lc.VerdictCode.MISSING_PERMISSION),
            ({"summary": synced(fields=0)}, lc.VerdictCode.NO_DATA),
            ({}, lc.VerdictCode.NEVER_SYNCED),
            ({"summary": synced()}, lc.VerdictCode.HEALTHY),
        ],
    )  # fmt: skip
    def test_the_first_rule_that_speaks_decides(
        self, given: dict[str, object], code: lc.VerdictCode
    ) -> None:
        """Rules are tried in RULES order: the earlier one wins where two would speak."""
        assert code == v.verdict(facts(**given), NOW).code

    def test_every_code_has_a_rule(self) -> None:
        """Each VerdictCode names one rule of RULES, in order."""
        assert [code.value for code in lc.VerdictCode] == [rule.__name__ for rule in v.RULES]
