"""Every built-in provider: wire names, defaults, records and secret masking."""

from __future__ import annotations

import importlib
import json
import pkgutil
from typing import Any

import attrs
import pytest

import leaf_creds as lc
import leaf_creds.providers
from leaf_creds.providers import TokenMetadata

from .conftest import UM, LeafMock, total_requests

USER = "user-1"

# Leaf's provider table (shared/leaf-api/README.md), copied by hand so that a
# schema drifting from the documentation fails here: slug -> (required create
# fields, optional create fields with their defaults, response fields).
# FarmEngage, Panorama and Agrimatics give no R/O; the providers' modules
# document why all their fields are taken as required.
DOCUMENTED: dict[str, tuple[tuple[str, ...], dict[str, str | None], tuple[str, ...]]] = {
    "sentera": (
        ("username", "password", "organizationName"),
        {},
        ("username", "authToken", "organizationId", "organizationName"),
    ),
    "cnhi": (
        ("clientId", "clientSecret", "subscriptionKey", "refreshToken", "clientEnvironment"),
        {},
        ("clientId", "clientSecret", "refreshToken", "clientEnvironment", "subscriptionKey"),
    ),
    "john-deere": (
        ("clientKey", "clientSecret", "refreshToken", "clientEnvironment"),
        {},
        (
            "tokenMetadata",
            "clientKey",
            "clientSecret",
            "accessToken",
            "refreshToken",
            "clientEnvironment",
        ),
    ),
    "climate-field-view": (
        ("clientId", "clientSecret", "apiKey", "refreshToken"),
        {},
        ("tokenMetadata", "clientId", "clientSecret", "apiKey", "refreshToken", "accessToken"),
    ),
    # The providers reference "requires clientEnvironment" (onboarding.md 6.2),
    # though the provider page says optional: required, as for CNHI.
    "cnhi-field-ops": (
        ("clientId", "clientSecret", "subscriptionKey", "refreshToken", "clientEnvironment"),
        {},
        ("clientId", "clientSecret", "refreshToken", "clientEnvironment", "subscriptionKey"),
    ),
    "trimble": (
        ("clientId", "clientSecret", "refreshToken"),
        {},
        ("tokenMetadata", "clientId", "clientSecret", "accessToken", "refreshToken"),
    ),
    "farm-engage": (
        ("clientId", "clientSecret", "refreshToken"),
        {},
        # Undocumented response: the create fields and the usual OAuth ones.
        ("tokenMetadata", "clientId", "clientSecret", "accessToken", "refreshToken"),
    ),
    "ag-leader": (
        ("refreshToken", "publicKey", "privateKey"),
        {"accessToken": None},
        ("accessToken", "refreshToken", "publicKey", "privateKey"),
    ),
    "raven": (
        ("clientId", "clientSecret", "refreshToken"),
        {},
        ("tokenMetadata", "clientId", "clientSecret", "refreshToken", "accessToken"),
    ),
    "raven-slingshot": (
        ("apiKey", "accessKey", "sharedSecret"),
        {},
        ("apiKey", "accessKey", "sharedSecret"),
    ),
    "stara": (
        ("apiKey", "accessToken", "accessTokenClient", "refreshToken"),
        {},
        ("accessTokenClient", "refreshToken", "accessToken", "apiKey"),
    ),
    "agvance": (
        ("apiKey", "databaseId", "username", "password"),
        {"clientEnvironment": "STAGE"},
        ("clientEnvironment", "username", "password", "databaseId", "sessionId", "apiKey"),
    ),
    "lindsay": (
        ("clientId", "clientSecret", "refreshToken", "clientEnvironment"),
        {},
        (
            "tokenMetadata",
            "clientId",
            "clientSecret",
            "clientEnvironment",
            "accessToken",
            "refreshToken",
        ),
    ),
    "valley": (
        ("apid", "initializationVector", "key", "username", "password"),
        {},
        ("apid", "key", "initializationVector", "username"),
    ),
    "panorama": (
        (
            "clientId",
            "username",
            "password",
            "organizationCode",
            "refreshToken",
            "clientEnvironment",
        ),
        {},
        (
            "clientId",
            "username",
            "organizationCode",
            "clientEnvironment",
            "accessToken",
            "refreshToken",
        ),
    ),
    "claas": (
        ("clientKey", "clientSecret", "refreshToken"),
        {"clientEnvironment": "STAGE"},
        ("clientKey", "clientSecret", "refreshToken", "clientEnvironment"),
    ),
    "agrimatics": (
        ("clientId", "clientSecret", "accessToken", "clientEnvironment"),
        {},
        # Undocumented response: the create fields and the usual OAuth ones.
        (
            "tokenMetadata",
            "clientId",
            "clientSecret",
            "accessToken",
            "refreshToken",
            "clientEnvironment",
        ),
    ),
}

