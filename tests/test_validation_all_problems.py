"""Every problem of a create body is reported at once, not one stage at a time."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

import leaf_creds as lc
from tests.conftest import LeafMock, total_requests


def problems(resource: lc.CredentialResource[Any, Any], body: Any) -> set[str]:
    with pytest.raises(lc.ValidationError) as caught:
        resource.credentials_from_wire(body)
    return set(caught.value.errors)


class TestCredentialsFromWire:
    def test_missing_fields_and_an_empty_value(self) -> None:
        """An empty value is reported along with the missing fields."""
        assert {
            "required field missing @ $.username",
            "required field missing @ $.password",
            "must not be empty @ $.organizationName",
        } == problems(lc.SENTERA, {"organizationName": ""})

    def test_an_unknown_key_and_a_wrong_type(self) -> None:
        """An unknown key does not hide a value of the wrong type."""
        body = {"username": 1, "password": "p", "organizationName": "Acme", "nickname": "x"}

        assert {
            "unknown field @ $.nickname",
            "invalid value for type, expected str @ $.username",
        } == problems(lc.SENTERA, body)

    def test_an_unknown_key_and_an_empty_value(self) -> None:
        """An unknown key does not hide an empty value either."""
        body = {"username": "g", "password": " ", "organizationName": "Acme", "extra": 1}

        assert {"unknown field @ $.extra", "must not be empty @ $.password"} == problems(
            lc.SENTERA, body
        )

    def test_several_bad_values(self) -> None:
        """A wrong type, an empty string and an unknown enum value are all listed."""
        body = {
            "clientId": "",
            "clientSecret": 7,
            "subscriptionKey": "k",
            "refreshToken": "r",
            "clientEnvironment": "SANDBOX",
        }

        assert {
            "must not be empty @ $.clientId",
            "invalid value for type, expected str @ $.clientSecret",
            "must be one of STAGE, PRODUCTION @ $.clientEnvironment",
        } == problems(lc.CNHI, body)

    def test_a_valid_body_still_builds_the_schema(self) -> None:
        """A body with no problem becomes the provider's schema."""
        body = {"username": "g", "password": "p", "organizationName": "Acme"}

        assert lc.SenteraCredentials(
            username="g", password="p", organization_name="Acme"
        ) == lc.SENTERA.credentials_from_wire(body)

    def test_a_class_validator_is_still_reported(self) -> None:
        """A problem only the schema class sees (its own validator) is still reported."""

        @attrs.frozen(kw_only=True)
        class Pin:
            pin: str = attrs.field(validator=attrs.validators.matches_re(r"\d{4}"))

        @attrs.frozen(kw_only=True)
        class PinRecord(lc.CredentialRecord):
            pass

        resource = lc.CredentialResource("pin", Pin, PinRecord)

        assert 1 == len(problems(resource, {"pin": "abc"}))

    def test_secrets_stay_out_of_the_message(self) -> None:
        """Listing more problems never prints a value."""
        body = {"username": 1, "password": "S3cret-value", "organizationName": "", "x": "S3cret"}

        with pytest.raises(lc.ValidationError) as caught:
            lc.SENTERA.credentials_from_wire(body)

        assert "S3cret" not in str(caught.value)


class TestThroughTheSession:
    async def test_create_lists_everything_and_sends_nothing(self, http: LeafMock) -> None:
        """leaf.create() with a bad body reports every problem before a request."""
        async with lc.LeafSession(token="t") as leaf:
            with pytest.raises(lc.ValidationError) as caught:
                await leaf.create("sentera", "u1", {"organizationName": ""})

        assert 3 == len(caught.value.errors)
        assert 0 == total_requests(http)


@attrs.frozen(kw_only=True)
class Farm:
    number: int


@attrs.frozen(kw_only=True)
class NestedCredentials:
    api_key: str
    farm: Farm


@attrs.frozen(kw_only=True)
class NestedRecord(lc.CredentialRecord):
    pass


NESTED = lc.CredentialResource("nested", NestedCredentials, NestedRecord)


class TestFieldKinds:
    def test_a_nested_class_reports_its_inner_path(self) -> None:
        """A bad value inside a nested attrs field is reported at its path, with the others."""
        found = problems(NESTED, {"apiKey": "", "farm": {"number": "x"}})

        assert "must not be empty @ $.apiKey" in found
        assert any(problem.endswith("@ $.farm.number") for problem in found)

    def test_a_field_without_annotation_is_taken_as_is(self) -> None:
        """A schema field with no type (attrs.make_class) is checked for emptiness only."""
        schema = attrs.make_class("Untyped", ["token"], frozen=True)
        resource: lc.CredentialResource[Any, NestedRecord] = lc.CredentialResource(
            "untyped", schema, NestedRecord
        )

        assert {"unknown field @ $.x", "must not be empty @ $.token"} == problems(
            resource, {"token": " ", "x": 1}
        )

    def test_validate_names_a_wrong_type(self) -> None:
        """validate() of a built instance lists a non-string value of a string field."""
        credentials: Any = lc.SenteraCredentials(
            username=1,  # type: ignore[arg-type]
            password="",
            organization_name="Acme",
        )

        with pytest.raises(lc.ValidationError) as caught:
            lc.SENTERA.validate(credentials)

        assert (
            "expected a string, got int @ $.username",
            "must not be empty @ $.password",
        ) == caught.value.errors
