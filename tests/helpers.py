"""What several test files share: answers, credentials, resources and small readers.

Test files import from here (or take a fixture from conftest.py), never from
another test file.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

import attrs
import pytest

import leaf_creds as lc
from tests.conftest import UM, LeafMock

# Sentera credentials of user u1, as Leaf answers them (from test_session.py).
SENTERA_URL = UM + "/users/u1/sentera-credentials"

SENTERA_ANSWER = {
    "id": "5f0c1b5e-0000-4000-8000-000000000001",
    "status": "OK",
    "createdTime": "2024-05-06T07:08:09.123456Z",
    "username": "grower",
    "authToken": "sentera-auth-token-value",
    "organizationId": "org-1",
    "organizationName": "Acme Farms",
}


def sentera_credentials() -> lc.SenteraCredentials:
    return lc.SenteraCredentials(
        username="grower", password="hunter2-password", organization_name="Acme Farms"
    )


# A provider of the app's own, registered beside Leaf's (from test_registry.py).
@attrs.frozen(kw_only=True)
class AcmeCredentials:
    api_key: str = attrs.field(repr=lc.masked)
    farm_code: str


@attrs.frozen(kw_only=True)
class AcmeRecord(lc.CredentialRecord):
    farm_code: str | None = None


ACME = lc.CredentialResource(slug="acme", schema=AcmeCredentials, record=AcmeRecord)


# A reading of a Sentera credential that fails (from test_mutation_gaps.py).
FAILING_RETRY = lc.RetryPolicy(max_retries=0, rate_limit_max_wait=0)


async def failed_sentera_get(
    http: LeafMock, error: type[lc.LeafError] = lc.DecodeError, **kw: Any
) -> Any:
    """Read user u1's Sentera credential with no retry; return the `error` it raises."""
    async with lc.LeafSession(token="bearer-token-value", retry=FAILING_RETRY, **kw) as leaf:
        with pytest.raises(error) as info:
            await leaf.get(lc.SENTERA, "u1")
    return info.value


# A Leaf alert, as its body is sent (from test_receiver.py).
ALERT = {
    "type": "credentialsUnauthenticated",
    "provider": "JohnDeere",
    "credentialId": "5f0c1b5e-0000-4000-8000-000000000009",
    "status": "UNAUTHENTICATED",
    "message": "the refresh token was revoked",
    "timestamp": "2024-06-15T14:30:00.123456Z",
    "credential": "jd-application-id",  # Leaf: "the client identification"
}


def encode(payload: Any) -> bytes:
    return json.dumps(payload, separators=(", ", ": ")).encode()


def alert_body(**changes: Any) -> bytes:
    return encode({**ALERT, **changes})


# The elements of an HTML page (from test_fake_onboarding.py).
class Elements(HTMLParser):
    """Every element of a page that has an id: its attributes and its text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.by_id: dict[str, dict[str, str | None]] = {}
        self.text: dict[str, str] = {}
        self.hidden: list[tuple[str, str]] = []
        self._open: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("type") == "hidden":
            self.hidden.append((str(found.get("name")), str(found.get("value"))))
        element_id = found.get("id")
        if element_id:
            self.by_id[element_id] = {**found, "tag": tag}
            self.text[element_id] = ""
            if tag not in ("input", "img"):
                self._open.append(element_id)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self.by_id[self._open[-1]]["tag"] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for element_id in self._open:
            self.text[element_id] += data
