"""Credential alerts: signatures, delivery records, and webhook registration through LeafSession."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
from datetime import UTC, datetime
from typing import Any

import pytest

import leaf_creds as lc
from leaf_creds._alerts import (
    CONFIRMATION_MESSAGE,
    CREDENTIALS_LIMITED_PERMISSION,
    CREDENTIALS_UNAUTHENTICATED,
    CredentialAlert,
    UnknownAlert,
    Webhook,
    WebhookConfirmation,
    delivery_key,
    mask_secrets,
    parse_alert,
    sign,
    verify_signature,
)
from tests.conftest import BASE, LeafMock, sent, total_requests

WEBHOOKS = BASE + "/services/alerts/api/alerts/webhooks"
SECRET = "webhook-signing-secret-value"
NO_RETRY = lc.RetryPolicy(max_retries=0)
KNOWN = "hee2jN8CdHTw8Lji5jxK+4jKz4o+UDqhMWDykN/FBtQ="  # key "key", body b'{"a": 1}'

# Leaf's documented body (alerts_events.md): `credential` a string, no user id.
ALERT = {
    "credential": "jd-application-id",
    "provider": "JohnDeere",
    "credentialId": "5f0c1b5e-0000-4000-8000-000000000009",
    "message": "the refresh token was revoked",
    "status": "UNAUTHENTICATED",
    "type": "credentialsUnauthenticated",
    "timestamp": "2024-06-15T14:30:00.123456Z",
}
# The shape older leaf_creds fakes sent: still read.
OBJECT_CREDENTIAL = {"clientKey": "jd-client-key-value", "leafUserId": "u1"}
WEBHOOK_ANSWER = {
    "id": "wh-1",
    "name": "credential alerts",
    "url": "https://app.example.com/leaf/alerts",
    "events": [CREDENTIALS_UNAUTHENTICATED, CREDENTIALS_LIMITED_PERMISSION],
    "secret": SECRET,
    "createdTime": "2024-06-15T14:30:00Z",
}


def leaf_signature(body: bytes, secret: str) -> str:
    """Sign a body the way Leaf documents it, independently of the SDK."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def compact(payload: Any) -> bytes:
    return json.dumps(payload, separators=(", ", ": ")).encode()



@pytest.fixture
async def leaf() -> Any:
    async with lc.LeafSession(token="bearer-token-value", retry=NO_RETRY) as session:
        yield session


