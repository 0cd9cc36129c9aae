"""`leaf-creds events` and `audit --events` mask the secrets of the providers' answers they print.

Leaf's troubleshooting log records a provider's answer (body and headers, as
text), which can hold an access or refresh token or an Authorization header.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from leaf_creds.cli import main
from tests.conftest import UM, LeafMock
from tests.helpers import SENTERA_ANSWER, SENTERA_URL

EVENTS_URL = SENTERA_URL + "/events"
SECRETS = (
    "at-secret-1111111",
    "rt-secret-2222222",
    "hdr-secret-3333333333",
    "rt-secret-4444444",
    "hdr-secret-5555555555",
    "ck-secret-6666666",
)
EVENTS = [
    {
        "id": "e1",
        "body": json.dumps(
            {"access_token": SECRETS[0], "refresh_token": SECRETS[1], "expires_in": 3600}
        ),
        "headers": json.dumps(
            {"Authorization": f"Bearer {SECRETS[2]}", "Content-Type": "application/json"}
        ),
        "statusCode": 200,
        "createdDate": "2024-05-06T07:08:09Z",
    },
    {
        "id": "e2",
        "body": f"grant_type=refresh_token&refresh_token={SECRETS[3]}&scope=ag",
        "headers": f"Authorization: Bearer {SECRETS[4]}\nSet-Cookie: sid={SECRETS[5]}\nX-Trace: t1",
        "statusCode": 401,
        "createdDate": "2024-05-06T07:09:09Z",
    },
    {"id": "e3", "statusCode": 204, "createdDate": "2024-05-06T07:10:09Z"},  # no body
]


@pytest.fixture(autouse=True)
def token_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LEAF_USERNAME", "LEAF_PASSWORD", "LEAF_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LEAF_TOKEN", "bearer-token-value-1234")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def leaked(output: str) -> list[str]:
    return [secret for secret in SECRETS if secret in output]


class TestEvents:
    def test_events_masks_tokens_in_bodies_and_headers(
        self, http: LeafMock, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`events` prints each event with its tokens and Authorization header as "***"."""
        http.get(EVENTS_URL, payload=EVENTS)

        code, output = run(capsys, "events", "sentera", "u1")

        assert 0 == code
        assert [] == leaked(output)
        first, second, empty = json.loads(output)["result"]["events"]
        assert {"access_token": "***", "refresh_token": "***", "expires_in": 3600} == json.loads(
            first["body"]
        )
        assert {"Authorization": "***", "Content-Type": "application/json"} == json.loads(
            first["headers"]
        )
        assert "grant_type=refresh_token&refresh_token=***&scope=ag" == second["body"]
        assert "Authorization: ***\nSet-Cookie: ***\nX-Trace: t1" == second["headers"]
        assert (None, None) == (empty.get("body"), empty.get("headers"))

    def test_show_secrets_prints_events_as_leaf_sent_them(
        self, http: LeafMock, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """With --show-secrets the events' bodies and headers are printed unchanged."""
        http.get(EVENTS_URL, payload=EVENTS)

        code, output = run(capsys, "events", "sentera", "u1", "--show-secrets")

        assert 0 == code
        events = json.loads(output)["result"]["events"]
        assert [e.get("body") for e in EVENTS] == [e.get("body") for e in events]


class TestAuditEvents:
    def test_audit_events_masks_the_troubleshooting_log(
        self, http: LeafMock, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`audit --events` writes the log of a bad credential with its secrets masked."""
        http.get(UM + "/users/u1", payload={"id": "u1"})
        http.get(SENTERA_URL, payload={**SENTERA_ANSWER, "status": "UNAUTHENTICATED"})
        http.get(EVENTS_URL, payload=EVENTS)

        code, output = run(
            capsys,
            "audit",
            "--user",
            "u1",
            "--provider",
            "sentera",
            "--events",
            "--progress",
            "never",
        )

        assert 0 == code
        assert [] == leaked(output)
        line: dict[str, Any] = next(
            json.loads(text) for text in output.splitlines() if text.startswith("{")
        )
        assert ["e1", "e2", "e3"] == [event["id"] for event in line["events"]]
        assert "refresh_token=***" in line["events"][1]["body"]
