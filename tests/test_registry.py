"""Registry and default_registry: registration, lookup and iteration."""

from __future__ import annotations

import pytest

import leaf_creds as lc
from tests.helpers import ACME, AcmeCredentials, AcmeRecord


class TestRegistry:
    def test_register_and_get(self) -> None:
        """A registered resource is returned by its slug."""
        registry = lc.Registry()

        registry.register(ACME)

        assert ACME is registry.get("acme")

    def test_second_registration_raises(self) -> None:
        """Registering a taken slug raises unless replace=True."""
        registry = lc.Registry()
        registry.register(ACME)
        other = lc.CredentialResource("acme", AcmeCredentials, AcmeRecord, name="Acme 2")

        with pytest.raises(ValueError, match="replace=True"):
            registry.register(other)
        registry.register(other, replace=True)

        assert other is registry.get("acme")
        assert 1 == len(registry)

    def test_unknown_slug(self) -> None:
        """An unknown slug raises UnknownProviderError, also a LookupError, listing known ones."""
        registry = lc.Registry()
        registry.register(ACME)

        with pytest.raises(LookupError) as info:
            registry.get("nope")

        assert isinstance(info.value, lc.UnknownProviderError)
        assert "no provider registered with slug 'nope'; known providers: acme" == str(info.value)
        assert info.value.__suppress_context__

    def test_contains_iter_len(self) -> None:
        """`in` takes slugs or resources; iteration yields resources in registration order."""
        registry = lc.default_registry(plugins=False)
        registry.register(ACME)

        assert "acme" in registry
        assert ACME in registry
        assert lc.SENTERA in registry
        assert "tractor" not in registry
        assert 42 not in registry
        assert [lc.SENTERA, lc.CNHI] == list(registry)[:2]
        assert ACME is list(registry)[-1]
        assert len(list(registry)) == len(registry)

    def test_register_refuses_other_objects(self) -> None:
        """Only CredentialResource objects can be registered."""
        with pytest.raises(TypeError):
            lc.Registry().register("sentera")  # type: ignore[arg-type]

    def test_default_registry_is_new_each_time(self) -> None:
        """Changing one default registry does not change the next one."""
        first = lc.default_registry()
        first.register(ACME)

        assert "acme" not in lc.default_registry()
        assert {"sentera", "cnhi"} <= {r.slug for r in lc.default_registry()}

    def test_short_repr(self) -> None:
        """The repr lists slugs only."""
        registry = lc.Registry()
        registry.register(ACME)

        assert "<Registry providers=['acme']>" == repr(registry)

    async def test_session_uses_its_registry(self) -> None:
        """A session resolves slugs through the registry it was given."""
        registry = lc.Registry()
        registry.register(ACME)

        async with lc.LeafSession(token="t", registry=registry) as leaf:
            assert ACME is leaf.resource("acme")
            with pytest.raises(lc.UnknownProviderError):
                leaf.resource("sentera")