class TestVerifySignature:
    def test_accepts_the_documented_signature(self) -> None:
        """A base64 HMAC-SHA256 of the raw body, computed by hand, verifies."""
        body = compact(ALERT)

        assert verify_signature(body, SECRET, leaf_signature(body, SECRET))
        assert verify_signature(body, SECRET.encode(), leaf_signature(body, SECRET))

    def test_sign_matches_the_documented_digest(self) -> None:
        """The SDK's own signer (used by the fake server) agrees with Leaf's recipe."""
        body = b'{"message": "confirmation of webhook upon registration"}'

        assert leaf_signature(body, SECRET) == sign(body, SECRET)

    def test_known_answer(self) -> None:
        """The digest of a fixed body and key matches a value computed outside Python's hmac."""
        # printf '{"a": 1}' | openssl dgst -sha256 -hmac key -binary | base64
        assert verify_signature(b'{"a": 1}', "key", KNOWN)
        assert KNOWN == sign(b'{"a": 1}', "key")

    def test_a_changed_body_is_refused(self) -> None:
        """One more space in the body breaks the signature: it covers the raw bytes."""
        body = compact(ALERT)
        signature = leaf_signature(body, SECRET)

        assert not verify_signature(body + b" ", SECRET, signature)
        assert not verify_signature(json.dumps(ALERT).encode(), SECRET, leaf_signature(body, "x"))

    def test_another_secret_is_refused(self) -> None:
        """A body signed with another secret does not verify."""
        body = compact(ALERT)

        assert not verify_signature(body, SECRET, leaf_signature(body, SECRET + "-other"))

    @pytest.mark.parametrize(
        "signature",
        [
            None,
            "",
            "not base64!",
            KNOWN.rstrip("="),  # padding missing
            KNOWN + "==",
            KNOWN.replace("+", "-").replace("/", "_"),  # the URL-safe alphabet
            "AAAA",
            "é" * 44,
            "\x00\x01",
            "sha256=" + "a" * 64,
        ],
    )
    def test_garbage_signatures_are_refused_without_raising(self, signature: str | None) -> None:
        """Missing, malformed, short or non-ASCII signatures give False, never an exception."""
        assert not verify_signature(b'{"a": 1}', "key", signature)

    @pytest.mark.parametrize(
        ("body", "secret", "signature"),
        [
            ("text", SECRET, "AAAA"),
            (None, SECRET, "AAAA"),
            (b"{}", None, "AAAA"),
            (b"{}", 12, "AAAA"),
            (b"{}", SECRET, 12),
            (b"{}", SECRET, b"AAAA"),
        ],
    )
    def test_wrong_types_are_refused_without_raising(
        self, body: Any, secret: Any, signature: Any
    ) -> None:
        """Arguments of the wrong type give False, never an exception."""
        assert not verify_signature(body, secret, signature)

    def test_an_empty_secret_never_verifies(self) -> None:
        """An empty secret is refused even with its own valid signature: anyone can sign with it."""
        assert not verify_signature(b"{}", "", leaf_signature(b"{}", ""))

    def test_random_garbage_never_raises(self) -> None:
        """Thousands of random bodies and headers give a bool and only the right one verifies."""
        rng = random.Random(7)
        for _ in range(3000):
            body = rng.randbytes(rng.randrange(0, 200))
            header = "".join(chr(rng.randrange(0, 0x2FF)) for _ in range(rng.randrange(0, 60)))
            assert not verify_signature(body, SECRET, header)
            assert verify_signature(body, SECRET, leaf_signature(body, SECRET))


