"""The repair policy: pure decisions on a case, with the clock passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

import leaf_creds as lc
from leaf_creds.repair import (
    MISSING,
    Case,
    CaseLink,
    CaseState,
    Cause,
    RepairPolicy,
    Source,
    StepKind,
    TransitionKind,
    after_check,
    after_check_failed,
    cause_of_alert,
    cause_of_status,
    check_due,
    delivery_due,
    link_usable,
    next_action_at,
    next_step,
    on_news,
)

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
POLICY = RepairPolicy()


def at(seconds: float) -> datetime:
    """Return T0 plus some seconds."""
    return T0 + timedelta(seconds=seconds)


def opened(source: Source = Source.ALERT, **changes: Any) -> Case:
    """Return a case just opened at T0."""
    case, _ = on_news(
        None, new_id="c1", user_id="u1", provider="john-deere",
        cause=Cause.UNAUTHENTICATED, source=source, now=T0, credential_id="cred-1",
    )  # fmt: skip
    return attrs.evolve(case, **changes) if changes else case


def sent(case: Case, when: datetime) -> Case:
    """Return the case after one more delivery was handed over at ``when``."""
    return attrs.evolve(
        case, sends=case.sends + 1, checks=0,
        first_sent_at=case.first_sent_at or when, last_sent_at=when,
    )  # fmt: skip


class TestOptions:
    def test_defaults(self) -> None:
        """The defaults: 7-day links, reminders at 1, 3 and 7 days, 15 minutes of quiet."""
        assert 7 * 86400 == POLICY.link_expires_in
        assert (86400.0, 3 * 86400.0, 7 * 86400.0) == POLICY.reminders
        assert 900.0 == POLICY.quiet_period
        assert frozenset({Source.FAILED_CALL}) == POLICY.check_first

    @pytest.mark.parametrize(
        "changes",
        [
            {"link_expires_in": 899},
            {"link_expires_in": 31_536_001},
            {"link_expires_in": 3600.5},
            {"reminders": (60, 30)},
            {"reminders": (0,)},
            {"first_check": 0},
            {"quiet_period": -1},
            {"quiet_period": float("inf")},
            {"check_backoff": 0.5},
            {"max_failed_sends": 0},
            {"link_margin": True},
        ],
    )
    def test_invalid_options_are_refused(self, changes: dict[str, object]) -> None:
        """Out-of-range options raise ValidationError, naming the option."""
        with pytest.raises(lc.ValidationError, match=next(iter(changes))):
            RepairPolicy(**changes)  # type: ignore[arg-type]


class TestNews:
    def test_first_news_opens_a_case_due_now(self) -> None:
        """News of a new (user, provider) opens a case, due at once."""
        case, kind = on_news(
            None, new_id="c1", user_id="u1", provider="cnhi", cause=Cause.MISSING_PERMISSION,
            source=Source.AUDIT, now=T0,
        )  # fmt: skip
        assert TransitionKind.OPENED is kind
        assert (CaseState.OPEN, 1, 1) == (case.state, case.episode, case.alerts)
        assert T0 == case.next_action_at

    def test_the_tenth_alert_updates_the_case(self) -> None:
        """News of an open case only counts: no transition, no new episode, same version."""
        case = opened()
        for i in range(9):
            case, kind = on_news(
                case, new_id="other", user_id="u1", provider="john-deere",
                cause=Cause.UNAUTHENTICATED, source=Source.ALERT, now=at(i + 1),
            )  # fmt: skip
            assert kind is None
        assert ("c1", 10, 1, 0) == (case.id, case.alerts, case.episode, case.version)

    def test_a_new_cause_bumps_the_version(self) -> None:
        """A change of cause is news the loop must not overwrite."""
        case, kind = on_news(
            opened(), new_id="x", user_id="u1", provider="john-deere",
            cause=Cause.MISSING_PERMISSION, source=Source.ALERT, now=at(5),
        )  # fmt: skip
        assert kind is None
        assert (Cause.MISSING_PERMISSION, 1) == (case.cause, case.version)

    def test_news_while_recovering_is_a_relapse(self) -> None:
        """A case that read OK and gets news again relapses and is due at once."""
        case, kind = on_news(
            opened(ok_since=at(60)), new_id="x", user_id="u1", provider="john-deere",
            cause=Cause.UNAUTHENTICATED, source=Source.ALERT, now=at(120),
        )  # fmt: skip
        assert TransitionKind.RELAPSED is kind
        assert (None, at(120), 1) == (case.ok_since, case.next_action_at, case.version)

    def test_news_of_a_resolved_case_reopens_it(self) -> None:
        """The same case reopens: a new episode, counts reset, the last link kept for reuse."""
        link = CaseLink(id="l1", url="https://x/l1", expires_at=at(86400))
        resolved = opened(
            state=CaseState.RESOLVED, resolved_at=at(600), sends=2, checks=4, link=link,
            checked_at=at(600), last_status="OK",
        )  # fmt: skip
        case, kind = on_news(
            resolved, new_id="x", user_id="u1", provider="john-deere",
            cause=Cause.MISSING_PERMISSION, source=Source.ALERT, now=at(1000),
        )  # fmt: skip
        assert TransitionKind.REOPENED is kind
        assert (CaseState.OPEN, 2, 1, 0, 0, link) == (
            case.state, case.episode, case.reopen_count, case.sends, case.checks, case.link
        )
        assert (None, None, at(1000)) == (case.resolved_at, case.checked_at, case.opened_at)

    def test_stale_news_of_a_resolved_case_is_ignored(self) -> None:
        """An alert dated before the resolution (a late replay) does not reopen."""
        resolved = opened(state=CaseState.RESOLVED, resolved_at=at(600))
        case, kind = on_news(
            resolved, new_id="x", user_id="u1", provider="john-deere",
            cause=Cause.UNAUTHENTICATED, source=Source.FAILED_CALL, now=at(1000),
            observed_at=at(10),
        )  # fmt: skip
        assert (resolved, None) == (case, kind)

    def test_causes(self) -> None:
        """Statuses and alert types map to causes; OK and transient statuses to none."""
        assert Cause.UNAUTHENTICATED is cause_of_status("UNAUTHENTICATED")
        assert cause_of_status("OK") is None
        assert cause_of_status("TEMPORARILY_UNAVAILABLE") is None
        assert Cause.MISSING_PERMISSION is cause_of_alert("credentialsLimitedPermission", "WEIRD")
        assert Cause.UNAUTHENTICATED is cause_of_alert("credentialsUnauthenticated", "WEIRD")
        assert Cause.MISSING_PERMISSION is cause_of_alert("x", "MISSING_PERMISSION")


class TestSteps:
    def test_a_new_case_delivers_first(self) -> None:
        """The link goes out at once."""
        step = next_step(opened(), POLICY, T0)
        assert (StepKind.DELIVER, T0) == (step.kind, step.at)

    def test_a_failed_call_checks_first(self) -> None:
        """News from a failed call may be stale: the status is read before any link."""
        case = opened(Source.FAILED_CALL)
        assert delivery_due(case, POLICY) is None
        assert StepKind.CHECK is next_step(case, POLICY, T0).kind
        checked, _ = after_check(case, "UNAUTHENTICATED", POLICY, at(1))
        assert StepKind.DELIVER is next_step(checked, POLICY, at(1)).kind

    def test_after_the_link_the_status_is_read_with_backoff(self) -> None:
        """Reads come first_check after the delivery, then twice as far apart, capped."""
        case = sent(opened(), T0)
        assert at(60) == check_due(case, POLICY)
        assert StepKind.WAIT is next_step(case, POLICY, at(30)).kind
        gaps = []
        now = at(60)
        for _ in range(8):
            case, _ = after_check(case, "UNAUTHENTICATED", POLICY, now)
            due = check_due(case, POLICY)
            assert due is not None
            gaps.append((due - now).total_seconds())
            now = due
        assert [60, 120, 240, 480, 960, 1920, 3600, 3600] == gaps

    def test_reminders_follow_the_schedule(self) -> None:
        """Reminders are due 1, 3 and 7 days after the first link; then none."""
        case = sent(opened(), T0)
        assert at(86400) == delivery_due(case, POLICY)
        case = sent(case, at(86400))
        assert at(3 * 86400) == delivery_due(case, POLICY)
        case = sent(sent(case, at(3 * 86400)), at(7 * 86400))
        assert 3 == case.reminders
        assert delivery_due(case, POLICY) is None
        assert next_action_at(case, POLICY) == check_due(case, POLICY)

    def test_a_reminder_after_a_crash_counts_from_the_opening(self) -> None:
        """A delivery begun but never finished (the watcher died) counts; reminders go on."""
        case = attrs.evolve(opened(), sends=1)  # no first_sent_at: the hook never returned
        assert at(86400) == delivery_due(case, POLICY)

    def test_a_muted_case_gets_no_link_but_is_checked(self) -> None:
        """Muting stops deliveries, not reads."""
        case = opened(muted=True)
        assert delivery_due(case, POLICY) is None
        assert StepKind.CHECK is next_step(case, POLICY, at(60)).kind

    def test_a_failed_delivery_is_retried_later_then_given_up(self) -> None:
        """The hook refused: retried delivery_retry later, until max_failed_sends."""
        case = opened(failed_sends=1, last_failed_at=at(10))
        assert at(310) == delivery_due(case, POLICY)
        assert delivery_due(attrs.evolve(case, failed_sends=5), POLICY) is None

    def test_a_resolved_case_waits_forever(self) -> None:
        """Nothing is due for a resolved case."""
        step = next_step(opened(state=CaseState.RESOLVED), POLICY, at(10**6))
        assert (StepKind.WAIT, None) == (step.kind, step.at)


class TestChecks:
    def test_ok_then_ok_after_the_quiet_period_resolves(self) -> None:
        """The first OK starts the quiet period; an OK at its end resolves."""
        case = sent(opened(), T0)
        case, kinds = after_check(case, "OK", POLICY, at(60))
        assert [TransitionKind.RECOVERING] == list(kinds)
        assert (at(60), at(960)) == (case.ok_since, case.next_action_at)
        assert delivery_due(case, POLICY) is None  # no reminder while recovering
        case, kinds = after_check(case, "OK", POLICY, at(960))
        assert [TransitionKind.RESOLVED] == list(kinds)
        assert (CaseState.RESOLVED, at(960), None) == (
            case.state, case.resolved_at, case.next_action_at
        )

    def test_no_quiet_period_resolves_at_the_first_ok(self) -> None:
        """quiet_period=0: one OK read recovers and resolves at once."""
        _, kinds = after_check(opened(), "OK", RepairPolicy(quiet_period=0), at(60))
        assert [TransitionKind.RECOVERING, TransitionKind.RESOLVED] == list(kinds)

    def test_broken_while_recovering_relapses(self) -> None:
        """A broken read during the quiet period relapses, and reminders are due again."""
        case, _ = after_check(sent(opened(), T0), "OK", POLICY, at(60))
        case, kinds = after_check(case, "MISSING_PERMISSION", POLICY, at(120))
        assert [TransitionKind.RELAPSED] == list(kinds)
        assert (None, Cause.MISSING_PERMISSION) == (case.ok_since, case.cause)
        assert delivery_due(case, POLICY) is not None

    def test_missing_and_transient_statuses(self) -> None:
        """MISSING keeps the case broken; TEMPORARILY_UNAVAILABLE neither confirms nor denies."""
        case, kinds = after_check(opened(), MISSING, POLICY, at(60))
        assert ([], MISSING, Cause.UNAUTHENTICATED) == (list(kinds), case.last_status, case.cause)
        recovering, _ = after_check(opened(), "OK", POLICY, at(60))
        case, kinds = after_check(recovering, "TEMPORARILY_UNAVAILABLE", POLICY, at(120))
        assert ([], at(60)) == (list(kinds), case.ok_since)

    def test_a_failed_read_backs_off(self) -> None:
        """A read that failed counts as a read for the backoff."""
        case = after_check_failed(sent(opened(), T0), POLICY, at(60))
        case = after_check_failed(case, POLICY, at(120))
        assert at(240) == check_due(case, POLICY)


class TestLinks:
    def test_a_link_is_reused_while_it_works_long_enough(self) -> None:
        """Reused with more than link_margin left and uses left; not otherwise."""
        link = CaseLink(id="l", url="u", expires_at=at(7200), usage_count=1, max_usage=3)
        assert link_usable(link, POLICY, T0)
        assert not link_usable(link, POLICY, at(3601))
        assert not link_usable(attrs.evolve(link, usage_count=3), POLICY, T0)
        assert link_usable(attrs.evolve(link, usage_count=None), POLICY, T0)
        assert not link_usable(attrs.evolve(link, expires_at=None), POLICY, T0)
        assert not link_usable(None, POLICY, T0)

    def test_a_link_never_shows_its_capability(self) -> None:
        """A case's link prints its id and URL as '***'."""
        link = CaseLink(id="secret-id", url="https://magic/secret-id")
        assert "secret-id" not in repr(link)
        assert "secret-id" not in repr(opened(link=link))