# The wire names that hold secrets, per the rule under Leaf's provider table.
SECRET_WIRES = frozenset(
    {
        "password",
        "clientSecret",
        "apiKey",
        "accessToken",
        "accessTokenClient",
        "refreshToken",
        "authToken",
        "privateKey",
        "sharedSecret",
        "key",
        "initializationVector",
        "subscriptionKey",
        "sessionId",
        "accessKey",
    }
)

RESOURCES = list(lc.default_registry(plugins=False))


def _ids(resource: lc.CredentialResource[Any, Any]) -> str:
    return resource.slug


def _value(slug: str, wire: str) -> Any:
    """Return a distinctive wire value for one field."""
    if wire == "clientEnvironment":
        return "PRODUCTION"
    if wire == "tokenMetadata":
        return {"scopes": ["fields:read", "files:read"], "futureKey": True}
    return f"{slug}-{wire}-v4lue"


def _response(slug: str) -> dict[str, Any]:
    """Return a GET/POST answer with every documented field and an unknown one."""
    body: dict[str, Any] = {
        "id": "8d1f2e9a-0000-4000-8000-000000000001",
        "status": "OK",
        "createdTime": "2024-05-06T07:08:09.123456Z",
        "someFutureField": {"nested": 1},
    }
    body.update({wire: _value(slug, wire) for wire in DOCUMENTED[slug][2]})
    return body


def _sent(http: LeafMock, slug: str) -> Any:
    """Return the JSON body of the one POST sent for a provider."""
    ((_, calls),) = [
        (key, calls) for key, calls in http.requests.items() if key[0] == "POST"
    ]
    assert 1 == len(calls)
    return json.loads(calls[0].kwargs["data"])


class TestRegistry:
    def test_every_documented_provider_is_registered_in_table_order(self) -> None:
        """The default registry holds Leaf's providers in the table's order."""
        assert list(DOCUMENTED) == [r.slug for r in lc.default_registry(plugins=False)]

    def test_builtin_matches_the_registry(self) -> None:
        """BUILTIN is exactly what the default registry starts from."""
        assert [r.slug for r in RESOURCES] == [r.slug for r in leaf_creds.providers.BUILTIN]

    def test_each_module_names_its_constant_schema_and_record(self) -> None:
        """Each provider module's constant, schema and record follow its file name."""
        modules = [
            m.name
            for m in pkgutil.iter_modules(leaf_creds.providers.__path__)
            if not m.name.startswith("_")
        ]
        assert sorted(m.replace("-", "_") for m in DOCUMENTED) == sorted(modules)
        for name in modules:
            module = importlib.import_module(f"leaf_creds.providers.{name}")
            camel = "".join(part.capitalize() for part in name.split("_"))
            resource = getattr(module, name.upper())
            assert name.replace("_", "-") == resource.slug
            assert getattr(module, camel + "Credentials") is resource.schema
            assert getattr(module, camel + "Record") is resource.record
            names = [name.upper(), camel + "Credentials", camel + "Record"]
            # The app keys: Leaf's app-key schema, and the consent flow's (the same one).
            flow = resource.oauth.app if resource.oauth is not None else None
            if resource.app_key is not None or flow is not None:
                keys = getattr(module, camel + "AppKeys")
                assert keys in {getattr(resource.app_key, "schema", None), flow}
                assert flow in {None, keys}
                names.append(camel + "AppKeys")
            assert sorted(names) == sorted(module.__all__)


