"""Typing-only checks, run by `mypy --strict` (never executed by pytest).

Passing a CredentialResource gives the provider's own record type; passing a
slug gives the common CredentialRecord.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, assert_type

import leaf_creds as lc


async def typed_path(leaf: lc.LeafSession, user_id: str) -> None:
    """The resource object carries the record type through every call."""
    sentera = await leaf.get(lc.SENTERA, user_id)
    assert_type(sentera, lc.SenteraRecord)
    assert_type(sentera.auth_token, str | None)

    cnhi = await leaf.create(
        lc.CNHI,
        user_id,
        lc.CnhiCredentials(
            client_id="c",
            client_secret="s",
            subscription_key="k",
            refresh_token="r",
            client_environment="STAGE",
        ),
    )
    assert_type(cnhi, lc.CnhiRecord)
    assert_type(cnhi.client_environment, lc.ClientEnvironment | None)

    by_slug = await leaf.get("cnhi", user_id)
    assert_type(by_slug, lc.CredentialRecord)
    assert_type(by_slug.status, lc.CredentialStatus)

    events = await leaf.events(lc.SENTERA, user_id)
    assert_type(events, list[lc.CredentialEvent])
    assert_type(await leaf.delete(lc.SENTERA, user_id), None)
    assert_type(
        leaf.resource(lc.SENTERA),
        lc.CredentialResource[lc.SenteraCredentials, lc.SenteraRecord],
    )


async def wrong_schema(leaf: lc.LeafSession, user_id: str) -> None:
    """A schema of another provider is a type error on the typed path."""
    await leaf.create(  # type: ignore[misc]
        lc.SENTERA,
        user_id,
        lc.CnhiCredentials(
            client_id="c",
            client_secret="s",
            subscription_key="k",
            refresh_token="r",
            client_environment=lc.ClientEnvironment.STAGE,
        ),
    )


async def onboarding(leaf: lc.LeafSession, user_id: str) -> None:
    """The onboarding resources return their own records."""
    keys = lc.JohnDeereAppKeys(client_key="c", client_secret="s", scopes=["FIELDS:READ"])
    app_key = await leaf.app_keys.create(lc.JOHN_DEERE, "W", keys, environment="PRODUCTION")
    assert_type(app_key, lc.AppKey)
    assert_type(await leaf.app_keys.list(lc.CNHI), list[lc.AppKey])
    assert_type(lc.JOHN_DEERE.app_key, lc.AppKeySpec[Any] | None)

    link = await leaf.magic_links.create(user_id, providers=[lc.JOHN_DEERE, "cnhi"])
    assert_type(link, lc.MagicLink)
    assert_type(link.expires_at, datetime | None)
    assert_type(await leaf.magic_links.list("authentication"), list[lc.MagicLink])

    key = await leaf.api_keys.create(user_id, expires_in=3600)
    assert_type(key, lc.ApiKey)
    assert_type(await leaf.api_keys.list(user_id), list[lc.ApiKey])
    assert_type(await leaf.api_keys.revoke("k"), None)


async def consent_flows(leaf: lc.LeafSession, user_id: str, url: str) -> None:
    """A flow started with a resource finishes as its schema and connects as its record."""
    app = lc.JohnDeereAppKeys(client_key="k", client_secret="s")
    start = await leaf.oauth.start(lc.JOHN_DEERE, app=app, redirect_url=url, environment="STAGE")
    assert_type(start, lc.OAuthStart[lc.JohnDeereCredentials, lc.JohnDeereRecord])
    assert_type(await leaf.oauth.finish(start, url), lc.JohnDeereCredentials)
    assert_type(await leaf.oauth.connect(start, url, user_id), lc.JohnDeereRecord)
    assert_type(await leaf.oauth.start("raven", app={}, redirect_url=url),
                lc.OAuthStart[Any, lc.CredentialRecord])  # fmt: skip
    assert_type(leaf.oauth.load(leaf.oauth.dump(start)), lc.OAuthStart[Any, Any])


async def users_and_offboarding(leaf: lc.LeafSession, user_id: str) -> None:
    """Users CRUD gives LeafUser records; offboarding a report."""
    assert_type(await leaf.users.create(name="Ada", external_id="x"), lc.LeafUser)
    assert_type(await leaf.users.update(user_id, name="Ada"), lc.LeafUser)
    assert_type(await leaf.users.delete(user_id), None)
    report = await leaf.offboard(user_id, delete_user=True)
    assert_type(report, lc.Offboarding)
    assert_type(report.failed, tuple[lc.OffboardStep, ...])
