"""leaf_creds.testing: an in-memory fake of Leaf's API, for your tests and ours.

:class:`FakeLeaf` serves Leaf's login, users and provider-credential
endpoints on 127.0.0.1 from memory, with scripted faults (error statuses,
``Retry-After``, latency, dropped connections, garbled answers). The pytest
plugin (``leaf_creds.testing.pytest_plugin``, loaded automatically) offers it
as the ``leaf_fake`` fixture, and a session connected to it as
``leaf_session``.
"""

from __future__ import annotations

from ._faults import Drop, Fault, Faults
from ._oauth import FakeOAuth
from ._onboarding import FakeOnboarding
from ._ratelimit import RateLimit
from ._serve import serve
from ._server import DEFAULT_ACCOUNTS, FakeLeaf, LoggedRequest
from ._user_index import FakeUser
from ._webhooks import Delivery, FakeAlerts

__all__ = [
    "DEFAULT_ACCOUNTS",
    "Delivery",
    "Drop",
    "FakeAlerts",
    "FakeLeaf",
    "FakeOAuth",
    "FakeOnboarding",
    "FakeUser",
    "Fault",
    "Faults",
    "LoggedRequest",
    "RateLimit",
    "serve",
]