@pytest.mark.parametrize("resource", RESOURCES, ids=_ids)
class TestEveryProvider:
    def test_create_fields_match_the_documentation(
        self, resource: lc.CredentialResource[Any, Any]
    ) -> None:
        """The schema's wire names, required flags and defaults are Leaf's."""
        required, optional, _ = DOCUMENTED[resource.slug]
        assert sorted(required) == sorted(f.wire for f in resource.fields if f.required)
        assert optional == {f.wire: f.default for f in resource.fields if not f.required}

    def test_secret_fields_are_marked(self, resource: lc.CredentialResource[Any, Any]) -> None:
        """Exactly the fields that hold secrets are secret, in schema and record."""
        record_wires = {_camel(a.name) for a in attrs.fields(resource.record)}

        assert {f.wire for f in resource.fields if f.wire in SECRET_WIRES} == {
            f.wire for f in resource.fields if f.secret
        }
        assert {w for w in record_wires if w in SECRET_WIRES} == {
            _camel(name) for name in resource.record_secrets
        }

    async def test_create_sends_documented_names_and_decodes_the_answer(
        self, resource: lc.CredentialResource[Any, Any], http: LeafMock
    ) -> None:
        """A full create body goes out with Leaf's names; the answer decodes fully."""
        slug = resource.slug
        values = {f.name: _value(slug, f.wire) for f in resource.fields}
        credentials = resource.schema(**values)
        url = f"{UM}/users/{USER}/{slug}-credentials"
        http.post(url, payload=_response(slug))

        async with lc.LeafSession(token="leaf-token") as leaf:
            record = await leaf.create(resource, USER, credentials)

        required, optional, _ = DOCUMENTED[slug]
        assert {wire: _value(slug, wire) for wire in (*required, *optional)} == _sent(http, slug)
        assert isinstance(record, resource.record)
        assert "OK" == record.status
        expected = {k: v for k, v in _response(slug).items() if k != "someFutureField"}
        if "tokenMetadata" in expected:
            expected["tokenMetadata"] = {"scopes": ["fields:read", "files:read"]}
        assert expected == json.loads(json.dumps(lc.make_converter().unstructure(record)))

    async def test_no_secret_in_reprs(
        self, resource: lc.CredentialResource[Any, Any], http: LeafMock
    ) -> None:
        """No secret value of the schema or of the record shows in its repr."""
        slug = resource.slug
        credentials = resource.schema(**{f.name: _value(slug, f.wire) for f in resource.fields})
        http.get(f"{UM}/users/{USER}/{slug}-credentials", payload=_response(slug))

        async with lc.LeafSession(token="leaf-token") as leaf:
            record = await leaf.get(resource, USER)

        fields = {f.wire for f in resource.fields} | set(DOCUMENTED[slug][2])
        texts = repr(credentials) + repr(record)
        secrets = [_value(slug, w) for w in sorted(fields) if w in SECRET_WIRES]
        plain = [
            _value(slug, w)
            for w in sorted(fields)
            if w not in SECRET_WIRES and w not in {"clientEnvironment", "tokenMetadata"}
        ]
        assert [] == [value for value in secrets if value in texts]
        assert [] == [value for value in plain if value not in texts]

    def test_missing_required_fields_are_all_listed(
        self, resource: lc.CredentialResource[Any, Any]
    ) -> None:
        """A wire body lacking every field names each required one."""
        with pytest.raises(lc.ValidationError) as caught:
            resource.credentials_from_wire({})

        assert sorted(
            f"required field missing @ $.{wire}" for wire in DOCUMENTED[resource.slug][0]
        ) == sorted(caught.value.errors)

    def test_record_accepts_only_id_and_status(
        self, resource: lc.CredentialResource[Any, Any]
    ) -> None:
        """Every provider field of the record is optional."""
        record = lc.make_converter().structure({"id": "x", "status": "NEW_STATE"}, resource.record)

        assert "NEW_STATE" == record.status


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