class TestParseAlert:
    def test_credential_alert(self) -> None:
        """A credential event becomes a CredentialAlert with typed fields and the raw object."""
        alert = parse_alert(compact(ALERT))

        assert CredentialAlert(
            type=CREDENTIALS_UNAUTHENTICATED,
            provider="JohnDeere",
            credential_id="5f0c1b5e-0000-4000-8000-000000000009",
            status=lc.CredentialStatus.UNAUTHENTICATED,
            message="the refresh token was revoked",
            timestamp=datetime(2024, 6, 15, 14, 30, 0, 123456, tzinfo=UTC),
            credential="jd-application-id",
            raw=ALERT,
        ) == alert

    @pytest.mark.parametrize(
        "credential", ["jd-application-id", OBJECT_CREDENTIAL, ["a", 1], 7, None]
    )
    def test_either_credential_shape_is_accepted(self, credential: Any) -> None:
        """Leaf's string, an object with a user id beside it, or any JSON: kept as sent."""
        payload = {**ALERT, "credential": credential, "leafUserId": "u1"}

        alert = parse_alert(compact(payload))

        assert isinstance(alert, CredentialAlert)
        assert credential == alert.credential
        assert "u1" == alert.raw["leafUserId"]

    def test_limited_permission_with_an_unknown_status(self) -> None:
        """The second credential event parses too, and an unknown status is kept, not refused."""
        payload = {**ALERT, "type": CREDENTIALS_LIMITED_PERMISSION, "status": "READ_ONLY"}

        alert = parse_alert(compact(payload))

        assert isinstance(alert, CredentialAlert)
        assert "READ_ONLY" == alert.status
        assert isinstance(alert.status, lc.CredentialStatus)

    def test_only_the_named_fields_are_required(self) -> None:
        """message and credential may be missing; extra fields stay in raw."""
        payload: dict[str, Any] = {
            k: v for k, v in ALERT.items() if k not in {"message", "credential"}
        }
        payload["newField"] = {"a": 1}

        alert = parse_alert(compact(payload))

        assert isinstance(alert, CredentialAlert)
        assert (None, None) == (alert.message, alert.credential)
        assert {"a": 1} == alert.raw["newField"]

    def test_timestamp_is_aware_utc(self) -> None:
        """Offsets are converted to UTC and a timestamp without offset is taken as UTC."""
        shifted = parse_alert(compact({**ALERT, "timestamp": "2024-06-15T16:30:00+02:00"}))
        naive = parse_alert(compact({**ALERT, "timestamp": "2024-06-15T14:30:00"}))

        assert isinstance(shifted, CredentialAlert)
        assert isinstance(naive, CredentialAlert)
        assert datetime(2024, 6, 15, 14, 30, tzinfo=UTC) == shifted.timestamp == naive.timestamp
        assert UTC == shifted.timestamp.tzinfo

    def test_confirmation(self) -> None:
        """The registration message becomes a WebhookConfirmation."""
        body = compact({"message": CONFIRMATION_MESSAGE})

        assert WebhookConfirmation(
            message=CONFIRMATION_MESSAGE, raw={"message": CONFIRMATION_MESSAGE}
        ) == parse_alert(body)

    def test_unknown_event_is_kept_whole(self) -> None:
        """An event the SDK does not model is an UnknownAlert with its whole object."""
        payload = {"type": "fieldCreated", "fieldId": "f1", "timestamp": "2024-06-15T14:30:00Z"}

        assert UnknownAlert(type="fieldCreated", raw=payload) == parse_alert(compact(payload))

    @pytest.mark.parametrize(
        "change",
        [
            {"credentialId": None},
            {"status": 3},
            {"timestamp": "yesterday"},
            {"timestamp": 1718461800},
            {"provider": ["JohnDeere"]},
        ],
    )
    def test_a_credential_event_that_does_not_fit_is_kept_whole(
        self, change: dict[str, Any]
    ) -> None:
        """A credential event with a missing or mistyped field is an UnknownAlert, never lost."""
        payload = {**ALERT, **change}

        alert = parse_alert(compact(payload))

        assert UnknownAlert(type=CREDENTIALS_UNAUTHENTICATED, raw=payload) == alert

    @pytest.mark.parametrize("kind", [5, [CREDENTIALS_UNAUTHENTICATED], {"a": 1}, True])
    def test_a_type_that_is_not_a_string(self, kind: Any) -> None:
        """A non-string type is kept in raw and the record's type is None."""
        payload = {**ALERT, "type": kind}

        assert UnknownAlert(type=None, raw=payload) == parse_alert(compact(payload))

    @pytest.mark.parametrize(
        "body",
        [b"", b"not json", b"\xff\xfe{", b"[1, 2]", b'"text"', b"null", b"[" * 100_000, b"{" * 5],
    )
    def test_a_body_that_is_not_a_json_object_raises_validation_error(self, body: bytes) -> None:
        """Non-JSON, non-object and absurdly nested bodies raise ValidationError (a LeafError)."""
        with pytest.raises(lc.ValidationError) as caught:
            parse_alert(body)

        assert isinstance(caught.value, lc.LeafError)

    def test_repr_masks_secret_looking_credential_values(self) -> None:
        """The credential's secret-looking values and the raw payload are not printed."""
        text = repr(parse_alert(compact({**ALERT, "credential": OBJECT_CREDENTIAL})))

        assert "jd-client-key-value" not in text
        assert "'clientKey': '***'" in text
        assert "'leafUserId': 'u1'" in text

    def test_secret_looking_values_are_masked_at_any_depth(self) -> None:
        """mask_secrets masks under secret-looking keys inside objects and arrays."""
        data = {"credential": [{"clientSecret": "s-value", "id": 1}], "apiKey": None, "n": 2}

        assert {
            "credential": [{"clientSecret": "***", "id": 1}],
            "apiKey": None,
            "n": 2,
        } == mask_secrets(data)

    def test_a_credential_that_is_not_an_object(self) -> None:
        """A credential sent as a plain value is kept and printed as it is."""
        alert = parse_alert(compact({**ALERT, "credential": "client-1"}))

        assert isinstance(alert, CredentialAlert)
        assert "credential='client-1'" in repr(alert)

    def test_records_are_frozen(self) -> None:
        """Alerts are immutable records."""
        alert = parse_alert(compact(ALERT))
        assert isinstance(alert, CredentialAlert)

        with pytest.raises(AttributeError):
            alert.type = "other"  # type: ignore[misc]


