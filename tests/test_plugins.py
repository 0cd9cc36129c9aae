"""Third-party providers loaded from the ``leaf_creds.providers`` entry points."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import leaf_creds as lc

from .conftest import UM, LeafMock

ACME = """
    import attrs
    import leaf_creds as lc

    @attrs.frozen(kw_only=True)
    class AcmeCredentials:
        api_user: str
        api_password: str = attrs.field(repr=lc.masked)

    @attrs.frozen(kw_only=True)
    class AcmeRecord(lc.CredentialRecord):
        api_user: str | None = None

    ACME = lc.CredentialResource("acme", AcmeCredentials, AcmeRecord, name="Acme")
    SENTERA_AGAIN = lc.CredentialResource("sentera", AcmeCredentials, AcmeRecord)
    NOT_A_RESOURCE = "acme"
"""

Install = Callable[..., None]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """Return a function that installs a fake distribution with entry points."""
    modules: list[str] = []

    def install_(entry_points: dict[str, str], modules_source: dict[str, str]) -> None:
        for name, source in modules_source.items():
            (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
            modules.append(name)
        dist_info = tmp_path / "leaf_creds_test_plugin-1.0.dist-info"
        dist_info.mkdir()
        (dist_info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: leaf-creds-test-plugin\nVersion: 1.0\n"
        )
        lines = [f"{name} = {target}" for name, target in entry_points.items()]
        (dist_info / "entry_points.txt").write_text(
            "[leaf_creds.providers]\n" + "\n".join(lines) + "\n"
        )
        monkeypatch.syspath_prepend(tmp_path)

    yield install_
    for name in modules:
        sys.modules.pop(name, None)


class TestPlugins:
    def test_plugin_provider_is_registered_after_the_builtins(self, install: Install) -> None:
        """An entry point's resource joins the default registry, after the built-ins."""
        install({"acme": "acme_plugin_a:ACME"}, {"acme_plugin_a": ACME})

        registry = lc.default_registry()

        assert "acme" == list(registry)[-1].slug
        assert "Acme" == registry.get("acme").name
        assert "sentera" in registry

    def test_plugins_can_be_left_out(self, install: Install) -> None:
        """default_registry(plugins=False) ignores entry points."""
        install({"acme": "acme_plugin_b:ACME"}, {"acme_plugin_b": ACME})

        assert "acme" not in lc.default_registry(plugins=False)

    def test_broken_plugin_warns_and_is_skipped(self, install: Install) -> None:
        """A plugin that fails to import is named in a warning; the others still load."""
        install(
            {"broken": "broken_plugin_c:ACME", "acme": "acme_plugin_c:ACME"},
            {"broken_plugin_c": "import no_such_module_for_leaf_creds\n", "acme_plugin_c": ACME},
        )

        with pytest.warns(RuntimeWarning, match=r"plugin 'broken' \(broken_plugin_c:ACME\)"):
            registry = lc.default_registry()

        assert "acme" in registry
        assert "broken" not in registry
        assert "sentera" in registry

    def test_plugin_that_is_not_a_resource_warns(self, install: Install) -> None:
        """An entry point naming something else than a resource is skipped with a warning."""
        install({"wrong": "acme_plugin_d:NOT_A_RESOURCE"}, {"acme_plugin_d": ACME})

        with pytest.warns(RuntimeWarning, match=r"'wrong'.*CredentialResource"):
            registry = lc.default_registry()

        assert len(lc.default_registry(plugins=False)) == len(registry)

    def test_plugin_cannot_replace_a_builtin(self, install: Install) -> None:
        """A plugin reusing a built-in slug is skipped; the built-in stays."""
        install({"sentera": "acme_plugin_e:SENTERA_AGAIN"}, {"acme_plugin_e": ACME})

        with pytest.warns(RuntimeWarning, match=r"'sentera'.*already registered"):
            registry = lc.default_registry()

        assert "Sentera" == registry.get("sentera").name

    async def test_session_uses_plugin_providers(self, install: Install, http: LeafMock) -> None:
        """A session built without a registry can create a plugin's credentials by slug."""
        install({"acme": "acme_plugin_f:ACME"}, {"acme_plugin_f": ACME})
        url = f"{UM}/users/u1/acme-credentials"
        http.post(url, payload={"id": "c1", "status": "OK", "apiUser": "me"})

        async with lc.LeafSession(token="leaf-token") as leaf:
            record = await leaf.create("acme", "u1", {"apiUser": "me", "apiPassword": "pw-9x"})

        ((_, calls),) = http.requests.items()
        assert {"apiUser": "me", "apiPassword": "pw-9x"} == json.loads(calls[0].kwargs["data"])
        assert "me" == getattr(record, "api_user", None)
