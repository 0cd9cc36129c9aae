"""Statuses, environments and timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

import leaf_creds as lc
from leaf_creds._converter import format_datetime, parse_datetime


class TestCredentialStatus:
    @pytest.mark.parametrize(
        "value", ["OK", "UNAUTHENTICATED", "MISSING_PERMISSION", "TEMPORARILY_UNAVAILABLE"]
    )
    def test_known_values(self, value: str) -> None:
        """Known statuses are members that equal their strings."""
        status = lc.CredentialStatus(value)

        assert value == status
        assert status is getattr(lc.CredentialStatus, value)

    def test_unknown_value_never_fails(self) -> None:
        """An unknown status becomes a pseudo-member that still equals its string."""
        status = lc.CredentialStatus("SUSPENDED_BY_PROVIDER")

        assert "SUSPENDED_BY_PROVIDER" == status
        assert isinstance(status, lc.CredentialStatus)
        assert "SUSPENDED_BY_PROVIDER" == str(status)
        assert status not in list(lc.CredentialStatus)

    def test_non_strings_are_refused(self) -> None:
        """Only strings can be statuses."""
        with pytest.raises(ValueError, match="3 is not a valid CredentialStatus"):
            lc.CredentialStatus(3)  # type: ignore[arg-type]


class TestTimestamps:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2024-05-06T07:08:09.123456Z", datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)),
            ("2024-05-06T07:08:09.123Z", datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC)),
            ("2024-05-06T07:08:09Z", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
            ("2024-05-06T07:08:09+00:00", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
            ("2024-05-06T09:08:09+02:00", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
            ("2024-05-06T07:08:09.123456", datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)),
        ],
    )
    def test_forms(self, text: str, expected: datetime) -> None:
        """Leaf's 6-digit form and the 3-digit, no-fraction, offset and naive forms parse to UTC."""
        parsed = parse_datetime(text)

        assert expected == parsed
        assert timedelta(0) == parsed.utcoffset()

    def test_round_trip_in_leafs_form(self) -> None:
        """Formatting writes Leaf's own 6-digit Z form."""
        moment = datetime(2024, 5, 6, 9, 8, 9, 5, tzinfo=timezone(timedelta(hours=2)))

        assert "2024-05-06T07:08:09.000005Z" == format_datetime(moment)

    def test_garbage_raises(self) -> None:
        """A non-timestamp raises ValueError."""
        with pytest.raises(ValueError, match="Invalid isoformat"):
            parse_datetime("last tuesday")
