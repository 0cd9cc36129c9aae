"""Leaf's CamelCase provider names (``JohnDeere``, ``CNHI``, ``AgVance``) and our providers.

Everything here is pure. Leaf names a provider by its slug in credential
paths (``john-deere-credentials``) but by a CamelCase name elsewhere: app
keys, Magic Links, organizations (``/organizations/JohnDeere``), the
integrations summaries (``"provider": "JohnDeere"``), and perhaps alerts.
The spellings differ between Leaf's own pages (``CNHI`` and ``CNHi``,
``Agvance`` and ``AgVance``), so a name is matched without case or
punctuation: ``AgVance``, ``agvance`` and ``ag-vance`` all name Agvance.
"""

from __future__ import annotations

import re
from typing import Any

from ._registry import Registry
from ._resource import CredentialResource

__all__ = ["find_provider", "fold", "leaf_name"]

_NOT_ALNUM = re.compile(r"[^a-z0-9]")


def fold(name: str) -> str:
    """Return a provider name lowercased, without anything but letters and digits."""
    return _NOT_ALNUM.sub("", name.lower())


def leaf_name(resource: CredentialResource[Any, Any]) -> str:
    """Return Leaf's CamelCase name of a provider, e.g. ``JohnDeere`` for ``john-deere``.

    The resource's Magic Link name or app-key segment when it has one, else
    the slug's words joined, each capitalized.
    """
    if resource.link_name is not None:
        return resource.link_name
    if resource.app_key is not None:
        return resource.app_key.provider
    return "".join(word.capitalize() for word in resource.slug.split("-"))


def find_provider(registry: Registry, name: object) -> CredentialResource[Any, Any] | None:
    """Return the registered provider that Leaf's ``name`` (or a slug) names, or None.

    Args:
        registry: The providers to look in.
        name: ``"JohnDeere"``, ``"CNHi"``, ``"john-deere"``...; anything
            that is not a non-empty string names none.
    """
    if not isinstance(name, str) or not name:
        return None
    if name in registry:
        return registry.get(name)
    wanted = fold(name)
    if not wanted:
        return None
    for resource in registry:
        if wanted == fold(leaf_name(resource)):
            return resource
    for resource in registry:
        if wanted == fold(resource.slug):
            return resource
    return None