class TestDeliveryKey:
    def test_a_credential_alert_is_identified_by_type_credential_and_timestamp(self) -> None:
        """The same event re-serialized with other spacing and key order has the same key."""
        first = compact(ALERT)
        again = json.dumps(dict(reversed(list(ALERT.items())))).encode()

        assert delivery_key(parse_alert(first), first) == delivery_key(parse_alert(again), again)

    def test_another_status_change_has_another_key(self) -> None:
        """A later alert for the same credential is not a duplicate."""
        first = compact(ALERT)
        later = compact({**ALERT, "timestamp": "2024-06-15T14:31:00Z"})

        assert delivery_key(parse_alert(first), first) != delivery_key(parse_alert(later), later)

    def test_an_unknown_alert_is_identified_by_its_bytes(self) -> None:
        """Unknown events are keyed by a digest of the body."""
        body = b'{"type": "fieldCreated", "fieldId": "f1"}'

        assert "sha256:" + hashlib.sha256(body).hexdigest() == delivery_key(
            parse_alert(body), body
        )

    def test_a_confirmation_has_no_key(self) -> None:
        """Confirmations are never deduplicated."""
        body = compact({"message": CONFIRMATION_MESSAGE})

        assert None is delivery_key(parse_alert(body), body)


class TestRegisterWebhook:
    async def test_posts_the_registration(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """POST /alerts/webhooks sends name, url, secret and, by default, both credential events."""
        http.post(WEBHOOKS, payload=WEBHOOK_ANSWER, status=201)

        webhook = await leaf.register_webhook(
            name="credential alerts", url="https://app.example.com/leaf/alerts", secret=SECRET
        )

        (call,) = sent(http, "POST", WEBHOOKS)
        assert {
            "name": "credential alerts",
            "url": "https://app.example.com/leaf/alerts",
            "secret": SECRET,
            "events": ["credentialsUnauthenticated", "credentialsLimitedPermission"],
        } == json.loads(call.kwargs["data"])
        assert "Bearer bearer-token-value" == call.kwargs["headers"]["Authorization"]
        assert "application/json" == call.kwargs["headers"]["Content-Type"]
        assert Webhook(
            id="wh-1",
            name="credential alerts",
            url="https://app.example.com/leaf/alerts",
            events=(CREDENTIALS_UNAUTHENTICATED, CREDENTIALS_LIMITED_PERMISSION),
            secret=SECRET,
        ) == webhook

    async def test_other_events_and_duplicates(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """Any event name may be registered; one named twice is sent once."""
        http.post(WEBHOOKS, payload={"id": "wh-2"})

        webhook = await leaf.register_webhook(
            name="n",
            url="http://127.0.0.1:8080/hook",
            secret=SECRET,
            events=["fieldCreated", CREDENTIALS_UNAUTHENTICATED, "fieldCreated"],
        )

        (call,) = sent(http, "POST", WEBHOOKS)
        assert ["fieldCreated", CREDENTIALS_UNAUTHENTICATED] == json.loads(call.kwargs["data"])[
            "events"
        ]
        assert Webhook(id="wh-2") == webhook

    async def test_the_secret_never_shows(
        self, http: LeafMock, leaf: lc.LeafSession, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The secret is masked in the record's repr and scrubbed from an error echoing it."""
        http.post(WEBHOOKS, payload=WEBHOOK_ANSWER)
        http.post(
            WEBHOOKS,
            status=400,
            payload={"title": "Bad Request", "detail": f"secret {SECRET} is too weak"},
        )
        caplog.set_level(logging.DEBUG, logger="leaf_creds")

        webhook = await leaf.register_webhook(name="n", url="https://a.example/h", secret=SECRET)
        with pytest.raises(lc.BadRequestError) as caught:
            await leaf.register_webhook(name="n", url="https://a.example/h", secret=SECRET)

        assert "secret='***'" in repr(webhook)
        assert SECRET not in repr(webhook)
        assert SECRET not in str(caught.value)
        assert SECRET not in repr(caught.value.detail)
        assert SECRET not in caplog.text

    async def test_an_unknown_outcome_is_not_retried(self, http: LeafMock) -> None:
        """A 500 on register raises at once: the POST is never sent twice blindly."""
        http.post(WEBHOOKS, status=500, payload={"title": "boom"})
        http.post(WEBHOOKS, payload=WEBHOOK_ANSWER)

        async with lc.LeafSession(
            token="t-value", retry=lc.RetryPolicy(max_retries=3, backoff_base=0)
        ) as leaf:
            with pytest.raises(lc.ServerError):
                await leaf.register_webhook(name="n", url="https://a.example/h", secret=SECRET)

        assert 1 == len(sent(http, "POST", WEBHOOKS))

    async def test_a_refusal_that_was_not_processed_is_retried(self, http: LeafMock) -> None:
        """A 503 says nothing was registered, so the POST is sent again."""
        http.post(WEBHOOKS, status=503)
        http.post(WEBHOOKS, payload=WEBHOOK_ANSWER)

        async with lc.LeafSession(
            token="t-value", retry=lc.RetryPolicy(max_retries=3, backoff_base=0)
        ) as leaf:
            webhook = await leaf.register_webhook(
                name="n", url="https://a.example/h", secret=SECRET
            )

        assert "wh-1" == webhook.id
        assert 2 == len(sent(http, "POST", WEBHOOKS))

    @pytest.mark.parametrize(
        ("options", "where"),
        [
            ({"name": ""}, "$.name"),
            ({"name": None}, "$.name"),
            ({"url": "ftp://a.example/h"}, "$.url"),
            ({"url": "/relative/path"}, "$.url"),
            ({"url": "not a url at all"}, "$.url"),
            ({"url": "http://[::1/hook"}, "$.url"),
            ({"url": 5}, "$.url"),
            ({"secret": ""}, "$.secret"),
            ({"secret": b"bytes"}, "$.secret"),
            ({"events": []}, "$.events"),
            ({"events": "credentialsUnauthenticated"}, "$.events"),
            ({"events": [""]}, "$.events[0]"),
            ({"events": [CREDENTIALS_UNAUTHENTICATED, 3]}, "$.events[1]"),
        ],
    )
    async def test_input_is_checked_before_any_request(
        self, http: LeafMock, leaf: lc.LeafSession, options: dict[str, Any], where: str
    ) -> None:
        """Bad input raises ValidationError naming the field, and nothing is sent."""
        arguments: dict[str, Any] = {
            "name": "n",
            "url": "https://a.example/h?token=url-token-value",
            "secret": SECRET,
            **options,
        }

        with pytest.raises(lc.ValidationError) as caught:
            await leaf.register_webhook(**arguments)

        assert any(line.endswith("@ " + where) for line in caught.value.errors)
        assert SECRET not in str(caught.value)
        assert "url-token-value" not in str(caught.value)
        assert 0 == total_requests(http)

    async def test_every_problem_is_listed(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """All invalid fields are reported at once."""
        with pytest.raises(lc.ValidationError) as caught:
            await leaf.register_webhook(name="", url="", secret="", events=[])

        assert 4 == len(caught.value.errors)
        assert 0 == total_requests(http)

    async def test_an_answer_without_id_is_a_decode_error(
        self, http: LeafMock, leaf: lc.LeafSession
    ) -> None:
        """An answer that does not fit a webhook raises DecodeError without the secret."""
        http.post(WEBHOOKS, payload={"name": "n", "secret": SECRET})
        http.post(WEBHOOKS, payload=[])

        for _ in range(2):
            with pytest.raises(lc.DecodeError) as caught:
                await leaf.register_webhook(name="n", url="https://a.example/h", secret=SECRET)
            assert SECRET not in str(caught.value)


class TestListGetDeleteWebhooks:
    async def test_list(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """GET /alerts/webhooks answers every webhook, unknown keys ignored."""
        http.get(WEBHOOKS, payload=[WEBHOOK_ANSWER, {"id": "wh-2", "events": ["fieldCreated"]}])

        webhooks = await leaf.webhooks()

        assert ["wh-1", "wh-2"] == [webhook.id for webhook in webhooks]
        assert ("fieldCreated",) == webhooks[1].events
        assert SECRET not in repr(webhooks)

    async def test_list_must_be_an_array(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """A list answer that is not a JSON array raises DecodeError."""
        http.get(WEBHOOKS, payload={"content": []})

        with pytest.raises(lc.DecodeError):
            await leaf.webhooks()

    async def test_get_one(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """GET /alerts/webhooks/{id} answers that webhook."""
        http.get(WEBHOOKS + "/wh-1", payload=WEBHOOK_ANSWER)

        webhook = await leaf.webhook("wh-1")

        assert "https://app.example.com/leaf/alerts" == webhook.url

    async def test_get_missing(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """A 404 raises NotFoundError."""
        http.get(WEBHOOKS + "/nope", status=404, payload={"title": "Not Found"})

        with pytest.raises(lc.NotFoundError):
            await leaf.webhook("nope")

    async def test_delete(self, http: LeafMock, leaf: lc.LeafSession) -> None:
        """DELETE /alerts/webhooks/{id} accepts a 204 with no body."""
        http.delete(WEBHOOKS + "/wh-1", status=204, body="")

        await leaf.delete_webhook("wh-1")

        assert 1 == len(sent(http, "DELETE", WEBHOOKS + "/wh-1"))

    async def test_delete_is_retried(self, http: LeafMock) -> None:
        """A DELETE lost on the way is sent again, and a later 404 means it was applied."""
        http.delete(WEBHOOKS + "/wh-1", status=502)
        http.delete(WEBHOOKS + "/wh-1", status=404, payload={"title": "Not Found"})

        async with lc.LeafSession(
            token="t-value", retry=lc.RetryPolicy(max_retries=2, backoff_base=0)
        ) as leaf:
            await leaf.delete_webhook("wh-1")

        assert 2 == len(sent(http, "DELETE", WEBHOOKS + "/wh-1"))

    @pytest.mark.parametrize(("webhook_id", "segment"), [("a/b", "a%2Fb"), ("x?y#z", "x%3Fy%23z")])
    async def test_id_is_one_path_segment(
        self, raw_paths: Any, webhook_id: str, segment: str
    ) -> None:
        """A webhook id is percent-encoded as exactly one path segment."""
        base, seen = raw_paths
        async with lc.LeafSession(token="t-value", base_url=base, retry=NO_RETRY) as leaf:
            await leaf.webhook(webhook_id)
            await leaf.delete_webhook(webhook_id)

        assert [f"/services/alerts/api/alerts/webhooks/{segment}"] * 2 == seen

    @pytest.mark.parametrize("webhook_id", ["", " ", ".", "..", None, 7])
    async def test_bad_ids_are_refused_before_any_request(
        self, http: LeafMock, leaf: lc.LeafSession, webhook_id: Any
    ) -> None:
        """Empty, dot and non-string ids raise ValidationError, and nothing is sent."""
        with pytest.raises(lc.ValidationError):
            await leaf.webhook(webhook_id)
        with pytest.raises(lc.ValidationError):
            await leaf.delete_webhook(webhook_id)

        assert 0 == total_requests(http)
