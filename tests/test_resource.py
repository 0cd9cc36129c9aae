"""CredentialResource: a provider of your own from plain attrs classes, and its input checks.

The input checks are tested at their edges: exact messages, types, odd
inputs. Those tests were written against the mutants that survived the
module's other tests: each names, in a comment, the mutant of _resource.py
it kills. tests/test_validation_all_problems.py covers which problems a body
reports; these pin how they are worded and what reaches each check.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import cattrs
import pytest
from cattrs.gen import make_dict_structure_fn, override

import leaf_creds as lc
from tests.conftest import UM, LeafMock, total_requests
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


@attrs.frozen(kw_only=True)
class Farm:
    farm_name: str
    note: str | None
    head_count: int | None = None
    environments: list[lc.ClientEnvironment] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class FarmRecord:
    """A record with only Leaf's two always-present fields."""

    id: str
    status: str


def farm() -> lc.CredentialResource[Farm, FarmRecord]:
    """Return a new resource for Farm, so its cached field checks are made in the test.

    (mutmut forks each mutant's run from a process that already ran the
    tests once: what a module-level resource cached then hides a mutant.)
    """
    return lc.CredentialResource("farm-app", Farm, FarmRecord)


def sentera(**values: Any) -> Any:
    """Return SenteraCredentials holding whatever values the test needs, typed or not."""
    return lc.SenteraCredentials(**values)


def refused(call: Any, *args: Any, **kwargs: Any) -> lc.ValidationError:
    with pytest.raises(lc.ValidationError) as info:
        call(*args, **kwargs)
    return info.value


class TestValidate:
    def test_a_non_string_in_a_string_field(self) -> None:
        """An int where Leaf wants a string is named, with its type."""
        # Kills the str check switched off (wants_str=None, _accepts_str(str)
        # false) and type(value) changed to type(None) in the message.
        credentials = sentera(username=7, password="p", organization_name="Acme")

        error = refused(lc.SENTERA.validate, credentials)

        assert ("expected a string, got int @ $.username",) == error.errors
        values: dict[str, Any] = {"farm_name": 7, "note": "n"}
        error = refused(farm().validate, Farm(**values))
        assert ("expected a string, got int @ $.farmName",) == error.errors

    def test_a_non_string_in_an_optional_string_field(self) -> None:
        """An optional string field that is set must hold a string too."""
        # Kills each mutant of _accepts_str's `str | None` branch (origin or
        # args looked up on None, `not in`).
        values: dict[str, Any] = {"farm_name": "Hill", "note": 5}
        credentials = Farm(**values)

        error = refused(farm().validate, credentials)

        assert ("expected a string, got int @ $.note",) == error.errors

    def test_optional_fields_of_other_types_are_not_strings(self) -> None:
        """An `int | None` field holding an int and a list field pass: only str fields need str."""
        # Kills `origin in {...} or str in args` and `annotation is not str`.
        credentials = Farm(
            farm_name="Hill",
            note="by the river",
            head_count=40,
            environments=[lc.ClientEnvironment.STAGE],
        )

        assert credentials is farm().validate(credentials)

    def test_none_in_a_required_field_is_worded(self) -> None:
        """None in a required field says exactly that."""
        # Kills "required field is None" reworded.
        credentials = sentera(username="g", password=None, organization_name="Acme")

        error = refused(lc.SENTERA.validate, credentials)

        assert ("required field is None @ $.password",) == error.errors

    def test_several_problems_in_one_message(self) -> None:
        """Several problems are listed in field order, joined by "; ", after the slug."""
        # Kills the "; " separator changed, and a None problem joined into the
        # message (the `problem is not None` filter inverted).
        credentials = sentera(username=7, password=" ", organization_name=None)

        error = refused(lc.SENTERA.validate, credentials)

        assert (
            "expected a string, got int @ $.username",
            "must not be empty @ $.password",
            "required field is None @ $.organizationName",
        ) == error.errors
        assert (
            "invalid sentera credentials: expected a string, got int @ $.username; "
            "must not be empty @ $.password; required field is None @ $.organizationName"
        ) == str(error)

    def test_another_schema_is_named(self) -> None:
        """Another provider's schema is refused, naming both classes."""
        # Kills type(credentials) changed to type(None) in the message.
        error = refused(lc.SENTERA.validate, lc.SENTERA)

        assert "sentera expects SenteraCredentials, got CredentialResource" == str(error)

    async def test_nothing_is_sent(self, http: LeafMock) -> None:
        """A create whose schema instance holds a non-string is refused before any request."""
        credentials = sentera(username="g", password=1234, organization_name="Acme")

        async with lc.LeafSession(token="t") as leaf:
            with pytest.raises(lc.ValidationError, match=r"expected a string, got int @ \$\.pass"):
                await leaf.create(lc.SENTERA, "u1", credentials)

        assert 0 == total_requests(http)


