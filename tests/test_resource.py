"""CredentialResource: a provider of your own from plain attrs classes."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest

import leaf_creds as lc
from tests.conftest import UM, LeafMock
from tests.helpers import ACME, AcmeCredentials, AcmeRecord


@attrs.frozen(kw_only=True)
class OddCredentials:
    app_id: str = attrs.field(metadata=lc.wire("APPID"))
    pin_code: str = attrs.field(repr=False)
    note: str | None = None


@attrs.frozen(kw_only=True)
class OddRecord(lc.CredentialRecord):
    app_id: str | None = attrs.field(default=None, metadata=lc.wire("APPID"))


ODD = lc.CredentialResource("odd-provider", OddCredentials, OddRecord)


class TestOwnProvider:
    async def test_plugin_classes_need_no_converter_code(self, http: LeafMock) -> None:
        """Plain attrs classes get camelCase wire names and decoding for free."""
        url = UM + "/users/u1/acme-credentials"
        http.post(url, payload={"id": "a", "status": "OK", "farmCode": "F7", "x": 1})
        registry = lc.default_registry(plugins=False)
        registry.register(ACME)

        async with lc.LeafSession(token="t", registry=registry) as leaf:
            credentials = AcmeCredentials(api_key="k-123", farm_code="F7")
            record = await leaf.create("acme", "u1", credentials)

        ((_, calls),) = http.requests.items()
        assert {"apiKey": "k-123", "farmCode": "F7"} == json.loads(calls[0].kwargs["data"])
        assert AcmeRecord(id="a", status=lc.CredentialStatus.OK, farm_code="F7") == record

    async def test_explicit_wire_names_and_omitted_optionals(self, http: LeafMock) -> None:
        """A field's wire() name is used both ways; unset optional fields are not sent."""
        url = UM + "/users/u1/odd-provider-credentials"
        http.post(url, payload={"id": "a", "status": "OK", "APPID": "app"})

        async with lc.LeafSession(token="t") as leaf:
            record = await leaf.create(ODD, "u1", OddCredentials(app_id="app", pin_code="1234"))

        ((_, calls),) = http.requests.items()
        assert {"APPID": "app", "pinCode": "1234"} == json.loads(calls[0].kwargs["data"])
        assert "app" == record.app_id

    def test_fields_describe_the_create_body(self) -> None:
        """fields lists wire names, required-ness and secrecy in declaration order."""
        assert [
            lc.CreateField("app_id", "APPID", required=True, secret=False),
            lc.CreateField("pin_code", "pinCode", required=True, secret=True),
            lc.CreateField("note", "note", required=False, secret=False),
        ] == list(ODD.fields)

    def test_secret_by_name_when_not_declared(self) -> None:
        """A field named like a secret counts as one even without repr=masked."""

        @attrs.frozen
        class Careless:
            refresh_token: str
            account_password: str
            client_id: str

        resource = lc.CredentialResource("careless", Careless, lc.CredentialRecord)

        assert {"refresh_token": True, "account_password": True, "client_id": False} == {
            f.name: f.secret for f in resource.fields
        }

    def test_name_defaults_to_slug(self) -> None:
        """A resource's display name is its slug unless given."""
        assert "acme" == ACME.name
        assert "Sentera" == lc.SENTERA.name
        assert "<CredentialResource 'acme'>" == repr(ACME)

    def test_paths(self) -> None:
        """Paths are /users/{encoded id}/{slug}-credentials and its /events."""
        assert "/users/a%2Fb/acme-credentials" == ACME.path("a/b")
        assert "/users/u1/acme-credentials/events" == ACME.events_path("u1")

    @pytest.mark.parametrize("slug", ["", "Acme", "acme_co", "-acme", "acme-", "a--b", "a b"])
    def test_bad_slugs(self, slug: str) -> None:
        """A slug is lowercase words joined by single dashes."""
        with pytest.raises(lc.ValidationError):
            lc.CredentialResource(slug, AcmeCredentials, AcmeRecord)

    def test_classes_must_be_attrs(self) -> None:
        """Schema and record must be attrs classes, the record a CredentialRecord."""

        class NotAttrs:
            pass

        @attrs.frozen
        class NotARecord:
            id: str

        with pytest.raises(lc.ValidationError, match="schema"):
            lc.CredentialResource("x", NotAttrs, AcmeRecord)
        with pytest.raises(lc.ValidationError, match="CredentialRecord"):
            lc.CredentialResource("x", AcmeCredentials, NotARecord)  # type: ignore[type-var]

    def test_credentials_from_wire(self) -> None:
        """A camelCase body becomes the schema; it must be a JSON object."""
        assert AcmeCredentials(api_key="k", farm_code="f") == ACME.credentials_from_wire(
            {"apiKey": "k", "farmCode": "f"}
        )
        with pytest.raises(lc.ValidationError, match="JSON object"):
            ACME.credentials_from_wire(["apiKey"])  # type: ignore[arg-type]

    def test_validate_returns_the_instance(self) -> None:
        """validate() hands back the same, now typed, instance."""
        credentials: Any = AcmeCredentials(api_key="k", farm_code="f")

        assert credentials is ACME.validate(credentials)

    def test_validation_error_is_a_value_error(self) -> None:
        """ValidationError is both a LeafError and a ValueError, with every problem listed."""
        with pytest.raises(lc.ValidationError) as info:
            ACME.credentials_from_wire({"apiKey": 1})

        error: object = info.value
        assert isinstance(error, ValueError)
        assert isinstance(error, lc.LeafError)
        assert (
            "required field missing @ $.farmCode",
            "invalid value for type, expected str @ $.apiKey",
        ) == info.value.errors
