"""A shim: what ``leaf_creds.cli`` still imports from here, until it imports from the homes.

Each Leaf service's records now live in its own module: ``AppKey`` in
``_app_keys``, ``MagicLink`` and ``LinkSettings`` in ``_magic_links``, and
the ``expiresIn`` check in ``_expires``. Delete this module once nothing
imports it (``grep -rn _onboarding leaf_creds``).
"""

from __future__ import annotations

from ._app_keys import AppKey
from ._expires import check_expires_in
from ._magic_links import LinkSettings, MagicLink

__all__ = ["AppKey", "LinkSettings", "MagicLink", "check_expires_in"]