class TestDefaults:
    @pytest.mark.parametrize("slug", ["agvance", "claas"])
    async def test_client_environment_defaults_to_stage(self, slug: str, http: LeafMock) -> None:
        """Where Leaf defaults clientEnvironment to STAGE, so do we, explicitly."""
        resource = lc.default_registry(plugins=False).get(slug)
        body = {
            f.wire: _value(slug, f.wire) for f in resource.fields if f.wire != "clientEnvironment"
        }
        http.post(f"{UM}/users/{USER}/{slug}-credentials", payload=_response(slug))

        async with lc.LeafSession(token="leaf-token") as leaf:
            await leaf.create(slug, USER, body)

        assert lc.ClientEnvironment.STAGE == resource.credentials_from_wire(body).client_environment
        assert "STAGE" == _sent(http, slug)["clientEnvironment"]

    @pytest.mark.parametrize("slug", ["cnhi", "cnhi-field-ops"])
    async def test_client_environment_is_required(self, slug: str, http: LeafMock) -> None:
        """CNHI and CNHI FieldOps refuse a create without clientEnvironment; no STAGE is sent."""
        resource = lc.default_registry(plugins=False).get(slug)
        body = {
            f.wire: _value(slug, f.wire) for f in resource.fields if f.wire != "clientEnvironment"
        }

        async with lc.LeafSession(token="leaf-token") as leaf:
            with pytest.raises(lc.ValidationError) as caught:
                await leaf.create(slug, USER, body)

        assert ["clientEnvironment"] == [
            e.rpartition("@ $.")[2] for e in caught.value.errors
        ]
        assert [] == [f.name for f in resource.fields if not f.required]
        assert 0 == total_requests(http)

    @pytest.mark.parametrize(
        "slug", ["cnhi", "cnhi-field-ops", "john-deere", "lindsay", "panorama", "agrimatics"]
    )
    def test_client_environment_is_checked(self, slug: str) -> None:
        """An unknown clientEnvironment is refused with the allowed values."""
        resource = lc.default_registry(plugins=False).get(slug)
        body = {f.wire: _value(slug, f.wire) for f in resource.fields}
        body["clientEnvironment"] = "SANDBOX"

        with pytest.raises(lc.ValidationError, match="STAGE, PRODUCTION") as caught:
            resource.credentials_from_wire(body)

        assert 1 == len(caught.value.errors)

    def test_ag_leader_access_token_is_left_out_when_unset(self) -> None:
        """AgLeader's optional accessToken is not sent when not given."""
        credentials = leaf_creds.providers.AgLeaderCredentials(
            refresh_token="r", public_key="pub", private_key="priv"
        )

        assert {"refreshToken": "r", "publicKey": "pub", "privateKey": "priv"} == (
            lc.make_converter().unstructure(credentials)
        )


class TestTokenMetadata:
    def test_scopes_become_a_tuple_and_unknown_keys_are_ignored(self) -> None:
        """Scopes arrive as a tuple; other keys Leaf adds are ignored."""
        metadata = lc.make_converter().structure(
            {"scopes": ["a", "b"], "expiresAt": "later"}, TokenMetadata
        )

        assert TokenMetadata(scopes=("a", "b")) == metadata

    def test_scopes_default_to_empty(self) -> None:
        """Metadata without scopes has none."""
        assert () == lc.make_converter().structure({}, TokenMetadata).scopes
