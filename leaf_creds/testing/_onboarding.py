"""``fake.onboarding``: one handle on the fake's app keys, Magic Links and API keys.

Leaf serves three surfaces for getting growers connected, and the fake
serves them at Leaf's paths (``../shared/leaf-api/onboarding.md`` §1-3), each
in its own module: :mod:`._app_keys`, :mod:`._magic_links` with the page
of :mod:`._link_page`, and :mod:`._api_keys`. :class:`FakeOnboarding` is the
facade tests use to set them up without a request and look at them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from leaf_creds import CredentialResource

from ._api_keys import API_KEYS_PATH, FakeApiKeys
from ._app_keys import APP_KEYS_PATH, FakeAppKeys
from ._link_page import FakeLinkPage
from ._magic_links import MAGIC_LINK_PAGE, WIDGETS_SERVICE, FakeMagicLinks
from ._web import Route, route

__all__ = ["FakeOnboarding", "onboarding_routes"]


def onboarding_routes(
    app_keys: FakeAppKeys, magic_links: FakeMagicLinks, api_keys: FakeApiKeys, page: FakeLinkPage
) -> tuple[Route, ...]:
    """Return where the onboarding services answer, in the order they are tried."""
    return (
        Route(MAGIC_LINK_PAGE, page.answer, token=False),
        Route(WIDGETS_SERVICE, magic_links.answer, bare=False),
        Route(APP_KEYS_PATH, app_keys.answer),
        Route(API_KEYS_PATH, api_keys.answer),
    )


class FakeOnboarding:
    """App keys, Magic Links and Leaf Link API keys of a fake Leaf; ``fake.onboarding``.

    :class:`~leaf_creds.testing.FakeLeaf` makes one; tests use it to set up
    app keys without a request, look at what was created, and connect a
    provider through a link as a grower would (:meth:`connect`).

    Attributes:
        max_usage: The ``maxUsage`` given to new links (Leaf's example: 3).
    """

    def __init__(
        self,
        *,
        app_keys: FakeAppKeys,
        magic_links: FakeMagicLinks,
        api_keys: FakeApiKeys,
        page: FakeLinkPage,
        authorize: Callable[[web.Request], None],
    ) -> None:
        self._app_keys = app_keys
        self._links = magic_links
        self._api_keys = api_keys
        self._page = page
        self._authorize = authorize
        self._routes = onboarding_routes(app_keys, magic_links, api_keys, page)

    def __repr__(self) -> str:
        return (
            f"<FakeOnboarding app_keys={len(self._app_keys)} links={len(self._links)}"
            f" api_keys={len(self._api_keys)}>"
        )

    @property
    def max_usage(self) -> int:
        """The ``maxUsage`` given to new links (Leaf's example: 3)."""
        return self._links.max_usage

    @max_usage.setter
    def max_usage(self, value: int) -> None:
        self._links.max_usage = value

    def reset(self) -> None:
        """Forget every app key, link, page session and API key."""
        self._app_keys.reset()
        self._links.reset()
        self._page.reset()
        self._api_keys.reset()

    # -- inspection and set-up ---------------------------------------------

    @property
    def app_keys(self) -> list[dict[str, Any]]:
        """The registered app keys as Leaf lists them (no secrets), oldest first."""
        return self._app_keys.listed

    def app_key_body(
        self, provider: str, app_name: str, environment: str | None = None
    ) -> dict[str, Any] | None:
        """Return a copy of the keys stored for an app, secrets included, or None.

        Args:
            provider: Leaf's provider segment, e.g. ``"JohnDeere"``.
            app_name: The app's name.
            environment: ``STAGE`` or ``PRODUCTION`` where the provider has
                environments.
        """
        return self._app_keys.keys_of(provider, app_name, environment)

    def add_app_key(
        self,
        provider: str,
        app_name: str,
        keys: Mapping[str, Any],
        *,
        environment: str | None = None,
    ) -> dict[str, Any]:
        """Register an app key without a request, as a POST would; return its metadata.

        Args:
            provider: Leaf's provider segment, e.g. ``"JohnDeere"``.
            app_name: The app's name.
            keys: The camelCase body, e.g. ``{"clientKey": ..., "clientSecret": ...}``.
            environment: ``STAGE`` or ``PRODUCTION``, where the provider has
                environments.

        Raises:
            LookupError: Leaf has no app keys for that provider (or
                environment).
            ValueError: The keys are invalid, or the app key exists.
        """
        return self._app_keys.add(provider, app_name, keys, environment=environment)

    @property
    def magic_links(self) -> list[dict[str, Any]]:
        """Every Magic Link as ``GET`` answers it, oldest first."""
        return self._links.listed

    def magic_link(self, link: str) -> dict[str, Any]:
        """Return a Magic Link as ``GET`` answers it.

        Args:
            link: The link's id or its URL.

        Raises:
            LookupError: No such link.
        """
        return self._links.find(link).wire()

    @property
    def api_keys(self) -> list[dict[str, Any]]:
        """Every Leaf Link API key as the list answers it, oldest first."""
        return self._api_keys.listed

    def connect(
        self,
        link: str,
        provider: str | CredentialResource[Any, Any],
        *,
        grant_permissions: bool = True,
    ) -> dict[str, Any]:
        """Connect a provider through a Magic Link as a grower does on its page.

        Opening the link counts one use, as the page does. Call it inside the
        event loop when a webhook may get an alert.

        Args:
            link: The link's id or its URL.
            provider: Leaf's Magic Link name (``"JohnDeere"``), or the
                provider's slug or resource.
            grant_permissions: False leaves the credential
                ``MISSING_PERMISSION``, as a grower who withholds
                organization access.

        Returns:
            A copy of the stored credential record.

        Raises:
            LookupError: No such link, or the provider is not offered on it.
            ValueError: The link has expired or is used up.
        """
        return self._page.connect(link, provider, grant_permissions=grant_permissions)

    async def answer(
        self, request: web.Request, path: str, service: str | None = None
    ) -> web.Response | None:
        """Answer a request on an onboarding path; None when the path is not one.

        ``service`` (the path under User Management) is accepted as before;
        the raw ``path`` alone decides.

        Raises:
            Problem: Leaf's error answer (turned into problem JSON by the server).
        """
        return await route(self._routes, request, path, self._authorize)