class TestCredentialsFromWire:
    @pytest.mark.parametrize(
        ("body", "kind"),
        [
            ("", "str"),
            ("abc", "str"),
            (None, "NoneType"),
            ([], "list"),
            (42, "int"),
            (b"", "bytes"),
        ],
    )
    def test_not_a_mapping(self, body: Any, kind: str) -> None:
        """Anything but a JSON object is refused as a whole, naming its type."""
        # Kills type(body) changed to type(None); without the check, "" would
        # report the missing fields and "abc" three unknown keys instead.
        error = refused(lc.SENTERA.credentials_from_wire, body)

        message = f"sentera credentials must be a JSON object, got {kind}"
        assert (message,) == error.errors
        assert message == str(error)

    def test_none_in_a_required_optional_field(self) -> None:
        """A required field typed `str | None` given null is reported with the other problems."""
        # Kills _value_problem(value, None, ...) in the per-field check.
        body = {"farmName": "", "note": None, "headCount": "many"}

        error = refused(farm().credentials_from_wire, body)

        assert (
            "must not be empty @ $.farmName",
            "required field is None @ $.note",
            "invalid value for type, expected int | None @ $.headCount",
        ) == error.errors

    def test_a_bad_item_in_a_list_field(self) -> None:
        """A bad enum value inside a list is named by its wire path and index, in our words."""
        # Kills each change to the transform_error(...) call of a field that
        # fails as a whole: the exception, path= and format_exception= dropped.
        body = {"farmName": "Hill", "note": "n", "environments": ["STAGE", "DEV"]}

        error = refused(farm().credentials_from_wire, body)

        assert ("must be one of STAGE, PRODUCTION @ $.environments[1]",) == error.errors

    def test_our_own_error_in_a_validator_is_shown_as_is(self) -> None:
        """A class validator raising ValidationError shows its own message."""
        # Kills _describe returning str(None), the class-level failure dropped
        # (failure = None, `failure is None`, _explain(None)) and
        # format_exception= dropped from _explain's transform_error.

        def known_farm(instance: Any, attribute: Any, value: str) -> None:
            if value != "Hill":
                raise lc.ValidationError("no such farm")

        @attrs.frozen(kw_only=True)
        class Checked:
            farm: str = attrs.field(validator=known_farm)

        resource = lc.CredentialResource("checked", Checked, FarmRecord)

        error = refused(resource.credentials_from_wire, {"farm": "Dale"})

        assert ("no such farm @ $",) == error.errors
        assert Checked(farm="Hill") == resource.credentials_from_wire({"farm": "Hill"})

    def test_a_custom_attribute_hook_is_named_by_wire_name(self) -> None:
        """A converter's own hook for one attribute that refuses a value names its wire key."""
        # Kills the attribute-to-wire renaming of class-level errors (its map
        # set to None, its pattern or group changed, the replacement None).
        # The per-field check passes (the value is a str); only the class's
        # hook, with its per-attribute override, refuses it.

        @attrs.frozen(kw_only=True)
        class Pin:
            pin_code: str

        def four_digits(value: Any, _: Any) -> str:
            if not (isinstance(value, str) and value.isdigit() and len(value) == 4):
                raise ValueError("a PIN is four digits")
            return value

        converter = lc.make_converter()
        hook = make_dict_structure_fn(
            Pin, converter, pin_code=override(rename="pinCode", struct_hook=four_digits)
        )
        converter.register_structure_hook(Pin, hook)
        resource = lc.CredentialResource("pin", Pin, FarmRecord)

        error = refused(resource.credentials_from_wire, {"pinCode": "12a"}, converter=converter)

        assert ("invalid value for type, expected str @ $.pinCode",) == error.errors
        assert Pin(pin_code="1234") == resource.credentials_from_wire(
            {"pinCode": "1234"}, converter=converter
        )

    def test_a_plain_converter_error_is_its_text(self) -> None:
        """With a converter without detailed validation, the class's error is its text."""
        # Kills `return [str(exc)]` changed to str(None).

        @attrs.frozen
        class Pin:
            pin: str

            def __attrs_post_init__(self) -> None:
                if self.pin == "0000":
                    raise ValueError("0000 is taken")

        resource = lc.CredentialResource("pin", Pin, FarmRecord)
        plain = cattrs.Converter(detailed_validation=False)

        error = refused(resource.credentials_from_wire, {"pin": "0000"}, converter=plain)

        assert ("0000 is taken",) == error.errors


