"""The schema field rules shared by credential schemas and app keys, and AppKeySpec on them."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import attrs
import pytest

import leaf_creds as lc
from leaf_creds._schema import SchemaRules

PACKAGE = Path(lc.__file__).parent


@attrs.frozen(kw_only=True)
class Keys:
    client_id: str
    client_secret: str = attrs.field(repr=lc.masked)
    scopes: list[str] | None = None
    region: str = "eu"


SPEC = lc.AppKeySpec("Acme", Keys)


def refused(call: Any, *args: Any) -> lc.ValidationError:
    with pytest.raises(lc.ValidationError) as caught:
        call(*args)
    return caught.value


def imported(module: str) -> set[str]:
    """The package modules a module imports, at any depth of its code."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    return {
        node.module.lstrip(".")
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
    }


class TestPure:
    @pytest.mark.parametrize("module", ["_schema", "_app_key_spec", "_expires"])
    def test_imports_no_resource_and_no_transport(self, module: str) -> None:
        """The field rules and AppKeySpec stand below CredentialResource and the transport.

        Lazy imports inside functions count too: AppKeySpec once checked keys
        by building a placeholder CredentialResource, a circle with _resource.
        """
        assert set() == imported(module) & {"_resource", "_transport", "_session", "_onboarding"}


class TestSchemaRules:
    def test_fields_checks_and_secrets(self) -> None:
        """Fields in declaration order, with wire names, required, secret and default."""
        rules = SchemaRules(Keys)

        assert (
            lc.CreateField("client_id", "clientId", required=True, secret=False),
            lc.CreateField("client_secret", "clientSecret", required=True, secret=True),
            lc.CreateField("scopes", "scopes", required=False, secret=False),
            lc.CreateField("region", "region", required=False, secret=False, default="eu"),
        ) == rules.fields
        assert ("clientSecret",) == rules.secret_wires
        assert rules.fields is rules.fields  # worked out once
        assert "<SchemaRules of Keys>" == repr(rules)

    def test_problems_of_an_instance(self) -> None:
        """Every bad value of an instance is listed; none raises."""
        rules = SchemaRules(Keys)

        assert [] == rules.problems(Keys(client_id="c", client_secret="s"))
        assert [
            "must not be empty @ $.clientId",
            "expected a string, got int @ $.clientSecret",
        ] == rules.problems(Keys(client_id=" ", client_secret=5))  # type: ignore[arg-type]

    def test_from_wire_returns_the_instance_or_every_problem(self) -> None:
        """A good body gives the instance and no problem; a bad one None and each problem."""
        rules = SchemaRules(Keys)
        converter = lc.make_converter()

        assert (Keys(client_id="c", client_secret="s"), []) == rules.from_wire(
            {"clientId": "c", "clientSecret": "s"}, converter
        )
        assert (
            None,
            ["unknown field @ $.extra", "required field missing @ $.clientSecret"],
        ) == rules.from_wire({"clientId": "c", "extra": 1}, converter)
        assert (None, ["must not be empty @ $.clientId"]) == rules.from_wire(
            {"clientId": "", "clientSecret": "s"}, converter
        )


class TestAppKeySpecWording:
    @pytest.mark.parametrize(
        ("keys", "problems"),
        [
            ({"clientId": "c"}, ["required field missing @ $.clientSecret"]),
            (
                {"clientId": "", "clientSecret": 5, "other": 1},
                [
                    "unknown field @ $.other",
                    "must not be empty @ $.clientId",
                    "invalid value for type, expected str @ $.clientSecret",
                ],
            ),
            (
                Keys(client_id="", client_secret=5),  # type: ignore[arg-type]
                ["must not be empty @ $.clientId", "expected a string, got int @ $.clientSecret"],
            ),
            (
                {"clientId": "c", "clientSecret": "s", "scopes": []},
                ["must not be empty; leave it unset for Leaf's default @ $.scopes"],
            ),
            (42, ["expects Keys, got int"]),
            ("clientId=c", ["expects Keys, got str"]),
        ],
    )
    def test_the_message_lists_every_problem(self, keys: object, problems: list[str]) -> None:
        """'invalid Acme app keys: ' and the problems, word for word, as before the split."""
        error = refused(SPEC.body, keys, lc.make_converter())

        assert tuple(problems) == error.errors
        assert "invalid Acme app keys: " + "; ".join(problems) == str(error)

    def test_the_body_and_its_secrets(self) -> None:
        """A good instance or mapping gives the camelCase body and the secret values to mask."""
        converter = lc.make_converter()

        body, secrets = SPEC.body({"clientId": "c", "clientSecret": "s"}, converter)
        same = SPEC.body(Keys(client_id="c", client_secret="s"), converter)

        assert ({"clientId": "c", "clientSecret": "s", "region": "eu"}, ["s"]) == (body, secrets)
        assert (body, secrets) == same
        assert SPEC.fields == SchemaRules(Keys).fields
