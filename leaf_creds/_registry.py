"""Registry: which providers a session knows, looked up by slug."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import attrs

from ._exceptions import UnknownProviderError, ValidationError
from ._resource import CredentialResource

__all__ = ["ENTRY_POINT_GROUP", "Registry", "default_registry"]

ENTRY_POINT_GROUP = "leaf_creds.providers"


@attrs.define
class Registry:
    """A set of providers, looked up by slug.

    ``slug in registry`` and ``resource in registry`` test membership;
    iterating yields the resources in registration order.
    """

    _resources: dict[str, CredentialResource[Any, Any]] = attrs.field(factory=dict, init=False)

    def register(self, resource: CredentialResource[Any, Any], *, replace: bool = False) -> None:
        """Add a provider.

        Args:
            resource: The provider's resource.
            replace: Replace a provider already registered under the same slug.

        Raises:
            TypeError: ``resource`` is not a :class:`CredentialResource`.
            ValueError: The slug is taken and ``replace`` is false.
        """
        if not isinstance(resource, CredentialResource):
            raise TypeError(f"expected a CredentialResource, got {type(resource).__name__}")
        if resource.slug in self._resources and not replace:
            raise ValueError(
                f"a provider is already registered as {resource.slug!r}; "
                "pass replace=True to replace it"
            )
        self._resources[resource.slug] = resource

    def get(self, slug: str) -> CredentialResource[Any, Any]:
        """Return the provider registered under ``slug``.

        Raises:
            UnknownProviderError: No provider has that slug.
        """
        try:
            return self._resources[slug]
        except (KeyError, TypeError):
            raise UnknownProviderError(str(slug), list(self._resources)) from None

    def resolve(self, provider: str | CredentialResource[Any, Any]) -> CredentialResource[Any, Any]:
        """Return the resource for a slug, or a resource as it is.

        Raises:
            UnknownProviderError: The slug is not registered.
            ValidationError: ``provider`` is neither a string nor a resource.
        """
        if isinstance(provider, CredentialResource):
            return provider
        if isinstance(provider, str):
            return self.get(provider)
        raise ValidationError(
            f"provider must be a slug or a CredentialResource, got {type(provider).__name__}"
        )

    def __contains__(self, item: object) -> bool:
        if isinstance(item, CredentialResource):
            return self._resources.get(item.slug) is item
        return isinstance(item, str) and item in self._resources

    def __iter__(self) -> Iterator[CredentialResource[Any, Any]]:
        return iter(list(self._resources.values()))

    def __len__(self) -> int:
        return len(self._resources)

    def __repr__(self) -> str:
        return f"<Registry providers={list(self._resources)!r}>"


def default_registry(*, plugins: bool = True) -> Registry:
    """Return a new registry holding Leaf's built-in providers.

    Args:
        plugins: Also load third-party providers from the entry-point group
            ``leaf_creds.providers``. A plugin that fails to load, or that is
            not a ``CredentialResource``, is skipped with a warning that names
            it; it never breaks the SDK.
    """
    # Imported here, not with the package: seventeen provider modules are
    # half of what `import leaf_creds` would otherwise cost.
    from .providers import BUILTIN

    registry = Registry()
    for resource in BUILTIN:
        registry.register(resource)
    if plugins:
        _load_plugins(registry)
    return registry


def _load_plugins(registry: Registry) -> None:
    # importlib.metadata is slow to import; only a registry that loads
    # plugins needs it.
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            resource = entry.load()
            registry.register(resource, replace=False)
        except Exception as exc:  # a broken plugin must not break the SDK
            warnings.warn(
                f"leaf_creds: skipped provider plugin {entry.name!r} ({entry.value}): "
                f"{type(exc).__name__}: {exc}",
                RuntimeWarning,
                stacklevel=3,
            )