class TestResourceDefinition:
    def test_a_record_of_exactly_id_and_status(self) -> None:
        """A record with only `id` and `status` is enough."""
        # Kills `keys() >= {"id", "status"}` changed to `>`.
        assert FarmRecord is lc.CredentialResource("x", Farm, FarmRecord).record

    def test_name(self) -> None:
        """The display name is the slug when not given, and kept when given."""
        # Kills `if not self.name` inverted and the slug replaced by None.
        assert "farm-app" == farm().name
        assert "Farm App" == lc.CredentialResource("farm-app", Farm, FarmRecord, "Farm App").name

    def test_messages(self) -> None:
        """Each refused definition says what was expected and what was given."""
        # Kills each of these messages replaced by None or reworded.
        assert "a provider slug is lowercase words joined by '-', got 'Farm App'" == str(
            refused(lc.CredentialResource, "Farm App", Farm, FarmRecord)
        )
        assert (
            f"record {Farm!r} must be an attrs class with 'id' and 'status' fields "
            "(e.g. a subclass of CredentialRecord)"
        ) == str(refused(lc.CredentialResource, "x", Farm, Farm))
        assert "app_key must be an AppKeySpec, got 5" == str(
            refused(lc.CredentialResource, "x", Farm, FarmRecord, app_key=5)
        )

    def test_app_key(self) -> None:
        """An AppKeySpec is accepted as the resource's app_key."""
        # Kills `not isinstance(self.app_key, AppKeySpec)` inverted.
        spec = lc.AppKeySpec("FarmApp", Farm)

        assert spec is lc.CredentialResource("x", Farm, FarmRecord, app_key=spec).app_key

    @pytest.mark.parametrize("name", ["JohnDeere", "CNHIFieldOps", "Raven2"])
    def test_good_link_names(self, name: str) -> None:
        """A Magic Link provider name like JohnDeere is accepted."""
        # Kills the check inverted, `and` turned into `or`, and the regex given None.
        resource = lc.CredentialResource("x", Farm, FarmRecord, link_name=name)

        assert name == resource.link_name

    @pytest.mark.parametrize("name", ["john deere", "", "2Deere", 7])
    def test_bad_link_names(self, name: Any) -> None:
        """Anything but a name like JohnDeere is refused, and shown."""
        # Kills the value read as None (nothing checked) and the message replaced by None.
        error = refused(lc.CredentialResource, "x", Farm, FarmRecord, link_name=name)

        assert f"link_name must be a name like 'JohnDeere', got {name!r}" == str(error)


class TestPathSegments:
    @pytest.mark.parametrize(
        ("key_id", "message"),
        [
            (42, "an API key id must be a string, got int"),
            (" ", "an API key id must not be empty"),
            ("..", "'..' is not a valid API key id"),
            (
                "k\ud800",
                "an API key id must be valid Unicode text (a lone surrogate at position 1)",
            ),
        ],
    )
    async def test_an_id_named_with_an(self, http: LeafMock, key_id: Any, message: str) -> None:
        """A bad id is refused before sending, in words that take "an" before a vowel."""
        # Kills the article's rule changed (and/or True/False, upper(), [:2],
        # `not in`, its strings) and each message replaced by None.
        async with lc.LeafSession(token="t") as leaf:
            with pytest.raises(lc.ValidationError) as info:
                await leaf.api_keys.revoke(key_id)

        assert message == str(info.value)
        assert 0 == total_requests(http)

    @pytest.mark.parametrize(
        ("user_id", "message"),
        [
            (None, "a Leaf user id must be a string, got NoneType"),
            ("", "a Leaf user id must not be empty"),
            (".", "'.' is not a valid Leaf user id"),
        ],
    )
    async def test_a_user_id_named_with_a(self, http: LeafMock, user_id: Any, message: str) -> None:
        """A bad user id is refused before sending, as "a Leaf user id"."""
        # Kills "Leaf user id" reworded and the article's "a" changed.
        async with lc.LeafSession(token="t") as leaf:
            with pytest.raises(lc.ValidationError) as info:
                await leaf.get(lc.SENTERA, user_id)

        assert message == str(info.value)
        assert 0 == total_requests(http)
