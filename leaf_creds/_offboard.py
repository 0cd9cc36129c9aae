"""``leaf.offboard``: remove everything a Leaf user holds, then, if asked, the user.

In order: the credential of every registered provider (a DELETE each; a 404
means there was none), the user's Leaf Link API keys still valid (revoked;
Leaf keeps them listed as invalid), its Magic Links not yet expired
(deleted), and with ``delete_user`` the user itself, only once everything
else is gone. A failure is a step of the report, never an exception, and
stops nothing else; running it again retries only what is left, since what
was removed is no longer found.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import attrs

from ._exceptions import LeafError, NotFoundError
from ._magic_links import LINK_KINDS
from ._resource import CredentialResource, user_path

if TYPE_CHECKING:
    from ._api_keys import ApiKeys
    from ._credentials import Credentials
    from ._magic_links import MagicLinks
    from ._registry import Registry
    from ._users import Users

__all__ = ["STEP_KINDS", "OffboardStep", "Offboarding", "offboard"]

STEP_KINDS: Final = ("credential", "api_key", "magic_link", "user")


@attrs.frozen(kw_only=True)
class OffboardStep:
    """One thing offboarding removed (or, in a dry run, would remove), or failed to.

    Attributes:
        kind: ``"credential"``, ``"api_key"``, ``"magic_link"`` or ``"user"``.
        target: The provider's slug, the key's id, the link's id (or its
            kind, when the list of that kind failed), or the user's id.
        error: Why it failed, as the error's text (which never holds a
            secret); None for a step done.
    """

    kind: str
    target: str
    error: str | None = None


@attrs.frozen(kw_only=True)
class Offboarding:
    """What :meth:`LeafSession.offboard` removed and what failed.

    Attributes:
        user_id: The Leaf user.
        found: Whether the user existed; False after a run that deleted it,
            so a run again is a no-op.
        dry_run: Whether this only listed what a run would remove.
        removed: What was removed (in a dry run: what would be).
        failed: What could not be removed; run again to retry them.
    """

    user_id: str
    found: bool
    dry_run: bool = False
    removed: tuple[OffboardStep, ...] = ()
    failed: tuple[OffboardStep, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether nothing failed."""
        return not self.failed


async def offboard(
    user_id: str,
    *,
    delete_user: bool,
    dry_run: bool,
    credentials: Credentials,
    users: Users,
    api_keys: ApiKeys,
    magic_links: MagicLinks,
    registry: Registry,
    timeout: float | None = None,
    connect_timeout: float | None = None,
) -> Offboarding:
    """Remove a Leaf user's credentials, API keys and open Magic Links; see the module.

    Raises:
        ValidationError: The user id is invalid; nothing was sent.
        LeafError: Reading the user failed (other than 404); nothing was removed.
    """
    user_path(user_id)
    times: dict[str, Any] = {"timeout": timeout, "connect_timeout": connect_timeout}
    try:
        user = await users.get(user_id, **times)
    except NotFoundError:
        return Offboarding(user_id=user_id, found=False, dry_run=dry_run)
    steps: list[OffboardStep] = []
    known = {resource.slug for resource in registry}
    steps += [
        OffboardStep(
            kind="credential",
            target=slug,
            error=f"the user holds {slug} credentials of no registered provider: "
            "register the provider to remove them",
        )
        for slug in user.credentials
        if slug not in known
    ]

    async def credential(resource: CredentialResource[Any, Any]) -> OffboardStep | None:
        try:
            if dry_run:
                await credentials.get(resource, user_id, **times)
            else:
                await credentials.delete(resource, user_id, **times)
        except NotFoundError:
            return None  # none held
        except LeafError as exc:
            return OffboardStep(kind="credential", target=resource.slug, error=str(exc))
        return OffboardStep(kind="credential", target=resource.slug)

    found = await asyncio.gather(*(credential(resource) for resource in registry))
    steps += [step for step in found if step is not None]
    steps += await _api_keys(api_keys, user_id, dry_run, times)
    steps += await _magic_links(magic_links, user_id, dry_run, times)
    failed = [step for step in steps if step.error is not None]
    if delete_user:
        steps.append(await _user(users, user_id, dry_run, len(failed), times))
    return Offboarding(
        user_id=user_id,
        found=True,
        dry_run=dry_run,
        removed=tuple(step for step in steps if step.error is None),
        failed=tuple(step for step in steps if step.error is not None),
    )


async def _api_keys(
    api_keys: ApiKeys, user_id: str, dry_run: bool, times: dict[str, Any]
) -> list[OffboardStep]:
    try:
        keys = await api_keys.list(user_id, **times)
    except LeafError as exc:
        return [OffboardStep(kind="api_key", target="*", error=str(exc))]
    steps = []
    for key in keys:
        if key.valid is False or key.revoked_at is not None:
            continue  # revoked already: Leaf keeps it listed
        if key.id is None:
            steps.append(
                OffboardStep(kind="api_key", target="?", error="listed without an id to revoke")
            )
            continue
        try:
            if not dry_run:
                await api_keys.revoke(key.id, **times)
        except NotFoundError:
            continue
        except LeafError as exc:
            steps.append(OffboardStep(kind="api_key", target=key.id, error=str(exc)))
            continue
        steps.append(OffboardStep(kind="api_key", target=key.id))
    return steps


async def _magic_links(
    magic_links: MagicLinks, user_id: str, dry_run: bool, times: dict[str, Any]
) -> list[OffboardStep]:
    # Leaf lists links per kind for the whole account: there is no filter by user.
    now = datetime.now(UTC)
    steps = []
    for kind in LINK_KINDS:
        try:
            links = await magic_links.list(kind, **times)
        except LeafError as exc:
            steps.append(OffboardStep(kind="magic_link", target=kind, error=str(exc)))
            continue
        for link in links:
            if link.leaf_user_id != user_id or (
                link.expires_at is not None and link.expires_at <= now
            ):
                continue  # another user's, or closed already
            try:
                if not dry_run:
                    await magic_links.delete(kind, link.id, **times)
            except NotFoundError:
                continue
            except LeafError as exc:
                steps.append(OffboardStep(kind="magic_link", target=link.id, error=str(exc)))
                continue
            steps.append(OffboardStep(kind="magic_link", target=link.id))
    return steps


async def _user(
    users: Users, user_id: str, dry_run: bool, failures: int, times: dict[str, Any]
) -> OffboardStep:
    if failures:
        # Deleting the user now could leave what failed behind with no way
        # to reach it; the next run retries both.
        return OffboardStep(
            kind="user",
            target=user_id,
            error=f"not deleted: {failures} step(s) failed; run offboard again",
        )
    try:
        if not dry_run:
            await users.delete(user_id, **times)
    except NotFoundError:
        pass  # gone meanwhile: what was asked for
    except LeafError as exc:
        return OffboardStep(kind="user", target=user_id, error=str(exc))
    return OffboardStep(kind="user", target=user_id)
